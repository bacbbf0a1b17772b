import { destinationConnector } from '../connectors/destinations.js';
import type { FlowConfig } from './config.js';
import { stableStringify } from './hashing.js';
import type { DeliveryMessage } from './messages.js';
import { type OpsDeps, OpsError, routedEntry } from './ops.js';
import { readToken } from './secret-values.js';
import { deliversLive, type ShadowDecision, type ShadowRecord } from './shadow.js';

/** Shadow records read per page; a flow's records are read to the end. */
const PAGE = 100;

function flowNamed(name: string, deps: OpsDeps): FlowConfig {
  const flow = deps.config.flows.find((f) => f.name === name);
  if (!flow)
    throw new OpsError(`No flow named "${name}" (flows: ${deps.config.flows.map((f) => f.name).join(', ')})`);
  return flow;
}

async function allShadowRecords(flow: string, deps: OpsDeps): Promise<ShadowRecord[]> {
  const records: ShadowRecord[] = [];
  let after: string | undefined;
  do {
    const page = await deps.ops.listShadow(flow, PAGE, after);
    records.push(...page.items);
    after = page.next;
  } while (after);
  return records;
}

export interface PromoteResult {
  readonly flow: string;
  /** Records put on their destination's queue by this promote. */
  readonly promoted: number;
  /** Records of entities still outside the flow's pilot sample: left recorded. */
  readonly outsideSample: number;
  /** Records an earlier promote already sent. */
  readonly alreadyPromoted: number;
  readonly records: readonly { destination: string; id: string; version: number; idempotencyKey: string }[];
}

/**
 * Sends what a shadow flow recorded (the latest per entity) through the normal delivery queues, now
 * that the flow is live (or its pilot includes the entity). The message is the one recorded, so the
 * destination gets the same idempotency key, and deliver's guards still apply: a record the
 * destination already holds, or an older one than it holds, is skipped. Each record is marked
 * promoted before it is queued, so a second promote sends nothing. Counted as routed on the lane,
 * as a replay is, so G3 keeps balancing.
 */
export async function promoteShadow(flowName: string, deps: OpsDeps): Promise<PromoteResult> {
  const flow = flowNamed(flowName, deps);
  if (flow.mode === 'shadow') {
    throw new OpsError(
      `Flow "${flow.name}" is in shadow mode: set mode 'live' (or a pilot) in the config and restart the hub, then promote`,
    );
  }
  const at = deps.clock.now();
  const chosen: ShadowRecord[] = [];
  let outsideSample = 0;
  let alreadyPromoted = 0;
  for (const record of await allShadowRecords(flow.name, deps)) {
    if (record.promotedAt !== undefined) alreadyPromoted += 1;
    else if (!deliversLive(flow, record.message)) outsideSample += 1;
    else if (await deps.ops.markShadowPromoted(record, at)) chosen.push(record);
    else alreadyPromoted += 1;
  }
  const messages: DeliveryMessage[] = chosen.map((record) => ({
    ...record.message,
    // A fixed routedFrom: SQS absorbs a repeated promote of the same record within its window.
    routedFrom: `promote:${record.idempotencyKey}`,
    // Latency is measured from the promote: the time spent in shadow is not the pipeline's.
    receivedAt: at,
  }));
  try {
    if (messages.length > 0) await deps.deliveryQueues.send(messages);
  } catch (error) {
    for (const record of chosen) await deps.ops.clearShadowPromoted(record, at);
    throw error;
  }
  for (const message of messages) {
    const lane = { flow: message.flow, destination: message.destination };
    deps.telemetry.count('routed', lane);
    deps.telemetry.count('promoted', lane);
  }
  deps.audit?.record(messages.map((m) => routedEntry(m, 'promote', 'shadow promote', at)));
  return {
    flow: flow.name,
    promoted: chosen.length,
    outsideSample,
    alreadyPromoted,
    records: chosen.map((r) => ({
      destination: r.destination,
      id: r.id,
      version: r.version,
      idempotencyKey: r.idempotencyKey,
    })),
  };
}

export type DiffOutcome = 'create' | 'update' | 'unchanged' | 'cannot-read';

export interface ShadowDiffItem {
  readonly destination: string;
  readonly entity: string;
  readonly id: string;
  readonly version: number;
  readonly idempotencyKey: string;
  /** What deliver decided when it recorded the record (against the hub's mappings). */
  readonly decision: ShadowDecision;
  /** The body that would be sent. */
  readonly payload: unknown;
  /** What the destination's current content says the record would do. */
  readonly outcome: DiffOutcome;
  /** update: the fields whose values differ. */
  readonly fields?: readonly string[];
  /** cannot-read: why. */
  readonly reason?: string;
}

export interface ShadowDiff {
  readonly flow: string;
  readonly mode: FlowConfig['mode'];
  readonly generatedAt: string;
  readonly summary: {
    readonly records: number;
    readonly wouldCreate: number;
    readonly wouldUpdate: number;
    readonly unchanged: number;
    readonly cannotRead: number;
    /** Already promoted: not compared. */
    readonly promoted: number;
  };
  readonly items: readonly ShadowDiffItem[];
}

/** The comparable fields of a body: its `data` (HTTP wire format) or `properties` (HubSpot), plus `deleted`. */
function fieldsOf(body: unknown): Record<string, unknown> {
  const value = (body ?? {}) as Record<string, unknown>;
  const inner = [value.data, value.properties].find((v) => v !== null && typeof v === 'object') ?? value;
  return { ...(inner as Record<string, unknown>), deleted: value.deleted === true };
}

/** The fields whose values differ between what would be sent and what is held. */
export function differingFields(wouldSend: unknown, held: unknown): string[] {
  const a = fieldsOf(wouldSend);
  const b = fieldsOf(held);
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((key) => stableStringify(a[key]) !== stableStringify(b[key]))
    .sort();
}

/**
 * Compares each pending shadow record of a flow with what its destination holds, where the
 * destination's connector can read (the HTTP destination: `GET {url}/{id}`), and summarises: would
 * create, would update (which fields), unchanged, cannot read.
 */
export async function shadowDiff(flowName: string, deps: OpsDeps): Promise<ShadowDiff> {
  const flow = flowNamed(flowName, deps);
  const records = await allShadowRecords(flow.name, deps);
  const items: ShadowDiffItem[] = [];
  let promoted = 0;
  for (const record of records) {
    if (record.promotedAt !== undefined) {
      promoted += 1;
      continue;
    }
    const base = {
      destination: record.destination,
      entity: record.entity,
      id: record.id,
      version: record.version,
      idempotencyKey: record.idempotencyKey,
      decision: record.decision,
      payload: record.payload,
    };
    const destination = deps.config.destinations[record.destination];
    const connector = destination ? destinationConnector(destination.connector) : undefined;
    if (!destination || !connector?.read || !deps.fetch) {
      const reason = !destination
        ? `destination "${record.destination}" is no longer in the config`
        : !connector?.read
          ? `the ${destination.connector} connector cannot read records`
          : 'this hub has no fetch to read destinations with';
      items.push({ ...base, outcome: 'cannot-read', reason });
      continue;
    }
    try {
      const token =
        destination.secret && deps.secrets ? await readToken(deps.secrets, destination.secret) : undefined;
      const mapping = await deps.mappings?.getMapping(record.destination, record.entity, record.id);
      const held = await connector.read({
        entity: record.entity,
        id: record.id,
        destination,
        ...(mapping ? { mapping } : {}),
        payload: record.payload,
        ...(token === undefined ? {} : { token }),
        fetch: deps.fetch,
      });
      if (!held.found) {
        items.push({ ...base, outcome: 'create' });
        continue;
      }
      const fields = differingFields(record.payload, held.body);
      items.push(
        fields.length > 0 ? { ...base, outcome: 'update', fields } : { ...base, outcome: 'unchanged' },
      );
    } catch (error) {
      // Reported per record, with the cause, rather than failing the whole diff.
      items.push({ ...base, outcome: 'cannot-read', reason: (error as Error).message });
    }
  }
  const count = (outcome: DiffOutcome) => items.filter((i) => i.outcome === outcome).length;
  return {
    flow: flow.name,
    mode: flow.mode,
    generatedAt: new Date(deps.clock.now()).toISOString(),
    summary: {
      records: records.length,
      wouldCreate: count('create'),
      wouldUpdate: count('update'),
      unchanged: count('unchanged'),
      cannotRead: count('cannot-read'),
      promoted,
    },
    items,
  };
}
