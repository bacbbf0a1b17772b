/**
 * `npx tsx bench/journal-ingest.ts [--quick]`: what the queue journal (local/queue-journal.ts)
 * costs the webhook endpoint. Two local runtimes on the same config and the same on-disk dynalite,
 * one journaling its queues (every send fdatasync'ed before the 202, with group commit) and one not,
 * take the same signed Stripe webhooks in alternating rounds (ABBA) at 32 and 128
 * concurrent requests; prints accepted/s and latency for each and the ratio.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../functions/core/config-schema.js';
import { demoCustomer, stripeCustomerEvent } from '../local/demo/stripe-sender.js';
import { FileSecretStore } from '../local/file-secrets.js';
import { silentLogger } from '../local/log.js';
import { type HubRuntime, startRuntime } from '../local/runtime.js';
import { LoadGenerator, type LoadResult } from './load.js';
import { percentile, round } from './util.js';

const SECRET = 'whsec_bench_journal';
const quick = process.argv.includes('--quick');
const perRound = quick ? 300 : 1000;
const rounds = quick ? 6 : 12;

const config = loadConfig({
  name: 'benchjournal',
  sources: { stripe: { connector: 'stripe', secret: 'bench/stripe' } },
  destinations: { crm: { connector: 'http', url: 'http://127.0.0.1:9/api/contacts', secret: 'bench/crm' } },
  // No flow for customers: route receives, parses and skips each event (and deletes it: journaled).
  flows: [{ name: 'invoices-to-crm', entity: 'invoice', from: ['stripe'], to: ['crm'] }],
});

async function start(dir: string, journal: boolean): Promise<HubRuntime> {
  return startRuntime({
    config,
    secrets: new FileSecretStore(join(dir, 'none.json'), { 'bench/stripe': SECRET, 'bench/crm': 'unused' }),
    dataDir: join(dir, journal ? 'journal' : 'none'),
    queueJournal: journal,
    port: 0,
    logLevel: 'SILENT',
    pollWaitSeconds: 1,
    log: silentLogger,
  });
}

const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-journal-'));
const none = await start(dir, false);
const runtimes = { journal: await start(dir, true), none };
const load = LoadGenerator.start();
let n = 0;
const payloads = (count: number) => {
  const created = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, () => {
    n += 1;
    return stripeCustomerEvent('customer.created', demoCustomer(n), created);
  });
};
const run = async (which: keyof typeof runtimes, count: number, concurrency: number) => {
  const result = await load.run({
    url: `${runtimes[which].url}/webhooks/stripe`,
    secret: SECRET,
    payloads: payloads(count),
    concurrency,
  });
  await runtimes[which].settle(60_000);
  return result;
};
const summary = (results: LoadResult[]) => {
  const latencies = results.flatMap((r) => r.acceptedMs);
  const seconds = results.reduce((a, r) => a + r.seconds, 0);
  return {
    acceptedPerSecond: round(latencies.length / seconds, 1),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    notAccepted: results.reduce(
      (a, r) => a + Object.entries(r.statuses).reduce((b, [s, c]) => b + (s === '202' ? 0 : c), 0),
      0,
    ),
  };
};
try {
  for (const which of ['journal', 'none'] as const) await run(which, quick ? 600 : 1500, 32);
  for (const concurrency of [32, 128]) {
    const collected: Record<keyof typeof runtimes, LoadResult[]> = { journal: [], none: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['none', 'journal'] as const) : (['journal', 'none'] as const);
      for (const which of order) collected[which].push(await run(which, perRound, concurrency));
    }
    const journal = summary(collected.journal);
    const none = summary(collected.none);
    console.log(
      JSON.stringify({
        concurrency,
        journal,
        none,
        throughputRatio: round(journal.acceptedPerSecond / none.acceptedPerSecond, 2),
      }),
    );
  }
} finally {
  await load.stop();
  await Promise.all(Object.values(runtimes).map((r) => r.stop({ drainTimeoutMs: 5_000 })));
  await rm(dir, { recursive: true, force: true });
}
