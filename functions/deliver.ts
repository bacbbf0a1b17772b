import { SqsMessageVisibility } from './aws/sqs.js';
import { destinationConnector } from './connectors/registry.js';
import { ConfigError } from './core/errors.js';
import { systemClock } from './core/ports.js';
import { requireEnv } from './env.js';
import { createDeliverHandler } from './handlers/deliver-handler.js';
import { config, logger, secrets, sqs, stateStore, telemetry } from './runtime.js';

const destinationName = requireEnv('DESTINATION_NAME');
const destination = config.destinations[destinationName];
if (!destination)
  throw new ConfigError([`DESTINATION_NAME: no destination "${destinationName}" in the bundled config`]);

export const handler = createDeliverHandler({
  destinationName,
  destination,
  connector: destinationConnector(destination.connector),
  logger,
  telemetry,
  secrets,
  clock: systemClock,
  fetch: globalThis.fetch,
  state: stateStore(),
  visibility: new SqsMessageVisibility(sqs, requireEnv('SOURCE_QUEUE_URL')),
});
