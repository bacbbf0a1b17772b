import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SwitchyardConfig } from './core/config.js';
import { ConfigError, MissingEnvironmentError } from './core/errors.js';
import type { AuditTrail, Clock, HttpFetch, SecretStore, Telemetry } from './core/ports.js';
import { prefixedSecrets } from './core/secret-values.js';
import { SECRETS_PREFIX_ENV } from './core/topology.js';

/** What every function of one process shares: built once, at load (Lambda) or start (local). */
export interface SharedDeps {
  readonly config: SwitchyardConfig;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly secrets: SecretStore;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBDocumentClient;
  readonly clock?: Clock;
  readonly fetch?: HttpFetch;
  /** Every stage transition (functions/aws/log-audit-trail.ts in Lambda, a file locally). */
  readonly audit?: AuditTrail;
}

/**
 * What one function kind needs of {@link SharedDeps}: the SDK clients it calls and no others, so a
 * Lambda entry builds (and its bundle loads) only those (functions/runtime.ts).
 */
export type DepsWith<K extends 'secrets' | 'sqs' | 'dynamo'> = Omit<
  SharedDeps,
  'secrets' | 'sqs' | 'dynamo'
> &
  Pick<SharedDeps, K>;

export type Env = Readonly<Record<string, string | undefined>>;

export function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new MissingEnvironmentError(name);
  return value;
}

export function requiredJson<T>(env: Env, name: string): T {
  try {
    return JSON.parse(required(env, name)) as T;
  } catch (error) {
    if (error instanceof MissingEnvironmentError) throw error;
    throw new MissingEnvironmentError(`${name} (set, but not JSON)`, { cause: error });
  }
}

/** What a secrets prefix may hold: the characters of a Secrets Manager name. */
const SECRETS_PREFIX = /^[A-Za-z0-9/_+=.@-]{0,256}$/;

/**
 * The function's secret store under the stage's prefix ({@link SECRETS_PREFIX_ENV}, set by the stack
 * for a staged hub; absent, the config's names as they are). A malformed prefix fails the cold start
 * by name, rather than every read with a confusing "secret not found".
 */
export function secretsFromEnv(env: Env, secrets: SecretStore): SecretStore {
  const prefix = env[SECRETS_PREFIX_ENV] ?? '';
  if (!SECRETS_PREFIX.test(prefix)) {
    throw new ConfigError([
      `${SECRETS_PREFIX_ENV}: must be characters of a Secrets Manager name (letters, digits, /_+=.@-), at most 256 (got ${JSON.stringify(prefix)})`,
    ]);
  }
  return prefixedSecrets(secrets, prefix);
}
