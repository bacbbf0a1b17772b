import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { QuarantineReason } from '../../functions/core/errors.js';
import type { CanonicalReplayResult } from '../../functions/core/ops.js';
import { REPLAY_STATES } from '../../functions/core/ops.js';
import { CommandError } from '../command-error.js';
import { callHub, listAllQuarantined, postJson } from './hub-client.js';

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

export interface ReplayFilter {
  source?: string;
  destination?: string;
  flow?: string;
  entity?: string;
  stage?: string;
  eventId?: string;
  since?: number;
  until?: number;
}

export function matches(item: Listed, filter: ReplayFilter): boolean {
  return (
    (!filter.source || item.source === filter.source) &&
    (!filter.destination || item.destination === filter.destination) &&
    (!filter.flow || item.flow === filter.flow) &&
    (!filter.entity || item.entity === filter.entity) &&
    (!filter.stage || item.stage === filter.stage) &&
    (!filter.eventId || item.eventId === filter.eventId) &&
    (filter.since === undefined || item.quarantinedAt >= filter.since) &&
    (filter.until === undefined || item.quarantinedAt < filter.until)
  );
}

interface ReplayOptions {
  from: string;
  source?: string;
  destination?: string;
  flow?: string;
  entity?: string;
  stage?: string;
  event?: string;
  id?: string;
  state?: string;
  by?: string;
  since?: number;
  until?: number;
  dryRun?: boolean;
  url: string;
}

const isoTime = (name: string) => (value: string) => {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CommandError(`${name} takes an ISO time, such as 2024-05-01T12:00:00Z`);
  return ms;
};

/**
 * `switchyard replay --from quarantine [filters]`: replays the quarantined records that match,
 * through the hub's operator API (each one as `quarantine replay <key>` would), after counting.
 */
export function register(program: Command): void {
  program
    .command('replay')
    .description(
      'Replay records by filter from the quarantine, or from the canonical store by the state the audit trail knows (count first with --dry-run)',
    )
    .requiredOption('--from <store>', 'where to replay from: quarantine or canonical')
    .option('--source <name>', 'only records from this source')
    .option('--destination <name>', 'only records quarantined at this destination')
    .option('--flow <name>', 'only records of this flow')
    .option('--entity <entity>', 'only records of this entity')
    .option('--stage <stage>', 'only records refused at this stage: route or deliver')
    .option('--event <eventId>', 'only this event')
    .option('--id <canonicalId>', 'canonical: only this entity')
    .option('--state <state>', `canonical: only records whose last state is ${REPLAY_STATES.join(', ')}`)
    .option('--by <name>', 'canonical: who is replaying, for the audit trail')
    .option('--since <iso>', 'only records quarantined at or after this time', isoTime('--since'))
    .option('--until <iso>', 'only records quarantined before this time', isoTime('--until'))
    .option('--dry-run', 'count what would be replayed, change nothing')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .action(async (options: ReplayOptions) => {
      if (options.from === 'canonical') {
        await replayCanonical(options);
        return;
      }
      if (options.from !== 'quarantine')
        throw new CommandError(
          `--from ${options.from} is not supported: replay from quarantine or canonical`,
        );
      if (options.stage && options.stage !== 'route' && options.stage !== 'deliver')
        throw new CommandError('--stage is route or deliver');
      const filter: ReplayFilter = {
        ...(options.source ? { source: options.source } : {}),
        ...(options.destination ? { destination: options.destination } : {}),
        ...(options.flow ? { flow: options.flow } : {}),
        ...(options.entity ? { entity: options.entity } : {}),
        ...(options.stage ? { stage: options.stage } : {}),
        ...(options.event ? { eventId: options.event } : {}),
        ...(options.since !== undefined ? { since: options.since } : {}),
        ...(options.until !== undefined ? { until: options.until } : {}),
      };
      const all = await listAllQuarantined<Listed>(options.url);
      const chosen = all.filter((item) => matches(item, filter));
      const byStage = (stage: string) => chosen.filter((i) => i.stage === stage).length;
      const summary = `${chosen.length} of ${all.length} quarantined record(s) match (route: ${byStage('route')}, deliver: ${byStage('deliver')})`;
      if (options.dryRun) {
        console.log(`dry run: ${summary}; nothing was replayed`);
        for (const item of chosen)
          console.log(`  ${item.key}  ${item.stage} ${item.source} ${item.entity ?? ''} ${item.eventId}`);
        return;
      }
      console.log(summary);
      const bar = new SingleBar({
        format: 'replay [{bar}] {value}/{total}',
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 2000,
      });
      bar.start(chosen.length, 0);
      const failed: string[] = [];
      let replayed = 0;
      for (const item of chosen) {
        try {
          await callHub(
            options.url,
            'POST',
            `/_switchyard/ops/quarantine/${encodeURIComponent(item.key)}/replay`,
          );
          replayed += 1;
        } catch (error) {
          failed.push(`${item.key}: ${(error as Error).message}`);
        }
        bar.increment();
      }
      bar.stop();
      console.log(`replayed ${replayed} record(s)${failed.length ? `, ${failed.length} failed` : ''}`);
      for (const line of failed) console.error(`  ${line}`);
      if (failed.length > 0) process.exitCode = 1;
    });
}

/** `replay --from canonical`: the hub selects by the audit trail and sends the current records. */
async function replayCanonical(options: ReplayOptions): Promise<void> {
  if (options.stage)
    throw new CommandError('--stage is for --from quarantine; use --state with --from canonical');
  if (options.state && !(REPLAY_STATES as readonly string[]).includes(options.state))
    throw new CommandError(`--state is one of ${REPLAY_STATES.join(', ')}`);
  const filter = {
    ...(options.source ? { source: options.source } : {}),
    ...(options.destination ? { destination: options.destination } : {}),
    ...(options.flow ? { flow: options.flow } : {}),
    ...(options.entity ? { entity: options.entity } : {}),
    ...(options.event ? { eventId: options.event } : {}),
    ...(options.id ? { id: options.id } : {}),
    ...(options.state ? { state: options.state } : {}),
    ...(options.since !== undefined ? { since: options.since } : {}),
    ...(options.until !== undefined ? { until: options.until } : {}),
  };
  const result = await postJson<CanonicalReplayResult>(options.url, '/_switchyard/ops/replay/canonical', {
    filter,
    dryRun: options.dryRun === true,
    ...(options.by ? { by: options.by } : {}),
  });
  const states = Object.entries(result.byState)
    .map(([state, n]) => `${state}: ${n}`)
    .join(', ');
  const summary = `${result.matched} of ${result.known} record(s) in the audit trail match (${states})`;
  const apart =
    result.withoutCanonical > 0
      ? `; ${result.withoutCanonical} refused before they had a canonical id (replay those --from quarantine)`
      : '';
  if (result.dryRun) {
    console.log(`dry run: ${summary}${apart}; nothing was replayed`);
    for (const item of result.items)
      console.log(
        `  ${item.flow}/${item.destination}  ${item.entity} ${item.id}  ${item.state}  ${item.eventId}`,
      );
    return;
  }
  console.log(`${summary}${apart}`);
  console.log(
    `replayed ${result.sent} record(s) from the canonical store${result.missing > 0 ? `, ${result.missing} no longer there` : ''}`,
  );
}
