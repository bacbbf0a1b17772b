/*
 * Every kind's wiring, for the local runtime and tests. The Lambda entries import their own kind's
 * module (wiring-<kind>.ts) instead, so each bundle holds only its own handler.
 */
export type { DepsWith, Env, SharedDeps } from './wiring-base.js';
export { secretsFromEnv } from './wiring-base.js';
export { deliverHandlerFromEnv } from './wiring-deliver.js';
export { ingestHandlerFromEnv } from './wiring-ingest.js';
export { pollHandlerFromEnv } from './wiring-poll.js';
export { reconcileHandlerFromEnv } from './wiring-reconcile.js';
export { ROUTE_BACKOFF, routeHandlerFromEnv } from './wiring-route.js';
