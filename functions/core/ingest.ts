import { sourceConnector } from '../connectors/registry.js';
import { signingSecrets } from '../connectors/signing.js';
import type { SwitchyardConfig } from './config.js';
import { QueueUnavailableError, RejectedRequestError, SwitchyardError } from './errors.js';
import type { Envelope } from './messages.js';
import type { Clock, InboundQueue, SecretStore, Telemetry } from './ports.js';

export interface IngestDeps {
  readonly config: SwitchyardConfig;
  readonly queue: InboundQueue;
  readonly secrets: SecretStore;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
}

export interface IngestRequest {
  readonly source: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly rawBody: Buffer;
}

export interface IngestResponse {
  readonly status: number;
  readonly body: Readonly<Record<string, string>>;
  /** Present once the event is on the inbound queue. */
  readonly envelope?: Envelope;
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
  const source = config.sources[request.source];
  if (!source) {
    telemetry.count('rejected', { source: '(unknown)', reason: 'unknown_source' });
    return reject(404, 'unknown_source', `No source named "${request.source.slice(0, 64)}" is configured`);
  }
  const dims = { source: request.source };
  telemetry.count('received', dims);
  try {
    const envelope = await verifyAndWrap(request, deps);
    try {
      await deps.queue.send(envelope);
    } catch (error) {
      throw new QueueUnavailableError('The inbound queue did not take the event', { cause: error });
    }
    telemetry.count('accepted', dims);
    return { status: 202, body: { eventId: envelope.eventId }, envelope };
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

async function verifyAndWrap(request: IngestRequest, deps: IngestDeps): Promise<Envelope> {
  const source = deps.config.sources[request.source];
  if (!source) throw new RejectedRequestError(404, 'unknown_source', 'Unknown source');
  const connector = sourceConnector(source.connector);
  // Cheap checks first: size and headers cost nothing, an HMAC over 256 KiB does.
  if (request.rawBody.length > deps.config.limits.maxBodyBytes) {
    throw new RejectedRequestError(
      413,
      'body_too_large',
      `Body is ${request.rawBody.length} bytes; the limit is ${deps.config.limits.maxBodyBytes}`,
    );
  }
  for (const header of connector.requiredHeaders) {
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
  const { secretIndex } = connector.verify(request, {
    secrets,
    toleranceSeconds: source.toleranceSeconds,
    now,
  });
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
  const parsed = connector.parse(request, body);
  return {
    v: 1,
    source: request.source,
    eventId: parsed.eventId,
    receivedAt: now,
    headers: parsed.keepHeaders,
    body: text,
  };
}
