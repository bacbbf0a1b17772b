import { randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPollStateStore } from '../../functions/aws/dynamo-state-store.js';
import { SqsInboundQueue } from '../../functions/aws/sqs.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { pollSource } from '../../functions/core/poll.js';
import { type ErpApi, startErpApi } from '../../local/demo/erp-api.js';
import type { HubStats } from '../../local/stats.js';
import { CRM_TOKEN, startTestHub, type TestHub } from '../support/hub.js';

const ERP_TOKEN = 'erp-e2e-token';
const T0 = Date.parse('2026-11-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

function expectBalanced(stats: HubStats): void {
  expect(stats.totals.inFlight).toBe(0);
  expect(stats.balanced).toBe(true);
}

/** Every ERP row's newest version is at the CRM, and no version was written twice. */
function expectEveryRowOnce(erp: ErpApi, hub: TestHub): void {
  const contacts = [...hub.crm.contacts.values()];
  for (const row of erp.rows.values()) {
    const contact = contacts.find((c) => (c.data.refs as Record<string, string>)?.erp === row.id);
    expect(contact, `row ${row.id} reached the CRM`).toBeDefined();
    expect(contact?.data.name).toBe(row.name);
  }
  const versionsWritten = hub.crm.calls
    .filter((c) => c.status < 300)
    .map((c) => `${String(c.body.id)}@${String(c.body.version)}`);
  expect(new Set(versionsWritten).size).toBe(versionsWritten.length);
}

describe('rest-poll source on the local runtime', () => {
  let erp: ErpApi;
  let hub: TestHub;
  beforeAll(async () => {
    erp = await startErpApi({ token: ERP_TOKEN, pageSize: 10 });
    hub = await startTestHub(
      { 'e2e/erp-token': ERP_TOKEN, 'e2e/crm-token': CRM_TOKEN },
      {
        schedules: false,
        config: (crmUrl) =>
          loadConfig({
            name: 'polle2e',
            sources: {
              erp: {
                connector: 'rest-poll',
                schedule: 'rate(1 day)',
                url: erp.url,
                secret: 'e2e/erp-token',
                auth: { type: 'bearer' },
                items: 'data',
                nextLink: 'next',
                lookbackSeconds: 300,
                initialCursor: at(-3600),
                map: {
                  entity: 'customer',
                  id: 'id',
                  version: 'updated_at',
                  fields: { email: 'email', name: 'name' },
                },
              },
            },
            destinations: {
              crm: {
                connector: 'http',
                url: crmUrl,
                secret: 'e2e/crm-token',
                retry: { maxReceiveCount: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
              },
            },
            flows: [{ name: 'erp-to-crm', entity: 'customer', from: ['erp'], to: ['crm'] }],
          }),
      },
    );
  });
  afterAll(async () => {
    await hub?.stop();
    await erp?.stop();
  });

  it('delivers every row once across pages, with equal timestamps across a page boundary', async () => {
    // 25 rows; rows 8..12 share one timestamp, so the 10-row page boundary falls among them.
    for (let i = 1; i <= 25; i++) {
      const seconds = i >= 8 && i <= 12 ? 8 : i;
      erp.upsert({
        id: `c${String(i).padStart(2, '0')}`,
        email: `row${i}@erp.example`,
        name: `Row ${i}`,
        updated_at: at(seconds),
      });
    }
    const result = await hub.runtime.pollNow('erp');
    expect(result).toMatchObject({ kind: 'polled', pages: 3, enqueued: 25, cursor: T0 + 25_000 });
    const stats = await hub.runtime.settle();
    expect(stats.flows['erp-to-crm']?.crm?.delivered).toBe(25);
    expect(erp.requests[0]?.query.updated_since).toBe(at(-3600 - 300));
    expectEveryRowOnce(erp, hub);
    expectBalanced(stats);
  });

  it('picks up rows inserted during a poll and rows updated behind the cursor within the lookback', async () => {
    let pagesServed = 0;
    erp.onPage = () => {
      // Between this poll's first and second page: a new row lands, and an old row changes with a
      // timestamp behind the cursor (a late write the lookback exists for).
      pagesServed += 1;
      if (pagesServed === 2) {
        erp.upsert({ id: 'c90', email: 'late@erp.example', name: 'Inserted mid-poll', updated_at: at(26) });
        erp.upsert({ id: 'c03', email: 'row3@erp.example', name: 'Row 3 updated late', updated_at: at(24) });
      }
    };
    erp.upsert({ id: 'c26', email: 'row26@erp.example', name: 'Row 26', updated_at: at(30) });
    await hub.runtime.pollNow('erp');
    erp.onPage = undefined;
    expect(pagesServed).toBeGreaterThanOrEqual(2);
    await hub.runtime.pollNow('erp');
    const stats = await hub.runtime.settle();
    expectEveryRowOnce(erp, hub);
    const row3 = [...hub.crm.contacts.values()].find(
      (c) => (c.data.refs as Record<string, string>)?.erp === 'c03',
    );
    expect(row3).toMatchObject({ data: { name: 'Row 3 updated late' }, writes: 2 });
    // Re-read rows are recognised downstream (skipped as duplicates), never applied twice.
    expect(stats.flows['erp-to-crm']?.crm?.skipped.duplicate).toBeGreaterThan(0);
    expectBalanced(stats);
  });

  it('loses and duplicates nothing when the poll crashes between enqueue and cursor advance', async () => {
    erp.upsert({ id: 'c40', email: 'row40@erp.example', name: 'Row 40', updated_at: at(40) });
    erp.upsert({ id: 'c41', email: 'row41@erp.example', name: 'Row 41', updated_at: at(41) });
    const state = new DynamoPollStateStore(hub.runtime.dynamo, hub.runtime.tableName);
    const before = await state.getCursor('erp');
    const crashing = Object.create(state) as DynamoPollStateStore;
    // Dies in the write that would advance the cursor: its lease is never released and runs out.
    crashing.releaseLease = async (_source, _owner, advance) => {
      if (advance) throw new Error('simulated crash after enqueue, before the cursor write');
      return 'released';
    };
    await expect(
      pollSource('erp', {
        config: hub.runtime.config,
        state: crashing,
        queue: new SqsInboundQueue(hub.runtime.sqs, hub.runtime.queueUrls.inbound ?? ''),
        secrets: { get: async () => ERP_TOKEN },
        telemetry: hub.runtime.telemetry,
        clock: { now: () => Date.now() },
        log: { debug() {}, info() {}, warn() {}, error() {} },
        fetch: globalThis.fetch,
        owner: randomUUID(),
        leaseMs: 1,
      }),
    ).rejects.toThrow('simulated crash');
    expect(await state.getCursor('erp')).toBe(before);
    await hub.runtime.pollNow('erp');
    const stats = await hub.runtime.settle();
    expect(await state.getCursor('erp')).toBe(T0 + 41_000);
    expectEveryRowOnce(erp, hub);
    expectBalanced(stats);
  });

  it('honours 429 with Retry-After by failing the poll and leaving the cursor', async () => {
    const state = new DynamoPollStateStore(hub.runtime.dynamo, hub.runtime.tableName);
    const before = await state.getCursor('erp');
    erp.fail(429, 1, 30);
    await expect(hub.runtime.pollNow('erp')).rejects.toThrow('answered 429');
    expect(await state.getCursor('erp')).toBe(before);
  });

  it('refuses a page of the wrong shape with a named error and enqueues nothing', async () => {
    const accepted = (await hub.runtime.stats()).sources.erp?.accepted;
    erp.upsert({ id: 'c50', email: 'row50@erp.example', name: 'Row 50', updated_at: at(50) });
    erp.malform({ data: 'not a list' });
    await expect(hub.runtime.pollNow('erp')).rejects.toThrow('has no list at "data"');
    expect((await hub.runtime.stats()).sources.erp?.accepted).toBe(accepted);
  });

  it('quarantines a row the mapping cannot read, naming the expression, and goes on with the rest', async () => {
    erp.upsert({ id: 'c60', email: 'row60@erp.example', name: 'Row 60', updated_at: at(60) });
    erp.upsert({ id: '', email: 'noid@erp.example', name: 'No id', updated_at: at(61) });
    await hub.runtime.pollNow('erp');
    const stats = await hub.runtime.settle();
    const quarantine = await hub.runtime.dynamo.send(
      new QueryCommand({
        TableName: hub.runtime.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': 'QUARANTINE', ':prefix': 'route#erp#' },
      }),
    );
    expect(quarantine.Items?.flatMap((item) => item.reasons)).toContainEqual(
      expect.objectContaining({ rule: 'mapping.id', field: 'id' }),
    );
    expect(
      [...hub.crm.contacts.values()].some((c) => (c.data.refs as Record<string, string>)?.erp === 'c60'),
    ).toBe(true);
    erp.rows.delete('');
    expectBalanced(stats);
  });
});

describe('rest-poll never sends its API token to another origin', () => {
  it('refuses a next link on another host, naming the rule, and enqueues nothing', async () => {
    const { pollSource } = await import('../../functions/core/poll.js');
    const { loadConfig: load } = await import('../../functions/core/config-schema.js');
    const pages: string[] = [];
    const fetchPages: typeof fetch = async (input) => {
      pages.push(String(input));
      return new Response(
        JSON.stringify({
          data: [{ id: 'x', updated_at: '2026-11-01T00:00:00Z' }],
          next: 'https://evil.example/steal',
        }),
        {
          status: 200,
        },
      );
    };
    const sent: unknown[] = [];
    const config = load({
      name: 'origin',
      sources: {
        erp: {
          connector: 'rest-poll',
          schedule: 'rate(1 day)',
          url: 'https://erp.example.com/api/customers',
          secret: 'erp/token',
          auth: { type: 'bearer' },
          items: 'data',
          nextLink: 'next',
          map: { entity: 'customer', id: 'id', version: 'updated_at', fields: {} },
        },
      },
      destinations: {},
      flows: [],
    });
    await expect(
      pollSource('erp', {
        config,
        state: {
          acquireLease: async () => ({ cursor: undefined }),
          releaseLease: async () => 'released',
          getCursor: async () => undefined,
        },
        queue: { send: async (envelopes) => void sent.push(...envelopes) },
        secrets: { get: async () => 'erp-token' },
        telemetry: { count() {}, timing() {}, flush() {} },
        clock: { now: () => Date.now() },
        log: { debug() {}, info() {}, warn() {}, error() {} },
        fetch: fetchPages,
        owner: 'test',
        leaseMs: 60_000,
      }),
    ).rejects.toThrow('points its next page at another origin');
    expect(pages).toEqual([expect.stringMatching(/^https:\/\/erp\.example\.com\//)]);
    expect(sent).toEqual([]);
  });
});

describe('rest-poll rows that cannot move the cursor', () => {
  let erp: ErpApi;
  let hub: TestHub;
  beforeAll(async () => {
    erp = await startErpApi({ pageSize: 10 });
    hub = await startTestHub(
      { 'e2e/crm-token': CRM_TOKEN },
      {
        schedules: false,
        config: (crmUrl) =>
          loadConfig({
            name: 'pollnocursor',
            sources: {
              erp: {
                connector: 'rest-poll',
                schedule: 'rate(1 day)',
                url: erp.url,
                items: 'data',
                nextLink: 'next',
                map: {
                  entity: 'customer',
                  id: 'id',
                  version: 'version',
                  fields: { email: 'email', name: 'name' },
                },
              },
            },
            destinations: { crm: { connector: 'http', url: crmUrl, secret: 'e2e/crm-token' } },
            flows: [{ name: 'erp-to-crm', entity: 'customer', from: ['erp'], to: ['crm'] }],
          }),
      },
    );
  });
  afterAll(async () => {
    await hub?.stop();
    await erp?.stop();
  });

  it('delivers the rows around one without a usable updated_at, and moves the cursor by the others', async () => {
    erp.upsert({ id: 'a', email: 'a@erp.example', name: 'A', updated_at: at(1), version: 1 } as never);
    erp.upsert({ id: 'b', email: 'b@erp.example', name: 'B', updated_at: 'not a date', version: 1 } as never);
    erp.upsert({ id: 'c', email: 'c@erp.example', name: 'C', updated_at: at(3), version: 1 } as never);
    const result = await hub.runtime.pollNow('erp');
    expect(result).toMatchObject({ kind: 'polled', enqueued: 3, cursor: T0 + 3_000 });
    const stats = await hub.runtime.settle();
    expect(stats.flows['erp-to-crm']?.crm?.delivered).toBe(3);
    expect(stats.balanced).toBe(true);
  });
});

describe('`switchyard poll <source>` (the CLI) against the running hub', () => {
  it('runs one poll and says what it enqueued; an unknown source fails naming it', async () => {
    const { spawn } = await import('node:child_process');
    const erp = await startErpApi({ pageSize: 10 });
    const hub = await startTestHub(
      { 'e2e/crm-token': CRM_TOKEN },
      {
        schedules: false,
        config: (crmUrl) =>
          loadConfig({
            name: 'pollcli',
            sources: {
              erp: {
                connector: 'rest-poll',
                schedule: 'rate(1 day)',
                url: erp.url,
                items: 'data',
                nextLink: 'next',
                map: {
                  entity: 'customer',
                  id: 'id',
                  version: 'updated_at',
                  fields: { email: 'email', name: 'name' },
                },
              },
            },
            destinations: { crm: { connector: 'http', url: crmUrl, secret: 'e2e/crm-token' } },
            flows: [{ name: 'erp-to-crm', entity: 'customer', from: ['erp'], to: ['crm'] }],
          }),
      },
    );
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ['bin/switchyard.js', ...args], {
          env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        });
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
        });
        child.stderr.on('data', (c: Buffer) => {
          out += c.toString();
        });
        child.on('exit', (code) => resolve({ code, out }));
      });
    try {
      erp.upsert({ id: 'p1', email: 'p1@erp.example', name: 'P1', updated_at: at(1) });
      const ok = await run(['poll', 'erp', '--url', hub.runtime.url]);
      expect(ok.code, ok.out).toBe(0);
      expect(ok.out).toContain('poll erp: 1 page(s), 1 record(s) enqueued');
      const unknown = await run(['poll', 'nope', '--url', hub.runtime.url]);
      expect(unknown.code).toBe(1);
      expect(unknown.out).toContain('No polled source named "nope"');
      await hub.runtime.settle();
      expect([...hub.crm.contacts.values()].map((c) => c.data.email)).toEqual(['p1@erp.example']);
    } finally {
      await hub.stop();
      await erp.stop();
    }
  });
});
