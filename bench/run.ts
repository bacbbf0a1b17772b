/**
 * `npm run bench [-- --quick]`: signed webhooks over loopback HTTP into the local runtime (real
 * handlers, dynalite, fauxqs), delivered to a local HTTP destination. Prints a table and writes
 * bench/results.json. Absolute timings on a laptop-class machine are noisy; the call and unit counts
 * are exact for this code.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../functions/core/config.js';
import { startCrmDestination } from '../local/demo/crm-destination.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from '../local/demo/stripe-sender.js';
import { FileSecretStore } from '../local/file-secrets.js';
import { silentLogger } from '../local/log.js';
import { startRuntime } from '../local/runtime.js';
import { AwsCallCounter } from './aws-call-counter.js';
import { PRICES } from './aws-prices.js';

const quick = process.argv.includes('--quick');
const EVENTS = quick ? 300 : 2000;
const CONCURRENCY = 16;
const SECRET = 'whsec_bench';
const MEMORY_GB = 0.5;

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const round = (n: number, digits = 2) => Number(n.toFixed(digits));

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  const crm = await startCrmDestination({ token: 'bench-token' });
  const config = loadConfig({
    name: 'bench',
    sources: { stripe: { connector: 'stripe', secret: 'bench/stripe' } },
    destinations: { crm: { connector: 'http', url: crm.url, secret: 'bench/crm', maxConcurrency: 10 } },
    flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['crm'] }],
  });
  const counter = new AwsCallCounter();
  const invocations: Record<string, { count: number; billedMs: number }> = {};
  const runtime = await startRuntime({
    config,
    secrets: new FileSecretStore(join(dir, 'none.json'), {
      'bench/stripe': SECRET,
      'bench/crm': 'bench-token',
    }),
    dataDir: dir,
    inMemory: true,
    port: 0,
    logLevel: 'SILENT',
    pollWaitSeconds: 1,
    log: silentLogger,
    instrumentHandlerClients: (clients) => counter.instrument(clients),
    onInvocation: (fn, ms) => {
      const entry = invocations[fn] ?? { count: 0, billedMs: 0 };
      entry.count += 1;
      entry.billedMs += Math.ceil(ms);
      invocations[fn] = entry;
    },
  });
  const url = `${runtime.url}/webhooks/stripe`;
  try {
    // Warm up (cold SDK clients, JIT), then measure from zero.
    const t0 = Math.floor(Date.now() / 1000);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sendStripeEvent(url, stripeCustomerEvent('customer.created', demoCustomer(900_000 + i), t0), SECRET),
      ),
    );
    await runtime.settle(60_000);
    counter.reset();
    for (const key of Object.keys(invocations)) delete invocations[key];
    const callsBefore = crm.calls.length;
    const baseline = await runtime.stats();

    const created = Math.floor(Date.now() / 1000);
    const payloads = Array.from({ length: EVENTS }, (_, i) =>
      stripeCustomerEvent('customer.created', demoCustomer(i + 1), created),
    );
    const sentAt = new Map<string, number>();
    const ackMs: number[] = [];
    let next = 0;
    let rejected = 0;
    const ingestStart = performance.now();
    const wallStart = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (;;) {
          const i = next++;
          const payload = payloads[i];
          if (payload === undefined) return;
          sentAt.set(`cus_demo${String(i + 1).padStart(5, '0')}`, Date.now());
          const result = await sendStripeEvent(url, payload, SECRET);
          if (result.status === 202) ackMs.push(result.ms);
          else rejected++;
        }
      }),
    );
    const ingestSeconds = (performance.now() - ingestStart) / 1000;
    const stats = await runtime.settle(300_000);
    const calls = crm.calls.slice(callsBefore).filter((call) => call.status < 300);
    const lastDelivery = Math.max(...calls.map((call) => call.at));
    const latencies = calls.flatMap((call) => {
      const stripeId = (call.body.data as { refs?: { stripe?: string } }).refs?.stripe ?? '';
      const sent = sentAt.get(stripeId);
      return sent === undefined ? [] : [call.at - sent];
    });
    const delivered =
      (stats.flows['customers-to-crm']?.crm?.delivered ?? 0) -
      (baseline.flows['customers-to-crm']?.crm?.delivered ?? 0);
    const perRecord = (n: number) => (delivered > 0 ? n / delivered : Number.NaN);

    // What the event source mappings would call in AWS: one receive and one delete batch per invocation.
    const esmCalls = (fn: string) => invocations[fn]?.count ?? 0;
    const routeBatches = esmCalls('route');
    const deliverBatches = esmCalls('deliver-crm');
    const sqsEsm = { standard: 2 * routeBatches, fifo: 2 * deliverBatches };
    const sqsStandard = counter.counts.sqsRequests.standard + sqsEsm.standard;
    const sqsFifo = counter.counts.sqsRequests.fifo + sqsEsm.fifo;
    const lambdaInvocations = Object.values(invocations).reduce((n, i) => n + i.count, 0);
    const lambdaGbSeconds = Object.values(invocations).reduce(
      (n, i) => n + (i.billedMs / 1000) * MEMORY_GB,
      0,
    );
    const million = 1e6;
    const cost = {
      apiGateway: PRICES.apiGatewayHttpPerRequest * million,
      lambdaRequests: perRecord(lambdaInvocations) * PRICES.lambdaPerRequest * million,
      lambdaCompute: perRecord(lambdaGbSeconds) * PRICES.lambdaPerGbSecondArm * million,
      sqs:
        perRecord(sqsStandard * PRICES.sqsStandardPerRequest + sqsFifo * PRICES.sqsFifoPerRequest) * million,
      dynamodb:
        perRecord(
          counter.counts.dynamo.writeUnits * PRICES.dynamoPerWriteUnit +
            counter.counts.dynamo.readUnits * PRICES.dynamoPerReadUnit,
        ) * million,
      secretsManager: 0,
    };
    const total = Object.values(cost).reduce((a, b) => a + b, 0);

    const results = {
      date: new Date().toISOString(),
      node: process.version,
      mode: quick ? 'quick' : 'full',
      events: EVENTS,
      concurrency: CONCURRENCY,
      ingest: {
        acceptedPerSecond: round(ackMs.length / ingestSeconds, 1),
        rejected,
        ackP50Ms: round(percentile(ackMs, 50)),
        ackP99Ms: round(percentile(ackMs, 99)),
      },
      endToEnd: {
        delivered,
        deliveredPerSecond: round(delivered / ((lastDelivery - wallStart) / 1000), 1),
        webhookToDestinationP50Ms: round(percentile(latencies, 50)),
        webhookToDestinationP99Ms: round(percentile(latencies, 99)),
      },
      awsCallsPerDeliveredRecord: Object.fromEntries(
        Object.entries(counter.counts.calls)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => [k, round(perRecord(v), 3)]),
      ),
      eventSourceMappingCallsPerRecord: {
        'SQS.ReceiveMessage+DeleteMessageBatch (modeled)': round(perRecord(sqsEsm.standard + sqsEsm.fifo), 3),
      },
      lambdaInvocationsPerRecord: Object.fromEntries(
        Object.entries(invocations).map(([k, v]) => [k, round(perRecord(v.count), 3)]),
      ),
      dynamodbUnitsPerRecord: {
        read: round(perRecord(counter.counts.dynamo.readUnits), 3),
        write: round(perRecord(counter.counts.dynamo.writeUnits), 3),
      },
      sqsBilledRequestsPerRecord: {
        standard: round(perRecord(sqsStandard), 3),
        fifo: round(perRecord(sqsFifo), 3),
      },
      modeledUsdPerMillionEvents: {
        ...Object.fromEntries(Object.entries(cost).map(([k, v]) => [k, round(v)])),
        total: round(total),
        notes: [
          'Prices from shared/notes/aws-facts.md (us-east-1 list, no free tier).',
          `Lambda compute from local wall time per invocation at ${MEMORY_GB * 1024} MB arm64; real Lambda timings differ.`,
          'Secrets Manager: cached per container (TTL), so ~0 per event; CloudWatch EMF log ingestion not yet modeled.',
          'Event source mapping polling modeled as one ReceiveMessage and one DeleteMessageBatch per batch; idle long polls excluded.',
        ],
      },
      g3: { balanced: stats.balanced, totals: stats.totals },
    };
    await writeFile(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);

    const rows: [string, string][] = [
      ['events sent', `${EVENTS} (concurrency ${CONCURRENCY}, ${results.mode})`],
      ['accepted/s (ingest)', String(results.ingest.acceptedPerSecond)],
      ['ingest ack p50 / p99 ms', `${results.ingest.ackP50Ms} / ${results.ingest.ackP99Ms}`],
      ['delivered/s (end to end)', String(results.endToEnd.deliveredPerSecond)],
      [
        'webhook→destination p50 / p99 ms',
        `${results.endToEnd.webhookToDestinationP50Ms} / ${results.endToEnd.webhookToDestinationP99Ms}`,
      ],
      ...Object.entries(results.awsCallsPerDeliveredRecord).map(([k, v]): [string, string] => [
        `calls/record ${k}`,
        String(v),
      ]),
      [
        'DynamoDB RCU / WCU per record',
        `${results.dynamodbUnitsPerRecord.read} / ${results.dynamodbUnitsPerRecord.write}`,
      ],
      [
        'SQS billed requests/record std / fifo',
        `${results.sqsBilledRequestsPerRecord.standard} / ${results.sqsBilledRequestsPerRecord.fifo}`,
      ],
      ...Object.entries(results.modeledUsdPerMillionEvents)
        .filter(([k]) => k !== 'notes')
        .map(([k, v]): [string, string] => [`USD per 1M events: ${k}`, String(v)]),
      ['G3 balanced', String(stats.balanced)],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
    console.log('\nwritten to bench/results.json');
  } finally {
    await runtime.stop({ drainTimeoutMs: 1000 });
    await crm.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
