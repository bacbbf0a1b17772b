import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DynamoBreakerStore,
  DynamoOpsStore,
  DynamoPollStateStore,
  DynamoStateStore,
} from './aws/dynamo-state-store.js';
import { SqsDeliveryQueues, SqsInboundQueue, SqsMessageVisibility } from './aws/sqs.js';
import { destinationConnector } from './connectors/registry.js';
import type { SwitchyardConfig } from './core/config.js';
import { ConfigError, MissingEnvironmentError } from './core/errors.js';
import { type AuditTrail, type Clock, type SecretStore, systemClock, type Telemetry } from './core/ports.js';
import { prefixedSecrets } from './core/secret-values.js';
import { POLL_TIMEOUT_SECONDS, SECRETS_PREFIX_ENV } from './core/topology.js';
import { createDeliverHandler } from './handlers/deliver-handler.js';
import { createIngestHandler } from './handlers/ingest-handler.js';
import { createPollHandler } from './handlers/poll-handler.js';
import { createReconcileHandler } from './handlers/reconcile-handler.js';
import { createRouteHandler } from './handlers/route-handler.js';

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

export type Env = Readonly<Record<string, string | undefined>>;

/** Route retries (state table or queue hiccups) back off between these bounds. */
export const ROUTE_BACKOFF = { baseDelaySeconds: 2, maxDelaySeconds: 300 } as const;

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new MissingEnvironmentError(name);
  return value;
}

function requiredJson<T>(env: Env, name: string): T {
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

function stateStore(env: Env, shared: SharedDeps): DynamoStateStore {
  return new DynamoStateStore(
    shared.dynamo,
    required(env, 'STATE_TABLE_NAME'),
    shared.config.quarantine.retentionDays * 86_400,
  );
}

/*
 * One wiring per function kind, from the environment the topology gives that function. The Lambda
 * entries pass process.env; the local runtime passes each function's resolved env, so both build
 * the same handler from the same variables.
 */

export function ingestHandlerFromEnv(env: Env, shared: SharedDeps) {
  return createIngestHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    queue: new SqsInboundQueue(shared.sqs, required(env, 'INBOUND_QUEUE_URL')),
  });
}

export function routeHandlerFromEnv(env: Env, shared: SharedDeps) {
  return createRouteHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    newId: randomUUID,
    state: stateStore(env, shared),
    deliveryQueues: new SqsDeliveryQueues(
      shared.sqs,
      requiredJson<Record<string, string>>(env, 'DESTINATION_QUEUE_URLS'),
    ),
    visibility: new SqsMessageVisibility(shared.sqs, required(env, 'SOURCE_QUEUE_URL')),
    maxReceiveCount: Number(required(env, 'MAX_RECEIVE_COUNT')),
    backoff: ROUTE_BACKOFF,
  });
}

export function deliverHandlerFromEnv(env: Env, shared: SharedDeps) {
  const destinationName = required(env, 'DESTINATION_NAME');
  const destination = shared.config.destinations[destinationName];
  if (!destination)
    throw new ConfigError([`DESTINATION_NAME: no destination "${destinationName}" in the config`]);
  return createDeliverHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    fetch: shared.fetch ?? globalThis.fetch,
    destinationName,
    destination,
    flows: shared.config.flows,
    connector: destinationConnector(destination.connector),
    state: stateStore(env, shared),
    visibility: new SqsMessageVisibility(shared.sqs, required(env, 'SOURCE_QUEUE_URL')),
    breakers: new DynamoBreakerStore(shared.dynamo, required(env, 'STATE_TABLE_NAME')),
    requeue: new SqsDeliveryQueues(shared.sqs, { [destinationName]: required(env, 'SOURCE_QUEUE_URL') }),
  });
}

export function pollHandlerFromEnv(env: Env, shared: SharedDeps) {
  return createPollHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    fetch: shared.fetch ?? globalThis.fetch,
    state: new DynamoPollStateStore(shared.dynamo, required(env, 'STATE_TABLE_NAME')),
    queue: new SqsInboundQueue(shared.sqs, required(env, 'INBOUND_QUEUE_URL')),
    // Outlives the function timeout, so a poll that is still running is never overlapped.
    leaseMs: (POLL_TIMEOUT_SECONDS + 60) * 1000,
  });
}

export function reconcileHandlerFromEnv(env: Env, shared: SharedDeps) {
  // The queues are in the environment only when a flow repairs on its schedule (see the topology).
  const inboundUrl = env.INBOUND_QUEUE_URL;
  return createReconcileHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    fetch: shared.fetch ?? globalThis.fetch,
    state: stateStore(env, shared),
    ops: new DynamoOpsStore(shared.dynamo, required(env, 'STATE_TABLE_NAME')),
    ...(inboundUrl
      ? {
          inbound: new SqsInboundQueue(shared.sqs, inboundUrl),
          deliveryQueues: new SqsDeliveryQueues(
            shared.sqs,
            requiredJson<Record<string, string>>(env, 'DESTINATION_QUEUE_URLS'),
          ),
        }
      : {}),
  });
}
