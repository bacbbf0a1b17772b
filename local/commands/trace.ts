import type { Command } from 'commander';
import type { QuarantineReason } from '../../functions/core/errors.js';
import type { EventView } from '../console/api.js';
import type { TraceStep } from '../console/trace.js';
import { callHub } from './hub-client.js';

const time = (at: number) => new Date(at).toISOString();

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

/** `switchyard trace <eventId>`: one event's journey through the running hub, stage by stage. */
export function register(program: Command): void {
  program
    .command('trace <eventId>')
    .description("Show an event's journey: steps with times, each destination lane, quarantine reasons")
    .option('--json', 'print JSON')
    .option('--url <url>', 'the local hub', 'http://127.0.0.1:3000')
    .action(async (eventId: string, options: { json?: boolean; url: string }) => {
      const view = await callHub<EventView>(
        options.url,
        'GET',
        `/_switchyard/events/${encodeURIComponent(eventId)}`,
      );
      if (options.json) {
        console.log(JSON.stringify(view, null, 2));
        if (!view.found) process.exitCode = 1;
        return;
      }
      if (!view.found) {
        console.error(
          `No event "${eventId}" in the local trace or the quarantine. The trace keeps recent events in memory only (cleared on restart).`,
        );
        process.exitCode = 1;
        return;
      }
      console.log(`event ${view.eventId}`);
      if (view.steps.length > 0) console.log('steps:');
      for (const step of view.steps) console.log(`  ${time(step.at)}  ${describeStep(step)}`);
      if (view.lanes.length > 0) console.log('lanes:');
      for (const lane of view.lanes) {
        const mapping = lane.mapping
          ? `, destination holds ${lane.mapping.destinationId ?? 'it'} (updated ${time(lane.mapping.updatedAt)})`
          : '';
        console.log(
          `  ${lane.flow} -> ${lane.destination}: ${lane.status} (${lane.entity} ${lane.id} v${lane.version}, ${lane.attempts} attempt(s)${mapping})`,
        );
      }
      if (view.quarantine.length > 0) console.log('quarantine:');
      for (const item of view.quarantine) {
        const where = item.destination ? `${item.flow}/${item.destination}` : 'route';
        console.log(`  ${time(item.quarantinedAt)}  at ${where}: ${item.reasons.map(reasonText).join('; ')}`);
      }
      console.log(view.note);
    });
}
