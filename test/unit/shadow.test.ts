import { beforeEach, describe, expect, it } from 'vitest';
import { httpConnector } from '../../functions/connectors/http.js';
import { hubspotDestination } from '../../functions/connectors/hubspot-destination.js';
import type { FlowConfig, SwitchyardConfigInput } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { type DeliverDeps, deliverMessage } from '../../functions/core/deliver.js';
import { ConfigError } from '../../functions/core/errors.js';
import { contentHash, idempotencyKey, sha256Hex } from '../../functions/core/hashing.js';
import type { DeliveryMessage } from '../../functions/core/messages.js';
import type { OpsDeps } from '../../functions/core/ops.js';
import type { OpsStore } from '../../functions/core/ports.js';
import { deliversLive, sampleBucket } from '../../functions/core/shadow.js';
import { differingFields, promoteShadow, shadowDiff } from '../../functions/core/shadow-ops.js';
import { startHubSpotApi } from '../../local/demo/hubspot-api.js';
import { baseConfigInput, CRM_TOKEN, CRM_TOKEN_NAME, testConfig } from '../support/config.js';
import {
  fakeFetch,
  jsonResponse,
  ManualClock,
  MemoryDeliveryQueues,
  MemoryInboundQueue,
  MemoryLog,
  MemorySecretStore,
  MemoryTelemetry,
} from '../support/fakes.js';
import { MemoryStateStore } from '../support/memory-state-store.js';

function configError(input: unknown): ConfigError {
  try {
    loadConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

function withFlow(flow: Record<string, unknown>): SwitchyardConfigInput {
  const input = baseConfigInput();
  return { ...input, flows: [{ ...input.flows[0], ...flow } as SwitchyardConfigInput['flows'][number]] };
}

describe('flow mode and pilot in the config', () => {
  it('defaults to live without a pilot', () => {
    const [flow] = testConfig().flows;
    expect(flow?.mode).toBe('live');
    expect(flow?.pilot).toBeUndefined();
  });

  it('takes shadow mode, a percent pilot and an ids pilot', () => {
    expect(loadConfig(withFlow({ mode: 'shadow' })).flows[0]?.mode).toBe('shadow');
    expect(loadConfig(withFlow({ pilot: { percent: 10 } })).flows[0]?.pilot).toEqual({ percent: 10 });
    expect(loadConfig(withFlow({ pilot: { ids: ['stripe:cus_1', 'c0ffee'] } })).flows[0]?.pilot).toEqual({
      ids: ['stripe:cus_1', 'c0ffee'],
    });
  });

  it('fails if the mode is neither live nor shadow', () => {
    expect(configError(withFlow({ mode: 'dark' })).issues).toEqual([
      'flows[0].mode: Invalid option: expected one of "live"|"shadow" (got "dark")',
    ]);
  });

  it.each([
    [0, 'Too small: expected number to be >=1'],
    [101, 'Too big: expected number to be <=100'],
  ])('fails if the pilot percent is %s', (percent, message) => {
    expect(configError(withFlow({ pilot: { percent } })).issues).toEqual([
      `flows[0].pilot.percent: ${message} (got ${percent})`,
    ]);
  });

  it('fails if the pilot percent is not a whole number', () => {
    expect(configError(withFlow({ pilot: { percent: 12.5 } })).issues).toEqual([
      `flows[0].pilot: must be { percent: a whole number 1..100 } or { ids: [canonical id or 'system:externalId', ...] } (got {"percent":12.5})`,
    ]);
  });

  it('fails if the pilot ids are empty or one has a space', () => {
    expect(configError(withFlow({ pilot: { ids: [] } })).issues).toEqual([
      'flows[0].pilot.ids: Too small: expected array to have >=1 items (got [])',
    ]);
    expect(configError(withFlow({ pilot: { ids: ['stripe:cus 1'] } })).issues).toEqual([
      `flows[0].pilot.ids[0]: must be a canonical id or 'system:externalId', without spaces (got "stripe:cus 1")`,
    ]);
  });

  it('fails if the pilot has both percent and ids, or neither', () => {
    const expected = `flows[0].pilot: must be { percent: a whole number 1..100 } or { ids: [canonical id or 'system:externalId', ...] }`;
    expect(configError(withFlow({ pilot: { percent: 5, ids: ['x'] } })).issues).toEqual([
      `${expected} (got {"percent":5,"ids":["x"]})`,
    ]);
    expect(configError(withFlow({ pilot: {} })).issues).toEqual([`${expected} (got {})`]);
  });

  it('fails if a shadow flow has a pilot', () => {
    expect(configError(withFlow({ mode: 'shadow', pilot: { percent: 5 } })).issues).toEqual([
      `flows[0].pilot: a shadow flow sends nothing, so it has no pilot; set mode 'live' with the pilot (got mode "shadow" and pilot {"percent":5})`,
    ]);
  });
});

const V1 = 1_714_564_800;

function message(overrides: Partial<DeliveryMessage> = {}): DeliveryMessage {
  return {
    v: 1,
    flow: 'customers',
    destination: 'crm',
    entity: 'customer',
    id: 'cust-1',
    source: 'stripe',
    sourceId: 'cus_1',
    version: V1,
    deleted: false,
    data: { email: 'jenny.rosen@example.com', name: 'Jenny Rosen', refs: { stripe: 'cus_1', shop: '77' } },
    eventId: 'evt_1',
    receivedAt: 1_714_564_800_000,
    routedFrom: 'inbound-msg-1',
    ...overrides,
  };
}

describe('the pilot sample', () => {
  it('puts an entity in a percent sample by the documented hash rule, the same way every time', () => {
    const ids = Array.from(
      { length: 400 },
      (_, n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    );
    for (const id of ids) {
      const bucket = Number.parseInt(sha256Hex(id).slice(0, 8), 16) % 100;
      expect(sampleBucket(id)).toBe(bucket);
      expect(deliversLive({ mode: 'live', pilot: { percent: 25 } }, message({ id }))).toBe(bucket < 25);
    }
    const inSample = ids.filter((id) =>
      deliversLive({ mode: 'live', pilot: { percent: 25 } }, message({ id })),
    );
    // A quarter, roughly: the hash spreads ids evenly.
    expect(inSample.length).toBeGreaterThan(60);
    expect(inSample.length).toBeLessThan(140);
  });

  it('only widens: every entity in a 10 percent sample is in the 30 percent sample', () => {
    const ids = Array.from({ length: 200 }, (_, n) => `id-${n}`);
    const at = (percent: number) =>
      ids.filter((id) => deliversLive({ mode: 'live', pilot: { percent } }, message({ id })));
    expect(at(10).every((id) => at(30).includes(id))).toBe(true);
    expect(at(100)).toHaveLength(200);
  });

  it('matches ids by canonical id, by the source id, or by any ref of the record', () => {
    const live = (ids: string[]) => deliversLive({ mode: 'live', pilot: { ids } }, message());
    expect(live(['cust-1'])).toBe(true);
    expect(live(['stripe:cus_1'])).toBe(true);
    expect(live(['shop:77'])).toBe(true);
    expect(live(['stripe:cus_2', 'cust-2', 'shop:78'])).toBe(false);
  });

  it('never delivers a shadow flow and always delivers a live one without a pilot', () => {
    expect(deliversLive({ mode: 'shadow' }, message())).toBe(false);
    expect(deliversLive({ mode: 'live' }, message())).toBe(true);
  });
});

describe('deliver on a shadow flow', () => {
  let state: MemoryStateStore;
  let clock: ManualClock;
  const flows: readonly Pick<FlowConfig, 'name' | 'mode' | 'pilot'>[] = [
    { name: 'customers', mode: 'shadow' },
  ];
  const keyOf = (m: DeliveryMessage) =>
    idempotencyKey(
      'crm',
      m.entity,
      m.id,
      m.source,
      m.version,
      contentHash({ deleted: m.deleted, data: m.data }),
    );

  beforeEach(() => {
    state = new MemoryStateStore();
    clock = new ManualClock();
  });

  function deps(fetch: typeof globalThis.fetch, flowList = flows): DeliverDeps {
    const destination = testConfig().destinations.crm;
    if (!destination) throw new Error('test config has no crm');
    return {
      destinationName: 'crm',
      destination,
      connector: httpConnector,
      state,
      secrets: new MemorySecretStore({ [CRM_TOKEN_NAME]: CRM_TOKEN }),
      clock,
      log: new MemoryLog(),
      fetch,
      flows: flowList,
    };
  }

  it('reads no destination token: it sends nothing', async () => {
    const secrets = new MemorySecretStore({ [CRM_TOKEN_NAME]: CRM_TOKEN });
    const fake = fakeFetch(jsonResponse(201, { id: 'crm-1' }));
    await deliverMessage(message(), { ...deps(fake.fetch), secrets });
    expect(secrets.reads).toEqual([]);
  });

  it('records what it would send, with its key and decision, and calls nothing', async () => {
    const fake = fakeFetch(jsonResponse(201, { id: 'crm-1' }));
    const outcome = await deliverMessage(message(), deps(fake.fetch));
    expect(outcome).toEqual({ kind: 'shadowed', idempotencyKey: keyOf(message()), decision: 'create' });
    expect(fake.calls).toHaveLength(0);
    expect(state.mappings.size).toBe(0);
    const record = await state.getShadow('customers', 'crm', 'customer', 'cust-1');
    expect(record).toMatchObject({
      flow: 'customers',
      destination: 'crm',
      id: 'cust-1',
      version: V1,
      idempotencyKey: keyOf(message()),
      decision: 'create',
      message: message(),
      at: clock.now(),
      // Exactly the HTTP destination's wire body.
      payload: {
        entity: 'customer',
        id: 'cust-1',
        version: String(V1),
        source: 'stripe',
        data: message().data,
      },
    });
  });

  it('takes the same decisions as live against what it recorded: duplicate, stale, unchanged', async () => {
    const fake = fakeFetch(jsonResponse(201));
    const d = deps(fake.fetch);
    await deliverMessage(message(), d);
    expect(await deliverMessage(message({ routedFrom: 'again' }), d)).toEqual({
      kind: 'skipped',
      reason: 'duplicate',
    });
    const newer = message({ version: V1 + 10, data: { ...message().data, name: 'Jenny R.' } });
    expect(await deliverMessage(newer, d)).toMatchObject({ kind: 'shadowed', decision: 'create' });
    expect(await deliverMessage(message({ version: V1 + 5 }), d)).toEqual({
      kind: 'skipped',
      reason: 'stale',
    });
    expect(await deliverMessage({ ...newer, version: V1 + 20 }, d)).toEqual({
      kind: 'skipped',
      reason: 'unchanged',
    });
    // The latest recorded is the newer update, once.
    expect((await state.getShadow('customers', 'crm', 'customer', 'cust-1'))?.idempotencyKey).toBe(
      keyOf(newer),
    );
    expect(fake.calls).toHaveLength(0);
  });

  it('says update when the destination already holds the record, and keeps the mapping as it is', async () => {
    const fake = fakeFetch(jsonResponse(201, { id: 'crm-1' }));
    await deliverMessage(message(), deps(fake.fetch, [{ name: 'customers', mode: 'live' }]));
    const mapping = await state.getMapping('crm', 'customer', 'cust-1');
    const newer = message({ version: V1 + 10, data: { ...message().data, name: 'Jenny R.' } });
    expect(await deliverMessage(newer, deps(fake.fetch))).toMatchObject({
      kind: 'shadowed',
      decision: 'update',
    });
    expect(await state.getMapping('crm', 'customer', 'cust-1')).toEqual(mapping);
    expect(fake.calls).toHaveLength(1);
  });

  it('delivers a pilot sample live and shadows the rest', async () => {
    const fake = fakeFetch(jsonResponse(201));
    const d = deps(fake.fetch, [{ name: 'customers', mode: 'live', pilot: { ids: ['stripe:cus_in'] } }]);
    expect(await deliverMessage(message({ id: 'a', sourceId: 'cus_in', data: {} }), d)).toMatchObject({
      kind: 'delivered',
    });
    expect(await deliverMessage(message({ id: 'b', sourceId: 'cus_out', data: {} }), d)).toMatchObject({
      kind: 'shadowed',
    });
    expect(fake.calls.map((c) => JSON.parse(c.body).id)).toEqual(['a']);
    expect(state.shadows.size).toBe(1);
  });

  it('keeps the body HubSpot would get as the payload', async () => {
    const fake = fakeFetch(jsonResponse(200));
    await deliverMessage(message(), { ...deps(fake.fetch), connector: hubspotDestination });
    expect((await state.getShadow('customers', 'crm', 'customer', 'cust-1'))?.payload).toEqual({
      properties: { email: 'jenny.rosen@example.com', firstname: 'Jenny', lastname: 'Rosen' },
    });
    expect(fake.calls).toHaveLength(0);
  });
});

/** The shadow slice of the OpsStore over the memory store's shadow records (other reads unused here). */
function shadowOps(state: MemoryStateStore): OpsStore {
  const unused = () => {
    throw new Error('not used by shadow operations');
  };
  return {
    listQuarantine: unused,
    getQuarantine: unused,
    deleteQuarantine: unused,
    scanCanonical: unused,
    listPossibleDuplicates: unused,
    getDocument: unused,
    putDocument: unused,
    async listShadow(flow, limit, after) {
      const all = [...state.shadows.values()].filter((r) => r.flow === flow);
      const start = Number(after ?? 0);
      const next = start + limit < all.length ? String(start + limit) : undefined;
      return { items: structuredClone(all.slice(start, start + limit)), ...(next ? { next } : {}) };
    },
    async markShadowPromoted(record, at) {
      const key = `${record.flow}#${record.destination}#${record.entity}#${record.id}`;
      const stored = state.shadows.get(key);
      if (!stored || stored.idempotencyKey !== record.idempotencyKey || stored.promotedAt !== undefined)
        return false;
      state.shadows.set(key, { ...stored, promotedAt: at });
      return true;
    },
    async clearShadowPromoted(record, at) {
      const key = `${record.flow}#${record.destination}#${record.entity}#${record.id}`;
      const stored = state.shadows.get(key);
      if (stored?.promotedAt === at) {
        const { promotedAt: _promotedAt, ...rest } = stored;
        state.shadows.set(key, rest);
      }
    },
  };
}

describe('shadow promote and diff', () => {
  let state: MemoryStateStore;
  let queues: MemoryDeliveryQueues;
  let telemetry: MemoryTelemetry;
  const clock = new ManualClock();

  beforeEach(() => {
    state = new MemoryStateStore();
    queues = new MemoryDeliveryQueues();
    telemetry = new MemoryTelemetry();
  });

  async function record(flowMode: Pick<FlowConfig, 'name' | 'mode'>, ids: string[]): Promise<void> {
    const destination = testConfig().destinations.crm;
    if (!destination) throw new Error('test config has no crm');
    for (const id of ids) {
      await deliverMessage(message({ id, sourceId: `cus_${id}` }), {
        destinationName: 'crm',
        destination,
        connector: httpConnector,
        state,
        secrets: new MemorySecretStore({ [CRM_TOKEN_NAME]: CRM_TOKEN }),
        clock,
        log: new MemoryLog(),
        fetch: fakeFetch(jsonResponse(500)).fetch,
        flows: [{ ...flowMode, mode: 'shadow' }],
      });
    }
  }

  function opsDeps(
    flow: Record<string, unknown>,
    fetch?: typeof globalThis.fetch,
    destinations?: SwitchyardConfigInput['destinations'],
  ): OpsDeps {
    return {
      config: loadConfig({
        ...withFlow({ to: ['crm'], ...flow }),
        ...(destinations ? { destinations } : {}),
      }),
      ops: shadowOps(state),
      inbound: new MemoryInboundQueue(),
      deliveryQueues: queues,
      telemetry,
      clock,
      secrets: new MemorySecretStore({ [CRM_TOKEN_NAME]: CRM_TOKEN }),
      ...(fetch ? { fetch } : {}),
    };
  }

  it('refuses while the flow is in shadow mode, and names an unknown flow', async () => {
    await record({ name: 'customers', mode: 'shadow' }, ['a']);
    await expect(promoteShadow('customers', opsDeps({ mode: 'shadow' }))).rejects.toThrow(
      `Flow "customers" is in shadow mode`,
    );
    await expect(promoteShadow('nope', opsDeps({}))).rejects.toThrow(
      'No flow named "nope" (flows: customers)',
    );
    expect(queues.sent).toHaveLength(0);
  });

  it('sends each recorded message once, with its routedFrom fixed and counted as routed', async () => {
    await record({ name: 'customers', mode: 'shadow' }, ['a', 'b']);
    const first = await promoteShadow('customers', opsDeps({}));
    expect(first).toMatchObject({ promoted: 2, alreadyPromoted: 0, outsideSample: 0 });
    expect(queues.sent.map((m) => [m.id, m.routedFrom])).toEqual([
      ['a', `promote:${state.shadows.get('customers#crm#customer#a')?.idempotencyKey}`],
      ['b', `promote:${state.shadows.get('customers#crm#customer#b')?.idempotencyKey}`],
    ]);
    expect(telemetry.total('routed', { flow: 'customers', destination: 'crm' })).toBe(2);
    expect(await promoteShadow('customers', opsDeps({}))).toMatchObject({ promoted: 0, alreadyPromoted: 2 });
    expect(queues.sent).toHaveLength(2);
    expect(telemetry.total('routed')).toBe(2);
  });

  it('leaves records outside a pilot sample recorded, and promotes them once the pilot includes them', async () => {
    await record({ name: 'customers', mode: 'shadow' }, ['a', 'b']);
    expect(await promoteShadow('customers', opsDeps({ pilot: { ids: ['stripe:cus_a'] } }))).toMatchObject({
      promoted: 1,
      outsideSample: 1,
    });
    expect(await promoteShadow('customers', opsDeps({ pilot: { ids: ['a', 'b'] } }))).toMatchObject({
      promoted: 1,
      alreadyPromoted: 1,
    });
    expect(queues.sent.map((m) => m.id)).toEqual(['a', 'b']);
  });

  it('unmarks what it could not queue, so the next promote sends it', async () => {
    await record({ name: 'customers', mode: 'shadow' }, ['a']);
    queues.failWith = new Error('queue down');
    await expect(promoteShadow('customers', opsDeps({}))).rejects.toThrow('queue down');
    expect(telemetry.total('routed')).toBe(0);
    queues.failWith = undefined;
    expect(await promoteShadow('customers', opsDeps({}))).toMatchObject({ promoted: 1 });
  });

  it('diffs each record against what the destination holds: create, update (which fields), unchanged, cannot read', async () => {
    await record({ name: 'customers', mode: 'shadow' }, ['new', 'changed', 'same', 'locked']);
    const held = (id: string, name: string) =>
      jsonResponse(200, { entity: 'customer', id, data: { ...message().data, name } });
    const fake = fakeFetch((call) => {
      const id = call.url.split('/').at(-1);
      if (id === 'new') return jsonResponse(404, { error: 'no such contact' });
      if (id === 'changed') return held('changed', 'Someone Else');
      if (id === 'same') return held('same', 'Jenny Rosen');
      return jsonResponse(405, { error: 'method not allowed' });
    });
    const diff = await shadowDiff('customers', opsDeps({}, fake.fetch));
    expect(diff.summary).toEqual({
      records: 4,
      wouldCreate: 1,
      wouldUpdate: 1,
      unchanged: 1,
      cannotRead: 1,
      promoted: 0,
    });
    const byId = Object.fromEntries(diff.items.map((i) => [i.id, i]));
    expect(byId.changed?.fields).toEqual(['name']);
    expect(byId.locked?.reason).toBe('GET /api/contacts/locked answered 405');
    expect(
      fake.calls.every((c) => c.method === 'GET' && c.headers.Authorization === `Bearer ${CRM_TOKEN}`),
    ).toBe(true);
  });

  it('says cannot read, without calling, for a destination no longer in the config', async () => {
    await record({ name: 'customers', mode: 'shadow' }, ['a']);
    const fake = fakeFetch(jsonResponse(200, {}));
    const diff = await shadowDiff('customers', {
      ...opsDeps({}, fake.fetch),
      config: loadConfig({
        ...withFlow({ to: ['erp'] }),
        destinations: { erp: { connector: 'http', url: 'https://erp.example.com/api/customers' } },
      }),
    });
    expect(diff.items.map((i) => [i.outcome, i.reason])).toEqual([
      ['cannot-read', 'destination "crm" is no longer in the config'],
    ]);
    expect(diff.summary.cannotRead).toBe(1);
    expect(fake.calls).toHaveLength(0);
  });
});

describe('differingFields', () => {
  it('compares data (or properties) and the deleted flag, deeply', () => {
    expect(differingFields({ data: { a: 1, b: { c: 2 } } }, { data: { b: { c: 2 }, a: 1 } })).toEqual([]);
    expect(differingFields({ data: { a: 1, b: 2 } }, { data: { a: 1 } })).toEqual(['b']);
    expect(differingFields({ deleted: true, data: {} }, { data: {} })).toEqual(['deleted']);
    expect(differingFields({ properties: { email: 'x' } }, { properties: { email: 'y' } })).toEqual([
      'email',
    ]);
  });
});

describe('shadow diff against a HubSpot-like API', () => {
  it('reads contacts by email (or by the id the mapping holds) and compares only the properties it would set', async () => {
    const hubspot = await startHubSpotApi({ token: CRM_TOKEN });
    try {
      const state = new MemoryStateStore();
      const clock = new ManualClock();
      const config = loadConfig({
        ...baseConfigInput(),
        destinations: { crm: { connector: 'hubspot', url: hubspot.url, secret: CRM_TOKEN_NAME } },
        flows: [{ name: 'customers', entity: 'customer', from: ['stripe'], to: ['crm'], mode: 'shadow' }],
      });
      const destination = config.destinations.crm;
      if (!destination) throw new Error('no crm');
      const customer = (id: string, email: string, name: string) =>
        message({ id, sourceId: `cus_${id}`, data: { email, name, refs: { stripe: `cus_${id}` } } });
      for (const m of [
        customer('new', 'new@example.com', 'New Person'),
        customer('renamed', 'renamed@example.com', 'Ada Lovelace'),
        customer('same', 'same@example.com', 'Grace Hopper'),
        customer('moved', 'moved.now@example.com', 'Ken Thompson'),
      ]) {
        await deliverMessage(m, {
          destinationName: 'crm',
          destination,
          connector: hubspotDestination,
          state,
          secrets: new MemorySecretStore({ [CRM_TOKEN_NAME]: CRM_TOKEN }),
          clock,
          log: new MemoryLog(),
          fetch,
          flows: config.flows,
        });
      }
      expect(hubspot.calls).toHaveLength(0);
      const contact = (id: string, properties: Record<string, string>) => ({
        id,
        properties,
        archived: false,
        writes: 1,
      });
      hubspot.contacts.set(
        'renamed@example.com',
        contact('101', { email: 'renamed@example.com', firstname: 'Ada', lastname: 'King' }),
      );
      hubspot.contacts.set(
        'same@example.com',
        contact('102', { email: 'same@example.com', firstname: 'Grace', lastname: 'Hopper' }),
      );
      // Known to the hub by its HubSpot id, under its old email: read by id, so an email change is an update.
      hubspot.contacts.set(
        'moved@example.com',
        contact('103', { email: 'moved@example.com', firstname: 'Ken', lastname: 'Thompson' }),
      );
      await state.putMapping(
        {
          destination: 'crm',
          entity: 'customer',
          id: 'moved',
          destinationId: '103',
          versions: { stripe: 1 },
          contentHash: 'x',
          updatedAt: 0,
        },
        'stripe',
      );
      const diff = await shadowDiff('customers', {
        config,
        ops: shadowOps(state),
        inbound: new MemoryInboundQueue(),
        deliveryQueues: new MemoryDeliveryQueues(),
        telemetry: new MemoryTelemetry(),
        clock,
        secrets: new MemorySecretStore({ [CRM_TOKEN_NAME]: CRM_TOKEN }),
        fetch,
        mappings: state,
      });
      const byId = Object.fromEntries(diff.items.map((i) => [i.id, [i.outcome, i.fields]]));
      expect(byId).toEqual({
        new: ['create', undefined],
        renamed: ['update', ['lastname']],
        same: ['unchanged', undefined],
        moved: ['update', ['email']],
      });
      expect(hubspot.calls.map((c) => c.path)).toEqual(
        expect.arrayContaining([
          '/crm/v3/objects/contacts/103',
          '/crm/v3/objects/contacts/new%40example.com',
        ]),
      );
    } finally {
      await hubspot.stop();
    }
  });
});
