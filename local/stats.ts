import type { SwitchyardConfig } from '../functions/core/config.js';
import type { Dimensions, Telemetry } from '../functions/core/ports.js';

type Counts = Record<string, number>;

export interface SourceStats {
  received: number;
  accepted: number;
  rejected: Counts;
  /** Events the route step finished with, whatever it decided. */
  routed: number;
  /** Events that reached at least one flow destination. */
  fannedOut: number;
  skipped: Counts;
  quarantined: number;
  /** Dead-lettered on the inbound queue and not redriven since. */
  deadLettered: number;
  /** Moved back from the inbound DLQ by a redrive (each is in flight again). */
  redriven: number;
  /** Accepted events not yet routed: accepted - routed - deadLettered. */
  inFlight: number;
  signatureVerified: Counts;
}

export interface LaneStats {
  accepted: number;
  delivered: number;
  skipped: Counts;
  quarantined: number;
  /** Dead-lettered and not redriven since. */
  deadLettered: number;
  /** Moved back from the DLQ by a redrive (each is in flight again). */
  redriven: number;
  retried: number;
  inFlight: number;
  /** End-to-end latency (received to delivered) over the last deliveries; null before the first. */
  latencyMs: { p50: number; p99: number } | null;
}

export interface DestinationStats extends LaneStats {
  deadLetterDepth: number;
}

export interface HubStats {
  queues: { inbound: { depth: number; deadLetterDepth: number } };
  sources: Record<string, SourceStats>;
  flows: Record<string, Record<string, LaneStats>>;
  destinations: Record<string, DestinationStats>;
  /**
   * G3 in units of one (event, flow destination) pair; an event that concerns no destination
   * counts once. inFlight is measured on the queues, not derived, so `balanced` can fail.
   */
  totals: {
    accepted: number;
    delivered: number;
    skipped: number;
    quarantined: number;
    deadLettered: number;
    inFlight: number;
  };
  balanced: boolean;
}

/** Queue depths the runtime reads from the emulator when stats are asked for. */
export interface QueueDepths {
  inbound: number;
  inboundDeadLetter: number;
  destinations: Record<string, { depth: number; deadLetterDepth: number }>;
}

const sum = (counts: Counts): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** Latency percentiles are over this many most recent deliveries per lane. */
const LATENCY_WINDOW = 1000;

/** Nearest-rank percentile of `values`, or undefined when there are none. */
function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function latency(values: readonly number[]): LaneStats['latencyMs'] {
  const recent = values.slice(-LATENCY_WINDOW);
  const p50 = percentile(recent, 50);
  const p99 = percentile(recent, 99);
  return p50 === undefined || p99 === undefined ? null : { p50: Math.round(p50), p99: Math.round(p99) };
}

/**
 * The local stand-in for CloudWatch metrics: the same counters the handlers emit as EMF in AWS,
 * kept in memory and served at /_switchyard/stats.
 */
export class LocalTelemetry implements Telemetry {
  private readonly counters = new Map<string, number>();
  private readonly timings = new Map<string, number[]>();

  private static key(metric: string, dimensions: Dimensions): string {
    return JSON.stringify([metric, Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : 1))]);
  }

  count(metric: string, dimensions: Dimensions, value = 1): void {
    const key = LocalTelemetry.key(metric, dimensions);
    this.counters.set(key, (this.counters.get(key) ?? 0) + value);
  }

  timing(metric: string, dimensions: Dimensions, milliseconds: number): void {
    const key = LocalTelemetry.key(metric, dimensions);
    const values = this.timings.get(key) ?? [];
    values.push(milliseconds);
    this.timings.set(key, values);
  }

  flush(): void {}

  /** The counters as entries, to carry them across a restart (see local/queue-recovery.ts). */
  exportCounters(): [string, number][] {
    return [...this.counters];
  }

  importCounters(entries: readonly [string, number][]): void {
    for (const [key, value] of entries) this.counters.set(key, (this.counters.get(key) ?? 0) + value);
  }

  /** Every (metric, dimension set) recorded so far: what CloudWatch would hold as custom metrics. */
  dimensionSets(): { metric: string; dimensions: Record<string, string> }[] {
    return [...this.counters.keys(), ...this.timings.keys()].map((key) => {
      const [metric, entries] = JSON.parse(key) as [string, [string, string][]];
      return { metric, dimensions: Object.fromEntries(entries) };
    });
  }

  /** Every recorded value of a timing metric, across dimension sets that include `dimensions`. */
  timingsOf(metric: string, dimensions: Dimensions = {}): number[] {
    return [...this.timings].flatMap(([key, values]) =>
      this.matches(key, metric, dimensions) ? values : [],
    );
  }

  private matches(key: string, metric: string, dimensions: Dimensions): boolean {
    const [name, entries] = JSON.parse(key) as [string, [string, string][]];
    if (name !== metric) return false;
    const dims = Object.fromEntries(entries);
    return Object.entries(dimensions).every(([k, v]) => dims[k] === v);
  }

  /** Sum of a counter where the dimension set is exactly `dimensions` plus, optionally, a reason. */
  private counted(metric: string, dimensions: Dimensions): { total: number; byReason: Counts } {
    const byReason: Counts = {};
    let total = 0;
    for (const [key, value] of this.counters) {
      const [name, entries] = JSON.parse(key) as [string, [string, string][]];
      if (name !== metric) continue;
      const dims = Object.fromEntries(entries);
      const { reason, ...rest } = dims;
      if (Object.keys(rest).length !== Object.keys(dimensions).length) continue;
      if (!Object.entries(dimensions).every(([k, v]) => rest[k] === v)) continue;
      total += value;
      if (reason !== undefined) byReason[reason] = (byReason[reason] ?? 0) + value;
    }
    return { total, byReason };
  }

  snapshot(config: SwitchyardConfig, depths: QueueDepths): HubStats {
    const sources: Record<string, SourceStats> = {};
    for (const source of Object.keys(config.sources)) {
      const dims = { source };
      const secretCounts: Counts = {};
      for (const which of ['current', 'previous']) {
        const n = this.counted('signatureVerified', { source, secret: which }).total;
        if (n > 0) secretCounts[which] = n;
      }
      sources[source] = {
        received: this.counted('received', dims).total,
        accepted: this.counted('accepted', dims).total,
        rejected: this.counted('rejected', dims).byReason,
        routed: this.counted('routed', dims).total,
        fannedOut: this.counted('fannedOut', dims).total,
        skipped: this.counted('skipped', dims).byReason,
        quarantined: this.counted('quarantined', dims).total,
        deadLettered: this.counted('deadLettered', dims).total - this.counted('redriven', dims).total,
        redriven: this.counted('redriven', dims).total,
        inFlight: 0,
        signatureVerified: secretCounts,
      };
    }
    const unknown = this.counted('rejected', { source: '(unknown)' });
    if (unknown.total > 0) {
      sources['(unknown)'] = {
        received: 0,
        accepted: 0,
        rejected: unknown.byReason,
        routed: 0,
        fannedOut: 0,
        skipped: {},
        quarantined: 0,
        deadLettered: 0,
        redriven: 0,
        inFlight: 0,
        signatureVerified: {},
      };
    }
    const flows: Record<string, Record<string, LaneStats>> = {};
    const destinations: Record<string, DestinationStats> = {};
    for (const flow of config.flows) {
      const lanes: Record<string, LaneStats> = {};
      for (const destination of flow.to) {
        const dims = { flow: flow.name, destination };
        const lane: LaneStats = {
          accepted: this.counted('routed', dims).total,
          delivered: this.counted('delivered', dims).total,
          skipped: this.counted('skipped', dims).byReason,
          quarantined: this.counted('quarantined', dims).total,
          deadLettered: this.counted('deadLettered', dims).total - this.counted('redriven', dims).total,
          redriven: this.counted('redriven', dims).total,
          retried: this.counted('retried', dims).total,
          inFlight: 0,
          latencyMs: latency(this.timingsOf('endToEndLatency', dims)),
        };
        lane.inFlight = Math.max(
          0,
          lane.accepted - lane.delivered - sum(lane.skipped) - lane.quarantined - lane.deadLettered,
        );
        lanes[destination] = lane;
        const total = destinations[destination] ?? {
          accepted: 0,
          delivered: 0,
          skipped: {},
          quarantined: 0,
          deadLettered: 0,
          redriven: 0,
          retried: 0,
          inFlight: depths.destinations[destination]?.depth ?? 0,
          latencyMs: latency(this.timingsOf('endToEndLatency', { destination })),
          deadLetterDepth: depths.destinations[destination]?.deadLetterDepth ?? 0,
        };
        destinations[destination] = total;
        total.accepted += lane.accepted;
        total.delivered += lane.delivered;
        total.quarantined += lane.quarantined;
        total.deadLettered += lane.deadLettered;
        total.redriven += lane.redriven;
        total.retried += lane.retried;
        for (const [reason, n] of Object.entries(lane.skipped))
          total.skipped[reason] = (total.skipped[reason] ?? 0) + n;
      }
      flows[flow.name] = lanes;
    }
    // The inbound queue is shared by every source; attribute what it holds to the hub as a whole.
    const sourceList = Object.values(sources);
    const laneList = Object.values(destinations);
    const totals = {
      accepted:
        sourceList.reduce((n, s) => n + s.accepted - s.fannedOut, 0) +
        laneList.reduce((n, l) => n + l.accepted, 0),
      delivered: laneList.reduce((n, l) => n + l.delivered, 0),
      skipped:
        sourceList.reduce((n, s) => n + sum(s.skipped), 0) + laneList.reduce((n, l) => n + sum(l.skipped), 0),
      quarantined:
        sourceList.reduce((n, s) => n + s.quarantined, 0) + laneList.reduce((n, l) => n + l.quarantined, 0),
      deadLettered:
        sourceList.reduce((n, s) => n + s.deadLettered, 0) + laneList.reduce((n, l) => n + l.deadLettered, 0),
      inFlight: depths.inbound + Object.values(depths.destinations).reduce((n, d) => n + d.depth, 0),
    };
    for (const stats of sourceList)
      stats.inFlight = Math.max(0, stats.accepted - stats.routed - stats.deadLettered);
    return {
      queues: { inbound: { depth: depths.inbound, deadLetterDepth: depths.inboundDeadLetter } },
      sources,
      flows,
      destinations,
      totals,
      balanced:
        totals.accepted ===
        totals.delivered + totals.skipped + totals.quarantined + totals.deadLettered + totals.inFlight,
    };
  }
}
