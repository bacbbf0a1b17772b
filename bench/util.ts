/** Small helpers shared by the bench sections. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
  );
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export const round = (n: number, digits = 2): number => (Number.isFinite(n) ? Number(n.toFixed(digits)) : n);

/** `value / baseline`, rounded; NaN when there is no baseline. */
export const ratio = (value: number, baseline: number, digits = 2): number =>
  baseline > 0 && Number.isFinite(value) ? round(value / baseline, digits) : Number.NaN;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A target from issue 8, checked: what was measured, the limit, and whether it holds. */
export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean;
}

export function check(target: string, measured: string, met: boolean): TargetCheck {
  return { target, measured, met };
}

/** Samples this process's resident set size while something runs; `peak` is the highest sample. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private samples = 0;
  startMb = 0;
  peakMb = 0;

  start(intervalMs = 100): void {
    this.startMb = process.memoryUsage.rss() / 2 ** 20;
    this.peakMb = this.startMb;
    this.timer = setInterval(() => {
      this.samples += 1;
      this.peakMb = Math.max(this.peakMb, process.memoryUsage.rss() / 2 ** 20);
    }, intervalMs);
    this.timer.unref();
  }

  stop(): { startMb: number; peakMb: number; samples: number } {
    clearInterval(this.timer);
    this.peakMb = Math.max(this.peakMb, process.memoryUsage.rss() / 2 ** 20);
    return { startMb: round(this.startMb, 1), peakMb: round(this.peakMb, 1), samples: this.samples };
  }
}

/** Runs `work` over `items` with at most `concurrency` in flight. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        await work(items[i] as T, i);
      }
    }),
  );
}
