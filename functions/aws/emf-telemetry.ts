import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Dimensions, Telemetry } from '../core/ports.js';

/**
 * Metrics as CloudWatch Embedded Metric Format log lines (never PutMetricData per call). Counts are
 * summed per dimension set during an invocation and written as one EMF document per set on flush.
 */
export class EmfTelemetry implements Telemetry {
  private readonly buffered = new Map<
    string,
    { dimensions: Dimensions; counts: Map<string, number>; timings: Map<string, number[]> }
  >();

  constructor(private readonly options: { readonly namespace: string; readonly serviceName: string }) {}

  private entry(dimensions: Dimensions) {
    const key = JSON.stringify(Object.entries(dimensions).sort());
    let entry = this.buffered.get(key);
    if (!entry) {
      entry = { dimensions, counts: new Map(), timings: new Map() };
      this.buffered.set(key, entry);
    }
    return entry;
  }

  count(metric: string, dimensions: Dimensions, value = 1): void {
    const { counts } = this.entry(dimensions);
    counts.set(metric, (counts.get(metric) ?? 0) + value);
  }

  timing(metric: string, dimensions: Dimensions, milliseconds: number): void {
    const { timings } = this.entry(dimensions);
    timings.set(metric, [...(timings.get(metric) ?? []), milliseconds]);
  }

  flush(): void {
    for (const { dimensions, counts, timings } of this.buffered.values()) {
      // One Metrics per dimension set: an EMF document carries a single set of dimensions.
      const document = new Metrics(this.options);
      document.addDimensions({ ...dimensions });
      for (const [name, value] of counts) document.addMetric(name, MetricUnit.Count, value);
      for (const [name, values] of timings) {
        for (const value of values) document.addMetric(name, MetricUnit.Milliseconds, value);
      }
      document.publishStoredMetrics();
    }
    this.buffered.clear();
  }
}
