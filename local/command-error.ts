import { SwitchyardError } from '../functions/core/errors.js';

/**
 * A command's expected failure: a bad argument, no hub at the URL, the hub refusing the request.
 * The CLI prints its message alone; a stack is for errors nobody expected.
 */
export class CommandError extends SwitchyardError {}
