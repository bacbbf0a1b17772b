import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import type { QualityReport } from '../../functions/core/ops.js';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { FileSecretStore } from '../../local/file-secrets.js';
import { silentLogger } from '../../local/log.js';
import { type HubRuntime, startRuntime } from '../../local/runtime.js';

const SECRET = 'whsec_ops_e2e';
const now = () => Math.floor(Date.now() / 1000);

/**
 * The operator's tools on a hub that restarts: quarantine an invalid record, relax the rule in the
 * config, restart on the same data directory, replay, and see it delivered; backfill a destination
 * added later; report data quality.
 */
describe('quarantine replay, backfill and quality across a restart', () => {
  let dir: string;
  let crm: CrmDestination;
  let erpCrm: CrmDestination;
  let runtime: HubRuntime | undefined;

  const config = (options: { relaxed: boolean; withSecondDestination: boolean }): SwitchyardConfig =>
    loadConfig({
      name: 'opse2e',
      sources: { stripe: { connector: 'stripe', secret: 'ops/stripe' } },
      destinations: {
        crm: { connector: 'http', url: crm.url, secret: 'ops/crm' },
        ...(options.withSecondDestination
          ? { archive: { connector: 'http', url: erpCrm.url, secret: 'ops/crm' } }
          : {}),
      },
      flows: [
        { name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['crm'] },
        ...(options.withSecondDestination
          ? [{ name: 'customers-to-archive', entity: 'customer' as const, from: ['stripe'], to: ['archive'] }]
          : []),
      ],
      validation: { disabledRules: options.relaxed ? ['customer.email.format'] : [] },
    });

  const start = async (options: { relaxed: boolean; withSecondDestination: boolean }) => {
    runtime = await startRuntime({
      config: config(options),
      secrets: new FileSecretStore(join(dir, 'secrets.json')),
      dataDir: dir,
      port: 0,
      logLevel: 'SILENT',
      pollWaitSeconds: 1,
      log: silentLogger,
    });
    return runtime;
  };
  const ops = async <T>(method: 'GET' | 'POST', path: string): Promise<T> => {
    const response = await fetch(`${runtime?.url}/_switchyard/ops/${path}`, { method });
    expect(response.status, await response.clone().text()).toBe(200);
    return (await response.json()) as T;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-ops-'));
    await writeFile(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'ops/stripe': SECRET, 'ops/crm': 'ops-token' }),
    );
    crm = await startCrmDestination({ token: 'ops-token' });
    erpCrm = await startCrmDestination({ token: 'ops-token' });
  });
  afterAll(async () => {
    await runtime?.stop({ drainTimeoutMs: 1000 });
    await crm?.stop();
    await erpCrm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('quarantines an invalid email, then after relaxing the rule and a restart, replays it and delivers it', async () => {
    const hub = await start({ relaxed: false, withSecondDestination: false });
    for (let n = 1; n <= 5; n++) {
      await sendStripeEvent(
        `${hub.url}/webhooks/stripe`,
        stripeCustomerEvent('customer.created', demoCustomer(n), now()),
        SECRET,
      );
    }
    await sendStripeEvent(
      `${hub.url}/webhooks/stripe`,
      stripeCustomerEvent('customer.created', demoCustomer(6, { email: 'ops-desk' }), now()),
      SECRET,
    );
    await hub.settle();
    const listed = await ops<{ items: { key: string; reasons: { rule: string }[] }[] }>('GET', 'quarantine');
    expect(listed.items).toHaveLength(1);
    expect(listed.items[0]?.reasons.map((r) => r.rule)).toEqual(['customer.email.format']);
    await hub.stop();

    const relaxed = await start({ relaxed: true, withSecondDestination: false });
    const key = listed.items[0]?.key ?? '';
    const replay = await ops<{ stage: string }>('POST', `quarantine/${encodeURIComponent(key)}/replay`);
    expect(replay.stage).toBe('route');
    const stats = await relaxed.settle();
    expect([...crm.contacts.values()].map((c) => c.data.email)).toContain('ops-desk');
    expect((await ops<{ items: unknown[] }>('GET', 'quarantine')).items).toEqual([]);
    expect(stats.balanced).toBe(true);
  });

  it('backfills a destination added later: every canonical customer once, and a second run sends nothing new', async () => {
    await runtime?.stop();
    const hub = await start({ relaxed: true, withSecondDestination: true });
    const first = await ops<{ scanned: number; sent: number; next?: string }>(
      'POST',
      'backfill/customers-to-archive?limit=2',
    );
    let { sent } = first;
    let after = first.next;
    while (after) {
      const page = await ops<{ sent: number; next?: string }>(
        'POST',
        `backfill/customers-to-archive?limit=2&after=${encodeURIComponent(after)}`,
      );
      sent += page.sent;
      after = page.next;
    }
    await hub.settle();
    expect(sent).toBe(6);
    expect(erpCrm.contacts.size).toBe(6);
    expect([...erpCrm.contacts.values()].every((c) => c.writes === 1)).toBe(true);
    // Re-running is safe: the destination already holds every version.
    await ops('POST', 'backfill/customers-to-archive?limit=100');
    const stats = await hub.settle();
    expect([...erpCrm.contacts.values()].every((c) => c.writes === 1)).toBe(true);
    expect(stats.flows['customers-to-archive']?.archive?.skipped.duplicate).toBe(6);
    expect(stats.balanced).toBe(true);
  });

  it('fails if a backfill page size is not 1 to 1000 items, with a 400 naming the value', async () => {
    for (const limit of ['0', '-5', '1001', '2.5', 'abc']) {
      const response = await fetch(
        `${runtime?.url}/_switchyard/ops/backfill/customers-to-crm?limit=${limit}`,
        {
          method: 'POST',
        },
      );
      expect(response.status).toBe(400);
      const body = (await response.json()) as { message: string };
      expect(body.message).toBe(
        `A backfill page is a whole number of state-table items from 1 to 1000 (got "${limit}")`,
      );
    }
  });

  it('reports data quality: completeness, formats (no invalid rates left after the replay), and the trend on a second report', async () => {
    const first = await ops<QualityReport>('GET', 'quality?entity=customer');
    expect(first.records).toBe(6);
    expect(first.completeness.email).toBe(100);
    expect(first.formats['phone.e164']).toBe(100);
    expect(first.formats['address.country.alpha2']).toBe(100);
    expect(first.trend).toBeUndefined();
    expect(first.invalidRate).toEqual({});
    const hub = runtime as HubRuntime;
    await sendStripeEvent(
      `${hub.url}/webhooks/stripe`,
      stripeCustomerEvent('customer.created', demoCustomer(7, { phone: null, address: null }), now()),
      SECRET,
    );
    await hub.settle();
    const second = await ops<QualityReport>('GET', 'quality?entity=customer&source=stripe');
    expect(second.records).toBe(7);
    expect(second.completeness.phone).toBeCloseTo(85.7, 1);
    const again = await ops<QualityReport>('GET', 'quality?entity=customer&source=stripe');
    expect(again.trend?.completeness.phone).toBe(0);
  });
});

describe('the operator API refuses other sites', () => {
  let crm: CrmDestination;
  let runtime: HubRuntime;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-ops-guard-'));
    crm = await startCrmDestination({});
    runtime = await startRuntime({
      config: loadConfig({
        name: 'opsguard',
        sources: { stripe: { connector: 'stripe', secret: 'g/stripe' } },
        destinations: { crm: { connector: 'http', url: crm.url } },
        flows: [{ name: 'customers', entity: 'customer', from: ['stripe'], to: ['crm'] }],
      }),
      secrets: new FileSecretStore(join(dir, 'none.json'), { 'g/stripe': SECRET }),
      dataDir: dir,
      inMemory: true,
      port: 0,
      logLevel: 'SILENT',
      log: silentLogger,
    });
  });
  afterAll(async () => {
    await runtime?.stop({ drainTimeoutMs: 500 });
    await crm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 421 to a Host that is not this machine (DNS rebinding), and 403 to a cross-site POST', async () => {
    const http = await import('node:http');
    const request = (method: string, path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(`${runtime.url}${path}`, { method, headers }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await request('GET', '/_switchyard/ops/quarantine', { host: 'evil.example' })).toBe(421);
    expect(
      await request('POST', '/_switchyard/ops/backfill/customers', { origin: 'https://evil.example' }),
    ).toBe(403);
    expect(await request('POST', '/_switchyard/poll/stripe', { 'sec-fetch-site': 'cross-site' })).toBe(403);
    // The CLI (no Origin) is served.
    expect(await request('GET', '/_switchyard/ops/quarantine', {})).toBe(200);
  });
});
