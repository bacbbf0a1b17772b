import { randomUUID } from 'node:crypto';
import {
  DynamoBreakerStore,
  DynamoOpsStore,
  DynamoPollStateStore,
  DynamoStateStore,
} from './aws/dynamo-state-store.js';
import { SqsDeliveryQueues, SqsInboundQueue, SqsMessageVisibility } from './aws/sqs.js';
import { destinationConnector } from './connectors/registry.js';
import { ConfigError } from './core/errors.js';
import { systemClock } from './core/ports.js';
import { POLL_TIMEOUT_SECONDS } from './core/topology.js';
import { createDeliverHandler } from './handlers/deliver-handler.js';
import { createPollHandler } from './handlers/poll-handler.js';
import { createReconcileHandler } from './handlers/reconcile-handler.js';
import { createRouteHandler } from './handlers/route-handler.js';
import { type DepsWith, type Env, required, requiredJson, type SharedDeps } from './wiring-base.js';

export type { DepsWith, Env, SharedDeps } from './wiring-base.js';
export { secretsFromEnv } from './wiring-base.js';
export { ingestHandlerFromEnv } from './wiring-ingest.js';

/** Route retries (state table or queue hiccups) back off between these bounds. */
export const ROUTE_BACKOFF = { baseDelaySeconds: 2, maxDelaySeconds: 300 } as const;

function stateStore(env: Env, shared: DepsWith<'dynamo'>): DynamoStateStore {
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

export function routeHandlerFromEnv(env: Env, shared: DepsWith<'sqs' | 'dynamo'>) {
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
