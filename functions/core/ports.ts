import type { Entity } from './config.js';
import type { QuarantineReason } from './errors.js';
import type { DeliveryMessage, Envelope } from './messages.js';
import type { ShadowRecord } from './shadow.js';

/**
 * The pipeline's ports. Core logic depends only on these; functions/aws implements them with SDK v3
 * clients (pointed at dynalite and fauxqs by the local runtime), tests may implement them in memory.
 */

export interface InboundQueue {
  /** Resolves only when the queue has durably taken every envelope; throws otherwise. */
  send(envelopes: readonly Envelope[]): Promise<void>;
}

export interface DeliveryQueues {
  /**
   * Sends to the destination's FIFO queue: group = entity and canonical id, dedup id =
   * hash(destination, id, version, routedFrom) (see DeliveryMessage.routedFrom).
   */
  send(messages: readonly DeliveryMessage[]): Promise<void>;
}

/** Changes when a received message becomes visible again: how backoff is done on SQS. */
export interface MessageVisibility {
  delay(receiptHandle: string, seconds: number): Promise<void>;
}

/** The merged record per canonical entity, written behind a version guard. */
export interface CanonicalItem {
  readonly entity: Entity;
  readonly id: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** The schema version of `data`; absent (written before versioned contracts) means 1. */
  readonly schemaVersion?: number;
  readonly deleted: boolean;
  /** Newest version applied, per source system. */
  readonly versions: Readonly<Record<string, number>>;
  readonly refs: Readonly<Record<string, string>>;
  /** Optimistic-lock revision: every write must name the revision it read. */
  readonly revision: number;
  readonly updatedAt: number;
}

/** What a destination holds for one canonical entity, as far as the hub knows. */
export interface DeliveryMapping {
  readonly destination: string;
  readonly entity: Entity;
  readonly id: string;
  readonly destinationId?: string;
  /** Newest version applied, per source system. */
  readonly versions: Readonly<Record<string, number>>;
  readonly contentHash: string;
  readonly updatedAt: number;
  /** The event whose delivery last wrote this mapping: how an event is found from what a destination holds. */
  readonly eventId?: string;
  /** The newest canonical revision the destination holds (see DeliveryMessage.revision). */
  readonly revision?: number;
}

export interface PossibleDuplicate {
  readonly entity: Entity;
  readonly ids: readonly [string, string];
  /** Why they look alike, e.g. `same phone and name, different email`. */
  readonly reason: string;
  readonly source: string;
  readonly seenAt: number;
}

export interface QuarantineItem {
  readonly stage: 'route' | 'deliver';
  readonly source: string;
  readonly eventId: string;
  readonly flow?: string;
  readonly destination?: string;
  readonly entity?: Entity;
  /** At route: which record of the event (an event can carry several). */
  readonly recordId?: string;
  /** At route: the flow destinations the record was headed for (a deliver item names its one in flow/destination). */
  readonly lanes?: readonly { readonly flow: string; readonly destination: string }[];
  readonly reasons: readonly QuarantineReason[];
  /** What a replay needs: the envelope (route), the delivery message (deliver), or the unreadable body. */
  readonly payload: Envelope | DeliveryMessage | { readonly unreadable: string };
  readonly quarantinedAt: number;
}

export interface StateStore {
  /** The canonical id claimed for (system, entity, external id), if any. */
  getXref(system: string, entity: Entity, externalId: string): Promise<string | undefined>;
  /** Claims the xref on first sight; returns the id that won (ours, or one written concurrently). */
  claimXref(system: string, entity: Entity, externalId: string, canonicalId: string): Promise<string>;
  /**
   * Claims a natural key (a customer's email, an order's number) for a canonical id on first
   * sight; returns the id that holds it (ours, or one claimed first, even a moment earlier).
   */
  claimNaturalKey(entity: Entity, key: string, canonicalId: string): Promise<string>;
  /** Moves a natural key from one canonical id to another, only if it still points at `from`. */
  repointNaturalKey(entity: Entity, key: string, from: string, to: string): Promise<void>;
  /** Two entities that may be one person but are not safe to merge: reported, never merged. */
  putPossibleDuplicate(item: PossibleDuplicate): Promise<void>;
  getCanonical(entity: Entity, id: string): Promise<CanonicalItem | undefined>;
  /** Writes if the stored revision is still `expectedRevision` (undefined: item must not exist). */
  putCanonical(item: CanonicalItem, expectedRevision: number | undefined): Promise<'written' | 'conflict'>;
  getMapping(destination: string, entity: Entity, id: string): Promise<DeliveryMapping | undefined>;
  /**
   * Writes unless the stored mapping already holds a newer version from `source`: so a slow
   * retry can never roll back what a later delivery recorded.
   */
  putMapping(mapping: DeliveryMapping, source: string): Promise<'written' | 'stale'>;
  putQuarantine(item: QuarantineItem): Promise<void>;
  /** The latest shadow record of one entity for one flow destination, if any. */
  getShadow(flow: string, destination: string, entity: Entity, id: string): Promise<ShadowRecord | undefined>;
  /**
   * Writes unless the stored shadow record is newer (its version from `record.source` or its
   * revision), like putMapping: a late, older update never replaces what was recorded.
   */
  putShadow(record: ShadowRecord): Promise<'written' | 'stale'>;
}

/**
 * One stage transition of one event, for the audit trail: ids and outcomes only, never a payload or
 * a field value (G8), so it can be kept longer than the data it describes.
 */
export type AuditOutcome =
  | 'accepted'
  | 'routed'
  | 'delivered'
  | 'skipped'
  | 'quarantined'
  | 'dead-lettered'
  | 'redriven'
  | 'replayed';

export interface AuditEntry {
  /** The event's correlation id. */
  readonly eventId: string;
  /** Epoch ms. */
  readonly at: number;
  /** Where the transition happened. */
  readonly stage:
    | 'ingest'
    | 'poll'
    | 'route'
    | 'deliver'
    | 'redrive'
    | 'replay'
    | 'backfill'
    | 'promote'
    | 'reconcile';
  readonly outcome: AuditOutcome;
  readonly source?: string;
  readonly flow?: string;
  readonly destination?: string;
  readonly entity?: Entity;
  /** Canonical id, once route has resolved it. */
  readonly id?: string;
  /** The record's id in its source system: with `source`, the `system:externalId` an operator knows. */
  readonly sourceId?: string;
  readonly version?: number;
  /** Why: the skip reason, the quarantine rules, the replay's origin. */
  readonly reason?: string;
  /** The operator, for redrives and replays. */
  readonly by?: string;
}

/**
 * Where the pipeline records its transitions, called where an outcome is counted. Never throws and
 * never blocks the pipeline: in AWS it is one structured log line per entry (no DynamoDB write, a
 * cost target), locally an append-only file.
 */
export interface AuditTrail {
  record(entries: readonly AuditEntry[]): void;
}

/** A secret as stored: a string, or a JSON value (a list of rotating secrets, an object). */
export type SecretValue = string | readonly string[] | Readonly<Record<string, unknown>>;

export interface SecretStore {
  /** Cached: implementations must not call their backend on every request. */
  get(name: string): Promise<SecretValue>;
}

export type Dimensions = Readonly<Record<string, string>>;

/** Counters and timings. EMF in Lambda, in-memory counters behind /_switchyard/stats locally. */
export interface Telemetry {
  count(metric: string, dimensions: Dimensions, value?: number): void;
  timing(metric: string, dimensions: Dimensions, milliseconds: number): void;
  /** Publishes what was buffered; called once at the end of each invocation. */
  flush(): void;
}

/** What an outbound call asks of HTTP: the part of `fetch` the connectors and the poll use. */
export interface HttpRequestInit {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** The hub never follows a redirect (see connectors/http.ts); said so for `fetch`. */
  readonly redirect?: 'manual';
  /** Aborts the call, the response body included (a timeout: `AbortSignal.timeout(ms)`). */
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/**
 * Outbound HTTP. The global `fetch` satisfies it (tests and tools pass it or a fake); the functions
 * use functions/connectors/node-http.ts, because Node loads fetch's implementation on its first
 * call, which measured ~50 ms of every deliver and poll cold start.
 */
export type HttpFetch = (url: string, init?: HttpRequestInit) => Promise<HttpResponse>;

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The slice of a structured logger core code uses (Powertools Logger satisfies it). */
export interface Log {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/**
 * Lease and cursor of a polled source, kept on one item so that a poll takes the lease and reads the
 * cursor in one conditional write, and advances the cursor and releases the lease in another.
 */
export interface PollStateStore {
  /**
   * Takes the lease if it is free, expired or already ours, and returns the cursor as the same
   * write found it (undefined: no cursor yet); undefined when another poll holds the lease.
   */
  acquireLease(
    source: string,
    owner: string,
    untilMs: number,
    nowMs: number,
  ): Promise<{ readonly cursor: number | undefined } | undefined>;
  /**
   * Releases the lease if it is still ours. With `advance`, moves the cursor from `expected`
   * (undefined: no cursor yet) to `next` in the same write, only while the cursor still holds
   * `expected` and the lease is ours: 'conflict' when either changed (the cursor is left, the lease
   * released if ours).
   */
  releaseLease(
    source: string,
    owner: string,
    advance?: { readonly expected: number | undefined; readonly next: number },
  ): Promise<'released' | 'advanced' | 'conflict'>;
  /** The cursor, for operators and tests; a poll reads it with its lease. */
  getCursor(source: string): Promise<number | undefined>;
}

/** A quarantined record with the key that addresses it (for show, replay and delete). */
export interface StoredQuarantineItem extends QuarantineItem {
  readonly key: string;
}

/** A page of a scan: items, and where the next page starts (undefined at the end). */
export interface Page<T> {
  readonly items: readonly T[];
  readonly next?: string;
}

/**
 * Reads over many items, for operators' tools (quarantine, backfill, quality), never on the hot
 * path. Positions are opaque strings, so a long run can stop and resume.
 */
export interface OpsStore {
  listQuarantine(limit: number, after?: string): Promise<Page<StoredQuarantineItem>>;
  getQuarantine(key: string): Promise<StoredQuarantineItem | undefined>;
  deleteQuarantine(key: string): Promise<void>;
  scanCanonical(entity: Entity, limit: number, after?: string): Promise<Page<CanonicalItem>>;
  listPossibleDuplicates(entity: Entity): Promise<readonly PossibleDuplicate[]>;
  /** A small named JSON document: a backfill's position, the last quality report. */
  getDocument<T>(name: string): Promise<T | undefined>;
  putDocument(name: string, value: unknown): Promise<void>;
  /** A flow's shadow records, a page at a time. */
  listShadow(flow: string, limit: number, after?: string): Promise<Page<ShadowRecord>>;
  /**
   * Marks a shadow record promoted, only if it is still the one read (same idempotency key) and not
   * promoted yet; false otherwise, so two promotes never both send it.
   */
  markShadowPromoted(record: ShadowRecord, at: number): Promise<boolean>;
  /** Undoes a mark whose record could not be queued, so the next promote sends it. */
  clearShadowPromoted(record: ShadowRecord, at: number): Promise<void>;
}

/** A destination's circuit breaker, shared by every deliver invocation of that destination. */
export interface BreakerState {
  /** Transient failures in a row. */
  readonly failures: number;
  /** Epoch ms until which the lane is paused (0: closed). */
  readonly openUntil: number;
  /** How long the last opening lasted, so a failed probe can double it. */
  readonly openSeconds: number;
}

export interface BreakerStore {
  getBreaker(destination: string): Promise<BreakerState | undefined>;
  /**
   * Writes `state` unless the stored pause is still in effect at `nowMs` and ends later than
   * `state.openUntil`: concurrent invocations race on the breaker, and a write made from an older
   * read (a success, a failure below the threshold) must not shorten a pause another one set.
   * False when it was refused.
   */
  putBreaker(destination: string, state: BreakerState, nowMs: number): Promise<boolean>;
}
