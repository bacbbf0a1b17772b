import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkWindow,
  encodedMacMatches,
  eventIdFrom,
  hmacConnector,
  matchingSecret,
} from '../../functions/connectors/hmac.js';
import { FatalError } from '../../functions/core/errors.js';
import { envelope, sourceSettings, webhookRequest } from '../support/signers.js';

const map = {
  entity: 'order',
  id: 'order.id',
  version: 'order.rev',
  fields: { number: 'order.no' },
} as const;

describe('the shared signing helpers', () => {
  const mac = createHmac('sha256', 'k').update('body').digest();

  it('matches hex in lower case and base64 only in its canonical form', () => {
    expect(encodedMacMatches(mac, mac.toString('hex'), 'hex')).toBe(true);
    expect(encodedMacMatches(mac, mac.toString('hex').toUpperCase(), 'hex')).toBe(false);
    const b64 = mac.toString('base64');
    expect(encodedMacMatches(mac, b64, 'base64')).toBe(true);
    for (const variant of [
      mac.toString('base64url'),
      b64.replace(/=$/, ''),
      `${b64.slice(0, 5)}.${b64.slice(5)}`,
      `${b64}\n`,
      '',
    ]) {
      expect(encodedMacMatches(mac, variant, 'base64')).toBe(false);
    }
  });

  it('finds the first secret that matches, skipping empty ones', () => {
    expect(matchingSecret(['a', 'b', 'c'], (s) => s === 'b')).toBe(1);
    expect(matchingSecret(['', 'x'], () => true)).toBe(1);
    expect(matchingSecret([], () => true)).toBe(-1);
  });

  it.each([
    [1000, 's', 1_000_000, 300, 'ok'],
    [700, 's', 1_000_000, 300, 'ok'],
    [699, 's', 1_000_999, 300, '301 s old; the window is 300 s'],
    [1301, 's', 1_000_000, 300, '301 s in the future; the window is 300 s'],
    [1_000_000 - 300_000, 'ms', 1_000_000, 300, 'ok'],
    [1_000_000 - 300_001, 'ms', 1_000_000, 300, '300001 ms old; the window is 300000 ms'],
    [1_000_000 + 300_001, 'ms', 1_000_000, 300, '300001 ms in the future; the window is 300000 ms'],
  ] as const)('checkWindow(%i %s) at %i ms, %i s: %s', (timestamp, unit, now, tolerance, outcome) => {
    const run = () => checkWindow(timestamp, unit, now, tolerance, 'T');
    if (outcome === 'ok') expect(run).not.toThrow();
    else
      expect(run).toThrow(
        expect.objectContaining({ status: 401, code: 'timestamp_out_of_window', message: `T is ${outcome}` }),
      );
  });

  it.each([
    ['evt_1', 'evt_1'],
    [42, '42'],
  ])('takes %j as the event id %j', (value, id) => {
    expect(eventIdFrom(value, 'x')).toBe(id);
  });

  it.each([undefined, null, '', '   ', 'x'.repeat(256), 1.5, {}, 2 ** 60])(
    'refuses %j as an event id',
    (value) => {
      expect(() => eventIdFrom(value, 'The body')).toThrow(
        expect.objectContaining({ status: 400, code: 'missing_event_id' }),
      );
    },
  );
});

describe('the hmac connector', () => {
  const settings = sourceSettings({
    connector: 'hmac',
    header: 'X-Partner-Signature',
    algorithm: 'sha512',
    encoding: 'base64',
    prefix: 't1=',
    signedPayload: '{method} {url}\n{timestamp}\n{body}',
    timestampHeader: 'X-Partner-Time',
    timestampUnit: 'ms',
    toleranceSeconds: 60,
    eventId: { path: 'meta.delivery' },
    map,
  });
  const body = '{"meta":{"delivery":"dl-9"},"order":{"id":"o-1","rev":4,"no":"A-100"}}';
  const url = 'https://hub.example.com/webhooks/partner?x=%2F';
  const now = 1_714_564_800_000;

  function request(secret: string, { at = now, method = 'POST', signedBody = body } = {}) {
    const mac = createHmac('sha512', secret)
      .update(`${method} ${url}\n${at}\n${signedBody}`)
      .digest('base64');
    return webhookRequest(
      body,
      { 'x-partner-signature': `t1=${mac}`, 'x-partner-time': String(at) },
      { url, method },
    );
  }

  it('lower-cases the required headers: signature, timestamp (and an event id header when set)', () => {
    expect(hmacConnector.requiredHeaders(settings)).toEqual(['x-partner-signature', 'x-partner-time']);
  });

  it('signs the template with method, the url as received, the timestamp and the raw body', () => {
    expect(hmacConnector.verify(request('old'), { secrets: ['new', 'old'], now }, settings)).toEqual({
      secretIndex: 1,
    });
  });

  it.each([
    ['another method', { method: 'PUT' }],
    ['another body', { signedBody: `${body} ` }],
  ])('rejects a signature over %s', (_label, change) => {
    const req = { ...request('s', change), method: 'POST' };
    expect(() => hmacConnector.verify(req, { secrets: ['s'], now }, settings)).toThrow(
      expect.objectContaining({
        status: 401,
        code: 'bad_signature',
        message: 'X-Partner-Signature matches no signing secret',
      }),
    );
  });

  it('applies the window in the configured unit and tolerance', () => {
    expect(() =>
      hmacConnector.verify(request('s', { at: now - 60_001 }), { secrets: ['s'], now }, settings),
    ).toThrow('X-Partner-Time is 60001 ms old; the window is 60000 ms');
  });

  it('finds the event id by JMESPath and keeps the timestamp header', () => {
    expect(hmacConnector.parse(request('s'), JSON.parse(body), settings)).toEqual([
      { eventId: 'dl-9', body, keepHeaders: { 'x-partner-time': String(now) } },
    ]);
  });

  it('maps through the configured map, and quarantines what it cannot map', () => {
    expect(hmacConnector.toRecords(envelope(body), settings)).toEqual([
      { entity: 'order', sourceId: 'o-1', version: 4, deleted: false, data: { number: 'A-100' } },
    ]);
    expect(() => hmacConnector.toRecords(envelope({ order: {} }), settings)).toThrow(FatalError);
  });
});
