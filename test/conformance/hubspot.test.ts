import { Signature } from '@hubspot/api-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { hubspotConnector, hubspotSignedUri } from '../../functions/connectors/hubspot.js';
import { validateCustomer } from '../../functions/model/customer.js';
import {
  envelopesOf,
  expectRejected,
  hubspotSignature,
  sourceSettings,
  verdictOf,
  webhookRequest,
} from '../support/signers.js';

/**
 * X-HubSpot-Signature-v3 as HubSpot's own client (@hubspot/api-client `Signature`) makes and checks
 * it: requests are signed with `Signature.getSignature('POST', 'v3', ...)` over the uri HubSpot
 * signs (its decoding rule applied to the URL it called), and whatever our verifier accepts must
 * also pass `Signature.isValid({ signatureVersion: 'v3', ... })` at the same clock.
 */

const CURRENT = 'a1b2c3d4-e5f6-4789-abcd-ef0123456789';
const PREVIOUS = '0f9e8d7c-6b5a-4321-fedc-ba9876543210';
const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const WINDOW_MS = 300_000;
const settings = sourceSettings({ connector: 'hubspot' });

/** The URL as HubSpot called it (what ingest rebuilds), with escapes HubSpot decodes and ones it keeps. */
const URL_CALLED = 'https://hub.example.com/webhooks/crm?portal=62515&next=%2Fcontacts%3Fid%3D1&tag=a%20b%21';
/** What HubSpot signs for it: %2F %3F %21 decoded, %3D and %20 kept. */
const URI_SIGNED = 'https://hub.example.com/webhooks/crm?portal=62515&next=/contacts?id%3D1&tag=a%20b!';

const batch = JSON.stringify([
  {
    eventId: 1001,
    subscriptionId: 25,
    portalId: 62515,
    appId: 54321,
    occurredAt: NOW - 2000,
    subscriptionType: 'contact.propertyChange',
    attemptNumber: 0,
    objectId: 123,
    changeSource: 'CRM',
    propertyName: 'email',
    propertyValue: 'Ada.Lovelace@Example.com',
  },
  {
    eventId: 1002,
    occurredAt: NOW - 1500,
    subscriptionType: 'contact.creation',
    objectId: 124,
    portalId: 62515,
  },
  {
    eventId: 1003,
    occurredAt: NOW - 1000,
    subscriptionType: 'contact.deletion',
    objectId: 125,
    portalId: 62515,
  },
]);

function vendorSign(body: string, timestamp = NOW, secret = CURRENT, url = URI_SIGNED): string {
  return Signature.getSignature('POST', 'v3', {
    signature: '',
    clientSecret: secret,
    requestBody: body,
    url,
    timestamp,
  });
}

function headers(signature: string, timestamp: number | string): Record<string, string> {
  return { 'X-HubSpot-Signature-v3': signature, 'X-HubSpot-Request-Timestamp': String(timestamp) };
}

function ours(
  body: string | Buffer,
  signature: string,
  timestamp: number | string = NOW,
  secrets: readonly string[] = [CURRENT],
  url = URL_CALLED,
) {
  return verdictOf(
    hubspotConnector,
    webhookRequest(body, headers(signature, timestamp), { url }),
    secrets,
    NOW,
    settings,
  );
}

/** HubSpot's verdict at our clock: isValid reads Date.now(). */
function hubspotAccepts(body: string, signature: string, timestamp: number, secret = CURRENT): boolean {
  try {
    return Signature.isValid({
      signatureVersion: 'v3',
      method: 'POST',
      signature,
      clientSecret: secret,
      requestBody: body,
      url: URI_SIGNED,
      timestamp,
    });
  } catch {
    return false;
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('HubSpot v3 signatures made by @hubspot/api-client', () => {
  it('signs the uri with only the listed escapes decoded', () => {
    expect(hubspotSignedUri(URL_CALLED)).toBe(URI_SIGNED);
    expect(vendorSign(batch)).toBe(hubspotSignature('POST', URI_SIGNED, batch, NOW, CURRENT));
  });

  it('verifies a batch signed with the current secret, as HubSpot does', () => {
    const signature = vendorSign(batch);
    expect(ours(batch, signature)).toEqual({ accepted: true, secretIndex: 0 });
    expect(hubspotAccepts(batch, signature, NOW)).toBe(true);
  });

  it.each([
    ['non-ASCII text', '[{"eventId":1,"propertyValue":"Zoë Ångström 東京 😀"}]'],
    ['pretty-printed JSON with CRLF', '[\r\n  {"eventId": 1}\r\n]\r\n'],
    ['a 200 KiB body', JSON.stringify([{ eventId: 1, pad: 'x'.repeat(200 * 1024) }])],
  ])('verifies %s', (_label, body) => {
    const signature = vendorSign(body);
    expect(ours(body, signature)).toEqual({ accepted: true, secretIndex: 0 });
    expect(hubspotAccepts(body, signature, NOW)).toBe(true);
  });

  it('fails if one byte of the body changed', () => {
    const signature = vendorSign(batch);
    const tampered = batch.replace('Ada.Lovelace', 'Ada.Lovelacf');
    expectRejected(
      ours(tampered, signature),
      'bad_signature',
      /X-HubSpot-Signature-v3 matches no signing secret/,
      [CURRENT],
      tampered,
    );
    expect(hubspotAccepts(tampered, signature, NOW)).toBe(false);
  });

  it('fails if the batch was signed with another secret', () => {
    expectRejected(
      ours(batch, vendorSign(batch, NOW, 'someone-else')),
      'bad_signature',
      /matches no signing secret/,
      [CURRENT],
    );
  });

  it.each([
    ['re-serialised compactly', (s: string) => JSON.stringify(JSON.parse(s))],
    ['re-serialised with indent', (s: string) => JSON.stringify(JSON.parse(s), null, 2)],
    ['with non-ASCII escaped', (s: string) => s.replace('ë', '\\u00eb')],
  ])('fails if the body arrives %s', (_label, transform) => {
    const raw = '[ {"eventId": 1, "propertyValue": "Zoë"} ]';
    const signature = vendorSign(raw);
    const changed = transform(raw);
    expect(changed).not.toBe(raw);
    expectRejected(ours(changed, signature), 'bad_signature', /matches no signing secret/);
    expect(hubspotAccepts(changed, signature, NOW)).toBe(false);
  });

  describe('the signed uri', () => {
    it('fails if the signature covers another path or query', () => {
      const signature = vendorSign(batch, NOW, CURRENT, URI_SIGNED.replace('portal=62515', 'portal=62516'));
      expectRejected(ours(batch, signature), 'bad_signature', /matches no signing secret/);
    });

    it('fails if the URL was signed without decoding, or with %20 decoded too', () => {
      for (const url of [URL_CALLED, decodeURIComponent(URL_CALLED)]) {
        expectRejected(
          ours(batch, vendorSign(batch, NOW, CURRENT, url)),
          'bad_signature',
          /matches no signing secret/,
        );
      }
    });

    it('fails if the method differs from the signed one', () => {
      const signature = Signature.getSignature('PUT', 'v3', {
        signature: '',
        clientSecret: CURRENT,
        requestBody: batch,
        url: URI_SIGNED,
        timestamp: NOW,
      });
      expectRejected(ours(batch, signature), 'bad_signature', /matches no signing secret/);
    });

    it('accepts the lower-case spelling of a decoded escape either way', () => {
      const url = 'https://hub.example.com/webhooks/crm?next=%2fcontacts';
      for (const signed of ['https://hub.example.com/webhooks/crm?next=/contacts', url]) {
        expect(ours(batch, vendorSign(batch, NOW, CURRENT, signed), NOW, [CURRENT], url)).toEqual({
          accepted: true,
          secretIndex: 0,
        });
      }
    });
  });

  describe('replay window (milliseconds)', () => {
    it('accepts a timestamp exactly at the edge of the window, as HubSpot does', () => {
      const at = NOW - WINDOW_MS;
      expect(ours(batch, vendorSign(batch, at), at)).toEqual({ accepted: true, secretIndex: 0 });
      expect(hubspotAccepts(batch, vendorSign(batch, at), at)).toBe(true);
    });

    it('fails if the timestamp is more than 300 000 ms old', () => {
      const at = NOW - WINDOW_MS - 1;
      expectRejected(
        ours(batch, vendorSign(batch, at), at),
        'timestamp_out_of_window',
        /300001 ms old; the window is 300000 ms/,
      );
      expect(hubspotAccepts(batch, vendorSign(batch, at), at)).toBe(false);
    });

    it('fails if the timestamp is more than 300 000 ms in the future (HubSpot only rejects old ones)', () => {
      const at = NOW + WINDOW_MS + 1;
      expectRejected(
        ours(batch, vendorSign(batch, at), at),
        'timestamp_out_of_window',
        /300001 ms in the future/,
      );
      expect(hubspotAccepts(batch, vendorSign(batch, at), at)).toBe(true);
    });

    it('fails if the timestamp is in seconds: it reads as decades old', () => {
      const seconds = Math.floor(NOW / 1000);
      expectRejected(ours(batch, vendorSign(batch, seconds), seconds), 'timestamp_out_of_window', /ms old/);
    });

    it('fails if the timestamp was changed after signing', () => {
      expectRejected(
        ours(batch, vendorSign(batch, NOW), NOW + 1),
        'bad_signature',
        /matches no signing secret/,
      );
    });

    it('checks the window only after the signature: a forged old request says bad_signature', () => {
      const at = NOW - 10 * WINDOW_MS;
      expectRejected(
        ours(batch, vendorSign(batch, at, 'forger'), at),
        'bad_signature',
        /matches no signing secret/,
      );
    });

    it('fails if the timestamp is not a number', () => {
      expectRejected(
        ours(batch, vendorSign(batch), 'soon'),
        'bad_signature',
        /not a whole number of milliseconds/,
      );
    });
  });

  describe('rotation', () => {
    it('accepts the previous secret while it is listed, and says which one matched', () => {
      expect(ours(batch, vendorSign(batch, NOW, PREVIOUS), NOW, [CURRENT, PREVIOUS])).toEqual({
        accepted: true,
        secretIndex: 1,
      });
    });

    it('fails once the previous secret is removed', () => {
      expectRejected(
        ours(batch, vendorSign(batch, NOW, PREVIOUS), NOW, [CURRENT]),
        'bad_signature',
        /matches no/,
        [CURRENT, PREVIOUS],
      );
    });
  });

  it('splits a signed batch into one event per element and maps each', () => {
    const request = webhookRequest(batch, headers(vendorSign(batch), NOW), { url: URL_CALLED });
    const events = hubspotConnector.parse(request, JSON.parse(batch), settings);
    expect(events.map((e) => e.eventId)).toEqual(['1001', '1002', '1003']);
    expect(JSON.parse(events[0]?.body ?? '')).toMatchObject({ eventId: 1001, propertyName: 'email' });
    const records = envelopesOf(events).map((envelope) => hubspotConnector.toRecords(envelope, settings));
    expect(records[0]).toHaveLength(1);
    expect(validateCustomer(records[0]?.[0]?.data ?? {})).toMatchObject({
      ok: true,
      data: { email: 'ada.lovelace@example.com', refs: { hubspot: '123' } },
    });
    expect(records[1]).toEqual([]);
    expect(records[2]).toMatchObject([{ sourceId: '125', deleted: true, version: NOW - 1000 }]);
  });
});
