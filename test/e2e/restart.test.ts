import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { FileSecretStore } from '../../local/file-secrets.js';
import { silentLogger } from '../../local/log.js';
import { type HubRuntime, startRuntime } from '../../local/runtime.js';
import { CRM_TOKEN, e2eConfig, STRIPE_SECRET } from '../support/hub.js';

/**
 * A graceful stop (what SIGTERM does) while records still wait for a destination that is down: the
 * queue journal in the data directory holds them and the next start re-sends them, so nothing
 * accepted is lost or delivered twice, and the saved counters balance across the restart.
 */
describe('stop and start again with records still queued', () => {
  let dir: string;
  let crm: CrmDestination;
  let runtime: HubRuntime | undefined;
  // By default enough receives that no record is dead-lettered before the stop.
  const start = async (maxReceiveCount = 50) => {
    runtime = await startRuntime({
      config: e2eConfig(crm.url, {
        destinations: {
          crm: {
            connector: 'http',
            url: crm.url,
            secret: 'e2e/crm-token',
            retry: { maxReceiveCount, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
            circuitBreaker: { enabled: false },
          },
        },
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
    dir = await mkdtemp(join(tmpdir(), 'switchyard-restart-'));
    await writeFile(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/crm-token': CRM_TOKEN }),
    );
    crm = await startCrmDestination({ token: CRM_TOKEN });
  });
  afterEach(async () => {
    await runtime?.stop({ drainTimeoutMs: 500 });
    runtime = undefined;
    crm.restore();
    for (const file of ['dynamodb', 'queues.journal', 'counters.json'])
      await rm(join(dir, file), { recursive: true, force: true });
  });
  afterAll(async () => {
    await crm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses nothing and duplicates nothing', async () => {
    const first = await start();
    crm.outage(503);
    const now = Math.floor(Date.now() / 1000);
    for (let n = 1; n <= 4; n++) {
      const sent = await sendStripeEvent(
        `${first.url}/webhooks/stripe`,
        stripeCustomerEvent('customer.created', demoCustomer(n), now),
        STRIPE_SECRET,
      );
      expect(sent.status).toBe(202);
    }
    // Let the records reach the lane and start retrying, then stop before they can finish.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await first.stop({ drainTimeoutMs: 300 });
    expect(existsSync(join(dir, 'queues.journal'))).toBe(true);
    expect(existsSync(join(dir, 'counters.json'))).toBe(true);
    expect(crm.contacts.size).toBe(0);

    crm.restore();
    const second = await start();
    // Read once: a later unclean stop must not bring these counters back a second time.
    expect(existsSync(join(dir, 'counters.json'))).toBe(false);
    const stats = await second.settle(30_000);
    expect(crm.contacts.size).toBe(4);
    for (const contact of crm.contacts.values()) expect(contact.writes).toBe(1);
    expect(stats.sources.stripe?.accepted).toBe(4);
    expect(stats.flows['customers-to-crm']?.crm?.delivered).toBe(4);
    expect(stats.balanced).toBe(true);
  });

  it('after an unclean stop, a message fauxqs moved to a DLQ comes back in the DLQ, and the counters start over from it', async () => {
    const first = await start(1);
    const contactsBefore = crm.contacts.size;
    crm.outage(503);
    const sent = await sendStripeEvent(
      `${first.url}/webhooks/stripe`,
      stripeCustomerEvent('customer.created', demoCustomer(7), Math.floor(Date.now() / 1000)),
      STRIPE_SECRET,
    );
    expect(sent.status).toBe(202);
    // One failed attempt is the last: the next receive makes fauxqs move it to the lane's DLQ.
    const deadline = Date.now() + 20_000;
    while ((await first.stats()).destinations.crm?.deadLetterDepth !== 1) {
      if (Date.now() > deadline) throw new Error('the record did not reach the DLQ');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await first.stop({ drainTimeoutMs: 300 });
    // What a SIGKILL leaves: the journal (written before every answer) and no saved counters.
    await rm(join(dir, 'counters.json'));

    crm.restore();
    const second = await start(1);
    const stats = await second.settle(10_000);
    expect(stats.destinations.crm?.deadLetterDepth).toBe(1);
    expect(stats.totals).toMatchObject({ accepted: 1, deadLettered: 1, delivered: 0, inFlight: 0 });
    expect(stats.balanced).toBe(true);
    expect(crm.contacts.size).toBe(contactsBefore);
  });
});
