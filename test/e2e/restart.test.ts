import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  const start = async () => {
    runtime = await startRuntime({
      // Enough receives that no record is dead-lettered before the stop: this is about the queues.
      config: e2eConfig(crm.url, {
        destinations: {
          crm: {
            connector: 'http',
            url: crm.url,
            secret: 'e2e/crm-token',
            retry: { maxReceiveCount: 50, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
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
  afterAll(async () => {
    await runtime?.stop({ drainTimeoutMs: 500 });
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
});
