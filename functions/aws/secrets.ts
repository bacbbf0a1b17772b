import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretStore, SecretValue } from '../core/ports.js';
import { parseSecretString } from '../core/secret-values.js';

/**
 * Secrets Manager through Powertools' cached provider: one GetSecretValue per secret per
 * `maxAgeSeconds` per warm container, so a rotated value is picked up within that time and a busy
 * function does not pay $0.05 per 10 000 calls on every request.
 */
export class SecretsManagerStore implements SecretStore {
  private readonly provider: SecretsProvider;

  constructor(
    client: SecretsManagerClient,
    private readonly maxAgeSeconds: number,
  ) {
    this.provider = new SecretsProvider({ awsSdkV3Client: client });
  }

  async get(name: string): Promise<SecretValue> {
    const value = await this.provider.get(name, { maxAge: this.maxAgeSeconds });
    if (typeof value !== 'string')
      throw new Error(`Secret ${name} is binary or empty; Switchyard reads string secrets`);
    return parseSecretString(value);
  }
}
