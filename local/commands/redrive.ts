import { userInfo } from 'node:os';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { CommandError } from '../command-error.js';
import type { HubInfo } from '../console/api.js';
import type { RedriveAudit } from '../ops-routes.js';
import type { RedriveResult } from '../redrive.js';
import type { HubStats } from '../stats.js';
import { callHub, postJson } from './hub-client.js';

/** The queue key for a key (`inbound`, `deliver-crm`) or a destination name (`crm`). */
export function queueKeyFor(info: Pick<HubInfo, 'queues'>, target: string): HubInfo['queues'][number] {
  const queue =
    info.queues.find((q) => q.key === target) ??
    info.queues.find((q) => q.destination === target) ??
    info.queues.find((q) => q.name === target || q.deadLetter === target);
  if (!queue) {
    const names = info.queues.map((q) => (q.destination ? `${q.key} (${q.destination})` : q.key));
    throw new CommandError(`No queue or destination "${target}" (queues: ${names.join(', ')})`);
  }
  return queue;
}

function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/**
 * `switchyard redrive <queue|destination>`: moves a dead-letter queue's messages back through the
 * running hub, then records who redrove what and when (GET /_switchyard/ops/redrives lists them).
 */
export function register(program: Command): void {
  const redrive = program
    .command('redrive [target]')
    .description('Move dead letters back to their queue (a queue key such as deliver-crm, or a destination)')
    .option(
      '--limit <n>',
      'move at most N; the local hub moves a whole DLQ at once, so a DLQ holding more is refused, not split',
      (v) => Number(v),
    )
    .option('--by <name>', 'who is redriving, for the audit record (default: your user name)')
    .option('--list', 'list the recorded redrives instead')
    .option('--aws', 'redrive in the deployed stack with StartMessageMoveTask (needs AWS credentials)', false)
    .option('--stack <name>', "with --aws: the deployed hub's stack name (default: the config's name)")
    .option('--region <region>', "with --aws: AWS region (default: AWS_REGION or the profile's)")
    .option('--config <file>', 'with --aws: hub config module', 'switchyard.config.ts')
    .option('--rate <n>', 'with --aws: at most N messages per second (SQS has a rate, not a count)', (v) =>
      Number(v),
    )
    .option('--json', 'print JSON')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000');
  redrive.action(
    async (
      target: string | undefined,
      options: {
        limit?: number;
        by?: string;
        list?: boolean;
        json?: boolean;
        url: string;
        aws?: boolean;
        stack?: string;
        region?: string;
        config: string;
        rate?: number;
      },
    ) => {
      if (options.aws) {
        if (!target) throw new CommandError('Name a queue (inbound, deliver-<destination>) or a destination');
        await redriveInAws(target, options);
        return;
      }
      if (options.list) {
        const { items } = await callHub<{ items: RedriveAudit[] }>(
          options.url,
          'GET',
          '/_switchyard/ops/redrives',
        );
        if (options.json) console.log(JSON.stringify(items, null, 2));
        else if (items.length === 0) console.log('No redrives recorded.');
        else for (const item of items) console.log(auditLine(item));
        return;
      }
      if (!target) throw new CommandError('Name a queue (inbound, deliver-<destination>) or a destination');
      if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit > 0))
        throw new CommandError('--limit takes a whole number above 0');
      const info = await callHub<HubInfo>(options.url, 'GET', '/_switchyard/console');
      const queue = queueKeyFor(info, target);
      const depthOf = (stats: HubStats) =>
        queue.key === 'inbound'
          ? stats.queues.inbound.deadLetterDepth
          : (stats.destinations[queue.destination ?? '']?.deadLetterDepth ?? 0);
      const waiting = depthOf(await callHub<HubStats>(options.url, 'GET', '/_switchyard/stats'));
      if (options.limit !== undefined && waiting > options.limit) {
        throw new CommandError(
          `${queue.deadLetter} holds ${waiting} message(s), more than --limit ${options.limit}; the local hub moves a whole DLQ at once, so nothing was moved`,
        );
      }
      const bar = new SingleBar({
        format: `redrive ${queue.deadLetter} -> ${queue.name} [{bar}] {value}/{total}`,
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 2000,
      });
      bar.start(waiting, 0);
      const result = await postJson<RedriveResult & { queue: string }>(
        options.url,
        `/_switchyard/redrive/${encodeURIComponent(queue.key)}`,
        // Who, for the audit trail's `redriven` entry of each message moved.
        { by: options.by ?? operator() },
      );
      bar.setTotal(Math.max(waiting, result.moved));
      bar.update(result.moved);
      bar.stop();
      const audit = await postJson<RedriveAudit & { name: string }>(
        options.url,
        '/_switchyard/ops/redrives',
        {
          queue: queue.key,
          moved: result.moved,
          by: options.by ?? operator(),
          ...(result.error ? { error: result.error } : {}),
        },
      );
      if (options.json) console.log(JSON.stringify(audit, null, 2));
      else console.log(auditLine(audit));
      if (result.error) {
        console.error(`The redrive stopped early: ${result.error}`);
        process.exitCode = 1;
      }
    },
  );
}

async function redriveInAws(
  target: string,
  options: {
    limit?: number;
    by?: string;
    json?: boolean;
    stack?: string;
    region?: string;
    config: string;
    rate?: number;
  },
): Promise<void> {
  if (options.limit !== undefined)
    throw new CommandError(
      'SQS moves a whole DLQ (StartMessageMoveTask has no count limit): --limit is local only; with --aws, --rate N caps the messages per second',
    );
  const [{ SQSClient }, { CloudWatchLogsClient }, { loadConfigFile }, aws] = await Promise.all([
    import('@aws-sdk/client-sqs'),
    import('@aws-sdk/client-cloudwatch-logs'),
    import('../load-config.js'),
    import('../aws-redrive.js'),
  ]);
  const config = await loadConfigFile(options.config);
  const client = options.region ? { region: options.region } : {};
  const hub = options.stack ?? config.name;
  const bar = new SingleBar({
    format: `redrive ${target} (aws) [{bar}] {value}/{total}`,
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 2000,
  });
  let barStarted = false;
  const result = await aws.redriveAws(new SQSClient(client), {
    config,
    stackName: hub,
    target,
    by: options.by ?? operator(),
    ...(options.rate !== undefined ? { ratePerSecond: options.rate } : {}),
    onProgress: (moved, toMove) => {
      if (!barStarted) bar.start(toMove, 0);
      barStarted = true;
      bar.setTotal(Math.max(toMove, moved));
      bar.update(moved);
    },
    recordAudit: aws.cloudWatchAuditWriter(new CloudWatchLogsClient(client), hub),
  });
  if (barStarted) bar.stop();
  if (options.json) console.log(JSON.stringify(result, null, 2));
  else
    console.log(
      `${result.at}  ${result.by} redrove ${result.moved} of ${result.toMove} message(s) from ${result.deadLetter} to ${result.queue}: ${result.status} (task ${result.taskHandle})${result.failureReason ? `, ${result.failureReason}` : ''}`,
    );
  if (result.status !== 'COMPLETED') process.exitCode = 1;
}

function auditLine(audit: RedriveAudit): string {
  return `${audit.at}  ${audit.by} redrove ${audit.moved} message(s) on ${audit.queue}${audit.error ? ` (stopped early: ${audit.error})` : ''}`;
}
