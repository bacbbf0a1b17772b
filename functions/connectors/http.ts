import { FatalError, TransientError } from '../core/errors.js';
import type { DestinationCall, DestinationConnector } from './types.js';

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/** The documented wire format (DESIGN.md section 5); `deleted: true` marks a tombstone. */
export function httpDestinationBody(call: DestinationCall): string {
  const { message } = call;
  return JSON.stringify({
    entity: message.entity,
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
  let response: Response;
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

export const httpConnector: DestinationConnector = { name: 'http', deliver };
