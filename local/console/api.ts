import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import type { QuarantineReason } from '../../functions/core/errors.js';
import type { AuditEntry } from '../../functions/core/ports.js';
import type { Topology } from '../../functions/core/topology.js';
import type { LocalAuditTrail } from '../audit-file.js';
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
  /** The event's journey from the audit trail: every stage transition, oldest first. */
  readonly journey: readonly AuditEntry[];
  /** Attempt-level detail (each receive, each destination call) of recent events, in memory only. */
  readonly steps: readonly TraceStep[];
  readonly lanes: readonly LaneView[];
  readonly quarantine: readonly QuarantineView[];
  /** Where the answer comes from, said plainly. */
  readonly note: string;
}

/** Every event that touched one entity, from the audit trail. */
export interface EntityView {
  readonly key: string;
  readonly found: boolean;
  /** The canonical ids the key stands for (itself, or what `system:externalId` resolved to). */
  readonly canonicalIds: readonly string[];
  /** Oldest first, each with its journey. */
  readonly events: readonly { readonly eventId: string; readonly journey: readonly AuditEntry[] }[];
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
  findEntity(key: string): EntityView;
  /** Moves a queue's dead letters back to it. Throws UnknownQueueError for a key the topology lacks. */
  redrive(queueKey: string, by?: string): Promise<RedriveResult & { readonly queue: string }>;
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
  readonly audit: LocalAuditTrail;
  readonly telemetry: LocalTelemetry;
}

/** Most quarantine items read per request: the console is for looking, not for bulk export. */
const QUARANTINE_READ_LIMIT = 1000;
const QUARANTINE_SHOWN = 100;

const NOTE = `Journey from the audit trail (the data directory's audit.jsonl, kept for audit.retentionDays); attempts and destination calls from the recent in-memory trace; the quarantine and the delivery mappings. In AWS: switchyard trace <id> --aws.`;

export function createConsoleApi(deps: ConsoleApiDeps): ConsoleApi {
  const { dynamo, tableName, trace, audit } = deps;

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
      const journey = audit.event(eventId);
      const quarantine = (await quarantineItems()).filter((item) => item.eventId === eventId);
      const attempts = (flow: string, destination: string) =>
        steps.filter((s) => s.stage === 'deliver' && s.flow === flow && s.destination === destination).length;
      // A lane's status is its newest transition in the trail: one record per lane and version.
      const lanes = new Map<string, AuditEntry>();
      for (const entry of journey) {
        if (!entry.flow || !entry.destination || !entry.id || entry.stage === 'ingest') continue;
        lanes.set(`${entry.flow}/${entry.destination}/${entry.id}/${entry.version}`, entry);
      }
      const views: LaneView[] = [];
      for (const last of lanes.values()) {
        const flow = last.flow ?? '';
        const destination = last.destination ?? '';
        views.push({
          flow,
          destination,
          entity: last.entity ?? '',
          id: last.id ?? '',
          source: last.source ?? '',
          version: last.version ?? 0,
          status: laneStatus(last, steps),
          attempts: attempts(flow, destination),
          mapping: last.entity && last.id ? await mappingOf(last.entity, last.id, destination) : null,
        });
      }
      return {
        eventId,
        found: journey.length > 0 || steps.length > 0 || quarantine.length > 0,
        journey,
        steps,
        lanes: views,
        quarantine,
        note: NOTE,
      };
    },

    findEntity(key) {
      const canonicalIds = new Set<string>();
      const eventIds = new Set(audit.eventsOfEntity(key));
      // `system:externalId` names the entity as its source knows it; the trail holds the canonical
      // id route resolved, which other systems' events carry too.
      for (const eventId of eventIds)
        for (const entry of audit.event(eventId))
          if (entry.id && (entry.id === key || `${entry.source}:${entry.sourceId}` === key))
            canonicalIds.add(entry.id);
      if (eventIds.size > 0 && !key.includes(':')) canonicalIds.add(key);
      for (const id of canonicalIds) for (const eventId of audit.eventsOfEntity(id)) eventIds.add(eventId);
      const events = [...eventIds]
        .map((eventId) => ({ eventId, journey: audit.event(eventId) }))
        .sort((a, b) => (a.journey[0]?.at ?? 0) - (b.journey[0]?.at ?? 0));
      return { key, found: events.length > 0, canonicalIds: [...canonicalIds], events };
    },

    async redrive(queueKey, by) {
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
          if (typeof message.eventId !== 'string') return;
          trace.record(message.eventId, { stage: 'redrive', queue: spec.name });
          audit.record([redrivenEntry(message, message.eventId, spec.name, Date.now(), by)]);
        },
      });
      return { queue: spec.name, ...result };
    },
  };
}

/** A lane's status from its newest transition (and, for a pending one, the recent attempts). */
function laneStatus(last: AuditEntry, steps: readonly TraceStep[]): LaneView['status'] {
  switch (last.outcome) {
    case 'delivered':
    case 'skipped':
    case 'quarantined':
    case 'dead-lettered':
      return last.outcome;
    default: {
      const attempt = [...steps]
        .reverse()
        .find((s) => s.stage === 'deliver' && s.flow === last.flow && s.destination === last.destination);
      return attempt?.stage === 'deliver' && attempt.outcome === 'retry' && attempt.at >= last.at
        ? 'retrying'
        : 'in flight';
    }
  }
}

/** The audit entry of a message moved back from a DLQ (a delivery message or an envelope). */
export function redrivenEntry(
  message: Record<string, unknown>,
  eventId: string,
  queue: string,
  at: number,
  by: string | undefined,
): AuditEntry {
  const text = (key: string) => (typeof message[key] === 'string' ? { [key]: message[key] as string } : {});
  return {
    eventId,
    at,
    stage: 'redrive',
    outcome: 'redriven',
    ...text('source'),
    ...text('flow'),
    ...text('destination'),
    ...(typeof message.entity === 'string' ? { entity: message.entity as AuditEntry['entity'] } : {}),
    ...text('id'),
    ...text('sourceId'),
    ...(typeof message.version === 'number' ? { version: message.version } : {}),
    reason: `moved back to ${queue}`,
    ...(by ? { by } : {}),
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

function parseBody(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
