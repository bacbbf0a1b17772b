import type { Entity } from './config.js';

/**
 * What ingest puts on the inbound queue: the verified request, unparsed, so the route step (or a
 * replay after a mapping fix) works from exactly the bytes the provider signed.
 */
export interface Envelope {
  readonly v: 1;
  readonly source: string;
  readonly eventId: string;
  /** Epoch milliseconds when ingest accepted the request. */
  readonly receivedAt: number;
  /** The headers the connector needs later (never signature or auth headers). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** One canonical record produced by a source connector from one event. */
export interface SourceRecord {
  readonly entity: Entity;
  /** The record's id in the source system. */
  readonly sourceId: string;
  /** Orders updates to one record from one source; larger is newer. */
  readonly version: number;
  readonly deleted: boolean;
  /** Canonical fields (not yet validated). */
  readonly data: Readonly<Record<string, unknown>>;
  /** The entity's schema version `data` is in; absent means 1 (what every connector produced before v2). */
  readonly schemaVersion?: number;
}

/** What route puts on a destination's FIFO queue; deliver turns it into one destination call. */
export interface DeliveryMessage {
  readonly v: 1;
  readonly flow: string;
  readonly destination: string;
  readonly entity: Entity;
  /** Canonical id. */
  readonly id: string;
  readonly source: string;
  readonly sourceId: string;
  readonly version: number;
  readonly deleted: boolean;
  /** The record at the schema version the destination consumes (route converts it). */
  readonly data: Readonly<Record<string, unknown>>;
  /** The schema version of `data`; absent (messages queued before versioned contracts) means 1. */
  readonly schemaVersion?: number;
  readonly eventId: string;
  readonly receivedAt: number;
  /**
   * The inbound queue message this was routed from. Part of the FIFO dedup id: a route retry of the
   * same inbound message is absorbed by SQS, while a provider's re-delivery (a new inbound message)
   * reaches deliver, is skipped there as a duplicate, and so is counted (G3).
   */
  readonly routedFrom: string;
  /**
   * The canonical record's revision this snapshot was taken at. Every message carries the whole
   * merged record, so a snapshot older than what the destination holds is stale whichever source
   * triggered it (G5 across sources).
   */
  readonly revision?: number;
  /**
   * Epoch ms before which deliver must not call the destination with this message: set on a copy
   * deliver put back on the queue while the breaker was open (a FIFO message cannot be delayed on its
   * own), so the copy waits out the pause, and any Retry-After in it, even if the breaker's state was
   * overwritten meanwhile.
   */
  readonly notBefore?: number;
}
