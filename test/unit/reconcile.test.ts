import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import type { AuditEntry, CanonicalItem } from '../../functions/core/ports.js';
import {
  compare,
  listSource,
  type Observed,
  reconcileDocumentName,
  reconcileFlow,
  repairEnvelope,
} from '../../functions/core/reconcile.js';
import { createReconcileHandler } from '../../functions/handlers/reconcile-handler.js';
import { lambdaContext } from '../support/events.js';
import {
  fakeFetch,
  jsonResponse,
  ManualClock,
  MemoryDeliveryQueues,
  MemoryInboundQueue,
  MemorySecretStore,
  MemoryTelemetry,
} from '../support/fakes.js';
import { MemoryStateStore } from '../support/memory-state-store.js';

const T0 = Date.parse('2026-11-01T00:00:00.000Z');
const flow = { to: ['crm', 'erp-out'] };
const listed = (sourceId: string, version?: number) => ({
  source: 'erp',
  sourceId,
  ...(version === undefined ? {} : { version }),
});
const canonical = (id: string, versions: Record<string, number>, revision = 1, deleted = false) => ({
  id,
  versions,
  revision,
  deleted,
});

describe('compare', () => {
  it('reports a listed record without a canonical record as missing at the hub, and not at destinations', () => {
    const result = compare(flow, [{ listed: listed('r1', 10), mappings: {} }]);
    expect(result.missingAtHub).toEqual([
      { source: 'erp', sourceId: 'r1', reason: 'missing', listedVersion: 10 },
    ]);
    expect(result.missingAtDestinations).toEqual([]);
    expect(result.atHub).toBe(0);
  });

  it('reports the hub behind when its version from that source is older than the listed one', () => {
    const result = compare(flow, [
      { listed: listed('r1', 20), canonical: canonical('c1', { erp: 10 }), mappings: {} },
    ]);
    expect(result.missingAtHub).toEqual([
      { source: 'erp', sourceId: 'r1', reason: 'behind', listedVersion: 20, hubVersion: 10 },
    ]);
  });

  it('takes a record the hub holds only from another source as missing from this one', () => {
    const result = compare(flow, [
      { listed: listed('r1', 20), canonical: canonical('c1', { shop: 99 }), mappings: {} },
    ]);
    expect(result.missingAtHub.map((m) => m.reason)).toEqual(['missing']);
  });

  it('compares presence only when the listing has no version', () => {
    const result = compare(flow, [
      {
        listed: listed('r1'),
        canonical: canonical('c1', { erp: 1 }),
        mappings: {
          crm: { versions: { erp: 1 }, revision: 1 },
          'erp-out': { versions: { erp: 1 }, revision: 1 },
        },
      },
    ]);
    expect(result).toEqual({ listed: 1, atHub: 1, missingAtHub: [], missingAtDestinations: [] });
  });

  it('names each destination that has no mapping, or an older version or revision', () => {
    const observed: Observed[] = [
      {
        listed: listed('r1', 10),
        canonical: canonical('c1', { erp: 10 }, 3),
        mappings: { crm: undefined, 'erp-out': { versions: { erp: 10 }, revision: 3 } },
      },
      {
        listed: listed('r2', 10),
        canonical: canonical('c2', { erp: 10 }, 2),
        mappings: {
          crm: { versions: { erp: 5 }, revision: 2 },
          'erp-out': { versions: { erp: 10 }, revision: 1 },
        },
      },
    ];
    expect(compare(flow, observed).missingAtDestinations).toEqual([
      { destination: 'crm', source: 'erp', sourceId: 'r1', id: 'c1', reason: 'missing', hubVersion: 10 },
      {
        destination: 'crm',
        source: 'erp',
        sourceId: 'r2',
        id: 'c2',
        reason: 'behind',
        hubVersion: 10,
        destinationVersion: 5,
      },
      {
        destination: 'erp-out',
        source: 'erp',
        sourceId: 'r2',
        id: 'c2',
        reason: 'behind',
        hubVersion: 10,
        destinationVersion: 10,
      },
    ]);
  });

  it('expects nothing at destinations for a record the hub holds as deleted', () => {
    const result = compare(flow, [
      { listed: listed('r1', 10), canonical: canonical('c1', { erp: 10 }, 1, true), mappings: {} },
    ]);
    expect(result.missingAtDestinations).toEqual([]);
    expect(result.atHub).toBe(1);
  });
});

const erpConfig = (url = 'http://localhost:9/api/customers?limit=2') =>
  loadConfig({
    name: 'recon',
    sources: {
      erp: {
        connector: 'rest-poll',
        schedule: 'rate(1 hour)',
        url,
        secret: 'erp-token',
        auth: { type: 'bearer' },
        items: 'data',
        nextLink: 'next',
        map: {
          entity: 'customer',
          id: 'id',
          version: 'updated_at',
          fields: { email: 'email', name: 'name' },
        },
      },
      stripe: {
        connector: 'stripe',
        secret: 'stripe-webhook',
        api: { secret: 'stripe-api', url: 'http://localhost:9' },
      },
      shop: { connector: 'shopify', secret: 'shop-secret' },
    },
    destinations: { crm: { connector: 'http', url: 'http://localhost:9/contacts' } },
    flows: [{ name: 'customers', entity: 'customer', from: ['erp', 'stripe', 'shop'], to: ['crm'] }],
  });

const row = (id: string, minutes: number) => ({
  id,
  email: `${id}@example.com`,
  name: id,
  updated_at: new Date(T0 + minutes * 60_000).toISOString(),
});
const secrets = new MemorySecretStore({ 'erp-token': 'erp-t', 'stripe-api': 'sk_test_x' });
const window = { since: T0, until: T0 + 3_600_000 };

describe('listSource', () => {
  it('reads a rest-poll source from the window start through its pages and keeps the rows inside the window', async () => {
    const config = erpConfig();
    const api = fakeFetch(
      jsonResponse(200, { data: [row('a', 1), row('b', 2)], next: '/api/customers?page=2' }),
      jsonResponse(200, {
        data: [row('c', 59), row('late', 61), { id: 'bad', updated_at: 'x' }],
        next: null,
      }),
    );
    const source = config.sources.erp;
    if (!source) throw new Error('no erp');
    const listing = await listSource('erp', source, 'customer', window, {
      fetch: api.fetch,
      clock: new ManualClock(T0),
      secrets,
    });
    expect(new URL(api.calls[0]?.url ?? '').searchParams.get('updated_since')).toBe(
      new Date(T0).toISOString(),
    );
    expect(api.calls[0]?.headers.authorization).toBe('Bearer erp-t');
    expect(api.calls[1]?.url).toBe('http://localhost:9/api/customers?page=2');
    expect(listing).toMatchObject({ kind: 'listed', complete: true, unreadable: 1 });
    expect(listing.kind === 'listed' && listing.records.map((r) => [r.sourceId, r.version])).toEqual([
      ['a', T0 + 60_000],
      ['b', T0 + 120_000],
      ['c', T0 + 59 * 60_000],
    ]);
  });

  it('refuses a rest-poll next page on another origin, as the poll does', async () => {
    const config = erpConfig();
    const api = fakeFetch(jsonResponse(200, { data: [row('a', 1)], next: 'https://evil.example/steal' }));
    const source = config.sources.erp;
    if (!source) throw new Error('no erp');
    await expect(
      listSource('erp', source, 'customer', window, {
        fetch: api.fetch,
        clock: new ManualClock(T0),
        secrets,
      }),
    ).rejects.toThrow(/another origin/);
  });

  it('pages Stripe customers by created window with starting_after and the API key', async () => {
    const config = erpConfig();
    const api = fakeFetch(
      jsonResponse(200, {
        object: 'list',
        data: [
          { id: 'cus_1', created: 1 },
          { id: 'cus_2', created: 2 },
        ],
        has_more: true,
      }),
      jsonResponse(200, { object: 'list', data: [{ id: 'cus_3', created: 3 }], has_more: false }),
    );
    const source = config.sources.stripe;
    if (!source) throw new Error('no stripe');
    const listing = await listSource('stripe', source, 'customer', window, {
      fetch: api.fetch,
      clock: new ManualClock(T0),
      secrets,
    });
    const first = new URL(api.calls[0]?.url ?? '');
    expect(first.pathname).toBe('/v1/customers');
    expect(first.searchParams.get('created[gte]')).toBe(String(T0 / 1000));
    expect(first.searchParams.get('created[lt]')).toBe(String(T0 / 1000 + 3600));
    expect(first.searchParams.get('starting_after')).toBeNull();
    expect(new URL(api.calls[1]?.url ?? '').searchParams.get('starting_after')).toBe('cus_2');
    expect(api.calls[0]?.headers.authorization).toBe('Bearer sk_test_x');
    expect(listing.kind === 'listed' && listing.records.map((r) => r.sourceId)).toEqual([
      'cus_1',
      'cus_2',
      'cus_3',
    ]);
  });

  it('says which sources cannot list instead of pretending', async () => {
    const config = erpConfig();
    const shop = config.sources.shop;
    if (!shop) throw new Error('no shop');
    const deps = { fetch: fakeFetch().fetch, clock: new ManualClock(T0), secrets };
    expect(await listSource('shop', shop, 'customer', window, deps)).toEqual({
      source: 'shop',
      kind: 'unsupported',
      reason: 'the shopify connector has no list API',
    });
    const noKey = loadConfig({
      name: 'recon',
      sources: { s: { connector: 'stripe', secret: 'w' } },
      destinations: {},
      flows: [],
    }).sources.s;
    if (!noKey) throw new Error('no s');
    expect(await listSource('s', noKey, 'customer', window, deps)).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringContaining('sources.s.api is not set'),
    });
  });

  it('wraps a listed Stripe customer in an event the stripe connector reads, with a stable id', () => {
    const config = erpConfig();
    const source = config.sources.stripe;
    if (!source) throw new Error('no stripe');
    const item = { id: 'cus_9', created: 1700000000, email: 'a@example.com' };
    const one = repairEnvelope({ source: 'stripe', sourceId: 'cus_9', item }, source, 1);
    const two = repairEnvelope({ source: 'stripe', sourceId: 'cus_9', item }, source, 2);
    expect(one.eventId).toBe(two.eventId);
    expect(JSON.parse(one.body)).toMatchObject({
      type: 'customer.updated',
      created: 1700000000,
      data: { object: item },
    });
  });
});

describe('reconcileFlow', () => {
  async function setup() {
    const config = loadConfig({
      ...erpConfig(),
      flows: [{ name: 'customers', entity: 'customer', from: ['erp'], to: ['crm'] }],
    });
    const state = new MemoryStateStore();
    const docs = new Map<string, unknown>();
    const telemetry = new MemoryTelemetry();
    const inbound = new MemoryInboundQueue();
    const deliveryQueues = new MemoryDeliveryQueues();
    const rows = [row('a', 1), row('b', 2), row('c', 3)];
    const api = fakeFetch(() => jsonResponse(200, { data: rows, next: null }));
    // a: at the hub and at the CRM; b: at the hub, never delivered; c: never arrived.
    for (const [sourceId, id] of [
      ['a', 'c-a'],
      ['b', 'c-b'],
    ] as const) {
      await state.claimXref('erp', 'customer', sourceId, id);
      const item: CanonicalItem = {
        entity: 'customer',
        id,
        data: { email: `${sourceId}@example.com` },
        deleted: false,
        versions: { erp: Date.parse(rows.find((r) => r.id === sourceId)?.updated_at ?? '') },
        refs: { erp: sourceId },
        revision: 1,
        updatedAt: T0,
      };
      await state.putCanonical(item, undefined);
    }
    await state.putMapping(
      {
        destination: 'crm',
        entity: 'customer',
        id: 'c-a',
        versions: { erp: T0 + 60_000 },
        contentHash: 'h',
        updatedAt: T0,
        revision: 1,
      },
      'erp',
    );
    const deps = {
      config,
      state,
      ops: { putDocument: async (name: string, value: unknown) => void docs.set(name, value) },
      telemetry,
      clock: new ManualClock(T0 + 3_600_000),
      secrets,
      fetch: api.fetch,
      inbound,
      deliveryQueues,
    };
    return { deps, docs, telemetry, inbound, deliveryQueues, state };
  }

  it('reports the missing ids, stores the report and counts the drift per flow', async () => {
    const { deps, docs, telemetry, inbound } = await setup();
    const report = await reconcileFlow('customers', window, deps);
    expect(report.missingAtHub.map((m) => m.sourceId)).toEqual(['c']);
    expect(report.missingAtDestinations.map((m) => [m.destination, m.sourceId, m.reason])).toEqual([
      ['crm', 'b', 'missing'],
    ]);
    expect(report).toMatchObject({
      listed: 3,
      atHub: 2,
      drift: 2,
      window: { since: '2026-11-01T00:00:00.000Z' },
    });
    expect(docs.get(reconcileDocumentName('customers'))).toEqual(report);
    expect(telemetry.total('reconcileDrift', { flow: 'customers' })).toBe(2);
    expect(inbound.sent).toEqual([]);
  });

  it('repairs: the missing row to the inbound queue, the undelivered one to its lane, counted for G3', async () => {
    const { deps, telemetry, inbound, deliveryQueues } = await setup();
    const report = await reconcileFlow('customers', window, deps, { repair: true });
    expect(report.repaired).toEqual({ toHub: 1, toDestinations: 1 });
    expect(inbound.sent.map((e) => JSON.parse(e.body).id)).toEqual(['c']);
    expect(deliveryQueues.sent.map((m) => [m.destination, m.id, m.source, m.version, m.revision])).toEqual([
      ['crm', 'c-b', 'erp', T0 + 120_000, 1],
    ]);
    expect(telemetry.total('accepted', { source: 'erp' })).toBe(1);
    expect(telemetry.total('received', { source: 'erp' })).toBe(1);
    expect(telemetry.total('routed', { flow: 'customers', destination: 'crm' })).toBe(1);
    // A re-run sends the same envelope id, so route sees a duplicate rather than a new record.
    const again = await reconcileFlow('customers', window, deps, { repair: true });
    expect(inbound.sent[1]?.eventId).toBe(inbound.sent[0]?.eventId);
    expect(again.repaired).toEqual({ toHub: 1, toDestinations: 1 });
  });

  it('records each repair in the audit trail: accepted at the hub, routed on the lane', async () => {
    const { deps, inbound } = await setup();
    const entries: AuditEntry[] = [];
    await reconcileFlow(
      'customers',
      window,
      { ...deps, audit: { record: (e) => void entries.push(...e) } },
      {
        repair: true,
      },
    );
    expect(entries.map((e) => [e.stage, e.outcome, e.source, e.destination, e.id])).toEqual([
      ['reconcile', 'accepted', 'erp', undefined, undefined],
      ['reconcile', 'routed', 'erp', 'crm', 'c-b'],
    ]);
    expect(entries[0]?.eventId).toBe(inbound.sent[0]?.eventId);
  });

  it('repairs a destination in the schema version it consumes', async () => {
    const { deps, deliveryQueues, state } = await setup();
    const held = await state.getCanonical('customer', 'c-b');
    if (!held) throw new Error('no canonical c-b');
    await state.putCanonical({ ...held, data: { ...held.data, name: 'Lovelace, Ada' }, revision: 2 }, 1);
    const crm = deps.config.destinations.crm;
    if (!crm) throw new Error('no crm');
    const config = { ...deps.config, destinations: { crm: { ...crm, consumes: { customer: 2 } } } };
    await reconcileFlow('customers', window, { ...deps, config }, { repair: true });
    expect(deliveryQueues.sent.map((m) => [m.schemaVersion, m.data])).toEqual([
      [2, { email: 'b@example.com', name: 'Lovelace, Ada', givenName: 'Ada', familyName: 'Lovelace' }],
    ]);
  });

  it('refuses an unknown flow and an empty window by name and value', async () => {
    const { deps } = await setup();
    await expect(reconcileFlow('nope', window, deps)).rejects.toThrow(
      'No flow named "nope" (flows: customers)',
    );
    await expect(reconcileFlow('customers', { since: T0, until: T0 }, deps)).rejects.toThrow(
      'The window must end after it starts (got since 2026-11-01T00:00:00.000Z, until 2026-11-01T00:00:00.000Z)',
    );
  });
});

describe('reconcile config', () => {
  const withReconcile = (reconcile: unknown) => ({
    name: 'recon',
    sources: { shop: { connector: 'shopify', secret: 's' } },
    destinations: { crm: { connector: 'http', url: 'https://crm.example.com/c' } },
    flows: [{ name: 'f', entity: 'customer', from: ['shop'], to: ['crm'], reconcile }],
  });

  it('fills the defaults', () => {
    expect(loadConfig(withReconcile({ schedule: 'rate(1 hour)' })).flows[0]?.reconcile).toEqual({
      schedule: 'rate(1 hour)',
      windowHours: 24,
      repair: false,
    });
  });

  it('names the field and the value of a bad schedule or window', () => {
    expect(() => loadConfig(withReconcile({ schedule: 'every hour', windowHours: 0 }))).toThrow(
      /flows\[0\]\.reconcile\.schedule: must be 'rate\(N minutes\|hours\|days\)' or a 6-field 'cron\(\.\.\.\)' \(got "every hour"\)/,
    );
    expect(() => loadConfig(withReconcile({ schedule: 'rate(1 hour)', windowHours: 0 }))).toThrow(
      /flows\[0\]\.reconcile\.windowHours: .* \(got 0\)/,
    );
  });
});

describe('the scheduled reconcile handler', () => {
  it("reconciles the flow over its windowHours up to now, repairing only when the flow's config says so", async () => {
    const base = erpConfig();
    const config = loadConfig({
      ...base,
      flows: [
        {
          name: 'customers',
          entity: 'customer',
          from: ['erp'],
          to: ['crm'],
          reconcile: { schedule: 'rate(1 hour)', windowHours: 6, repair: true },
        },
      ],
    });
    const api = fakeFetch(() => jsonResponse(200, { data: [row('z', 30)], next: null }));
    const inbound = new MemoryInboundQueue();
    const telemetry = new MemoryTelemetry();
    const clock = new ManualClock(T0 + 3_600_000);
    const handler = createReconcileHandler({
      config,
      state: new MemoryStateStore(),
      ops: { putDocument: async () => undefined },
      telemetry,
      clock,
      secrets,
      fetch: api.fetch,
      inbound,
      deliveryQueues: new MemoryDeliveryQueues(),
      logger: new Logger({ logLevel: 'SILENT', serviceName: 'switchyard-test' }),
    });
    const summary = await handler({ flow: 'customers' }, lambdaContext('reconcile'));
    expect(summary).toMatchObject({
      flow: 'customers',
      window: {
        since: new Date(T0 - 5 * 3_600_000).toISOString(),
        until: new Date(T0 + 3_600_000).toISOString(),
      },
      drift: 1,
      repaired: { toHub: 1, toDestinations: 0 },
    });
    expect(new URL(api.calls[0]?.url ?? '').searchParams.get('updated_since')).toBe(
      new Date(T0 - 5 * 3_600_000).toISOString(),
    );
    expect(inbound.sent).toHaveLength(1);
    expect(telemetry.flushes).toBeGreaterThan(0);
  });

  it('counts and rethrows a failure, so the error-rate alarm sees it', async () => {
    const telemetry = new MemoryTelemetry();
    const handler = createReconcileHandler({
      config: erpConfig(),
      state: new MemoryStateStore(),
      ops: { putDocument: async () => undefined },
      telemetry,
      clock: new ManualClock(T0),
      secrets,
      fetch: fakeFetch(jsonResponse(500)).fetch,
      logger: new Logger({ logLevel: 'SILENT', serviceName: 'switchyard-test' }),
    });
    await expect(handler({ flow: 'customers' }, lambdaContext('reconcile'))).rejects.toThrow(
      'The source API answered 500',
    );
    expect(telemetry.total('reconcileFailed', { flow: 'customers' })).toBe(1);
  });
});
