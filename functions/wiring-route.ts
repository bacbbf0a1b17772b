import { SqsDeliveryQueues, SqsMessageVisibility } from './aws/sqs.js';
import { derivedCanonicalId } from './core/identity.js';
import { systemClock } from './core/ports.js';
import { createRouteHandler } from './handlers/route-handler.js';
import { type DepsWith, type Env, required, requiredJson } from './wiring-base.js';
import { stateStore } from './wiring-state.js';

/*
 * One wiring per function kind, each in its own module so a Lambda entry bundles only its own
 * handler and adapters (esbuild keeps every module an entry imports that has top-level effects:
 * importing all kinds from one file put route's record models and zod into deliver and poll).
 * The Lambda entries pass process.env; the local runtime passes each function's resolved env
 * (through wiring.ts), so both build the same handler from the same variables.
 */

/** Route retries (state table or queue hiccups) back off between these bounds. */
export const ROUTE_BACKOFF = { baseDelaySeconds: 2, maxDelaySeconds: 300 } as const;

export function routeHandlerFromEnv(env: Env, shared: DepsWith<'sqs' | 'dynamo'>) {
  return createRouteHandler({
    ...shared,
    clock: shared.clock ?? systemClock,
    canonicalIdFor: derivedCanonicalId,
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
