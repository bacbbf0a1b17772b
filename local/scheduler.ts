import { CronExpressionParser } from 'cron-parser';
import type { ScheduleSpec } from '../functions/core/topology.js';
import type { Logger } from './log.js';

const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Milliseconds between runs of `rate(N unit)`. */
export function rateMs(expression: string): number | undefined {
  const match = /^rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)$/.exec(expression.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0);
}

/**
 * The next run of an EventBridge `cron(min hour day-of-month month day-of-week year)` after `from`.
 * EventBridge's `?` means "any" and its year field is dropped (cron-parser has none); UTC, as in AWS.
 */
export function nextCronRun(expression: string, from: Date): Date | undefined {
  const match = /^cron\((.*)\)$/.exec(expression.trim());
  if (!match?.[1]) return undefined;
  const fields = match[1].trim().split(/\s+/);
  if (fields.length !== 6) return undefined;
  const [minute, hour, dom, month, dow] = fields.map((f) => f.replace('?', '*'));
  const parsed = CronExpressionParser.parse(`${minute} ${hour} ${dom} ${month} ${dow}`, {
    currentDate: from,
    tz: 'UTC',
  });
  return parsed.next().toDate();
}

/**
 * The local stand-in for EventBridge Scheduler: fires each schedule's target with `{ source }`.
 * A run still going when the next is due does not stop the next from starting; the poll's lease
 * refuses it, as in AWS.
 */
export class LocalScheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly schedules: readonly ScheduleSpec[],
    private readonly fire: (schedule: ScheduleSpec) => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  start(): void {
    for (const schedule of this.schedules) this.plan(schedule);
  }

  private plan(schedule: ScheduleSpec): void {
    if (this.stopped) return;
    const every = rateMs(schedule.expression);
    const next =
      every === undefined ? nextCronRun(schedule.expression, new Date()) : new Date(Date.now() + every);
    if (!next) {
      this.log.error('unreadable schedule; it will not run locally', {
        source: schedule.source,
        expression: schedule.expression,
      });
      return;
    }
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        const run = this.fire(schedule)
          .catch((error: unknown) => {
            this.log.warn('scheduled run failed', {
              source: schedule.source,
              error: (error as Error).message,
            });
          })
          .finally(() => this.running.delete(run));
        this.running.add(run);
        this.plan(schedule);
      },
      Math.max(0, next.getTime() - Date.now()),
    );
    timer.unref();
    this.timers.add(timer);
  }

  /** Stops planning and waits for runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
  }
}
