import { recordsFor } from '../connectors/registry.js';
import { CONTRACTS, convert, isSchemaVersion, mergeData, validateAs } from '../model/contracts.js';
import { type Entity, OWNED_WITH, type SwitchyardConfig } from './config.js';
import { consumedVersion, forDestination } from './destination-version.js';
import { FatalError, type QuarantineReason } from './errors.js';
import { stableStringify } from './hashing.js';
import { type CanonicalIdFor, findKnownRecord, type KnownRecord } from './identity.js';
import type { DeliveryMessage, Envelope, SourceRecord } from './messages.js';
import type { CanonicalItem, Clock, DeliveryQueues, Log, StateStore, Telemetry } from './ports.js';

export interface RouteDeps {
  readonly config: SwitchyardConfig;
  readonly state: StateStore;
  readonly deliveryQueues: DeliveryQueues;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  readonly log: Log;
  /** The id a record founds its entity under (production: {@link derivedCanonicalId}). */
  readonly canonicalIdFor: CanonicalIdFor;
}

/** The record's entity as the hub knows it, read at most once per record per route. */
type Known = () => Promise<KnownRecord | undefined>;

/** A (flow, destination) pair: the unit G3 accounts for. */
export interface Lane {
  readonly flow: string;
  readonly destination: string;
}

/** Which record a lane outcome is about, for the audit trail (the canonical id once resolved). */
export interface RecordRef {
  readonly entity: Entity;
  readonly sourceId: string;
  readonly version: number;
  readonly id?: string;
}

/** What route decided for one record, per lane; counted only once the whole envelope succeeded. */
export type LaneOutcome =
  | { readonly lane: Lane; readonly record: RecordRef; readonly kind: 'enqueued' }
  | { readonly lane: Lane; readonly record: RecordRef; readonly kind: 'skipped'; readonly reason: string }
  | {
      readonly lane: Lane;
      readonly record: RecordRef;
      readonly kind: 'quarantined';
      readonly reasons: readonly QuarantineReason[];
    };

export interface RouteResult {
  readonly lanes: readonly LaneOutcome[];
  /** Set when the event concerns no lane at all: the source-level outcome. */
  readonly unrouted?:
    | { readonly kind: 'skipped'; readonly reason: string }
    | { readonly kind: 'quarantined' };
  readonly quarantine: readonly {
    readonly reasons: readonly QuarantineReason[];
    readonly lanes: readonly Lane[];
  }[];
}

const MAX_MERGE_ATTEMPTS = 5;

export function lanesFor(config: SwitchyardConfig, source: string, entity: Entity): Lane[] {
  return config.flows
    .filter((flow) => flow.entity === entity && flow.from.includes(source))
    .flatMap((flow) => flow.to.map((destination) => ({ flow: flow.name, destination })));
}

function validate(
  record: SourceRecord,
  disabledRules: readonly string[] = [],
): { ok: true; data: Record<string, unknown> } | { ok: false; reasons: readonly QuarantineReason[] } {
  if (record.deleted) return { ok: true, data: { ...record.data } };
  const version = record.schemaVersion ?? 1;
  if (!isSchemaVersion(record.entity, version)) {
    return {
      ok: false,
      reasons: [
        {
          rule: `${record.entity}.schemaVersion.format`,
          field: 'schemaVersion',
          message: `is not a ${record.entity} schema version (newest: ${CONTRACTS[record.entity].version})`,
          value: JSON.stringify(version),
        },
      ],
    };
  }
  const result = validateAs(record.entity, version, record.data);
  if (result.ok || disabledRules.length === 0) return result;
  // Only disabled rules failed: the record passes, its failing values kept as the source sent them.
  if (result.reasons.every((reason) => disabledRules.includes(reason.rule))) {
    const normalized = CONTRACTS[record.entity].normalize(record.data);
    return { ok: true, data: JSON.parse(JSON.stringify(normalized)) as Record<string, unknown> };
  }
  return { ok: false, reasons: result.reasons.filter((reason) => !disabledRules.includes(reason.rule)) };
}

/**
 * Validates a record on its own, or, when it is a partial update of an entity the hub already
 * holds (a HubSpot property change carries one field), as merged onto what the hub holds: a
 * phone-only change to a known customer is valid, a new customer without an email is not.
 */
async function validateUpdate(
  record: SourceRecord,
  deps: RouteDeps,
  known: Known,
): Promise<ReturnType<typeof validate>> {
  const disabled = deps.config.validation.disabledRules;
  const alone = validate(record, disabled);
  if (alone.ok || record.deleted) return alone;
  const current = (await known())?.item;
  if (!current || current.deleted) return alone;
  // What the hub holds, in the version this update speaks, so the two merge field by field.
  const held = convert(record.entity, current.data, current.schemaVersion ?? 1, record.schemaVersion ?? 1);
  const merged = validate({ ...record, data: { ...held, ...record.data } }, disabled);
  if (!merged.ok) return merged;
  // Keep only what this update said (normalized), so the merge below stays a merge.
  const said = new Set([...Object.keys(record.data), 'refs', 'flags']);
  return {
    ok: true,
    data: Object.fromEntries(Object.entries(merged.data).filter(([field]) => said.has(field))),
  };
}

/** Drops the fields another system owns (G6): their changes from this source are never applied. */
function ownedFields(
  config: SwitchyardConfig,
  entity: Entity,
  source: string,
  data: Record<string, unknown>,
  telemetry: Telemetry,
): Record<string, unknown> {
  const owners = config.ownership[entity] ?? {};
  const kept: Record<string, unknown> = {};
  const with_ = OWNED_WITH[entity];
  for (const [field, value] of Object.entries(data)) {
    const parent = Object.hasOwn(with_, field) ? with_[field] : undefined;
    const owner = owners[field] ?? (parent === undefined ? undefined : owners[parent]);
    if (owner !== undefined && owner !== source) {
      telemetry.count('fieldSkipped', { source, reason: 'not_owned' });
      continue;
    }
    kept[field] = value;
  }
  return kept;
}

/**
 * Merges the record into the canonical store behind the source's version guard. Returns the merged
 * item, or 'stale' when the store already holds a newer version from this source (G5). An equal
 * version is merged again on purpose: a retry after a crash between this write and the enqueue must
 * still reach the destinations, whose mapping absorbs the duplicate.
 */
async function mergeCanonical(
  record: SourceRecord,
  source: string,
  resolved: ResolvedId,
  data: Record<string, unknown>,
  deps: RouteDeps,
): Promise<CanonicalItem | 'stale'> {
  const latest = CONTRACTS[record.entity].version;
  const canonicalId = resolved.id;
  for (let attempt = 1; attempt <= MAX_MERGE_ATTEMPTS; attempt++) {
    // The first attempt uses what resolving the id just read; the write is conditional on it anyway.
    const current =
      attempt === 1 && resolved.current !== 'unread'
        ? resolved.current
        : await deps.state.getCanonical(record.entity, canonicalId);
    const applied = current?.versions[source];
    if (applied !== undefined && record.version < applied) return 'stale';
    // The store holds the newest schema version; an item written before it is upgraded as it is read.
    const held = current ? convert(record.entity, current.data, current.schemaVersion ?? 1, latest) : {};
    const merged: CanonicalItem = {
      entity: record.entity,
      id: canonicalId,
      data: record.deleted
        ? { refs: { ...current?.refs, [source]: record.sourceId } }
        : { ...mergeData(record.entity, held, data), refs: { ...current?.refs, [source]: record.sourceId } },
      schemaVersion: latest,
      deleted: record.deleted,
      versions: { ...current?.versions, [source]: record.version },
      refs: { ...current?.refs, [source]: record.sourceId },
      revision: (current?.revision ?? 0) + 1,
      updatedAt: deps.clock.now(),
    };
    // A re-delivery (same version, nothing new) changes nothing: no write, so a duplicate costs no
    // write unit. It is still forwarded, in case an earlier attempt stopped before the enqueue.
    if (
      current &&
      applied === record.version &&
      current.deleted === merged.deleted &&
      stableStringify(current.data) === stableStringify(merged.data)
    ) {
      return current;
    }
    if ((await deps.state.putCanonical(merged, current?.revision)) === 'written') return merged;
    deps.log.debug('Canonical write lost a race; re-reading', {
      entity: record.entity,
      id: canonicalId,
      attempt,
    });
  }
  throw new Error(
    `Canonical ${record.entity} ${canonicalId} kept changing under ${MAX_MERGE_ATTEMPTS} merge attempts`,
  );
}

export { consumedVersion, forDestination };

/** The key that says two systems' records are one entity: a customer's email, an order's number per source. */
export function naturalKey(
  entity: Entity,
  source: string,
  data: Readonly<Record<string, unknown>>,
): string | undefined {
  if (entity === 'customer' && typeof data.email === 'string') return `email:${data.email}`;
  if (entity === 'order' && typeof data.number === 'string') return `number:${source}:${data.number}`;
  return undefined;
}

/** The canonical id of a record, with what the store held there when it was resolved. */
interface ResolvedId {
  readonly id: string;
  /** The canonical item as read while resolving; 'unread' when resolving did not read it. */
  readonly current: CanonicalItem | undefined | 'unread';
  /** The record was new and founded its entity under its derived id. */
  readonly founded?: true;
  /** The hub had never seen the record: it founded or joined an entity just now. */
  readonly firstSight?: true;
}

/**
 * The canonical id for a source record. A known record resolves through its derived id or its xref
 * (findKnownRecord). On first sight, the natural key is claimed with the record's derived id: won,
 * the record founds the entity under that id and needs no xref (every route of it derives the same
 * id); lost, it joins the entity that holds the key through an xref claim. Both claims are
 * conditional writes, so the Stripe and the Shopify copy of one customer become one entity even when
 * they arrive at the same moment.
 */
async function resolveCanonicalId(
  record: SourceRecord,
  source: string,
  data: Readonly<Record<string, unknown>>,
  deps: RouteDeps,
  known: Known,
): Promise<ResolvedId> {
  const found = await known();
  if (found) return { id: found.id, current: found.item };
  const derived = deps.canonicalIdFor(source, record.entity, record.sourceId);
  const key = record.deleted ? undefined : naturalKey(record.entity, source, data);
  const owner = key ? await deps.state.claimNaturalKey(record.entity, key, derived) : derived;
  let id = owner;
  if (owner !== derived) {
    id = await deps.state.claimXref(source, record.entity, record.sourceId, owner);
    // Another route of this record claimed the xref first with another id: the natural key must
    // follow it, or the next system's copy would land on an id that never becomes an entity.
    if (key && id !== owner) await deps.state.repointNaturalKey(record.entity, key, owner, id);
    if (await deps.state.getCanonical(record.entity, derived))
      await reportSplitRecord(record, source, derived, id, deps);
  }
  // A founded entity is new unless a concurrent route of the record got there first, which the
  // conditional create in mergeCanonical finds out; a joined entity has to be read.
  return id === derived
    ? { id, current: undefined, founded: true, firstSight: true }
    : { id, current: 'unread', firstSight: true };
}

/**
 * Same phone and name under another email may be the same person, or a family sharing a line: not
 * safe to merge, so it is reported. Claimed on a record's first route only; it decides nothing the
 * canonical write depends on, so the route runs it alongside (PendingChecks).
 */
async function claimLookalike(
  record: SourceRecord,
  source: string,
  data: Readonly<Record<string, unknown>>,
  id: string,
  deps: RouteDeps,
): Promise<void> {
  if (record.entity !== 'customer' || typeof data.phone !== 'string' || typeof data.name !== 'string') return;
  const lookalike = `phone-name:${data.phone}|${data.name.trim().toLowerCase()}`;
  const other = await deps.state.claimNaturalKey(record.entity, lookalike, id);
  if (other !== id)
    await reportPossibleDuplicate(record, source, [other, id], 'same phone and name, different email', deps);
}

/**
 * Two versions of one new record routed at the same moment with different emails, one of them held by
 * another entity, can found an entity under the derived id and join the other one: the hub reads the
 * derived one from then on. Rare, and not safe to merge blindly, so it is reported as a possible
 * duplicate for a person to decide. The joiner looks for the founded item after its xref claim and
 * the founder for an xref after its canonical write, so whatever the interleaving one of them sees
 * the other (one read each, on a record's first route only).
 */
async function reportSplitRecord(
  record: SourceRecord,
  source: string,
  derived: string,
  joined: string,
  deps: RouteDeps,
): Promise<void> {
  deps.log.warn('One record reached two entities in a race', {
    entity: record.entity,
    ids: [derived, joined],
  });
  await reportPossibleDuplicate(
    record,
    source,
    [derived, joined],
    'one source record routed into two entities at once',
    deps,
  );
}

async function reportPossibleDuplicate(
  record: SourceRecord,
  source: string,
  ids: readonly [string, string],
  reason: string,
  deps: RouteDeps,
): Promise<void> {
  await deps.state.putPossibleDuplicate({
    entity: record.entity,
    ids: [...ids],
    reason,
    source,
    seenAt: deps.clock.now(),
  });
  deps.telemetry.count('possibleDuplicate', { source });
}

/**
 * A record's first-sight checks (its look-alike claim, the founder's split-record check), started as
 * soon as they can be and awaited with the enqueue: a failure is held, not left unhandled, until
 * {@link settle} throws it.
 */
class PendingChecks {
  private readonly pending: Promise<void>[] = [];
  private failure: { readonly error: unknown } | undefined;

  push(check: Promise<void>): void {
    this.pending.push(
      check.catch((error: unknown) => {
        this.failure ??= { error };
      }),
    );
  }

  /** Waits for every check; throws the first failure. */
  async settle(): Promise<void> {
    await Promise.all(this.pending);
    if (this.failure) throw this.failure.error;
  }
}

/**
 * Route: event to canonical records, validated, linked, merged and fanned out to one FIFO message
 * per flow destination. Throws FatalError (quarantine the envelope) or anything else (retry).
 */
export async function routeEnvelope(
  envelope: Envelope,
  deps: RouteDeps,
  /** Id of the inbound queue message carrying the envelope (see DeliveryMessage.routedFrom). */
  routedFrom: string,
): Promise<RouteResult> {
  const source = Object.hasOwn(deps.config.sources, envelope.source)
    ? deps.config.sources[envelope.source]
    : undefined;
  if (!source) {
    throw new FatalError(`Envelope names source "${envelope.source}", which the config no longer has`, [
      { rule: 'route.source.unknown', field: 'source', message: 'source is not in the config' },
    ]);
  }
  const records = recordsFor(envelope, source);
  if (records.length === 0)
    return { lanes: [], unrouted: { kind: 'skipped', reason: 'unmapped_event' }, quarantine: [] };

  const outcomes: LaneOutcome[] = [];
  const quarantine: { reasons: readonly QuarantineReason[]; lanes: readonly Lane[] }[] = [];
  const messages: DeliveryMessage[] = [];
  const checks = new PendingChecks();
  let anyLane = false;
  try {
    for (const record of records) {
      const lanes = lanesFor(deps.config, envelope.source, record.entity);
      if (lanes.length === 0) continue;
      anyLane = true;
      // Every record carries its source reference, whether its connector set it or a mapping did not.
      const withRef: SourceRecord = {
        ...record,
        data: {
          ...record.data,
          refs: { ...(record.data.refs as object | undefined), [envelope.source]: record.sourceId },
        },
      };
      let lookup: Promise<KnownRecord | undefined> | undefined;
      const known: Known = () => {
        lookup ??= findKnownRecord(
          deps.state,
          deps.canonicalIdFor,
          envelope.source,
          record.entity,
          record.sourceId,
        );
        return lookup;
      };
      const checked = await validateUpdate(withRef, deps, known);
      if (!checked.ok) {
        await deps.state.putQuarantine({
          stage: 'route',
          source: envelope.source,
          eventId: envelope.eventId,
          entity: record.entity,
          recordId: record.sourceId,
          lanes,
          reasons: checked.reasons,
          payload: envelope,
          quarantinedAt: deps.clock.now(),
        });
        quarantine.push({ reasons: checked.reasons, lanes });
        const ref = { entity: record.entity, sourceId: record.sourceId, version: record.version };
        for (const lane of lanes)
          outcomes.push({ lane, record: ref, kind: 'quarantined', reasons: checked.reasons });
        continue;
      }
      const upgraded = convert(
        record.entity,
        checked.data,
        record.schemaVersion ?? 1,
        CONTRACTS[record.entity].version,
      );
      const resolved = await resolveCanonicalId(record, envelope.source, upgraded, deps, known);
      const canonicalId = resolved.id;
      const data = ownedFields(deps.config, record.entity, envelope.source, upgraded, deps.telemetry);
      // First-sight checks report, they decide nothing after them: they run alongside the rest.
      if (resolved.firstSight && deps.config.identity.lookalikes === 'report')
        checks.push(claimLookalike(record, envelope.source, upgraded, canonicalId, deps));
      const merged = await mergeCanonical(record, envelope.source, resolved, data, deps);
      if (resolved.founded && merged !== 'stale') {
        // The founder's half of the split-record check must follow its canonical write.
        checks.push(
          deps.state.getXref(envelope.source, record.entity, record.sourceId).then(async (linked) => {
            if (linked !== undefined && linked !== canonicalId)
              await reportSplitRecord(record, envelope.source, canonicalId, linked, deps);
          }),
        );
      }
      const ref = {
        entity: record.entity,
        sourceId: record.sourceId,
        version: record.version,
        id: canonicalId,
      };
      if (merged === 'stale') {
        deps.log.info('Skipped a stale update', {
          entity: record.entity,
          id: canonicalId,
          version: record.version,
        });
        for (const lane of lanes) outcomes.push({ lane, record: ref, kind: 'skipped', reason: 'stale' });
        continue;
      }
      for (const lane of lanes) {
        outcomes.push({ lane, record: ref, kind: 'enqueued' });
        messages.push({
          v: 1,
          flow: lane.flow,
          destination: lane.destination,
          entity: record.entity,
          id: canonicalId,
          source: envelope.source,
          sourceId: record.sourceId,
          version: record.version,
          deleted: record.deleted,
          ...forDestination(deps.config, lane.destination, merged),
          eventId: envelope.eventId,
          receivedAt: envelope.receivedAt,
          routedFrom,
          revision: merged.revision,
        });
      }
    }
  } catch (error) {
    // The route fails and is retried whole; the checks it started finish first, and a failure of
    // theirs is logged (this error is the one that decides the retry).
    await checks.settle().catch((secondary: unknown) => {
      deps.log.warn('A split-record check failed as the route failed', { error: String(secondary) });
    });
    throw error;
  }
  await Promise.all([messages.length > 0 ? deps.deliveryQueues.send(messages) : undefined, checks.settle()]);
  return anyLane
    ? { lanes: outcomes, quarantine }
    : { lanes: [], unrouted: { kind: 'skipped', reason: 'no_flow' }, quarantine: [] };
}
