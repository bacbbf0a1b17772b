import type { Entity } from '../core/config.js';
import type { DeliveryMessage, Envelope, SourceRecord } from '../core/messages.js';

/** An inbound webhook as the connector sees it: header names lower-cased, the exact bytes received. */
export interface WebhookRequest {
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly rawBody: Buffer;
}

export interface VerifyOptions {
  /** Signing secrets to try, current first. */
  readonly secrets: readonly string[];
  readonly toleranceSeconds: number;
  /** Epoch milliseconds. */
  readonly now: number;
}

export interface ParsedEvent {
  /** The provider's id for this delivery; the same on every retry of it. */
  readonly eventId: string;
  /** Headers the route step will need (never signature or auth headers). */
  readonly keepHeaders: Readonly<Record<string, string>>;
}

/**
 * A system that sends Switchyard events. Pure: no I/O, so it can be unit-tested and checked
 * against the vendor's own SDK.
 */
export interface SourceConnector {
  readonly name: string;
  /** Headers that must be present, checked before any verification work (400 when missing). */
  readonly requiredHeaders: readonly string[];
  /**
   * Verifies the signature over the raw bytes. Returns the index of the secret that matched (0 =
   * current) so operators can tell when an old secret is unused; throws RejectedRequestError.
   */
  verify(request: WebhookRequest, options: VerifyOptions): { readonly secretIndex: number };
  /** Reads the event id from the verified, parsed body; throws RejectedRequestError (400). */
  parse(request: WebhookRequest, body: unknown): ParsedEvent;
  /** Turns an accepted event into 0..n canonical records; throws FatalError when it cannot. */
  toRecords(envelope: Envelope): readonly SourceRecord[];
}

export interface DestinationCall {
  readonly message: DeliveryMessage;
  readonly entity: Entity;
  readonly idempotencyKey: string;
  readonly url: string;
  readonly token?: string;
  readonly timeoutMs: number;
  readonly fetch: typeof fetch;
}

/** A system Switchyard writes to. Throws TransientError or FatalError; both keep the cause. */
export interface DestinationConnector {
  readonly name: string;
  deliver(call: DestinationCall): Promise<{ readonly destinationId?: string }>;
}
