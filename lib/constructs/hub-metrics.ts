import { Duration } from 'aws-cdk-lib';
import { MathExpression, Metric, type MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import type { Topology } from '../../functions/core/topology.js';

/**
 * The dimension names the handlers put on the hub's EMF metrics, and nothing else. Each has a
 * bounded set of values: flow, destination and source names come from the config, `reason` from
 * the code's closed lists (rejection codes, skip reasons), `secret` is `current` or `previous`, and
 * `service` is the hub's name (Powertools adds it to every metric). Never an event, entity or
 * request id: each distinct dimension value is a separate, billed custom metric.
 */
export const HUB_METRIC_DIMENSIONS = [
  'service',
  'flow',
  'destination',
  'source',
  'reason',
  'secret',
] as const;

/** A lane: one destination of one flow, the unit the deliver metrics are counted in. */
export interface Lane {
  readonly flow: string;
  readonly destination: string;
}

/** Counters per lane (dims flow, destination, service); `skipped` also has `reason`. */
export type LaneCounter = 'routed' | 'delivered' | 'skipped' | 'quarantined' | 'deadLettered' | 'retried';
/** Counters per source (dims source, service); `rejected` and `skipped` also have `reason`. */
export type SourceCounter =
  | 'received'
  | 'accepted'
  | 'rejected'
  | 'routed'
  | 'skipped'
  | 'quarantined'
  | 'deadLettered'
  | 'polled'
  | 'pollFailed';
/** Counters per flow (dims flow, service): each reconcile run's drift, 0 included. */
export type FlowCounter = 'reconcileDrift' | 'reconcileFailed';
/** Timings per lane, in milliseconds. */
export type LaneTiming = 'endToEndLatency' | 'destinationCallLatency';
/** Timings per source, in milliseconds: how far behind the newest polled row is. */
export type SourceTiming = 'pollLag';

/**
 * Builds CloudWatch metrics for what the handlers publish as EMF (functions/aws/emf-telemetry.ts):
 * namespace and service name are read from the topology's function environment
 * (POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_SERVICE_NAME), the same values the functions use, so a
 * dashboard or alarm cannot point at a metric the functions never write.
 */
export class HubMetrics {
  readonly namespace: string;
  readonly service: string;

  constructor(topology: Pick<Topology, 'name' | 'functions'>) {
    const literal = (name: string): string | undefined => {
      for (const fn of topology.functions) {
        const ref = fn.env[name];
        if (ref?.kind === 'literal') return ref.value;
      }
      return undefined;
    };
    this.namespace = literal('POWERTOOLS_METRICS_NAMESPACE') ?? 'Switchyard';
    this.service = literal('POWERTOOLS_SERVICE_NAME') ?? topology.name;
  }

  private metric(metricName: string, dimensions: Record<string, string>, options: MetricOptions): Metric {
    return new Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { ...dimensions, service: this.service },
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...options,
    });
  }

  lane(name: LaneCounter, lane: Lane, options: MetricOptions = {}): Metric {
    return this.metric(name, { flow: lane.flow, destination: lane.destination }, { label: name, ...options });
  }

  flow(name: FlowCounter, flow: string, options: MetricOptions = {}): Metric {
    return this.metric(name, { flow }, options);
  }

  laneTiming(name: LaneTiming, lane: Lane, statistic: string, options: MetricOptions = {}): Metric {
    return this.metric(name, { flow: lane.flow, destination: lane.destination }, { statistic, ...options });
  }

  source(name: SourceCounter, source: string, options: MetricOptions = {}): Metric {
    return this.metric(name, { source }, { label: `${name} ${source}`, ...options });
  }

  sourceTiming(name: SourceTiming, source: string, statistic: string, options: MetricOptions = {}): Metric {
    return this.metric(name, { source }, { statistic, ...options });
  }

  /**
   * Every `reason` of a counter, one line each, via a CloudWatch SEARCH over the exact dimension set
   * (`reason` is bounded, but new reasons appear with new connectors; SEARCH picks them up).
   */
  byReason(
    name: 'rejected' | 'skipped' | 'pollFailed',
    dimensions: Readonly<Record<string, string>>,
    period: Duration = Duration.minutes(5),
  ): MathExpression {
    const all = { ...dimensions, service: this.service };
    const schema = [this.namespace, ...Object.keys(all), 'reason'].sort((a, b) =>
      a === this.namespace ? -1 : b === this.namespace ? 1 : a.localeCompare(b),
    );
    const filters = Object.entries(all)
      .map(([key, value]) => `${key}="${value}"`)
      .join(' ');
    return new MathExpression({
      expression: `SEARCH('{${schema.join(',')}} MetricName="${name}" ${filters}', 'Sum', ${period.toSeconds()})`,
      usingMetrics: {},
      label: `${name} by reason`,
      period,
    });
  }
}

/** The lanes of the config's flows, in config order. */
export function lanesOf(flows: readonly { readonly name: string; readonly to: readonly string[] }[]): Lane[] {
  return flows.flatMap((flow) => flow.to.map((destination) => ({ flow: flow.name, destination })));
}
