import { CronExpressionParser } from 'cron-parser';

const UNIT_SECONDS: Record<string, number> = { minute: 60, hour: 3600, day: 86_400 };
/** Runs of a cron schedule looked at to find its longest gap: a bit more than a year of daily runs. */
const CRON_SAMPLE = 400;

/**
 * The longest time, in seconds, between two runs of an EventBridge Scheduler expression:
 * `rate(N minutes|hours|days)` exactly; `cron(min hour day-of-month month day-of-week year)` by
 * walking its next runs (UTC, from a fixed date so the result is the same on every synth). A poll-lag
 * alarm has to allow for the longest gap, or a weekday-only schedule would alarm every weekend.
 *
 * @throws Error when the expression is neither
 */
export function longestIntervalSeconds(expression: string): number {
  const rate = /^rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)$/.exec(expression.trim());
  if (rate) return Number(rate[1]) * (UNIT_SECONDS[rate[2] ?? ''] ?? 0);
  const cron = /^cron\((.*)\)$/.exec(expression.trim());
  const fields = cron?.[1]?.trim().split(/\s+/);
  if (fields?.length !== 6) {
    throw new Error(
      `Not an EventBridge Scheduler rate(...) or 6-field cron(...) expression: "${expression}"`,
    );
  }
  // EventBridge's `?` is "any"; its year field has no counterpart in cron-parser and is dropped.
  const [minute, hour, dom, month, dow] = fields.map((field) => field.replace('?', '*'));
  let runs: ReturnType<typeof CronExpressionParser.parse>;
  try {
    runs = CronExpressionParser.parse(`${minute} ${hour} ${dom} ${month} ${dow}`, {
      currentDate: new Date('2025-01-01T00:00:00Z'),
      tz: 'UTC',
    });
  } catch {
    // EventBridge syntax cron-parser lacks (such as `W`, nearest weekday): assume at most daily.
    return UNIT_SECONDS.day ?? 86_400;
  }
  let previous = runs.next().getTime();
  let longest = 0;
  for (let i = 0; i < CRON_SAMPLE && runs.hasNext(); i++) {
    const next = runs.next().getTime();
    longest = Math.max(longest, (next - previous) / 1000);
    previous = next;
  }
  return longest;
}
