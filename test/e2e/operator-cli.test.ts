import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import type { RedriveAudit } from '../../local/ops-routes.js';
import type { HubStats } from '../../local/stats.js';
import { cli } from '../support/cli.js';
import { startTestHub, type TestHub } from '../support/hub.js';

const now = () => Math.floor(Date.now() / 1000);

function expectBalanced(stats: HubStats): void {
  const t = stats.totals;
  expect(t.accepted).toBe(t.delivered + t.skipped + t.quarantined + t.deadLettered + t.inFlight);
  expect(stats.balanced).toBe(true);
}

interface Listed {
  key: string;
  stage: string;
  eventId: string;
}

describe('operator CLI: redrive, trace and replay on the local runtime', () => {
  let hub: TestHub;
  let redrivenEventId: string;

  const contactByStripeId = (stripeId: string) =>
    [...hub.crm.contacts.values()].find((c) => (c.data.refs as Record<string, string>)?.stripe === stripeId);
  const quarantined = async (): Promise<Listed[]> => {
    const response = await fetch(`${hub.runtime.url}/_switchyard/ops/quarantine`);
    return ((await response.json()) as { items: Listed[] }).items;
  };

  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('`redrive <destination>` moves the dead letter back, it is delivered once, and the redrive is recorded', async () => {
    // The CRM stays down for every receive the lane allows (maxReceiveCount 4): one dead letter.
    hub.crm.fail({ status: 503, times: 4 });
    const doomed = await hub.send(stripeCustomerEvent('customer.created', demoCustomer(1), now()));
    redrivenEventId = String(doomed.body.eventId);
    let stats = await hub.runtime.settle(30_000);
    expect(stats.destinations.crm?.deadLetterDepth).toBe(1);
    expect(contactByStripeId('cus_demo00001')).toBeUndefined();

    const unknown = await cli(['redrive', 'nowhere', '--url', hub.runtime.url]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No queue or destination "nowhere"');
    // A destination name maps to its queue; --limit 1 with one dead letter moves it.
    const limited = await cli(['redrive', 'crm', '--limit', '1', '--url', hub.runtime.url, '--by', 'x']);
    expect(limited.code, limited.stderr).toBe(0);
    expect(limited.stdout).toMatch(/x redrove 1 message\(s\) on deliver-crm/);

    stats = await hub.runtime.settle(30_000);
    expect(stats.destinations.crm?.deadLetterDepth).toBe(0);
    const contact = contactByStripeId('cus_demo00001');
    expect(contact?.writes).toBe(1);
    expect(stats.flows['customers-to-crm']?.crm?.redriven).toBe(1);
    expectBalanced(stats);

    // Nothing left: a second redrive moves none and is recorded too, by the CLI's --by.
    const again = await cli(['redrive', 'deliver-crm', '--url', hub.runtime.url, '--by', 'e2e-operator']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}e2e-operator redrove 0 message\(s\) on deliver-crm$/m,
    );

    const response = await fetch(`${hub.runtime.url}/_switchyard/ops/redrives`);
    const { items } = (await response.json()) as { items: RedriveAudit[] };
    expect(items).toEqual([
      { queue: 'deliver-crm', moved: 0, by: 'e2e-operator', at: expect.any(String) },
      { queue: 'deliver-crm', moved: 1, by: 'x', at: expect.any(String) },
    ]);
    const listed = await cli(['redrive', '--list', '--url', hub.runtime.url]);
    expect(listed.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('`redrive --limit` refuses a DLQ holding more than the limit, moving nothing', async () => {
    hub.crm.fail({ status: 503, times: 8 });
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(2), now()));
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(3), now()));
    let stats = await hub.runtime.settle(30_000);
    expect(stats.destinations.crm?.deadLetterDepth).toBe(2);
    const refused = await cli(['redrive', 'crm', '--limit', '1', '--url', hub.runtime.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('more than --limit 1');
    expect((await hub.runtime.stats()).destinations.crm?.deadLetterDepth).toBe(2);

    const moved = await cli(['redrive', 'crm', '--url', hub.runtime.url, '--by', 'e2e-operator']);
    expect(moved.stdout).toContain('e2e-operator redrove 2 message(s) on deliver-crm');
    stats = await hub.runtime.settle(30_000);
    expect(contactByStripeId('cus_demo00002')?.writes).toBe(1);
    expect(contactByStripeId('cus_demo00003')?.writes).toBe(1);
    expectBalanced(stats);
  });

  it("`trace` prints a redriven, delivered event's journey, lanes and attempts, and says when it knows no event", async () => {
    const { code, stdout, stderr } = await cli(['trace', redrivenEventId, '--url', hub.runtime.url]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain(`event ${redrivenEventId}`);
    // The journey, from the audit trail.
    expect(stdout).toMatch(/Z {2}ingest {3}accepted from stripe$/m);
    expect(stdout).toMatch(
      /Z {2}deliver {2}dead-lettered customers-to-crm -> crm customer \S+ v\d+: TransientError$/m,
    );
    expect(stdout).toMatch(
      /Z {2}redrive {2}redriven customers-to-crm -> crm .*moved back to e2e-deliver-crm\.fifo \(by x\)$/m,
    );
    expect(stdout).toMatch(/Z {2}deliver {2}delivered customers-to-crm -> crm customer /m);
    // The attempts, from the in-memory trace.
    expect(stdout).toMatch(/Z {2}accepted from stripe \(HTTP 202\)/);
    expect(stdout).toMatch(/deliver attempt 4 to customers-to-crm\/crm .*: dead-lettered/);
    expect(stdout).toMatch(/redriven back to e2e-deliver-crm\.fifo/);
    expect(stdout).toMatch(/-> HTTP 503 in \d+ ms/);
    expect(stdout).toMatch(/-> HTTP 20\d in \d+ ms/);
    expect(stdout).toMatch(/customers-to-crm -> crm: delivered/);

    const json = await cli(['trace', redrivenEventId, '--json', '--url', hub.runtime.url]);
    expect(JSON.parse(json.stdout)).toMatchObject({ eventId: redrivenEventId, found: true });

    const missing = await cli(['trace', 'evt_never_seen', '--url', hub.runtime.url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No event or entity "evt_never_seen"');
  });

  it('`replay --from quarantine` counts with --dry-run, then replays only matching items, which are delivered', async () => {
    const since = new Date().toISOString();
    // The CRM refuses two records (fatal 400: quarantined at deliver); a third fails validation at route.
    hub.crm.fail({ status: 400, times: 2, body: '{"error":"phone is invalid"}' });
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(4), now()));
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(5), now()));
    await hub.runtime.settle();
    await hub.send(
      stripeCustomerEvent('customer.created', demoCustomer(6, { email: 'not-an-email' }), now()),
    );
    let stats = await hub.runtime.settle();
    const before = await quarantined();
    expect(before.map((i) => i.stage).sort()).toEqual(['deliver', 'deliver', 'route']);
    const callsBefore = hub.crm.calls.length;

    const dry = await cli([
      'replay',
      ...['--from', 'quarantine', '--stage', 'deliver', '--source', 'stripe', '--entity', 'customer'],
      ...['--since', since, '--dry-run', '--url', hub.runtime.url],
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(
      'dry run: 2 of 3 quarantined record(s) match (route: 0, deliver: 2); nothing was replayed',
    );
    const future = await cli([
      'replay',
      ...['--from', 'quarantine', '--since', '2999-01-01T00:00:00Z', '--dry-run', '--url', hub.runtime.url],
    ]);
    expect(future.stdout).toContain('dry run: 0 of 3');
    expect(await quarantined()).toEqual(before);
    expect(hub.crm.calls.length).toBe(callsBefore);

    // The destination accepts again: replay the deliver-stage items only.
    const run = await cli([
      'replay',
      ...['--from', 'quarantine', '--stage', 'deliver', '--since', since, '--url', hub.runtime.url],
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('replayed 2 record(s)');
    stats = await hub.runtime.settle();
    expect(contactByStripeId('cus_demo00004')?.writes).toBe(1);
    expect(contactByStripeId('cus_demo00005')?.writes).toBe(1);
    expect(contactByStripeId('cus_demo00006')).toBeUndefined();
    expect((await quarantined()).map((i) => i.stage)).toEqual(['route']);
    expectBalanced(stats);

    const other = await cli(['replay', '--from', 'archive', '--url', hub.runtime.url]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('replay from quarantine or canonical');
  });
});
