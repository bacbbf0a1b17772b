import type { Command } from 'commander';
import type { QuarantineReason } from '../../functions/core/errors.js';
import type { AuditEntry } from '../../functions/core/ports.js';
import type { EntityView, EventView } from '../console/api.js';
import type { TraceStep } from '../console/trace.js';
import { callHub } from './hub-client.js';

const time = (at: number) => new Date(at).toISOString();

/** One audit entry as a line: where, what, about which record, and why. */
export function describeEntry(entry: AuditEntry): string {
  const lane = entry.flow && entry.destination ? ` ${entry.flow} -> ${entry.destination}` : '';
  const record = entry.entity
    ? ` ${entry.entity} ${entry.id ?? `(${entry.source}:${entry.sourceId})`}${entry.version !== undefined ? ` v${entry.version}` : ''}`
    : '';
  const from = entry.stage === 'ingest' || entry.stage === 'poll' ? ` from ${entry.source}` : '';
  const reason = entry.reason ? `: ${entry.reason}` : '';
  const by = entry.by ? ` (by ${entry.by})` : '';
  return `${entry.stage.padEnd(8)} ${entry.outcome}${from}${lane}${record}${reason}${by}`;
}

function describeStep(step: TraceStep): string {
  switch (step.stage) {
    case 'ingest':
      return `accepted from ${step.source} (HTTP ${step.status})`;
    case 'route':
      return `route attempt ${step.attempt} from ${step.source}: ${step.outcome}`;
    case 'deliver':
      return `deliver attempt ${step.attempt} to ${step.flow}/${step.destination} (${step.entity} ${step.id} v${step.version}): ${step.outcome}`;
    case 'call':
      return `${step.method} ${step.host} -> ${step.status === 0 ? 'no answer' : `HTTP ${step.status}`} in ${step.ms} ms`;
    case 'redrive':
      return `redriven back to ${step.queue}`;
  }
}

const reasonText = (r: QuarantineReason) =>
  `${r.rule}${r.field ? ` (${r.field}${r.value ? ` = ${r.value}` : ''})` : ''}: ${r.message}`;

export function formatEvent(view: EventView): string {
  const lines = [`event ${view.eventId}`];
  if (view.journey.length > 0) lines.push('journey:');
  for (const entry of view.journey) lines.push(`  ${time(entry.at)}  ${describeEntry(entry)}`);
  if (view.lanes.length > 0) lines.push('lanes:');
  for (const lane of view.lanes) {
    const mapping = lane.mapping
      ? `, destination holds ${lane.mapping.destinationId ?? 'it'} (updated ${time(lane.mapping.updatedAt)})`
      : '';
    lines.push(
      `  ${lane.flow} -> ${lane.destination}: ${lane.status} (${lane.entity} ${lane.id} v${lane.version}${mapping})`,
    );
  }
  if (view.quarantine.length > 0) lines.push('quarantine:');
  for (const item of view.quarantine) {
    const where = item.destination ? `${item.flow}/${item.destination}` : 'route';
    lines.push(`  ${time(item.quarantinedAt)}  at ${where}: ${item.reasons.map(reasonText).join('; ')}`);
  }
  if (view.steps.length > 0) lines.push('attempts (recent, in memory):');
  for (const step of view.steps) lines.push(`  ${time(step.at)}  ${describeStep(step)}`);
  return lines.join('\n');
}

export function formatEntity(view: EntityView): string {
  const lines = [
    `entity ${view.key}${view.canonicalIds.length > 0 ? ` (canonical ${view.canonicalIds.join(', ')})` : ''}: ${view.events.length} event(s)`,
  ];
  for (const event of view.events) {
    lines.push(`event ${event.eventId}`);
    for (const entry of event.journey) lines.push(`  ${time(entry.at)}  ${describeEntry(entry)}`);
  }
  return lines.join('\n');
}

interface TraceOptions {
  json?: boolean;
  url: string;
  aws?: boolean;
  stack?: string;
  region?: string;
  config: string;
  days?: number;
}

/** Entries of several events, grouped by event in the order each first appears. */
export function formatEntries(id: string, entries: readonly AuditEntry[]): string {
  const byEvent = new Map<string, AuditEntry[]>();
  for (const entry of entries) byEvent.set(entry.eventId, [...(byEvent.get(entry.eventId) ?? []), entry]);
  const lines = [`${id}: ${byEvent.size} event(s) in the audit trail`];
  for (const [eventId, list] of byEvent) {
    lines.push(`event ${eventId}`);
    for (const entry of list) lines.push(`  ${time(entry.at)}  ${describeEntry(entry)}`);
  }
  return lines.join('\n');
}

async function traceInAws(id: string, options: TraceOptions): Promise<void> {
  const [{ CloudFormationClient }, { CloudWatchLogsClient }, { loadConfigFile }, { traceAws }] =
    await Promise.all([
      import('@aws-sdk/client-cloudformation'),
      import('@aws-sdk/client-cloudwatch-logs'),
      import('../load-config.js'),
      import('../aws-trace.js'),
    ]);
  const config = await loadConfigFile(options.config);
  const client = options.region ? { region: options.region } : {};
  const entries = await traceAws(
    { cloudFormation: new CloudFormationClient(client), logs: new CloudWatchLogsClient(client) },
    { stackName: options.stack ?? config.name, id, days: options.days ?? config.audit.retentionDays },
  );
  if (options.json) console.log(JSON.stringify(entries, null, 2));
  else if (entries.length > 0) console.log(formatEntries(id, entries));
  else
    console.error(
      `No audit lines for "${id}" in the last ${options.days ?? config.audit.retentionDays} day(s).`,
    );
  if (entries.length === 0) process.exitCode = 1;
}

/**
 * `switchyard trace <eventId|entityId>`: an event's journey from the audit trail, or every event
 * that touched an entity (canonical id, or `system:externalId`), in time order.
 */
export function register(program: Command): void {
  program
    .command('trace <id>')
    .description(
      "Show an event's journey across stages from the audit trail, or every event of an entity (canonical id or system:externalId)",
    )
    .option('--json', 'print JSON')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .option(
      '--aws',
      'search the deployed stack’s audit lines with Logs Insights (needs AWS credentials)',
      false,
    )
    .option('--stack <name>', "with --aws: the stack name (default: the config's name)")
    .option('--region <region>', "with --aws: AWS region (default: AWS_REGION or the profile's)")
    .option('--config <file>', 'with --aws: hub config module', 'switchyard.config.ts')
    .option('--days <n>', 'with --aws: how far back to search (default: audit.retentionDays)', (v) =>
      Number(v),
    )
    .action(async (id: string, options: TraceOptions) => {
      if (options.aws) {
        await traceInAws(id, options);
        return;
      }
      const view = await callHub<EventView>(
        options.url,
        'GET',
        `/_switchyard/events/${encodeURIComponent(id)}`,
      );
      if (view.found) {
        console.log(options.json ? JSON.stringify(view, null, 2) : formatEvent(view));
        return;
      }
      const entity = await callHub<EntityView>(
        options.url,
        'GET',
        `/_switchyard/entities/${encodeURIComponent(id)}`,
      );
      if (entity.found) {
        console.log(options.json ? JSON.stringify(entity, null, 2) : formatEntity(entity));
        return;
      }
      if (options.json) console.log(JSON.stringify(view, null, 2));
      else
        console.error(
          `No event or entity "${id}" in the audit trail (kept for audit.retentionDays) or the quarantine.`,
        );
      process.exitCode = 1;
    });
}
