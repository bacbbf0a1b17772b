import type { DestinationConfig } from './config.js';
import type { BreakerState, BreakerStore, Clock } from './ports.js';

/**
 * The circuit breaker of one destination, as one deliver invocation sees it: read once per batch,
 * written only when it changes (a failure, a recovery), so a healthy lane pays one read per batch.
 * Concurrent invocations race on the write; the breaker is a brake, not a lock. The one thing a
 * write from an older read must not do is shorten a pause another invocation set (a success closing
 * it at once, a failure below the threshold writing the closed state it read): the store refuses
 * that, and the breaker then reads the state that won.
 */
export class CircuitBreaker {
  private state: BreakerState | undefined;
  private loaded = false;

  constructor(
    private readonly store: BreakerStore,
    private readonly destination: string,
    private readonly settings: DestinationConfig['circuitBreaker'],
    private readonly clock: Clock,
  ) {}

  async load(): Promise<void> {
    if (this.loaded || !this.settings.enabled) return;
    this.state = await this.store.getBreaker(this.destination);
    this.loaded = true;
  }

  /** Epoch ms the lane stays paused until, or undefined when calls may go out (closed or probing). */
  openUntil(): number | undefined {
    const until = this.state?.openUntil ?? 0;
    return until > this.clock.now() ? until : undefined;
  }

  async recordSuccess(): Promise<void> {
    if (!this.settings.enabled || !this.state || (this.state.failures === 0 && this.state.openUntil === 0))
      return;
    await this.write({ failures: 0, openUntil: 0, openSeconds: this.settings.openSeconds });
  }

  private async write(state: BreakerState): Promise<void> {
    this.state = state;
    if (!(await this.store.putBreaker(this.destination, state, this.clock.now())))
      this.state = await this.store.getBreaker(this.destination);
  }

  /**
   * Counts a transient failure; opens (or, after a failed probe, reopens for twice as long). When
   * the failure carried a Retry-After longer than the pause, the lane stays paused that long: the
   * records the open breaker holds must not come back before the destination asked.
   */
  async recordFailure(retryAfterSeconds?: number): Promise<void> {
    if (!this.settings.enabled) return;
    const now = this.clock.now();
    const failures = (this.state?.failures ?? 0) + 1;
    let { openUntil = 0, openSeconds = this.settings.openSeconds } = this.state ?? {};
    if (failures >= this.settings.failureThreshold) {
      // Already opened before and failed again once it let a probe through: back off further.
      const probeFailed = (this.state?.openUntil ?? 0) > 0 && (this.state?.openUntil ?? 0) <= now;
      openSeconds = probeFailed
        ? Math.min(openSeconds * 2, this.settings.maxOpenSeconds)
        : this.settings.openSeconds;
      openUntil = now + Math.max(openSeconds, Math.min(retryAfterSeconds ?? 0, 43_200)) * 1000;
    }
    await this.write({ failures, openUntil, openSeconds });
  }
}
