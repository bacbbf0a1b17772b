import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SwitchyardConfig } from './core/config.js';
import { MissingEnvironmentError } from './core/errors.js';
import type { AuditTrail, Clock, SecretStore, Telemetry } from './core/ports.js';

/** What every function of one process shares: built once, at load (Lambda) or start (local). */
export interface SharedDeps {
  readonly config: SwitchyardConfig;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly secrets: SecretStore;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBDocumentClient;
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
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
