import { shared } from './runtime.js';
import { pollHandlerFromEnv } from './wiring.js';

export const handler = pollHandlerFromEnv(process.env, shared);
