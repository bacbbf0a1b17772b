import { FatalError, TransientError } from '../core/errors.js';
import type { HttpResponse } from '../core/ports.js';
import type { DestinationCall, DestinationConnector, HeldRecord, ReadCall } from './types.js';

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * The documented wire format (DESIGN.md section 5); `deleted: true` marks a tombstone and
 * `schemaVersion` says which contract (docs/contracts) `data` follows.
 */
export function httpDestinationBody(call: Pick<DestinationCall, 'message'>): string {
  const { message } = call;
  return JSON.stringify({
    entity: message.entity,
    schemaVersion: message.schemaVersion ?? 1,
    id: message.id,
    version: String(message.version),
    source: message.source,
    ...(message.deleted ? { deleted: true } : {}),
    data: message.data,
  });
}

async function deliver(call: DestinationCall): Promise<{ destinationId?: string }> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Idempotency-Key': call.idempotencyKey,
    'X-Switchyard-Event-Id': call.message.eventId,
  };
  if (call.token) headers.Authorization = `Bearer ${call.token}`;
  let response: HttpResponse;
  try {
    response = await call.fetch(call.destination.url, {
      method: 'POST',
      headers,
      body: httpDestinationBody(call),
      // Never follow: fetch would repeat a 301/302/303 as a bodiless GET, and a 200 to that GET
      // would count as delivered while nothing was written.
      redirect: 'manual',
      signal: AbortSignal.timeout(call.destination.timeoutMs),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    throw new TransientError(
      timedOut
        ? `Destination did not answer within ${call.destination.timeoutMs} ms`
        : 'Destination unreachable',
      {},
      { cause: error },
    );
  }
  // Read (and so release) the body whatever the status; only a short prefix is ever kept.
  const text = await response.text().catch(() => '');
  const status = response.status;
  if (status >= 200 && status < 300) {
    let destinationId: string | undefined;
    try {
      const parsed = JSON.parse(text) as { id?: unknown };
      if (typeof parsed.id === 'string' || typeof parsed.id === 'number') destinationId = String(parsed.id);
    } catch {
      // A 2xx without a JSON body is still a success; the destination just did not name its id.
    }
    return destinationId === undefined ? {} : { destinationId };
  }
  const snippet = text.slice(0, 200);
  if (status >= 300 && status < 400) {
    throw new FatalError(`Destination redirected with ${status}`, [
      {
        rule: 'destination.redirected',
        message: `HTTP ${status} to ${response.headers.get('location') ?? '(no location)'}: configure the final URL`,
      },
    ]);
  }
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), Date.now());
    throw new TransientError(`Destination answered ${status}`, {
      status,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
  throw new FatalError(`Destination rejected the record with ${status}`, [
    { rule: 'destination.rejected', message: `HTTP ${status}${snippet ? `: ${snippet}` : ''}` },
  ]);
}

/**
 * `GET {url}/{canonical id}`, for `shadow diff`: 404 means the destination has no such record; a
 * 2xx JSON body is the record in the wire format. Anything else means it cannot be read this way
 * (many endpoints only take POSTs), which the diff reports rather than guesses.
 */
async function read(call: ReadCall): Promise<HeldRecord> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (call.token) headers.Authorization = `Bearer ${call.token}`;
  const url = `${call.destination.url.replace(/\/+$/, '')}/${encodeURIComponent(call.id)}`;
  const response = await call.fetch(url, {
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(call.destination.timeoutMs),
  });
  const text = await response.text();
  if (response.status === 404) return { found: false };
  if (response.status < 200 || response.status >= 300)
    throw new ReadError(`GET ${new URL(url).pathname} answered ${response.status}`);
  try {
    return { found: true, body: JSON.parse(text) as unknown };
  } catch (error) {
    throw new ReadError(`GET ${new URL(url).pathname} answered with a body that is not JSON`, {
      cause: error,
    });
  }
}

/** The destination cannot be read this way; the message says why. */
export class ReadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReadError';
  }
}

export const httpConnector: DestinationConnector = {
  name: 'http',
  deliver,
  payload: (call) => JSON.parse(httpDestinationBody(call)) as unknown,
  read,
};
