import { readFile, stat } from 'node:fs/promises';
import type { SecretStore, SecretValue } from '../functions/core/ports.js';
import { parseSecretString } from '../functions/core/secret-values.js';

export class SecretNotFoundError extends Error {
  constructor(name: string, file: string) {
    super(`Secret "${name}" is not in ${file}`);
    this.name = 'SecretNotFoundError';
  }
}

/**
 * The local stand-in for Secrets Manager: a JSON file, secret name -> string or JSON value. Re-read
 * when the file changes, so rotating a secret locally behaves as it does in AWS (within the TTL).
 */
export class FileSecretStore implements SecretStore {
  private cache: { mtimeMs: number; values: Record<string, unknown>; checkedAt: number } | undefined;

  constructor(
    private readonly file: string,
    /** Secrets layered over the file (the demo's own), never written to disk. */
    private readonly overlay: Readonly<Record<string, SecretValue>> = {},
    private readonly recheckMs = 1000,
  ) {}

  private async values(): Promise<Record<string, unknown>> {
    const now = Date.now();
    if (this.cache && now - this.cache.checkedAt < this.recheckMs) return this.cache.values;
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(this.file)).mtimeMs;
    } catch {
      this.cache = { mtimeMs: -1, values: {}, checkedAt: now };
      return this.cache.values;
    }
    if (this.cache?.mtimeMs !== mtimeMs) {
      const text = await readFile(this.file, 'utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not the parser's message: it quotes the text around the error, which is a secret.
        throw new Error(`Secrets file ${this.file} is not valid JSON`);
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new Error(`Secrets file ${this.file} must hold a JSON object: secret name -> value`);
      }
      this.cache = { mtimeMs, values: parsed as Record<string, unknown>, checkedAt: now };
    } else {
      this.cache.checkedAt = now;
    }
    return this.cache.values;
  }

  async get(name: string): Promise<SecretValue> {
    const overlaid = this.overlay[name];
    if (overlaid !== undefined) return overlaid;
    const value = (await this.values())[name];
    if (value === undefined) throw new SecretNotFoundError(name, this.file);
    return typeof value === 'string' ? parseSecretString(value) : (value as SecretValue);
  }
}
