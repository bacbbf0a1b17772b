export interface BackoffPolicy {
  readonly baseDelaySeconds: number;
  readonly maxDelaySeconds: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base * 2^(attempt-1))],
 * never shorter than the destination's Retry-After. `attempt` counts from 1.
 */
export function backoffSeconds(
  attempt: number,
  policy: BackoffPolicy,
  retryAfterSeconds?: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelaySeconds, policy.baseDelaySeconds * 2 ** Math.max(0, attempt - 1));
  const jittered = random() * ceiling;
  return Math.max(jittered, Math.min(retryAfterSeconds ?? 0, 43_200));
}
