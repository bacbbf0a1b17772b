import type { Command } from 'commander';
import { noHubAt } from './hub-client.js';

/** `switchyard poll <source>`: asks the running local hub to poll a source now. */
export function register(program: Command): void {
  program
    .command('poll <source>')
    .description('Poll a rest-poll source now, on the running local hub')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .action(async (source: string, options: { url: string }) => {
      const response = await fetch(`${options.url}/_switchyard/poll/${encodeURIComponent(source)}`, {
        method: 'POST',
      }).catch((error: unknown) => {
        throw noHubAt(options.url, error);
      });
      const body = (await response.json()) as Record<string, unknown>;
      if (!response.ok) {
        console.error(`poll ${source} failed: ${String(body.message ?? response.status)}`);
        process.exitCode = 1;
        return;
      }
      if (body.kind === 'leased') console.log(`poll ${source}: another poll is running; skipped`);
      else
        console.log(
          `poll ${source}: ${String(body.pages)} page(s), ${String(body.enqueued)} record(s) enqueued, cursor ${body.cursor === undefined ? 'unchanged' : new Date(Number(body.cursor)).toISOString()}${body.morePages ? ' (more pages next time)' : ''}`,
        );
    });
}
