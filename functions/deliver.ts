import { shared } from './runtime.js';
import { deliverHandlerFromEnv } from './wiring.js';

export const handler = deliverHandlerFromEnv(process.env, shared);
