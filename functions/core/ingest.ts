import { webhookConnector } from '../connectors/registry.js';
import { signingSecrets } from '../connectors/signing.js';
import type { WebhookConnector } from '../connectors/types.js';
import type { SwitchyardConfig } from './config.js';
import { QueueUnavailableError, RejectedRequestError, SwitchyardError } from './errors.js';
import type { Envelope } from './messages.js';
import type { AuditEntry, AuditTrail, Clock, InboundQueue, SecretStore, Telemetry } from './ports.js';

export interface IngestDeps {
  readonly config: SwitchyardConfig;
  readonly queue: InboundQueue;
  readonly secrets: SecretStore;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  /** Where each accepted event is recorded. */
  readonly audit?: AuditTrail;
}

export interface IngestRequest {
  readonly source: string;
  readonly method: string;
  /** The URL as the caller used it (see WebhookRequest.url). */
  readonly url: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly rawBody: Buffer;
}

export interface IngestResponse {
  readonly status: number;
  readonly body: Readonly<Record<string, string | readonly string[]>>;
  /** Present once the events are on the inbound queue. */
  readonly envelopes?: readonly Envelope[];
}

/** The audit entries of envelopes now on the inbound queue. */
export function acceptedEntries(envelopes: readonly Envelope[], stage: 'ingest' | 'poll'): AuditEntry[] {
  return envelopes.map((e) => ({
    eventId: e.eventId,
    at: e.receivedAt,
    stage,
    outcome: 'accepted',
    source: e.source,
  }));
}

/** The signing secret could not be read; answered 503 so the provider retries. */
export class SecretUnavailableError extends SwitchyardError {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function reject(status: number, error: string, message: string): IngestResponse {
  return { status, body: { error, message } };
}

/**
 * Ingest: verify, check, wrap, enqueue. 202 only after the inbound queue has the event (G1); every
 * refusal has its status, a code and a message that never echoes the secret or the payload.
 */
export async function acceptWebhook(request: IngestRequest, deps: IngestDeps): Promise<IngestResponse> {
  const { config, telemetry } = deps;
  const source = Object.hasOwn(config.sources, request.source) ? config.sources[request.source] : undefined;
  if (!source || source.connector === 'rest-poll') {
    telemetry.count('rejected', { source: '(unknown)', reason: 'unknown_source' });
    return reject(404, 'unknown_source', `No source named "${request.source.slice(0, 64)}" is configured`);
  }
  const dims = { source: request.source };
  telemetry.count('received', dims);
  // The HTTP API routes POST only; a function URL passes every method, so the hub checks it itself.
  if (request.method !== 'POST') {
    telemetry.count('rejected', { ...dims, reason: 'method_not_allowed' });
    return reject(405, 'method_not_allowed', 'Webhooks are POSTed');
  }
  try {
    const envelopes = await verifyAndWrap(request, deps);
    try {
      await deps.queue.send(envelopes);
    } catch (error) {
      throw new QueueUnavailableError('The inbound queue did not take the event', { cause: error });
    }
    telemetry.count('accepted', dims, envelopes.length);
    deps.audit?.record(acceptedEntries(envelopes, 'ingest'));
    const [first] = envelopes;
    return {
      status: 202,
      // One id for the usual single event; a batch (HubSpot) also lists every id.
      body:
        envelopes.length === 1
          ? { eventId: first?.eventId ?? '' }
          : { eventId: first?.eventId ?? '', eventIds: envelopes.map((e) => e.eventId) },
      envelopes,
    };
  } catch (error) {
    if (error instanceof RejectedRequestError) {
      telemetry.count('rejected', { ...dims, reason: error.code });
      return reject(error.status, error.code, error.message);
    }
    if (error instanceof QueueUnavailableError) {
      telemetry.count('rejected', { ...dims, reason: 'queue_unavailable' });
      return reject(503, 'queue_unavailable', 'The event could not be stored; retry later');
    }
    if (error instanceof SecretUnavailableError) {
      telemetry.count('rejected', { ...dims, reason: 'secret_unavailable' });
      return reject(503, 'secret_unavailable', 'The signing secret could not be read; retry later');
    }
    throw error;
  }
}

async function verifyAndWrap(request: IngestRequest, deps: IngestDeps): Promise<Envelope[]> {
  const source = Object.hasOwn(deps.config.sources, request.source)
    ? deps.config.sources[request.source]
    : undefined;
  if (!source || source.connector === 'rest-poll')
    throw new RejectedRequestError(404, 'unknown_source', 'Unknown source');
  // The union narrows per connector; each connector reads only its own settings.
  const connector = webhookConnector(source.connector) as WebhookConnector<typeof source.connector>;
  const settings = source as never;
  // Cheap checks first: size and headers cost nothing, an HMAC over 256 KiB does.
  if (request.rawBody.length > deps.config.limits.maxBodyBytes) {
    throw new RejectedRequestError(
      413,
      'body_too_large',
      `Body is ${request.rawBody.length} bytes; the limit is ${deps.config.limits.maxBodyBytes}`,
    );
  }
  // Every provider Switchyard takes posts JSON; anything else is refused before any crypto work.
  const contentType = request.headers['content-type'];
  if (contentType !== undefined && !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType.trim())) {
    throw new RejectedRequestError(
      415,
      'unsupported_media_type',
      'Webhooks must be sent as application/json',
    );
  }
  for (const header of connector.requiredHeaders(settings)) {
    if (!request.headers[header]) {
      throw new RejectedRequestError(400, 'missing_header', `Required header ${header} is missing`);
    }
  }
  let secrets: string[];
  try {
    secrets = signingSecrets(await deps.secrets.get(source.secret), source.secret);
  } catch (error) {
    throw new SecretUnavailableError(`Signing secret ${source.secret} is unavailable`, { cause: error });
  }
  const now = deps.clock.now();
  const { secretIndex } = connector.verify(request, { secrets, now }, settings);
  deps.telemetry.count('signatureVerified', {
    source: request.source,
    secret: secretIndex === 0 ? 'current' : 'previous',
  });
  let text: string;
  let body: unknown;
  try {
    text = utf8.decode(request.rawBody);
  } catch (error) {
    throw new RejectedRequestError(400, 'malformed_body', 'Body is not valid UTF-8', { cause: error });
  }
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new RejectedRequestError(400, 'malformed_body', 'Body is not valid JSON', { cause: error });
  }
  const events = connector.parse(request, body, settings);
  if (events.length === 0) throw new RejectedRequestError(400, 'no_events', 'The body holds no event');
  for (const event of events) {
    // It travels in headers and keys downstream (X-Switchyard-Event-Id, the quarantine key).
    if (!/^[\x21-\x7e]{1,255}$/.test(event.eventId)) {
      throw new RejectedRequestError(
        400,
        'bad_event_id',
        'The event id must be 1-255 printable ASCII characters',
      );
    }
  }
  return events.map((event) => ({
    v: 1,
    source: request.source,
    eventId: event.eventId,
    receivedAt: now,
    headers: event.keepHeaders,
    body: event.body,
  }));
}
