import type { SecretStore, SecretValue } from './ports.js';

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

/** An API token as stored: a string, or `{"token": "..."}`. */
export async function readToken(secrets: SecretStore, name: string): Promise<string> {
  const value = await secrets.get(name);
  const token = typeof value === 'string' ? value : (value as Record<string, unknown>).token;
  if (typeof token !== 'string')
    throw new Error(`Secret ${name} must be a string or an object with a "token" string`);
  return token;
}

/**
 * The secrets of one stage: every name the config gives is read as `<prefix><name>`, so the config
 * stays the same across stages while each reads (and is granted) only its own secrets.
 */
export function prefixedSecrets(secrets: SecretStore, prefix: string): SecretStore {
  if (prefix === '') return secrets;
  return { get: (name) => secrets.get(`${prefix}${name}`) };
}
