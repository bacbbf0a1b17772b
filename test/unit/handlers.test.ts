import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { httpConnector } from '../../functions/connectors/http.js';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { TransientError } from '../../functions/core/errors.js';
import type { DeliveryMessage } from '../../functions/core/messages.js';
import type { AuditEntry, BreakerState, Clock } from '../../functions/core/ports.js';
import { createDeliverHandler, type DeliverHandlerDeps } from '../../functions/handlers/deliver-handler.js';
import { createIngestHandler } from '../../functions/handlers/ingest-handler.js';
import { createRouteHandler } from '../../functions/handlers/route-handler.js';
import {
  CRM_TOKEN,
  CRM_TOKEN_NAME,
  STRIPE_SECRET,
  STRIPE_SECRET_NAME,
  testConfig,
} from '../support/config.js';
import {
  apiGatewayV2Event,
  functionUrlEvent,
  lambdaContext,
  sqsEvent,
  sqsRecord,
} from '../support/events.js';
import {
  canonicalIdSequence,
  type FetchCall,
  fakeFetch,
  jsonResponse,
  ManualClock,
  MemoryBreakerStore,
  MemoryDeliveryQueues,
  MemoryInboundQueue,
  MemorySecretStore,
  MemoryTelemetry,
  RecordingVisibility,
} from '../support/fakes.js';
import { MemoryStateStore } from '../support/memory-state-store.js';
import { envelopeFor, stripeCustomerEvent, stripeHeader } from '../support/stripe.js';

const V1 = 1_714_564_800;
const BACKOFF = { baseDelaySeconds: 2, maxDelaySeconds: 300 };

let config: SwitchyardConfig;
let state: MemoryStateStore;
let telemetry: MemoryTelemetry;
let visibility: RecordingVisibility;
let clock: ManualClock;
/** What the handlers recorded in the audit trail. */
let audited: AuditEntry[];
const audit = { record: (entries: readonly AuditEntry[]) => audited.push(...entries) };
const silent = () => new Logger({ logLevel: 'SILENT', serviceName: 'switchyard-test' });

beforeEach(() => {
  config = testConfig();
  state = new MemoryStateStore();
  telemetry = new MemoryTelemetry();
  visibility = new RecordingVisibility();
  clock = new ManualClock();
  audited = [];
});

function failedIds(response: SQSBatchResponse): string[] {
  return response.batchItemFailures.map((f) => f.itemIdentifier);
}

describe('createRouteHandler', () => {
  let queues: MemoryDeliveryQueues;
  beforeEach(() => {
    queues = new MemoryDeliveryQueues();
  });

  function routeHandler(logger = silent()) {
    return createRouteHandler({
      config,
      logger,
      telemetry,
      clock,
      canonicalIdFor: canonicalIdSequence('cust'),
      state,
      deliveryQueues: queues,
      visibility,
      maxReceiveCount: 5,
      backoff: BACKOFF,
      audit,
    });
  }

  function inbound(
    eventId: string,
    customerId: string,
    options: { email?: string; receiveCount?: number } = {},
  ) {
    const body = stripeCustomerEvent({ eventId, customerId, created: V1, ...options });
    return sqsRecord(JSON.stringify(envelopeFor(body)), {
      messageId: `m-${eventId}`,
      ...(options.receiveCount === undefined ? {} : { receiveCount: options.receiveCount }),
    });
  }

  it('quarantines absurd records (10 MB name, wrong types, bad country) in a batch without failing or holding back the records around them', async () => {
    const absurd = (eventId: string, customerId: string, change: Record<string, unknown>) => {
      const body = JSON.parse(stripeCustomerEvent({ eventId, customerId, created: V1 })) as {
        data: { object: Record<string, unknown> };
      };
      Object.assign(body.data.object, change);
      return sqsRecord(JSON.stringify(envelopeFor(JSON.stringify(body))), { messageId: `m-${eventId}` });
    };
    const records = [
      inbound('evt_before', 'cus_before'),
      absurd('evt_huge', 'cus_huge', { name: 'x'.repeat(10 * 1024 * 1024) }),
      absurd('evt_types', 'cus_types', { email: 42, phone: { nested: true } }),
      absurd('evt_country', 'cus_country', { address: { country: 'Atlantis' } }),
      inbound('evt_after', 'cus_after'),
    ];
    const response = await routeHandler()(sqsEvent(records), lambdaContext('route'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect([...new Set(queues.sent.map((m) => m.sourceId))].sort()).toEqual(['cus_after', 'cus_before']);
    const rules = state.quarantined.flatMap((item) => item.reasons.map((r) => r.rule)).sort();
    expect(rules).toEqual(
      expect.arrayContaining([
        'customer.address.country.format',
        // A number where the email goes: the connector reads no email from it.
        'customer.email.required',
        'customer.name.format',
      ]),
    );
    expect(state.quarantined).toHaveLength(3);
    // The 10 MB value is never stored: the reason carries a redacted, short form.
    expect(JSON.stringify(state.quarantined.flatMap((item) => item.reasons)).length).toBeLessThan(2000);
  });

  it('sends the delivery messages of a whole batch in one call to the delivery queues, records that fail included', async () => {
    const send = vi.spyOn(queues, 'send');
    const records = [
      inbound('evt_one', 'cus_one'),
      sqsRecord('this is not JSON', { messageId: 'm-garbage' }),
      inbound('evt_two', 'cus_two', { email: 'two@example.com' }),
      inbound('evt_three', 'cus_three', { email: 'three@example.com' }),
    ];
    const response = await routeHandler()(sqsEvent(records), lambdaContext('route'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(send).toHaveBeenCalledTimes(1);
    expect([...new Set(queues.sent.map((m) => m.sourceId))].sort()).toEqual([
      'cus_one',
      'cus_three',
      'cus_two',
    ]);
  });

  it('routes a batch and reports no failures when every record reached a terminal step', async () => {
    const records = [
      inbound('evt_ok', 'cus_ok'),
      sqsRecord('this is not JSON', { messageId: 'm-garbage' }),
      sqsRecord(JSON.stringify({ v: 2, source: 'stripe' }), { messageId: 'm-v2' }),
      inbound('evt_bad_email', 'cus_bad', { email: 'not-an-email' }),
    ];
    const response = await routeHandler()(sqsEvent(records), lambdaContext('route'));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(queues.sent.map((m) => [m.eventId, m.destination, m.routedFrom])).toEqual([
      ['evt_ok', 'crm', 'm-evt_ok'],
      ['evt_ok', 'erp', 'm-evt_ok'],
    ]);
    expect(visibility.delays).toEqual([]);
    const quarantined = Object.fromEntries(state.quarantined.map((q) => [q.eventId, q]));
    expect(quarantined['m-garbage']).toMatchObject({
      stage: 'route',
      source: '(unreadable)',
      reasons: [{ rule: 'envelope.json', message: 'body is not JSON' }],
      payload: { unreadable: 'this is not JSON' },
    });
    expect(quarantined['m-v2']?.reasons[0]?.rule).toBe('envelope.shape');
    expect(quarantined.evt_bad_email?.reasons[0]?.rule).toBe('customer.email.format');
    expect(telemetry.total('quarantined', { source: '(unreadable)' })).toBe(2);
    expect(telemetry.total('quarantined', { flow: 'customers' })).toBe(2);
    expect(telemetry.total('routed', { source: 'stripe' })).toBe(2);
    expect(telemetry.flushes).toBe(1);
  });

  it('reports a transient failure, delaying its next attempt with backoff', async () => {
    queues.failWhen = (messages) =>
      messages.some((m) => m.eventId === 'evt_flaky') ? new TransientError('SQS throttled') : undefined;
    const records = [inbound('evt_ok', 'cus_ok'), inbound('evt_flaky', 'cus_flaky')];
    const response = await routeHandler()(sqsEvent(records), lambdaContext('route'));

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-evt_flaky' }] });
    expect(visibility.delays).toHaveLength(1);
    expect(visibility.delays[0]?.receiptHandle).toBe('rh-m-evt_flaky');
    // First receive: full jitter in [0, base].
    expect(visibility.delays[0]?.seconds).toBeGreaterThanOrEqual(0);
    expect(visibility.delays[0]?.seconds).toBeLessThanOrEqual(BACKOFF.baseDelaySeconds);
    expect(telemetry.total('retried', { source: 'stripe' })).toBe(1);
    expect(telemetry.total('deadLettered')).toBe(0);
    expect(queues.sent.every((m) => m.eventId === 'evt_ok')).toBe(true);
  });

  it('grows the backoff ceiling with the receive count', async () => {
    queues.failWith = new TransientError('SQS throttled');
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.999_999);
    try {
      await routeHandler()(
        sqsEvent([inbound('evt_1', 'cus_1', { receiveCount: 3 })]),
        lambdaContext('route'),
      );
    } finally {
      random.mockRestore();
    }
    // attempt 3: min(300, 2 * 2^2) = 8 s ceiling.
    expect(visibility.delays[0]?.seconds).toBeCloseTo(8, 3);
  });

  it('on the final receive counts the record dead-lettered and lets SQS move it at once', async () => {
    queues.failWith = new Error('socket hang up');
    const response = await routeHandler()(
      sqsEvent([inbound('evt_last', 'cus_1', { receiveCount: 5 })]),
      lambdaContext('route'),
    );
    expect(failedIds(response)).toEqual(['m-evt_last']);
    expect(visibility.delays).toEqual([{ receiptHandle: 'rh-m-evt_last', seconds: 0 }]);
    expect(telemetry.total('deadLettered', { source: 'stripe' })).toBe(1);
    expect(telemetry.total('retried')).toBe(0);
  });

  it('still reports the failure when the retry delay cannot be set', async () => {
    queues.failWith = new TransientError('SQS throttled');
    visibility.failWith = new Error('ReceiptHandleIsInvalid');
    const response = await routeHandler()(sqsEvent([inbound('evt_1', 'cus_1')]), lambdaContext('route'));
    expect(failedIds(response)).toEqual(['m-evt_1']);
  });

  it('logs each routed record with its own correlation id', async () => {
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const logger = new Logger({ logLevel: 'INFO', serviceName: 'switchyard-test' });
      await routeHandler(logger)(
        sqsEvent([inbound('evt_one', 'cus_one'), inbound('evt_two', 'cus_two')]),
        lambdaContext('route'),
      );
    } finally {
      write.mockRestore();
    }
    const routed = lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { message?: string; correlationId?: string })
      .filter((entry) => entry.message === 'Event routed');
    expect(routed).toHaveLength(2);
    expect(routed.map((entry) => entry.correlationId).sort()).toEqual(['evt_one', 'evt_two']);
  });

  it('records each routing decision in the audit trail: routed per lane with the canonical id, quarantined with its rules, dead-lettered on the last receive', async () => {
    queues.failWith = new Error('SQS down');
    const failing = routeHandler();
    await failing(sqsEvent([inbound('evt_last', 'cus_last', { receiveCount: 5 })]), lambdaContext('route'));
    queues.failWith = undefined;
    await routeHandler()(
      sqsEvent([inbound('evt_ok', 'cus_ok'), inbound('evt_bad', 'cus_bad', { email: 'not-an-email' })]),
      lambdaContext('route'),
    );
    // Records of a batch run in parallel: compare in a fixed order.
    const rows = audited.map((e) => [e.eventId, e.stage, e.outcome, e.destination, e.reason]);
    expect(rows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      ['evt_bad', 'route', 'quarantined', 'crm', 'customer.email.format'],
      ['evt_bad', 'route', 'quarantined', 'erp', 'customer.email.format'],
      ['evt_last', 'route', 'dead-lettered', undefined, 'Error'],
      ['evt_ok', 'route', 'routed', 'crm', undefined],
      ['evt_ok', 'route', 'routed', 'erp', undefined],
    ]);
    const routed = audited.find((e) => e.eventId === 'evt_ok');
    expect(routed).toMatchObject({
      source: 'stripe',
      entity: 'customer',
      sourceId: 'cus_ok',
      at: clock.now(),
    });
    expect(routed?.id).toMatch(/^cust-/);
    // Ids only: no field value of the record is in the trail.
    expect(JSON.stringify(audited)).not.toContain('not-an-email');
  });
});

describe('createDeliverHandler', () => {
  let secrets: MemorySecretStore;

  beforeEach(() => {
    secrets = new MemorySecretStore({ [CRM_TOKEN_NAME]: CRM_TOKEN });
    config = testConfig({
      destinations: {
        crm: {
          connector: 'http',
          url: 'https://crm.example.com/api',
          secret: CRM_TOKEN_NAME,
          retry: { maxReceiveCount: 3 },
        },
      },
      flows: [{ name: 'customers', entity: 'customer', from: ['stripe'], to: ['crm'] }],
    });
  });

  function deliverHandler(
    fetch: typeof globalThis.fetch,
    extra: Pick<DeliverHandlerDeps, 'breakers' | 'requeue'> = {},
    maxReceiveCount?: number,
  ) {
    const configured = config.destinations.crm;
    if (!configured) throw new Error('no crm destination');
    const destination =
      maxReceiveCount === undefined
        ? configured
        : { ...configured, retry: { ...configured.retry, maxReceiveCount } };
    return createDeliverHandler({
      ...extra,
      destinationName: 'crm',
      destination,
      connector: httpConnector,
      logger: silent(),
      telemetry,
      secrets,
      clock,
      fetch,
      state,
      visibility,
      audit,
    });
  }

  function message(id: string, version = V1, name = 'Jenny Rosen'): DeliveryMessage {
    return {
      v: 1,
      flow: 'customers',
      destination: 'crm',
      entity: 'customer',
      id,
      source: 'stripe',
      sourceId: `cus_${id}`,
      version,
      deleted: false,
      data: { email: `${id}@example.com`, name, refs: { stripe: `cus_${id}` } },
      eventId: `evt_${id}_${version}`,
      receivedAt: clock.now() - 1500,
      routedFrom: `inbound-${id}-${version}`,
    };
  }

  function fifo(msg: DeliveryMessage, messageId: string, receiveCount = 1): SQSRecord {
    return sqsRecord(JSON.stringify(msg), { messageId, groupId: `customer#${msg.id}`, receiveCount });
  }

  /** The destination answers per canonical id. */
  function byId(answers: Record<string, () => Response>) {
    return fakeFetch((call: FetchCall) => {
      const { id } = JSON.parse(call.body) as { id: string };
      const answer = answers[id];
      return answer ? answer() : jsonResponse(200, { id: `crm-${id}` });
    });
  }

  it('delivers, counts per lane and reports no failures', async () => {
    const destination = byId({});
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([fifo(message('a'), 'm1'), fifo(message('b'), 'm2')]),
      lambdaContext('deliver-crm'),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(destination.calls).toHaveLength(2);
    expect(telemetry.total('delivered', { flow: 'customers', destination: 'crm' })).toBe(2);
    expect(telemetry.timings.filter((t) => t.metric === 'endToEndLatency')).toEqual([
      {
        metric: 'endToEndLatency',
        dimensions: { flow: 'customers', destination: 'crm' },
        milliseconds: 1500,
      },
      {
        metric: 'endToEndLatency',
        dimensions: { flow: 'customers', destination: 'crm' },
        milliseconds: 1500,
      },
    ]);
    // Each destination call is timed too (the dashboard's destination latency).
    expect(telemetry.timings.filter((t) => t.metric === 'destinationCallLatency')).toHaveLength(2);
    expect(telemetry.flushes).toBe(1);
  });

  it('records delivered, skipped with its reason, and dead-lettered in the audit trail, with the record’s ids', async () => {
    const destination = byId({ c: () => jsonResponse(503, {}) });
    const handler = deliverHandler(destination.fetch);
    await handler(sqsEvent([fifo(message('a'), 'm1')]), lambdaContext('deliver-crm'));
    await handler(sqsEvent([fifo(message('a'), 'm1-again')]), lambdaContext('deliver-crm'));
    await handler(sqsEvent([fifo(message('c'), 'm3', 3)]), lambdaContext('deliver-crm'));
    expect(audited).toEqual([
      expect.objectContaining({
        eventId: `evt_a_${V1}`,
        stage: 'deliver',
        outcome: 'delivered',
        id: 'a',
        version: V1,
      }),
      expect.objectContaining({
        eventId: `evt_a_${V1}`,
        outcome: 'skipped',
        reason: 'duplicate',
        flow: 'customers',
      }),
      expect.objectContaining({
        eventId: `evt_c_${V1}`,
        outcome: 'dead-lettered',
        destination: 'crm',
        sourceId: 'cus_c',
      }),
    ]);
  });

  it('counts a skip with its reason', async () => {
    const destination = byId({});
    const handler = deliverHandler(destination.fetch);
    await handler(sqsEvent([fifo(message('a'), 'm1')]), lambdaContext('deliver-crm'));
    const response = await handler(sqsEvent([fifo(message('a'), 'm1-again')]), lambdaContext('deliver-crm'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(destination.calls).toHaveLength(1);
    expect(telemetry.total('skipped', { destination: 'crm', reason: 'duplicate' })).toBe(1);
  });

  it('reports a transient failure and delays it at least as long as Retry-After', async () => {
    const destination = byId({ a: () => jsonResponse(503, {}, { 'Retry-After': '45' }) });
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([fifo(message('a'), 'm1')]),
      lambdaContext('deliver-crm'),
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }] });
    expect(visibility.delays).toHaveLength(1);
    expect(visibility.delays[0]?.seconds).toBeGreaterThanOrEqual(45);
    expect(telemetry.total('retried', { flow: 'customers', destination: 'crm' })).toBe(1);
    expect(state.mappings.size).toBe(0);
  });

  it('on the final receive counts the record dead-lettered and sets no delay', async () => {
    const destination = byId({ a: () => jsonResponse(500) });
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([fifo(message('a'), 'm1', 3)]),
      lambdaContext('deliver-crm'),
    );
    expect(failedIds(response)).toEqual(['m1']);
    expect(visibility.delays).toEqual([{ receiptHandle: 'rh-m1', seconds: 0 }]);
    expect(telemetry.total('deadLettered', { flow: 'customers', destination: 'crm' })).toBe(1);
    expect(telemetry.total('retried')).toBe(0);
  });

  it('accounts for a held-back record on its final receive: it reaches the DLQ with the one that failed', async () => {
    // a2 comes back with a1 every time (same group, FIFO order), so its receive count keeps pace and
    // SQS dead-letters both together; a2 is never attempted, so only the handler can count it (G3).
    const destination = byId({ a: () => jsonResponse(500) });
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([fifo(message('a', V1), 'a1', 3), fifo(message('a', V1 + 1, 'v2'), 'a2', 3)]),
      lambdaContext('deliver-crm'),
    );
    expect(failedIds(response)).toEqual(['a1', 'a2']);
    expect(destination.calls).toHaveLength(1);
    expect(telemetry.total('deadLettered', { destination: 'crm' })).toBe(2);
  });

  it('quarantines a fatal rejection without reporting it or burning a retry', async () => {
    const destination = byId({ a: () => jsonResponse(422, { error: 'email taken' }) });
    const msg = message('a');
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([fifo(msg, 'm1')]),
      lambdaContext('deliver-crm'),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(visibility.delays).toEqual([]);
    expect(state.quarantined).toEqual([
      {
        stage: 'deliver',
        source: 'stripe',
        eventId: msg.eventId,
        flow: 'customers',
        destination: 'crm',
        entity: 'customer',
        reasons: [{ rule: 'destination.rejected', message: 'HTTP 422: {"error":"email taken"}' }],
        payload: msg,
        quarantinedAt: clock.now(),
      },
    ]);
    expect(telemetry.total('quarantined', { flow: 'customers', destination: 'crm' })).toBe(1);
  });

  it('quarantines a message it cannot read', async () => {
    const response = await deliverHandler(byId({}).fetch)(
      sqsEvent([sqsRecord('{"v":1}', { messageId: 'm-bad', groupId: 'customer#x' })]),
      lambdaContext('deliver-crm'),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(state.quarantined[0]).toMatchObject({
      stage: 'deliver',
      eventId: 'm-bad',
      flow: '(unreadable)',
      reasons: [{ rule: 'message.shape' }],
    });
  });

  it('hands records back (visible at once, counted on their last receive) when too little of the invocation is left for another call', async () => {
    const destination = byId({});
    const context = { ...lambdaContext('deliver-crm'), getRemainingTimeInMillis: () => 1_000 };
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([fifo(message('a', V1), 'a1'), fifo(message('b', V1), 'b1', 8)]),
      context,
    );
    expect(failedIds(response)).toEqual(['a1', 'b1']);
    expect(destination.calls).toEqual([]);
    expect(visibility.delays.map((d) => d.seconds)).toEqual([0, 0]);
    // b1 was on its last receive (maxReceiveCount 8): it goes to the DLQ, and is counted there.
    expect(telemetry.total('deadLettered', { flow: 'customers', destination: 'crm' })).toBe(1);
  });

  it('requeues, not dead-letters, a record on its last receive when too little of the invocation is left', async () => {
    const requeue = new MemoryDeliveryQueues();
    const destination = byId({});
    const context = { ...lambdaContext('deliver-crm'), getRemainingTimeInMillis: () => 1_000 };
    const response = await deliverHandler(destination.fetch, { requeue })(
      sqsEvent([fifo(message('a', V1), 'a1'), fifo(message('b', V1), 'b1', 3)]),
      context,
    );
    expect(failedIds(response)).toEqual(['a1']);
    expect(requeue.sent.map((m) => m.id)).toEqual(['b']);
    expect(destination.calls).toEqual([]);
    expect(telemetry.total('deadLettered', { flow: 'customers', destination: 'crm' })).toBe(0);
  });

  it('retries a record it cannot quarantine (the state table refused the write), holding back its entity', async () => {
    const destination = byId({ a: () => jsonResponse(400, { error: 'bad' }) });
    state.putQuarantine = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([
        fifo(message('a', V1), 'a1'),
        fifo(message('a', V1 + 1, 'Jenny v2'), 'a2'),
        fifo(message('b', V1), 'b1'),
      ]),
      lambdaContext('deliver-crm'),
    );
    expect(failedIds(response)).toEqual(['a1', 'a2']);
    expect(visibility.delays.map((d) => d.receiptHandle)).toEqual(['rh-a1', 'rh-a2']);
    expect(telemetry.total('quarantined', { flow: 'customers', destination: 'crm' })).toBe(0);
    expect(telemetry.total('delivered', { flow: 'customers', destination: 'crm' })).toBe(1);
  });

  it('while the breaker is open, requeues the later records of a group behind the one it requeues, burning no retry', async () => {
    const breakers = memoryBreakers({ failures: 5, openUntil: clock.now() + 30_000, openSeconds: 30 });
    const requeue = new MemoryDeliveryQueues();
    const destination = byId({});
    // a1 is near its last receive (maxReceiveCount 3): it goes back on the queue as a new message.
    // a2 arrived later and has been received once; left in place it would overtake a1.
    const response = await deliverHandler(destination.fetch, { breakers, requeue })(
      sqsEvent([
        fifo(message('a', V1), 'a1', 2),
        fifo(message('a', V1 + 1, 'Jenny v2'), 'a2', 1),
        fifo(message('b', V1), 'b1', 1),
      ]),
      lambdaContext('deliver-crm'),
    );
    expect(requeue.sent.map((m) => [m.id, m.version])).toEqual([
      ['a', V1],
      ['a', V1 + 1],
    ]);
    // b1 waits for the breaker in the queue, visible again when it closes.
    expect(failedIds(response)).toEqual(['b1']);
    expect(visibility.delays).toEqual([{ receiptHandle: 'rh-b1', seconds: 30 }]);
    expect(destination.calls).toHaveLength(0);
    expect(telemetry.total('retried', { destination: 'crm' })).toBe(0);
    expect(telemetry.total('deadLettered', { destination: 'crm' })).toBe(0);
  });

  it('requeues a record held behind a failing one of its entity on its last receive, not to the DLQ', async () => {
    const requeue = new MemoryDeliveryQueues();
    const destination = byId({ a: () => jsonResponse(503) });
    // a2 and a3 have waited behind a1 for two receives (maxReceiveCount 3) without failing themselves.
    const response = await deliverHandler(destination.fetch, { requeue })(
      sqsEvent([
        fifo(message('a', V1), 'a1', 1),
        fifo(message('a', V1 + 1, 'Jenny v2'), 'a2', 2),
        fifo(message('a', V1 + 2, 'Jenny v3'), 'a3', 1),
      ]),
      lambdaContext('deliver-crm'),
    );
    // a1 retries in place (first in its group); a2 goes back behind it as a new message, and a3
    // behind a2, so the order holds.
    expect(failedIds(response)).toEqual(['a1']);
    expect(requeue.sent.map((m) => [m.id, m.version])).toEqual([
      ['a', V1 + 1],
      ['a', V1 + 2],
    ]);
    expect(requeue.sent.every((m) => m.routedFrom.includes('~held@'))).toBe(true);
    expect(destination.calls).toHaveLength(1);
    expect(telemetry.total('deadLettered', { destination: 'crm' })).toBe(0);
    expect(telemetry.total('requeued', { destination: 'crm' })).toBe(2);
  });

  it('requeues a waiting record received before, with the production budget: waiting spends at most one receive', async () => {
    const requeue = new MemoryDeliveryQueues();
    const destination = byId({ a: () => jsonResponse(503), b: () => jsonResponse(503) });
    // maxReceiveCount 8: a2 has been received before (it waited behind a1); b2 has not.
    const response = await deliverHandler(
      destination.fetch,
      { requeue },
      8,
    )(
      sqsEvent([
        fifo(message('a', V1), 'a1', 2),
        fifo(message('a', V1 + 1, 'Jenny v2'), 'a2', 2),
        fifo(message('b', V1), 'b1', 1),
        fifo(message('b', V1 + 1, 'Ben v2'), 'b2', 1),
      ]),
      lambdaContext('deliver-crm'),
    );
    // a2 goes back as a new message (its receive count starts again) behind a1, which retries in
    // place; b2, behind b1's first failure, waits in place on its first receive.
    expect(requeue.sent.map((m) => [m.id, m.version])).toEqual([['a', V1 + 1]]);
    expect(failedIds(response)).toEqual(['a1', 'b1', 'b2']);
    expect(telemetry.total('requeued', { destination: 'crm' })).toBe(1);
    expect(telemetry.total('deadLettered', { destination: 'crm' })).toBe(0);
  });

  it("reads the breaker, each group's first mapping and the token at once, before the first call", async () => {
    const reads: string[] = [];
    const getMapping = state.getMapping.bind(state);
    state.getMapping = async (destination, entity, id) => {
      reads.push(id);
      return getMapping(destination, entity, id);
    };
    const getSecret = secrets.get.bind(secrets);
    secrets.get = async (name) => {
      reads.push('token');
      return getSecret(name);
    };
    const breakers = memoryBreakers();
    const getBreaker = breakers.getBreaker.bind(breakers);
    breakers.getBreaker = async (name) => {
      reads.push('breaker');
      // Slower than the others: they must not wait for it.
      await new Promise((resolve) => setTimeout(resolve, 5));
      reads.push('breaker answered');
      return getBreaker(name);
    };
    const destination = byId({});
    const fetch: typeof globalThis.fetch = async (input, init) => {
      reads.push('call');
      return destination.fetch(input, init);
    };
    const response = await deliverHandler(fetch, { breakers })(
      sqsEvent([
        fifo(message('a', V1), 'a1'),
        fifo(message('a', V1 + 1, 'v2'), 'a2'),
        fifo(message('b', V1), 'b1'),
      ]),
      lambdaContext('deliver-crm'),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    // a and b and the token while the breaker is read; a1 sends with the prefetched token; a2 reads
    // its own mapping, after a1 wrote it; later records read the token from the store (its cache).
    expect(reads).toEqual([
      'breaker',
      'a',
      'b',
      'token',
      'breaker answered',
      'call',
      'token',
      'a',
      'call',
      'token',
      'call',
    ]);
  });

  it('sends nothing while the breaker is open, though the batch read its mappings and token with the breaker', async () => {
    const calls: string[] = [];
    const breakers = memoryBreakers({ failures: 5, openUntil: clock.now() + 30_000, openSeconds: 30 });
    const response = await deliverHandler(
      fakeFetch(() => {
        calls.push('call');
        return jsonResponse(200, { id: 'crm-x' });
      }).fetch,
      { breakers },
    )(sqsEvent([fifo(message('c', V1), 'c1'), fifo(message('d', V1), 'd1')]), lambdaContext('deliver-crm'));
    expect(calls).toEqual([]);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['c1', 'd1']);
    expect(secrets.reads).toEqual([CRM_TOKEN_NAME]);
  });

  it('fails only the record that took a failed token prefetch; the next one reads the token again', async () => {
    let failures = 1;
    const getSecret = secrets.get.bind(secrets);
    secrets.get = async (name) => {
      if (failures-- > 0) throw new TransientError('Secrets Manager throttled the read');
      return getSecret(name);
    };
    const destination = byId({});
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([fifo(message('a', V1), 'a1'), fifo(message('b', V1), 'b1')]),
      lambdaContext('deliver-crm'),
    );
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['a1']);
    expect(destination.calls.map((c) => (JSON.parse(c.body) as { id: string }).id)).toEqual(['b']);
  });

  it('reads no token when the destination has none', async () => {
    const { secret: _secret, ...withoutSecret } = config.destinations.crm ?? ({} as never);
    config = { ...config, destinations: { crm: withoutSecret } };
    const destination = byId({});
    const response = await deliverHandler(destination.fetch)(
      sqsEvent([fifo(message('a', V1), 'a1')]),
      lambdaContext('deliver-crm'),
    );
    expect(response).toEqual({ batchItemFailures: [] });
    expect(secrets.reads).toEqual([]);
    expect(destination.calls[0]?.headers.authorization).toBeUndefined();
  });

  it('requeues a record the open breaker holds on its second receive, not only near its last', async () => {
    const breakers = memoryBreakers({ failures: 5, openUntil: clock.now() + 30_000, openSeconds: 30 });
    const requeue = new MemoryDeliveryQueues();
    const destination = byId({});
    const response = await deliverHandler(
      destination.fetch,
      { breakers, requeue },
      8,
    )(
      sqsEvent([fifo(message('a', V1), 'a1', 2), fifo(message('b', V1), 'b1', 1)]),
      lambdaContext('deliver-crm'),
    );
    expect(requeue.sent.map((m) => m.id)).toEqual(['a']);
    // b1 is on its first receive: it waits in the queue until the breaker closes.
    expect(failedIds(response)).toEqual(['b1']);
    expect(visibility.delays).toEqual([{ receiptHandle: 'rh-b1', seconds: 30 }]);
    expect(destination.calls).toHaveLength(0);
  });

  function memoryBreakers(initial?: BreakerState): MemoryBreakerStore {
    return new MemoryBreakerStore(initial ? { crm: initial } : {});
  }

  it('does not call the destination before a requeued copy is due, even when the breaker says closed', async () => {
    // The breaker that held it was closed meanwhile by another invocation's success (last writer wins).
    const breakers = memoryBreakers();
    const requeue = new MemoryDeliveryQueues();
    const destination = byId({});
    const due = clock.now() + 20_000;
    const response = await deliverHandler(
      destination.fetch,
      { breakers, requeue },
      8,
    )(
      sqsEvent([
        fifo({ ...message('a', V1), notBefore: due }, 'a1', 1),
        fifo(message('a', V1 + 1, 'Jenny v2'), 'a2', 1),
        fifo(message('b', V1), 'b1', 1),
      ]),
      lambdaContext('deliver-crm'),
    );
    expect(destination.calls.map((c) => c.url)).toHaveLength(1);
    expect(failedIds(response)).toEqual(['a1', 'a2']);
    expect(visibility.delays).toContainEqual({ receiptHandle: 'rh-a1', seconds: 20 });
    expect(requeue.sent).toEqual([]);
  });

  it("waits in place when its own failure opens the breaker, and on its last receive is requeued carrying the destination's Retry-After", async () => {
    for (const [receives, requeued] of [
      [2, false],
      [7, true],
    ] as const) {
      visibility = new RecordingVisibility();
      const breakers = memoryBreakers({ failures: 4, openUntil: 0, openSeconds: 30 });
      const requeue = new MemoryDeliveryQueues();
      const destination = byId({ a: () => jsonResponse(429, {}, { 'Retry-After': '120' }) });
      const response = await deliverHandler(
        destination.fetch,
        { breakers, requeue },
        8,
      )(sqsEvent([fifo(message('a', V1), 'a1', receives)]), lambdaContext('deliver-crm'));
      expect(breakers.states.get('crm')?.openUntil).toBeGreaterThanOrEqual(clock.now() + 120_000);
      if (requeued) {
        expect(failedIds(response)).toEqual([]);
        expect(requeue.sent.map((m) => m.notBefore)).toEqual([breakers.states.get('crm')?.openUntil]);
      } else {
        // A failure of its own: it spends the receive, as any failure does, and waits out the pause.
        expect(failedIds(response)).toEqual(['a1']);
        expect(requeue.sent).toEqual([]);
        expect(visibility.delays[0]?.seconds).toBeGreaterThanOrEqual(120);
      }
    }
  });

  it('never requeues a waiting record on its first receive, so a requeued copy waits out its pause instead of spinning', async () => {
    const breakers = memoryBreakers({ failures: 5, openUntil: clock.now() + 30_000, openSeconds: 30 });
    const requeue = new MemoryDeliveryQueues();
    const destination = byId({});
    // maxReceiveCount 2: the threshold that was maxReceiveCount - 1 requeued on every receive.
    const held = { ...message('a', V1), routedFrom: 'inbound-a~held@5', notBefore: clock.now() + 30_000 };
    const response = await deliverHandler(
      destination.fetch,
      { breakers, requeue },
      2,
    )(sqsEvent([fifo(held, 'a1', 1), fifo(message('b', V1), 'b1', 2)]), lambdaContext('deliver-crm'));
    expect(failedIds(response)).toEqual(['a1']);
    expect(visibility.delays).toEqual([{ receiptHandle: 'rh-a1', seconds: 30 }]);
    // b1 waits on its last receive: requeued, with one suffix on its routedFrom however often.
    expect(requeue.sent.map((m) => m.id)).toEqual(['b']);
    const again = await deliverHandler(
      destination.fetch,
      { breakers, requeue },
      2,
    )(sqsEvent([fifo(held, 'a1', 2)]), lambdaContext('deliver-crm'));
    expect(failedIds(again)).toEqual([]);
    expect(requeue.sent[1]?.routedFrom).toMatch(/^inbound-a~held@\d+$/);
  });

  it('holds back later records of a failed group, but not other groups', async () => {
    const destination = byId({ a: () => jsonResponse(503) });
    const records = [
      fifo(message('a', V1), 'a1'),
      fifo(message('b', V1), 'b1'),
      fifo(message('a', V1 + 1, 'Jenny v2'), 'a2'),
      fifo(message('c', V1), 'c1'),
      fifo(message('b', V1 + 1, 'Bob v2'), 'b2'),
    ];
    const response = await deliverHandler(destination.fetch)(sqsEvent(records), lambdaContext('deliver-crm'));

    expect(failedIds(response)).toEqual(['a1', 'a2']);
    expect(destination.calls.map((c) => (JSON.parse(c.body) as { id: string; version: string }).id)).toEqual([
      'a',
      'b',
      'c',
      'b',
    ]);
    // a1 backs off; a2, never attempted, is made visible at once: left in flight it would lock its
    // group for the whole visibility timeout, long after a1's backoff ended.
    expect(visibility.delays.map((d) => [d.receiptHandle, d.seconds === 0])).toEqual([
      ['rh-a1', false],
      ['rh-a2', true],
    ]);
    expect(state.mappings.get('customer#b#crm')?.versions).toEqual({ stripe: V1 + 1 });
    expect(state.mappings.has('customer#a#crm')).toBe(false);
  });
});

describe('createIngestHandler', () => {
  let queue: MemoryInboundQueue;
  let secrets: MemorySecretStore;
  const body = stripeCustomerEvent({ eventId: 'evt_http', created: V1 });

  beforeEach(() => {
    queue = new MemoryInboundQueue();
    secrets = new MemorySecretStore({ [STRIPE_SECRET_NAME]: STRIPE_SECRET });
  });

  function ingestHandler(overrides: { clock?: Clock } = {}) {
    return createIngestHandler({
      config,
      queue,
      secrets,
      telemetry,
      clock: overrides.clock ?? clock,
      logger: silent(),
    });
  }

  function signature(payload: string): string {
    return stripeHeader(payload, STRIPE_SECRET, Math.floor(clock.now() / 1000));
  }

  it('answers 202 with the event id, reading headers case-insensitively', async () => {
    const result = await ingestHandler()(
      apiGatewayV2Event({ source: 'stripe', body, headers: { 'Stripe-Signature': signature(body) } }),
      lambdaContext('ingest'),
    );
    expect(result).toEqual({
      statusCode: 202,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: JSON.stringify({ eventId: 'evt_http' }),
    });
    expect(queue.sent[0]?.body).toBe(body);
    expect(telemetry.flushes).toBe(1);
  });

  it('verifies a base64-encoded body over its decoded bytes', async () => {
    const unicode = stripeCustomerEvent({ eventId: 'evt_b64', created: V1, name: 'Zoë Ångström' });
    const result = await ingestHandler()(
      apiGatewayV2Event({
        source: 'stripe',
        body: unicode,
        base64: true,
        headers: { 'stripe-signature': signature(unicode) },
      }),
      lambdaContext('ingest'),
    );
    expect(result.statusCode).toBe(202);
    expect(queue.sent[0]?.body).toBe(unicode);
  });

  it('answers a rejection with its status and a JSON error body', async () => {
    const result = await ingestHandler()(
      apiGatewayV2Event({
        source: 'stripe',
        body,
        headers: { 'stripe-signature': `t=${V1},v1=${'0'.repeat(64)}` },
      }),
      lambdaContext('ingest'),
    );
    expect(result.statusCode).toBe(401);
    expect(JSON.parse(String(result.body))).toEqual({
      error: 'bad_signature',
      message: 'No v1 signature in Stripe-Signature matches a signing secret',
    });
  });

  it('answers 400 to a request with no body', async () => {
    const result = await ingestHandler()(
      apiGatewayV2Event({ source: 'stripe', headers: { 'stripe-signature': signature('') } }),
      lambdaContext('ingest'),
    );
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(String(result.body))).toMatchObject({ error: 'malformed_body' });
  });

  it('takes a webhook through a function URL (api.ingress function-url), reading the source from the path', async () => {
    const result = await ingestHandler()(
      functionUrlEvent({ path: '/webhooks/stripe', body, headers: { 'stripe-signature': signature(body) } }),
      lambdaContext('ingest'),
    );
    expect(result.statusCode).toBe(202);
    expect(JSON.parse(String(result.body))).toEqual({ eventId: 'evt_http' });
    expect(queue.sent.map((message) => message.body)).toEqual([body]);
  });

  it.each([
    ['the root', '/', 'POST', 404],
    ['a path under a source', '/webhooks/stripe/extra', 'POST', 404],
    ['an unknown source', '/webhooks/nope', 'POST', 404],
    ['a bad percent-encoding', '/webhooks/%E0%A4%A', 'POST', 404],
    ['a GET', '/webhooks/stripe', 'GET', 405],
  ])(
    'answers %s through a function URL with %s %s → %i and enqueues nothing',
    async (_label, path, method, status) => {
      const result = await ingestHandler()(
        functionUrlEvent({ path, method, body, headers: { 'stripe-signature': signature(body) } }),
        lambdaContext('ingest'),
      );
      expect(result.statusCode).toBe(status);
      expect(queue.sent).toEqual([]);
    },
  );

  it('answers 405 with Allow: POST to another method, and counts it rejected', async () => {
    const before = telemetry.counts.filter((c) => c.metric === 'rejected').length;
    const result = await ingestHandler()(
      functionUrlEvent({
        path: '/webhooks/stripe',
        method: 'PUT',
        body,
        headers: { 'stripe-signature': signature(body) },
      }),
      lambdaContext('ingest'),
    );
    expect(result).toMatchObject({ statusCode: 405, headers: { allow: 'POST' } });
    expect(JSON.parse(String(result.body))).toMatchObject({ error: 'method_not_allowed' });
    expect(telemetry.counts.filter((c) => c.metric === 'rejected').slice(before)).toEqual([
      expect.objectContaining({ dimensions: { source: 'stripe', reason: 'method_not_allowed' } }),
    ]);
  });

  it('answers 500 without details when something unexpected breaks', async () => {
    const broken: Clock = {
      now: () => {
        throw new Error(`clock exploded near ${STRIPE_SECRET}`);
      },
    };
    const result = await ingestHandler({ clock: broken })(
      apiGatewayV2Event({ source: 'stripe', body, headers: { 'stripe-signature': signature(body) } }),
      lambdaContext('ingest'),
    );
    expect(result.statusCode).toBe(500);
    expect(JSON.parse(String(result.body))).toEqual({
      error: 'internal_error',
      message: 'The hub could not take the event; retry later',
    });
    expect(queue.sent).toEqual([]);
    expect(telemetry.flushes).toBe(1);
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});
