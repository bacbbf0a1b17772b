import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import type { QuarantineReason } from '../../functions/core/errors.js';
import type { Topology } from '../../functions/core/topology.js';
import { type RedriveResult, redrive } from '../redrive.js';
import type { LocalTelemetry } from '../stats.js';
import type { EventTrace, TraceStep } from './trace.js';

/** What the console shows of a quarantined record: never its payload (it holds personal data). */
export interface QuarantineView {
  readonly stage: string;
  readonly source: string;
  readonly eventId: string;
  readonly flow?: string;
  readonly destination?: string;
  readonly entity?: string;
  /** Rule, field, message and a redacted value, as the pipeline wrote them. */
  readonly reasons: readonly QuarantineReason[];
  readonly quarantinedAt: number;
}

export interface QuarantineList {
  /** Quarantined records in the state table. */
  readonly count: number;
  /** The most recent ones, newest first. */
  readonly items: readonly QuarantineView[];
}

/** One flow destination of an event, as far as the hub can tell. */
export interface LaneView {
  readonly flow: string;
  readonly destination: string;
  readonly entity: string;
  readonly id: string;
  readonly source: string;
  readonly version: number;
  readonly status: 'delivered' | 'skipped' | 'quarantined' | 'dead-lettered' | 'retrying' | 'in flight';
  readonly attempts: number;
  /** What the destination holds for the entity, from the delivery mapping. */
  readonly mapping: {
    readonly versions: Readonly<Record<string, number>>;
    readonly destinationId?: string;
    readonly updatedAt: number;
  } | null;
}

export interface EventView {
  readonly eventId: string;
  readonly found: boolean;
  readonly steps: readonly TraceStep[];
  readonly lanes: readonly LaneView[];
  readonly quarantine: readonly QuarantineView[];
  /** Said plainly, so nobody mistakes the search for an audit trail. */
  readonly note: string;
}

export interface HubInfo {
  readonly name: string;
  readonly flows: readonly { name: string; entity: string; from: readonly string[]; to: readonly string[] }[];
  readonly sources: readonly string[];
  readonly queues: readonly {
    key: string;
    name: string;
    deadLetter: string;
    fifo: boolean;
    destination?: string;
  }[];
  /** The config's alarm thresholds, so local views can say what CloudWatch would alarm on. */
  readonly alarms: Omit<SwitchyardConfig['alarms'], 'email'>;
}

export interface ConsoleApi {
  info(): HubInfo;
  quarantine(): Promise<QuarantineList>;
  findEvent(eventId: string): Promise<EventView>;
  /** Moves a queue's dead letters back to it. Throws UnknownQueueError for a key the topology lacks. */
  redrive(queueKey: string): Promise<RedriveResult & { readonly queue: string }>;
}

export class UnknownQueueError extends Error {
  override readonly name = 'UnknownQueueError';
}

export interface ConsoleApiDeps {
  readonly config: SwitchyardConfig;
  readonly topology: Topology;
  readonly dynamo: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly sqs: SQSClient;
  readonly queueUrls: Readonly<Record<string, string>>;
  readonly deadLetterUrls: Readonly<Record<string, string>>;
  readonly trace: EventTrace;
  readonly telemetry: LocalTelemetry;
}

/** Most quarantine items read per request: the console is for looking, not for bulk export. */
const QUARANTINE_READ_LIMIT = 1000;
const QUARANTINE_SHOWN = 100;

const NOTE =
  'Local trace of recent events (memory only, cleared on restart), the quarantine and the delivery mappings. There is no audit trail yet; in AWS, search the logs for the correlation id.';

export function createConsoleApi(deps: ConsoleApiDeps): ConsoleApi {
  const { dynamo, tableName, trace } = deps;

  const quarantineItems = async (): Promise<QuarantineView[]> => {
    const items: QuarantineView[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await dynamo.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'QUARANTINE' },
          // Everything but the payload.
          ProjectionExpression: '#stage, #source, eventId, flow, destination, entity, reasons, quarantinedAt',
          ExpressionAttributeNames: { '#stage': 'stage', '#source': 'source' },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of page.Items ?? []) items.push(toView(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey && items.length < QUARANTINE_READ_LIMIT);
    return items;
  };

  const mappingOf = async (entity: string, id: string, destination: string): Promise<LaneView['mapping']> => {
    const { Item } = await dynamo.send(
      new GetCommand({ TableName: tableName, Key: { pk: `${entity}#${id}`, sk: `MAP#${destination}` } }),
    );
    if (!Item) return null;
    return {
      versions: (Item.versions ?? {}) as Record<string, number>,
      ...(typeof Item.destinationId === 'string' ? { destinationId: Item.destinationId } : {}),
      updatedAt: Number(Item.updatedAt),
    };
  };

  return {
    info() {
      return {
        name: deps.config.name,
        flows: deps.config.flows.map(({ name, entity, from, to }) => ({ name, entity, from, to })),
        sources: Object.keys(deps.config.sources),
        queues: deps.topology.queues.map((q) => ({
          key: q.key,
          name: q.name,
          deadLetter: q.deadLetter.name,
          fifo: q.fifo,
          ...(q.destination ? { destination: q.destination } : {}),
        })),
        alarms: (({ email: _email, ...thresholds }) => thresholds)(deps.config.alarms),
      };
    },

    async quarantine() {
      const items = await quarantineItems();
      items.sort((a, b) => b.quarantinedAt - a.quarantinedAt);
      return { count: items.length, items: items.slice(0, QUARANTINE_SHOWN) };
    },

    async findEvent(eventId) {
      const steps = trace.get(eventId) ?? [];
      const quarantine = (await quarantineItems()).filter((item) => item.eventId === eventId);
      const lanes = new Map<string, { step: Extract<TraceStep, { stage: 'deliver' }>; attempts: number }>();
      for (const step of steps) {
        if (step.stage !== 'deliver') continue;
        const key = `${step.flow}/${step.destination}/${step.id}/${step.version}`;
        lanes.set(key, { step, attempts: (lanes.get(key)?.attempts ?? 0) + 1 });
      }
      // A 2xx call to the destination's host: the HTTP connector names the event in each call.
      const deliveredTo = (destination: string) => {
        const host = hostOf(deps.config.destinations[destination]?.url);
        return steps.some(
          (s) => s.stage === 'call' && s.status >= 200 && s.status < 300 && (!host || s.host === host),
        );
      };
      const views: LaneView[] = [];
      for (const { step, attempts } of lanes.values()) {
        const last = [...steps]
          .reverse()
          .find((s) => s.stage === 'deliver' && s.flow === step.flow && s.destination === step.destination);
        const redrivenAfter =
          last !== undefined && steps.some((s) => s.stage === 'redrive' && s.at >= last.at);
        const quarantined = quarantine.some(
          (q) => q.flow === step.flow && q.destination === step.destination,
        );
        const outcome = last?.stage === 'deliver' ? last.outcome : step.outcome;
        const status: LaneView['status'] = quarantined
          ? 'quarantined'
          : outcome === 'dead-lettered'
            ? redrivenAfter
              ? 'in flight'
              : 'dead-lettered'
            : outcome === 'retry'
              ? 'retrying'
              : deliveredTo(step.destination)
                ? 'delivered'
                : 'skipped';
        views.push({
          flow: step.flow,
          destination: step.destination,
          entity: step.entity,
          id: step.id,
          source: step.source,
          version: step.version,
          status,
          attempts,
          mapping: await mappingOf(step.entity, step.id, step.destination),
        });
      }
      return {
        eventId,
        found: steps.length > 0 || quarantine.length > 0,
        steps,
        lanes: views,
        quarantine,
        note: NOTE,
      };
    },

    async redrive(queueKey) {
      const spec = deps.topology.queues.find((q) => q.key === queueKey);
      const from = deps.deadLetterUrls[queueKey];
      const to = deps.queueUrls[queueKey];
      if (!spec || !from || !to) {
        throw new UnknownQueueError(
          `No queue "${queueKey.slice(0, 64)}" (queues: ${deps.topology.queues.map((q) => q.key).join(', ')})`,
        );
      }
      const result = await redrive({
        sqs: deps.sqs,
        from,
        to,
        fifo: spec.fifo,
        onMoved: (body) => {
          // Out of the dead-lettered state and in flight again (G3), in the counters and the trace.
          const message = parseBody(body);
          if (!message) return;
          const dims: Record<string, string> =
            typeof message.flow === 'string' && typeof message.destination === 'string'
              ? { flow: message.flow, destination: message.destination }
              : { source: String(message.source) };
          deps.telemetry.count('redriven', dims);
          if (typeof message.eventId === 'string')
            trace.record(message.eventId, { stage: 'redrive', queue: spec.name });
        },
      });
      return { queue: spec.name, ...result };
    },
  };
}

function toView(item: Record<string, unknown>): QuarantineView {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    stage: String(item.stage),
    source: String(item.source),
    eventId: String(item.eventId),
    ...(text(item.flow) ? { flow: text(item.flow) } : {}),
    ...(text(item.destination) ? { destination: text(item.destination) } : {}),
    ...(text(item.entity) ? { entity: text(item.entity) } : {}),
    reasons: Array.isArray(item.reasons) ? (item.reasons as QuarantineReason[]) : [],
    quarantinedAt: Number(item.quarantinedAt),
  };
}

function hostOf(url: string | undefined): string | undefined {
  try {
    return url ? new URL(url).host : undefined;
  } catch {
    return undefined;
  }
}

function parseBody(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
