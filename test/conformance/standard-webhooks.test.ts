import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { standardWebhooksConnector } from '../../functions/connectors/standard-webhooks.js';
import {
  envelopesOf,
  expectRejected,
  sourceSettings,
  standardWebhooksSignature,
  verdictOf,
  webhookRequest,
} from '../support/signers.js';

/**
 * Standard Webhooks as the reference library (`standardwebhooks`) makes and checks them: requests are
 * signed with `new Webhook(secret).sign(id, date, body)`, and whatever our verifier accepts must also
 * pass `Webhook.verify` at the same clock. Svix is the same scheme under `svix-*` headers.
 */

const CURRENT = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const PREVIOUS = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const NOW_SECONDS = 1_714_564_800;
const NOW = NOW_SECONDS * 1000;
const ID = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
const map = {
  entity: 'customer',
  id: 'data.id',
  version: 'timestamp',
  fields: { email: 'data.email' },
} as const;
const settings = sourceSettings({ connector: 'standard-webhooks', map });
const svixSettings = sourceSettings({ connector: 'standard-webhooks', headerPrefix: 'svix', map });

const payload =
  '{"type":"customer.updated","timestamp":"2024-05-01T11:59:58Z","data":{"id":"cus_42","email":"grace@example.com"}}';

function vendorSign(body: string, timestampSeconds = NOW_SECONDS, secret = CURRENT, id = ID): string {
  return new Webhook(secret).sign(id, new Date(timestampSeconds * 1000), body);
}

function headers(signature: string, timestamp: number | string = NOW_SECONDS, id = ID, prefix = 'webhook') {
  return {
    [`${prefix}-id`]: id,
    [`${prefix}-timestamp`]: String(timestamp),
    [`${prefix}-signature`]: signature,
  };
}

function ours(
  body: string | Buffer,
  signature: string,
  timestamp: number | string = NOW_SECONDS,
  secrets: readonly string[] = [CURRENT],
) {
  return verdictOf(
    standardWebhooksConnector,
    webhookRequest(body, headers(signature, timestamp)),
    secrets,
    NOW,
    settings,
  );
}

/** The reference library's verdict at our clock (its verify reads Date.now()). */
function vendorAccepts(
  body: string,
  signature: string,
  timestamp: number | string = NOW_SECONDS,
  secret = CURRENT,
) {
  try {
    new Webhook(secret).verify(body, headers(signature, timestamp));
    return true;
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

describe('Standard Webhooks signed by the standardwebhooks library', () => {
  it('verifies a payload signed with the current secret, as the library does', () => {
    const signature = vendorSign(payload);
    expect(signature).toBe(standardWebhooksSignature(ID, NOW_SECONDS, payload, CURRENT));
    expect(ours(payload, signature)).toEqual({ accepted: true, secretIndex: 0 });
    expect(vendorAccepts(payload, signature)).toBe(true);
  });

  it.each([
    ['compact JSON', '{"type":"ping"}'],
    ['pretty-printed JSON with CRLF', '{\r\n  "type": "ping"\r\n}\r\n'],
    ['non-ASCII text', '{"name":"Zoë Ångström 東京 😀"}'],
    ['a 200 KiB body', JSON.stringify({ pad: 'x'.repeat(200 * 1024) })],
  ])('verifies %s', (_label, body) => {
    const signature = vendorSign(body);
    expect(ours(body, signature)).toEqual({ accepted: true, secretIndex: 0 });
    expect(vendorAccepts(body, signature)).toBe(true);
  });

  it('fails if one byte of the body changed', () => {
    const signature = vendorSign(payload);
    const tampered = payload.replace('grace@', 'grade@');
    expectRejected(
      ours(tampered, signature),
      'bad_signature',
      /No v1 signature in webhook-signature matches/,
      [CURRENT],
      tampered,
    );
    expect(vendorAccepts(tampered, signature)).toBe(false);
  });

  it('fails if the payload was signed with another secret', () => {
    const other = `whsec_${Buffer.from('someone else entirely').toString('base64')}`;
    expectRejected(
      ours(payload, vendorSign(payload, NOW_SECONDS, other)),
      'bad_signature',
      /matches a signing secret/,
      [CURRENT],
    );
  });

  it('keys the HMAC with the base64-decoded secret, not the whsec_ string', () => {
    const asText = createHmac('sha256', CURRENT).update(`${ID}.${NOW_SECONDS}.${payload}`).digest('base64');
    expectRejected(ours(payload, `v1,${asText}`), 'bad_signature', /matches a signing secret/);
    // A secret stored without the prefix is the same key.
    expect(ours(payload, vendorSign(payload), NOW_SECONDS, [CURRENT.slice('whsec_'.length)])).toEqual({
      accepted: true,
      secretIndex: 0,
    });
  });

  it.each([
    ['re-serialised compactly', (s: string) => JSON.stringify(JSON.parse(s))],
    ['re-serialised with indent', (s: string) => JSON.stringify(JSON.parse(s), null, 2)],
    ['with non-ASCII escaped', (s: string) => s.replace('ë', '\\u00eb')],
  ])('fails if the body arrives %s', (_label, transform) => {
    const raw = '{ "name": "Zoë",  "n": 1 }';
    const signature = vendorSign(raw);
    const changed = transform(raw);
    expect(changed).not.toBe(raw);
    expectRejected(ours(changed, signature), 'bad_signature', /matches a signing secret/);
    expect(vendorAccepts(changed, signature)).toBe(false);
  });

  it('fails if the id or the timestamp was changed after signing', () => {
    const signature = vendorSign(payload);
    const request = webhookRequest(payload, headers(signature, NOW_SECONDS, 'msg_other'));
    expect(verdictOf(standardWebhooksConnector, request, [CURRENT], NOW, settings)).toMatchObject({
      code: 'bad_signature',
    });
    expectRejected(ours(payload, signature, NOW_SECONDS - 1), 'bad_signature', /matches a signing secret/);
  });

  describe('replay window (±300 s)', () => {
    it.each([-300, 300])(
      'accepts a timestamp at the edge of the window (%i s), as the library does',
      (offset) => {
        const at = NOW_SECONDS + offset;
        expect(ours(payload, vendorSign(payload, at), at)).toEqual({ accepted: true, secretIndex: 0 });
        expect(vendorAccepts(payload, vendorSign(payload, at), at)).toBe(true);
      },
    );

    it('fails if the timestamp is more than 300 s old', () => {
      const at = NOW_SECONDS - 301;
      expectRejected(
        ours(payload, vendorSign(payload, at), at),
        'timestamp_out_of_window',
        /301 s old; the window is 300 s/,
      );
      expect(vendorAccepts(payload, vendorSign(payload, at), at)).toBe(false);
    });

    it('fails if the timestamp is more than 300 s in the future, as the library does', () => {
      const at = NOW_SECONDS + 301;
      expectRejected(
        ours(payload, vendorSign(payload, at), at),
        'timestamp_out_of_window',
        /301 s in the future/,
      );
      expect(vendorAccepts(payload, vendorSign(payload, at), at)).toBe(false);
    });

    it('fails if the timestamp is in milliseconds', () => {
      const signature = standardWebhooksSignature(ID, NOW, payload, CURRENT);
      expectRejected(ours(payload, signature, NOW), 'timestamp_out_of_window', /in the future/);
    });
  });

  describe('several signatures', () => {
    const good = () => vendorSign(payload);
    const wrong = () => vendorSign(payload, NOW_SECONDS, PREVIOUS);
    it.each([
      ['a wrong v1 first', () => `${wrong()} ${good()}`],
      ['a wrong v1 last', () => `${good()} ${wrong()}`],
      ['another version first', () => `v1a,${'A'.repeat(86)}== ${good()}`],
      ['several wrong ones', () => `v1,AAAA ${wrong()} v2,${good().slice(3)} ${good()}`],
    ])('accepts a header with %s when one v1 matches, as the library does', (_label, make) => {
      const header = make();
      expect(ours(payload, header)).toEqual({ accepted: true, secretIndex: 0 });
      expect(vendorAccepts(payload, header)).toBe(true);
    });

    it.each([
      ['only other versions', () => `v2,${good().slice(3)} v1a,${good().slice(3)}`],
      ['no version', () => good().slice(3)],
      ['the v1 value in hex', () => `v1,${Buffer.from(good().slice(3), 'base64').toString('hex')}`],
      [
        'the v1 value in base64url',
        () => `v1,${Buffer.from(good().slice(3), 'base64').toString('base64url')}`,
      ],
      ['a wrong v1 only', () => wrong()],
    ])('fails with %s, as the library does', (_label, make) => {
      const header = make();
      expect(ours(payload, header)).toMatchObject({ accepted: false, status: 401, code: 'bad_signature' });
      expect(vendorAccepts(payload, header)).toBe(false);
    });
  });

  describe('rotation', () => {
    it('accepts the previous secret while it is listed, and says which one matched', () => {
      expect(
        ours(payload, vendorSign(payload, NOW_SECONDS, PREVIOUS), NOW_SECONDS, [CURRENT, PREVIOUS]),
      ).toEqual({
        accepted: true,
        secretIndex: 1,
      });
    });

    it('fails once the previous secret is removed', () => {
      expectRejected(
        ours(payload, vendorSign(payload, NOW_SECONDS, PREVIOUS), NOW_SECONDS, [CURRENT]),
        'bad_signature',
        /matches a signing secret/,
        [CURRENT, PREVIOUS],
      );
    });

    it('never matches an empty key (a whsec_ secret with nothing after it)', () => {
      const emptyKeyMac = createHmac('sha256', Buffer.alloc(0))
        .update(`${ID}.${NOW_SECONDS}.${payload}`)
        .digest('base64');
      expectRejected(ours(payload, `v1,${emptyKeyMac}`, NOW_SECONDS, ['whsec_']), 'bad_signature', /matches/);
    });
  });

  it('reads svix-* headers when the source says so', () => {
    const signature = vendorSign(payload);
    const request = webhookRequest(payload, headers(signature, NOW_SECONDS, ID, 'svix'));
    expect(standardWebhooksConnector.requiredHeaders(svixSettings)).toEqual([
      'svix-id',
      'svix-timestamp',
      'svix-signature',
    ]);
    expect(verdictOf(standardWebhooksConnector, request, [CURRENT], NOW, svixSettings)).toEqual({
      accepted: true,
      secretIndex: 0,
    });
    expect(verdictOf(standardWebhooksConnector, request, [CURRENT], NOW, settings)).toMatchObject({
      status: 400,
      code: 'missing_header',
    });
  });

  it('takes the event id from the id header and maps the event through the configured map', () => {
    const request = webhookRequest(payload, headers(vendorSign(payload)));
    const events = standardWebhooksConnector.parse(request, JSON.parse(payload), settings);
    expect(events).toEqual([
      { eventId: ID, body: payload, keepHeaders: { 'webhook-timestamp': String(NOW_SECONDS) } },
    ]);
    const [envelope] = envelopesOf(events);
    expect(envelope && standardWebhooksConnector.toRecords(envelope, settings)).toEqual([
      {
        entity: 'customer',
        sourceId: 'cus_42',
        version: Date.parse('2024-05-01T11:59:58Z'),
        deleted: false,
        data: { email: 'grace@example.com' },
      },
    ]);
  });
});
