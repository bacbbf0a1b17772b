import type { Command } from 'commander';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { deriveTopology, type QueueSpec, type Topology } from '../../functions/core/topology.js';
import { loadConfigFile } from '../load-config.js';

/**
 * `switchyard inventory`: every source and destination with its connector, secret names, the fields it
 * owns, retention, schedule and the alarms that watch it. The list a security review asks for, derived
 * from the same config and topology the stack is built from; alarm names are the ones lib/ gives them
 * (test/e2e/inventory-secrets-cli.test.ts checks them against a synthesized stack).
 */

export interface Retention {
  /** Days the functions' CloudWatch log groups keep their logs. */
  readonly logsDays: number;
  /** Days a quarantined record is kept before DynamoDB TTL removes it. */
  readonly quarantineDays: number;
  /** Days an undelivered message stays on its queue, and on its dead-letter queue. */
  readonly queueDays: number;
  readonly deadLetterQueueDays: number;
}

export interface SourceEntry {
  readonly kind: 'source';
  readonly name: string;
  readonly connector: string;
  /** How events arrive: a webhook route, or a schedule that polls. */
  readonly intake:
    | { readonly type: 'webhook'; readonly path: string }
    | { readonly type: 'poll'; readonly url: string };
  readonly secrets: readonly { readonly name: string; readonly role: 'signing' | 'api-credential' }[];
  /** Seconds a signed timestamp may be off (replay window), for schemes that sign one. */
  readonly replayWindowSeconds: number | null;
  /** Canonical fields this source owns (config.ownership), as `entity.field`. */
  readonly owns: readonly string[];
  /** Flows that read from it. */
  readonly flows: readonly string[];
  readonly schedule: string | null;
  readonly retention: Retention;
  readonly alarms: readonly string[];
}

export interface DestinationEntry {
  readonly kind: 'destination';
  readonly name: string;
  readonly connector: string;
  /** Scheme, host and path only: never credentials or a query string. */
  readonly endpoint: string;
  readonly secrets: readonly { readonly name: string; readonly role: 'token' }[];
  /** What it receives: the flows and their entities. */
  readonly flows: readonly {
    readonly flow: string;
    readonly entity: string;
    readonly from: readonly string[];
  }[];
  /** Fields it owns: destinations own none (ownership is by source system). */
  readonly owns: readonly string[];
  readonly maxConcurrency: number;
  readonly maxReceiveCount: number;
  readonly schedule: null;
  readonly retention: Retention;
  readonly alarms: readonly string[];
}

export interface Inventory {
  readonly hub: string;
  readonly sources: readonly SourceEntry[];
  readonly destinations: readonly DestinationEntry[];
  /** Alarms that watch the hub as a whole (the inbound lane and the route function). */
  readonly hubAlarms: readonly string[];
}

const DAY = 86_400;

interface SourceSettings {
  readonly connector: string;
  readonly secret?: string;
  readonly schedule?: string;
  readonly url?: string;
  readonly toleranceSeconds?: number;
  /** Stripe's list API key, which reconciliation reads. */
  readonly api?: { readonly secret?: string };
}

/** `https://user:pw@host/path?q` -> `https://host/path`. */
export function safeEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** The alarms lib/constructs/alarms.ts creates for a queue: DLQ not empty, oldest message too old. */
function queueAlarms(queue: QueueSpec | undefined): string[] {
  return queue ? [`${queue.deadLetter.name}-not-empty`, `${queue.name}-oldest-message-age`] : [];
}

export function buildInventory(
  config: SwitchyardConfig,
  topology: Topology = deriveTopology(config),
): Inventory {
  const hub = topology.name;
  const queue = (key: string) => topology.queues.find((q) => q.key === key);
  const errorRate = (fn: string) =>
    topology.functions.some((f) => f.key === fn) ? [`${hub}-${fn}-error-rate`] : [];
  const inbound = queue('inbound');
  const retention = (q: QueueSpec | undefined): Retention => ({
    logsDays: config.logs.retentionDays,
    quarantineDays: config.quarantine.retentionDays,
    queueDays: q ? Math.round(q.retentionSeconds / DAY) : 0,
    deadLetterQueueDays: q ? Math.round(q.deadLetter.retentionSeconds / DAY) : 0,
  });
  const ownership = config.ownership as Readonly<
    Record<string, Readonly<Record<string, string>> | undefined>
  >;
  const owned = (source: string) =>
    Object.entries(ownership)
      .flatMap(([entity, fields]) =>
        Object.entries(fields ?? {})
          .filter(([, owner]) => owner === source)
          .map(([field]) => `${entity}.${field}`),
      )
      .sort();

  const sources = Object.entries(config.sources as Readonly<Record<string, SourceSettings>>).map(
    ([name, settings]): SourceEntry => {
      const schedule = topology.schedules.find((s) => s.source === name);
      const polled = schedule !== undefined || settings.schedule !== undefined;
      const route = topology.routes.find((r) => r.source === name);
      const entry = polled ? (schedule?.function ?? 'poll') : (route?.function ?? 'ingest');
      return {
        kind: 'source',
        name,
        connector: settings.connector,
        intake: polled
          ? { type: 'poll', url: safeEndpoint(settings.url ?? '') }
          : { type: 'webhook', path: route?.path ?? `/webhooks/${name}` },
        secrets: [
          ...(settings.secret
            ? [{ name: settings.secret, role: polled ? ('api-credential' as const) : ('signing' as const) }]
            : []),
          ...(settings.api?.secret ? [{ name: settings.api.secret, role: 'api-credential' as const }] : []),
        ],
        replayWindowSeconds:
          !polled && settings.toleranceSeconds !== undefined ? settings.toleranceSeconds : null,
        owns: owned(name),
        flows: config.flows.filter((f) => f.from.includes(name)).map((f) => f.name),
        schedule: schedule?.expression ?? settings.schedule ?? null,
        retention: retention(inbound),
        alarms: [
          `${hub}-source-${name}-quarantine-rate`,
          `${hub}-source-${name}-volume-anomaly`,
          ...(schedule ? [`${hub}-source-${name}-poll-lag`] : []),
          ...errorRate(entry),
          ...queueAlarms(inbound),
        ],
      };
    },
  );

  const destinations = Object.entries(config.destinations).map(([name, settings]): DestinationEntry => {
    const lane = topology.queues.find((q) => q.destination === name);
    const flows = config.flows.filter((f) => f.to.includes(name));
    return {
      kind: 'destination',
      name,
      connector: settings.connector,
      endpoint: safeEndpoint(settings.url),
      secrets: settings.secret ? [{ name: settings.secret, role: 'token' }] : [],
      flows: flows.map((f) => ({ flow: f.name, entity: f.entity, from: f.from })),
      owns: [],
      maxConcurrency: settings.maxConcurrency,
      maxReceiveCount: settings.retry.maxReceiveCount,
      schedule: null,
      retention: retention(lane),
      alarms: [
        ...queueAlarms(lane),
        ...(lane ? errorRate(lane.consumer) : []),
        ...flows.flatMap((f) => [
          `${hub}-${f.name}-${name}-latency-p99`,
          `${hub}-${f.name}-${name}-quarantine-rate`,
        ]),
      ],
    };
  });

  const drift = topology.reconciles.map((r) => `${hub}-flow-${r.flow}-reconcile-drift`);
  return {
    hub,
    sources,
    destinations,
    hubAlarms: [...queueAlarms(inbound), ...errorRate('route'), ...errorRate('reconcile'), ...drift],
  };
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const list = (items: readonly string[]) => (items.length > 0 ? items.join(', ') : '-');
const retentionText = (r: Retention) =>
  `logs ${r.logsDays} d, queue ${r.queueDays} d, DLQ ${r.deadLetterQueueDays} d, quarantine ${r.quarantineDays} d`;

/** The human-readable inventory: one summary table, then every entry's alarms. */
export function formatInventory(inventory: Inventory): string {
  const rows: string[][] = [['KIND', 'NAME', 'CONNECTOR', 'SECRETS', 'OWNS', 'SCHEDULE', 'RETENTION']];
  for (const s of inventory.sources) {
    rows.push([
      'source',
      s.name,
      s.connector,
      list(s.secrets.map((x) => `${x.name} (${x.role})`)),
      list(s.owns),
      s.schedule ?? `none (${s.intake.type === 'webhook' ? `webhook ${s.intake.path}` : 'poll'})`,
      retentionText(s.retention),
    ]);
  }
  for (const d of inventory.destinations) {
    rows.push([
      'destination',
      d.name,
      d.connector,
      list(d.secrets.map((x) => `${x.name} (${x.role})`)),
      list(d.owns),
      'none',
      retentionText(d.retention),
    ]);
  }
  const alarms = [
    ...inventory.sources.map((s) => `source ${s.name}: ${list(s.alarms)}`),
    ...inventory.destinations.map(
      (d) =>
        `destination ${d.name} (${d.endpoint}; flows ${list(d.flows.map((f) => `${f.flow} [${f.entity}]`))}): ${list(d.alarms)}`,
    ),
    `hub: ${list(inventory.hubAlarms)}`,
  ];
  return `Switchyard hub "${inventory.hub}": ${inventory.sources.length} source(s), ${inventory.destinations.length} destination(s)\n\n${table(rows)}\n\nAlarms watching each:\n${alarms.map((a) => `  ${a}`).join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('inventory')
    .description(
      'List every source and destination: connector, secrets, owned fields, retention, schedule, alarms',
    )
    .option('--config <file>', 'hub config module', 'switchyard.config.ts')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (options: { config: string; json: boolean }) => {
      const inventory = buildInventory(await loadConfigFile(options.config));
      process.stdout.write(
        options.json ? `${JSON.stringify(inventory, null, 2)}\n` : formatInventory(inventory),
      );
    });
}
