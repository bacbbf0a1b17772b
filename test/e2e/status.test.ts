import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_METRIC_DIMENSIONS } from '../../lib/constructs/hub-metrics.js';
import type { HubStatus } from '../../local/commands/status.js';
import type { EventView, QuarantineList } from '../../local/console/api.js';
import { CONSOLE_HEADERS } from '../../local/console/http.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { redrive } from '../../local/redrive.js';
import type { HubStats } from '../../local/stats.js';
import { cli } from '../support/cli.js';
import { startTestHub, type TestHub } from '../support/hub.js';

const now = () => Math.floor(Date.now() / 1000);

function expectBalanced(stats: HubStats): void {
  const t = stats.totals;
  expect(t.accepted).toBe(t.delivered + t.skipped + t.quarantined + t.deadLettered + t.inFlight);
  expect(stats.balanced).toBe(true);
}

describe('switchyard status and the console endpoints, on the local runtime', () => {
  let hub: TestHub;
  let deadLetteredEventId: string;
  let quarantinedEventId: string;

  beforeAll(async () => {
    hub = await startTestHub();
    for (const n of [1, 2]) {
      expect((await hub.send(stripeCustomerEvent('customer.created', demoCustomer(n), now()))).status).toBe(
        202,
      );
    }
    const bad = await hub.send(
      stripeCustomerEvent('customer.created', demoCustomer(3, { email: 'not-an-email' }), now()),
    );
    quarantinedEventId = String(bad.body.eventId);
    await hub.runtime.settle();
    // The CRM stays down for every receive the lane allows (maxReceiveCount 4): one dead letter.
    hub.crm.fail({ status: 503, times: 4 });
    const doomed = await hub.send(stripeCustomerEvent('customer.created', demoCustomer(4), now()));
    deadLetteredEventId = String(doomed.body.eventId);
    const stats = await hub.runtime.settle(30_000);
    expect(stats.destinations.crm?.deadLetterDepth).toBe(1);
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('`status --json` reports lanes, queue and DLQ depths, the quarantine, balance and the alarm checks', async () => {
    const { code, stdout } = await cli(['status', '--json', '--url', hub.runtime.url]);
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as HubStatus;
    expect(status).toMatchObject({ hub: 'e2e', url: hub.runtime.url, balanced: true });
    expect(status.lanes).toEqual([
      expect.objectContaining({
        flow: 'customers-to-crm',
        destination: 'crm',
        routed: 4,
        delivered: 2,
        quarantined: 1,
        deadLettered: 1,
        inFlight: 0,
        latencyMs: { p50: expect.any(Number), p99: expect.any(Number) },
      }),
    ]);
    expect(status.sources).toEqual([expect.objectContaining({ source: 'stripe', received: 4, accepted: 4 })]);
    expect(status.queues).toEqual([
      { key: 'inbound', name: 'e2e-inbound', depth: 0, deadLetter: 'e2e-inbound-dlq', deadLetterDepth: 0 },
      {
        key: 'deliver-crm',
        name: 'e2e-deliver-crm.fifo',
        depth: 0,
        deadLetter: 'e2e-deliver-crm-dlq.fifo',
        deadLetterDepth: 1,
      },
    ]);
    expect(status.quarantine).toEqual({
      count: 1,
      newest: [expect.objectContaining({ eventId: quarantinedEventId, rules: ['customer.email.format'] })],
    });
    const states = Object.fromEntries(status.alarms.map((a) => [a.name, a.state]));
    expect(states).toMatchObject({
      'e2e-deliver-crm-dlq.fifo-not-empty': 'ALARM',
      'e2e-inbound-dlq-not-empty': 'OK',
      'e2e-customers-to-crm-crm-latency-p99': 'OK',
      'e2e-customers-to-crm-crm-quarantine-rate': 'ALARM',
    });
  });

  it('`status` prints the same as tables, and says so plainly when no hub answers', async () => {
    const { code, stdout } = await cli(['status', '--url', hub.runtime.url]);
    expect(code).toBe(0);
    expect(stdout).toContain(`Switchyard "e2e" at ${hub.runtime.url}: balanced`);
    expect(stdout).toMatch(/customers-to-crm -> crm\s+4\s+2\s+0\s+1\s+1\s/);
    expect(stdout).toMatch(/e2e-deliver-crm\.fifo\s+0\s+1/);
    expect(stdout).toContain('quarantine: 1 record');

    const down = await cli(['status', '--url', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('No Switchyard hub answering at http://127.0.0.1:9');
  });

  it('lists quarantined records with their reasons and never their payload', async () => {
    const response = await fetch(`${hub.runtime.url}/_switchyard/quarantine`);
    const text = await response.text();
    const list = JSON.parse(text) as QuarantineList;
    expect(list.count).toBe(1);
    expect(list.items[0]).toMatchObject({
      eventId: quarantinedEventId,
      stage: 'route',
      source: 'stripe',
      reasons: [expect.objectContaining({ rule: 'customer.email.format', field: 'email' })],
    });
    expect(text).not.toContain('not-an-email');
    expect(text).not.toContain('payload');
  });

  it('refuses a redrive that is not a same-origin JSON POST, and one for a queue that does not exist', async () => {
    const url = `${hub.runtime.url}/_switchyard/redrive/deliver-crm`;
    const json = { 'content-type': 'application/json' };
    const form = await fetch(url, { method: 'POST', body: 'a=1', headers: { 'content-type': 'text/plain' } });
    const crossSite = await fetch(url, {
      method: 'POST',
      body: '{}',
      headers: { ...json, origin: 'https://evil.example' },
    });
    const get = await fetch(url);
    const unknown = await fetch(`${hub.runtime.url}/_switchyard/redrive/nope`, {
      method: 'POST',
      body: '{}',
      headers: json,
    });
    expect([form.status, crossSite.status, get.status, unknown.status]).toEqual([403, 403, 405, 404]);
    expect((await hub.runtime.stats()).destinations.crm?.deadLetterDepth).toBe(1);
  });

  it('redrives the dead letter back to its FIFO queue, where it is delivered once and leaves G3 balanced', async () => {
    const response = await fetch(`${hub.runtime.url}/_switchyard/redrive/deliver-crm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ queue: 'e2e-deliver-crm.fifo', moved: 1 });
    const stats = await hub.runtime.settle(20_000);
    expect(stats.flows['customers-to-crm']?.crm).toMatchObject({
      delivered: 3,
      deadLettered: 0,
      redriven: 1,
      inFlight: 0,
    });
    expect(stats.destinations.crm?.deadLetterDepth).toBe(0);
    expectBalanced(stats);

    // One write at the CRM, under the same Idempotency-Key as the attempts before the DLQ (G4).
    const calls = hub.crm.calls.filter(
      (c) => (c.body.data as { refs?: { stripe?: string } })?.refs?.stripe === 'cus_demo00004',
    );
    expect(calls.map((c) => c.status)).toEqual([503, 503, 503, 503, 201]);
    expect(new Set(calls.map((c) => c.headers['idempotency-key'])).size).toBe(1);
  });

  it('finds an event by id: its stages, destination calls, redrive, and what the destination holds', async () => {
    const response = await fetch(
      `${hub.runtime.url}/_switchyard/events/${encodeURIComponent(deadLetteredEventId)}`,
    );
    const view = (await response.json()) as EventView;
    expect(view.found).toBe(true);
    expect(view.lanes).toEqual([
      expect.objectContaining({
        flow: 'customers-to-crm',
        destination: 'crm',
        status: 'delivered',
        attempts: 5,
      }),
    ]);
    expect(view.lanes[0]?.mapping?.versions.stripe).toBe(view.lanes[0]?.version);
    expect(view.steps.map((s) => s.stage)).toEqual([
      'ingest',
      'route',
      ...Array(4).fill(['call', 'deliver']).flat(),
      'redrive',
      'call',
      'deliver',
    ]);
    expect(view.note).toMatch(/^Journey from the audit trail/);
    expect(view.journey.map((e) => `${e.stage} ${e.outcome}`)).toEqual([
      'ingest accepted',
      'route routed',
      'deliver dead-lettered',
      'redrive redriven',
      'deliver delivered',
    ]);

    const quarantined = (await (
      await fetch(`${hub.runtime.url}/_switchyard/events/${quarantinedEventId}`)
    ).json()) as EventView;
    expect(quarantined.quarantine[0]?.reasons[0]?.rule).toBe('customer.email.format');
    const missing = (await (
      await fetch(`${hub.runtime.url}/_switchyard/events/evt_nope`)
    ).json()) as EventView;
    expect(missing.found).toBe(false);
  });

  it('serves the console with its security headers, and only to loopback host names', async () => {
    const page = await fetch(`${hub.runtime.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    // Nothing from outside this origin, and no inline script for the CSP to refuse.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
    for (const asset of ['/console/app.js', '/console/style.css']) {
      const response = await fetch(`${hub.runtime.url}${asset}`);
      expect(response.status, asset).toBe(200);
      expect(response.headers.get('content-security-policy')).toBe(
        CONSOLE_HEADERS['content-security-policy'],
      );
    }
    // DNS rebinding: a page on another name that resolves to 127.0.0.1 gets nothing.
    const { request } = await import('node:http');
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${hub.runtime.url}/_switchyard/quarantine`,
        { headers: { host: 'evil.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(rebound).toBe(421);
  });

  it('emits metrics only with bounded dimensions: names the infra tests allow, values from the config or closed lists', async () => {
    // Add the rejections: an unknown source and a bad signature.
    await fetch(`${hub.runtime.url}/webhooks/nope`, { method: 'POST', body: '{}' });
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(5), now()), {
      secret: 'whsec_wrong',
    });
    await hub.runtime.settle();
    const config = hub.runtime.config;
    const allowed: Record<string, (value: string) => boolean> = {
      flow: (v) => config.flows.some((f) => f.name === v),
      destination: (v) => config.flows.some((f) => f.to.includes(v)),
      source: (v) => v in config.sources || v === '(unknown)',
      reason: (v) => /^[a-z_]{1,40}$/.test(v),
      secret: (v) => v === 'current' || v === 'previous',
    };
    const sets = hub.runtime.telemetry.dimensionSets();
    expect(sets.length).toBeGreaterThan(10);
    for (const { metric, dimensions } of sets) {
      for (const [name, value] of Object.entries(dimensions)) {
        expect(HUB_METRIC_DIMENSIONS, `${metric}: ${name}`).toContain(name);
        expect(allowed[name]?.(value), `${metric}: ${name}=${value}`).toBe(true);
      }
    }
    expect(sets).toContainEqual({
      metric: 'destinationCallLatency',
      dimensions: { flow: 'customers-to-crm', destination: 'crm' },
    });
  });
});

describe('local DLQ redrive (local/redrive.ts) against fauxqs', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub();
  });
  afterAll(async () => {
    await hub?.stop();
  });

  const queue = async (name: string, fifo: boolean) =>
    (
      await hub.runtime.sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'false' } : {},
        }),
      )
    ).QueueUrl ?? '';

  const depth = async (url: string) =>
    Number(
      (
        await hub.runtime.sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
        )
      ).Attributes?.ApproximateNumberOfMessages,
    );

  it('moves FIFO messages in order, keeping group ids and attributes, even inside the deduplication window', async () => {
    const source = await queue('redrive-test.fifo', true);
    const dlq = await queue('redrive-test-dlq.fifo', true);
    const sent = [
      ['a', 'a1'],
      ['b', 'b1'],
      ['a', 'a2'],
      ['a', 'a3'],
    ] as const;
    for (const [group, body] of sent) {
      // The same dedup id the source queue saw moments ago: a naive re-send would be dropped.
      await hub.runtime.sqs.send(
        new SendMessageCommand({
          QueueUrl: source,
          MessageBody: body,
          MessageGroupId: group,
          MessageDeduplicationId: body,
        }),
      );
      await hub.runtime.sqs.send(
        new SendMessageCommand({
          QueueUrl: dlq,
          MessageBody: body,
          MessageGroupId: group,
          MessageDeduplicationId: body,
          MessageAttributes: { kind: { DataType: 'String', StringValue: `test-${body}` } },
        }),
      );
    }
    // Empty the source queue, as the consumer had before the messages failed (receive, delete).
    for (let i = 0; i < 5 && (await depth(source)) > 0; i++) {
      const { Messages = [] } = await hub.runtime.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: source, MaxNumberOfMessages: 10 }),
      );
      for (const m of Messages) {
        await hub.runtime.sqs.send(
          new DeleteMessageCommand({ QueueUrl: source, ReceiptHandle: m.ReceiptHandle }),
        );
      }
    }
    expect(await depth(source)).toBe(0);
    const moved: string[] = [];
    const result = await redrive({
      sqs: hub.runtime.sqs,
      from: dlq,
      to: source,
      fifo: true,
      onMoved: (b) => moved.push(b),
    });
    expect(result).toEqual({ moved: 4 });
    expect(moved).toEqual(['a1', 'b1', 'a2', 'a3']);
    expect(await depth(dlq)).toBe(0);

    const received: { body: string; group?: string; kind?: string }[] = [];
    for (let i = 0; i < 10 && received.length < 4; i++) {
      const { Messages = [] } = await hub.runtime.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: source,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 60,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      for (const m of Messages) {
        await hub.runtime.sqs.send(
          new DeleteMessageCommand({ QueueUrl: source, ReceiptHandle: m.ReceiptHandle }),
        );
        received.push({
          body: m.Body ?? '',
          group: m.Attributes?.MessageGroupId,
          kind: m.MessageAttributes?.kind?.StringValue,
        });
      }
    }
    expect(received.filter((m) => m.group === 'a').map((m) => m.body)).toEqual(['a1', 'a2', 'a3']);
    expect(received.find((m) => m.body === 'b1')).toEqual({ body: 'b1', group: 'b', kind: 'test-b1' });
  });

  it('moves standard-queue messages, at most `max`, and reports nothing to do on an empty DLQ', async () => {
    const source = await queue('redrive-test', false);
    const dlq = await queue('redrive-test-dlq', false);
    for (const body of ['x', 'y', 'z']) {
      await hub.runtime.sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: body }));
    }
    expect(await redrive({ sqs: hub.runtime.sqs, from: dlq, to: source, fifo: false, max: 2 })).toEqual({
      moved: 2,
    });
    expect([await depth(source), await depth(dlq)]).toEqual([2, 1]);
    expect(await redrive({ sqs: hub.runtime.sqs, from: dlq, to: source, fifo: false })).toEqual({ moved: 1 });
    expect(await redrive({ sqs: hub.runtime.sqs, from: dlq, to: source, fifo: false })).toEqual({ moved: 0 });
  });
});
