import type { Command } from 'commander';
import type { QuarantineReason } from '../../functions/core/errors.js';
import { CommandError } from '../command-error.js';
import { callHub, listAllQuarantined } from './hub-client.js';

interface Listed {
  key: string;
  stage: string;
  source: string;
  eventId: string;
  flow?: string;
  destination?: string;
  entity?: string;
  reasons: QuarantineReason[];
  quarantinedAt: number;
}

const reasonsOf = (reasons: QuarantineReason[]) =>
  reasons
    .map((r) => `${r.rule}${r.field ? ` (${r.field}${r.value ? ` = ${r.value}` : ''})` : ''}: ${r.message}`)
    .join('; ');

/** `switchyard quarantine list|show|replay`: what was refused, why, and sending it through again. */
export function register(program: Command): void {
  const quarantine = program
    .command('quarantine')
    .description('Records refused with reasons: list, show, replay');
  const url = (command: Command) => command.option('--url <url>', 'the local hub', 'http://127.0.0.1:3000');

  url(quarantine.command('list').description('List quarantined records with their reasons'))
    .option('--json', 'print JSON')
    .action(async (options: { url: string; json?: boolean }) => {
      const items = await listAllQuarantined<Listed>(options.url);
      if (options.json) {
        console.log(JSON.stringify(items, null, 2));
        return;
      }
      if (items.length === 0) console.log('The quarantine is empty.');
      for (const item of items) {
        const where = item.destination ? `${item.flow}/${item.destination}` : 'route';
        console.log(
          `${item.key}\n  ${new Date(item.quarantinedAt).toISOString()}  ${item.source} ${item.entity ?? ''} at ${where}\n  ${reasonsOf(item.reasons)}`,
        );
      }
    });

  url(
    quarantine
      .command('show <key>')
      .description('Show one quarantined record, with the payload a replay would send'),
  ).action(async (key: string, options: { url: string }) => {
    console.log(
      JSON.stringify(
        await callHub(options.url, 'GET', `/_switchyard/ops/quarantine/${encodeURIComponent(key)}`),
        null,
        2,
      ),
    );
  });

  url(
    quarantine
      .command('replay [key]')
      .description('Send a quarantined record (or all, with --all) through the current code again'),
  )
    .option('--all', 'replay every quarantined record')
    .action(async (key: string | undefined, options: { url: string; all?: boolean }) => {
      if (!key && !options.all) throw new CommandError('Name a record to replay, or pass --all');
      // Every page, not only the first hundred.
      const keys = key ? [key] : (await listAllQuarantined<Listed>(options.url)).map((i) => i.key);
      for (const k of keys) {
        const result = await callHub<{ stage: string; eventId: string }>(
          options.url,
          'POST',
          `/_switchyard/ops/quarantine/${encodeURIComponent(k)}/replay`,
        );
        console.log(`replayed ${result.eventId} through ${result.stage}`);
      }
    });
}
