import { createHmac } from 'node:crypto';
import { Signature } from '@hubspot/api-client';
import { sign as octokitSign } from '@octokit/webhooks-methods';
import { getHmac } from '@shopify/shopify-api/test-helpers';
import { describe, expect, it } from 'vitest';
import { hmacConnector } from '../../functions/connectors/hmac.js';
import {
  envelopesOf,
  expectRejected,
  slackSignature,
  sourceSettings,
  verdictOf,
  webhookRequest,
} from '../support/signers.js';

/**
 * The configurable `hmac` scheme, set up to speak real vendors' schemes and fed requests signed by
 * those vendors' own packages: GitHub's (@octokit/webhooks-methods, hex with a prefix), Shopify's
 * (@shopify/shopify-api, base64), HubSpot's v3 (@hubspot/api-client: method, url, body and a
 * millisecond timestamp) and Slack's documented scheme (a template with a seconds timestamp).
 */

const CURRENT = 'hmac-current-secret-9d8c7b';
const PREVIOUS = 'hmac-previous-secret-1a2b3c';
const NOW_SECONDS = 1_714_564_800;
const NOW = NOW_SECONDS * 1000;
const map = {
  entity: 'customer',
  id: 'data.id',
  version: 'data.updated',
  fields: { email: 'data.email' },
} as const;
const payload =
  '{"id":"evt_77","data":{"id":"c-1","updated":1714564790,"email":"hedy@example.com","name":"Hedy Lamarr"}}';

const githubLike = sourceSettings({
  connector: 'hmac',
  header: 'X-Hub-Signature-256',
  prefix: 'sha256=',
  eventId: { header: 'X-GitHub-Delivery' },
  map,
});
const shopifyLike = sourceSettings({
  connector: 'hmac',
  header: 'X-Shopify-Hmac-Sha256',
  encoding: 'base64',
  eventId: { path: 'id' },
  map,
});
const slackLike = sourceSettings({
  connector: 'hmac',
  header: 'X-Slack-Signature',
  prefix: 'v0=',
  signedPayload: 'v0:{timestamp}:{body}',
  timestampHeader: 'X-Slack-Request-Timestamp',
  eventId: { path: 'id' },
  map,
});
const hubspotLike = sourceSettings({
  connector: 'hmac',
  header: 'X-HubSpot-Signature-v3',
  encoding: 'base64',
  signedPayload: '{method}{url}{body}{timestamp}',
  timestampHeader: 'X-HubSpot-Request-Timestamp',
  timestampUnit: 'ms',
  eventId: { path: 'id' },
  map,
});
const URL = 'https://hub.example.com/webhooks/partner?tenant=7';

type Settings = typeof githubLike;

function run(
  settings: Settings,
  body: string,
  headers: Record<string, string>,
  secrets: readonly string[] = [CURRENT],
) {
  return verdictOf(hmacConnector, webhookRequest(body, headers, { url: URL }), secrets, NOW, settings);
}

describe('the hmac scheme speaking GitHub (signed by @octokit/webhooks-methods)', () => {
  const headers = (signature: string) => ({ 'X-Hub-Signature-256': signature, 'X-GitHub-Delivery': 'd-1' });

  it('verifies a vendor-signed body', async () => {
    expect(run(githubLike, payload, headers(await octokitSign(CURRENT, payload)))).toEqual({
      accepted: true,
      secretIndex: 0,
    });
  });

  it('fails for a flipped byte, another secret and a re-serialised body', async () => {
    const signature = await octokitSign(CURRENT, payload);
    const checks: [string, string][] = [
      [payload.replace('hedy@', 'hedi@'), signature],
      [payload, await octokitSign('someone-else', payload)],
      [JSON.stringify(JSON.parse(payload), null, 2), signature],
    ];
    for (const [body, sig] of checks) {
      expectRejected(
        run(githubLike, body, headers(sig)),
        'bad_signature',
        /X-Hub-Signature-256 matches no signing secret/,
        [CURRENT],
        body,
      );
    }
  });

  it('fails without the configured prefix', async () => {
    const signature = await octokitSign(CURRENT, payload);
    expectRejected(
      run(githubLike, payload, headers(signature.slice(7))),
      'bad_signature',
      /does not start with "sha256="/,
    );
  });

  it('takes the event id from the configured header and maps through the configured map', async () => {
    const request = webhookRequest(payload, headers(await octokitSign(CURRENT, payload)));
    const events = hmacConnector.parse(request, JSON.parse(payload), githubLike);
    expect(events).toEqual([{ eventId: 'd-1', body: payload, keepHeaders: {} }]);
    const [envelope] = envelopesOf(events);
    expect(envelope && hmacConnector.toRecords(envelope, githubLike)).toEqual([
      {
        entity: 'customer',
        sourceId: 'c-1',
        version: 1714564790,
        deleted: false,
        data: { email: 'hedy@example.com' },
      },
    ]);
  });

  it('requires the signature header and the event id header', () => {
    expect(hmacConnector.requiredHeaders(githubLike)).toEqual(['x-hub-signature-256', 'x-github-delivery']);
  });
});

describe('the hmac scheme speaking Shopify (signed by @shopify/shopify-api)', () => {
  const headers = (hmac: string) => ({ 'X-Shopify-Hmac-Sha256': hmac });

  it('verifies a vendor-signed body and finds the event id by JMESPath', () => {
    expect(run(shopifyLike, payload, headers(getHmac(payload, CURRENT)))).toEqual({
      accepted: true,
      secretIndex: 0,
    });
    const request = webhookRequest(payload, headers(getHmac(payload, CURRENT)));
    expect(hmacConnector.parse(request, JSON.parse(payload), shopifyLike).map((e) => e.eventId)).toEqual([
      'evt_77',
    ]);
  });

  it('fails for a flipped byte, another secret, a re-serialised body and the MAC in hex', () => {
    const good = getHmac(payload, CURRENT);
    const checks: [string, string][] = [
      [payload.replace('Hedy', 'Hedi'), good],
      [payload, getHmac(payload, 'someone-else')],
      [JSON.stringify(JSON.parse(payload)).replace('{', '{ '), good],
      [payload, Buffer.from(good, 'base64').toString('hex')],
    ];
    for (const [body, sig] of checks) {
      expectRejected(run(shopifyLike, body, headers(sig)), 'bad_signature', /matches no signing secret/, [
        CURRENT,
      ]);
    }
  });

  it('accepts a rotated secret while listed and rejects it once removed', () => {
    const byPrevious = headers(getHmac(payload, PREVIOUS));
    expect(run(shopifyLike, payload, byPrevious, [CURRENT, PREVIOUS])).toEqual({
      accepted: true,
      secretIndex: 1,
    });
    expectRejected(run(shopifyLike, payload, byPrevious, [CURRENT]), 'bad_signature', /matches no/, [
      CURRENT,
      PREVIOUS,
    ]);
  });

  it('answers 400 when the body has no event id at the configured path', () => {
    const request = webhookRequest('{"data":{}}', headers(getHmac('{"data":{}}', CURRENT)));
    expect(() => hmacConnector.parse(request, { data: {} }, shopifyLike)).toThrow(
      expect.objectContaining({ status: 400, code: 'missing_event_id' }),
    );
  });
});

describe('the hmac scheme speaking HubSpot v3 (signed by @hubspot/api-client)', () => {
  const headers = (signature: string, timestamp: number) => ({
    'X-HubSpot-Signature-v3': signature,
    'X-HubSpot-Request-Timestamp': String(timestamp),
  });
  const vendorSign = (timestamp: number, secret = CURRENT, body = payload) =>
    Signature.getSignature('POST', 'v3', {
      signature: '',
      clientSecret: secret,
      requestBody: body,
      url: URL,
      timestamp,
    });

  it('verifies a vendor-signed request (method, url, body, milliseconds)', () => {
    expect(run(hubspotLike, payload, headers(vendorSign(NOW), NOW))).toEqual({
      accepted: true,
      secretIndex: 0,
    });
  });

  it('applies the window in milliseconds, both ways', () => {
    const edge = NOW - 300_000;
    expect(run(hubspotLike, payload, headers(vendorSign(edge), edge))).toEqual({
      accepted: true,
      secretIndex: 0,
    });
    const stale = NOW - 300_001;
    expectRejected(
      run(hubspotLike, payload, headers(vendorSign(stale), stale)),
      'timestamp_out_of_window',
      /300001 ms old/,
    );
    const ahead = NOW + 300_001;
    expectRejected(
      run(hubspotLike, payload, headers(vendorSign(ahead), ahead)),
      'timestamp_out_of_window',
      /300001 ms in the future/,
    );
  });

  it('fails if the timestamp, the body or the secret differs from what was signed', () => {
    expectRejected(
      run(hubspotLike, payload, headers(vendorSign(NOW), NOW - 1)),
      'bad_signature',
      /matches no/,
    );
    expectRejected(
      run(hubspotLike, `${payload} `, headers(vendorSign(NOW), NOW)),
      'bad_signature',
      /matches no/,
    );
    expectRejected(
      run(hubspotLike, payload, headers(vendorSign(NOW, 'other'), NOW)),
      'bad_signature',
      /matches no/,
    );
  });
});

describe('the hmac scheme speaking Slack (template with a seconds timestamp)', () => {
  const headers = (signature: string, timestamp: number | string) => ({
    'X-Slack-Signature': signature,
    'X-Slack-Request-Timestamp': String(timestamp),
  });

  it('verifies, keeps the signed timestamp header, and applies the window in seconds both ways', () => {
    expect(
      run(slackLike, payload, headers(slackSignature(payload, NOW_SECONDS, CURRENT), NOW_SECONDS)),
    ).toEqual({
      accepted: true,
      secretIndex: 0,
    });
    const request = webhookRequest(
      payload,
      headers(slackSignature(payload, NOW_SECONDS, CURRENT), NOW_SECONDS),
    );
    expect(hmacConnector.parse(request, JSON.parse(payload), slackLike)[0]?.keepHeaders).toEqual({
      'x-slack-request-timestamp': String(NOW_SECONDS),
    });
    for (const [at, pattern] of [
      [NOW_SECONDS - 301, /301 s old; the window is 300 s/],
      [NOW_SECONDS + 301, /301 s in the future/],
    ] as const) {
      expectRejected(
        run(slackLike, payload, headers(slackSignature(payload, at, CURRENT), at)),
        'timestamp_out_of_window',
        pattern,
      );
    }
  });

  it('signs the timestamp header text exactly as received', () => {
    const padded = `0${NOW_SECONDS}`;
    const mac = createHmac('sha256', CURRENT).update(`v0:${padded}:${payload}`).digest('hex');
    expect(run(slackLike, payload, headers(`v0=${mac}`, padded))).toEqual({ accepted: true, secretIndex: 0 });
    expectRejected(run(slackLike, payload, headers(`v0=${mac}`, NOW_SECONDS)), 'bad_signature', /matches no/);
  });

  it('accepts the hex MAC in upper case (the same MAC), but not another encoding', () => {
    const signature = slackSignature(payload, NOW_SECONDS, CURRENT);
    expect(
      run(slackLike, payload, headers(`v0=${signature.slice(3).toUpperCase()}`, NOW_SECONDS)),
    ).toMatchObject({
      accepted: true,
    });
    const base64 = Buffer.from(signature.slice(3), 'hex').toString('base64');
    expectRejected(
      run(slackLike, payload, headers(`v0=${base64}`, NOW_SECONDS)),
      'bad_signature',
      /matches no/,
    );
  });
});

describe('the hmac scheme with other algorithms', () => {
  it.each(['sha1', 'sha512'] as const)('verifies %s and rejects a sha256 MAC in its place', (algorithm) => {
    const settings = sourceSettings({
      connector: 'hmac',
      header: 'X-Signature',
      algorithm,
      eventId: { path: 'id' },
      map,
    });
    const mac = createHmac(algorithm, CURRENT).update(payload).digest('hex');
    expect(run(settings, payload, { 'X-Signature': mac })).toEqual({ accepted: true, secretIndex: 0 });
    const sha256 = createHmac('sha256', CURRENT).update(payload).digest('hex');
    expectRejected(
      run(settings, payload, { 'X-Signature': sha256 }),
      'bad_signature',
      /X-Signature matches no/,
    );
  });

  it('fails at config load when the template uses {timestamp} without a timestamp header', () => {
    expect(() =>
      sourceSettings({
        connector: 'hmac',
        header: 'X-Signature',
        signedPayload: '{timestamp}.{body}',
        eventId: { path: 'id' },
        map,
      }),
    ).toThrow(/uses \{timestamp\} but no timestampHeader says where it is/);
  });
});
