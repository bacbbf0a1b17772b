import { createHash, createHmac } from 'node:crypto';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import { CRM_TOKEN, startTestHub, type TestHub } from '../support/hub.js';
import { hubspotSignature, shopifySignature, slackSignature } from '../support/signers.js';

const SECRETS = {
  shop: 'shpss_e2e',
  hubspot: 'hubspot-client-secret-e2e',
  github: "It's a Secret to Everybody",
  slack: 'slack-signing-secret-e2e',
  svix: `whsec_${Buffer.from('standard-webhooks-e2e-key').toString('base64')}`,
  acme: 'acme-hmac-e2e',
};
const seconds = () => Math.floor(Date.now() / 1000);
const customerMap = (prefix: string) => ({
  entity: 'customer' as const,
  id: `${prefix}.id`,
  version: `${prefix}.updated_at`,
  fields: { email: `${prefix}.email`, name: `${prefix}.name` },
});

/**
 * Every webhook scheme through the real local runtime over HTTP: signed as the provider signs
 * (with the vendor's own package where there is one) it is accepted and delivered; a flipped byte
 * is refused with 401 and delivers nothing.
 */
describe('webhook schemes end to end on the local runtime', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub(
      {
        'e2e/crm-token': CRM_TOKEN,
        ...Object.fromEntries(Object.entries(SECRETS).map(([name, secret]) => [`e2e/${name}`, secret])),
      },
      {
        config: (crmUrl) =>
          loadConfig({
            name: 'schemes',
            sources: {
              shop: { connector: 'shopify', secret: 'e2e/shop' },
              hubspot: { connector: 'hubspot', secret: 'e2e/hubspot' },
              github: { connector: 'github', secret: 'e2e/github', map: customerMap('sender') },
              slack: { connector: 'slack', secret: 'e2e/slack', map: customerMap('event.user') },
              svix: { connector: 'standard-webhooks', secret: 'e2e/svix', map: customerMap('data') },
              acme: {
                connector: 'hmac',
                secret: 'e2e/acme',
                header: 'X-Acme-Signature',
                prefix: 'sha256=',
                signedPayload: '{timestamp}.{body}',
                timestampHeader: 'X-Acme-Timestamp',
                eventId: { path: 'id' },
                map: customerMap('data'),
              },
            },
            destinations: { crm: { connector: 'http', url: crmUrl, secret: 'e2e/crm-token' } },
            flows: [
              {
                name: 'customers',
                entity: 'customer',
                from: ['shop', 'hubspot', 'github', 'slack', 'svix', 'acme'],
                to: ['crm'],
              },
            ],
          }),
      },
    );
  });
  afterAll(async () => {
    await hub?.stop();
  });

  const post = async (source: string, body: string, headers: Record<string, string>, query = '') => {
    const response = await fetch(`${hub.runtime.url}/webhooks/${source}${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const flip = (body: string) => body.replace('example', 'exampIe');
  const delivered = (email: string) => [...hub.crm.contacts.values()].some((c) => c.data.email === email);
  const person = (n: number, updated = new Date().toISOString()) => ({
    id: `p${n}`,
    email: `person${n}@example.com`,
    name: `Person ${n}`,
    updated_at: updated,
  });

  async function expectAcceptedThenRefused(
    source: string,
    email: string,
    send: (body: string, tamper: boolean) => Promise<{ status: number; body: Record<string, unknown> }>,
    body: string,
  ) {
    const refused = await send(body, true);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('bad_signature');
    const accepted = await send(body, false);
    expect(accepted.status).toBe(202);
    const stats = await hub.runtime.settle();
    expect(delivered(email)).toBe(true);
    expect(stats.sources[source]?.rejected.bad_signature).toBe(1);
    expect(stats.balanced).toBe(true);
  }

  it('shopify (X-Shopify-Hmac-Sha256)', async () => {
    const body = JSON.stringify({
      id: 9_100_001,
      email: 'shopper@example.com',
      first_name: 'Shop',
      last_name: 'Per',
      updated_at: new Date().toISOString(),
    });
    await expectAcceptedThenRefused(
      'shop',
      'shopper@example.com',
      (b, tamper) =>
        post('shop', tamper ? flip(b) : b, {
          'x-shopify-hmac-sha256': shopifySignature(b, SECRETS.shop),
          'x-shopify-topic': 'customers/create',
          'x-shopify-webhook-id': createHash('sha1').update(b).digest('hex'),
          'x-shopify-shop-domain': 'e2e.myshopify.com',
        }),
      body,
    );
  });

  it('hubspot v3 (method, the URL as called with escapes in the query, body, ms timestamp)', async () => {
    const query = '?portal=a%3Ab%20c';
    const body = JSON.stringify([
      {
        eventId: 5001,
        subscriptionType: 'contact.propertyChange',
        objectId: 901,
        propertyName: 'email',
        propertyValue: 'hubspotter@example.com',
        occurredAt: Date.now(),
      },
    ]);
    // HubSpot signs the URI with only some escapes decoded: %3A becomes ':', %20 stays.
    const signedUri = `${hub.runtime.url}/webhooks/hubspot?portal=a:b%20c`;
    await expectAcceptedThenRefused(
      'hubspot',
      'hubspotter@example.com',
      (b, tamper) => {
        const ts = Date.now();
        return post(
          'hubspot',
          tamper ? flip(b) : b,
          {
            'x-hubspot-signature-v3': hubspotSignature('POST', signedUri, b, ts, SECRETS.hubspot),
            'x-hubspot-request-timestamp': String(ts),
          },
          query,
        );
      },
      body,
    );
  });

  it('github (X-Hub-Signature-256, signed by @octokit/webhooks-methods)', async () => {
    const body = JSON.stringify({ action: 'created', sender: { ...person(7), email: 'octo@example.com' } });
    const signature = await githubSign(SECRETS.github, body);
    await expectAcceptedThenRefused(
      'github',
      'octo@example.com',
      (b, tamper) =>
        post('github', tamper ? flip(b) : b, {
          'x-hub-signature-256': signature,
          'x-github-event': 'sponsorship',
          'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
        }),
      body,
    );
  });

  it('slack (v0 signature over v0:ts:body)', async () => {
    const body = JSON.stringify({
      event_id: 'Ev0001',
      event: { type: 'user_change', user: { ...person(8), email: 'slacker@example.com' } },
    });
    await expectAcceptedThenRefused(
      'slack',
      'slacker@example.com',
      (b, tamper) => {
        const ts = seconds();
        return post('slack', tamper ? flip(b) : b, {
          'x-slack-signature': slackSignature(b, ts, SECRETS.slack),
          'x-slack-request-timestamp': String(ts),
        });
      },
      body,
    );
  });

  it('standard webhooks (signed by the standardwebhooks package)', async () => {
    const body = JSON.stringify({
      type: 'customer.updated',
      data: { ...person(9), email: 'svix@example.com' },
    });
    await expectAcceptedThenRefused(
      'svix',
      'svix@example.com',
      (b, tamper) => {
        const id = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
        const now = new Date();
        return post('svix', tamper ? flip(b) : b, {
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': new Webhook(SECRETS.svix).sign(id, now, b),
        });
      },
      body,
    );
  });

  it('hmac (a configured scheme: sha256= hex over {timestamp}.{body})', async () => {
    const body = JSON.stringify({ id: 'acme-evt-1', data: { ...person(10), email: 'acme@example.com' } });
    await expectAcceptedThenRefused(
      'acme',
      'acme@example.com',
      (b, tamper) => {
        const ts = seconds();
        const signature = createHmac('sha256', SECRETS.acme).update(`${ts}.${b}`).digest('hex');
        return post('acme', tamper ? flip(b) : b, {
          'x-acme-signature': `sha256=${signature}`,
          'x-acme-timestamp': String(ts),
        });
      },
      body,
    );
  });
});
