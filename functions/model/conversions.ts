import type { Entity } from '../core/config.js';
import { downgradeCustomerV2, upgradeCustomerV1 } from './customer-conversions.js';
import { schemaVersions } from './versions.js';

type Data = Readonly<Record<string, unknown>>;
type Conversion = (data: Data) => Record<string, unknown>;

/** Per entity, `upgrade[v - 1]` takes version v to v + 1 and `downgrade[v - 2]` takes v to v - 1. */
const CONVERSIONS: Readonly<
  Record<Entity, { readonly upgrade: readonly Conversion[]; readonly downgrade: readonly Conversion[] }>
> = {
  customer: { upgrade: [upgradeCustomerV1], downgrade: [downgradeCustomerV2] },
  order: { upgrade: [], downgrade: [] },
  invoice: { upgrade: [], downgrade: [] },
};

/** A record's data from one schema version to another, one step at a time. */
export function convert(entity: Entity, data: Data, from: number, to: number): Record<string, unknown> {
  const versions = schemaVersions(entity);
  for (const version of [from, to]) {
    if (!versions.includes(version)) {
      throw new RangeError(`${entity} has no schema version ${version} (versions: ${versions.join(', ')})`);
    }
  }
  let out: Record<string, unknown> = { ...data };
  for (let v = from; v < to; v++) out = CONVERSIONS[entity].upgrade[v - 1]?.(out) ?? out;
  for (let v = from; v > to; v--) out = CONVERSIONS[entity].downgrade[v - 2]?.(out) ?? out;
  return out;
}
