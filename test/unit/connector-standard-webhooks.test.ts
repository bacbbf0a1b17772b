import { describe, expect, it } from 'vitest';
import {
  standardWebhooksConnector,
  standardWebhooksKey,
} from '../../functions/connectors/standard-webhooks.js';
import { envelope, sourceSettings, webhookRequest } from '../support/signers.js';

const map = {
  entity: 'customer',
  id: 'data.id',
  version: 'data.version',
  fields: { email: 'data.email' },
} as const;
const settings = sourceSettings({ connector: 'standard-webhooks', map });

describe('Standard Webhooks', () => {
  // The test vector published with the Standard Webhooks specification's reference libraries.
  const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const TIMESTAMP = 1614265330;
  const BODY = '{"test": 2432232314}';
  const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

  function request(signature: string, { id = ID, timestamp = String(TIMESTAMP), prefix = 'webhook' } = {}) {
    return webhookRequest(BODY, {
      [`${prefix}-id`]: id,
      [`${prefix}-timestamp`]: timestamp,
      [`${prefix}-signature`]: signature,
    });
  }

  it('verifies the published vector at its own time', () => {
    expect(
      standardWebhooksConnector.verify(
        request(SIGNATURE),
        { secrets: [SECRET], now: TIMESTAMP * 1000 },
        settings,
      ),
    ).toEqual({
      secretIndex: 0,
    });
  });

  it('rejects the published vector today: its timestamp is years old', () => {
    expect(() =>
      standardWebhooksConnector.verify(
        request(SIGNATURE),
        { secrets: [SECRET], now: Date.UTC(2024, 4, 1) },
        settings,
      ),
    ).toThrow(
      expect.objectContaining({
        status: 401,
        code: 'timestamp_out_of_window',
        message: expect.stringMatching(/s old; the window is 300 s$/),
      }),
    );
  });

  it('keys with the base64 after whsec_', () => {
    expect(standardWebhooksKey(SECRET)).toEqual(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'));
    expect(standardWebhooksKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toEqual(standardWebhooksKey(SECRET));
  });

  it.each([
    ['the vector among other signatures', `v1,bm90IGl0 v1a,${SIGNATURE.slice(3)} ${SIGNATURE}`, 0],
    ['a rotated secret listed second', SIGNATURE, 1],
  ])('accepts %s', (label, signature, secretIndex) => {
    const secrets = label.startsWith('a rotated') ? ['whsec_bmV3IHNlY3JldA==', SECRET] : [SECRET];
    expect(
      standardWebhooksConnector.verify(request(signature), { secrets, now: TIMESTAMP * 1000 }, settings),
    ).toEqual({
      secretIndex,
    });
  });

  it.each([
    ['another id', request(SIGNATURE, { id: 'msg_other' }), /matches a signing secret/],
    [
      'another timestamp',
      request(SIGNATURE, { timestamp: String(TIMESTAMP + 1) }),
      /matches a signing secret/,
    ],
    ['a v2 signature only', request(`v2,${SIGNATURE.slice(3)}`), /has no v1 signature/],
    ['an empty header', request(''), /has no v1 signature/],
    [
      'a timestamp that is not a number',
      request(SIGNATURE, { timestamp: 'soon' }),
      /not a whole number of seconds/,
    ],
  ])('rejects %s with 401 bad_signature', (_label, req, message) => {
    expect(() =>
      standardWebhooksConnector.verify(req, { secrets: [SECRET], now: TIMESTAMP * 1000 }, settings),
    ).toThrow(
      expect.objectContaining({
        status: 401,
        code: 'bad_signature',
        message: expect.stringMatching(message),
      }),
    );
  });

  it('reads the header names from the prefix setting', () => {
    const svix = sourceSettings({ connector: 'standard-webhooks', headerPrefix: 'svix', map });
    expect(standardWebhooksConnector.requiredHeaders(settings)).toEqual([
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
    ]);
    expect(
      standardWebhooksConnector.verify(
        request(SIGNATURE, { prefix: 'svix' }),
        { secrets: [SECRET], now: TIMESTAMP * 1000 },
        svix,
      ),
    ).toEqual({
      secretIndex: 0,
    });
  });

  it('uses the id header as the event id', () => {
    expect(standardWebhooksConnector.parse(request(SIGNATURE), JSON.parse(BODY), settings)).toEqual([
      { eventId: ID, body: BODY, keepHeaders: { 'webhook-timestamp': String(TIMESTAMP) } },
    ]);
  });

  it('maps through the configured map', () => {
    expect(
      standardWebhooksConnector.toRecords(
        envelope({ type: 'x', data: { id: 7, version: '3', email: 'e@example.com' } }),
        settings,
      ),
    ).toEqual([
      { entity: 'customer', sourceId: '7', version: 3, deleted: false, data: { email: 'e@example.com' } },
    ]);
  });
});
