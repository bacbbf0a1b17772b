import { DynamoPollStateStore } from './aws/dynamo-state-store.js';
import { SqsInboundQueue } from './aws/sqs.js';
import { nodeHttpFetch } from './connectors/node-http.js';
import { systemClock } from './core/ports.js';
import { POLL_TIMEOUT_SECONDS } from './core/topology.js';
import { createPollHandler } from './handlers/poll-handler.js';
import { type Env, required, type SharedDeps } from './wiring-base.js';

// Its own module: see wiring-route.ts.
export function pollHandlerFromEnv(env: Env, shared: SharedDeps) {
  return createPollHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    fetch: shared.fetch ?? nodeHttpFetch,
    state: new DynamoPollStateStore(shared.dynamo, required(env, 'STATE_TABLE_NAME')),
    queue: new SqsInboundQueue(shared.sqs, required(env, 'INBOUND_QUEUE_URL')),
    // Outlives the function timeout, so a poll that is still running is never overlapped.
    leaseMs: (POLL_TIMEOUT_SECONDS + 60) * 1000,
  });
}
