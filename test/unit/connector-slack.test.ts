import { describe, expect, it } from 'vitest';
import { slackConnector } from '../../functions/connectors/slack.js';
import { FatalError } from '../../functions/core/errors.js';
import { envelope, slackSignature, sourceSettings, webhookRequest } from '../support/signers.js';

const map = {
  entity: 'customer',
  id: 'event.user.id',
  version: 'event_time',
  fields: { name: 'event.user.real_name' },
} as const;
const settings = sourceSettings({ connector: 'slack', map });
const NOW_SECONDS = 1_714_564_800;

describe('Slack', () => {
  it('needs the signature and timestamp headers', () => {
    expect(slackConnector.requiredHeaders(settings)).toEqual([
      'x-slack-signature',
      'x-slack-request-timestamp',
    ]);
  });

  it('uses the toleranceSeconds setting in both directions', () => {
    const tight = sourceSettings({ connector: 'slack', toleranceSeconds: 60, map });
    const body = '{"event_id":"Ev1"}';
    for (const at of [NOW_SECONDS - 61, NOW_SECONDS + 61]) {
      const request = webhookRequest(body, {
        'x-slack-signature': slackSignature(body, at, 's'),
        'x-slack-request-timestamp': String(at),
      });
      expect(() =>
        slackConnector.verify(request, { secrets: ['s'], now: NOW_SECONDS * 1000 }, tight),
      ).toThrow(
        expect.objectContaining({
          code: 'timestamp_out_of_window',
          message: expect.stringMatching(/the window is 60 s$/),
        }),
      );
      expect(slackConnector.verify(request, { secrets: ['s'], now: NOW_SECONDS * 1000 }, settings)).toEqual({
        secretIndex: 0,
      });
    }
  });

  it.each([
    ['no event_id', { type: 'event_callback' }, 'missing_event_id'],
    ['an empty event_id', { event_id: '' }, 'missing_event_id'],
    ['an array', [{ event_id: 'Ev1' }], 'missing_event_id'],
    ['a url_verification challenge', { type: 'url_verification', challenge: 'abc' }, 'no_events'],
  ])('answers 400 for a body with %s', (_label, body, code) => {
    expect(() => slackConnector.parse(webhookRequest('{}', {}), body, settings)).toThrow(
      expect.objectContaining({ status: 400, code }),
    );
  });

  it('maps an event through the configured map', () => {
    const event = {
      event_id: 'Ev1',
      event_time: 1714564790,
      event: { user: { id: 'U1', real_name: 'Egon Spengler' } },
    };
    expect(slackConnector.toRecords(envelope(event), settings)).toEqual([
      {
        entity: 'customer',
        sourceId: 'U1',
        version: 1714564790,
        deleted: false,
        data: { name: 'Egon Spengler' },
      },
    ]);
  });

  it('quarantines an event the map cannot read', () => {
    expect(() => slackConnector.toRecords(envelope({ event_id: 'Ev1', event: {} }), settings)).toThrow(
      FatalError,
    );
    expect(() => slackConnector.toRecords(envelope('not json'), settings)).toThrow(FatalError);
  });
});
