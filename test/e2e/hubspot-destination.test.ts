import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import { type HubSpotApi, startHubSpotApi } from '../../local/demo/hubspot-api.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

const TOKEN = 'pat-na1-e2e';
const now = () => Math.floor(Date.now() / 1000);

describe('hubspot destination (CRM v3 contacts) against a HubSpot-like API', () => {
  let hubspot: HubSpotApi;
  let hub: TestHub;
  beforeAll(async () => {
    hubspot = await startHubSpotApi({ token: TOKEN });
    hub = await startTestHub(
      { 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/hubspot-token': TOKEN },
      {
        config: () =>
          loadConfig({
            name: 'hse2e',
            sources: { stripe: { connector: 'stripe', secret: 'e2e/stripe-webhook' } },
            destinations: {
              hubspot: {
                connector: 'hubspot',
                url: hubspot.url,
                secret: 'e2e/hubspot-token',
                retry: { maxReceiveCount: 5, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
              },
            },
            flows: [{ name: 'customers-to-hubspot', entity: 'customer', from: ['stripe'], to: ['hubspot'] }],
          }),
      },
    );
  });
  afterAll(async () => {
    await hub?.stop();
    await hubspot?.stop();
  });

  it('upserts a contact by email with its properties, and the same update again changes nothing', async () => {
    const payload = stripeCustomerEvent('customer.created', demoCustomer(1), now());
    await hub.send(payload);
    await hub.send(payload);
    const stats = await hub.runtime.settle();
    const contact = hubspot.contacts.get('grace.1@example.com');
    expect(contact?.properties).toMatchObject({
      email: 'grace.1@example.com',
      firstname: 'Grace',
      lastname: 'Customer 1',
      city: 'London',
      zip: 'N1 9GU',
      country: 'GB',
    });
    expect(contact?.writes).toBe(1);
    expect(stats.flows['customers-to-hubspot']?.hubspot).toMatchObject({
      delivered: 1,
      skipped: { duplicate: 1 },
    });
    expect(stats.balanced).toBe(true);
  });

  it('waits out a 429 with Retry-After and then delivers', async () => {
    hubspot.rateLimit(2, 1);
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(2), now()));
    const stats = await hub.runtime.settle(20_000);
    expect(hubspot.calls.filter((c) => c.status === 429)).toHaveLength(2);
    expect(hubspot.contacts.get('linus.2@example.com')?.writes).toBe(1);
    expect(stats.flows['customers-to-hubspot']?.hubspot?.retried).toBeGreaterThanOrEqual(2);
    expect(stats.balanced).toBe(true);
  });

  it('quarantines the one contact HubSpot rejects and delivers the ones around it', async () => {
    // Valid for Switchyard, refused by HubSpot's stricter email check: the destination decides.
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(3), now()));
    await hub.send(
      stripeCustomerEvent('customer.created', demoCustomer(4, { email: 'ken@localhost' }), now()),
    );
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(5), now()));
    const stats = await hub.runtime.settle();
    expect(hubspot.contacts.has('barbara.3@example.com')).toBe(true);
    expect(hubspot.contacts.has('margaret.5@example.com')).toBe(true);
    expect(hubspot.contacts.has('ken@localhost')).toBe(false);
    expect(stats.flows['customers-to-hubspot']?.hubspot?.quarantined).toBe(1);
    expect(stats.balanced).toBe(true);
  });

  it('updates the same contact by its HubSpot id when the email changes (no second contact)', async () => {
    const t = now();
    await hub.send(
      stripeCustomerEvent('customer.created', demoCustomer(7, { email: 'before@example.com' }), t - 10),
    );
    await hub.runtime.settle();
    const id = hubspot.contacts.get('before@example.com')?.id;
    await hub.send(
      stripeCustomerEvent('customer.updated', demoCustomer(7, { email: 'after@example.com' }), t),
    );
    await hub.runtime.settle();
    expect(hubspot.contacts.has('before@example.com')).toBe(false);
    expect(hubspot.contacts.get('after@example.com')?.id).toBe(id);
    expect(hubspot.calls.filter((c) => c.path === `/crm/v3/objects/contacts/${id}`)).toHaveLength(1);
  });

  it('archives the contact when the customer is deleted', async () => {
    const t = now();
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(6), t - 10));
    await hub.runtime.settle();
    await hub.send(stripeCustomerEvent('customer.deleted', demoCustomer(6), t));
    await hub.runtime.settle();
    expect(hubspot.contacts.get('dennis.6@example.com')?.archived).toBe(true);
  });
});
