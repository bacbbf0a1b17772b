import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { FatalError, TransientError } from '../../functions/core/errors.js';
import type { DeliveryMessage } from '../../functions/core/messages.js';
import { type RouteDeps, routeEnvelope } from '../../functions/core/route.js';
import { STRIPE_SECRET_NAME, testConfig } from '../support/config.js';
import {
  canonicalIdSequence,
  ManualClock,
  MemoryDeliveryQueues,
  MemoryLog,
  MemoryTelemetry,
} from '../support/fakes.js';
import { MemoryStateStore } from '../support/memory-state-store.js';
import { type CustomerEventOptions, envelopeFor, stripeCustomerEvent } from '../support/stripe.js';

const CUSTOMER = 'cus_NffrFeUfNV2Hib';
const V1 = 1_714_564_800;

let state: MemoryStateStore;
let queues: MemoryDeliveryQueues;
let telemetry: MemoryTelemetry;
let log: MemoryLog;
let clock: ManualClock;
let config: SwitchyardConfig;
let canonicalIdFor: (source: string, entity: string, sourceId: string) => string;

function deps(): RouteDeps {
  return { config, state, deliveryQueues: queues, telemetry, clock, log, canonicalIdFor };
}

let inboundMessages = 0;

/** Routes one inbound message; `routedFrom` names it (a fresh id unless the test retries one). */
function route(event: CustomerEventOptions = {}, source = 'stripe', routedFrom?: string) {
  inboundMessages += 1;
  return routeEnvelope(
    envelopeFor(stripeCustomerEvent(event), { source, receivedAt: clock.now() }),
    deps(),
    routedFrom ?? `inbound-${inboundMessages}`,
  );
}

function sentTo(destination: string): DeliveryMessage[] {
  return queues.sent.filter((m) => m.destination === destination);
}

beforeEach(() => {
  state = new MemoryStateStore();
  queues = new MemoryDeliveryQueues();
  telemetry = new MemoryTelemetry();
  log = new MemoryLog();
  clock = new ManualClock();
  config = testConfig();
  canonicalIdFor = canonicalIdSequence('cust');
});

describe('routeEnvelope', () => {
  it('turns a new Stripe customer into one canonical delivery message per lane', async () => {
    const result = await route(
      { eventId: 'evt_created', created: V1, email: '  Jenny.Rosen@Example.COM ', name: ' Jenny Rosen ' },
      'stripe',
      'inbound-msg-1',
    );

    // Each lane outcome names its record, canonical id included, for the audit trail.
    const record = { entity: 'customer', sourceId: CUSTOMER, version: V1, id: 'cust-1' };
    expect(result).toEqual({
      lanes: [
        { lane: { flow: 'customers', destination: 'crm' }, record, kind: 'enqueued' },
        { lane: { flow: 'customers', destination: 'erp' }, record, kind: 'enqueued' },
      ],
      quarantine: [],
    });
    const data = {
      email: 'jenny.rosen@example.com',
      name: 'Jenny Rosen',
      phone: '+14155552671',
      address: {
        line1: '510 Townsend St',
        line2: null,
        city: 'San Francisco',
        region: 'CA',
        postalCode: '94103',
        country: 'US',
      },
      refs: { stripe: CUSTOMER },
      updatedAt: new Date(V1 * 1000).toISOString(),
    };
    const common = {
      v: 1,
      flow: 'customers',
      entity: 'customer',
      id: 'cust-1',
      source: 'stripe',
      sourceId: CUSTOMER,
      version: V1,
      deleted: false,
      data,
      schemaVersion: 1,
      eventId: 'evt_created',
      receivedAt: clock.now(),
      routedFrom: 'inbound-msg-1',
      revision: 1,
    };
    expect(queues.sent).toEqual([
      { ...common, destination: 'crm' },
      { ...common, destination: 'erp' },
    ]);
    // The record founded its entity under its derived id: the canonical item is the link, no xref item.
    expect(state.xrefs.size).toBe(0);
    expect(state.calls.claimXref).toBe(0);
    expect(state.naturalKeys.get('customer#email:jenny.rosen@example.com')).toBe('cust-1');
    expect(state.canonical.get('customer#cust-1')).toMatchObject({
      versions: { stripe: V1 },
      refs: { stripe: CUSTOMER },
      revision: 1,
      deleted: false,
      data,
    });
  });

  it('upper-cases the country code and keeps a null the source sent', async () => {
    await route({
      address: {
        line1: '1 Rue de Rivoli',
        line2: null,
        city: 'Paris',
        state: null,
        postal_code: '75001',
        country: 'fr',
      },
      phone: null,
    });
    expect(sentTo('crm')[0]?.data).toMatchObject({
      phone: null,
      address: { line1: '1 Rue de Rivoli', city: 'Paris', region: null, country: 'FR' },
    });
  });

  it('skips an event type no connector maps, touching nothing', async () => {
    const body = JSON.stringify({
      id: 'evt_inv',
      type: 'charge.refunded',
      created: V1,
      data: { object: { id: 'ch_1' } },
    });
    const result = await routeEnvelope(envelopeFor(body), deps(), 'inbound-1');
    expect(result).toEqual({
      lanes: [],
      unrouted: { kind: 'skipped', reason: 'unmapped_event' },
      quarantine: [],
    });
    expect(queues.sent).toEqual([]);
    expect(state.calls.getXref + state.calls.putCanonical + state.calls.putQuarantine).toBe(0);
  });

  it('skips a record no flow carries from this source', async () => {
    config = testConfig({
      sources: {
        stripe: { connector: 'stripe', secret: STRIPE_SECRET_NAME },
        'stripe-eu': { connector: 'stripe', secret: 'acme/stripe-eu' },
      },
    });
    const result = await route({}, 'stripe-eu');
    expect(result).toEqual({ lanes: [], unrouted: { kind: 'skipped', reason: 'no_flow' }, quarantine: [] });
    expect(queues.sent).toEqual([]);
    expect(state.xrefs.size).toBe(0);
  });

  describe('validation', () => {
    it('quarantines a customer with an invalid email, with a named reason and a redacted value', async () => {
      const result = await route({ eventId: 'evt_bad', email: 'jenny.rosen@example' });

      const reason = {
        rule: 'customer.email.format',
        field: 'email',
        message: 'must be a valid email address',
        value: expect.any(String),
      };
      // No canonical id yet (never resolved for an invalid record): the source id names it.
      const record = { entity: 'customer', sourceId: CUSTOMER, version: expect.any(Number) };
      expect(result.lanes).toEqual([
        { lane: { flow: 'customers', destination: 'crm' }, record, kind: 'quarantined', reasons: [reason] },
        { lane: { flow: 'customers', destination: 'erp' }, record, kind: 'quarantined', reasons: [reason] },
      ]);
      expect(result.quarantine).toEqual([
        {
          reasons: [reason],
          lanes: [
            { flow: 'customers', destination: 'crm' },
            { flow: 'customers', destination: 'erp' },
          ],
        },
      ]);
      const value = result.quarantine[0]?.reasons[0]?.value ?? '';
      expect(value).not.toContain('jenny.rosen');
      expect(value).not.toContain('example');
      expect(value).toMatch(/\*\*\*/);

      expect(queues.sent).toEqual([]);
      expect(state.xrefs.size).toBe(0);
      expect(state.canonical.size).toBe(0);
      expect(state.quarantined).toEqual([
        {
          stage: 'route',
          source: 'stripe',
          eventId: 'evt_bad',
          entity: 'customer',
          recordId: 'cus_NffrFeUfNV2Hib',
          lanes: [
            { flow: 'customers', destination: 'crm' },
            { flow: 'customers', destination: 'erp' },
          ],
          reasons: [reason],
          payload: envelopeFor(stripeCustomerEvent({ eventId: 'evt_bad', email: 'jenny.rosen@example' }), {
            receivedAt: clock.now(),
          }),
          quarantinedAt: clock.now(),
        },
      ]);
    });

    it.each([
      ['a missing email', { email: null }, 'customer.email.required', 'email'],
      [
        'a country that names no country',
        { address: { country: 'Atlantis' } },
        'customer.address.country.format',
        'address.country',
      ],
    ])('quarantines a customer with %s', async (_label, event, rule, field) => {
      const result = await route(event as CustomerEventOptions);
      expect(result.quarantine[0]?.reasons).toEqual([expect.objectContaining({ rule, field })]);
      expect(queues.sent).toEqual([]);
    });

    it('fails if a customer event lacks the customer id, naming the field', async () => {
      const body = JSON.stringify({
        id: 'evt_x',
        type: 'customer.updated',
        created: V1,
        data: { object: {} },
      });
      const error = await routeEnvelope(envelopeFor(body), deps(), 'inbound-1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FatalError);
      expect((error as FatalError).message).toBe(
        'Stripe customer.updated event lacks data.object.id or created',
      );
      expect((error as FatalError).reasons).toEqual([
        expect.objectContaining({ rule: 'stripe.event.shape', field: 'data.object.id' }),
      ]);
    });

    it('fails if the envelope names a source the config no longer has', async () => {
      const error = await route({}, 'shopify').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FatalError);
      expect((error as FatalError).message).toBe(
        'Envelope names source "shopify", which the config no longer has',
      );
      expect((error as FatalError).reasons[0]?.rule).toBe('route.source.unknown');
    });
  });

  describe('versions', () => {
    it('merges a newer update into the same canonical entity', async () => {
      await route({ created: V1, name: 'Jenny Rosen' });
      const result = await route({ type: 'customer.updated', created: V1 + 60, name: 'Jenny Rosen-Smith' });
      expect(result.lanes.map((o) => o.kind)).toEqual(['enqueued', 'enqueued']);
      expect(sentTo('crm').map((m) => [m.id, m.version, m.data.name])).toEqual([
        ['cust-1', V1, 'Jenny Rosen'],
        ['cust-1', V1 + 60, 'Jenny Rosen-Smith'],
      ]);
      expect(state.canonical.get('customer#cust-1')).toMatchObject({
        revision: 2,
        versions: { stripe: V1 + 60 },
      });
    });

    it('skips a stale update that arrives after a newer one, and keeps the newer data', async () => {
      await route({ type: 'customer.updated', created: V1 + 60, name: 'Newer' });
      const result = await route({ type: 'customer.updated', created: V1, name: 'Older' });
      const stale = { entity: 'customer', sourceId: CUSTOMER, version: V1, id: 'cust-1' };
      expect(result).toEqual({
        lanes: [
          {
            lane: { flow: 'customers', destination: 'crm' },
            record: stale,
            kind: 'skipped',
            reason: 'stale',
          },
          {
            lane: { flow: 'customers', destination: 'erp' },
            record: stale,
            kind: 'skipped',
            reason: 'stale',
          },
        ],
        quarantine: [],
      });
      expect(queues.sent).toHaveLength(2);
      expect(state.canonical.get('customer#cust-1')?.data.name).toBe('Newer');
    });

    it('forwards an equal version again, so a retry after a failed enqueue still reaches the destinations', async () => {
      queues.failWith = new TransientError('SQS throttled');
      await expect(route({ created: V1 }, 'stripe', 'inbound-7')).rejects.toThrow('SQS throttled');
      expect(state.canonical.get('customer#cust-1')?.versions).toEqual({ stripe: V1 });

      queues.failWith = undefined;
      // The same inbound message, received again.
      const result = await route({ created: V1 }, 'stripe', 'inbound-7');
      expect(result.lanes.map((o) => o.kind)).toEqual(['enqueued', 'enqueued']);
      expect(queues.sent.map((m) => [m.destination, m.id, m.version, m.routedFrom])).toEqual([
        ['crm', 'cust-1', V1, 'inbound-7'],
        ['erp', 'cust-1', V1, 'inbound-7'],
      ]);
    });

    it('re-forwards a provider retry of the same event, as a message of its own', async () => {
      await route({ eventId: 'evt_same', created: V1 }, 'stripe', 'inbound-a');
      const claimsAfterFirst = state.calls.claimNaturalKey;
      await route({ eventId: 'evt_same', created: V1 }, 'stripe', 'inbound-b');
      const [first, , again] = queues.sent;
      // Same content, so deliver skips it as a duplicate (and counts it); only the inbound message differs.
      expect(again).toEqual({ ...first, routedFrom: 'inbound-b' });
      expect(first?.routedFrom).toBe('inbound-a');
      // Nothing new, so nothing written: a duplicate costs reads only.
      expect(state.calls.putCanonical).toBe(1);
      expect(state.calls.claimXref).toBe(0);
      expect(state.calls.claimNaturalKey).toBe(claimsAfterFirst);
    });

    it('turns a deletion into a tombstone carrying only the refs', async () => {
      await route({ created: V1 });
      await route({ type: 'customer.deleted', created: V1 + 1 });
      const tombstone = sentTo('crm')[1];
      expect(tombstone).toMatchObject({
        id: 'cust-1',
        deleted: true,
        version: V1 + 1,
        data: { refs: { stripe: CUSTOMER } },
      });
      expect(Object.keys(tombstone?.data ?? {})).toEqual(['refs']);
      expect(state.canonical.get('customer#cust-1')?.deleted).toBe(true);
    });
  });

  describe('cross-reference', () => {
    /** What route reports when one source record reached the founded cust-1 and shop's entity. */
    const SPLIT_REPORT = expect.objectContaining({
      ids: ['cust-1', 'shop-entity'],
      reason: 'one source record routed into two entities at once',
    });

    it('gives both emails of a new customer routed at once the one derived id (no orphaned id)', async () => {
      // A created and an updated event of one new customer, with different emails, routed at once.
      await Promise.all([
        route({ eventId: 'evt_a', email: 'first@example.com', created: V1 }),
        route({ eventId: 'evt_b', email: 'second@example.com', created: V1 + 1 }),
      ]);
      expect(state.xrefs.size).toBe(0);
      expect([...state.canonical.keys()]).toEqual(['customer#cust-1']);
      expect(state.naturalKeys.get('customer#email:first@example.com')).toBe('cust-1');
      expect(state.naturalKeys.get('customer#email:second@example.com')).toBe('cust-1');
    });

    it('ends with one canonical id when two routes of the same new customer race', async () => {
      const [a, b] = await Promise.all([
        route({ eventId: 'evt_a', created: V1 }),
        route({ eventId: 'evt_b', type: 'customer.updated', created: V1 + 1, name: 'Jenny R.' }),
      ]);
      // Both saw nothing and both claimed the email: the race really happened (each read the xref
      // twice: looking the record up, and checking no concurrent version joined another entity).
      expect(state.calls.getXref).toBe(4);
      expect(state.calls.claimXref).toBe(0);
      // And both tried to create the canonical item: one write lost and was merged again on a re-read.
      expect(state.calls.putCanonical).toBe(3);
      expect(new Set(queues.sent.map((m) => m.id))).toEqual(new Set(['cust-1']));
      expect(state.canonical.size).toBe(1);
      // Whatever the interleaving, the newer version wins and nothing is lost.
      const canonical = [...state.canonical.values()][0];
      expect(canonical?.versions).toEqual({ stripe: V1 + 1 });
      expect(canonical?.data.name).toBe('Jenny R.');
      for (const outcome of [...a.lanes, ...b.lanes]) expect(['enqueued', 'skipped']).toContain(outcome.kind);
    });

    it('joins the entity that holds the email through an xref, and finds it by the xref after', async () => {
      state.naturalKeys.set('customer#email:jenny.rosen@example.com', 'shop-entity');
      await route({ created: V1 });
      expect(state.xrefs.get(`stripe#customer#${CUSTOMER}`)).toBe('shop-entity');
      await route({ type: 'customer.updated', created: V1 + 5, name: 'Jenny R.' });
      expect(new Set(queues.sent.map((m) => m.id))).toEqual(new Set(['shop-entity']));
      expect(state.canonical.get('customer#shop-entity')?.data.name).toBe('Jenny R.');
      expect(state.calls.claimXref).toBe(1);
      expect(state.possibleDuplicates).toEqual([]);
    });

    it('finds a record linked by an xref before ids were derived (a hub upgraded in place)', async () => {
      await route({ created: V1 });
      const [item] = [...state.canonical.values()];
      if (!item) throw new Error('no canonical item');
      // As an earlier Switchyard left it: a random id, found through the xref item.
      state.canonical.clear();
      state.canonical.set('customer#legacy-id', { ...item, id: 'legacy-id' });
      state.xrefs.set(`stripe#customer#${CUSTOMER}`, 'legacy-id');
      await route({ type: 'customer.updated', created: V1 + 5, name: 'Jenny R.' });
      expect(queues.sent.at(-1)?.id).toBe('legacy-id');
      expect([...state.canonical.keys()]).toEqual(['customer#legacy-id']);
      expect(state.canonical.get('customer#legacy-id')?.data.name).toBe('Jenny R.');
    });

    it('reports the split from the founding route when the joining one wrote its xref in between', async () => {
      const getXref = state.getXref.bind(state);
      // The lookup saw no xref; by the founder's check after its write, a concurrent version had joined.
      vi.spyOn(state, 'getXref')
        .mockImplementationOnce(getXref)
        .mockImplementationOnce(async () => 'shop-entity');
      await route({ created: V1 });
      expect(state.possibleDuplicates).toEqual([SPLIT_REPORT]);
    });

    it('reports the split from the joining route when the founding one wrote first', async () => {
      state.naturalKeys.set('customer#email:jenny.rosen@example.com', 'shop-entity');
      const getCanonical = state.getCanonical.bind(state);
      const founded = {
        entity: 'customer',
        id: 'cust-1',
        data: {},
        versions: { stripe: V1 },
        refs: {},
        revision: 1,
        deleted: false,
        updatedAt: 0,
      } as const;
      // The lookup missed the derived id; by the joiner's check, a concurrent version had founded it.
      vi.spyOn(state, 'getCanonical')
        .mockImplementationOnce(getCanonical)
        .mockImplementationOnce(async () => founded);
      await route({ created: V1 });
      expect(state.xrefs.get(`stripe#customer#${CUSTOMER}`)).toBe('shop-entity');
      expect(state.possibleDuplicates).toEqual([SPLIT_REPORT]);
    });

    it('reports a record that reached two entities in a race (a new email held by another entity)', async () => {
      state.naturalKeys.set('customer#email:second@example.com', 'shop-entity');
      await Promise.all([
        route({ eventId: 'evt_a', email: 'first@example.com', created: V1 }),
        route({ eventId: 'evt_b', email: 'second@example.com', created: V1 + 1 }),
      ]);
      const entities = new Set(queues.sent.map((m) => m.id));
      expect(entities).toEqual(new Set(['cust-1', 'shop-entity']));
      expect(state.possibleDuplicates).toContainEqual(SPLIT_REPORT);
      expect(telemetry.counts.filter((c) => c.metric === 'possibleDuplicate').length).toBe(
        state.possibleDuplicates.length,
      );
    });

    it('reports two new customers with one phone and name under different emails, and merges neither', async () => {
      const person = { name: 'Jenny Rosen', phone: '+14155550123', created: V1 };
      await route({ ...person, customerId: 'cus_a', email: 'jenny@example.com' });
      await route({ ...person, customerId: 'cus_b', email: 'j.rosen@example.com', name: ' jenny rosen ' });
      expect(new Set(queues.sent.map((m) => m.id))).toEqual(new Set(['cust-1', 'cust-2']));
      expect(state.possibleDuplicates).toEqual([
        expect.objectContaining({
          ids: ['cust-1', 'cust-2'],
          reason: 'same phone and name, different email',
          source: 'stripe',
        }),
      ]);
      // A later update of either claims nothing again, so it reports nothing again.
      await route({ ...person, customerId: 'cus_b', email: 'j.rosen@example.com', created: V1 + 5 });
      expect(state.possibleDuplicates).toHaveLength(1);
    });

    it("claims no phone and name, and reports nothing, with identity.lookalikes 'off'", async () => {
      config = testConfig({ identity: { lookalikes: 'off' } });
      const person = { name: 'Jenny Rosen', phone: '+14155550123', created: V1 };
      await route({ ...person, customerId: 'cus_a', email: 'jenny@example.com' });
      await route({ ...person, customerId: 'cus_b', email: 'j.rosen@example.com' });
      expect(state.possibleDuplicates).toEqual([]);
      // One claim per new customer: its email.
      expect(state.calls.claimNaturalKey).toBe(2);
      expect(new Set(queues.sent.map((m) => m.id))).toEqual(new Set(['cust-1', 'cust-2']));
    });

    it("fails the route if the founder's split check cannot read (retried, not swallowed)", async () => {
      const getXref = state.getXref.bind(state);
      vi.spyOn(state, 'getXref')
        .mockImplementationOnce(getXref)
        .mockRejectedValueOnce(new TransientError('state table throttled'));
      await expect(route({ created: V1 })).rejects.toThrow('state table throttled');
    });

    it('fails with its own error when the canonical write fails, after the checks it started', async () => {
      vi.spyOn(state, 'putCanonical').mockRejectedValueOnce(new TransientError('canonical write timed out'));
      await expect(route({ created: V1 })).rejects.toThrow('canonical write timed out');
      // The look-alike claim ran alongside the write; the retry finds the claim its own and goes on.
      await route({ created: V1 });
      expect(new Set(queues.sent.map((m) => m.id))).toEqual(new Set(['cust-1']));
      expect(state.possibleDuplicates).toEqual([]);
    });

    it('finds a founded record again by its derived id and claims nothing', async () => {
      await route({ created: V1 });
      const claims = state.calls.claimNaturalKey;
      await route({ type: 'customer.updated', created: V1 + 5 });
      expect(state.calls.claimNaturalKey).toBe(claims);
      expect(state.calls.claimXref).toBe(0);
      expect(new Set(queues.sent.map((m) => m.id))).toEqual(new Set(['cust-1']));
    });
  });

  describe('ownership', () => {
    it('drops the fields another system owns and counts them', async () => {
      config = testConfig({
        sources: {
          stripe: { connector: 'stripe', secret: STRIPE_SECRET_NAME },
          shop: { connector: 'stripe', secret: 'acme/shop' },
        },
        flows: [{ name: 'customers', entity: 'customer', from: ['stripe', 'shop'], to: ['crm'] }],
        ownership: { customer: { name: 'shop', phone: 'shop' } },
      });
      await route({ name: 'Jenny from Stripe', phone: '+14155550000' });
      const data = sentTo('crm')[0]?.data ?? {};
      expect(data).not.toHaveProperty('name');
      expect(data).not.toHaveProperty('phone');
      expect(data.email).toBe('jenny.rosen@example.com');
      expect(telemetry.total('fieldSkipped', { source: 'stripe', reason: 'not_owned' })).toBe(2);

      await route({ name: 'Jenny from the shop' }, 'shop');
      const fromShop = queues.sent.find((m) => m.source === 'shop');
      expect(fromShop?.data.name).toBe('Jenny from the shop');
    });
  });
});

describe('partial updates (a source that sends only what changed)', () => {
  beforeEach(() => {
    config = loadConfig({
      name: 'partial',
      sources: {
        erp: {
          connector: 'rest-poll',
          schedule: 'rate(5 minutes)',
          url: 'https://erp.example.com/api/customers',
          map: { entity: 'customer', id: 'id', version: 'v', fields: { email: 'email', phone: 'phone' } },
        },
      },
      destinations: { crm: { connector: 'http', url: 'https://crm.example.com/api' } },
      flows: [{ name: 'customers', entity: 'customer', from: ['erp'], to: ['crm'] }],
    });
  });
  const item = (body: Record<string, unknown>) =>
    routeEnvelope(
      {
        v: 1,
        source: 'erp',
        eventId: `e-${String(body.v)}`,
        receivedAt: 0,
        headers: {},
        body: JSON.stringify(body),
      },
      deps(),
      `in-${String(body.v)}`,
    );

  it('accepts a phone-only change to a known customer, validated as merged onto what the hub holds', async () => {
    await item({ id: 'c1', v: 1, email: 'Known@Example.com' });
    const result = await item({ id: 'c1', v: 2, phone: '+44 20 7946 0958' });
    expect(result.quarantine).toEqual([]);
    expect(sentTo('crm').at(-1)?.data).toMatchObject({ email: 'known@example.com', phone: '+442079460958' });
  });

  it('quarantines a partial record of a customer the hub has never seen (no email to create it with)', async () => {
    const result = await item({ id: 'c2', v: 1, phone: '+44 20 7946 0958' });
    expect(result.quarantine[0]?.reasons).toEqual([
      expect.objectContaining({ rule: 'customer.email.required' }),
    ]);
    expect(sentTo('crm')).toEqual([]);
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});
