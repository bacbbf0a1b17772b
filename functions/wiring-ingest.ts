import { SqsInboundQueue } from './aws/sqs.js';
import { systemClock } from './core/ports.js';
import { createIngestHandler } from './handlers/ingest-handler.js';
import { type DepsWith, type Env, required } from './wiring-base.js';

/*
 * Apart from wiring.ts because the ingest bundle must not load the DynamoDB packages that the
 * other kinds' adapters import (esbuild keeps every import of an external package, used or not).
 */

export function ingestHandlerFromEnv(env: Env, shared: DepsWith<'sqs' | 'secrets'>) {
  return createIngestHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    queue: new SqsInboundQueue(shared.sqs, required(env, 'INBOUND_QUEUE_URL')),
  });
}
