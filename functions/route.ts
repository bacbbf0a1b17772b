import { shared } from './runtime.js';
import { routeHandlerFromEnv } from './wiring.js';

export const handler = routeHandlerFromEnv(process.env, shared);
