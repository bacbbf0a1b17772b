import { describe, expect, it } from 'vitest';
import { hubspotConnector, hubspotSignedUri } from '../../functions/connectors/hubspot.js';
import { FatalError } from '../../functions/core/errors.js';
import { envelope, hubspotSignature, sourceSettings, webhookRequest } from '../support/signers.js';

const settings = sourceSettings({ connector: 'hubspot' });
const OCCURRED = Date.UTC(2024, 4, 1, 11, 59, 0);

describe("HubSpot's v3 URI decoding rule", () => {
  it.each([
    ['%3A', ':'],
    ['%2F', '/'],
    ['%3F', '?'],
    ['%40', '@'],
    ['%21', '!'],
    ['%24', '$'],
    ['%27', "'"],
    ['%28', '('],
    ['%29', ')'],
    ['%2A', '*'],
    ['%2C', ','],
    ['%3B', ';'],
  ])('decodes %s to %s', (encoded, decoded) => {
    expect(hubspotSignedUri(`https://h.example.com/w?q=a${encoded}b`)).toBe(
      `https://h.example.com/w?q=a${decoded}b`,
    );
  });

  it.each(['%20', '%3D', '%26', '%2B', '%23', '%25', '%5B', '%7E', '%C3%AB'])(
    'keeps %s encoded',
    (encoded) => {
      const url = `https://h.example.com/w?q=a${encoded}b`;
      expect(hubspotSignedUri(url)).toBe(url);
    },
  );

  it('decodes in one pass: an encoded percent sign followed by 3A stays as it is', () => {
    expect(hubspotSignedUri('https://h.example.com/w?q=%253A')).toBe('https://h.example.com/w?q=%253A');
  });

  it('decodes lower-case spellings only when asked', () => {
    expect(hubspotSignedUri('https://h.example.com/w?q=%3a%2f')).toBe('https://h.example.com/w?q=%3a%2f');
    expect(hubspotSignedUri('https://h.example.com/w?q=%3a%2f', true)).toBe('https://h.example.com/w?q=:/');
  });

  it('decodes a URL with kept and decoded escapes mixed', () => {
    const url = 'https://example.com/webhook?email=user%40example.com&list=%28a%2Cb%29&name=Jane%20Doe';
    expect(hubspotSignedUri(url)).toBe(
      'https://example.com/webhook?email=user@example.com&list=(a,b)&name=Jane%20Doe',
    );
  });
});

describe('HubSpot verify', () => {
  const body = '[{"eventId":1}]';
  const url = 'https://hub.example.com/webhooks/crm?x=%40y%20z';
  const signedUri = 'https://hub.example.com/webhooks/crm?x=@y%20z';
  const now = 1_714_564_800_000;

  function request(signature: string, timestamp: number | string = now, method = 'POST') {
    return webhookRequest(
      body,
      { 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': String(timestamp) },
      { url, method },
    );
  }

  it('requires the signature and timestamp headers', () => {
    expect(hubspotConnector.requiredHeaders(settings)).toEqual([
      'x-hubspot-signature-v3',
      'x-hubspot-request-timestamp',
    ]);
  });

  it('signs method + decoded uri + body + millisecond timestamp, and reports the secret that matched', () => {
    const signature = hubspotSignature('POST', signedUri, body, now, 'old');
    expect(hubspotConnector.verify(request(signature), { secrets: ['new', 'old'], now }, settings)).toEqual({
      secretIndex: 1,
    });
  });

  it('uses the toleranceSeconds setting, in milliseconds', () => {
    const tight = sourceSettings({ connector: 'hubspot', toleranceSeconds: 10 });
    const at = now - 10_001;
    const signature = hubspotSignature('POST', signedUri, body, at, 's');
    expect(() => hubspotConnector.verify(request(signature, at), { secrets: ['s'], now }, tight)).toThrow(
      'X-HubSpot-Request-Timestamp is 10001 ms old; the window is 10000 ms',
    );
    expect(hubspotConnector.verify(request(signature, at), { secrets: ['s'], now }, settings)).toEqual({
      secretIndex: 0,
    });
  });

  it('never puts the secret or the body in the message', () => {
    try {
      hubspotConnector.verify(
        request(hubspotSignature('POST', signedUri, body, now, 'other')),
        { secrets: ['s3cr3t'], now },
        settings,
      );
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toMatch(/s3cr3t|eventId/);
    }
  });
});

describe('HubSpot parse: one event per element of the batch', () => {
  const request = webhookRequest('[]', {});

  it('gives each element its own event id and body', () => {
    const body = [
      { eventId: 100, objectId: 1, occurredAt: 1 },
      { eventId: '101', objectId: 2, occurredAt: 2 },
    ];
    expect(hubspotConnector.parse(request, body, settings)).toEqual([
      { eventId: '100', body: JSON.stringify(body[0]), keepHeaders: {} },
      { eventId: '101', body: JSON.stringify(body[1]), keepHeaders: {} },
    ]);
  });

  it('returns no events for an empty batch (ingest answers 400 no_events)', () => {
    expect(hubspotConnector.parse(request, [], settings)).toEqual([]);
  });

  it.each([
    ['an object', { eventId: 1 }, 'malformed_body'],
    ['an element without eventId', [{ eventId: 1 }, { objectId: 2 }], 'missing_event_id'],
    ['an element that is not an object', [null], 'missing_event_id'],
    ['an empty eventId', [{ eventId: '' }], 'missing_event_id'],
  ])('rejects %s with 400', (_label, body, code) => {
    expect(() => hubspotConnector.parse(request, body, settings)).toThrow(
      expect.objectContaining({ status: 400, code }),
    );
  });
});

function records(event: Record<string, unknown>) {
  return hubspotConnector.toRecords(
    envelope({ eventId: 1, portalId: 62515, occurredAt: OCCURRED, objectId: 123, ...event }),
    settings,
  );
}

describe('HubSpot contact mapping', () => {
  const change = (propertyName: string, propertyValue: unknown) =>
    records({ subscriptionType: 'contact.propertyChange', propertyName, propertyValue });

  it('maps an email change to the email only, versioned by occurredAt', () => {
    expect(change('email', 'ada@example.com')).toEqual([
      {
        entity: 'customer',
        sourceId: '123',
        version: OCCURRED,
        deleted: false,
        data: {
          email: 'ada@example.com',
          refs: { hubspot: '123' },
          updatedAt: new Date(OCCURRED).toISOString(),
        },
      },
    ]);
  });

  it('maps a phone change to the phone only', () => {
    expect(change('phone', '+44 20 7946 0000')[0]?.data).toEqual({
      phone: '+44 20 7946 0000',
      refs: { hubspot: '123' },
      updatedAt: new Date(OCCURRED).toISOString(),
    });
  });

  it('maps an emptied value to null (cleared)', () => {
    expect(change('phone', '')[0]?.data.phone).toBeNull();
  });

  it.each(['firstname', 'lastname'])('maps a %s change alone to no record (a name needs both)', (name) => {
    expect(change(name, 'Ada')).toEqual([]);
  });

  it.each(['company', 'lifecyclestage', 'hs_lead_status'])('maps a %s change to no record', (name) => {
    expect(change(name, 'x')).toEqual([]);
  });

  it('maps creation to no record: it carries no properties, and email is required', () => {
    expect(records({ subscriptionType: 'contact.creation' })).toEqual([]);
  });

  it.each(['contact.deletion', 'contact.privacyDeletion'])(
    'maps %s to a deleted customer',
    (subscriptionType) => {
      expect(records({ subscriptionType })).toEqual([
        {
          entity: 'customer',
          sourceId: '123',
          version: OCCURRED,
          deleted: true,
          data: { refs: { hubspot: '123' } },
        },
      ]);
    },
  );

  it('reads object.* events for contacts (objectTypeId 0-1), and ignores other objects', () => {
    const contact = records({
      subscriptionType: 'object.propertyChange',
      objectTypeId: '0-1',
      propertyName: 'email',
      propertyValue: 'a@example.com',
    });
    expect(contact[0]?.data.email).toBe('a@example.com');
    const company = records({
      subscriptionType: 'object.propertyChange',
      objectTypeId: '0-2',
      propertyName: 'email',
      propertyValue: 'a@example.com',
    });
    expect(company).toEqual([]);
  });

  it.each([
    'company.propertyChange',
    'deal.creation',
    'contact.merge',
    'contact.associationChange',
    undefined,
  ])('maps %s to no record', (subscriptionType) => {
    expect(records({ subscriptionType, propertyName: 'email', propertyValue: 'a@example.com' })).toEqual([]);
  });

  it.each([
    ['no objectId', { objectId: undefined }, 'objectId'],
    ['a fractional objectId', { objectId: 1.5 }, 'objectId'],
    ['no occurredAt', { occurredAt: undefined }, 'occurredAt'],
    ['an ISO occurredAt', { occurredAt: '2024-05-01T00:00:00Z' }, 'occurredAt'],
  ])('is a FatalError with %s', (_label, change, field) => {
    let error: unknown;
    try {
      records({
        subscriptionType: 'contact.propertyChange',
        propertyName: 'email',
        propertyValue: 'a@example.com',
        ...change,
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FatalError);
    expect((error as FatalError).reasons[0]).toMatchObject({ rule: 'hubspot.event.shape', field });
  });

  it('accepts a numeric-string objectId', () => {
    expect(records({ subscriptionType: 'contact.deletion', objectId: '9007199254740993' })[0]?.sourceId).toBe(
      '9007199254740993',
    );
  });
});

describe('HubSpot through ingest', () => {
  it('accepts a signed batch as one envelope per event, with the secret that matched counted', async () => {
    const { acceptWebhook } = await import('../../functions/core/ingest.js');
    const { loadConfig } = await import('../../functions/core/config-schema.js');
    const { ManualClock, MemoryInboundQueue, MemorySecretStore, MemoryTelemetry } = await import(
      '../support/fakes.js'
    );
    const config = loadConfig({
      name: 'acme',
      sources: { crm: { connector: 'hubspot', secret: 'acme/hubspot' } },
      destinations: {},
      flows: [],
    });
    const clock = new ManualClock();
    const queue = new MemoryInboundQueue();
    const telemetry = new MemoryTelemetry();
    const secrets = new MemorySecretStore({
      'acme/hubspot': JSON.stringify(['hs-new-secret', 'hs-old-secret']),
    });
    const body = JSON.stringify([
      {
        eventId: 11,
        subscriptionType: 'contact.propertyChange',
        objectId: 1,
        occurredAt: 1,
        propertyName: 'email',
      },
      { eventId: 12, subscriptionType: 'contact.deletion', objectId: 2, occurredAt: 2 },
    ]);
    const url = 'https://hub.example.com/webhooks/crm?via=%2Fhubspot';
    const now = clock.now();
    const headers = {
      'x-hubspot-signature-v3': hubspotSignature(
        'POST',
        'https://hub.example.com/webhooks/crm?via=/hubspot',
        body,
        now,
        'hs-old-secret',
      ),
      'x-hubspot-request-timestamp': String(now),
    };
    const response = await acceptWebhook(
      { source: 'crm', method: 'POST', url, headers, rawBody: Buffer.from(body) },
      { config, queue, secrets, telemetry, clock },
    );
    expect(response).toMatchObject({ status: 202, body: { eventId: '11', eventIds: ['11', '12'] } });
    expect(queue.sent.map((e) => e.eventId)).toEqual(['11', '12']);
    expect(telemetry.total('signatureVerified', { secret: 'previous' })).toBe(1);

    const stale = await acceptWebhook(
      { source: 'crm', method: 'POST', url, headers, rawBody: Buffer.from(body) },
      { config, queue, secrets, telemetry, clock: new ManualClock(now + 300_001) },
    );
    expect(stale).toMatchObject({ status: 401, body: { error: 'timestamp_out_of_window' } });
    expect(JSON.stringify(stale.body)).not.toMatch(/hs-old-secret|hs-new-secret|contact\./);
  });
});
