import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { startCrmDestination } from '../local/demo/crm-destination.js';
import { demoCustomer, stripeCustomerEvent, stripeEventId } from '../local/demo/stripe-sender.js';
import type { HubStats } from '../local/stats.js';
import { AwsCallCounter, type CallCounts } from './aws-call-counter.js';
import { startBenchHub } from './bench-hub.js';
import {
  COST_NOTES,
  InvocationLog,
  type PipelineUsage,
  perRecord,
  type UsagePerRecord,
} from './cost-model.js';
import { LoadGenerator } from './load.js';
import { startPowertoolsBaseline } from './powertools-baseline.js';
import { check, percentile, RssSampler, ratio, round, type TargetCheck } from './util.js';

const SECRET = 'whsec_bench';
const SEND_CONCURRENCY = 16;
const SWITCHYARD_SOURCES = { route: 'standard', 'deliver-crm': 'fifo' } as const;

type Workload = 'new' | 'updates' | 'duplicates50';

export interface WorkloadResult {
  events: number;
  switchyard: UsagePerRecord & { outcomes: Record<string, number> };
  powertools: UsagePerRecord & { businessWrites: number };
  ratios: {
    writeUnits: number;
    readUnits: number;
    dynamodbUsd: number;
    totalUsd: number;
    /** Switchyard with `api.ingress: 'function-url'` (the same measured calls, no API Gateway request) against the baseline. */
    totalUsdFunctionUrl: number;
  };
  /** Switchyard's modeled USD per million with `api.ingress: 'function-url'`. */
  switchyardFunctionUrlUsdPerMillion: number;
}

export interface PipelineResults {
  endToEnd: {
    method: string[];
    events: number;
    concurrency: number;
    accepted: number;
    delivered: number;
    deliveredPerSecond: number;
    webhookToDestinationP50Ms: number;
    webhookToDestinationP99Ms: number;
    g3: { balanced: boolean; totals: HubStats['totals'] };
    /** This process (runtime, emulators, CRM simulator and the load thread), sampled every 100 ms. */
    rssMb: { start: number; peak: number; processMaxRss: number };
    perRecord: UsagePerRecord;
  };
  cost: {
    method: string[];
    recordsPerWorkload: number;
    workloads: Record<Workload, WorkloadResult>;
    /** Per duplicate event only (the second half of duplicates50). */
    duplicateOnly: { switchyard: UsagePerRecord; powertools: UsagePerRecord };
    /** Write units per new record on a hub with `identity.lookalikes: 'off'` (the `new` workload's kind of events). */
    newWriteUnitsWithoutLookalikes: number;
    notes: string[];
  };
  targets: TargetCheck[];
}

const clone = (counts: CallCounts): CallCounts => structuredClone(counts);

/**
 * Sections 2 and 3: the end-to-end run (signed webhooks -> local runtime -> CRM simulator) and the
 * cost workloads, each run through the hub and through the Powertools baseline on the same
 * emulators, with every AWS call the functions make counted.
 */
export async function benchPipeline(options: {
  quick: boolean;
  log: (line: string) => void;
}): Promise<PipelineResults> {
  const events = options.quick ? 1000 : 10_000;
  const perWorkload = options.quick ? 200 : 600;
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-pipeline-'));
  const crm = await startCrmDestination({ token: 'bench-token' });
  const counter = new AwsCallCounter();
  const invocations = new InvocationLog();
  let handlerClients: { sqs: SQSClient; dynamodb: DynamoDBClient } | undefined;
  const runtime = await startBenchHub({
    name: 'bench',
    webhookSecret: SECRET,
    crmUrl: crm.url,
    dataDir: dir,
    instrument: (clients) => {
      handlerClients = clients;
      counter.instrument(clients);
    },
    invocations,
  });
  const url = `${runtime.url}/webhooks/stripe`;
  const load = LoadGenerator.start();
  const send = (target: string, payloads: readonly string[], recordSentAt = false) =>
    load.run({ url: target, secret: SECRET, payloads, concurrency: SEND_CONCURRENCY, recordSentAt });
  const lane = (stats: HubStats) => stats.flows['customers-to-crm']?.crm;
  let baseline: Awaited<ReturnType<typeof startPowertoolsBaseline>> | undefined;
  try {
    // Warm up (SDK clients, JIT), then measure from zero.
    const warm = Math.floor(Date.now() / 1000);
    await send(
      url,
      Array.from({ length: 50 }, (_, i) =>
        stripeCustomerEvent('customer.created', demoCustomer(900_000 + i), warm),
      ),
    );
    await runtime.settle(60_000);

    // End to end.
    counter.reset();
    invocations.reset();
    const callsBefore = crm.calls.length;
    const before = await runtime.stats();
    const created = Math.floor(Date.now() / 1000);
    const payloads = Array.from({ length: events }, (_, i) =>
      stripeCustomerEvent('customer.created', demoCustomer(i + 1), created),
    );
    const rss = new RssSampler();
    rss.start();
    const wallStart = Date.now();
    const result = await send(url, payloads, true);
    const stats = await runtime.settle(600_000);
    const memory = rss.stop();
    const sentAt = new Map<string, number>();
    result.sentAt?.forEach((at, i) => {
      sentAt.set(`cus_demo${String(i + 1).padStart(5, '0')}`, at);
    });
    const calls = crm.calls.slice(callsBefore).filter((call) => call.status < 300);
    const lastDelivery = Math.max(...calls.map((call) => call.at));
    const latencies = calls.flatMap((call) => {
      const stripeId = (call.body.data as { refs?: { stripe?: string } }).refs?.stripe ?? '';
      const sent = sentAt.get(stripeId);
      return sent === undefined ? [] : [call.at - sent];
    });
    const delivered = (lane(stats)?.delivered ?? 0) - (lane(before)?.delivered ?? 0);
    const endToEnd: PipelineResults['endToEnd'] = {
      method: [
        `${events} customer.created events for new customers, sent by the load thread at concurrency ${SEND_CONCURRENCY} (closed loop) to the local runtime, delivered to the CRM simulator; G3 read from the hub's counters once settled.`,
        'Ingest outpaces the local pipeline (route and deliver share this one event loop with the emulators), so the events queue up: webhook -> destination latency is mostly time spent waiting behind the burst, and delivered/s is the drain rate.',
        'RSS sampled every 100 ms over the run; it is the whole bench process (runtime, dynalite, fauxqs, CRM simulator, load thread), not the runtime alone.',
      ],
      events,
      concurrency: SEND_CONCURRENCY,
      accepted: result.acceptedMs.length,
      delivered,
      deliveredPerSecond: round(delivered / ((lastDelivery - wallStart) / 1000), 1),
      webhookToDestinationP50Ms: round(percentile(latencies, 50)),
      webhookToDestinationP99Ms: round(percentile(latencies, 99)),
      g3: { balanced: stats.balanced, totals: stats.totals },
      rssMb: {
        start: memory.startMb,
        peak: memory.peakMb,
        processMaxRss: round(process.resourceUsage().maxRSS / 1024, 1),
      },
      perRecord: perRecord({
        records: events,
        apiRequests: events,
        invocations: invocations.snapshot(),
        eventSources: SWITCHYARD_SOURCES,
        counts: clone(counter.counts),
      }),
    };
    options.log(
      `end to end: ${delivered}/${events} delivered, ${endToEnd.deliveredPerSecond}/s, peak RSS ${memory.peakMb} MB`,
    );

    // Cost workloads: the same event payloads through the hub and through the baseline.
    const base = 500_000;
    const t0 = Math.floor(Date.now() / 1000);
    const customer = (i: number, name?: string) => demoCustomer(base + i, name ? { name } : {});
    const workloadPayloads: Record<Workload, string[][]> = {
      new: [
        Array.from({ length: perWorkload }, (_, i) =>
          stripeCustomerEvent('customer.created', customer(i), t0),
        ),
      ],
      updates: [
        Array.from({ length: perWorkload }, (_, i) =>
          stripeCustomerEvent('customer.updated', customer(i, `Renamed Customer ${i}`), t0 + 1),
        ),
      ],
      // Half fresh updates, then each of them again, as a provider retry (same event id and body).
      duplicates50: (() => {
        const originals = Array.from({ length: perWorkload / 2 }, (_, i) =>
          stripeCustomerEvent('customer.updated', customer(i, `Again Renamed ${i}`), t0 + 2, stripeEventId()),
        );
        return [originals, [...originals]];
      })(),
    };

    const measureSwitchyard = async (phases: string[][]) => {
      const usages: PipelineUsage[] = [];
      const before = await runtime.stats();
      for (const phase of phases) {
        counter.reset();
        invocations.reset();
        await send(url, phase);
        await runtime.settle(300_000);
        usages.push({
          records: phase.length,
          apiRequests: phase.length,
          invocations: invocations.snapshot(),
          eventSources: SWITCHYARD_SOURCES,
          counts: clone(counter.counts),
        });
      }
      const after = await runtime.stats();
      const outcomes: Record<string, number> = {
        delivered: (lane(after)?.delivered ?? 0) - (lane(before)?.delivered ?? 0),
        quarantined: (lane(after)?.quarantined ?? 0) - (lane(before)?.quarantined ?? 0),
      };
      for (const [reason, n] of Object.entries(lane(after)?.skipped ?? {})) {
        const delta = n - (lane(before)?.skipped[reason] ?? 0);
        if (delta > 0) outcomes[`skipped:${reason}`] = delta;
      }
      return { usages, outcomes };
    };
    const switchyardRuns = {} as Record<Workload, Awaited<ReturnType<typeof measureSwitchyard>>>;
    for (const workload of Object.keys(workloadPayloads) as Workload[]) {
      switchyardRuns[workload] = await measureSwitchyard(workloadPayloads[workload]);
    }

    if (!handlerClients) throw new Error('The runtime did not hand over its handler clients');
    const endpoint = async (client: {
      config: { endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number }> };
    }) => {
      const e = await client.config.endpoint?.();
      if (!e) throw new Error('A handler client has no endpoint');
      return `${e.protocol}//${e.hostname}${e.port ? `:${e.port}` : ''}`;
    };
    baseline = await startPowertoolsBaseline({
      dynamodbEndpoint: await endpoint(handlerClients.dynamodb as never),
      sqsEndpoint: await endpoint(handlerClients.sqs as never),
      secret: SECRET,
    });
    // Warm the baseline up too, with events of its own.
    await send(
      baseline.url,
      Array.from({ length: 50 }, (_, i) =>
        stripeCustomerEvent('customer.created', demoCustomer(910_000 + i), warm),
      ),
    );
    await baseline.settle();
    const measureBaseline = async (phases: string[][]) => {
      const usages: PipelineUsage[] = [];
      const executedBefore = baseline?.executed.count ?? 0;
      for (const phase of phases) {
        if (!baseline) throw new Error('no baseline');
        baseline.counter.reset();
        baseline.invocations.reset();
        await send(baseline.url, phase);
        await baseline.settle(300_000);
        usages.push({
          records: phase.length,
          apiRequests: phase.length,
          invocations: baseline.invocations.snapshot(),
          eventSources: { consumer: 'standard' },
          counts: clone(baseline.counter.counts),
        });
      }
      return { usages, businessWrites: (baseline?.executed.count ?? 0) - executedBefore };
    };
    const baselineRuns = {} as Record<Workload, Awaited<ReturnType<typeof measureBaseline>>>;
    for (const workload of Object.keys(workloadPayloads) as Workload[]) {
      baselineRuns[workload] = await measureBaseline(workloadPayloads[workload]);
    }

    const workloads = {} as Record<Workload, WorkloadResult>;
    for (const workload of Object.keys(workloadPayloads) as Workload[]) {
      const syUsage = merge(switchyardRuns[workload].usages);
      const sy = perRecord(syUsage);
      // The same measured run priced with webhooks through a function URL: nothing else changes.
      const syUrl = perRecord({ ...syUsage, apiRequests: 0 });
      const pt = perRecord(merge(baselineRuns[workload].usages));
      workloads[workload] = {
        events: workloadPayloads[workload].reduce((a, p) => a + p.length, 0),
        switchyard: { ...sy, outcomes: switchyardRuns[workload].outcomes },
        powertools: { ...pt, businessWrites: baselineRuns[workload].businessWrites },
        ratios: {
          writeUnits: ratio(sy.dynamodbUnits.write, pt.dynamodbUnits.write),
          readUnits: ratio(sy.dynamodbUnits.read, pt.dynamodbUnits.read),
          dynamodbUsd: ratio(sy.usdPerMillion.dynamodb, pt.usdPerMillion.dynamodb),
          totalUsd: ratio(sy.usdPerMillion.total, pt.usdPerMillion.total),
          totalUsdFunctionUrl: ratio(syUrl.usdPerMillion.total, pt.usdPerMillion.total),
        },
        switchyardFunctionUrlUsdPerMillion: syUrl.usdPerMillion.total,
      };
      options.log(
        `cost ${workload}: WCU/record ${sy.dynamodbUnits.write} vs ${pt.dynamodbUnits.write}, USD/M ${sy.usdPerMillion.total} vs ${pt.usdPerMillion.total}`,
      );
    }
    const dupSy = switchyardRuns.duplicates50.usages[1];
    const dupPt = baselineRuns.duplicates50.usages[1];
    if (!dupSy || !dupPt) throw new Error('duplicate phase missing');
    const duplicateOnly = { switchyard: perRecord(dupSy), powertools: perRecord(dupPt) };

    const newWcu = workloads.new.switchyard.dynamodbUnits.write;
    const newWcuWithoutLookalikes = await newRecordWritesWithoutLookalikes(crm.url, perWorkload);
    options.log(`cost new, identity.lookalikes 'off': WCU/record ${newWcuWithoutLookalikes}`);
    const targets = [
      check(
        'duplicates cost no write unit (baseline >= 1)',
        `${duplicateOnly.switchyard.dynamodbUnits.write} WCU per duplicate vs ${duplicateOnly.powertools.dynamodbUnits.write}`,
        duplicateOnly.switchyard.dynamodbUnits.write === 0 &&
          duplicateOnly.powertools.dynamodbUnits.write >= 1,
      ),
      check('<= 2 write units per new record per destination', `${newWcu} WCU (1 destination)`, newWcu <= 2),
      check(
        "<= 2 write units per new record per destination, identity.lookalikes 'off'",
        `${newWcuWithoutLookalikes} WCU (1 destination)`,
        newWcuWithoutLookalikes <= 2,
      ),
      check(
        'USD per million on 50% duplicates <= 0.8x Powertools',
        `${workloads.duplicates50.ratios.totalUsd}x total (${workloads.duplicates50.ratios.dynamodbUsd}x DynamoDB only)`,
        workloads.duplicates50.ratios.totalUsd <= 0.8,
      ),
      check(
        "USD per million on 50% duplicates <= 0.8x Powertools, api.ingress 'function-url'",
        `${workloads.duplicates50.ratios.totalUsdFunctionUrl}x total (${workloads.duplicates50.switchyardFunctionUrlUsdPerMillion} vs ${workloads.duplicates50.powertools.usdPerMillion.total}; baseline keeps API Gateway)`,
        workloads.duplicates50.ratios.totalUsdFunctionUrl <= 0.8,
      ),
    ];
    return {
      endToEnd,
      targets,
      cost: {
        method: [
          `Workloads of ${perWorkload} events each, sent over HTTP at concurrency ${SEND_CONCURRENCY}: new = customer.created for new customers; updates = customer.updated (new name, later created) for the same customers; duplicates50 = ${perWorkload / 2} further updates, settled, then the same ${perWorkload / 2} events again (same id and body, a provider retry).`,
          'Switchyard: the local runtime (ingest -> inbound queue -> route -> FIFO delivery queue -> deliver -> CRM simulator); the handler clients are counted.',
          'Powertools: bare ingest (HMAC, one SendMessage) -> standard queue -> SQS event source (batches of 10) -> BatchProcessor -> makeIdempotent(event id) around one business PutItem; no destination call. Its clients are counted the same way.',
          "dynalite ignores ReturnValuesOnConditionCheckFailure, so the baseline's client is given the old item on a failed conditional put (uncounted), as DynamoDB returns it at no charge; otherwise Powertools would add a GetItem per duplicate that AWS never bills.",
        ],
        recordsPerWorkload: perWorkload,
        workloads,
        duplicateOnly,
        newWriteUnitsWithoutLookalikes: newWcuWithoutLookalikes,
        notes: COST_NOTES,
      },
    };
  } finally {
    await load.stop();
    await baseline?.stop();
    await runtime.stop({ drainTimeoutMs: 2000 });
    await crm.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Write units per new record with `identity.lookalikes: 'off'`: a hub of its own (the option is
 * config), the same kind of new customers as the `new` workload.
 */
async function newRecordWritesWithoutLookalikes(crmUrl: string, events: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-lookalikes-'));
  const counter = new AwsCallCounter();
  const runtime = await startBenchHub({
    name: 'benchlookalikes',
    webhookSecret: SECRET,
    crmUrl,
    dataDir: dir,
    identity: { lookalikes: 'off' },
    instrument: (clients) => counter.instrument(clients),
    invocations: new InvocationLog(),
  });
  const load = LoadGenerator.start();
  try {
    const t0 = Math.floor(Date.now() / 1000);
    const payloads = Array.from({ length: events }, (_, i) =>
      stripeCustomerEvent('customer.created', demoCustomer(700_000 + i), t0),
    );
    await load.run({
      url: `${runtime.url}/webhooks/stripe`,
      secret: SECRET,
      payloads,
      concurrency: SEND_CONCURRENCY,
    });
    await runtime.settle(300_000);
    return round(counter.counts.dynamo.writeUnits / events, 3);
  } finally {
    await load.stop();
    await runtime.stop({ drainTimeoutMs: 2000 });
    await rm(dir, { recursive: true, force: true });
  }
}

/** One usage from several phases (the duplicate workload's two halves). */
function merge(usages: readonly PipelineUsage[]): PipelineUsage {
  const [first] = usages;
  if (!first) throw new Error('nothing to merge');
  const counts: CallCounts = {
    calls: {},
    sqsRequests: { standard: 0, fifo: 0 },
    dynamo: { readUnits: 0, writeUnits: 0 },
  };
  const invocations: Record<string, { count: number; billedMs: number }> = {};
  for (const usage of usages) {
    for (const [k, v] of Object.entries(usage.counts.calls)) counts.calls[k] = (counts.calls[k] ?? 0) + v;
    counts.sqsRequests.standard += usage.counts.sqsRequests.standard;
    counts.sqsRequests.fifo += usage.counts.sqsRequests.fifo;
    counts.dynamo.readUnits += usage.counts.dynamo.readUnits;
    counts.dynamo.writeUnits += usage.counts.dynamo.writeUnits;
    for (const [k, v] of Object.entries(usage.invocations)) {
      const entry = invocations[k] ?? { count: 0, billedMs: 0 };
      entry.count += v.count;
      entry.billedMs += v.billedMs;
      invocations[k] = entry;
    }
  }
  return {
    records: usages.reduce((a, u) => a + u.records, 0),
    apiRequests: usages.reduce((a, u) => a + u.apiRequests, 0),
    invocations,
    eventSources: first.eventSources,
    counts,
  };
}
