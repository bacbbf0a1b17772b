import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/core/errors.js';
import type { SecretStore, SecretValue } from '../../functions/core/ports.js';
import { readToken } from '../../functions/core/secret-values.js';
import { deriveTopology, SECRETS_PREFIX_ENV } from '../../functions/core/topology.js';
import { secretsFromEnv } from '../../functions/wiring.js';
import { CRM_TOKEN_NAME, STRIPE_SECRET_NAME, testConfig } from '../support/config.js';

/** A secret store that records the names it was asked for. */
function recording(values: Record<string, SecretValue>): SecretStore & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    async get(name) {
      reads.push(name);
      const value = values[name];
      if (value === undefined) throw new Error(`Secret ${name} not found`);
      return value;
    },
  };
}

describe('per-stage secrets prefix, functions side', () => {
  it('reads every secret under the prefix the stack sets', async () => {
    const inner = recording({ [`prod/${CRM_TOKEN_NAME}`]: 'prod-token', [CRM_TOKEN_NAME]: 'shared-token' });
    const secrets = secretsFromEnv({ [SECRETS_PREFIX_ENV]: 'prod/' }, inner);
    expect(await readToken(secrets, CRM_TOKEN_NAME)).toBe('prod-token');
    expect(inner.reads).toEqual([`prod/${CRM_TOKEN_NAME}`]);
  });

  it("reads the config's names as they are without the variable (unstaged hub, local runtime) or with it empty", async () => {
    for (const env of [{}, { [SECRETS_PREFIX_ENV]: '' }]) {
      const inner = recording({ [CRM_TOKEN_NAME]: 'shared-token' });
      expect(await readToken(secretsFromEnv(env, inner), CRM_TOKEN_NAME)).toBe('shared-token');
      expect(inner.reads).toEqual([CRM_TOKEN_NAME]);
    }
  });

  it('names the variable and the value when the prefix cannot be part of a secret name', () => {
    const inner = recording({});
    expect(() => secretsFromEnv({ [SECRETS_PREFIX_ENV]: 'prod stage/' }, inner)).toThrow(ConfigError);
    expect(() => secretsFromEnv({ [SECRETS_PREFIX_ENV]: 'prod stage/' }, inner)).toThrow(
      /SWITCHYARD_SECRETS_PREFIX: must be characters of a Secrets Manager name .*\(got "prod stage\/"\)/,
    );
  });

  it('the topology lists prefixed secret names per function and passes the prefix in their environment', () => {
    const plain = deriveTopology(testConfig());
    const staged = deriveTopology(testConfig(), { secretsPrefix: 'dev/' });
    expect(plain.secrets.map((s) => s.name).sort()).toEqual([CRM_TOKEN_NAME, STRIPE_SECRET_NAME].sort());
    expect(staged.secrets.map((s) => s.name).sort()).toEqual(
      [`dev/${CRM_TOKEN_NAME}`, `dev/${STRIPE_SECRET_NAME}`].sort(),
    );
    const fn = (key: string) => staged.functions.find((f) => f.key === key);
    expect(fn('ingest')?.secrets).toEqual([`dev/${STRIPE_SECRET_NAME}`]);
    expect(fn('deliver-crm')?.secrets).toEqual([`dev/${CRM_TOKEN_NAME}`]);
    for (const f of staged.functions) {
      expect(f.env[SECRETS_PREFIX_ENV]).toEqual({ kind: 'literal', value: 'dev/' });
    }
    for (const f of plain.functions) expect(f.env).not.toHaveProperty(SECRETS_PREFIX_ENV);
  });
});
