import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { sampleBucket } from '../../functions/core/shadow.js';
import type { PromoteResult, ShadowDiff } from '../../functions/core/shadow-ops.js';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { FileSecretStore } from '../../local/file-secrets.js';
import { silentLogger } from '../../local/log.js';
import { type HubRuntime, startRuntime } from '../../local/runtime.js';
import type { HubStats } from '../../local/stats.js';
import { cli } from '../support/cli.js';
import { CRM_TOKEN, e2eConfig, STRIPE_SECRET } from '../support/hub.js';

const FLOW = 'customers-to-crm';

async function json<T>(args: string[]): Promise<T> {
  const result = await cli(args);
  if (result.code !== 0)
    throw new Error(`switchyard ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

function expectBalanced(stats: HubStats): void {
  const t = stats.totals;
  expect(t.accepted).toBe(t.delivered + t.skipped + t.quarantined + t.deadLettered + t.inFlight);
  expect(stats.balanced).toBe(true);
}

/**
 * A shadow flow runs the whole pipeline against the real local runtime and records what it would
 * send, calling nothing; restarted live on the same data directory and promoted, the CRM gets exactly
 * the recorded records (latest per entity), once, under the recorded idempotency keys.
 */
describe('shadow flow, then live', () => {
  let dir: string;
  let crm: CrmDestination;
  let runtime: HubRuntime | undefined;
  const start = async (flow: Partial<SwitchyardConfigInput['flows'][number]>) => {
    runtime = await startRuntime({
      config: e2eConfig(crm.url, {
        flows: [{ name: FLOW, entity: 'customer', from: ['stripe'], to: ['crm'], ...flow }],
      }),
      secrets: new FileSecretStore(join(dir, 'secrets.json')),
      dataDir: dir,
      port: 0,
      logLevel: 'SILENT',
      pollWaitSeconds: 1,
      log: silentLogger,
    });
    return runtime;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-shadow-'));
    await writeFile(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/crm-token': CRM_TOKEN }),
    );
    crm = await startCrmDestination({ token: CRM_TOKEN });
  });
  afterAll(async () => {
    await runtime?.stop({ drainTimeoutMs: 500 });
    await crm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('records decisions and calls nothing; live and promoted, delivers exactly what it recorded, once', async () => {
    const shadow = await start({ mode: 'shadow' });
    const webhook = `${shadow.url}/webhooks/stripe`;
    const now = Math.floor(Date.now() / 1000);
    const created = [1, 2, 3, 4].map((n) => stripeCustomerEvent('customer.created', demoCustomer(n), now));
    for (const payload of created)
      expect((await sendStripeEvent(webhook, payload, STRIPE_SECRET)).status).toBe(202);
    await shadow.settle(30_000);
    // A provider's re-delivery of the first event, and an update of the second customer.
    const duplicate = created[0] ?? '';
    expect((await sendStripeEvent(webhook, duplicate, STRIPE_SECRET)).status).toBe(202);
    const update = stripeCustomerEvent(
      'customer.updated',
      demoCustomer(2, { name: 'Grace Renamed' }),
      now + 10,
    );
    expect((await sendStripeEvent(webhook, update, STRIPE_SECRET)).status).toBe(202);
    const shadowed = await shadow.settle(30_000);

    expect(crm.calls).toHaveLength(0);
    const lane = shadowed.flows[FLOW]?.crm;
    expect(lane?.delivered).toBe(0);
    expect(lane?.skipped.shadow).toBe(5);
    expect(shadowed.totals.accepted).toBe(6);
    expect(shadowed.totals.skipped).toBe(6);
    expectBalanced(shadowed);

    // The diff through the real CLI: every record would be created (the CRM has none), read by GET.
    const diff = await json<ShadowDiff>(['shadow', 'diff', '--flow', FLOW, '--json', '--url', shadow.url]);
    expect(diff.summary).toEqual({
      records: 4,
      wouldCreate: 4,
      wouldUpdate: 0,
      unchanged: 0,
      cannotRead: 0,
      promoted: 0,
    });
    expect(crm.reads.sort()).toEqual(diff.items.map((i) => i.id).sort());
    for (const item of diff.items) {
      expect(item.idempotencyKey).toMatch(/^sy-[0-9a-f]{40}$/);
      expect(item.decision).toBe('create');
      expect(item.payload).toMatchObject({ entity: 'customer', id: item.id, source: 'stripe' });
    }
    const renamed = diff.items.find(
      (i) => (i.payload as { data: { name?: string } }).data.name === 'Grace Renamed',
    );
    expect(renamed?.version).toBe(now + 10);
    const text = await cli(['shadow', 'diff', '--flow', FLOW, '--url', shadow.url]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      '4 shadow record(s): would create 4, would update 0, unchanged 0, cannot read 0',
    );

    // Promote refuses while the flow is still in shadow mode.
    const refused = await cli(['shadow', 'promote', '--flow', FLOW, '--url', shadow.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`Flow "${FLOW}" is in shadow mode`);
    expect(crm.calls).toHaveLength(0);

    // Live, on the same data directory: nothing is sent until the promote.
    await shadow.stop();
    const live = await start({ mode: 'live' });
    await live.settle(30_000);
    expect(crm.calls).toHaveLength(0);

    const promoted = await json<PromoteResult>([
      'shadow',
      'promote',
      '--flow',
      FLOW,
      '--json',
      '--url',
      live.url,
    ]);
    expect(promoted).toMatchObject({ promoted: 4, alreadyPromoted: 0, outsideSample: 0 });
    const delivered = await live.settle(30_000);
    expect(crm.calls).toHaveLength(4);
    const sent = new Map(crm.calls.map((c) => [String(c.body.id), c]));
    for (const item of diff.items) {
      const call = sent.get(item.id);
      expect(call?.headers['idempotency-key']).toBe(item.idempotencyKey);
      expect(call?.body).toEqual(item.payload);
    }
    for (const contact of crm.contacts.values()) expect(contact.writes).toBe(1);
    expect(crm.contacts.get(renamed?.id ?? '')?.data.name).toBe('Grace Renamed');
    expect(delivered.flows[FLOW]?.crm?.delivered).toBe(4);
    expectBalanced(delivered);

    // A second promote sends nothing.
    const again = await json<PromoteResult>([
      'shadow',
      'promote',
      '--flow',
      FLOW,
      '--json',
      '--url',
      live.url,
    ]);
    expect(again).toMatchObject({ promoted: 0, alreadyPromoted: 4 });
    const after = await live.settle(30_000);
    expect(crm.calls).toHaveLength(4);
    expectBalanced(after);
    const diffAfter = await json<ShadowDiff>(['shadow', 'diff', '--flow', FLOW, '--json', '--url', live.url]);
    expect(diffAfter.summary).toMatchObject({ records: 4, promoted: 4 });
    expect(diffAfter.items).toEqual([]);
  });
});

/**
 * Two pilots side by side, each to its own CRM: a percent sample (by the documented hash of the
 * canonical id) and a list of `system:externalId` ids. Only the sample reaches each CRM; the rest is
 * recorded in shadow.
 */
describe('pilot flows', () => {
  let dir: string;
  let crmPercent: CrmDestination;
  let crmIds: CrmDestination;
  let runtime: HubRuntime | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-pilot-'));
    await writeFile(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/crm-token': CRM_TOKEN }),
    );
    crmPercent = await startCrmDestination({ token: CRM_TOKEN });
    crmIds = await startCrmDestination({ token: CRM_TOKEN });
    const lane = { secret: 'e2e/crm-token', timeoutMs: 2000, circuitBreaker: { enabled: false } } as const;
    runtime = await startRuntime({
      config: e2eConfig(crmPercent.url, {
        destinations: {
          crm: { connector: 'http', url: crmPercent.url, ...lane },
          crm2: { connector: 'http', url: crmIds.url, ...lane },
        },
        flows: [
          {
            name: 'pilot-percent',
            entity: 'customer',
            from: ['stripe'],
            to: ['crm'],
            pilot: { percent: 50 },
          },
          {
            name: 'pilot-ids',
            entity: 'customer',
            from: ['stripe'],
            to: ['crm2'],
            pilot: { ids: ['stripe:cus_demo00003', 'stripe:cus_demo00007'] },
          },
        ],
      }),
      secrets: new FileSecretStore(join(dir, 'secrets.json')),
      dataDir: dir,
      inMemory: true,
      port: 0,
      logLevel: 'SILENT',
      pollWaitSeconds: 1,
      log: silentLogger,
    });
  });
  afterAll(async () => {
    await runtime?.stop({ drainTimeoutMs: 500 });
    await crmPercent?.stop();
    await crmIds?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers only its sample, records the others in shadow, and balances', async () => {
    const hub = runtime as HubRuntime;
    const now = Math.floor(Date.now() / 1000);
    for (let n = 1; n <= 12; n++) {
      const payload = stripeCustomerEvent('customer.created', demoCustomer(n), now);
      expect((await sendStripeEvent(`${hub.url}/webhooks/stripe`, payload, STRIPE_SECRET)).status).toBe(202);
    }
    const stats = await hub.settle(30_000);

    // Percent: the CRM holds exactly the entities whose bucket is below 50; the rest are shadowed.
    const percentDiff = await json<ShadowDiff>([
      'shadow',
      'diff',
      '--flow',
      'pilot-percent',
      '--json',
      '--url',
      hub.url,
    ]);
    const deliveredIds = [...crmPercent.contacts.keys()];
    const shadowIds = percentDiff.items.map((i) => i.id);
    expect(deliveredIds.length + shadowIds.length).toBe(12);
    expect(new Set([...deliveredIds, ...shadowIds]).size).toBe(12);
    for (const id of deliveredIds) expect(sampleBucket(id)).toBeLessThan(50);
    for (const id of shadowIds) expect(sampleBucket(id)).toBeGreaterThanOrEqual(50);
    expect(crmPercent.calls).toHaveLength(deliveredIds.length);
    expect(stats.flows['pilot-percent']?.crm).toMatchObject({
      delivered: deliveredIds.length,
      skipped: shadowIds.length > 0 ? { shadow: shadowIds.length } : {},
    });

    // Ids: exactly the two listed Stripe customers reach the second CRM.
    const listed = [...crmIds.contacts.values()]
      .map((c) => (c.data.refs as Record<string, string>).stripe)
      .sort();
    expect(listed).toEqual(['cus_demo00003', 'cus_demo00007']);
    expect(crmIds.calls).toHaveLength(2);
    const idsDiff = await json<ShadowDiff>([
      'shadow',
      'diff',
      '--flow',
      'pilot-ids',
      '--json',
      '--url',
      hub.url,
    ]);
    expect(idsDiff.summary).toMatchObject({ records: 10, wouldCreate: 10 });
    expect(stats.flows['pilot-ids']?.crm2).toMatchObject({ delivered: 2, skipped: { shadow: 10 } });
    expectBalanced(stats);
  });
});
