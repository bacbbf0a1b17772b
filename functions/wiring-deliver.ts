import { CoalescedGet } from './aws/coalesced-get.js';
import { deferredDeliverySqs, type SqsClientSource } from './aws/deferred-sqs.js';
import { DynamoBreakerStore } from './aws/dynamo-state-store.js';
import { destinationConnector } from './connectors/destinations.js';
import { nodeHttpFetch } from './connectors/node-http.js';
import { ConfigError } from './core/errors.js';
import { systemClock } from './core/ports.js';
import { createDeliverHandler } from './handlers/deliver-handler.js';
import { type DepsWith, type Env, required } from './wiring-base.js';
import { stateStore } from './wiring-state.js';

// Its own module: see wiring-route.ts.
export function deliverHandlerFromEnv(
  env: Env,
  shared: DepsWith<'secrets' | 'dynamo'> & { readonly sqs: SqsClientSource },
) {
  const destinationName = required(env, 'DESTINATION_NAME');
  const destination = shared.config.destinations[destinationName];
  if (!destination)
    throw new ConfigError([`DESTINATION_NAME: no destination "${destinationName}" in the config`]);
  const tableName = required(env, 'STATE_TABLE_NAME');
  // One set of coalesced reads for the mappings and the breaker: a batch asks for both at once.
  const reads = new CoalescedGet(shared.dynamo, tableName);
  return createDeliverHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    fetch: shared.fetch ?? nodeHttpFetch,
    destinationName,
    destination,
    flows: shared.config.flows,
    connector: destinationConnector(destination.connector),
    state: stateStore(env, shared, reads),
    ...deferredDeliverySqs(shared.sqs, required(env, 'SOURCE_QUEUE_URL'), destinationName),
    breakers: new DynamoBreakerStore(shared.dynamo, tableName, reads),
  });
}
