import { DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCustomer, stripeCustomerEvent, stripeSignatureHeader } from '../../local/demo/stripe-sender.js';
import type { HubStats } from '../../local/stats.js';
import { CRM_TOKEN, startTestHub, type TestHub } from '../support/hub.js';

const now = () => Math.floor(Date.now() / 1000);

/** G3 after every scenario: everything accepted is accounted for, and nothing is left in flight. */
function expectBalanced(stats: HubStats): void {
  const t = stats.totals;
  expect(t.inFlight).toBe(0);
  expect(t.accepted).toBe(t.delivered + t.skipped + t.quarantined + t.deadLettered + t.inFlight);
  expect(stats.balanced).toBe(true);
}

function callsFor(hub: TestHub, canonicalId: string) {
  return hub.crm.calls.filter((call) => call.body.id === canonicalId);
}

function contactByStripeId(hub: TestHub, stripeId: string) {
  return [...hub.crm.contacts.values()].find(
    (c) => (c.data.refs as Record<string, string>)?.stripe === stripeId,
  );
}

describe('pipeline on the local runtime (dynalite, fauxqs, real handlers, real HTTP)', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('delivers a signed event once, with the canonical fields and the documented wire format', async () => {
    const payload = stripeCustomerEvent('customer.created', demoCustomer(1), now());
    const response = await hub.send(payload);
    expect(response.status).toBe(202);
    expect(response.body.eventId).toMatch(/^evt_/);
    const stats = await hub.runtime.settle();

    const contact = contactByStripeId(hub, 'cus_demo00001');
    expect(contact?.data).toMatchObject({
      email: 'grace.1@example.com',
      name: 'Grace Customer 1',
      address: { line1: '1 Switchyard Road', city: 'London', postalCode: 'N1 9GU', country: 'GB' },
      refs: { stripe: 'cus_demo00001' },
    });
    const calls = callsFor(hub, contact?.id ?? '');
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.headers['content-type']).toBe('application/json');
    expect(call?.headers.authorization).toBe(`Bearer ${CRM_TOKEN}`);
    expect(call?.headers['idempotency-key']).toMatch(/^sy-[0-9a-f]{40}$/);
    expect(Object.keys(call?.body ?? {}).sort()).toEqual([
      'data',
      'entity',
      'id',
      'schemaVersion',
      'source',
      'version',
    ]);
    expect(call?.body).toMatchObject({
      entity: 'customer',
      schemaVersion: 1,
      source: 'stripe',
      version: String(JSON.parse(payload).created),
    });
    expect(stats.sources.stripe?.accepted).toBe(1);
    expect(stats.flows['customers-to-crm']?.crm?.delivered).toBe(1);
    expectBalanced(stats);
  });

  it('answers 401 to a tampered body, a wrong secret and a stale timestamp, and delivers none of them', async () => {
    const before = hub.crm.calls.length;
    const original = stripeCustomerEvent('customer.created', demoCustomer(2), now());
    const header = stripeSignatureHeader(original, 'whsec_e2e_current_secret', now());
    const tampered = await hub.send(original.replace('cus_demo00002', 'cus_mallory'), { signature: header });
    const wrongSecret = await hub.send(original, { secret: 'whsec_somebody_else' });
    const stale = await hub.send(original, { timestampSeconds: now() - 301 });

    expect([tampered.status, wrongSecret.status, stale.status]).toEqual([401, 401, 401]);
    expect(tampered.body.error).toBe('bad_signature');
    expect(wrongSecret.body.error).toBe('bad_signature');
    expect(stale.body.error).toBe('timestamp_out_of_window');
    for (const response of [tampered, wrongSecret, stale]) {
      expect(JSON.stringify(response.body)).not.toContain('cus_');
      expect(JSON.stringify(response.body)).not.toContain('whsec_');
    }
    const stats = await hub.runtime.settle();
    expect(hub.crm.calls.length).toBe(before);
    expect(stats.sources.stripe?.rejected).toMatchObject({ bad_signature: 2, timestamp_out_of_window: 1 });
    expectBalanced(stats);
  });

  it('delivers an event sent three times exactly once', async () => {
    const payload = stripeCustomerEvent('customer.created', demoCustomer(3), now());
    for (let i = 0; i < 3; i++) expect((await hub.send(payload)).status).toBe(202);
    const stats = await hub.runtime.settle();

    const contact = contactByStripeId(hub, 'cus_demo00003');
    expect(contact?.writes).toBe(1);
    expect(callsFor(hub, contact?.id ?? '')).toHaveLength(1);
    expect(stats.flows['customers-to-crm']?.crm?.skipped.duplicate).toBe(2);
    expectBalanced(stats);
  });

  it('skips an older update that arrives after a newer one', async () => {
    const t = now();
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(4), t - 100));
    await hub.runtime.settle();
    await hub.send(stripeCustomerEvent('customer.updated', demoCustomer(4, { name: 'Newest Name' }), t - 10));
    await hub.runtime.settle();
    await hub.send(stripeCustomerEvent('customer.updated', demoCustomer(4, { name: 'Older Name' }), t - 50));
    const stats = await hub.runtime.settle();

    const contact = contactByStripeId(hub, 'cus_demo00004');
    expect(contact?.data.name).toBe('Newest Name');
    expect(callsFor(hub, contact?.id ?? '').map((c) => (c.body.data as { name: string }).name)).toEqual([
      'Ken Customer 4',
      'Newest Name',
    ]);
    expect(stats.flows['customers-to-crm']?.crm?.skipped.stale).toBe(1);
    expectBalanced(stats);
  });

  it('retries a destination that answers 500 and then delivers', async () => {
    hub.crm.fail({ status: 500, times: 2 });
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(5), now()));
    const stats = await hub.runtime.settle(20_000);

    const contact = contactByStripeId(hub, 'cus_demo00005');
    const calls = callsFor(hub, contact?.id ?? '');
    expect(calls.map((c) => c.status)).toEqual([500, 500, 201]);
    // The same update keeps the same Idempotency-Key across retries (G4).
    expect(new Set(calls.map((c) => c.headers['idempotency-key'])).size).toBe(1);
    expect(contact?.writes).toBe(1);
    expect(stats.flows['customers-to-crm']?.crm?.retried).toBeGreaterThanOrEqual(2);
    expectBalanced(stats);
  });

  it('quarantines a record the destination rejects with 400, with its reason, without retrying', async () => {
    hub.crm.fail({ status: 400, times: 1, body: '{"error":"phone is invalid"}' });
    const before = (await hub.runtime.stats()).flows['customers-to-crm']?.crm?.quarantined ?? 0;
    const payload = stripeCustomerEvent('customer.created', demoCustomer(6), now());
    const { body } = await hub.send(payload);
    const stats = await hub.runtime.settle();

    expect(stats.flows['customers-to-crm']?.crm?.quarantined).toBe(before + 1);
    expect(
      hub.crm.calls.filter(
        (c) => (c.body.data as { refs?: { stripe?: string } })?.refs?.stripe === 'cus_demo00006',
      ),
    ).toHaveLength(1);
    const quarantine = await hub.runtime.dynamo.send(
      new QueryCommand({
        TableName: hub.runtime.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': 'QUARANTINE', ':prefix': `deliver#stripe#${body.eventId}` },
      }),
    );
    expect(quarantine.Items).toHaveLength(1);
    expect(quarantine.Items?.[0]).toMatchObject({
      stage: 'deliver',
      destination: 'crm',
      reasons: [{ rule: 'destination.rejected', message: expect.stringContaining('HTTP 400') }],
    });
    expect(typeof quarantine.Items?.[0]?.expiresAt).toBe('number');
    expectBalanced(stats);
  });

  it('quarantines a record that fails validation at route, naming the rule and redacting the value', async () => {
    const payload = stripeCustomerEvent(
      'customer.created',
      demoCustomer(7, { email: 'not-an-email' }),
      now(),
    );
    const { body } = await hub.send(payload);
    const stats = await hub.runtime.settle();
    const quarantine = await hub.runtime.dynamo.send(
      new QueryCommand({
        TableName: hub.runtime.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': 'QUARANTINE', ':prefix': `route#stripe#${body.eventId}` },
      }),
    );
    expect(quarantine.Items?.[0]?.reasons).toEqual([
      expect.objectContaining({
        rule: 'customer.email.format',
        field: 'email',
        value: expect.not.stringContaining('not-an-email'),
      }),
    ]);
    expect(contactByStripeId(hub, 'cus_demo00007')).toBeUndefined();
    expectBalanced(stats);
  });

  it('moves a record to the DLQ after maxReceiveCount when the destination stays down, and counts it', async () => {
    hub.crm.fail({ status: 503, times: 4 });
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(8), now()));
    const stats = await hub.runtime.settle(30_000);
    expect(stats.flows['customers-to-crm']?.crm?.deadLettered).toBe(1);
    expect(stats.destinations.crm?.deadLetterDepth).toBe(1);
    expect(contactByStripeId(hub, 'cus_demo00008')).toBeUndefined();
    expectBalanced(stats);
  });

  it('answers bad requests with their documented status and an error body naming the problem', async () => {
    const post = async (path: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      const response = await fetch(`${hub.runtime.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      return { status: response.status, body: (await response.json()) as { error: string; message: string } };
    };
    const t = now();
    const malformed = '{"id": "evt_1", oops';
    const cases = [
      await post('/webhooks/stripe', malformed, {
        'stripe-signature': stripeSignatureHeader(malformed, 'whsec_e2e_current_secret', t),
      }),
      await post('/webhooks/stripe', '{"id":"evt_2"}'),
      await post('/webhooks/nope', '{}'),
      await post('/webhooks/stripe', Buffer.alloc(300 * 1024, 'a'), { 'stripe-signature': `t=${t},v1=00` }),
      await post('/webhooks/stripe', 'id=evt_3', {
        'content-type': 'application/x-www-form-urlencoded',
        'stripe-signature': `t=${t},v1=00`,
      }),
    ];
    expect(cases.map((c) => [c.status, c.body.error])).toEqual([
      [400, 'malformed_body'],
      [400, 'missing_header'],
      [404, 'unknown_source'],
      [413, 'body_too_large'],
      [415, 'unsupported_media_type'],
    ]);
    expect(cases[0]?.body.message).toMatch(/JSON/);
    expect(cases[1]?.body.message).toMatch(/stripe-signature/);
    expect(cases[2]?.body.message).toMatch(/nope/);
    expect(cases[3]?.body.message).toMatch(/limit is 262144/);
    const stats = await hub.runtime.settle();
    expect(stats.sources.stripe?.rejected).toMatchObject({
      malformed_body: 1,
      missing_header: 1,
      body_too_large: 1,
    });
    expect(stats.sources['(unknown)']?.rejected).toEqual({ unknown_source: 1 });
    expectBalanced(stats);
  });

  it('answers 503 and accepts nothing when the inbound queue is unavailable (G1)', async () => {
    const before = await hub.runtime.stats();
    await hub.runtime.sqs.send(new DeleteQueueCommand({ QueueUrl: hub.runtime.queueUrls.inbound }));
    const response = await hub.send(stripeCustomerEvent('customer.created', demoCustomer(9), now()));
    expect(response.status).toBe(503);
    expect(response.body.error).toBe('queue_unavailable');
    // Counters only: with its queue gone the hub cannot measure what is in flight.
    const noDepths = { inbound: 0, inboundDeadLetter: 0, destinations: {} };
    const after = hub.runtime.telemetry.snapshot(hub.runtime.config, noDepths);
    expect(after.sources.stripe?.accepted).toBe(before.sources.stripe?.accepted);
    expect(after.sources.stripe?.rejected.queue_unavailable).toBe(1);
  });
});
