import { SqsInboundQueue } from './aws/sqs.js';
import { systemClock } from './core/ports.js';
import { requireEnv } from './env.js';
import { createIngestHandler } from './handlers/ingest-handler.js';
import { config, logger, secrets, sqs, telemetry } from './runtime.js';

export const handler = createIngestHandler({
  config,
  logger,
  telemetry,
  secrets,
  clock: systemClock,
  queue: new SqsInboundQueue(sqs, requireEnv('INBOUND_QUEUE_URL')),
});
