import { DynamoOpsStore } from './aws/dynamo-state-store.js';
import { SqsDeliveryQueues, SqsInboundQueue } from './aws/sqs.js';
import { nodeHttpFetch } from './connectors/node-http.js';
import { systemClock } from './core/ports.js';
import { createReconcileHandler } from './handlers/reconcile-handler.js';
import { type Env, required, requiredJson, type SharedDeps } from './wiring-base.js';
import { stateStore } from './wiring-state.js';

// Its own module: see wiring-route.ts.
export function reconcileHandlerFromEnv(env: Env, shared: SharedDeps) {
  // The queues are in the environment only when a flow repairs on its schedule (see the topology).
  const inboundUrl = env.INBOUND_QUEUE_URL;
  return createReconcileHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    fetch: shared.fetch ?? nodeHttpFetch,
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
