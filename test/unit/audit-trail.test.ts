import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogAuditTrail, lambdaAuditTrail } from '../../functions/aws/log-audit-trail.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { ConfigError } from '../../functions/core/errors.js';
import { matchesReplay, replayFromCanonical, terminalStates } from '../../functions/core/ops.js';
import type { AuditEntry, CanonicalItem, OpsStore } from '../../functions/core/ports.js';
import { AUDIT_FILE, LocalAuditTrail } from '../../local/audit-file.js';
import { baseConfigInput, testConfig } from '../support/config.js';
import { ManualClock, MemoryDeliveryQueues, MemoryTelemetry } from '../support/fakes.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);

const entry = (overrides: Partial<AuditEntry> & Pick<AuditEntry, 'eventId'>): AuditEntry => ({
  at: T0,
  stage: 'deliver',
  outcome: 'delivered',
  source: 'stripe',
  flow: 'customers',
  destination: 'crm',
  entity: 'customer',
  id: 'cust-1',
  sourceId: 'cus_1',
  version: 1,
  ...overrides,
});

describe('LocalAuditTrail (audit.jsonl in the data directory)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-audit-unit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const open = (now = T0, retentionDays = 30) => LocalAuditTrail.open(dir, { retentionDays, now });

  it('survives a restart: what was recorded is read back and indexed by event and entity', async () => {
    const { trail } = await open();
    trail.record([
      entry({ eventId: 'evt_1', stage: 'ingest', outcome: 'accepted', at: T0 }),
      entry({ eventId: 'evt_1', stage: 'route', outcome: 'routed', at: T0 + 10 }),
      entry({ eventId: 'evt_2', stage: 'route', outcome: 'routed', at: T0 + 20, id: 'cust-1' }),
    ]);
    await trail.flush();
    const { trail: again, report } = await open();
    expect(report).toEqual({ kept: 3, pruned: 0, unreadable: 0 });
    expect(again.event('evt_1').map((e) => e.outcome)).toEqual(['accepted', 'routed']);
    expect(again.eventsOfEntity('cust-1')).toEqual(['evt_1', 'evt_2']);
    expect(again.eventsOfEntity('stripe:cus_1')).toEqual(['evt_1', 'evt_2']);
    expect(again.eventsOfEntity('stripe:cus_2')).toEqual([]);
  });

  it('writes each entry once, as one JSON line, in the order recorded', async () => {
    const { trail } = await open();
    trail.record([entry({ eventId: 'evt_1' })]);
    trail.record([entry({ eventId: 'evt_2' })]);
    await trail.flush();
    const lines = (await readFile(join(dir, AUDIT_FILE), 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as AuditEntry).eventId)).toEqual(['evt_1', 'evt_2']);
  });

  it('prunes entries older than the retention at start, rewriting the file without them', async () => {
    const { trail } = await open(T0);
    trail.record([
      entry({ eventId: 'old', at: T0 - 31 * DAY }),
      entry({ eventId: 'new', at: T0 - 29 * DAY }),
    ]);
    await trail.flush();
    const { trail: again, report } = await open(T0, 30);
    expect(report).toEqual({ kept: 1, pruned: 1, unreadable: 0 });
    expect(again.event('old')).toEqual([]);
    expect(again.event('new')).toHaveLength(1);
    const text = await readFile(join(dir, AUDIT_FILE), 'utf8');
    expect(text).not.toContain('"old"');
    expect(text).toContain('"new"');
  });

  it('skips a torn last line (a kill cut the append short) and keeps everything before it', async () => {
    await writeFile(join(dir, AUDIT_FILE), `${JSON.stringify(entry({ eventId: 'evt_ok' }))}\n`);
    await appendFile(join(dir, AUDIT_FILE), '{"eventId":"evt_torn","at":17');
    const { trail, report } = await open();
    expect(report).toEqual({ kept: 1, pruned: 0, unreadable: 1 });
    expect(trail.event('evt_ok')).toHaveLength(1);
    expect(trail.event('evt_torn')).toEqual([]);
    // The rewrite drops the torn tail, so the next append starts on a line of its own.
    trail.record([entry({ eventId: 'evt_next' })]);
    await trail.flush();
    const { trail: third, report: clean } = await open();
    expect(clean.unreadable).toBe(0);
    expect(third.event('evt_next')).toHaveLength(1);
  });

  it('prunes while running, without losing or doubling what is recorded during the rewrite', async () => {
    const { trail } = await open(T0);
    trail.record([entry({ eventId: 'old', at: T0 }), entry({ eventId: 'kept', at: T0 + 20 * DAY })]);
    // Recorded but not yet appended when the prune starts, and one more while it runs.
    trail.record([entry({ eventId: 'pending', at: T0 + 25 * DAY })]);
    const pruning = trail.prune(T0 + 31 * DAY);
    trail.record([entry({ eventId: 'during', at: T0 + 31 * DAY })]);
    expect(await pruning).toBe(1);
    await trail.flush();
    expect(trail.event('old')).toEqual([]);
    const ids = (await readFile(join(dir, AUDIT_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as AuditEntry).eventId);
    expect(ids).toEqual(['kept', 'pending', 'during']);
    const { trail: again } = await open(T0 + 31 * DAY);
    expect(again.all().map((e) => e.eventId)).toEqual(['kept', 'pending', 'during']);
  });

  it('keeps an in-memory hub’s trail in memory only (no file)', async () => {
    const { trail } = await LocalAuditTrail.open(undefined, { retentionDays: 30, now: T0 });
    trail.record([entry({ eventId: 'evt_1' })]);
    await trail.flush();
    expect(trail.event('evt_1')).toHaveLength(1);
    await expect(readFile(join(dir, AUDIT_FILE))).rejects.toThrow(/ENOENT/);
  });
});

describe('LogAuditTrail (AWS: one structured log line per transition)', () => {
  it('writes each entry under the fixed `audit` key with an ISO time, ids only', () => {
    const lines: { message: string; extra: Record<string, unknown>[] }[] = [];
    const trail = new LogAuditTrail({ info: (message, ...extra) => lines.push({ message, extra }) });
    trail.record([entry({ eventId: 'evt_1', reason: 'duplicate', outcome: 'skipped' })]);
    expect(lines).toEqual([
      {
        message: 'audit',
        extra: [
          {
            audit: expect.objectContaining({
              eventId: 'evt_1',
              outcome: 'skipped',
              reason: 'duplicate',
              id: 'cust-1',
              at: new Date(T0).toISOString(),
            }),
          },
        ],
      },
    ]);
  });

  it('writes its line even when the function logs at ERROR (POWERTOOLS_LOG_LEVEL)', () => {
    const previous = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      lambdaAuditTrail('acme').record([entry({ eventId: 'evt_quiet' })]);
    } finally {
      spy.mockRestore();
      if (previous === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
      else process.env.POWERTOOLS_LOG_LEVEL = previous;
    }
    const line = JSON.parse(written.join('').trim()) as {
      message: string;
      audit: AuditEntry;
      service: string;
    };
    expect(line).toMatchObject({ message: 'audit', service: 'acme', audit: { eventId: 'evt_quiet' } });
  });

  it('never throws into the pipeline when the writer fails', () => {
    const trail = new LogAuditTrail({
      info: () => {
        throw new Error('stdout closed');
      },
    });
    expect(() => trail.record([entry({ eventId: 'evt_1' })])).not.toThrow();
  });
});

describe('config audit.retentionDays', () => {
  it('defaults to 30 days and takes a CloudWatch Logs period', () => {
    expect(testConfig().audit.retentionDays).toBe(30);
    expect(testConfig({ audit: { retentionDays: 365 } }).audit.retentionDays).toBe(365);
  });
  it('refuses another number of days, naming the field and the value', () => {
    expect(() => loadConfig({ ...baseConfigInput(), audit: { retentionDays: 10 } })).toThrow(ConfigError);
    expect(() => loadConfig({ ...baseConfigInput(), audit: { retentionDays: 10 } })).toThrow(
      /audit\.retentionDays: must be a CloudWatch Logs retention period in days.* \(got 10\)/,
    );
  });
});

describe('replay from the canonical store: selection by the audit trail', () => {
  const entries: AuditEntry[] = [
    entry({ eventId: 'e1', outcome: 'routed', stage: 'route', at: T0 }),
    entry({ eventId: 'e1', outcome: 'delivered', at: T0 + 1 }),
    entry({ eventId: 'e2', outcome: 'skipped', reason: 'duplicate', at: T0 + 2 }),
    entry({ eventId: 'e3', id: 'cust-2', sourceId: 'cus_2', outcome: 'dead-lettered', at: T0 + 3 }),
    entry({
      eventId: 'e4',
      id: 'cust-3',
      sourceId: 'cus_3',
      destination: 'erp',
      outcome: 'delivered',
      at: T0 + 4,
    }),
    // Refused at route before it had a canonical id: not in the canonical store.
    entry({
      eventId: 'e5',
      stage: 'route',
      outcome: 'quarantined',
      id: undefined,
      sourceId: 'cus_9',
      at: T0 + 5,
    }),
  ];

  it('takes the last terminal state of each lane and entity, and counts those without a canonical id apart', () => {
    const { candidates, withoutCanonical } = terminalStates(entries);
    expect(withoutCanonical).toBe(1);
    expect(candidates.map((c) => [c.destination, c.id, c.state, c.eventId])).toEqual([
      ['crm', 'cust-1', 'skipped', 'e2'],
      ['crm', 'cust-2', 'dead-lettered', 'e3'],
      ['erp', 'cust-3', 'delivered', 'e4'],
    ]);
  });

  it('filters by destination, state, entity id, event and time', () => {
    const { candidates } = terminalStates(entries);
    const pick = (filter: Parameters<typeof matchesReplay>[1]) =>
      candidates.filter((c) => matchesReplay(c, filter)).map((c) => c.id);
    expect(pick({ destination: 'crm' })).toEqual(['cust-1', 'cust-2']);
    expect(pick({ state: 'dead-lettered' })).toEqual(['cust-2']);
    expect(pick({ id: 'cust-3' })).toEqual(['cust-3']);
    expect(pick({ eventId: 'e2' })).toEqual(['cust-1']);
    expect(pick({ since: T0 + 3 })).toEqual(['cust-2', 'cust-3']);
    expect(pick({ until: T0 + 3 })).toEqual(['cust-1']);
    expect(pick({ source: 'shop' })).toEqual([]);
  });

  it('filters by flow and by entity: two flows share an entity, source and destination, a third holds orders', () => {
    // The same customer on two flows to the same destination, and an order (with the same id) on a
    // third: only --flow tells the first two apart, only --entity the order from the customers.
    const mixed: AuditEntry[] = [
      entry({ eventId: 'c1', flow: 'customers', id: 'rec-1', at: T0 }),
      entry({ eventId: 'c2', flow: 'vip-customers', id: 'rec-1', at: T0 + 1 }),
      entry({ eventId: 'c3', flow: 'vip-customers', id: 'rec-2', at: T0 + 2 }),
      entry({ eventId: 'o1', flow: 'orders', entity: 'order', id: 'rec-1', sourceId: 'ord_1', at: T0 + 3 }),
    ];
    const { candidates } = terminalStates(mixed);
    expect(candidates).toHaveLength(4);
    const pick = (filter: Parameters<typeof matchesReplay>[1]) =>
      candidates.filter((c) => matchesReplay(c, filter)).map((c) => `${c.flow}/${c.entity}/${c.id}`);
    expect(pick({ flow: 'customers' })).toEqual(['customers/customer/rec-1']);
    expect(pick({ flow: 'vip-customers' })).toEqual([
      'vip-customers/customer/rec-1',
      'vip-customers/customer/rec-2',
    ]);
    expect(pick({ flow: 'orders' })).toEqual(['orders/order/rec-1']);
    expect(pick({ entity: 'order' })).toEqual(['orders/order/rec-1']);
    expect(pick({ entity: 'customer' })).toEqual([
      'customers/customer/rec-1',
      'vip-customers/customer/rec-1',
      'vip-customers/customer/rec-2',
    ]);
    expect(pick({ entity: 'invoice' })).toEqual([]);
    expect(pick({ flow: 'orders', entity: 'customer' })).toEqual([]);
    expect(pick({ flow: 'vip-customers', id: 'rec-1' })).toEqual(['vip-customers/customer/rec-1']);
  });

  const canonical = (id: string): CanonicalItem => ({
    entity: 'customer',
    id,
    data: { email: `${id}@example.com`, refs: { stripe: `cus_${id}` } },
    deleted: false,
    versions: { stripe: 7 },
    refs: { stripe: `cus_${id}` },
    revision: 3,
    updatedAt: T0,
  });

  it('a dry run counts and sends nothing; a run sends the current record per lane, counted as routed and recorded', async () => {
    const queues = new MemoryDeliveryQueues();
    const telemetry = new MemoryTelemetry();
    const recorded: AuditEntry[] = [];
    const deps = {
      config: testConfig(),
      ops: {} as OpsStore,
      inbound: { send: async () => {} },
      deliveryQueues: queues,
      telemetry,
      clock: new ManualClock(T0 + 100),
      canonical: {
        getCanonical: async (_e: string, id: string) => (id === 'cust-3' ? undefined : canonical(id)),
      },
      audit: { record: (e: readonly AuditEntry[]) => recorded.push(...e) },
    };
    const dry = await replayFromCanonical(entries, {}, deps, { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, known: 3, matched: 3, sent: 0, withoutCanonical: 1 });
    expect(dry.byState).toEqual({ delivered: 1, skipped: 1, quarantined: 0, 'dead-lettered': 1 });
    expect(queues.sent).toEqual([]);
    expect(telemetry.counts).toEqual([]);

    const run = await replayFromCanonical(entries, {}, deps, { dryRun: false, by: 'ops' });
    expect(run).toMatchObject({ sent: 2, missing: 1 });
    expect(queues.sent.map((m) => [m.destination, m.id, m.eventId, m.version, m.revision])).toEqual([
      ['crm', 'cust-1', 'e2', 7, 3],
      ['crm', 'cust-2', 'e3', 7, 3],
    ]);
    expect(telemetry.total('routed', { flow: 'customers', destination: 'crm' })).toBe(2);
    expect(telemetry.total('replayed')).toBe(2);
    expect(recorded.map((e) => [e.eventId, e.stage, e.outcome, e.by])).toEqual([
      ['e2', 'replay', 'replayed', 'ops'],
      ['e3', 'replay', 'replayed', 'ops'],
    ]);
    await expect(
      replayFromCanonical(entries, { destination: 'nowhere' }, deps, { dryRun: true }),
    ).rejects.toThrow('No destination named "nowhere"');
  });
});
