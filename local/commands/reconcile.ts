import type { Command } from 'commander';
import type { ReconcileReport } from '../../functions/core/reconcile.js';
import { CommandError } from '../command-error.js';
import { callHub } from './hub-client.js';

const isoTime = (name: string) => (value: string) => {
  if (Number.isNaN(Date.parse(value)))
    throw new CommandError(`${name} takes an ISO time, such as 2024-05-01T12:00:00Z (got "${value}")`);
  return new Date(Date.parse(value)).toISOString();
};

const version = (v: number | undefined) => (v === undefined ? '-' : String(v));

export function formatReconcileReport(report: ReconcileReport): string {
  const lines = [
    `Reconcile ${report.flow} (${report.entity}) from ${report.window.since} to ${report.window.until}`,
    ...report.sources.map((s) =>
      'unsupported' in s
        ? `  source ${s.source}: not listed (${s.unsupported})`
        : `  source ${s.source}: ${s.listed} listed${s.complete ? '' : ' (partial: paging stopped early)'}${s.unreadable > 0 ? `, ${s.unreadable} unreadable` : ''}`,
    ),
    `  listed ${report.listed}, at the hub ${report.atHub}`,
    `  missing at the hub: ${report.missingAtHub.length}`,
    ...report.missingAtHub.map(
      (m) =>
        `    ${m.source}:${m.sourceId}  ${m.reason}${m.reason === 'behind' ? ` (hub ${version(m.hubVersion)} < source ${version(m.listedVersion)})` : ''}`,
    ),
  ];
  const destinations = [...new Set(report.missingAtDestinations.map((m) => m.destination))];
  lines.push(`  missing or behind at destinations: ${report.missingAtDestinations.length}`);
  for (const destination of destinations) {
    for (const m of report.missingAtDestinations.filter((d) => d.destination === destination))
      lines.push(
        `    ${destination}  ${m.source}:${m.sourceId} (${m.id})  ${m.reason}${m.reason === 'behind' ? ` (holds ${version(m.destinationVersion)}, hub ${version(m.hubVersion)})` : ''}`,
      );
  }
  lines.push(`  drift ${report.drift}`);
  if (report.repaired)
    lines.push(
      `  repaired: ${report.repaired.toHub} sent to the hub, ${report.repaired.toDestinations} re-sent to destinations`,
    );
  return lines.join('\n');
}

/**
 * `switchyard reconcile --flow F`: what the flow's sources list in a window against what the hub
 * accepted and each destination holds; `--repair` re-sends what is missing.
 */
export function register(program: Command): void {
  program
    .command('reconcile')
    .description(
      "Compare a flow's sources with the hub and its destinations over a window; --repair re-sends",
    )
    .requiredOption('--flow <name>', 'the flow to reconcile')
    .option(
      '--since <iso>',
      "window start (default: until minus the flow's reconcile.windowHours, else 24 h)",
      isoTime('--since'),
    )
    .option('--until <iso>', 'window end (default: now)', isoTime('--until'))
    .option('--repair', 're-send what is missing: from the source to the hub, from the hub to destinations')
    .option('--json', 'print JSON')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .action(
      async (options: {
        flow: string;
        since?: string;
        until?: string;
        repair?: boolean;
        json?: boolean;
        url: string;
      }) => {
        const query = new URLSearchParams({
          ...(options.since ? { since: options.since } : {}),
          ...(options.until ? { until: options.until } : {}),
          ...(options.repair ? { repair: '1' } : {}),
        });
        const report = await callHub<ReconcileReport>(
          options.url,
          'POST',
          `/_switchyard/ops/reconcile/${encodeURIComponent(options.flow)}${query.size > 0 ? `?${query}` : ''}`,
        );
        console.log(options.json ? JSON.stringify(report, null, 2) : formatReconcileReport(report));
      },
    );
}
