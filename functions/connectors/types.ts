import type { DestinationConfig, Entity, SourceConfig } from '../core/config.js';
import type { DeliveryMessage, Envelope, SourceRecord } from '../core/messages.js';
import type { DeliveryMapping, HttpFetch } from '../core/ports.js';

/** An inbound webhook as the connector sees it: header names lower-cased, the exact bytes received. */
export interface WebhookRequest {
  readonly method: string;
  /**
   * The URL as the caller used it (HubSpot signs it): scheme from X-Forwarded-Proto or the local
   * server, host from Host, then the path and query as received.
   */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly rawBody: Buffer;
}

export interface VerifyOptions {
  /** Signing secrets to try, current first. */
  readonly secrets: readonly string[];
  /** Epoch milliseconds. */
  readonly now: number;
}

/** One event found in a verified request. Most providers send one; HubSpot sends a batch. */
export interface ParsedEvent {
  /** The provider's id for this delivery; the same on every retry of it. */
  readonly eventId: string;
  /** The event's JSON: the raw body when the request is one event, the element when it is a batch. */
  readonly body: string;
  /** Headers the route step will need (never signature or auth headers). */
  readonly keepHeaders: Readonly<Record<string, string>>;
}

type SettingsOf<C extends SourceConfig['connector']> = Extract<SourceConfig, { connector: C }>;

/**
 * A system that sends Switchyard webhooks. Pure: no I/O, so it is unit-tested and checked against
 * the vendor's own SDK. `settings` is the source's validated config.
 */
export interface WebhookConnector<C extends SourceConfig['connector'] = SourceConfig['connector']> {
  readonly kind: 'webhook';
  readonly name: C;
  /** Headers that must be present, checked before any verification work (400 when missing). */
  requiredHeaders(settings: SettingsOf<C>): readonly string[];
  /**
   * Verifies the signature over the raw bytes. Returns the index of the secret that matched (0 =
   * current) so operators can tell when an old secret is unused; throws RejectedRequestError
   * (401 bad_signature or timestamp_out_of_window).
   */
  verify(
    request: WebhookRequest,
    options: VerifyOptions,
    settings: SettingsOf<C>,
  ): { readonly secretIndex: number };
  /** The events in the verified, parsed body; throws RejectedRequestError (400) when it has none. */
  parse(request: WebhookRequest, body: unknown, settings: SettingsOf<C>): readonly ParsedEvent[];
  /** Turns an accepted event into 0..n canonical records; throws FatalError when it cannot. */
  toRecords(envelope: Envelope, settings: SettingsOf<C>): readonly SourceRecord[];
}

export interface DestinationCall {
  readonly message: DeliveryMessage;
  readonly entity: Entity;
  readonly idempotencyKey: string;
  readonly destination: DestinationConfig;
  /** What the hub knows the destination holds (its id for the record, if it told us). */
  readonly mapping?: DeliveryMapping;
  readonly token?: string;
  readonly fetch: HttpFetch;
}

/** What a shadow record needs to know what would be sent: the call, without credentials or I/O. */
export type PayloadCall = Omit<DestinationCall, 'token' | 'fetch'>;

/** A read of what the destination holds for one record (for `switchyard shadow diff`). */
export interface ReadCall {
  readonly entity: Entity;
  /** Canonical id. */
  readonly id: string;
  readonly destination: DestinationConfig;
  readonly mapping?: DeliveryMapping;
  /** The body that would be sent (HubSpot finds a contact by the email in it). */
  readonly payload?: unknown;
  readonly token?: string;
  readonly fetch: HttpFetch;
}

/** The destination's record, in the shape of {@link DestinationConnector.payload}'s body; or none. */
export type HeldRecord = { readonly found: false } | { readonly found: true; readonly body: unknown };

/** A system Switchyard writes to. Throws TransientError or FatalError; both keep the cause. */
export interface DestinationConnector {
  readonly name: DestinationConfig['connector'];
  deliver(call: DestinationCall): Promise<{ readonly destinationId?: string }>;
  /** The body `deliver` would send for this call, as JSON: what a shadow record keeps. */
  payload?(call: PayloadCall): unknown;
  /** Reads the record the destination holds; throws when it cannot (the diff then says so). */
  read?(call: ReadCall): Promise<HeldRecord>;
}
