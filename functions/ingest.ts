import { shared } from './runtime.js';
import { ingestHandlerFromEnv } from './wiring.js';

export const handler = ingestHandlerFromEnv(process.env, shared);
