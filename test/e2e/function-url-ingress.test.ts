import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivedCanonicalId } from '../../functions/core/identity.js';
import { demoCustomer, stripeCustomerEvent, stripeSignatureHeader } from '../../local/demo/stripe-sender.js';
import { e2eConfig, STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

/*
 * `api.ingress: 'function-url'` on the local runtime: the front door hands the ingest handler what a
 * Lambda function URL would (routeKey `$default`, no path parameters, any method), so the real
 * handler reads the source from the path and refuses other methods itself.
 */

const now = () => Math.floor(Date.now() / 1000);

describe("api.ingress 'function-url' on the local runtime (real handlers, dynalite, fauxqs)", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(undefined, {
      config: (crmUrl) => e2eConfig(crmUrl, { api: { ingress: 'function-url' } }),
      schedules: false,
    });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('accepts a signed webhook read from the path and delivers it once under its derived id', async () => {
    const response = await hub.send(stripeCustomerEvent('customer.created', demoCustomer(7), now()));
    expect(response.status).toBe(202);
    const stats = await hub.runtime.settle();
    const id = derivedCanonicalId('stripe', 'customer', 'cus_demo00007');
    expect(hub.crm.calls.filter((call) => call.body.id === id)).toHaveLength(1);
    expect(stats.totals).toMatchObject({ accepted: 1, delivered: 1, inFlight: 0 });
    expect(stats.balanced).toBe(true);
  });

  it('answers another method 405 from the handler (Allow: POST), counted rejected, nothing enqueued', async () => {
    const payload = stripeCustomerEvent('customer.created', demoCustomer(8), now());
    const before = hub.crm.calls.length;
    const response = await fetch(hub.webhookUrl, {
      method: 'PUT',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': stripeSignatureHeader(payload, STRIPE_SECRET, now()),
      },
      body: payload,
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.json()).toMatchObject({ error: 'method_not_allowed' });
    const stats = await hub.runtime.settle();
    expect(hub.crm.calls.length).toBe(before);
    expect(stats.totals).toMatchObject({ accepted: 1, delivered: 1 });
    expect(stats.sources.stripe).toMatchObject({
      received: 2,
      accepted: 1,
      rejected: { method_not_allowed: 1 },
    });
    expect(stats.balanced).toBe(true);
  });
});
