import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ConfigError } from '../../functions/core/errors.js';

/** The retention periods CloudWatch Logs accepts, in days (RetentionDays without INFINITE). */
export const CLOUDWATCH_RETENTION_DAYS: readonly number[] = Object.values(RetentionDays)
  .filter((value): value is number => typeof value === 'number' && value !== RetentionDays.INFINITE)
  .sort((a, b) => a - b);

/**
 * Maps a number of days to the CloudWatch Logs retention with exactly that many days.
 *
 * CloudWatch accepts only a fixed set of periods (1, 3, 5, 7, 14, 30, ... 3653), so a config value
 * such as 10 or 45 would fail at deploy time. This throws at synth instead, naming the field and
 * the value.
 *
 * @param days the retention the config asks for
 * @param field the config path to name in the error, e.g. `logs.retentionDays`
 * @throws ConfigError when `days` is not a CloudWatch Logs retention period
 */
export function toRetentionDays(days: number, field = 'retentionDays'): RetentionDays {
  if (!CLOUDWATCH_RETENTION_DAYS.includes(days)) {
    throw new ConfigError([
      `${field}: must be a CloudWatch Logs retention period in days, one of ${CLOUDWATCH_RETENTION_DAYS.join(', ')} (got ${JSON.stringify(days)})`,
    ]);
  }
  return days as RetentionDays;
}
