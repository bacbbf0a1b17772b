import { recordsFor } from '../connectors/registry.js';
import type { Entity, FlowConfig, SourceConfig, SwitchyardConfig } from './config.js';
import { forDestination } from './destination-version.js';
import { FatalError, SwitchyardError } from './errors.js';
import { contentHash } from './hashing.js';
import { type CanonicalIdFor, derivedCanonicalId, findKnownRecord } from './identity.js';
import type { DeliveryMessage, Envelope } from './messages.js';
import { routedEntry } from './ops.js';
import { fetchPage, type RestPollSource, readPages, type SourceApiDeps } from './poll.js';
import type {
  AuditTrail,
  CanonicalItem,
  Clock,
  DeliveryMapping,
  DeliveryQueues,
  InboundQueue,
  OpsStore,
  SecretStore,
  StateStore,
  Telemetry,
} from './ports.js';
import { readToken } from './secret-values.js';

/**
 * Reconciliation (DESIGN.md G3, G8): per flow and time window, what each source says exists, what
 * the hub accepted, and what each destination holds, as the hub knows it (the delivery mapping).
 * This is how a lost webhook or a missed GitHub delivery is found, and, with `repair`, healed.
 */

/** One record a source lists: its id, its version where the listing carries one, the item itself. */
export interface ListedRecord {
  readonly source: string;
  readonly sourceId: string;
  /** Undefined when the list API carries no version (Stripe customers): then only presence is compared. */
  readonly version?: number;
  /** What the hub is sent on repair: for a rest-poll source the row, for Stripe the customer. */
  readonly item: unknown;
}

export type SourceListing =
  | {
      readonly source: string;
      readonly kind: 'listed';
      readonly records: readonly ListedRecord[];
      /** False when paging stopped at maxPages or the time budget: the report says the list is partial. */
      readonly complete: boolean;
      /** Listed rows the source's mapping cannot read (route would quarantine them). */
      readonly unreadable: number;
    }
  | { readonly source: string; readonly kind: 'unsupported'; readonly reason: string };

export interface ReconcileWindow {
  /** Epoch ms, inclusive. */
  readonly since: number;
  /** Epoch ms, exclusive. */
  readonly until: number;
}

const LIST_BUDGET_MS = 120_000;
const STRIPE_PAGE_LIMIT = 100;
const STRIPE_MAX_PAGES = 1000;

/** Rows of a rest-poll source updated in the window, through the poll's own paging, auth and origin rules. */
async function listRestPoll(
  name: string,
  source: RestPollSource,
  entity: Entity,
  window: ReconcileWindow,
  deps: SourceApiDeps,
): Promise<SourceListing> {
  const first = new URL(source.url);
  first.searchParams.set(source.cursorParam, new Date(window.since).toISOString());
  const { items, morePages } = await readPages(source, first, {
    ...deps,
    started: deps.clock.now(),
    budgetMs: LIST_BUDGET_MS,
  });
  const records: ListedRecord[] = [];
  let unreadable = 0;
  for (const item of items) {
    const at = (item as Record<string, unknown> | null)?.[source.cursorField];
    const ms = typeof at === 'number' ? at : typeof at === 'string' ? Date.parse(at) : Number.NaN;
    // The API filters by `since` only; the window's end is applied here.
    if (!Number.isNaN(ms) && (ms < window.since || ms >= window.until)) continue;
    try {
      for (const record of recordsFor(envelopeOf(name, item), source)) {
        if (record.entity === entity)
          records.push({ source: name, sourceId: record.sourceId, version: record.version, item });
      }
    } catch (error) {
      if (!(error instanceof FatalError)) throw error;
      unreadable += 1;
    }
  }
  return { source: name, kind: 'listed', records, complete: !morePages, unreadable };
}

type StripeSource = Extract<SourceConfig, { connector: 'stripe' }>;

/**
 * Stripe customers created in the window (`GET /v1/customers?created[gte]&created[lt]`, paged with
 * `starting_after`). Stripe filters customers by creation only, so an update to an older customer
 * is not found here; its list carries no version, so only presence is compared.
 */
async function listStripe(
  name: string,
  source: StripeSource,
  entity: Entity,
  window: ReconcileWindow,
  deps: SourceApiDeps,
): Promise<SourceListing> {
  if (entity !== 'customer')
    return {
      source: name,
      kind: 'unsupported',
      reason: `the stripe listing covers customers, not ${entity}`,
    };
  if (!source.api)
    return {
      source: name,
      kind: 'unsupported',
      reason: `sources.${name}.api is not set (a Stripe API key with read access to customers)`,
    };
  const headers = { authorization: `Bearer ${await readToken(deps.secrets, source.api.secret)}` };
  const base = new URL('/v1/customers', source.api.url);
  base.searchParams.set('limit', String(STRIPE_PAGE_LIMIT));
  base.searchParams.set('created[gte]', String(Math.floor(window.since / 1000)));
  base.searchParams.set('created[lt]', String(Math.ceil(window.until / 1000)));
  const records: ListedRecord[] = [];
  let after: string | undefined;
  for (let page = 0; page < STRIPE_MAX_PAGES; page++) {
    const url = new URL(base);
    if (after) url.searchParams.set('starting_after', after);
    // The poll's page reader: its timeout, and its transient/fatal classification of the answer.
    const { body } = await fetchPage(url.toString(), headers, deps);
    const { data, has_more: hasMore } = (body ?? {}) as { data?: unknown; has_more?: unknown };
    if (!Array.isArray(data))
      throw new FatalError('The Stripe API answered a list without "data"', [
        { rule: 'reconcile.stripe.shape', field: 'data', message: 'a list page must carry data: [...]' },
      ]);
    let last: string | undefined;
    for (const item of data) {
      const id = (item as { id?: unknown } | null)?.id;
      if (typeof id !== 'string' || id === '') continue;
      records.push({ source: name, sourceId: id, item });
      last = id;
    }
    if (hasMore !== true || !last)
      return { source: name, kind: 'listed', records, complete: true, unreadable: 0 };
    after = last;
  }
  return { source: name, kind: 'listed', records, complete: false, unreadable: 0 };
}

/** What a source lists for the flow's entity in the window, or why it cannot list. */
export async function listSource(
  name: string,
  source: SourceConfig,
  entity: Entity,
  window: ReconcileWindow,
  deps: SourceApiDeps,
): Promise<SourceListing> {
  switch (source.connector) {
    case 'rest-poll':
      return listRestPoll(name, source, entity, window, deps);
    case 'stripe':
      return listStripe(name, source, entity, window, deps);
    default:
      return {
        source: name,
        kind: 'unsupported',
        reason: `the ${source.connector} connector has no list API`,
      };
  }
}

/** The same item always makes the same envelope, so a repeated repair is a duplicate route absorbs. */
function envelopeOf(source: string, item: unknown, receivedAt = 0): Envelope {
  return {
    v: 1,
    source,
    eventId: `reconcile-${source}-${contentHash(item).slice(0, 32)}`,
    receivedAt,
    headers: {},
    body: JSON.stringify(item),
  };
}

/** The envelope a repair sends for a listed record, in the shape the source's connector reads. */
export function repairEnvelope(listed: ListedRecord, source: SourceConfig, receivedAt: number): Envelope {
  if (source.connector !== 'stripe') return envelopeOf(listed.source, listed.item, receivedAt);
  const customer = listed.item as { id: string; created?: unknown };
  // A Stripe event around the listed customer: its id is stable per customer content, and its
  // `created` (the version) is the customer's, so any real event for it is newer and wins.
  const created = typeof customer.created === 'number' ? customer.created : 0;
  const hash = contentHash(listed.item).slice(0, 24);
  return {
    v: 1,
    source: listed.source,
    eventId: `evt_reconcile_${hash}`,
    receivedAt,
    headers: {},
    body: JSON.stringify({
      id: `evt_reconcile_${hash}`,
      object: 'event',
      type: 'customer.updated',
      created,
      data: { object: customer },
    }),
  };
}

/** One listed record, with what the hub and each destination hold for it. */
export interface Observed {
  readonly listed: Omit<ListedRecord, 'item'>;
  readonly canonical?: Pick<CanonicalItem, 'id' | 'versions' | 'revision' | 'deleted'>;
  /** Per destination of the flow: its mapping, or undefined when the hub never delivered there. */
  readonly mappings: Readonly<Record<string, Pick<DeliveryMapping, 'versions' | 'revision'> | undefined>>;
}

export interface MissingAtHub {
  readonly source: string;
  readonly sourceId: string;
  readonly reason: 'missing' | 'behind';
  readonly listedVersion?: number;
  readonly hubVersion?: number;
}

export interface MissingAtDestination {
  readonly destination: string;
  readonly source: string;
  readonly sourceId: string;
  /** Canonical id. */
  readonly id: string;
  readonly reason: 'missing' | 'behind';
  readonly hubVersion?: number;
  readonly destinationVersion?: number;
}

export interface Comparison {
  readonly listed: number;
  readonly atHub: number;
  readonly missingAtHub: readonly MissingAtHub[];
  readonly missingAtDestinations: readonly MissingAtDestination[];
}

/**
 * The comparison itself, pure. At the hub, a listed record is missing without a canonical record
 * (no xref), behind when the hub's version from that source is older than the listed one. At a
 * destination, a record the hub holds is missing without a mapping, behind when the mapping's
 * version from that source, or its canonical revision, is older than the hub's. A record missing
 * at the hub is not reported at destinations: repairing the hub fans it out to them.
 */
export function compare(flow: Pick<FlowConfig, 'to'>, observed: readonly Observed[]): Comparison {
  const missingAtHub: MissingAtHub[] = [];
  const missingAtDestinations: MissingAtDestination[] = [];
  let atHub = 0;
  for (const { listed, canonical, mappings } of observed) {
    const hubVersion = canonical?.versions[listed.source];
    if (!canonical || hubVersion === undefined) {
      missingAtHub.push({
        source: listed.source,
        sourceId: listed.sourceId,
        reason: 'missing',
        ...(listed.version === undefined ? {} : { listedVersion: listed.version }),
      });
      continue;
    }
    if (listed.version !== undefined && hubVersion < listed.version) {
      missingAtHub.push({
        source: listed.source,
        sourceId: listed.sourceId,
        reason: 'behind',
        listedVersion: listed.version,
        hubVersion,
      });
      continue;
    }
    atHub += 1;
    // A deleted record is nothing a destination must hold.
    if (canonical.deleted) continue;
    for (const destination of flow.to) {
      const mapping = mappings[destination];
      const base = {
        destination,
        source: listed.source,
        sourceId: listed.sourceId,
        id: canonical.id,
        hubVersion,
      };
      if (!mapping) {
        missingAtDestinations.push({ ...base, reason: 'missing' });
        continue;
      }
      const held = mapping.versions[listed.source];
      const revisionBehind =
        mapping.revision !== undefined && canonical.revision > 0 && mapping.revision < canonical.revision;
      if (held === undefined || held < hubVersion || revisionBehind) {
        missingAtDestinations.push({
          ...base,
          reason: 'behind',
          ...(held === undefined ? {} : { destinationVersion: held }),
        });
      }
    }
  }
  return { listed: observed.length, atHub, missingAtHub, missingAtDestinations };
}

export interface ReconcileReport {
  readonly flow: string;
  readonly entity: Entity;
  readonly window: { readonly since: string; readonly until: string };
  readonly generatedAt: string;
  readonly sources: readonly (
    | {
        readonly source: string;
        readonly listed: number;
        readonly complete: boolean;
        readonly unreadable: number;
      }
    | { readonly source: string; readonly unsupported: string }
  )[];
  readonly listed: number;
  readonly atHub: number;
  readonly missingAtHub: readonly MissingAtHub[];
  readonly missingAtDestinations: readonly MissingAtDestination[];
  /** missingAtHub + missingAtDestinations: the figure the drift metric and alarm carry. */
  readonly drift: number;
  /** Set on a repair run: what it sent. */
  readonly repaired?: { readonly toHub: number; readonly toDestinations: number };
}

export interface ReconcileDeps extends SourceApiDeps {
  readonly config: SwitchyardConfig;
  readonly state: Pick<StateStore, 'getXref' | 'getCanonical' | 'getMapping'>;
  readonly ops: Pick<OpsStore, 'putDocument'>;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  readonly secrets: SecretStore;
  /** Needed for a repair only. */
  readonly inbound?: InboundQueue;
  readonly deliveryQueues?: DeliveryQueues;
  /** Where a repair's sends are recorded. */
  readonly audit?: AuditTrail;
  /**
   * The ids route founds entities under, to find the hub's copy of a listed record.
   *
   * @default derivedCanonicalId - what route uses in Lambda and locally
   */
  readonly canonicalIdFor?: CanonicalIdFor;
}

/** A reconciliation that cannot run as asked (no such flow, a source without a list API, a bad window). */
export class ReconcileError extends SwitchyardError {}

export const reconcileDocumentName = (flow: string) => `reconcile#${flow}`;

/**
 * Reconciles one flow over a window, stores the report (OpsStore document `reconcile#<flow>`) and
 * counts its drift (EMF `reconcileDrift` per flow, 0 included, so the alarm sees a healthy run).
 * With `repair`: a record missing or behind at the hub is fetched from the source's listing and
 * enqueued on the inbound queue, as a poll does (counted received and accepted for its source); one
 * the hub holds but a destination lacks gets the canonical state re-enqueued on that lane, as a
 * backfill does (counted routed on the lane). Both are counted `reconciled`, and G3 balances.
 */
export async function reconcileFlow(
  flowName: string,
  window: ReconcileWindow,
  deps: ReconcileDeps,
  options: { readonly repair?: boolean } = {},
): Promise<ReconcileReport> {
  const flow = deps.config.flows.find((f) => f.name === flowName);
  if (!flow)
    throw new ReconcileError(
      `No flow named "${flowName}" (flows: ${deps.config.flows.map((f) => f.name).join(', ')})`,
    );
  if (!(window.since < window.until))
    throw new ReconcileError(
      `The window must end after it starts (got since ${new Date(window.since).toISOString()}, until ${new Date(window.until).toISOString()})`,
    );
  if (options.repair && (!deps.inbound || !deps.deliveryQueues))
    throw new ReconcileError('A repair needs the inbound and delivery queues, which this hub did not give');

  const listings: SourceListing[] = [];
  for (const name of flow.from) {
    const source = deps.config.sources[name];
    if (source) listings.push(await listSource(name, source, flow.entity, window, deps));
  }
  const items = new Map<string, ListedRecord>();
  const observed: Observed[] = [];
  const canonicals = new Map<string, CanonicalItem>();
  for (const listing of listings) {
    if (listing.kind !== 'listed') continue;
    for (const record of listing.records) {
      const key = `${record.source}\u0000${record.sourceId}`;
      // Rows can repeat across pages (equal timestamps at a boundary); the newest counts.
      const seen = items.get(key);
      if (seen && (seen.version ?? 0) >= (record.version ?? 0)) continue;
      items.set(key, record);
    }
  }
  for (const record of items.values()) {
    const known = await findKnownRecord(
      deps.state,
      deps.canonicalIdFor ?? derivedCanonicalId,
      record.source,
      flow.entity,
      record.sourceId,
    );
    const canonical = known?.item;
    if (canonical) canonicals.set(canonical.id, canonical);
    const mappings: Record<string, DeliveryMapping | undefined> = {};
    if (canonical)
      for (const destination of flow.to)
        mappings[destination] = await deps.state.getMapping(destination, flow.entity, canonical.id);
    const { item: _item, ...listed } = record;
    observed.push({ listed, ...(canonical ? { canonical } : {}), mappings });
  }
  const comparison = compare(flow, observed);

  let repaired: ReconcileReport['repaired'];
  if (options.repair) repaired = await repair(flow, comparison, items, canonicals, deps);

  const now = deps.clock.now();
  const report: ReconcileReport = {
    flow: flow.name,
    entity: flow.entity,
    window: { since: new Date(window.since).toISOString(), until: new Date(window.until).toISOString() },
    generatedAt: new Date(now).toISOString(),
    sources: listings.map((l) =>
      l.kind === 'listed'
        ? { source: l.source, listed: l.records.length, complete: l.complete, unreadable: l.unreadable }
        : { source: l.source, unsupported: l.reason },
    ),
    listed: comparison.listed,
    atHub: comparison.atHub,
    missingAtHub: comparison.missingAtHub,
    missingAtDestinations: comparison.missingAtDestinations,
    drift: comparison.missingAtHub.length + comparison.missingAtDestinations.length,
    ...(repaired ? { repaired } : {}),
  };
  await deps.ops.putDocument(reconcileDocumentName(flow.name), report);
  deps.telemetry.count('reconcileDrift', { flow: flow.name }, report.drift);
  deps.telemetry.flush();
  return report;
}

async function repair(
  flow: FlowConfig,
  comparison: Comparison,
  items: ReadonlyMap<string, ListedRecord>,
  canonicals: ReadonlyMap<string, CanonicalItem>,
  deps: ReconcileDeps,
): Promise<NonNullable<ReconcileReport['repaired']>> {
  const { inbound, deliveryQueues } = deps;
  if (!inbound || !deliveryQueues) return { toHub: 0, toDestinations: 0 };
  const now = deps.clock.now();
  const envelopes: Envelope[] = [];
  for (const missing of comparison.missingAtHub) {
    const listed = items.get(`${missing.source}\u0000${missing.sourceId}`);
    const source = deps.config.sources[missing.source];
    if (listed && source) envelopes.push(repairEnvelope(listed, source, now));
  }
  for (let start = 0; start < envelopes.length; start += 10) {
    const chunk = envelopes.slice(start, start + 10);
    await inbound.send(chunk);
    // Counted as soon as they are queued, as a poll counts what it enqueues (G3).
    for (const envelope of chunk) {
      const dims = { source: envelope.source };
      deps.telemetry.count('received', dims);
      deps.telemetry.count('accepted', dims);
      deps.telemetry.count('reconciled', dims);
    }
    deps.audit?.record(
      chunk.map((envelope) => ({
        eventId: envelope.eventId,
        at: now,
        stage: 'reconcile' as const,
        outcome: 'accepted' as const,
        source: envelope.source,
        reason: `missing at the hub (flow ${flow.name})`,
      })),
    );
  }
  const messages: DeliveryMessage[] = [];
  for (const missing of comparison.missingAtDestinations) {
    const item = canonicals.get(missing.id);
    if (!item) continue;
    messages.push({
      v: 1,
      flow: flow.name,
      destination: missing.destination,
      entity: flow.entity,
      id: item.id,
      source: missing.source,
      sourceId: missing.sourceId,
      version: item.versions[missing.source] ?? 0,
      deleted: false,
      // In the schema version this destination consumes.
      ...forDestination(deps.config, missing.destination, item),
      eventId: `reconcile-${flow.name}-${item.id}-${item.revision}`,
      receivedAt: now,
      // New per run, like a backfill's: a message SQS deduplicated would be counted routed and never
      // end anywhere; deliver's mapping guard is what absorbs a repeated repair.
      routedFrom: `reconcile:${now}`,
      revision: item.revision,
    });
  }
  for (let start = 0; start < messages.length; start += 10) {
    const chunk = messages.slice(start, start + 10);
    await deliveryQueues.send(chunk);
    for (const message of chunk) {
      const lane = { flow: message.flow, destination: message.destination };
      deps.telemetry.count('routed', lane);
      deps.telemetry.count('reconciled', lane);
    }
    deps.audit?.record(
      chunk.map((message) => routedEntry(message, 'reconcile', 'missing or behind at the destination', now)),
    );
  }
  return { toHub: envelopes.length, toDestinations: messages.length };
}
