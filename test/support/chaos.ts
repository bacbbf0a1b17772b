import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import type { CrmContact, CrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import type { HubRuntime } from '../../local/runtime.js';
import type { HubStats } from '../../local/stats.js';

/**
 * The chaos suite's seed: every random choice (which request fails, the order updates are sent in)
 * comes from it. It is in every scenario's name; `CHAOS_SEED=<n>` replays a failing run.
 */
export const CHAOS_SEED = Number(process.env.CHAOS_SEED ?? 20_261_122);
if (!Number.isSafeInteger(CHAOS_SEED)) {
  throw new Error(`CHAOS_SEED must be an integer, got "${process.env.CHAOS_SEED}"`);
}

/** One version of one Stripe customer, as a signed-ready webhook payload. */
export interface CustomerUpdate {
  readonly stripeId: string;
  /** The Stripe event's `created`: the source version Switchyard orders by. */
  readonly version: number;
  readonly name: string;
  readonly email: string;
  readonly payload: string;
}

/**
 * `customers` customers with `versions` versions each (a create, then updates that rename), versions
 * 10 s apart and all in the past. The newest version of each is what every system must end up with.
 */
export function customerUpdates(customers: number, versions: number, firstNumber = 1): CustomerUpdate[][] {
  const base = Math.floor(Date.now() / 1000) - 3600;
  return Array.from({ length: customers }, (_, i) => {
    const n = firstNumber + i;
    return Array.from({ length: versions }, (_, v) => {
      const customer = demoCustomer(n, { name: `Chaos Customer ${n} v${v + 1}` });
      const version = base + (v + 1) * 10;
      return {
        stripeId: customer.id,
        version,
        name: customer.name ?? '',
        email: (customer.email ?? '').trim().toLowerCase(),
        payload: stripeCustomerEvent(v === 0 ? 'customer.created' : 'customer.updated', customer, version),
      };
    });
  });
}

/** What the destination must hold per Stripe customer: its newest update. */
export function newest(updates: readonly CustomerUpdate[][]): Map<string, CustomerUpdate> {
  return new Map(
    updates.map((versions) => {
      const last = [...versions].sort((a, b) => a.version - b.version).at(-1);
      if (!last) throw new Error('A customer without versions');
      return [last.stripeId, last];
    }),
  );
}

/** The stats as an operator reads them: GET /_switchyard/stats on the running hub. */
export async function readStats(runtime: HubRuntime): Promise<HubStats> {
  const response = await fetch(`${runtime.url}/_switchyard/stats`);
  expect(response.status).toBe(200);
  return (await response.json()) as HubStats;
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/**
 * G3 at rest: for the hub and for every source and flow destination, every accepted event is in
 * exactly one terminal state and nothing is in flight; the DLQs hold exactly what is counted as
 * dead-lettered.
 */
export function expectBalanced(stats: HubStats): HubStats {
  const t = stats.totals;
  expect(t.inFlight, 'nothing in flight at rest').toBe(0);
  expect(t.accepted, `G3 totals ${JSON.stringify(t)}`).toBe(
    t.delivered + t.skipped + t.quarantined + t.deadLettered + t.inFlight,
  );
  expect(stats.balanced).toBe(true);
  for (const [name, source] of Object.entries(stats.sources)) {
    expect(source.inFlight, `source ${name} in flight`).toBe(0);
    expect(source.accepted, `source ${name}: accepted = routed + deadLettered`).toBe(
      source.routed + source.deadLettered,
    );
  }
  expect(stats.queues.inbound.deadLetterDepth, 'inbound DLQ depth = dead-lettered at route').toBe(
    Object.values(stats.sources).reduce((n, s) => n + s.deadLettered, 0),
  );
  for (const [flow, lanes] of Object.entries(stats.flows)) {
    for (const [destination, lane] of Object.entries(lanes)) {
      const where = `${flow} -> ${destination} ${JSON.stringify(lane)}`;
      expect(lane.inFlight, `${where}: in flight`).toBe(0);
      expect(lane.accepted, `${where}: G3`).toBe(
        lane.delivered + sum(lane.skipped) + lane.quarantined + lane.deadLettered + lane.inFlight,
      );
    }
  }
  for (const [name, destination] of Object.entries(stats.destinations)) {
    expect(destination.deadLetterDepth, `${name}: DLQ depth = dead-lettered`).toBe(destination.deadLettered);
  }
  return stats;
}

export function contactsByStripeId(crm: CrmDestination): Map<string, CrmContact> {
  const byStripeId = new Map<string, CrmContact>();
  for (const contact of crm.contacts.values()) {
    const stripeId = (contact.data.refs as Record<string, string> | undefined)?.stripe;
    if (stripeId) byStripeId.set(stripeId, contact);
  }
  return byStripeId;
}

/**
 * What the destination holds, record by record: exactly the expected customers, each with the
 * fields of its newest version; each created once (one contact per customer); no version written twice
 * and none written after a newer one (G4, G5). With `everyVersion`, each customer's versions were
 * all written, once each, in order.
 */
export function expectDestinationHolds(
  crm: CrmDestination,
  expected: ReadonlyMap<string, CustomerUpdate>,
  options: { everyVersion?: ReadonlyMap<string, readonly number[]> } = {},
): void {
  // Every contact, not one per id: two canonical ids for one customer would be two contacts.
  const refs = [...crm.contacts.values()].map(
    (c) => (c.data.refs as Record<string, string> | undefined)?.stripe ?? `(no stripe ref: ${c.id})`,
  );
  expect(refs.sort(), 'each customer created once, nothing else').toEqual([...expected.keys()].sort());
  const contacts = contactsByStripeId(crm);
  for (const [stripeId, update] of expected) {
    const contact = contacts.get(stripeId);
    expect(contact, stripeId).toBeDefined();
    if (!contact) continue;
    expect({ stripeId, version: contact.version, deleted: contact.deleted }).toEqual({
      stripeId,
      version: String(update.version),
      deleted: false,
    });
    expect(contact.data, stripeId).toMatchObject({ name: update.name, email: update.email });
    expect(new Set(contact.versions).size, `${stripeId} wrote ${contact.versions.join(',')}`).toBe(
      contact.versions.length,
    );
    expect(contact.versions.map(Number), `${stripeId} versions in order`).toEqual(
      [...contact.versions].map(Number).sort((a, b) => a - b),
    );
    const every = options.everyVersion?.get(stripeId);
    if (every) expect(contact.versions.map(Number), `${stripeId} every version once`).toEqual(every);
  }
}

/**
 * The hub's own state agrees with the destination: the canonical record and the destination
 * mapping of each customer carry its newest version.
 */
export async function expectHubHolds(
  runtime: HubRuntime,
  crm: CrmDestination,
  expected: ReadonlyMap<string, CustomerUpdate>,
  destination = 'crm',
): Promise<void> {
  const contacts = contactsByStripeId(crm);
  for (const [stripeId, update] of expected) {
    const id = contacts.get(stripeId)?.id;
    expect(id, stripeId).toBeDefined();
    const read = async (sk: string) =>
      (
        await runtime.dynamo.send(
          new GetCommand({
            TableName: runtime.tableName,
            Key: { pk: `customer#${id}`, sk },
            ConsistentRead: true,
          }),
        )
      ).Item;
    const canonical = await read('CANONICAL');
    const mapping = await read(`MAP#${destination}`);
    expect({ stripeId, canonical: canonical?.versions?.stripe, name: canonical?.data?.name }).toEqual({
      stripeId,
      canonical: update.version,
      name: update.name,
    });
    expect({ stripeId, mapping: mapping?.versions?.stripe }).toEqual({ stripeId, mapping: update.version });
  }
}

/** Idempotency-Keys of the calls for one canonical id, with how often each was sent. */
export function keysSent(crm: CrmDestination, canonicalId: string): Map<string, number> {
  const keys = new Map<string, number>();
  for (const call of crm.calls) {
    if (call.body.id !== canonicalId) continue;
    const key = call.headers['idempotency-key'] ?? '(none)';
    keys.set(key, (keys.get(key) ?? 0) + 1);
  }
  return keys;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
