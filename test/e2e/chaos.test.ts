import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { seededRandom, shuffled } from '../../local/demo/random.js';
import {
  CHAOS_SEED,
  type CustomerUpdate,
  contactsByStripeId,
  customerUpdates,
  expectBalanced,
  expectDestinationHolds,
  expectHubHolds,
  keysSent,
  newest,
  readStats,
  sleep,
} from '../support/chaos.js';
import { cli } from '../support/cli.js';
import { type DynamoFaultProxy, startDynamoFaultProxy } from '../support/dynamo-fault-proxy.js';
import { CRM_TOKEN, STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

/**
 * The chaos suite: the real local runtime (dynalite, fauxqs, the real handlers, real HTTP) with
 * faults injected only through real parts: the simulated CRM's own failure modes, a real HTTP fault
 * proxy between the handlers and dynalite, and the hub's config. Every scenario ends with G3 checked
 * on /_switchyard/stats (expectBalanced) and every record checked at the destination
 * (expectDestinationHolds). Random choices come from CHAOS_SEED, which is in each scenario's name.
 */

const FLOW = 'customers-to-crm';
const SECRETS = { 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/crm-token': CRM_TOKEN };

type DestinationOverrides = {
  timeoutMs?: number;
  retry?: { maxReceiveCount?: number; baseDelaySeconds?: number; maxDelaySeconds?: number };
  circuitBreaker?: {
    enabled?: boolean;
    failureThreshold?: number;
    openSeconds?: number;
    maxOpenSeconds?: number;
  };
};

/** One Stripe source, one CRM lane; the breaker is on (the production default) unless overridden. */
function chaosConfig(crmUrl: string, destination: DestinationOverrides = {}): SwitchyardConfig {
  return loadConfig({
    name: 'chaos',
    sources: { stripe: { connector: 'stripe', secret: 'e2e/stripe-webhook' } },
    destinations: {
      crm: {
        connector: 'http',
        url: crmUrl,
        secret: 'e2e/crm-token',
        timeoutMs: destination.timeoutMs ?? 2000,
        retry: { maxReceiveCount: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 1, ...destination.retry },
        circuitBreaker: {
          failureThreshold: 3,
          openSeconds: 1,
          maxOpenSeconds: 4,
          ...destination.circuitBreaker,
        },
      },
    },
    flows: [{ name: FLOW, entity: 'customer', from: ['stripe'], to: ['crm'] }],
  });
}

async function sendAll(hub: TestHub, updates: readonly CustomerUpdate[], concurrency = 1): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < updates.length; i = next++) {
      const update = updates[i] as CustomerUpdate;
      const response = await hub.send(update.payload);
      expect(response.status, `${update.stripeId} v${update.version}`).toBe(202);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Waits until the route step has taken every accepted event (the inbound queue is empty). */
async function waitRouted(hub: TestHub, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await hub.runtime.stats();
    const source = stats.sources.stripe;
    if (source && source.routed + source.deadLettered === source.accepted && stats.queues.inbound.depth === 0)
      return;
    if (Date.now() > deadline)
      throw new Error(`Events not routed within ${timeoutMs} ms: ${JSON.stringify(source)}`);
    await sleep(100);
  }
}

/** Every version of every customer, for expectDestinationHolds' `everyVersion`. */
const allVersions = (updates: readonly CustomerUpdate[][]) =>
  new Map(updates.map((versions) => [versions[0]?.stripeId ?? '', versions.map((u) => u.version)]));

const column = (updates: readonly CustomerUpdate[][], v: number) =>
  updates.map((versions) => versions[v] as CustomerUpdate);

describe(`chaos 1: the destination is down for longer than the retry budget, then back (breaker on, seed ${CHAOS_SEED})`, () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(SECRETS, { config: (url) => chaosConfig(url) });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('keeps every record out of the DLQ and, once the CRM is back, delivers each record once (or skips it as superseded)', async () => {
    const updates = customerUpdates(30, 2);
    hub.crm.outage(503);
    await sendAll(hub, column(updates, 0));
    await waitRouted(hub);
    await sendAll(hub, column(updates, 1));
    // The retry budget is 4 receives 0.5-1 s apart: about 4 s. The outage lasts three times that.
    await sleep(12_000);
    const during = await readStats(hub.runtime);
    expect(during.flows[FLOW]?.crm).toMatchObject({ delivered: 0, deadLettered: 0 });
    expect(during.destinations.crm?.deadLetterDepth).toBe(0);
    // All still waiting in the lane's queue (a requeued copy can sit next to its original for a
    // moment, until the batch that requeued it ends and the original is deleted).
    expect(during.totals.inFlight).toBeGreaterThanOrEqual(60);
    // Paused, not hammering: the breaker's probes, not one call per record per receive.
    expect(hub.crm.calls.length).toBeLessThan(60);

    hub.crm.restore();
    await hub.runtime.settle(60_000);
    const stats = expectBalanced(await readStats(hub.runtime));
    const lane = stats.flows[FLOW]?.crm;
    expect(lane).toMatchObject({ accepted: 60, deadLettered: 0, quarantined: 0 });
    expect(stats.destinations.crm?.deadLetterDepth).toBe(0);
    // A record the open breaker put back on the queue goes behind its entity's later update if that
    // one was not in the same batch; it then arrives after it and is skipped as stale (G5), never
    // written over it. Nothing else is skipped.
    expect(Object.keys(lane?.skipped ?? {}).filter((reason) => reason !== 'stale')).toEqual([]);
    expect((lane?.delivered ?? 0) + (lane?.skipped.stale ?? 0)).toBe(60);
    expectDestinationHolds(hub.crm, newest(updates));
    const superseded = [...contactsByStripeId(hub.crm).values()].filter((c) => c.versions.length < 2);
    expect(superseded).toHaveLength(lane?.skipped.stale ?? 0);
    await expectHubHolds(hub.runtime, hub.crm, newest(updates));
  });
});

describe(`chaos 2: the destination flaps with random 503s and 429s with Retry-After (seed ${CHAOS_SEED})`, () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(SECRETS, {
      // The production retry budget (8 receives); a short breaker pause so a 2 s Retry-After outlasts it.
      config: (url) => chaosConfig(url, { retry: { maxReceiveCount: 8 } }),
    });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('delivers the newest version of every customer once, waiting at least Retry-After before each retry', async () => {
    const updates = customerUpdates(25, 3);
    hub.crm.flap({
      seed: CHAOS_SEED,
      rate: 0.3,
      faults: [{ status: 503 }, { status: 429, retryAfterSeconds: 1 }, { status: 429, retryAfterSeconds: 2 }],
    });
    for (let v = 0; v < 3; v++) await sendAll(hub, column(updates, v));
    await hub.runtime.settle(90_000);
    hub.crm.restore();
    const stats = expectBalanced(await readStats(hub.runtime));

    const statuses = hub.crm.calls.map((c) => c.status);
    expect(statuses.filter((s) => s === 503).length, 'flapping happened').toBeGreaterThan(3);
    expect(statuses.filter((s) => s === 429).length, 'flapping happened').toBeGreaterThan(3);
    expect(stats.flows[FLOW]?.crm?.deadLettered).toBe(0);
    expect(stats.destinations.crm?.deadLetterDepth).toBe(0);
    expectDestinationHolds(hub.crm, newest(updates));
    await expectHubHolds(hub.runtime, hub.crm, newest(updates));

    // Retry-After honoured (G7): the same update (same Idempotency-Key) never came back sooner.
    let checked = 0;
    for (const [i, call] of hub.crm.calls.entries()) {
      if (call.retryAfterSeconds === undefined) continue;
      const key = call.headers['idempotency-key'];
      const next = hub.crm.calls.slice(i + 1).find((c) => c.headers['idempotency-key'] === key);
      if (!next) continue;
      checked += 1;
      expect(
        next.at - call.at,
        `retry of ${key} after a ${call.status} with Retry-After ${call.retryAfterSeconds}`,
      ).toBeGreaterThanOrEqual(call.retryAfterSeconds * 1000 - 50);
    }
    expect(checked).toBeGreaterThan(0);
  });
});

describe(`chaos 3: the handler fails after the destination call, before the mapping write (seed ${CHAOS_SEED})`, () => {
  let hub: TestHub;
  let proxy: DynamoFaultProxy | undefined;
  /** How many times the handlers' SDK tries one DynamoDB call (3, or 4 with the 2026 retry defaults). */
  let sdkAttempts: Promise<number> | undefined;
  let firstUpdates: CustomerUpdate[][] = [];
  beforeAll(async () => {
    hub = await startTestHub(SECRETS, {
      config: (url) => chaosConfig(url, { timeoutMs: 1000 }),
      runtime: {
        handlerDynamodbEndpoint: async (dynalite) => {
          proxy = await startDynamoFaultProxy(dynalite);
          return proxy.url;
        },
        instrumentHandlerClients: ({ dynamodb }) => {
          sdkAttempts = dynamodb.config.maxAttempts();
        },
      },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await proxy?.stop();
  });

  it('sends the same Idempotency-Key again and the CRM holds each record once (mapping writes failed through a fault proxy)', async () => {
    if (!proxy) throw new Error('the fault proxy did not start');
    const random = seededRandom(CHAOS_SEED);
    const modes = new Map<string, 'error' | 'drop'>();
    proxy.failFirstMappingWrites({
      destination: 'crm',
      modeFor: (pk) => {
        const mode = modes.get(pk) ?? (random() < 0.5 ? 'error' : 'drop');
        modes.set(pk, mode);
        return mode;
      },
    });
    const updates = customerUpdates(20, 2);
    firstUpdates = updates;
    await sendAll(hub, column(updates, 0));
    await waitRouted(hub);
    await sendAll(hub, column(updates, 1));
    await hub.runtime.settle(60_000);
    const stats = expectBalanced(await readStats(hub.runtime));

    // Each customer's first mapping write failed on every attempt the SDK made in that invocation,
    // by a 500 or a cut connection.
    const attempts = (await sdkAttempts) ?? 0;
    const perEntity = new Map<string, number>();
    for (const fault of proxy.injected) perEntity.set(fault.pk, (perEntity.get(fault.pk) ?? 0) + 1);
    expect(perEntity.size).toBe(20);
    for (const faults of perEntity.values()) expect(faults).toBeLessThanOrEqual(attempts);
    expect(new Set(proxy.injected.map((f) => f.mode))).toEqual(new Set(['error', 'drop']));
    expect(stats.flows[FLOW]?.crm).toMatchObject({ accepted: 40, delivered: 40, deadLettered: 0 });
    expect(stats.flows[FLOW]?.crm?.retried).toBeGreaterThanOrEqual(20);
    for (const contact of contactsByStripeId(hub.crm).values()) {
      // The first version went out twice with one key: first applied, then answered from the CRM's
      // idempotency store without a second write.
      const calls = hub.crm.calls.filter(
        (c) => c.body.id === contact.id && c.body.version === contact.versions[0],
      );
      expect(calls.map((c) => [c.status, c.replayed])).toEqual([
        [201, false],
        [201, true],
      ]);
      expect(new Set(calls.map((c) => c.headers['idempotency-key'])).size).toBe(1);
    }
    expectDestinationHolds(hub.crm, newest(updates), { everyVersion: allVersions(updates) });
    await expectHubHolds(hub.runtime, hub.crm, newest(updates));
  });

  it('also holds each record once when the CRM applies a write and then fails or never answers', async () => {
    proxy?.heal();
    const updates = customerUpdates(6, 1, 101);
    hub.crm.applyThenFail({ times: 3, status: 502 });
    hub.crm.applyThenFail({ times: 3, hang: true });
    await sendAll(hub, column(updates, 0));
    await hub.runtime.settle(60_000);
    const stats = expectBalanced(await readStats(hub.runtime));
    expect(stats.flows[FLOW]?.crm?.deadLettered).toBe(0);

    const lost = hub.crm.calls.filter((c) => c.status === 502 || c.status === 0);
    expect(lost).toHaveLength(6);
    for (const call of lost) {
      const keys = keysSent(hub.crm, String(call.body.id));
      const key = call.headers['idempotency-key'] ?? '';
      // Sent again with the same key, and answered from the idempotency store.
      expect(keys.get(key)).toBeGreaterThanOrEqual(2);
      expect(hub.crm.calls.some((c) => c.headers['idempotency-key'] === key && c.replayed)).toBe(true);
    }
    expectDestinationHolds(hub.crm, new Map([...newest(firstUpdates), ...newest(updates)]));
  });
});

describe(`chaos 4: a poison record goes to the DLQ, is redriven after the fix, and is delivered (seed ${CHAOS_SEED})`, () => {
  let hub: TestHub;
  beforeAll(async () => {
    // Breaker off: a poison record is one record failing while the rest succeed, which the breaker
    // would not pause for anyway; off, it reaches the DLQ after exactly maxReceiveCount (4) receives.
    hub = await startTestHub(SECRETS, {
      config: (url) => chaosConfig(url, { circuitBreaker: { enabled: false } }),
    });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('counts it dead-lettered, then, after `switchyard redrive crm`, delivered once with the same key', async () => {
    const random = seededRandom(CHAOS_SEED);
    const updates = customerUpdates(20, 2);
    // The CRM's bug: a name with a locomotive in it crashes its search indexer (a 500 every time).
    // One customer, picked by the seed, gets such a name in its second version.
    const poisonCustomer = updates[Math.floor(random() * updates.length)] as CustomerUpdate[];
    const [first, second] = poisonCustomer as [CustomerUpdate, CustomerUpdate];
    const poisoned: CustomerUpdate = {
      ...second,
      name: `${second.name} \u{1F682}`,
      payload: second.payload.replace(`"name": "${second.name}"`, `"name": "${second.name} \u{1F682}"`),
    };
    expect(JSON.parse(poisoned.payload).data.object.name).toBe(poisoned.name);
    poisonCustomer[1] = poisoned;
    const poisonStripeId = first.stripeId;
    hub.crm.failWhen({
      match: (body) => String((body.data as { name?: string })?.name).includes('\u{1F682}'),
      status: 500,
      body: '{"error":"search indexer crashed"}',
    });

    await sendAll(hub, column(updates, 0));
    await waitRouted(hub);
    await sendAll(hub, column(updates, 1));
    await hub.runtime.settle(60_000);
    let stats = expectBalanced(await readStats(hub.runtime));
    expect(stats.flows[FLOW]?.crm).toMatchObject({ accepted: 40, delivered: 39, deadLettered: 1 });
    expect(stats.destinations.crm?.deadLetterDepth).toBe(1);
    // Meanwhile the poison customer keeps its first version; everyone else has the second.
    const before = newest(updates);
    before.set(poisonStripeId, first);
    expectDestinationHolds(hub.crm, before);
    const poisonId = contactsByStripeId(hub.crm).get(poisonStripeId)?.id ?? '';
    expect(hub.crm.calls.filter((c) => c.body.id === poisonId && c.status === 500)).toHaveLength(4);

    // The CRM's bug is fixed; the operator redrives the lane with the real CLI.
    hub.crm.clearRules();
    const redriven = await cli(['redrive', 'crm', '--url', hub.runtime.url, '--by', 'chaos']);
    expect(redriven.code, redriven.stderr).toBe(0);
    expect(redriven.stdout).toContain('chaos redrove 1 message(s) on deliver-crm');
    await hub.runtime.settle(30_000);
    stats = expectBalanced(await readStats(hub.runtime));
    expect(stats.flows[FLOW]?.crm).toMatchObject({
      accepted: 40,
      delivered: 40,
      deadLettered: 0,
      redriven: 1,
    });
    expect(stats.destinations.crm?.deadLetterDepth).toBe(0);
    expectDestinationHolds(hub.crm, newest(updates), { everyVersion: allVersions(updates) });
    await expectHubHolds(hub.runtime, hub.crm, newest(updates));
    // Four 500s and one success, all with the key of that one update.
    const v2 = hub.crm.calls.filter(
      (c) => c.body.id === poisonId && c.body.version === String(poisoned.version),
    );
    expect(v2.map((c) => c.status)).toEqual([500, 500, 500, 500, 200]);
    expect(new Set(v2.map((c) => c.headers['idempotency-key'])).size).toBe(1);
  });
});

describe(`chaos 5: every event is sent five times (seed ${CHAOS_SEED})`, () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(SECRETS, { config: (url) => chaosConfig(url) });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('delivers each version once and skips the other four copies, with one destination call per version', async () => {
    const random = seededRandom(CHAOS_SEED);
    const updates = customerUpdates(20, 3);
    for (let v = 0; v < 3; v++) {
      // Five copies of each event of this round, in a seeded random order, four senders at once.
      const copies = shuffled(
        column(updates, v).flatMap((u) => [u, u, u, u, u]),
        random,
      );
      await sendAll(hub, copies, 4);
      await waitRouted(hub);
    }
    await hub.runtime.settle(60_000);
    const stats = expectBalanced(await readStats(hub.runtime));
    expect(stats.sources.stripe?.accepted).toBe(300);
    expect(stats.totals.delivered).toBe(60);
    expect(stats.totals.skipped).toBe(stats.totals.accepted - 60);
    expect(stats.totals).toMatchObject({ quarantined: 0, deadLettered: 0 });
    // One call per (customer, version): the copies never reached the CRM.
    expect(hub.crm.calls).toHaveLength(60);
    expect(new Set(hub.crm.calls.map((c) => c.headers['idempotency-key'])).size).toBe(60);
    expectDestinationHolds(hub.crm, newest(updates), { everyVersion: allVersions(updates) });
    await expectHubHolds(hub.runtime, hub.crm, newest(updates));
  });
});

describe(`chaos 6: updates arrive shuffled out of order (seed ${CHAOS_SEED})`, () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(SECRETS, { config: (url) => chaosConfig(url) });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('ends with the newest version of every customer at the CRM, in the canonical store and in the mapping', async () => {
    const random = seededRandom(CHAOS_SEED);
    const updates = customerUpdates(25, 5);
    const order = shuffled(updates.flat(), random);
    await sendAll(hub, order, 4);
    await hub.runtime.settle(60_000);
    const stats = expectBalanced(await readStats(hub.runtime));
    expect(stats.sources.stripe?.accepted).toBe(125);
    expect(stats.totals).toMatchObject({ quarantined: 0, deadLettered: 0 });
    // Older versions that came late were skipped, never written over a newer one (checked per
    // contact by expectDestinationHolds: the versions it wrote are increasing).
    expectDestinationHolds(hub.crm, newest(updates));
    await expectHubHolds(hub.runtime, hub.crm, newest(updates));
  });
});
