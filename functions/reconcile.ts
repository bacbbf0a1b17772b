import { shared } from './runtime.js';
import { reconcileHandlerFromEnv } from './wiring.js';

export const handler = reconcileHandlerFromEnv(process.env, shared);
