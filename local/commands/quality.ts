import type { Command } from 'commander';
import type { QualityReport } from '../../functions/core/ops.js';
import { callHub } from './hub-client.js';

const pct = (n: number) => `${n.toFixed(1)}%`;
const change = (n: number | undefined) =>
  n === undefined || n === 0 ? '' : ` (${n > 0 ? '+' : ''}${n.toFixed(1)})`;

export function formatQualityReport(report: QualityReport): string {
  const lines = [
    `Data quality: ${report.entity}${report.source ? ` from ${report.source}` : ''} at ${report.generatedAt}${report.trend ? ` (changes since ${report.trend.since})` : ''}`,
    `  records ${report.records}, quarantined ${report.quarantined}, duplicates exact ${report.duplicates.exact}, possible ${report.duplicates.possible}`,
    '  completeness:',
    ...Object.entries(report.completeness).map(
      ([f, v]) => `    ${f.padEnd(16)} ${pct(v)}${change(report.trend?.completeness[f])}`,
    ),
    '  invalid rate by rule:',
    ...(Object.keys(report.invalidRate).length === 0
      ? ['    (none)']
      : Object.entries(report.invalidRate).map(
          ([r, v]) => `    ${r.padEnd(32)} ${pct(v)}${change(report.trend?.invalidRate[r])}`,
        )),
    '  format consistency:',
    ...Object.entries(report.formats).map(([f, v]) => `    ${f.padEnd(24)} ${pct(v)}`),
  ];
  return lines.join('\n');
}

/** `switchyard quality`: completeness, invalid rates, duplicates, formats and the trend. */
export function register(program: Command): void {
  program
    .command('quality')
    .description('Data quality report over the canonical store and the quarantine')
    .option('--source <name>', 'only records from this source')
    .option('--entity <name>', 'customer, order or invoice', 'customer')
    .option('--json', 'print JSON')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .action(async (options: { source?: string; entity: string; json?: boolean; url: string }) => {
      const query = new URLSearchParams({
        entity: options.entity,
        ...(options.source ? { source: options.source } : {}),
      });
      const report = await callHub<QualityReport>(options.url, 'GET', `/_switchyard/ops/quality?${query}`);
      console.log(options.json ? JSON.stringify(report, null, 2) : formatQualityReport(report));
    });
}
