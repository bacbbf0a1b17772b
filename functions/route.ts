import { SqsDeliveryQueues, SqsMessageVisibility } from './aws/sqs.js';
import { systemClock } from './core/ports.js';
import { requireEnv, requireJsonEnv } from './env.js';
import { createRouteHandler } from './handlers/route-handler.js';
import { config, logger, newId, sqs, stateStore, telemetry } from './runtime.js';

export const handler = createRouteHandler({
  config,
  logger,
  telemetry,
  clock: systemClock,
  newId,
  state: stateStore(),
  deliveryQueues: new SqsDeliveryQueues(
    sqs,
    requireJsonEnv<Record<string, string>>('DESTINATION_QUEUE_URLS'),
  ),
  visibility: new SqsMessageVisibility(sqs, requireEnv('SOURCE_QUEUE_URL')),
  maxReceiveCount: Number(requireEnv('MAX_RECEIVE_COUNT')),
  backoff: { baseDelaySeconds: 2, maxDelaySeconds: 300 },
});
