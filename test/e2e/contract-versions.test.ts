import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import { jsonSchemaOf, validateAs } from '../../functions/model/contracts.js';
import { type CrmCall, type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { CRM_TOKEN, STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

const ACME_SECRET = 'acme-contracts-e2e';
const V1_PROPERTIES = Object.keys(jsonSchemaOf('customer', 1).properties as object);

/**
 * Customer v1 records (Stripe, a built-in connector) and v2 records (a declarative hmac source that
 * says `schemaVersion: 2` and fills the name split) flow together through the real local runtime to
 * two destinations: `legacy` consumes v1 (the default), `modern` declares `consumes: { customer: 2 }`.
 * Each receives every update once, in exactly the version it declared.
 */
describe('customer v1 and v2 records to a v1 and a v2 destination', () => {
  let hub: TestHub;
  let modern: CrmDestination;
  beforeAll(async () => {
    modern = await startCrmDestination({ token: CRM_TOKEN });
    hub = await startTestHub(
      { 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/crm-token': CRM_TOKEN, 'e2e/acme': ACME_SECRET },
      {
        config: (crmUrl) =>
          loadConfig({
            name: 'contracts',
            sources: {
              stripe: { connector: 'stripe', secret: 'e2e/stripe-webhook' },
              acme: {
                connector: 'hmac',
                secret: 'e2e/acme',
                header: 'X-Acme-Signature',
                prefix: 'sha256=',
                eventId: { path: 'id' },
                map: {
                  entity: 'customer',
                  id: 'data.id',
                  version: 'data.updated_at',
                  fields: {
                    email: 'data.email',
                    name: 'data.display',
                    givenName: 'data.first',
                    familyName: 'data.last',
                  },
                  schemaVersion: 2,
                },
              },
            },
            destinations: {
              legacy: {
                connector: 'http',
                url: crmUrl,
                secret: 'e2e/crm-token',
                retry: { maxReceiveCount: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
              },
              modern: {
                connector: 'http',
                url: modern.url,
                secret: 'e2e/crm-token',
                consumes: { customer: 2 },
                retry: { maxReceiveCount: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
              },
            },
            flows: [
              { name: 'customers', entity: 'customer', from: ['stripe', 'acme'], to: ['legacy', 'modern'] },
            ],
          }),
      },
    );
  });
  afterAll(async () => {
    await hub?.stop();
    await modern?.stop();
  });

  const sendAcme = async (data: Record<string, unknown>) => {
    const body = JSON.stringify({ id: `acme-${String(data.id)}-${String(data.updated_at)}`, data });
    const signature = createHmac('sha256', ACME_SECRET).update(body).digest('hex');
    const response = await fetch(`${hub.runtime.url}/webhooks/acme`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-acme-signature': `sha256=${signature}` },
      body,
    });
    expect(response.status).toBe(202);
  };
  const succeeded = (calls: readonly CrmCall[]) => calls.filter((c) => c.status < 300 && !c.replayed);
  const contactByRef = (crm: CrmDestination, system: string, id: string) =>
    [...crm.contacts.values()].find(
      (c) => (c.data.refs as Record<string, string> | undefined)?.[system] === id,
    );

  it('each destination gets every update once, in the version it declared; G3 balanced', async () => {
    const now = Math.floor(Date.now() / 1000);
    // The first call to the v2 destination fails: its retry must carry the same Idempotency-Key.
    modern.fail({ status: 503, times: 1 });
    for (const n of [1, 2, 3]) {
      const customer = demoCustomer(n, n === 2 ? { name: 'Hopper, Grace' } : {});
      expect((await hub.send(stripeCustomerEvent('customer.created', customer, now))).status).toBe(202);
    }
    const at = new Date().toISOString();
    await sendAcme({ id: 'a1', updated_at: at, email: 'ada.byron@example.com', first: 'Ada', last: 'Byron' });
    await sendAcme({
      id: 'a2',
      updated_at: at,
      email: 'ludwig@example.com',
      display: 'Ludwig van Beethoven',
      first: 'Ludwig',
      last: 'van Beethoven',
    });
    await sendAcme({
      id: 'a3',
      updated_at: at,
      email: 'wang.wei@example.com',
      display: 'Wang Wei',
      first: 'Wei',
      last: 'Wang',
    });
    // The same person as Stripe's customer 3 (same email): one entity, v1 and v2 merged.
    await sendAcme({
      id: 'a4',
      updated_at: at,
      email: ' Barbara.3@Example.com',
      first: 'Barbara',
      last: 'Liskov',
    });
    const stats = await hub.runtime.settle(60_000);

    const legacy = hub.crm;
    for (const [crm, declared] of [
      [legacy, 1],
      [modern, 2],
    ] as const) {
      expect(crm.calls.length).toBeGreaterThan(0);
      for (const call of crm.calls) {
        expect(call.body.schemaVersion).toBe(declared);
        const data = call.body.data as Record<string, unknown>;
        expect(validateAs('customer', declared, data)).toEqual({ ok: true, data });
        if (declared === 1) for (const field of Object.keys(data)) expect(V1_PROPERTIES).toContain(field);
      }
      // 7 updates of 6 entities, each applied once.
      expect(succeeded(crm.calls)).toHaveLength(7);
      expect(crm.contacts.size).toBe(6);
      for (const contact of crm.contacts.values()) expect(contact.writes).toBe(contact.versions.length);
    }

    // v2 at the v2 destination: the split as the v2 source said it, and as upgraded from v1's "Family, Given".
    expect(contactByRef(modern, 'acme', 'a1')?.data).toMatchObject({ givenName: 'Ada', familyName: 'Byron' });
    expect(contactByRef(modern, 'acme', 'a2')?.data).toMatchObject({
      name: 'Ludwig van Beethoven',
      givenName: 'Ludwig',
      familyName: 'van Beethoven',
    });
    expect(contactByRef(modern, 'stripe', 'cus_demo00002')?.data).toMatchObject({
      name: 'Hopper, Grace',
      givenName: 'Grace',
      familyName: 'Hopper',
    });
    expect(contactByRef(modern, 'stripe', 'cus_demo00001')?.data).not.toHaveProperty('givenName');
    // v1 at the v1 destination: the split downgraded away, a display name built where there was none.
    expect(contactByRef(legacy, 'acme', 'a1')?.data).toMatchObject({ name: 'Ada Byron' });
    expect(contactByRef(legacy, 'acme', 'a1')?.data).not.toHaveProperty('givenName');
    expect(contactByRef(legacy, 'stripe', 'cus_demo00002')?.data).toMatchObject({ name: 'Hopper, Grace' });
    // The merged entity: one contact per destination holding both refs, each in its version.
    const mergedModern = contactByRef(modern, 'acme', 'a4');
    const mergedLegacy = contactByRef(legacy, 'acme', 'a4');
    expect(mergedModern?.data.refs).toEqual({ stripe: 'cus_demo00003', acme: 'a4' });
    expect(mergedModern?.data).toMatchObject({
      name: 'Barbara Customer 3',
      givenName: 'Barbara',
      familyName: 'Liskov',
    });
    expect(mergedLegacy?.id).toBe(mergedModern?.id);
    expect(mergedLegacy?.data).toMatchObject({
      name: 'Barbara Customer 3',
      refs: { stripe: 'cus_demo00003', acme: 'a4' },
    });
    expect(mergedLegacy?.data).not.toHaveProperty('familyName');

    // Idempotency-Key: the 503'd call and its retry share it; no two updates share one.
    const first = modern.calls[0];
    expect(first?.status).toBe(503);
    const retry = modern.calls
      .slice(1)
      .find((c) => c.body.id === first?.body.id && c.body.version === first?.body.version);
    expect(retry?.headers['idempotency-key']).toBe(first?.headers['idempotency-key']);
    expect(retry?.body).toEqual(first?.body);
    for (const crm of [legacy, modern]) {
      const keys = succeeded(crm.calls).map((c) => c.headers['idempotency-key']);
      expect(new Set(keys).size).toBe(keys.length);
    }

    // G3: 7 accepted events, 2 lanes each.
    const t = stats.totals;
    expect(t.accepted).toBe(t.delivered + t.skipped + t.quarantined + t.deadLettered + t.inFlight);
    expect(stats.balanced).toBe(true);
    expect({ delivered: t.delivered, quarantined: t.quarantined, deadLettered: t.deadLettered }).toEqual({
      delivered: 14,
      quarantined: 0,
      deadLettered: 0,
    });
  });
});
