import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so equal content always hashes the same. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function contentHash(value: unknown): string {
  return sha256Hex(stableStringify(value));
}

/**
 * The Idempotency-Key a destination sees: destination, entity, id, the source and its version, and
 * the content hash. Every retry, redrive or replay of one update carries the same key; two different
 * updates never share one, even from two sources or within one second of one source.
 */
export function idempotencyKey(
  destination: string,
  entity: string,
  id: string,
  source: string,
  version: number,
  content: string,
): string {
  return `sy-${sha256Hex(`${destination}\n${entity}\n${id}\n${source}\n${version}\n${content}`).slice(0, 40)}`;
}

/**
 * SQS FIFO MessageDeduplicationId: absorbs a route retry of the same inbound message within SQS's
 * 5-minute window. Provider re-deliveries are not absorbed here on purpose: the delivery mapping
 * skips them (G4) and counts them (G3), which a silent drop by SQS would not.
 */
export function deduplicationId(
  destination: string,
  id: string,
  version: number,
  routedFrom: string,
): string {
  return sha256Hex(`${destination}\n${id}\n${version}\n${routedFrom}`);
}
