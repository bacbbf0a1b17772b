import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { type AlarmSummary, type AwsHubStatus, readAwsStatus } from '../aws-status.js';
import { CommandError } from '../command-error.js';
import type { HubInfo, QuarantineList } from '../console/api.js';
import { loadConfigFile } from '../load-config.js';
import type { HubStats } from '../stats.js';

/** What `switchyard status --json` prints: one object, stable field names. */
export interface HubStatus {
  readonly url: string;
  readonly hub: string;
  readonly balanced: boolean;
  readonly totals: HubStats['totals'];
  readonly lanes: readonly {
    readonly flow: string;
    readonly destination: string;
    readonly routed: number;
    readonly delivered: number;
    readonly skipped: number;
    readonly quarantined: number;
    readonly deadLettered: number;
    readonly retried: number;
    readonly inFlight: number;
    readonly latencyMs: { p50: number; p99: number } | null;
  }[];
  readonly sources: readonly {
    readonly source: string;
    readonly received: number;
    readonly accepted: number;
    readonly rejected: Record<string, number>;
    readonly quarantined: number;
    readonly deadLettered: number;
    readonly inFlight: number;
  }[];
  readonly queues: readonly {
    readonly key: string;
    readonly name: string;
    readonly depth: number;
    readonly deadLetter: string;
    readonly deadLetterDepth: number;
  }[];
  readonly quarantine: {
    readonly count: number;
    readonly newest: readonly { eventId: string; stage: string; rules: string[]; quarantinedAt: number }[];
  };
  /** The AWS alarms' conditions, checked against the local counters. */
  readonly alarms: readonly {
    readonly name: string;
    readonly state: 'OK' | 'ALARM';
    readonly reason: string;
  }[];
}

const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

async function getJson<T>(base: string, path: string): Promise<T> {
  const response = await fetch(new URL(path, base), {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new CommandError(`${path} answered HTTP ${response.status}`);
  return (await response.json()) as T;
}

/** Reads the running local hub's counters, queues and quarantine, and checks the alarm conditions. */
export async function readStatus(url: string): Promise<HubStatus> {
  const [info, stats, quarantine] = await Promise.all([
    getJson<HubInfo>(url, '/_switchyard/console'),
    getJson<HubStats>(url, '/_switchyard/stats'),
    getJson<QuarantineList>(url, '/_switchyard/quarantine'),
  ]);
  const lanes = Object.entries(stats.flows).flatMap(([flow, destinations]) =>
    Object.entries(destinations).map(([destination, lane]) => ({
      flow,
      destination,
      routed: lane.accepted,
      delivered: lane.delivered,
      skipped: sum(lane.skipped),
      quarantined: lane.quarantined,
      deadLettered: lane.deadLettered,
      retried: lane.retried,
      inFlight: lane.inFlight,
      latencyMs: lane.latencyMs ?? null,
    })),
  );
  const sources = Object.entries(stats.sources).map(([source, s]) => ({
    source,
    received: s.received,
    accepted: s.accepted,
    rejected: s.rejected,
    quarantined: s.quarantined,
    deadLettered: s.deadLettered,
    inFlight: s.inFlight,
  }));
  const queues = info.queues.map((queue) => {
    const depths =
      queue.key === 'inbound'
        ? stats.queues.inbound
        : {
            depth: stats.destinations[queue.destination ?? '']?.inFlight ?? 0,
            deadLetterDepth: stats.destinations[queue.destination ?? '']?.deadLetterDepth ?? 0,
          };
    return {
      key: queue.key,
      name: queue.name,
      depth: depths.depth,
      deadLetter: queue.deadLetter,
      deadLetterDepth: depths.deadLetterDepth,
    };
  });

  const alarms: { name: string; state: 'OK' | 'ALARM'; reason: string }[] = [];
  for (const queue of queues) {
    alarms.push({
      name: `${queue.deadLetter}-not-empty`,
      state: queue.deadLetterDepth > 0 ? 'ALARM' : 'OK',
      reason: `${queue.deadLetterDepth} message(s) in ${queue.deadLetter}`,
    });
  }
  for (const lane of lanes) {
    const limitMs = info.alarms.latencyP99Seconds * 1000;
    alarms.push({
      name: `${info.name}-${lane.flow}-${lane.destination}-latency-p99`,
      state: lane.latencyMs && lane.latencyMs.p99 > limitMs ? 'ALARM' : 'OK',
      reason: lane.latencyMs ? `p99 ${lane.latencyMs.p99} ms (limit ${limitMs} ms)` : 'no deliveries yet',
    });
    const rate = lane.routed > 0 ? (100 * lane.quarantined) / lane.routed : 0;
    alarms.push({
      name: `${info.name}-${lane.flow}-${lane.destination}-quarantine-rate`,
      state: rate > info.alarms.quarantineRatePercent ? 'ALARM' : 'OK',
      reason: `${lane.quarantined} of ${lane.routed} routed (${rate.toFixed(1)}%, limit ${info.alarms.quarantineRatePercent}%)`,
    });
  }
  return {
    url,
    hub: info.name,
    balanced: stats.balanced,
    totals: stats.totals,
    lanes,
    sources,
    queues,
    quarantine: {
      count: quarantine.count,
      newest: quarantine.items.slice(0, 5).map((item) => ({
        eventId: item.eventId,
        stage: item.stage,
        rules: item.reasons.map((reason) => reason.rule),
        quarantinedAt: item.quarantinedAt,
      })),
    },
    alarms,
  };
}

/** A plain table for a terminal: numeric columns right-aligned, the others left-aligned. */
function table(header: string[], rows: (string | number)[][]): string {
  const numeric = header.map((_, i) => rows.every((row) => typeof row[i] === 'number' || row[i] === '-'));
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatStatus(status: HubStatus): string {
  const t = status.totals;
  const lines = [
    `Switchyard "${status.hub}" at ${status.url}: ${status.balanced ? 'balanced' : 'NOT balanced'}`,
    `accepted ${t.accepted} = delivered ${t.delivered} + skipped ${t.skipped} + quarantined ${t.quarantined} + dead-lettered ${t.deadLettered} + in flight ${t.inFlight}`,
    '',
    table(
      [
        'LANE',
        'ROUTED',
        'DELIVERED',
        'SKIPPED',
        'QUARANTINED',
        'DEAD-LETTERED',
        'RETRIED',
        'IN FLIGHT',
        'P50 MS',
        'P99 MS',
      ],
      status.lanes.map((l) => [
        `${l.flow} -> ${l.destination}`,
        l.routed,
        l.delivered,
        l.skipped,
        l.quarantined,
        l.deadLettered,
        l.retried,
        l.inFlight,
        l.latencyMs?.p50 ?? '-',
        l.latencyMs?.p99 ?? '-',
      ]),
    ),
    '',
    table(
      ['SOURCE', 'RECEIVED', 'ACCEPTED', 'REJECTED', 'QUARANTINED', 'DEAD-LETTERED', 'IN FLIGHT'],
      status.sources.map((s) => [
        s.source,
        s.received,
        s.accepted,
        sum(s.rejected),
        s.quarantined,
        s.deadLettered,
        s.inFlight,
      ]),
    ),
    '',
    table(
      ['QUEUE', 'DEPTH', 'DLQ'],
      status.queues.map((q) => [q.name, q.depth, q.deadLetterDepth]),
    ),
    '',
    `quarantine: ${status.quarantine.count} record${status.quarantine.count === 1 ? '' : 's'}${status.quarantine.newest
      .map((q) => `\n  ${q.eventId} (${q.stage}): ${q.rules.join(', ')}`)
      .join('')}`,
    '',
    table(
      ['ALARM (LOCAL CHECK)', 'STATE', 'WHY'],
      status.alarms.map((a) => [a.name, a.state, a.reason]),
    ),
  ];
  return lines.join('\n');
}

const alarmCell = (summary: AlarmSummary): string =>
  summary.state === null
    ? '-'
    : summary.state === 'OK'
      ? 'OK'
      : `${summary.state}: ${summary.notOk.join(', ')}`;
const oneLine = (text: string, max: number): string =>
  text.length > max ? `${text.slice(0, max - 3)}...` : text;

/** The deployed hub, in the local status's table style. */
export function formatAwsStatus(status: AwsHubStatus): string {
  const o = status.outputs;
  const c = status.alarms.counts;
  const age = (seconds: number | null) => seconds ?? '-';
  const lines = [
    `Switchyard "${status.hub}" on AWS: stack ${status.stack.name} (${status.stack.status}) in ${status.stack.region}`,
    `api ${o.apiUrl ?? '-'}`,
    `dashboard ${o.dashboardUrl ?? '-'}`,
    `alarm topic ${o.alarmTopicArn ?? '-'}`,
    `alarms: ${c.ALARM} in ALARM, ${c.INSUFFICIENT_DATA} INSUFFICIENT_DATA, ${c.OK} OK`,
    '',
    table(
      ['LANE', 'QUEUED', 'IN FLIGHT', 'OLDEST S', 'DLQ', 'ALARMS'],
      status.lanes.map((l) => [
        `${l.flow} -> ${l.destination}`,
        l.depth ?? '-',
        l.inFlight ?? '-',
        age(l.oldestMessageAgeSeconds),
        l.deadLetterDepth ?? '-',
        alarmCell(l.alarms),
      ]),
    ),
    '',
    table(
      ['SOURCE', 'INTAKE', 'ALARMS'],
      status.sources.map((s) => [
        s.source,
        s.intake === 'poll' ? `poll ${s.where ?? '-'}` : (s.where ?? 'webhook (no URL output)'),
        alarmCell(s.alarms),
      ]),
    ),
    '',
    table(
      ['QUEUE', 'DEPTH', 'IN FLIGHT', 'OLDEST S', 'DLQ', 'DLQ OLDEST S'],
      status.queues.map((q) => [
        q.exists ? q.name : `${q.name} (missing)`,
        q.depth ?? '-',
        q.inFlight ?? '-',
        age(q.oldestMessageAgeSeconds),
        q.deadLetter.depth ?? '-',
        age(q.deadLetter.oldestMessageAgeSeconds),
      ]),
    ),
    '',
    table(
      ['ALARM', 'STATE', 'WHY'],
      status.alarms.items.map((a) => [a.name, a.state, oneLine(a.reason, 100)]),
    ),
  ];
  const missingQueues = status.queues.flatMap((q) =>
    [q, q.deadLetter].filter((queue) => !queue.exists).map((queue) => queue.name),
  );
  if (missingQueues.length > 0)
    lines.push('', `not found in SQS (expected from the config): ${missingQueues.join(', ')}`);
  if (status.alarms.missing.length > 0)
    lines.push('', `not found in CloudWatch (expected from the config): ${status.alarms.missing.join(', ')}`);
  return lines.join('\n');
}

interface StatusOptions {
  url: string;
  json: boolean;
  aws: boolean;
  stack?: string;
  region?: string;
  config: string;
}

async function awsStatus(options: StatusOptions): Promise<void> {
  let status: AwsHubStatus;
  try {
    const config = await loadConfigFile(options.config);
    const client = { ...(options.region ? { region: options.region } : {}) };
    status = await readAwsStatus(
      {
        cloudFormation: new CloudFormationClient(client),
        sqs: new SQSClient(client),
        cloudWatch: new CloudWatchClient(client),
      },
      { config, ...(options.stack ? { stackName: options.stack } : {}) },
    );
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 1;
    return;
  }
  console.log(options.json ? JSON.stringify(status, null, 2) : formatAwsStatus(status));
}

/**
 * `switchyard status`: the running local hub at a glance (lanes, queues, DLQs, quarantine, G3); with
 * `--aws`, the deployed stack instead (outputs, queues, DLQs, alarm states).
 */
export function register(program: Command): void {
  program
    .command('status')
    .description(
      'Show lanes, queue depths, DLQs, quarantine and balance of a running local hub, or with --aws of a deployed stack',
    )
    .option('--url <url>', 'base URL of the running hub (switchyard dev)', 'http://127.0.0.1:3000')
    .option('--json', 'print one JSON object instead of tables', false)
    .option('--aws', 'read the deployed stack (needs AWS credentials) instead of the local hub', false)
    .option('--stack <name>', "with --aws: CloudFormation stack name (default: the config's name)")
    .option('--region <region>', "with --aws: AWS region (default: AWS_REGION or the profile's)")
    .option('--config <file>', 'with --aws: hub config module', 'switchyard.config.ts')
    .action(async (options: StatusOptions) => {
      if (options.aws) {
        await awsStatus(options);
        return;
      }
      let status: HubStatus;
      try {
        status = await readStatus(options.url);
      } catch (error) {
        console.error(
          `No Switchyard hub answering at ${options.url} (${(error as Error).message}). Start one with \`npx switchyard dev\`, or pass --url.`,
        );
        process.exitCode = 1;
        return;
      }
      console.log(options.json ? JSON.stringify(status, null, 2) : formatStatus(status));
    });
}
