import { beforeEach, describe, expect, it } from 'vitest';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { acceptWebhook, type IngestDeps, type IngestResponse } from '../../functions/core/ingest.js';
import type { SecretValue } from '../../functions/core/ports.js';
import { STRIPE_PREVIOUS_SECRET, STRIPE_SECRET, STRIPE_SECRET_NAME, testConfig } from '../support/config.js';
import { ManualClock, MemoryInboundQueue, MemorySecretStore, MemoryTelemetry } from '../support/fakes.js';
import { stripeCustomerEvent, stripeHeader, stripeV1OverBytes } from '../support/stripe.js';

const body = stripeCustomerEvent({ eventId: 'evt_1PQ8nB2eZvKYlo2C', email: 'jenny.rosen@example.com' });

let clock: ManualClock;
let queue: MemoryInboundQueue;
let secrets: MemorySecretStore;
let telemetry: MemoryTelemetry;
let config: SwitchyardConfig;

function deps(): IngestDeps {
  return { config, queue, secrets, telemetry, clock };
}

function nowSeconds(): number {
  return Math.floor(clock.now() / 1000);
}

function signed(
  payload: string | Buffer,
  secret = STRIPE_SECRET,
  timestamp = nowSeconds(),
): Record<string, string> {
  const header = Buffer.isBuffer(payload)
    ? `t=${timestamp},v1=${stripeV1OverBytes(payload, secret, timestamp)}`
    : stripeHeader(payload, secret, timestamp);
  return { 'stripe-signature': header, 'content-type': 'application/json' };
}

function post(
  payload: string | Buffer,
  headers: Record<string, string> = signed(payload),
  source = 'stripe',
): Promise<IngestResponse> {
  return acceptWebhook(
    {
      source,
      method: 'POST',
      url: `https://hub.example.com/webhooks/${source}`,
      headers,
      rawBody: Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8'),
    },
    deps(),
  );
}

function expectNoLeak(response: IngestResponse, ...secretsToHide: string[]): void {
  const text = JSON.stringify(response.body);
  for (const secret of [STRIPE_SECRET, STRIPE_PREVIOUS_SECRET, ...secretsToHide])
    expect(text).not.toContain(secret);
  expect(text).not.toContain('jenny.rosen@example.com');
  expect(text).not.toContain('cus_');
}

beforeEach(() => {
  clock = new ManualClock();
  queue = new MemoryInboundQueue();
  secrets = new MemorySecretStore({ [STRIPE_SECRET_NAME]: STRIPE_SECRET });
  telemetry = new MemoryTelemetry();
  config = testConfig();
});

describe('acceptWebhook', () => {
  it('answers 202 with the event id and queues an envelope holding the exact body', async () => {
    const response = await post(body);
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ eventId: 'evt_1PQ8nB2eZvKYlo2C' });
    expect(queue.sent).toEqual([
      { v: 1, source: 'stripe', eventId: 'evt_1PQ8nB2eZvKYlo2C', receivedAt: clock.now(), headers: {}, body },
    ]);
    expect(response.envelopes).toEqual(queue.sent);
  });

  it('keeps no signature header in the envelope', async () => {
    await post(body);
    expect(JSON.stringify(queue.sent)).not.toContain('t=');
    expect(queue.sent[0]?.headers).toEqual({});
  });

  it('answers only after the inbound queue has taken the event', async () => {
    const release = queue.hold();
    let settled = false;
    const pending = post(body).then((response) => {
      settled = true;
      return response;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(queue.inFlight).toBe(1);
    expect(settled).toBe(false);
    expect(telemetry.total('accepted')).toBe(0);

    release();
    const response = await pending;
    expect(response.status).toBe(202);
    expect(queue.sent).toHaveLength(1);
    expect(telemetry.total('accepted', { source: 'stripe' })).toBe(1);
  });

  it('fails with 503 queue_unavailable if the queue does not take the event, echoing nothing', async () => {
    queue.failWith = new Error(`SQS said no to ${body} signed with ${STRIPE_SECRET}`);
    const response = await post(body);
    expect(response).toEqual({
      status: 503,
      body: { error: 'queue_unavailable', message: 'The event could not be stored; retry later' },
    });
    expectNoLeak(response);
    expect(telemetry.total('accepted')).toBe(0);
    expect(telemetry.total('rejected', { source: 'stripe', reason: 'queue_unavailable' })).toBe(1);
  });

  it('accepts a body signed with the previous secret during a rotation, and counts it', async () => {
    secrets.values[STRIPE_SECRET_NAME] = [STRIPE_SECRET, STRIPE_PREVIOUS_SECRET];
    expect((await post(body, signed(body, STRIPE_PREVIOUS_SECRET))).status).toBe(202);
    expect((await post(body, signed(body, STRIPE_SECRET))).status).toBe(202);
    expect(telemetry.total('signatureVerified', { source: 'stripe', secret: 'previous' })).toBe(1);
    expect(telemetry.total('signatureVerified', { source: 'stripe', secret: 'current' })).toBe(1);
  });

  it.each<[string, SecretValue]>([
    ['a JSON list string', JSON.stringify([STRIPE_SECRET, STRIPE_PREVIOUS_SECRET])],
    ['a {current, previous} object', { current: STRIPE_SECRET, previous: STRIPE_PREVIOUS_SECRET }],
  ])('reads rotating secrets stored as %s', async (_label, value) => {
    secrets.values[STRIPE_SECRET_NAME] = value;
    expect((await post(body, signed(body, STRIPE_PREVIOUS_SECRET))).status).toBe(202);
  });

  describe('401', () => {
    it('fails if the signature does not match', async () => {
      const response = await post(body, signed(body, 'whsec_not_ours'));
      expect(response.status).toBe(401);
      expect(response.body).toEqual({
        error: 'bad_signature',
        message: 'No v1 signature in Stripe-Signature matches a signing secret',
      });
      expectNoLeak(response, 'whsec_not_ours');
      expect(queue.sent).toEqual([]);
      expect(telemetry.total('rejected', { source: 'stripe', reason: 'bad_signature' })).toBe(1);
    });

    it('fails if the body was changed after signing', async () => {
      const headers = signed(body);
      const response = await post(body.replace('Jenny', 'Jonny'), headers);
      expect(response.status).toBe(401);
      expect(response.body.error).toBe('bad_signature');
      expect(response.body.message).toMatch(/matches a signing secret/);
    });

    it('fails if the timestamp is outside the window', async () => {
      const old = await post(body, signed(body, STRIPE_SECRET, nowSeconds() - 301));
      expect(old.status).toBe(401);
      expect(old.body).toEqual({
        error: 'timestamp_out_of_window',
        message: 'Stripe-Signature timestamp is 301 s old; the window is 300 s',
      });
      const future = await post(body, signed(body, STRIPE_SECRET, nowSeconds() + 301));
      expect(future.status).toBe(401);
      expect(future.body.message).toBe(
        'Stripe-Signature timestamp is 301 s in the future; the window is 300 s',
      );
      expect(telemetry.total('rejected', { source: 'stripe', reason: 'timestamp_out_of_window' })).toBe(2);
      expect(queue.sent).toEqual([]);
    });

    it('uses the source tolerance from the config', async () => {
      config = testConfig({
        sources: { stripe: { connector: 'stripe', secret: STRIPE_SECRET_NAME, toleranceSeconds: 60 } },
      });
      expect((await post(body, signed(body, STRIPE_SECRET, nowSeconds() - 59))).status).toBe(202);
      const response = await post(body, signed(body, STRIPE_SECRET, nowSeconds() - 61));
      expect(response.body.message).toBe('Stripe-Signature timestamp is 61 s old; the window is 60 s');
    });
  });

  describe('400', () => {
    it('fails if the Stripe-Signature header is missing', async () => {
      const response = await post(body, { 'content-type': 'application/json' });
      expect(response).toEqual({
        status: 400,
        body: { error: 'missing_header', message: 'Required header stripe-signature is missing' },
      });
      expect(secrets.reads).toEqual([]);
      expect(telemetry.total('rejected', { source: 'stripe', reason: 'missing_header' })).toBe(1);
    });

    it('fails if the Stripe-Signature header is empty', async () => {
      const response = await post(body, { 'stripe-signature': '' });
      expect(response).toEqual({
        status: 400,
        body: { error: 'missing_header', message: 'Required header stripe-signature is missing' },
      });
    });

    it('fails if the signed body is not JSON', async () => {
      const notJson = '{"id": "evt_1", "type": ';
      const response = await post(notJson);
      expect(response).toEqual({
        status: 400,
        body: { error: 'malformed_body', message: 'Body is not valid JSON' },
      });
      expect(queue.sent).toEqual([]);
    });

    it('fails if the signed body is not valid UTF-8', async () => {
      const bytes = Buffer.concat([
        Buffer.from('{"id":"evt_1","name":"'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}'),
      ]);
      const response = await post(bytes);
      expect(response).toEqual({
        status: 400,
        body: { error: 'malformed_body', message: 'Body is not valid UTF-8' },
      });
      expect(telemetry.total('rejected', { source: 'stripe', reason: 'malformed_body' })).toBe(1);
      expect(queue.sent).toEqual([]);
    });

    it.each([
      ['no id', JSON.stringify({ object: 'event', type: 'customer.created' })],
      ['a numeric id', JSON.stringify({ id: 42, type: 'customer.created' })],
      ['an empty id', JSON.stringify({ id: '', type: 'customer.created' })],
      ['a JSON null body', 'null'],
    ])('fails if the event has %s', async (_label, payload) => {
      const response = await post(payload);
      expect(response).toEqual({
        status: 400,
        body: { error: 'missing_event_id', message: 'A Stripe event needs a string "id" (evt_...)' },
      });
      expect(queue.sent).toEqual([]);
    });
  });

  describe('404', () => {
    it('fails if no source has that name, before any other work', async () => {
      const response = await post(body, signed(body), 'shopify');
      expect(response).toEqual({
        status: 404,
        body: { error: 'unknown_source', message: 'No source named "shopify" is configured' },
      });
      expect(secrets.reads).toEqual([]);
      expect(telemetry.total('rejected', { source: '(unknown)', reason: 'unknown_source' })).toBe(1);
      expect(telemetry.total('received')).toBe(0);
    });

    it('caps how much of an unknown source name it echoes', async () => {
      const response = await post(body, signed(body), 'x'.repeat(500));
      expect(response.status).toBe(404);
      expect(response.body.message).toBe(`No source named "${'x'.repeat(64)}" is configured`);
    });
  });

  describe('413', () => {
    it('fails if the body is over the limit, before the secret is even read', async () => {
      config = testConfig({ limits: { maxBodyBytes: 2048 } });
      const big = JSON.stringify({ id: 'evt_big', pad: 'x'.repeat(2048) });
      const response = await post(big);
      expect(response.status).toBe(413);
      expect(response.body).toEqual({
        error: 'body_too_large',
        message: `Body is ${Buffer.byteLength(big)} bytes; the limit is 2048`,
      });
      expect(secrets.reads).toEqual([]);
      expect(queue.sent).toEqual([]);
      expect(telemetry.total('rejected', { source: 'stripe', reason: 'body_too_large' })).toBe(1);
    });

    it('counts bytes, not characters, and accepts a body of exactly the limit', async () => {
      config = testConfig({ limits: { maxBodyBytes: 1024 } });
      const prefix = '{"id":"evt_1","pad":"';
      const exact = `${prefix}${'x'.repeat(1024 - prefix.length - 2)}"}`;
      expect(Buffer.byteLength(exact)).toBe(1024);
      expect((await post(exact)).status).toBe(202);
      // Same character count, but one character takes two bytes: one byte over.
      const multibyte = `${prefix}${'x'.repeat(1024 - prefix.length - 3)}é"}`;
      expect(multibyte.length).toBe(1024);
      expect(Buffer.byteLength(multibyte)).toBe(1025);
      expect((await post(multibyte)).status).toBe(413);
    });
  });

  describe('503 secret_unavailable', () => {
    it('fails if the signing secret cannot be read', async () => {
      secrets = new MemorySecretStore({});
      const response = await post(body);
      expect(response).toEqual({
        status: 503,
        body: { error: 'secret_unavailable', message: 'The signing secret could not be read; retry later' },
      });
      expect(secrets.reads).toEqual([STRIPE_SECRET_NAME]);
      expect(queue.sent).toEqual([]);
      expect(telemetry.total('rejected', { source: 'stripe', reason: 'secret_unavailable' })).toBe(1);
    });

    it('fails if the secret holds no usable signing secret', async () => {
      secrets.values[STRIPE_SECRET_NAME] = '[]';
      const response = await post(body);
      expect(response).toEqual({
        status: 503,
        body: { error: 'secret_unavailable', message: 'The signing secret could not be read; retry later' },
      });
    });
  });

  it('counts every request received, and each outcome once', async () => {
    await post(body);
    await post(body, signed(body, 'whsec_wrong'));
    await post(body, {});
    await post('{"nope":', signed('{"nope":'));
    expect(telemetry.total('received', { source: 'stripe' })).toBe(4);
    expect(telemetry.total('accepted', { source: 'stripe' })).toBe(1);
    expect(telemetry.total('rejected', { source: 'stripe' })).toBe(3);
    expect(telemetry.total('rejected', { reason: 'bad_signature' })).toBe(1);
    expect(telemetry.total('rejected', { reason: 'missing_header' })).toBe(1);
    expect(telemetry.total('rejected', { reason: 'malformed_body' })).toBe(1);
    expect(telemetry.total('signatureVerified', { secret: 'current' })).toBe(2);
  });
});
