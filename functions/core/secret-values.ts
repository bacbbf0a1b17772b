import type { SecretValue } from './ports.js';

/** Secrets Manager stores strings; a string holding a JSON list or object is read as that value. */
export function parseSecretString(raw: string): SecretValue {
  const trimmed = raw.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      return JSON.parse(trimmed) as SecretValue;
    } catch {
      // Not JSON after all (a token may start with '{'): the raw string is the secret.
    }
  }
  return raw;
}
