import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { CRM_TOKEN, STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A destination down for much longer than the retry budget (4 receives, backoff 0.5-1 s): the
 * breaker opens after 3 failures, records wait in the queue instead of reaching the DLQ, and once
 * the destination answers every record is delivered once.
 */
describe('circuit breaker per destination, on the local runtime', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(
      { 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/crm-token': CRM_TOKEN },
      {
        config: (crmUrl) =>
          loadConfig({
            name: 'breaker',
            sources: { stripe: { connector: 'stripe', secret: 'e2e/stripe-webhook' } },
            destinations: {
              crm: {
                connector: 'http',
                url: crmUrl,
                secret: 'e2e/crm-token',
                timeoutMs: 2000,
                retry: { maxReceiveCount: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
                circuitBreaker: { failureThreshold: 3, openSeconds: 2, maxOpenSeconds: 4 },
              },
            },
            flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['crm'] }],
          }),
      },
    );
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('keeps records out of the DLQ while the destination is down for longer than the retry budget, then delivers each once', async () => {
    hub.crm.outage(503);
    for (let n = 1; n <= 5; n++)
      await hub.send(stripeCustomerEvent('customer.created', demoCustomer(n), now()));
    // Four times the retry budget.
    await sleep(12_000);
    const during = await hub.runtime.stats();
    expect(during.destinations.crm?.deadLetterDepth).toBe(0);
    expect(during.flows['customers-to-crm']?.crm?.deadLettered).toBe(0);
    expect(during.flows['customers-to-crm']?.crm?.delivered).toBe(0);
    // Paused, not hammering: a handful of probes in 12 s, not one call per record per receive.
    const callsWhileDown = hub.crm.calls.length;
    expect(callsWhileDown).toBeGreaterThanOrEqual(3);
    expect(callsWhileDown).toBeLessThan(20);

    hub.crm.restore();
    const after = await hub.runtime.settle(30_000);
    expect(after.flows['customers-to-crm']?.crm).toMatchObject({ delivered: 5, deadLettered: 0 });
    expect(after.destinations.crm?.deadLetterDepth).toBe(0);
    for (const contact of hub.crm.contacts.values()) expect(contact.writes).toBe(1);
    expect(hub.crm.contacts.size).toBe(5);
    expect(after.balanced).toBe(true);
  });
});
