import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { MAX_BACKFILL_PAGE, parseBackfillPageSize } from '../../functions/core/ops.js';
import { callHub } from './hub-client.js';

/** `switchyard backfill --flow F`: the canonical store through a flow, resumable, with a progress bar. */
export function register(program: Command): void {
  program
    .command('backfill')
    .description('Send every canonical record through a flow (a new destination starts complete)')
    .requiredOption('--flow <name>', 'the flow to backfill')
    .option('--restart', 'start from the beginning instead of the saved position')
    .option(
      '--page <n>',
      `state-table items read per request, 1-${MAX_BACKFILL_PAGE} (the canonical records among them are sent)`,
      pageSize,
      100,
    )
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .action(async (options: { flow: string; restart?: boolean; page: number; url: string }) => {
      const flow = encodeURIComponent(options.flow);
      const saved = options.restart
        ? {}
        : await callHub<{ next?: string | null }>(
            options.url,
            'GET',
            `/_switchyard/ops/backfill-position/${flow}`,
          );
      let after = saved.next ?? undefined;
      if (after) console.log(`resuming ${options.flow} from its saved position`);
      const bar = new SingleBar({
        format: `backfill ${options.flow} [{bar}] {value} records scanned, {sent} sent`,
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 2000,
      });
      bar.start(0, 0, { sent: 0 });
      let scanned = 0;
      let sent = 0;
      do {
        const page: { scanned: number; sent: number; next?: string } = await callHub(
          options.url,
          'POST',
          `/_switchyard/ops/backfill/${flow}?limit=${options.page}${after ? `&after=${encodeURIComponent(after)}` : ''}`,
        );
        scanned += page.scanned;
        sent += page.sent;
        bar.setTotal(scanned);
        bar.update(scanned, { sent });
        after = page.next;
      } while (after);
      bar.stop();
      console.log(`backfill ${options.flow}: ${scanned} records scanned, ${sent} messages sent`);
    });
}

function pageSize(value: string): number {
  try {
    return parseBackfillPageSize(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
}
