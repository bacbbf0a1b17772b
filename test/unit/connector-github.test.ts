import { describe, expect, it } from 'vitest';
import { githubConnector } from '../../functions/connectors/github.js';
import type { MapFunction } from '../../functions/core/config.js';
import { FatalError } from '../../functions/core/errors.js';
import { envelope, sourceSettings, webhookRequest } from '../support/signers.js';

const map = {
  entity: 'customer',
  id: 'user.id',
  version: 'user.updated_at',
  fields: { email: 'user.email' },
} as const;
const settings = sourceSettings({ connector: 'github', map });

describe('GitHub X-Hub-Signature-256', () => {
  // The example in GitHub's "Validating webhook deliveries" guide.
  const SECRET = "It's a Secret to Everybody";
  const BODY = 'Hello, World!';
  const SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

  function request(signature: string, body = BODY) {
    return webhookRequest(body, {
      'x-hub-signature-256': signature,
      'x-github-delivery': 'd-1',
      'x-github-event': 'push',
    });
  }

  it("verifies GitHub's published example", () => {
    expect(githubConnector.verify(request(SIGNATURE), { secrets: [SECRET], now: 0 }, settings)).toEqual({
      secretIndex: 0,
    });
  });

  it('reports the secret that matched during a rotation', () => {
    expect(
      githubConnector.verify(request(SIGNATURE), { secrets: ['new', SECRET], now: 0 }, settings),
    ).toEqual({
      secretIndex: 1,
    });
  });

  it.each([
    ['another body', SIGNATURE, 'Hello, World?', /matches no signing secret/],
    ['another secret', SIGNATURE, BODY, /matches no signing secret/],
    ['upper-case hex', `sha256=${SIGNATURE.slice(7).toUpperCase()}`, BODY, /matches no signing secret/],
    ['no prefix', SIGNATURE.slice(7), BODY, /does not start with "sha256="/],
    ['an empty value after the prefix', 'sha256=', BODY, /matches no signing secret/],
  ])('rejects %s with 401 bad_signature', (label, signature, body, message) => {
    const secrets = label === 'another secret' ? ['not it'] : [SECRET];
    expect(() => githubConnector.verify(request(signature, body), { secrets, now: 0 }, settings)).toThrow(
      expect.objectContaining({
        status: 401,
        code: 'bad_signature',
        message: expect.stringMatching(message),
      }),
    );
  });

  it('needs the signature, delivery and event headers', () => {
    expect(githubConnector.requiredHeaders(settings)).toEqual([
      'x-hub-signature-256',
      'x-github-delivery',
      'x-github-event',
    ]);
  });

  it('uses X-GitHub-Delivery as the event id and keeps X-GitHub-Event', () => {
    expect(githubConnector.parse(request(SIGNATURE), {}, settings)).toEqual([
      { eventId: 'd-1', body: BODY, keepHeaders: { 'x-github-event': 'push' } },
    ]);
  });
});

describe('GitHub mapping', () => {
  const event = {
    action: 'edited',
    user: { id: 583231, email: 'octocat@github.com', updated_at: '2024-05-01T12:00:00Z' },
  };

  it('maps an event through the declarative map', () => {
    expect(githubConnector.toRecords(envelope(event, { 'x-github-event': 'member' }), settings)).toEqual([
      {
        entity: 'customer',
        sourceId: '583231',
        version: Date.parse('2024-05-01T12:00:00Z'),
        deleted: false,
        data: { email: 'octocat@github.com' },
      },
    ]);
  });

  it('maps a ping to no record', () => {
    expect(
      githubConnector.toRecords(
        envelope({ zen: 'Non-blocking is better than blocking.' }, { 'x-github-event': 'ping' }),
        settings,
      ),
    ).toEqual([]);
  });

  it('quarantines an event the map finds no id in, naming the expression', () => {
    let error: unknown;
    try {
      githubConnector.toRecords(envelope({ action: 'created' }, { 'x-github-event': 'issues' }), settings);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FatalError);
    expect((error as FatalError).reasons.map((r) => r.field)).toEqual(['user.id', 'user.updated_at']);
  });

  it('hands a mapping function the event and the kept headers', () => {
    const fn: MapFunction = (e, { headers }) => [
      {
        entity: 'customer',
        id: String((e as typeof event).user.id),
        version: 7,
        fields: { name: headers['x-github-event'] },
      },
    ];
    const withFunction = sourceSettings({ connector: 'github', map: fn });
    expect(githubConnector.toRecords(envelope(event, { 'x-github-event': 'member' }), withFunction)).toEqual([
      { entity: 'customer', sourceId: '583231', version: 7, deleted: false, data: { name: 'member' } },
    ]);
  });
});
