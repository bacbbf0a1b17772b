import '@shopify/shopify-api/adapters/web-api';
import { ApiVersion, LogSeverity, shopifyApi } from '@shopify/shopify-api';
import { getHmac } from '@shopify/shopify-api/test-helpers';
import { describe, expect, it } from 'vitest';
import { shopifyConnector } from '../../functions/connectors/shopify.js';
import { validateCustomer } from '../../functions/model/customer.js';
import {
  envelopesOf,
  expectRejected,
  shopifySignature,
  sourceSettings,
  verdictOf,
  webhookRequest,
} from '../support/signers.js';

/**
 * X-Shopify-Hmac-Sha256 as Shopify's own library (@shopify/shopify-api) makes and checks it: bodies
 * are signed with its test helper `getHmac`, and whatever our verifier accepts must also pass its
 * `webhooks.validate`.
 */

const CURRENT = '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';
const PREVIOUS = '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';
const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const settings = sourceSettings({ connector: 'shopify' });

const shopify = shopifyApi({
  apiKey: 'switchyard-conformance',
  apiSecretKey: CURRENT,
  apiVersion: ApiVersion.January25,
  hostName: 'hub.example.com',
  isEmbeddedApp: false,
  logger: { level: LogSeverity.Error },
});

// As Shopify sends it: the id is a JSON number past 2^53 (JSON.parse loses its last digits).
const payload =
  '{"id":706405506930370084,"email":"bob.norman@example.com","first_name":"Bob","last_name":"Norman",' +
  '"updated_at":"2024-05-01T07:59:00-04:00","default_address":{"address1":"1 Main St","city":"Ottawa",' +
  '"province_code":"ON","zip":"K2P 1L4","country_code":"CA"},' +
  '"admin_graphql_api_id":"gid:\\/\\/shopify\\/Customer\\/706405506930370084"}';

function headers(body: string | Buffer, hmac: string): Record<string, string> {
  return {
    'X-Shopify-Hmac-Sha256': hmac,
    'X-Shopify-Topic': 'customers/create',
    'X-Shopify-Shop-Domain': 'acme.myshopify.com',
    'X-Shopify-API-Version': '2025-01',
    'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    'X-Shopify-Triggered-At': '2024-05-01T11:59:00.000Z',
    'Content-Length': String(Buffer.byteLength(body)),
  };
}

function ours(body: string | Buffer, hmac: string, secrets: readonly string[] = [CURRENT], now = NOW) {
  return verdictOf(shopifyConnector, webhookRequest(body, headers(body, hmac)), secrets, now, settings);
}

/** Shopify's verdict on the same request. */
async function shopifyAccepts(body: string, hmac: string): Promise<boolean> {
  const rawRequest = new Request('https://hub.example.com/webhooks/shop', {
    method: 'POST',
    headers: headers(body, hmac),
    body,
  });
  const result = await shopify.webhooks.validate({ rawBody: body, rawRequest });
  return result.valid;
}

describe('Shopify webhooks signed by @shopify/shopify-api', () => {
  it('verifies a payload signed with the current secret, as Shopify does', async () => {
    const hmac = getHmac(payload, CURRENT);
    expect(hmac).toBe(shopifySignature(payload, CURRENT));
    expect(ours(payload, hmac)).toEqual({ accepted: true, secretIndex: 0 });
    expect(await shopifyAccepts(payload, hmac)).toBe(true);
  });

  it.each([
    ['compact JSON', '{"id":1,"email":"a@example.com"}'],
    ['pretty-printed JSON with CRLF', '{\r\n  "id": 1,\r\n  "email": "a@example.com"\r\n}\r\n'],
    ['non-ASCII text', '{"id":1,"first_name":"Zoë Ångström 東京 😀"}'],
    ['a 200 KiB body', JSON.stringify({ id: 2, note: 'x'.repeat(200 * 1024) })],
  ])('verifies %s', async (_label, body) => {
    const hmac = getHmac(body, CURRENT);
    expect(ours(body, hmac)).toEqual({ accepted: true, secretIndex: 0 });
    expect(await shopifyAccepts(body, hmac)).toBe(true);
  });

  it('fails if one byte of the body changed', async () => {
    const hmac = getHmac(payload, CURRENT);
    const tampered = payload.replace('"Bob"', '"Rob"');
    expectRejected(
      ours(tampered, hmac),
      'bad_signature',
      /X-Shopify-Hmac-Sha256 matches no signing secret/,
      [CURRENT],
      tampered,
    );
    expect(await shopifyAccepts(tampered, hmac)).toBe(false);
  });

  it('fails if the payload was signed with another secret', async () => {
    const hmac = getHmac(payload, 'shpss_someone_else');
    expectRejected(ours(payload, hmac), 'bad_signature', /matches no signing secret/, [CURRENT]);
    expect(await shopifyAccepts(payload, hmac)).toBe(false);
  });

  it.each([
    ['re-serialised compactly', (s: string) => JSON.stringify(JSON.parse(s))],
    ['re-serialised with indent', (s: string) => JSON.stringify(JSON.parse(s), null, 2)],
    ['with non-ASCII escaped', (s: string) => s.replace('ë', '\\u00eb')],
    ['in Unicode NFD', (s: string) => s.normalize('NFD')],
  ])('fails if the body arrives %s', async (_label, transform) => {
    const raw = '{"id": 1, "first_name": "Zoë",  "big": 706405506930370084}';
    const hmac = getHmac(raw, CURRENT);
    const changed = transform(raw);
    expect(changed).not.toBe(raw);
    expectRejected(ours(changed, hmac), 'bad_signature', /matches no signing secret/);
    expect(await shopifyAccepts(changed, hmac)).toBe(false);
  });

  it('has no replay window: Shopify signs no timestamp, so a late retry verifies and is deduped downstream', () => {
    const hmac = getHmac(payload, CURRENT);
    const twoDaysLater = NOW + 2 * 86_400_000;
    expect(ours(payload, hmac, [CURRENT], twoDaysLater)).toEqual({ accepted: true, secretIndex: 0 });
    const events = shopifyConnector.parse(
      webhookRequest(payload, headers(payload, hmac)),
      JSON.parse(payload),
      settings,
    );
    expect(events.map((e) => e.eventId)).toEqual(['b54557e4-bdd9-4b37-8a5f-bf7d70bcd043']);
  });

  describe('rotation', () => {
    it('accepts the previous secret while it is listed, and says which one matched', () => {
      expect(ours(payload, getHmac(payload, PREVIOUS), [CURRENT, PREVIOUS])).toEqual({
        accepted: true,
        secretIndex: 1,
      });
      expect(ours(payload, getHmac(payload, CURRENT), [CURRENT, PREVIOUS])).toEqual({
        accepted: true,
        secretIndex: 0,
      });
    });

    it('fails once the previous secret is removed', () => {
      expectRejected(
        ours(payload, getHmac(payload, PREVIOUS), [CURRENT]),
        'bad_signature',
        /matches no signing secret/,
        [CURRENT, PREVIOUS],
      );
    });
  });

  describe('malformed headers, which Shopify rejects too', () => {
    const good = getHmac(payload, CURRENT);
    const mac = Buffer.from(good, 'base64');
    it.each([
      ['the MAC in hex', mac.toString('hex')],
      ['the MAC in base64url', mac.toString('base64url')],
      ['a stray character inside the base64', `${good.slice(0, 10)}!${good.slice(10)}`],
      ['the base64 without padding', good.replace(/=+$/, '')],
      ['a truncated MAC', good.slice(0, 20)],
      ['sha256= before the base64', `sha256=${good}`],
    ])('rejects %s', async (_label, header) => {
      expectRejected(ours(payload, header), 'bad_signature', /matches no signing secret/);
      expect(await shopifyAccepts(payload, header)).toBe(false);
    });
  });

  it('requires the HMAC, topic and webhook id headers (400 before any HMAC work)', () => {
    for (const missing of ['X-Shopify-Hmac-Sha256', 'X-Shopify-Topic', 'X-Shopify-Webhook-Id']) {
      const all = headers(payload, getHmac(payload, CURRENT));
      delete all[missing];
      expect(
        verdictOf(shopifyConnector, webhookRequest(payload, all), [CURRENT], NOW, settings),
      ).toMatchObject({
        accepted: false,
        status: 400,
        code: 'missing_header',
      });
    }
  });

  it('turns a signed customers/create into a valid canonical customer', () => {
    const request = webhookRequest(payload, headers(payload, getHmac(payload, CURRENT)));
    const events = shopifyConnector.parse(request, JSON.parse(payload), settings);
    expect(events[0]?.keepHeaders).toEqual({
      'x-shopify-topic': 'customers/create',
      'x-shopify-shop-domain': 'acme.myshopify.com',
      'x-shopify-api-version': '2025-01',
      'x-shopify-triggered-at': '2024-05-01T11:59:00.000Z',
    });
    const [envelope] = envelopesOf(events);
    const records = envelope ? shopifyConnector.toRecords(envelope, settings) : [];
    expect(records).toHaveLength(1);
    // The id past 2^53 comes from admin_graphql_api_id, digit for digit.
    expect(records[0]?.sourceId).toBe('706405506930370084');
    expect(validateCustomer(records[0]?.data ?? {})).toMatchObject({ ok: true });
  });
});
