import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC over the exact bytes, never over re-serialised JSON. */
export function hmac(algorithm: 'sha256', key: string | Buffer, parts: readonly (string | Buffer)[]): Buffer {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/**
 * Constant-time comparison of a computed MAC with a received, encoded one (hex: lower-case only,
 * exactly two digits a byte, as the vendors' SDKs require). A candidate of the wrong length takes
 * the same path: it is compared, padded to the expected length, and then refused for its length.
 */
export function macMatches(expected: Buffer, received: string, encoding: 'hex' | 'base64'): boolean {
  const wellFormed =
    encoding === 'hex' ? /^[0-9a-f]*$/.test(received) && received.length === expected.length * 2 : true;
  const decoded = Buffer.from(received, encoding);
  const candidate = Buffer.alloc(expected.length);
  decoded.copy(candidate, 0, 0, expected.length);
  const equal = timingSafeEqual(candidate, expected);
  return equal && wellFormed && decoded.length === expected.length;
}

/**
 * Signing secrets as stored: one string, a JSON list `[current, previous]`, or `{current, previous}`.
 * Returns them current first, so the matched index says whether the old secret is still in use.
 */
export function signingSecrets(value: unknown, secretName: string): string[] {
  let parsed = value;
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (!trimmed.startsWith('[') && !trimmed.startsWith('{')) return [value];
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      // Not the parser's message as the cause: it quotes the secret's text.
      throw new Error(`Secret ${secretName} looks like JSON but does not parse`);
    }
  }
  const list = Array.isArray(parsed)
    ? parsed
    : parsed !== null && typeof parsed === 'object'
      ? [(parsed as Record<string, unknown>).current, (parsed as Record<string, unknown>).previous]
      : [];
  const secrets = list.filter((s): s is string => typeof s === 'string' && s.length > 0);
  if (secrets.length === 0) {
    throw new Error(
      `Secret ${secretName} holds no signing secret (want a string, [current, previous] or {current, previous})`,
    );
  }
  return secrets;
}
