import { describe, expect, it } from 'vitest';
import { httpDestinationBody } from '../../functions/connectors/http.js';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { ConfigError } from '../../functions/core/errors.js';
import type { DeliveryMessage } from '../../functions/core/messages.js';
import { backfillPage, type OpsDeps, replayQuarantined } from '../../functions/core/ops.js';
import type { CanonicalItem, OpsStore, StoredQuarantineItem } from '../../functions/core/ports.js';
import { routeEnvelope } from '../../functions/core/route.js';
import {
  CONTRACTS,
  convert,
  jsonSchemaOf,
  schemaVersions,
  validateAs,
} from '../../functions/model/contracts.js';
import { downgradeCustomerV2, mergeCustomer, upgradeCustomerV1 } from '../../functions/model/customer.js';
import { LATEST_SCHEMA_VERSION } from '../../functions/model/versions.js';
import { baseConfigInput, testConfig } from '../support/config.js';
import {
  canonicalIdSequence,
  ManualClock,
  MemoryDeliveryQueues,
  MemoryLog,
  MemoryTelemetry,
} from '../support/fakes.js';
import { MemoryStateStore } from '../support/memory-state-store.js';
import { envelopeFor, stripeCustomerEvent } from '../support/stripe.js';

describe('customer v1 -> v2 (upgrade)', () => {
  it('keeps the display name and adds no guessed split', () => {
    expect(upgradeCustomerV1({ email: 'a@x.io', name: 'Ada Lovelace' })).toEqual({
      email: 'a@x.io',
      name: 'Ada Lovelace',
    });
    // Guessing would file "van Beethoven" wrong, or a family-name-first name backwards.
    expect(upgradeCustomerV1({ name: 'Ludwig van Beethoven' })).toEqual({ name: 'Ludwig van Beethoven' });
    expect(upgradeCustomerV1({ name: 'Wang Wei' })).toEqual({ name: 'Wang Wei' });
  });

  it('splits the unambiguous "Family, Given" form and keeps the name as written', () => {
    expect(upgradeCustomerV1({ name: 'Lovelace, Ada' })).toEqual({
      name: 'Lovelace, Ada',
      givenName: 'Ada',
      familyName: 'Lovelace',
    });
    expect(upgradeCustomerV1({ name: '  van Beethoven ,  Ludwig ' })).toMatchObject({
      givenName: 'Ludwig',
      familyName: 'van Beethoven',
    });
  });

  it('does not read a suffix, a company form, extra commas or an empty side as a given name', () => {
    for (const name of [
      'Martin Luther King, Jr.',
      'Acme, Inc.',
      'Smith, John, Jr',
      ', Ada',
      'Lovelace,',
      ',',
    ]) {
      const out = upgradeCustomerV1({ name });
      expect(out, name).toEqual({ name });
    }
  });

  it('keeps partial updates partial and passes null, blank and non-string names through', () => {
    expect(upgradeCustomerV1({ phone: '+442079460958' })).toEqual({ phone: '+442079460958' });
    expect(upgradeCustomerV1({ name: null })).toEqual({ name: null });
    expect(upgradeCustomerV1({ name: '   ' })).toEqual({ name: '   ' });
    expect(upgradeCustomerV1({ name: 42 })).toEqual({ name: 42 });
    expect(upgradeCustomerV1({})).toEqual({});
  });

  it('round-trips every v1 record: downgrade(upgrade(v1)) is v1', () => {
    const records = [
      { email: 'a@x.io', name: 'Lovelace, Ada', phone: null, refs: { stripe: 'cus_1' } },
      { email: 'b@x.io', name: 'Ada Lovelace', address: { country: 'GB' }, refs: {} },
      { email: 'c@x.io', name: null, refs: {} },
      { email: 'd@x.io', refs: {}, flags: ['phone.unparsed'] },
    ];
    for (const v1 of records) expect(convert('customer', convert('customer', v1, 1, 2), 2, 1)).toEqual(v1);
  });
});

describe('customer v2 -> v1 (downgrade)', () => {
  it('drops the split and keeps the display name (the lossy part: the split is gone)', () => {
    expect(
      downgradeCustomerV2({
        email: 'a@x.io',
        name: 'Ada King',
        givenName: 'Augusta Ada',
        familyName: 'King',
      }),
    ).toEqual({ email: 'a@x.io', name: 'Ada King' });
  });

  it('builds "Given Family" when there is no display name, from whichever parts there are', () => {
    expect(downgradeCustomerV2({ givenName: ' Ada ', familyName: 'Lovelace' })).toEqual({
      name: 'Ada Lovelace',
    });
    expect(downgradeCustomerV2({ name: null, familyName: 'Lovelace' })).toEqual({ name: 'Lovelace' });
    expect(downgradeCustomerV2({ givenName: 'Ada', familyName: null })).toEqual({ name: 'Ada' });
    expect(downgradeCustomerV2({ givenName: '  ', familyName: '' })).toEqual({});
  });

  it('says a cleared name when the parts were cleared, and nothing when nothing was said', () => {
    expect(downgradeCustomerV2({ givenName: null, familyName: null })).toEqual({ name: null });
    expect(downgradeCustomerV2({ name: null, givenName: null })).toEqual({ name: null });
    expect(downgradeCustomerV2({ phone: '+442079460958' })).toEqual({ phone: '+442079460958' });
    expect(downgradeCustomerV2({ refs: { shop: '1' } })).toEqual({ refs: { shop: '1' } });
  });

  it('always gives a valid v1 record from a valid v2 one (v1 forbids the v2 fields)', () => {
    const v2 = validateAs('customer', 2, {
      email: 'A@X.io',
      givenName: 'Ada',
      familyName: 'Lovelace',
      refs: { shop: '1' },
    });
    expect(v2.ok).toBe(true);
    if (!v2.ok) return;
    const v1 = convert('customer', v2.data, 2, 1);
    expect(validateAs('customer', 1, v1)).toEqual({ ok: true, data: v1 });
    expect(Object.keys(v1)).not.toContain('givenName');
  });
});

describe('conversions and versions', () => {
  it('converting to the same version changes nothing; an unknown version is refused by name', () => {
    expect(convert('customer', { name: 'Lovelace, Ada' }, 2, 2)).toEqual({ name: 'Lovelace, Ada' });
    expect(convert('order', { number: '1' }, 1, 1)).toEqual({ number: '1' });
    expect(() => convert('customer', {}, 1, 3)).toThrow('customer has no schema version 3 (versions: 1, 2)');
    expect(() => jsonSchemaOf('order', 2)).toThrow('order has no schema version 2 (versions: 1)');
    expect(schemaVersions('customer')).toEqual([1, 2]);
    // versions.ts (what config validation reads, without the schemas) says what CONTRACTS holds.
    for (const [entity, contract] of Object.entries(CONTRACTS)) {
      expect(LATEST_SCHEMA_VERSION[entity as keyof typeof CONTRACTS], entity).toBe(contract.versions.length);
      expect(contract.version, entity).toBe(contract.versions.length);
    }
  });

  it('v1 validation strips the v2 fields; v2 validation keeps and trims them', () => {
    const data = { email: 'a@x.io', givenName: ' Ada ', familyName: 'Lovelace', refs: {} };
    expect(validateAs('customer', 1, data)).toEqual({ ok: true, data: { email: 'a@x.io', refs: {} } });
    expect(validateAs('customer', 2, data)).toEqual({
      ok: true,
      data: { email: 'a@x.io', givenName: 'Ada', familyName: 'Lovelace', refs: {} },
    });
  });

  it('a changed display name without parts clears the split the hub held; the same name keeps it', () => {
    const held = { name: 'Ada Lovelace', givenName: 'Ada', familyName: 'Lovelace' };
    expect(mergeCustomer(held, { name: 'Ada King' })).toEqual({
      name: 'Ada King',
      givenName: null,
      familyName: null,
    });
    expect(mergeCustomer(held, { name: 'Ada Lovelace' })).toEqual(held);
    expect(mergeCustomer(held, { phone: '+1' })).toEqual({ ...held, phone: '+1' });
    expect(mergeCustomer(held, { name: 'Ada King', familyName: 'King' })).toEqual({
      name: 'Ada King',
      givenName: 'Ada',
      familyName: 'King',
    });
  });
});

describe('config: consumes and map.schemaVersion', () => {
  const issues = (mutate: (input: ReturnType<typeof baseConfigInput>) => void) => {
    const input = baseConfigInput();
    mutate(input);
    try {
      loadConfig(input);
    } catch (error) {
      if (error instanceof ConfigError) return error.issues;
      throw error;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults every destination to v1 and accepts a version the entity has', () => {
    expect(testConfig().destinations.crm?.consumes).toEqual({});
    const input = baseConfigInput();
    const crm = input.destinations.crm;
    if (crm) input.destinations.crm = { ...crm, consumes: { customer: 2 } };
    expect(loadConfig(input).destinations.crm?.consumes).toEqual({ customer: 2 });
  });

  it('fails with the field and the value for a version the entity does not have', () => {
    expect(
      issues((c) => {
        const erp = c.destinations.erp;
        if (erp) c.destinations.erp = { ...erp, consumes: { customer: 3, order: 2 } };
      }),
    ).toEqual([
      'destinations.erp.consumes.customer: customer has no schema version 3 (versions: 1, 2)',
      'destinations.erp.consumes.order: order has no schema version 2 (versions: 1)',
    ]);
    expect(
      issues((c) => {
        const erp = c.destinations.erp;
        if (erp) c.destinations.erp = { ...erp, consumes: { customer: 1.5 } };
      }),
    ).toEqual([expect.stringMatching(/^destinations\.erp\.consumes\.customer: .*\(got 1\.5\)$/)]);
    expect(
      issues((c) => {
        c.sources.hooks = {
          connector: 'hmac',
          secret: 'acme/hooks',
          header: 'x-sig',
          eventId: { path: 'id' },
          map: { entity: 'customer', id: 'id', version: 'v', fields: {}, schemaVersion: 0 },
        };
      }),
    ).toEqual(['sources.hooks.map.schemaVersion: customer has no schema version 0 (versions: 1, 2)']);
  });
});

describe('route converts per destination', () => {
  const setup = (config: SwitchyardConfig) => {
    const state = new MemoryStateStore();
    const queues = new MemoryDeliveryQueues();
    const deps = {
      config,
      state,
      deliveryQueues: queues,
      telemetry: new MemoryTelemetry(),
      clock: new ManualClock(),
      log: new MemoryLog(),
      canonicalIdFor: canonicalIdSequence('cust'),
    };
    return { state, queues, deps };
  };
  const hooksConfig = (erpConsumes: Record<string, number>) => {
    const input = baseConfigInput();
    input.sources.hooks = {
      connector: 'hmac',
      secret: 'acme/hooks',
      header: 'x-sig',
      eventId: { path: 'id' },
      map: {
        entity: 'customer',
        id: 'id',
        version: 'v',
        fields: { email: 'email', name: 'name', givenName: 'first', familyName: 'last' },
        schemaVersion: 2,
      },
    };
    input.flows = [{ name: 'customers', entity: 'customer', from: ['stripe', 'hooks'], to: ['crm', 'erp'] }];
    const erp = input.destinations.erp;
    if (erp) input.destinations.erp = { ...erp, consumes: erpConsumes };
    return loadConfig(input);
  };
  const hooksEnvelope = (body: Record<string, unknown>) => ({
    v: 1 as const,
    source: 'hooks',
    eventId: `h-${String(body.v)}`,
    receivedAt: 0,
    headers: {},
    body: JSON.stringify(body),
  });
  const bySchema = (messages: readonly DeliveryMessage[], destination: string) =>
    messages.filter((m) => m.destination === destination).at(-1);

  it('sends a v2 record as v1 to a v1 destination and as v2 to a v2 destination, and stores v2', async () => {
    const { state, queues, deps } = setup(hooksConfig({ customer: 2 }));
    await routeEnvelope(
      hooksEnvelope({ id: 'h1', v: 1, email: 'ada@x.io', first: 'Ada', last: 'Lovelace' }),
      deps,
      'in-1',
    );
    const crm = bySchema(queues.sent, 'crm');
    const erp = bySchema(queues.sent, 'erp');
    expect(crm?.schemaVersion).toBe(1);
    expect(crm?.data).toEqual({ email: 'ada@x.io', name: 'Ada Lovelace', refs: { hooks: 'h1' } });
    expect(erp?.schemaVersion).toBe(2);
    expect(erp?.data).toEqual({
      email: 'ada@x.io',
      givenName: 'Ada',
      familyName: 'Lovelace',
      refs: { hooks: 'h1' },
    });
    expect(state.canonical.get('customer#cust-1')).toMatchObject({ schemaVersion: 2 });
    expect(JSON.parse(httpDestinationBody({ message: erp as DeliveryMessage }))).toMatchObject({
      schemaVersion: 2,
    });
  });

  it('a v1 record and a v2 record of one customer merge; the v1 name change clears the stale split', async () => {
    const { queues, deps } = setup(hooksConfig({ customer: 2 }));
    await routeEnvelope(
      hooksEnvelope({ id: 'h1', v: 1, email: 'jenny.rosen@example.com', first: 'Jenny', last: 'Rosen' }),
      deps,
      'in-1',
    );
    await routeEnvelope(
      envelopeFor(stripeCustomerEvent({ email: 'jenny.rosen@example.com', name: 'Jenny Rosen-Smith' }), {
        source: 'stripe',
        receivedAt: 0,
      }),
      deps,
      'in-2',
    );
    const erp = bySchema(queues.sent, 'erp');
    expect(erp?.id).toBe('cust-1');
    expect(erp?.data).toMatchObject({ name: 'Jenny Rosen-Smith', givenName: null, familyName: null });
    expect(bySchema(queues.sent, 'crm')?.data).not.toHaveProperty('givenName');
  });

  it('reads a canonical item written before versioned contracts as v1 and upgrades it', async () => {
    const { state, queues, deps } = setup(hooksConfig({ customer: 2 }));
    await state.putCanonical(
      {
        entity: 'customer',
        id: 'old-1',
        data: { email: 'ada@x.io', name: 'Lovelace, Ada', refs: { stripe: 'cus_old' } },
        deleted: false,
        versions: { stripe: 1 },
        refs: { stripe: 'cus_old' },
        revision: 1,
        updatedAt: 0,
      },
      undefined,
    );
    await state.claimXref('hooks', 'customer', 'h9', 'old-1');
    await routeEnvelope(hooksEnvelope({ id: 'h9', v: 5, email: 'ada@x.io' }), deps, 'in-9');
    expect(bySchema(queues.sent, 'erp')?.data).toMatchObject({
      name: 'Lovelace, Ada',
      givenName: 'Ada',
      familyName: 'Lovelace',
    });
    expect(bySchema(queues.sent, 'crm')?.data).toEqual({
      email: 'ada@x.io',
      name: 'Lovelace, Ada',
      refs: { stripe: 'cus_old', hooks: 'h9' },
    });
  });

  it('quarantines a record whose mapping function names a schema version the entity does not have', async () => {
    const input = baseConfigInput();
    input.sources.fn = {
      connector: 'hmac',
      secret: 'acme/fn',
      header: 'x-sig',
      eventId: { path: 'id' },
      map: () => [
        { entity: 'customer', id: 'f1', version: 1, fields: { email: 'a@x.io' }, schemaVersion: 7 },
      ],
    };
    input.flows = [{ name: 'customers', entity: 'customer', from: ['fn'], to: ['crm'] }];
    const { queues, deps } = setup(loadConfig(input));
    const result = await routeEnvelope(
      { v: 1, source: 'fn', eventId: 'f', receivedAt: 0, headers: {}, body: '{"id":"f"}' },
      deps,
      'in-f',
    );
    expect(result.quarantine[0]?.reasons).toEqual([
      expect.objectContaining({ rule: 'customer.schemaVersion.format', field: 'schemaVersion', value: '7' }),
    ]);
    expect(queues.sent).toEqual([]);
  });
});

describe('operators: replay and backfill send the version the destination consumes now', () => {
  const v2Message: DeliveryMessage = {
    v: 1,
    flow: 'customers',
    destination: 'erp',
    entity: 'customer',
    id: 'cust-1',
    source: 'shop',
    sourceId: '1',
    version: 5,
    deleted: false,
    data: { email: 'ada@x.io', givenName: 'Ada', familyName: 'Lovelace', refs: { shop: '1' } },
    schemaVersion: 2,
    eventId: 'e1',
    receivedAt: 0,
    routedFrom: 'in-1',
  };
  const opsDeps = (config: SwitchyardConfig, queues: MemoryDeliveryQueues, scanned: CanonicalItem[] = []) => {
    const quarantine = new Map<string, StoredQuarantineItem>([
      [
        'q1',
        {
          key: 'q1',
          stage: 'deliver',
          source: 'shop',
          eventId: 'e1',
          entity: 'customer',
          recordId: '1',
          lanes: [{ flow: 'customers', destination: 'erp' }],
          reasons: [{ rule: 'destination.rejected', message: 'HTTP 400' }],
          payload: v2Message,
          quarantinedAt: 0,
        } as StoredQuarantineItem,
      ],
    ]);
    const ops = {
      getQuarantine: async (key: string) => quarantine.get(key),
      deleteQuarantine: async (key: string) => void quarantine.delete(key),
      scanCanonical: async () => ({ items: scanned }),
      putDocument: async () => undefined,
    } as unknown as OpsStore;
    return {
      config,
      ops,
      inbound: { send: async () => undefined },
      deliveryQueues: queues,
      telemetry: new MemoryTelemetry(),
      clock: new ManualClock(),
    } as unknown as OpsDeps;
  };

  it('a v2 message quarantined at a destination now declaring v1 is replayed as v1', async () => {
    const queues = new MemoryDeliveryQueues();
    await replayQuarantined('q1', opsDeps(testConfig(), queues));
    expect(queues.sent).toHaveLength(1);
    expect(queues.sent[0]).toMatchObject({
      schemaVersion: 1,
      data: { email: 'ada@x.io', name: 'Ada Lovelace', refs: { shop: '1' } },
    });
    expect(queues.sent[0]?.data).not.toHaveProperty('givenName');
  });

  it('backfill converts each canonical item per destination', async () => {
    const input = baseConfigInput();
    const erp = input.destinations.erp;
    if (erp) input.destinations.erp = { ...erp, consumes: { customer: 2 } };
    const queues = new MemoryDeliveryQueues();
    const item: CanonicalItem = {
      entity: 'customer',
      id: 'cust-1',
      data: { email: 'ada@x.io', name: 'Lovelace, Ada', refs: { stripe: 'cus_1' } },
      deleted: false,
      versions: { stripe: 1 },
      refs: { stripe: 'cus_1' },
      revision: 1,
      updatedAt: 0,
    };
    await backfillPage('customers', opsDeps(loadConfig(input), queues, [item]));
    const to = (d: string) => queues.sent.find((m) => m.destination === d);
    expect(to('crm')).toMatchObject({ schemaVersion: 1, data: item.data });
    expect(to('erp')).toMatchObject({
      schemaVersion: 2,
      data: { name: 'Lovelace, Ada', givenName: 'Ada', familyName: 'Lovelace' },
    });
  });
});
