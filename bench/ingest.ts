import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../functions/core/config-schema.js';
import { demoCustomer, stripeCustomerEvent } from '../local/demo/stripe-sender.js';
import { awsClientConfig } from '../local/emulators.js';
import { FileSecretStore } from '../local/file-secrets.js';
import { silentLogger } from '../local/log.js';
import { startRuntime } from '../local/runtime.js';
import { startBareIngest } from './bare-ingest.js';
import { LoadGenerator, type LoadResult } from './load.js';
import { check, percentile, ratio, round, type TargetCheck } from './util.js';

const round_ = (x: number) => round(x, 1);

const SECRET = 'whsec_bench_ingest';

export interface IngestFigures {
  requests: number;
  acceptedPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers other than 202, by status. */
  notAccepted: Record<string, number>;
}

export interface IngestResults {
  method: string[];
  requestsPerRound: number;
  rounds: number;
  byConcurrency: Record<
    string,
    {
      switchyard: IngestFigures;
      bare: IngestFigures;
      ratios: { acceptedPerSecond: number; p50: number; p99: number };
      /** Min, median and max of the per-round throughput ratios (noise). */
      roundRatioSpread: [number, number, number];
      /** Per-round p99 ratios (each round's Switchyard p99 over the bare p99 of the same round). */
      p99RoundRatioSpread: [number, number, number];
    }
  >;
  targets: TargetCheck[];
}

function figures(results: readonly LoadResult[]): IngestFigures {
  const latencies = results.flatMap((r) => r.acceptedMs);
  const seconds = results.reduce((a, r) => a + r.seconds, 0);
  const notAccepted: Record<string, number> = {};
  let requests = 0;
  for (const r of results) {
    for (const [status, n] of Object.entries(r.statuses)) {
      requests += n;
      if (status !== '202') notAccepted[status] = (notAccepted[status] ?? 0) + n;
    }
  }
  return {
    requests,
    acceptedPerSecond: round(latencies.length / seconds, 1),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    notAccepted,
  };
}

/**
 * Section 1: signed Stripe webhooks over loopback into the local runtime's webhook endpoint (the
 * real ingest handler behind the local API Gateway stand-in), against the bare baseline, both
 * sending to the same fauxqs inbound queue, in alternating rounds at each concurrency.
 */
export async function benchIngest(options: {
  quick: boolean;
  log: (line: string) => void;
}): Promise<IngestResults> {
  const perRound = options.quick ? 300 : 1000;
  const rounds = options.quick ? 6 : 12;
  const concurrencies = [32, 128];
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-ingest-'));
  // Route consumes the inbound queue in this process too. With no flow for customers it only
  // receives, parses and skips each event (no DynamoDB), and it does so for both servers' events.
  const config = loadConfig({
    name: 'benchingest',
    sources: { stripe: { connector: 'stripe', secret: 'bench/stripe' } },
    destinations: { crm: { connector: 'http', url: 'http://127.0.0.1:9/api/contacts', secret: 'bench/crm' } },
    flows: [{ name: 'invoices-to-crm', entity: 'invoice', from: ['stripe'], to: ['crm'] }],
  });
  const runtime = await startRuntime({
    config,
    secrets: new FileSecretStore(join(dir, 'none.json'), { 'bench/stripe': SECRET, 'bench/crm': 'unused' }),
    dataDir: dir,
    inMemory: true,
    port: 0,
    logLevel: 'SILENT',
    pollWaitSeconds: 1,
    log: silentLogger,
  });
  const inbound = runtime.queueUrls.inbound ?? '';
  const bareSqs = new SQSClient(awsClientConfig(new URL(inbound).origin));
  const bare = await startBareIngest({ secret: SECRET, sqs: bareSqs, queueUrl: inbound });
  const load = LoadGenerator.start();
  const targets = { switchyard: `${runtime.url}/webhooks/stripe`, bare: bare.url };
  let n = 0;
  const payloads = (count: number) => {
    const created = Math.floor(Date.now() / 1000);
    return Array.from({ length: count }, () => {
      n += 1;
      return stripeCustomerEvent('customer.created', demoCustomer(n), created);
    });
  };
  try {
    // Warm up both (SDK clients, JIT), then measure.
    for (const url of Object.values(targets)) {
      await load.run({
        url,
        secret: SECRET,
        payloads: payloads(options.quick ? 600 : 1500),
        concurrency: 32,
      });
      await runtime.settle(60_000);
    }
    const byConcurrency: IngestResults['byConcurrency'] = {};
    for (const concurrency of concurrencies) {
      // Open this concurrency's connections to both servers before timing anything.
      for (const url of Object.values(targets)) {
        await load.run({ url, secret: SECRET, payloads: payloads(concurrency * 4), concurrency });
        await runtime.settle(60_000);
      }
      const collected: Record<'switchyard' | 'bare', LoadResult[]> = { switchyard: [], bare: [] };
      for (let round = 0; round < rounds; round++) {
        // ABBA: each server goes first as often as second.
        const order = round % 2 === 0 ? (['bare', 'switchyard'] as const) : (['switchyard', 'bare'] as const);
        for (const target of order) {
          const result = await load.run({
            url: targets[target],
            secret: SECRET,
            payloads: payloads(perRound),
            concurrency,
          });
          collected[target].push(result);
          if (process.env.BENCH_VERBOSE)
            options.log(
              `  c=${concurrency} round ${round} ${target}: ${round_(result.acceptedMs.length / result.seconds)}/s p50 ${round_(percentile(result.acceptedMs, 50))} p99 ${round_(percentile(result.acceptedMs, 99))}`,
            );
          // Let route drain what this round queued, so the next round starts from the same quiet.
          await runtime.settle(120_000);
        }
      }
      // The spread of the per-round throughput ratios shows how noisy the machine was.
      const roundRatios = collected.switchyard.map((sy, i) => {
        const b = collected.bare[i];
        return b ? sy.acceptedMs.length / sy.seconds / (b.acceptedMs.length / b.seconds) : Number.NaN;
      });
      // The pooled p99 is set by the slowest rounds; each round's own p99 ratio shows whether the
      // tail is the hub's or a few noisy rounds'.
      const p99Ratios = collected.switchyard.map((sy, i) => {
        const b = collected.bare[i];
        return b ? percentile(sy.acceptedMs, 99) / percentile(b.acceptedMs, 99) : Number.NaN;
      });
      const switchyard = figures(collected.switchyard);
      const baseline = figures(collected.bare);
      byConcurrency[String(concurrency)] = {
        switchyard,
        bare: baseline,
        ratios: {
          acceptedPerSecond: ratio(switchyard.acceptedPerSecond, baseline.acceptedPerSecond),
          p50: ratio(switchyard.p50Ms, baseline.p50Ms),
          p99: ratio(switchyard.p99Ms, baseline.p99Ms),
        },
        roundRatioSpread: [
          round(Math.min(...roundRatios)),
          round(percentile(roundRatios, 50)),
          round(Math.max(...roundRatios)),
        ],
        p99RoundRatioSpread: [
          round(Math.min(...p99Ratios)),
          round(percentile(p99Ratios, 50)),
          round(Math.max(...p99Ratios)),
        ],
      };
      options.log(
        `ingest c=${concurrency}: switchyard ${switchyard.acceptedPerSecond}/s p99 ${switchyard.p99Ms} ms, bare ${baseline.acceptedPerSecond}/s p99 ${baseline.p99Ms} ms`,
      );
    }
    const targetChecks = Object.entries(byConcurrency).flatMap(([c, r]) => [
      check(
        `ingest accepted/s >= 0.7x bare (c=${c})`,
        `${r.ratios.acceptedPerSecond}x`,
        r.ratios.acceptedPerSecond >= 0.7,
      ),
      check(`ingest p99 <= 1.5x bare (c=${c})`, `${r.ratios.p99}x`, r.ratios.p99 <= 1.5),
    ]);
    return {
      method: [
        'Load from a worker thread (closed loop, fetch with keep-alive), each request signed when sent; unique customer.created events.',
        'Switchyard: the local runtime webhook endpoint (local API Gateway stand-in + the real ingest handler, secrets from memory) -> SendMessage to the fauxqs inbound queue.',
        'Bare: node:http + node:crypto HMAC check + one SendMessage of the same envelope to the same queue.',
        'Route runs in the same process for both; with no customer flow it only receives, parses and skips, and the hub settles after every round. Rounds alternate order; figures pool all rounds.',
      ],
      requestsPerRound: perRound,
      rounds,
      byConcurrency,
      targets: targetChecks,
    };
  } finally {
    await load.stop();
    await bare.stop();
    bareSqs.destroy();
    await runtime.stop({ drainTimeoutMs: 2000 });
    await rm(dir, { recursive: true, force: true });
  }
}
