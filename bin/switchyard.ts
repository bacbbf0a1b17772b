import { readdir } from 'node:fs/promises';
import { Command } from 'commander';
import { SwitchyardError } from '../functions/core/errors.js';

/**
 * The CLI. Each command lives in local/commands/<name>.ts and exports `register(program)`, so a new
 * command is a new file.
 */
const program = new Command('switchyard').description('Switchyard integration hub');
const commandsDir = new URL('../local/commands/', import.meta.url);
const files = (await readdir(commandsDir))
  .filter((f) => /^[a-z-]+\.ts$/.test(f) && f !== 'hub-client.ts')
  .sort();
for (const file of files) {
  const module = (await import(new URL(file, commandsDir).href)) as { register?: (program: Command) => void };
  module.register?.(program);
}

// The hub's own errors (a bad config, argument or request, no hub at the URL) name what was wrong in
// their message, which is all an operator needs; anything else is a bug, and its stack is printed.
program.parseAsync().catch((error: unknown) => {
  console.error(
    error instanceof SwitchyardError
      ? error.message
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error),
  );
  process.exit(1);
});
