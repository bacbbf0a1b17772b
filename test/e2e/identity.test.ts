import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import { sendShopifyEvent, shopifyCustomer } from '../../local/demo/shopify-sender.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { CRM_TOKEN, STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

const SHOPIFY_SECRET = 'shpss_e2e_secret';
const now = () => Math.floor(Date.now() / 1000);

describe('one canonical customer across systems (identity, ownership, deletes)', () => {
  let hub: TestHub;
  const shopUrl = () => `${hub.runtime.url}/webhooks/shop`;
  beforeAll(async () => {
    hub = await startTestHub(
      { 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/shop-webhook': SHOPIFY_SECRET, 'e2e/crm-token': CRM_TOKEN },
      {
        config: (crmUrl) =>
          loadConfig({
            name: 'ide2e',
            sources: {
              stripe: { connector: 'stripe', secret: 'e2e/stripe-webhook' },
              shop: { connector: 'shopify', secret: 'e2e/shop-webhook' },
            },
            destinations: {
              crm: {
                connector: 'http',
                url: crmUrl,
                secret: 'e2e/crm-token',
                retry: { maxReceiveCount: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
              },
            },
            flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'shop'], to: ['crm'] }],
            // The shop owns name; Stripe owns the address.
            ownership: { customer: { name: 'shop', address: 'stripe' } },
          }),
      },
    );
  });
  afterAll(async () => {
    await hub?.stop();
  });

  const contactsWithEmail = (email: string) =>
    [...hub.crm.contacts.values()].filter((c) => c.data.email === email);

  it('makes the Stripe and the Shopify copy of one person one entity, with both references and one record at the destination', async () => {
    await hub.send(
      stripeCustomerEvent('customer.created', demoCustomer(1, { email: 'Same.Person@Example.com' }), now()),
    );
    await hub.runtime.settle();
    await sendShopifyEvent(
      shopUrl(),
      'customers/create',
      shopifyCustomer(1, { email: ' same.person@example.com', first_name: 'Sam', last_name: 'Person' }),
      SHOPIFY_SECRET,
    );
    const stats = await hub.runtime.settle();
    const contacts = contactsWithEmail('same.person@example.com');
    expect(contacts).toHaveLength(1);
    expect(contacts[0]?.data.refs).toEqual({ stripe: 'cus_demo00001', shop: String(7_000_001) });
    // Ownership: the shop owns name, so its name stands; Stripe owns the address, so the shop's is ignored.
    expect(contacts[0]?.data.name).toBe('Sam Person');
    expect(contacts[0]?.data.address).toMatchObject({ city: 'London', country: 'GB' });
    expect(stats.balanced).toBe(true);
  });

  it('ends 20 concurrent copies of a new customer from two systems as exactly one entity', async () => {
    const email = 'race@example.com';
    const t = now();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? hub.send(stripeCustomerEvent('customer.created', demoCustomer(100 + i, { email }), t))
          : sendShopifyEvent(
              shopUrl(),
              'customers/create',
              shopifyCustomer(100 + i, { email }),
              SHOPIFY_SECRET,
            ),
      ),
    );
    const stats = await hub.runtime.settle(60_000);
    const contacts = contactsWithEmail(email);
    expect(contacts).toHaveLength(1);
    expect(
      new Set(
        hub.crm.calls
          .filter((c) => (c.body.data as { email?: string })?.email === email)
          .map((c) => c.body.id),
      ).size,
    ).toBe(1);
    expect(Object.keys(contacts[0]?.data.refs as object).sort()).toEqual(['shop', 'stripe']);
    expect(stats.balanced).toBe(true);
  });

  it('leaves an owned field alone when a non-owner updates it, and counts the skip', async () => {
    await hub.send(
      stripeCustomerEvent(
        'customer.updated',
        demoCustomer(1, { email: 'same.person@example.com', name: 'Stripe Renamed' }),
        now() + 5,
      ),
    );
    await hub.runtime.settle();
    const [contact] = contactsWithEmail('same.person@example.com');
    expect(contact?.data.name).toBe('Sam Person');
    expect(contact?.data.address).toMatchObject({ city: 'London' });
  });

  it('propagates a delete as a tombstone', async () => {
    const t = now();
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(50), t - 10));
    await hub.runtime.settle();
    await hub.send(stripeCustomerEvent('customer.deleted', demoCustomer(50), t));
    const stats = await hub.runtime.settle();
    const contact = [...hub.crm.contacts.values()].find(
      (c) => (c.data.refs as Record<string, string>)?.stripe === 'cus_demo00050',
    );
    expect(contact?.deleted).toBe(true);
    expect(stats.balanced).toBe(true);
  });
});
