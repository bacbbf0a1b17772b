import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { cli } from '../support/cli.js';
import { startTestHub, type TestHub } from '../support/hub.js';

const now = () => Math.floor(Date.now() / 1000);

describe('data CLI: quarantine, backfill and quality against the running hub', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub();
    for (let n = 1; n <= 3; n++)
      await hub.send(stripeCustomerEvent('customer.created', demoCustomer(n), now()));
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(9, { email: 'front-desk' }), now()));
    await hub.runtime.settle();
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('`quarantine list` names the rule and shows the value redacted; `show` prints the record', async () => {
    const list = await cli(['quarantine', 'list', '--url', hub.runtime.url]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/customer\.email\.format \(email = f\*\*\*/);
    expect(list.stdout).not.toContain('front-desk');
    const key = list.stdout.split('\n')[0] ?? '';
    const show = await cli(['quarantine', 'show', key, '--url', hub.runtime.url]);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      stage: 'route',
      reasons: [{ rule: 'customer.email.format' }],
    });
  });

  it('`backfill --flow` reports what it scanned and sent; the destination already holds it all, so nothing is written twice', async () => {
    const before = hub.crm.calls.length;
    const result = await cli([
      'backfill',
      '--flow',
      'customers-to-crm',
      '--restart',
      '--url',
      hub.runtime.url,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('backfill customers-to-crm: 3 records scanned, 3 messages sent');
    const stats = await hub.runtime.settle();
    expect(hub.crm.calls.length).toBe(before);
    expect(stats.flows['customers-to-crm']?.crm?.skipped.duplicate).toBe(3);
    expect(stats.balanced).toBe(true);
  });

  it('`quality` prints completeness, the invalid rate of the failing rule and the formats', async () => {
    const result = await cli(['quality', '--url', hub.runtime.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/records 3, quarantined 1/);
    expect(result.stdout).toMatch(/customer\.email\.format\s+25\.0%/);
    expect(result.stdout).toMatch(/phone\.e164\s+100\.0%/);
    const json = await cli(['quality', '--json', '--url', hub.runtime.url]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      entity: 'customer',
      records: 3,
      trend: { since: expect.any(String) },
    });
  });

  it('fails with a clear message when no hub answers', async () => {
    const result = await cli(['quarantine', 'list', '--url', 'http://127.0.0.1:9']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('No hub answers at http://127.0.0.1:9');
  });
});
