import type { Command } from 'commander';
import type { PromoteResult, ShadowDiff } from '../../functions/core/shadow-ops.js';
import { callHub } from './hub-client.js';

export function formatShadowDiff(diff: ShadowDiff): string {
  const { summary } = diff;
  const lines = [
    `Shadow diff: flow ${diff.flow} (mode ${diff.mode}) at ${diff.generatedAt}`,
    `  ${summary.records} shadow record(s): would create ${summary.wouldCreate}, would update ${summary.wouldUpdate}, unchanged ${summary.unchanged}, cannot read ${summary.cannotRead}${summary.promoted ? `, already promoted ${summary.promoted}` : ''}`,
    ...diff.items.map((item) => {
      const detail =
        item.outcome === 'update'
          ? ` fields: ${item.fields?.join(', ')}`
          : item.outcome === 'cannot-read'
            ? ` (${item.reason})`
            : '';
      return `  ${item.outcome.padEnd(11)} ${item.destination} ${item.entity} ${item.id} v${item.version} key ${item.idempotencyKey}${detail}`;
    }),
  ];
  return lines.join('\n');
}

const flowPath = (flow: string, action: string) =>
  `/_switchyard/ops/shadow/${encodeURIComponent(flow)}/${action}`;

/** `switchyard shadow diff|promote`: what a shadow flow would change, and sending it once it is live. */
export function register(program: Command): void {
  const shadow = program
    .command('shadow')
    .description('Shadow flows: compare what they recorded with the destination, promote it when live');
  shadow
    .command('diff')
    .description('Compare what a shadow flow would send with what its destinations hold')
    .requiredOption('--flow <name>', 'the flow')
    .option('--json', 'print JSON')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .action(async (options: { flow: string; json?: boolean; url: string }) => {
      const diff = await callHub<ShadowDiff>(options.url, 'GET', flowPath(options.flow, 'diff'));
      console.log(options.json ? JSON.stringify(diff, null, 2) : formatShadowDiff(diff));
    });
  shadow
    .command('promote')
    .description('Deliver what a flow recorded in shadow, now that it is live (latest per entity, once)')
    .requiredOption('--flow <name>', 'the flow')
    .option('--json', 'print JSON')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .action(async (options: { flow: string; json?: boolean; url: string }) => {
      const result = await callHub<PromoteResult>(options.url, 'POST', flowPath(options.flow, 'promote'));
      console.log(
        options.json
          ? JSON.stringify(result, null, 2)
          : `promoted ${result.promoted} record(s) of ${result.flow}; ${result.alreadyPromoted} already promoted, ${result.outsideSample} outside the pilot sample`,
      );
    });
}
