import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import type { ReconcileReport } from '../../functions/core/reconcile.js';
import { type ErpApi, startErpApi } from '../../local/demo/erp-api.js';
import { type StripeApi, startStripeApi } from '../../local/demo/stripe-api.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import type { HubStats } from '../../local/stats.js';
import { cli } from '../support/cli.js';
import { CRM_TOKEN, e2eConfig, STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

const STRIPE_API_KEY = 'sk_test_e2e_reconcile';
const NOW = Math.floor(Date.now() / 1000);
const SINCE = new Date((NOW - 3600) * 1000).toISOString();
const UNTIL = new Date((NOW + 600) * 1000).toISOString();
/** Customers 1-5 arrive as webhooks; 6-8 exist at Stripe only (their webhooks were lost). */
const ARRIVED = [1, 2, 3, 4, 5];
const LOST = [6, 7, 8];
const stripeId = (n: number) => demoCustomer(n).id;

function expectBalanced(stats: HubStats): void {
  expect(stats.totals.inFlight).toBe(0);
  expect(stats.balanced).toBe(true);
}

describe('reconciliation on the local runtime (a Stripe-like list API holds customers whose webhooks were lost)', () => {
  let stripeApi: StripeApi;
  let hub: TestHub;
  const run = async (...args: string[]) => {
    const result = await cli([
      'reconcile',
      '--flow',
      'customers-to-crm',
      '--url',
      hub.runtime.url,
      '--since',
      SINCE,
      '--until',
      UNTIL,
      ...args,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.stdout;
  };
  const report = async (...args: string[]) => JSON.parse(await run('--json', ...args)) as ReconcileReport;

  beforeAll(async () => {
    stripeApi = await startStripeApi({ apiKey: STRIPE_API_KEY });
    hub = await startTestHub(
      {
        'e2e/stripe-webhook': STRIPE_SECRET,
        'e2e/crm-token': CRM_TOKEN,
        'e2e/stripe-api': STRIPE_API_KEY,
        'e2e/shop': 'x',
      },
      {
        schedules: false,
        config: (crmUrl) =>
          e2eConfig(crmUrl, {
            sources: {
              stripe: {
                connector: 'stripe',
                secret: 'e2e/stripe-webhook',
                api: { secret: 'e2e/stripe-api', url: stripeApi.url },
              },
              shop: { connector: 'shopify', secret: 'e2e/shop' },
            },
            flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'shop'], to: ['crm'] }],
          }),
      },
    );
    for (const n of [...ARRIVED, ...LOST]) stripeApi.add(demoCustomer(n), NOW - 600 + n);
    // Customer 5's delivery is refused by the CRM (a bug there, since fixed): the hub holds it, the CRM does not.
    hub.crm.failWhen({
      match: (body) => (body.data as { refs?: { stripe?: string } })?.refs?.stripe === stripeId(5),
      status: 422,
    });
    for (const n of ARRIVED) {
      const answer = await hub.send(stripeCustomerEvent('customer.created', demoCustomer(n), NOW - 600 + n));
      expect(answer.status).toBe(202);
    }
    expectBalanced(await hub.runtime.settle());
    hub.crm.clearRules();
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
    await stripeApi?.stop();
  });

  it('reports exactly the lost ids as missing at the hub and the refused one as missing at the CRM; shop cannot list', async () => {
    const text = await run();
    console.log(
      `$ npx switchyard reconcile --flow customers-to-crm --since ${SINCE} --until ${UNTIL}\n${text}`,
    );
    const found = await report();
    expect(found.missingAtHub.map((m) => m.sourceId).sort()).toEqual(LOST.map(stripeId).sort());
    expect(found.missingAtHub.every((m) => m.reason === 'missing' && m.source === 'stripe')).toBe(true);
    expect(found.missingAtDestinations.map((m) => [m.destination, m.sourceId, m.reason])).toEqual([
      ['crm', stripeId(5), 'missing'],
    ]);
    expect(found).toMatchObject({ listed: 8, atHub: 5, drift: 4, window: { since: SINCE, until: UNTIL } });
    expect(found.sources).toEqual([
      { source: 'stripe', listed: 8, complete: true, unreadable: 0 },
      { source: 'shop', unsupported: 'the shopify connector has no list API' },
    ]);
    expect(text).toContain(`stripe:${stripeId(6)}  missing`);
    expect(text).toContain('source shop: not listed (the shopify connector has no list API)');
    // The stored report is what `GET /_switchyard/ops/reconcile/<flow>` shows.
    const stored = (await (
      await fetch(`${hub.runtime.url}/_switchyard/ops/reconcile/customers-to-crm`)
    ).json()) as ReconcileReport;
    expect(stored.drift).toBe(4);
    // Drift is counted per flow, as the EMF metric the alarm watches.
    expect(hub.runtime.telemetry.dimensionSets()).toContainEqual({
      metric: 'reconcileDrift',
      dimensions: { flow: 'customers-to-crm' },
    });
    expect(stripeApi.requests[0]).toMatchObject({
      'created[gte]': String(NOW - 3600),
      'created[lt]': String(NOW + 600),
    });
  });

  it('--repair delivers each missing customer once; then reconcile reports no drift and a second repair sends nothing', async () => {
    const text = await run('--repair');
    console.log(
      `$ npx switchyard reconcile --flow customers-to-crm --since ${SINCE} --until ${UNTIL} --repair\n${text}`,
    );
    expect(text).toContain('repaired: 3 sent to the hub, 1 re-sent to destinations');
    const stats = await hub.runtime.settle();
    expectBalanced(stats);
    const contacts = [...hub.crm.contacts.values()];
    for (const n of [...ARRIVED, ...LOST]) {
      const held = contacts.filter((c) => (c.data.refs as Record<string, string>).stripe === stripeId(n));
      expect(held, `customer ${n} at the CRM once`).toHaveLength(1);
      expect(held[0]?.writes, `customer ${n} written once`).toBe(1);
      expect(held[0]?.data.name).toBe(demoCustomer(n).name);
    }
    expect(contacts).toHaveLength(8);

    const after = await report();
    expect(after).toMatchObject({
      drift: 0,
      listed: 8,
      atHub: 8,
      missingAtHub: [],
      missingAtDestinations: [],
    });
    const again = await report('--repair');
    expect(again.repaired).toEqual({ toHub: 0, toDestinations: 0 });
    const final = await hub.runtime.settle();
    expectBalanced(final);
    expect(hub.crm.calls.filter((c) => c.status < 300)).toHaveLength(8);
    console.log(`$ npx switchyard reconcile --flow customers-to-crm (after the repair)\n${await run()}`);
    console.log('G3 totals', JSON.stringify(final.totals), 'balanced', final.balanced);
  });
});

describe('reconciliation of a rest-poll source (rows the poll never read, and a newer version of one it did)', () => {
  const ERP_TOKEN = 'erp-e2e-reconcile';
  const base = Date.now() - 30 * 60_000;
  const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();
  let erp: ErpApi;
  let hub: TestHub;
  const reconcile = async (query = '') => {
    const response = await fetch(`${hub.runtime.url}/_switchyard/ops/reconcile/erp-to-crm${query}`, {
      method: 'POST',
    });
    expect(response.status).toBe(200);
    return (await response.json()) as ReconcileReport;
  };
  const contactOf = (id: string) =>
    [...hub.crm.contacts.values()].filter((c) => (c.data.refs as Record<string, string>).erp === id);

  beforeAll(async () => {
    erp = await startErpApi({ token: ERP_TOKEN, pageSize: 2 });
    hub = await startTestHub(
      { 'e2e/erp-token': ERP_TOKEN, 'e2e/crm-token': CRM_TOKEN },
      {
        schedules: false,
        config: (crmUrl) =>
          loadConfig({
            name: 'recone2e',
            sources: {
              erp: {
                connector: 'rest-poll',
                schedule: 'rate(1 day)',
                url: erp.url,
                secret: 'e2e/erp-token',
                auth: { type: 'bearer' },
                items: 'data',
                nextLink: 'next',
                initialCursor: new Date(base - 3_600_000).toISOString(),
                map: {
                  entity: 'customer',
                  id: 'id',
                  version: 'updated_at',
                  fields: { email: 'email', name: 'name' },
                },
              },
            },
            destinations: {
              crm: {
                connector: 'http',
                url: crmUrl,
                secret: 'e2e/crm-token',
                retry: { maxReceiveCount: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
              },
            },
            flows: [
              {
                name: 'erp-to-crm',
                entity: 'customer',
                from: ['erp'],
                to: ['crm'],
                reconcile: { schedule: 'rate(1 hour)', windowHours: 2 },
              },
            ],
          }),
      },
    );
    for (let n = 1; n <= 3; n++)
      erp.upsert({ id: `e${n}`, email: `e${n}@example.com`, name: `E ${n}`, updated_at: at(n) });
    await hub.runtime.pollNow('erp');
    expectBalanced(await hub.runtime.settle());
    // After the poll: two new rows and an update, which no poll reads (its schedule is a day).
    erp.upsert({ id: 'e4', email: 'e4@example.com', name: 'E 4', updated_at: at(10) });
    erp.upsert({ id: 'e5', email: 'e5@example.com', name: 'E 5', updated_at: at(11) });
    erp.upsert({ id: 'e2', email: 'e2@example.com', name: 'E 2 renamed', updated_at: at(12) });
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
    await erp?.stop();
  });

  it('names the unread rows as missing and the updated one as behind, through the paged API', async () => {
    const report = await reconcile();
    expect(report.missingAtHub.map((m) => [m.sourceId, m.reason])).toEqual([
      ['e4', 'missing'],
      ['e5', 'missing'],
      ['e2', 'behind'],
    ]);
    expect(report.missingAtHub[2]).toMatchObject({
      hubVersion: Date.parse(at(2)),
      listedVersion: Date.parse(at(12)),
    });
    expect(report).toMatchObject({ listed: 5, atHub: 2, drift: 3, missingAtDestinations: [] });
    // The default window: the flow's windowHours, up to now.
    expect(Date.parse(report.window.until) - Date.parse(report.window.since)).toBe(2 * 3_600_000);
  });

  it('repairs through the inbound queue: each row reaches the CRM once, in its newest version; then no drift', async () => {
    expect((await reconcile('?repair=1')).repaired).toEqual({ toHub: 3, toDestinations: 0 });
    expectBalanced(await hub.runtime.settle());
    for (const id of ['e1', 'e2', 'e3', 'e4', 'e5']) expect(contactOf(id), id).toHaveLength(1);
    expect(contactOf('e2')[0]?.data.name).toBe('E 2 renamed');
    expect(contactOf('e4')[0]?.writes).toBe(1);
    expect((await reconcile('?repair=1')).repaired).toEqual({ toHub: 0, toDestinations: 0 });
    const final = await hub.runtime.settle();
    expectBalanced(final);
    expect((await reconcile()).drift).toBe(0);
  });

  it("runs as the scheduled reconcile function too: the flow's window, its report stored, no repair (repair: false)", async () => {
    erp.upsert({ id: 'e6', email: 'e6@example.com', name: 'E 6', updated_at: at(20) });
    const summary = await hub.runtime.reconcileNow('erp-to-crm');
    expect(summary).toMatchObject({ flow: 'erp-to-crm', listed: 6, atHub: 5, drift: 1 });
    expect(summary.repaired).toBeUndefined();
    expect(Date.parse(summary.window.until) - Date.parse(summary.window.since)).toBe(2 * 3_600_000);
    const stored = (await (
      await fetch(`${hub.runtime.url}/_switchyard/ops/reconcile/erp-to-crm`)
    ).json()) as ReconcileReport;
    expect(stored.missingAtHub.map((m) => m.sourceId)).toEqual(['e6']);
    expectBalanced(await hub.runtime.settle());
  });
});
