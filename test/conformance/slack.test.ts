import { describe, expect, it } from 'vitest';
import { slackConnector } from '../../functions/connectors/slack.js';
import type { RejectedRequestError } from '../../functions/core/errors.js';
import {
  envelopesOf,
  expectRejected,
  slackSignature,
  sourceSettings,
  verdictOf,
  webhookRequest,
} from '../support/signers.js';

/**
 * Slack ships no signer as a small package (its verifier lives inside @slack/bolt), so these requests
 * are signed from the documented scheme (test/support/signers.ts), which is pinned to the example in
 * Slack's "Verifying requests from Slack" guide: the same signer must reproduce that signature.
 */

const CURRENT = '8f742231b10e8888abcd99yyyzzz85a5';
const PREVIOUS = '5a58zzzyyy99dcba8888e01b132247f8';
const NOW_SECONDS = 1_714_564_800;
const NOW = NOW_SECONDS * 1000;
const settings = sourceSettings({
  connector: 'slack',
  map: {
    entity: 'customer',
    id: 'event.user.id',
    version: 'event_time',
    fields: { email: 'event.user.profile.email' },
  },
});

const payload =
  '{"token":"XXYYZZ","team_id":"T123ABC456","type":"event_callback","event_id":"Ev08MFMKH6","event_time":1714564790,' +
  '"event":{"type":"user_change","user":{"id":"U0G9QF9C6","profile":{"email":"spengler@ghostbusters.example.com"}}}}';

function headers(signature: string, timestamp: number | string = NOW_SECONDS) {
  return { 'X-Slack-Signature': signature, 'X-Slack-Request-Timestamp': String(timestamp) };
}

function ours(
  body: string | Buffer,
  signature: string,
  timestamp: number | string = NOW_SECONDS,
  secrets: readonly string[] = [CURRENT],
) {
  return verdictOf(
    slackConnector,
    webhookRequest(body, headers(signature, timestamp)),
    secrets,
    NOW,
    settings,
  );
}

describe('Slack request signatures', () => {
  it("reproduces the example in Slack's guide, and verifies it", () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar' +
      '&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com' +
      '%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const signature = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
    expect(slackSignature(body, 1_531_420_618, CURRENT)).toBe(signature);
    const request = webhookRequest(body, headers(signature, 1_531_420_618));
    expect(slackConnector.verify(request, { secrets: [CURRENT], now: 1_531_420_618_000 }, settings)).toEqual({
      secretIndex: 0,
    });
  });

  it('verifies an event signed with the current secret', () => {
    expect(ours(payload, slackSignature(payload, NOW_SECONDS, CURRENT))).toEqual({
      accepted: true,
      secretIndex: 0,
    });
  });

  it.each([
    ['non-ASCII text', '{"event_id":"Ev1","text":"Zoë Ångström 東京 😀"}'],
    ['pretty-printed JSON with CRLF', '{\r\n  "event_id": "Ev1"\r\n}\r\n'],
    ['a 200 KiB body', JSON.stringify({ event_id: 'Ev1', pad: 'x'.repeat(200 * 1024) })],
  ])('verifies %s', (_label, body) => {
    expect(ours(body, slackSignature(body, NOW_SECONDS, CURRENT))).toEqual({
      accepted: true,
      secretIndex: 0,
    });
  });

  it('fails if one byte of the body changed', () => {
    const signature = slackSignature(payload, NOW_SECONDS, CURRENT);
    const tampered = payload.replace('spengler@', 'spenglar@');
    expectRejected(
      ours(tampered, signature),
      'bad_signature',
      /X-Slack-Signature matches no signing secret/,
      [CURRENT],
      tampered,
    );
  });

  it('fails if the event was signed with another secret', () => {
    expectRejected(
      ours(payload, slackSignature(payload, NOW_SECONDS, 'someone-else')),
      'bad_signature',
      /matches no/,
      [CURRENT],
    );
  });

  it.each([
    ['re-serialised compactly', (s: string) => JSON.stringify(JSON.parse(s))],
    ['re-serialised with indent', (s: string) => JSON.stringify(JSON.parse(s), null, 2)],
    ['with non-ASCII escaped', (s: string) => s.replace('ë', '\\u00eb')],
  ])('fails if the body arrives %s', (_label, transform) => {
    const raw = '{ "event_id": "Ev1",  "text": "Zoë" }';
    const changed = transform(raw);
    expect(changed).not.toBe(raw);
    expectRejected(ours(changed, slackSignature(raw, NOW_SECONDS, CURRENT)), 'bad_signature', /matches no/);
  });

  describe('replay window (±300 s)', () => {
    it.each([-300, 300])('accepts a timestamp at the edge of the window (%i s)', (offset) => {
      const at = NOW_SECONDS + offset;
      expect(ours(payload, slackSignature(payload, at, CURRENT), at)).toEqual({
        accepted: true,
        secretIndex: 0,
      });
    });

    it('fails if the timestamp is more than 300 s old', () => {
      const at = NOW_SECONDS - 301;
      expectRejected(
        ours(payload, slackSignature(payload, at, CURRENT), at),
        'timestamp_out_of_window',
        /301 s old/,
      );
    });

    it('fails if the timestamp is more than 300 s in the future (Slack’s SDKs only reject old ones)', () => {
      const at = NOW_SECONDS + 301;
      expectRejected(
        ours(payload, slackSignature(payload, at, CURRENT), at),
        'timestamp_out_of_window',
        /301 s in the future/,
      );
    });

    it('fails if the timestamp was changed after signing', () => {
      expectRejected(
        ours(payload, slackSignature(payload, NOW_SECONDS, CURRENT), NOW_SECONDS - 1),
        'bad_signature',
        /matches no/,
      );
    });

    it('fails if the timestamp is not a number', () => {
      expectRejected(
        ours(payload, slackSignature(payload, NOW_SECONDS, CURRENT), '1714564800.5'),
        'bad_signature',
        /whole number/,
      );
    });
  });

  describe('rotation', () => {
    it('accepts the previous secret while it is listed, and says which one matched', () => {
      expect(
        ours(payload, slackSignature(payload, NOW_SECONDS, PREVIOUS), NOW_SECONDS, [CURRENT, PREVIOUS]),
      ).toEqual({
        accepted: true,
        secretIndex: 1,
      });
    });

    it('fails once the previous secret is removed', () => {
      expectRejected(
        ours(payload, slackSignature(payload, NOW_SECONDS, PREVIOUS), NOW_SECONDS, [CURRENT]),
        'bad_signature',
        /matches no/,
        [CURRENT, PREVIOUS],
      );
    });
  });

  it.each([
    ['no v0= prefix', (s: string) => s.slice(3)],
    ['a v1= prefix', (s: string) => `v1=${s.slice(3)}`],
    ['upper-case hex', (s: string) => `v0=${s.slice(3).toUpperCase()}`],
    ['the MAC in base64', (s: string) => `v0=${Buffer.from(s.slice(3), 'hex').toString('base64')}`],
  ])('rejects a signature with %s', (_label, make) => {
    expect(ours(payload, make(slackSignature(payload, NOW_SECONDS, CURRENT)))).toMatchObject({
      accepted: false,
      status: 401,
      code: 'bad_signature',
    });
  });

  it('takes the event id from event_id and maps the event through the configured map', () => {
    const request = webhookRequest(payload, headers(slackSignature(payload, NOW_SECONDS, CURRENT)));
    const events = slackConnector.parse(request, JSON.parse(payload), settings);
    expect(events).toEqual([{ eventId: 'Ev08MFMKH6', body: payload, keepHeaders: {} }]);
    const [envelope] = envelopesOf(events);
    expect(envelope && slackConnector.toRecords(envelope, settings)).toEqual([
      {
        entity: 'customer',
        sourceId: 'U0G9QF9C6',
        version: 1714564790,
        deleted: false,
        data: { email: 'spengler@ghostbusters.example.com' },
      },
    ]);
  });

  it('refuses a url_verification challenge with 400 no_events (the challenge is not answered)', () => {
    const body =
      '{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}';
    const request = webhookRequest(body, headers(slackSignature(body, NOW_SECONDS, CURRENT)));
    expect(ours(body, slackSignature(body, NOW_SECONDS, CURRENT))).toEqual({
      accepted: true,
      secretIndex: 0,
    });
    expect(() => slackConnector.parse(request, JSON.parse(body), settings)).toThrow(
      expect.objectContaining({ status: 400, code: 'no_events' }) as RejectedRequestError,
    );
  });
});
