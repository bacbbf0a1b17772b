import { CANONICAL_FIELDS, type Entity, type SwitchyardConfig } from './config.js';
import { forDestination } from './destination-version.js';
import { SwitchyardError } from './errors.js';
import type { DeliveryMessage, Envelope } from './messages.js';
import type {
  AuditEntry,
  AuditOutcome,
  AuditTrail,
  CanonicalItem,
  Clock,
  DeliveryQueues,
  HttpFetch,
  InboundQueue,
  OpsStore,
  SecretStore,
  StateStore,
  StoredQuarantineItem,
  Telemetry,
} from './ports.js';

/**
 * Operators' actions on the hub's state: replay the quarantine, backfill a flow, report data
 * quality. They run the current code and config, so a fixed mapping or a relaxed rule applies.
 */
export interface OpsDeps {
  readonly config: SwitchyardConfig;
  readonly ops: OpsStore;
  readonly inbound: InboundQueue;
  readonly deliveryQueues: DeliveryQueues;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  /** For `shadow diff`, which reads destinations: their tokens and the fetch to call them with. */
  readonly secrets?: SecretStore;
  readonly fetch?: HttpFetch;
  /** For `shadow diff`: the mappings, so a destination is read by the id it gave the record. */
  readonly mappings?: Pick<StateStore, 'getMapping'>;
  /** For `reconcile`: xrefs, canonical records and mappings. */
  readonly state?: Pick<StateStore, 'getXref' | 'getCanonical' | 'getMapping'>;
  /** For replay from the canonical store: the current merged record of each chosen entity. */
  readonly canonical?: Pick<StateStore, 'getCanonical'>;
  /** Where replays and backfills are recorded. */
  readonly audit?: AuditTrail;
}

/** An operator request that cannot be done as asked (no such flow, a bad page size): a 400 locally. */
export class OpsError extends SwitchyardError {}

const isEnvelope = (payload: StoredQuarantineItem['payload']): payload is Envelope =>
  typeof (payload as Envelope).body === 'string' && typeof (payload as Envelope).source === 'string';
const isDeliveryMessage = (payload: StoredQuarantineItem['payload']): payload is DeliveryMessage =>
  typeof (payload as DeliveryMessage).destination === 'string' &&
  typeof (payload as DeliveryMessage).version === 'number';

/**
 * Sends a quarantined record back through the stage that refused it (route: the envelope to the
 * inbound queue; deliver: the message to its destination's queue) and removes it from the
 * quarantine. Counted as newly accepted where it re-enters, so G3 keeps balancing.
 */
export async function replayQuarantined(
  key: string,
  deps: OpsDeps,
): Promise<{ stage: string; eventId: string }> {
  const item = await deps.ops.getQuarantine(key);
  if (!item) throw new OpsError(`No quarantined record "${key}"`);
  const { payload } = item;
  if (item.stage === 'route' && isEnvelope(payload)) {
    await deps.inbound.send([payload]);
    deps.telemetry.count('accepted', { source: payload.source });
    deps.telemetry.count('replayed', { source: payload.source });
    deps.audit?.record([
      {
        eventId: payload.eventId,
        at: deps.clock.now(),
        stage: 'replay',
        outcome: 'replayed',
        source: payload.source,
        reason: `quarantine ${key}`,
      },
    ]);
  } else if (item.stage === 'deliver' && isDeliveryMessage(payload)) {
    // A new routedFrom: SQS must not take the replay for the original within its dedup window. The
    // record goes out in the version the destination consumes now: moving a destination back to v1
    // after it refused v2, then replaying, sends v1.
    const converted = forDestination(deps.config, payload.destination, {
      entity: payload.entity,
      data: payload.data,
      schemaVersion: payload.schemaVersion ?? 1,
    });
    await deps.deliveryQueues.send([
      { ...payload, ...converted, routedFrom: `replay:${key}:${deps.clock.now()}` },
    ]);
    const lane = { flow: payload.flow, destination: payload.destination };
    deps.telemetry.count('routed', lane);
    deps.telemetry.count('replayed', lane);
    deps.audit?.record([
      {
        eventId: payload.eventId,
        at: deps.clock.now(),
        stage: 'replay',
        outcome: 'replayed',
        ...lane,
        source: payload.source,
        entity: payload.entity,
        id: payload.id,
        sourceId: payload.sourceId,
        version: payload.version,
        reason: `quarantine ${key}`,
      },
    ]);
  } else {
    throw new OpsError(
      `Quarantined record "${key}" holds no replayable payload (it was unreadable when it arrived)`,
    );
  }
  await deps.ops.deleteQuarantine(key);
  return { stage: item.stage, eventId: item.eventId };
}

/**
 * A canonical record as one flow destination's delivery message: the whole merged record, in the
 * schema version the destination consumes, with the version of one of the flow's sources (deliver's
 * guards compare like with like). Undefined when no source of the record has a version.
 */
export function messageFromCanonical(
  config: SwitchyardConfig,
  item: CanonicalItem,
  flow: Pick<SwitchyardConfig['flows'][number], 'name' | 'entity' | 'from'>,
  destination: string,
  origin: { readonly eventId: string; readonly routedFrom: string; readonly now: number },
): DeliveryMessage | undefined {
  const source = flow.from.find((s) => item.versions[s] !== undefined) ?? Object.keys(item.versions)[0];
  if (!source) return undefined;
  return {
    v: 1,
    flow: flow.name,
    destination,
    entity: flow.entity,
    id: item.id,
    source,
    sourceId: item.refs[source] ?? item.id,
    version: item.versions[source] ?? 0,
    deleted: false,
    // In the schema version this destination consumes.
    ...forDestination(config, destination, item),
    eventId: origin.eventId,
    receivedAt: origin.now,
    routedFrom: origin.routedFrom,
    revision: item.revision,
  };
}

/** The audit entry of a delivery message an operator's action put on a lane. */
export function routedEntry(
  message: DeliveryMessage,
  stage: 'backfill' | 'replay' | 'promote' | 'reconcile',
  reason: string,
  at: number,
  by?: string,
): AuditEntry {
  return {
    eventId: message.eventId,
    at,
    stage,
    outcome: stage === 'replay' ? 'replayed' : 'routed',
    flow: message.flow,
    destination: message.destination,
    source: message.source,
    entity: message.entity,
    id: message.id,
    sourceId: message.sourceId,
    version: message.version,
    reason,
    ...(by ? { by } : {}),
  };
}

export interface BackfillPage {
  readonly flow: string;
  readonly scanned: number;
  readonly sent: number;
  /** Where the next page starts; absent when the flow is complete. Saved, so a run can resume. */
  readonly next?: string;
}

/** The most state-table items one backfill page reads (a Scan's Limit; the canonical records among them are sent). */
export const MAX_BACKFILL_PAGE = 1000;

/** A backfill page size as written (a query parameter, a CLI option); an OpsError names a bad one. */
export function parseBackfillPageSize(text: string): number {
  const size = Number(text);
  if (!/^\d+$/.test(text.trim()) || size < 1 || size > MAX_BACKFILL_PAGE)
    throw new OpsError(
      `A backfill page is a whole number of state-table items from 1 to ${MAX_BACKFILL_PAGE} (got "${text}")`,
    );
  return size;
}

/**
 * Sends one page of the canonical store through a flow, one message per destination, so a newly
 * added destination starts complete. Destinations that already hold a record skip it (the mapping
 * has its version and content), so a backfill can be re-run safely. `limit` is checked where it is
 * read (parseBackfillPageSize).
 */
export async function backfillPage(
  flowName: string,
  deps: OpsDeps,
  options: { after?: string; limit?: number } = {},
): Promise<BackfillPage> {
  const flow = deps.config.flows.find((f) => f.name === flowName);
  if (!flow)
    throw new OpsError(
      `No flow named "${flowName}" (flows: ${deps.config.flows.map((f) => f.name).join(', ')})`,
    );
  const page = await deps.ops.scanCanonical(flow.entity, options.limit ?? 100, options.after);
  const now = deps.clock.now();
  const messages: DeliveryMessage[] = [];
  for (const item of page.items) {
    if (item.deleted) continue;
    for (const destination of flow.to) {
      const message = messageFromCanonical(deps.config, item, flow, destination, {
        eventId: `backfill-${flow.name}-${item.id}`,
        routedFrom: `backfill:${now}`,
        now,
      });
      if (message) messages.push(message);
    }
  }
  if (messages.length > 0) await deps.deliveryQueues.send(messages);
  for (const message of messages) {
    const lane = { flow: message.flow, destination: message.destination };
    deps.telemetry.count('routed', lane);
    deps.telemetry.count('backfilled', lane);
  }
  deps.audit?.record(messages.map((m) => routedEntry(m, 'backfill', 'backfill', now)));
  await deps.ops.putDocument(`backfill#${flow.name}`, { next: page.next ?? null, at: now });
  return {
    flow: flow.name,
    scanned: page.items.length,
    sent: messages.length,
    ...(page.next ? { next: page.next } : {}),
  };
}

/** The terminal states replay from the canonical store can select by. */
export const REPLAY_STATES = ['delivered', 'skipped', 'quarantined', 'dead-lettered'] as const;
export type ReplayState = (typeof REPLAY_STATES)[number];

export interface CanonicalReplayFilter {
  readonly source?: string;
  readonly flow?: string;
  readonly destination?: string;
  readonly entity?: Entity;
  /** Canonical id. */
  readonly id?: string;
  readonly eventId?: string;
  /** Epoch ms: the terminal transition happened at or after `since`, before `until`. */
  readonly since?: number;
  readonly until?: number;
  readonly state?: ReplayState;
}

/** One (flow destination, canonical id) and where it ended last, as the audit trail tells. */
export interface ReplayCandidate {
  readonly flow: string;
  readonly destination: string;
  readonly entity: Entity;
  readonly id: string;
  readonly state: ReplayState;
  readonly eventId: string;
  readonly source?: string;
  readonly at: number;
}

/**
 * The last terminal state of each (flow destination, canonical id) in an audit trail. Entries that
 * never had a canonical id (refused at route before it was resolved) are not in the canonical
 * store: they are counted apart, for replay from the quarantine.
 */
export function terminalStates(entries: readonly AuditEntry[]): {
  readonly candidates: readonly ReplayCandidate[];
  readonly withoutCanonical: number;
} {
  const terminal = new Set<AuditOutcome>(REPLAY_STATES);
  const latest = new Map<string, ReplayCandidate>();
  const withoutCanonical = new Set<string>();
  for (const entry of entries) {
    if (!terminal.has(entry.outcome) || !entry.flow || !entry.destination) continue;
    if (!entry.id || !entry.entity) {
      withoutCanonical.add(`${entry.eventId}/${entry.flow}/${entry.destination}`);
      continue;
    }
    const key = `${entry.flow}/${entry.destination}/${entry.entity}/${entry.id}`;
    const previous = latest.get(key);
    if (previous && previous.at > entry.at) continue;
    latest.set(key, {
      flow: entry.flow,
      destination: entry.destination,
      entity: entry.entity,
      id: entry.id,
      state: entry.outcome as ReplayState,
      eventId: entry.eventId,
      ...(entry.source ? { source: entry.source } : {}),
      at: entry.at,
    });
  }
  return { candidates: [...latest.values()], withoutCanonical: withoutCanonical.size };
}

export function matchesReplay(candidate: ReplayCandidate, filter: CanonicalReplayFilter): boolean {
  return (
    (!filter.source || candidate.source === filter.source) &&
    (!filter.flow || candidate.flow === filter.flow) &&
    (!filter.destination || candidate.destination === filter.destination) &&
    (!filter.entity || candidate.entity === filter.entity) &&
    (!filter.id || candidate.id === filter.id) &&
    (!filter.eventId || candidate.eventId === filter.eventId) &&
    (!filter.state || candidate.state === filter.state) &&
    (filter.since === undefined || candidate.at >= filter.since) &&
    (filter.until === undefined || candidate.at < filter.until)
  );
}

export interface CanonicalReplayResult {
  readonly dryRun: boolean;
  /** (flow destination, entity) pairs known to the trail. */
  readonly known: number;
  readonly matched: number;
  /** Matched, by the state they ended in. */
  readonly byState: Readonly<Record<ReplayState, number>>;
  /** Put back on their lanes (0 in a dry run). */
  readonly sent: number;
  /** Matched but no longer in the canonical store, or deleted there: nothing to send. */
  readonly missing: number;
  /** Lanes of records refused before they had a canonical id: replay those from the quarantine. */
  readonly withoutCanonical: number;
  readonly items: readonly ReplayCandidate[];
}

/**
 * Replay from the canonical store: each matching (flow destination, entity) gets the current
 * merged record on its lane, routed and counted like a backfill (G3); the original event id is
 * kept so `trace` shows the replay in the event's journey. A destination that already holds that
 * version and content skips it as a duplicate (G4), so a replay of something delivered is harmless.
 */
export async function replayFromCanonical(
  entries: readonly AuditEntry[],
  filter: CanonicalReplayFilter,
  deps: OpsDeps,
  options: { readonly dryRun: boolean; readonly by?: string },
): Promise<CanonicalReplayResult> {
  for (const [field, value, known] of [
    ['source', filter.source, Object.keys(deps.config.sources)],
    ['flow', filter.flow, deps.config.flows.map((f) => f.name)],
    ['destination', filter.destination, Object.keys(deps.config.destinations)],
  ] as const) {
    if (value !== undefined && !known.includes(value))
      throw new OpsError(`No ${field} named "${value.slice(0, 64)}" (${field}s: ${known.join(', ')})`);
  }
  const { candidates, withoutCanonical } = terminalStates(entries);
  const chosen = candidates.filter((c) => matchesReplay(c, filter)).sort((a, b) => a.at - b.at);
  const byState = Object.fromEntries(
    REPLAY_STATES.map((state) => [state, chosen.filter((c) => c.state === state).length]),
  ) as Record<ReplayState, number>;
  const summary = { known: candidates.length, matched: chosen.length, byState, withoutCanonical };
  if (options.dryRun) return { dryRun: true, ...summary, sent: 0, missing: 0, items: chosen };
  if (!deps.canonical) throw new OpsError('This hub cannot read the canonical store for a replay');
  const now = deps.clock.now();
  let sent = 0;
  let missing = 0;
  for (const candidate of chosen) {
    const flow = deps.config.flows.find((f) => f.name === candidate.flow);
    const item = flow ? await deps.canonical.getCanonical(candidate.entity, candidate.id) : undefined;
    const message =
      flow && item && !item.deleted
        ? messageFromCanonical(deps.config, item, flow, candidate.destination, {
            eventId: candidate.eventId,
            // New each run: SQS must not take a replay for the original within its dedup window.
            routedFrom: `replay-canonical:${now}`,
            now,
          })
        : undefined;
    if (!message) {
      missing += 1;
      continue;
    }
    await deps.deliveryQueues.send([message]);
    const lane = { flow: message.flow, destination: message.destination };
    deps.telemetry.count('routed', lane);
    deps.telemetry.count('replayed', lane);
    deps.audit?.record([
      routedEntry(message, 'replay', `from canonical (was ${candidate.state})`, now, options.by),
    ]);
    sent += 1;
  }
  return { dryRun: false, ...summary, sent, missing, items: chosen };
}

export interface QualityReport {
  readonly entity: Entity;
  readonly source?: string;
  readonly generatedAt: string;
  readonly records: number;
  readonly quarantined: number;
  /** Percent of records with a value, per canonical field. */
  readonly completeness: Record<string, number>;
  /** Percent of records (held + quarantined) failing each rule. */
  readonly invalidRate: Record<string, number>;
  readonly duplicates: { readonly exact: number; readonly possible: number };
  /** Percent of present values in the canonical format, per format check. */
  readonly formats: Record<string, number>;
  /** Change since the last report of the same scope, in percentage points. */
  readonly trend?: {
    readonly since: string;
    readonly completeness: Record<string, number>;
    readonly invalidRate: Record<string, number>;
  };
}

const percent = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((part / whole) * 1000) / 10);
const present = (value: unknown) => value !== undefined && value !== null && value !== '';

/** A data quality report over the canonical store and the quarantine; the figures also go out as metrics. */
export async function qualityReport(
  deps: OpsDeps,
  scope: { entity: Entity; source?: string },
): Promise<QualityReport> {
  const { entity, source } = scope;
  const records: Record<string, unknown>[] = [];
  let after: string | undefined;
  do {
    const page = await deps.ops.scanCanonical(entity, 500, after);
    for (const item of page.items) {
      if (item.deleted || (source && item.refs[source] === undefined)) continue;
      records.push(item.data as Record<string, unknown>);
    }
    after = page.next;
  } while (after);

  const rules: Record<string, number> = {};
  let quarantined = 0;
  after = undefined;
  do {
    const page = await deps.ops.listQuarantine(500, after);
    for (const item of page.items) {
      if (
        item.stage !== 'route' ||
        (item.entity && item.entity !== entity) ||
        (source && item.source !== source)
      )
        continue;
      quarantined += 1;
      for (const rule of new Set(item.reasons.map((r) => r.rule))) rules[rule] = (rules[rule] ?? 0) + 1;
    }
    after = page.next;
  } while (after);

  const completeness = Object.fromEntries(
    CANONICAL_FIELDS[entity].map((field) => [
      field,
      percent(records.filter((r) => present(r[field])).length, records.length),
    ]),
  );
  const invalidRate = Object.fromEntries(
    Object.entries(rules).map(([rule, n]) => [rule, percent(n, records.length + quarantined)]),
  );
  const formats: Record<string, number> = {};
  let exact = 0;
  if (entity === 'customer') {
    const phones = records.map((r) => r.phone).filter(present);
    formats['phone.e164'] = percent(
      phones.filter((p) => /^\+[1-9]\d{6,14}$/.test(String(p))).length,
      phones.length,
    );
    const countries = records
      .map((r) => (r.address as { country?: unknown } | undefined)?.country)
      .filter(present);
    formats['address.country.alpha2'] = percent(
      countries.filter((c) => /^[A-Z]{2}$/.test(String(c))).length,
      countries.length,
    );
    const emails = records
      .map((r) => r.email)
      .filter(present)
      .map(String);
    formats['email.lowercase'] = percent(emails.filter((e) => e === e.toLowerCase()).length, emails.length);
    exact = emails.length - new Set(emails).size;
  }
  const possible = (await deps.ops.listPossibleDuplicates(entity)).length;

  const documentName = `quality#${entity}#${source ?? '*'}`;
  const previous = await deps.ops.getDocument<QualityReport>(documentName);
  const delta = (now: Record<string, number>, before: Record<string, number>) =>
    Object.fromEntries(
      [...new Set([...Object.keys(now), ...Object.keys(before)])].map((k) => [
        k,
        Math.round(((now[k] ?? 0) - (before[k] ?? 0)) * 10) / 10,
      ]),
    );
  const report: QualityReport = {
    entity,
    ...(source ? { source } : {}),
    generatedAt: new Date(deps.clock.now()).toISOString(),
    records: records.length,
    quarantined,
    completeness,
    invalidRate,
    duplicates: { exact, possible },
    formats,
    ...(previous
      ? {
          trend: {
            since: previous.generatedAt,
            completeness: delta(completeness, previous.completeness),
            invalidRate: delta(invalidRate, previous.invalidRate),
          },
        }
      : {}),
  };
  const { trend: _trend, ...stored } = report;
  await deps.ops.putDocument(documentName, stored);
  const dims = { entity, source: source ?? 'all' };
  for (const [field, value] of Object.entries(completeness))
    deps.telemetry.timing('qualityCompletenessPercent', { ...dims, field }, value);
  deps.telemetry.timing('qualityInvalidPercent', dims, percent(quarantined, records.length + quarantined));
  deps.telemetry.count('qualityPossibleDuplicates', dims, possible);
  deps.telemetry.flush();
  return report;
}
