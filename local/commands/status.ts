import type { Command } from 'commander';
import type { HubInfo, QuarantineList } from '../console/api.js';
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
  if (!response.ok) throw new Error(`${path} answered HTTP ${response.status}`);
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

interface StatusOptions {
  url: string;
  json: boolean;
}

/** `switchyard status`: the running local hub at a glance (lanes, queues, DLQs, quarantine, G3). */
export function register(program: Command): void {
  program
    .command('status')
    .description('Show lanes, queue depths, DLQs, quarantine and balance of a running local hub')
    .option('--url <url>', 'base URL of the running hub (switchyard dev)', 'http://127.0.0.1:3000')
    .option('--json', 'print one JSON object instead of tables', false)
    .action(async (options: StatusOptions) => {
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
