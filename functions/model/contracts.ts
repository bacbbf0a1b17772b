import * as z from 'zod/mini';
import type { Entity } from '../core/config.js';
import {
  CUSTOMER_SCHEMA_VERSION,
  customerV1,
  customerV2,
  downgradeCustomerV2,
  mergeCustomer,
  normalizeCustomer,
  upgradeCustomerV1,
  type ValidationResult,
  validateCustomer,
  validateCustomerV2,
} from './customer.js';
import { INVOICE_SCHEMA_VERSION, invoiceV1, normalizeInvoice, validateInvoice } from './invoice.js';
import { normalizeOrder, ORDER_SCHEMA_VERSION, orderV1, validateOrder } from './order.js';
import { schemaVersions } from './versions.js';

type Data = Readonly<Record<string, unknown>>;

/** One schema version of an entity. */
export interface ContractVersion {
  readonly schema: z.ZodMiniType;
  readonly validate: (data: Data) => ValidationResult;
  /** To the next version; absent on the newest. */
  readonly upgrade?: (data: Data) => Record<string, unknown>;
  /** To the previous version; absent on version 1. */
  readonly downgrade?: (data: Data) => Record<string, unknown>;
}

export interface Contract {
  /** The newest version: what the canonical store holds. */
  readonly version: number;
  readonly normalize: (data: Data) => Record<string, unknown>;
  /** Index 0 is version 1. */
  readonly versions: readonly ContractVersion[];
  /** Merges an update into the stored record (both at the newest version); default: field by field. */
  readonly merge?: (current: Data, update: Data) => Record<string, unknown>;
}

/** Every canonical entity: its versions, each with its zod schema, validator and conversions. */
export const CONTRACTS = {
  customer: {
    version: CUSTOMER_SCHEMA_VERSION,
    normalize: normalizeCustomer,
    versions: [
      { schema: customerV1, validate: validateCustomer, upgrade: upgradeCustomerV1 },
      { schema: customerV2, validate: validateCustomerV2, downgrade: downgradeCustomerV2 },
    ],
    merge: mergeCustomer,
  },
  order: {
    version: ORDER_SCHEMA_VERSION,
    normalize: normalizeOrder,
    versions: [{ schema: orderV1, validate: validateOrder }],
  },
  invoice: {
    version: INVOICE_SCHEMA_VERSION,
    normalize: normalizeInvoice,
    versions: [{ schema: invoiceV1, validate: validateInvoice }],
  },
} as const satisfies Record<Entity, Contract>;

export { isSchemaVersion, schemaVersions } from './versions.js';

function versionOf(entity: Entity, version: number): ContractVersion {
  const contract: Contract = CONTRACTS[entity];
  const found = contract.versions[version - 1];
  if (!found) {
    throw new RangeError(
      `${entity} has no schema version ${version} (versions: ${schemaVersions(entity).join(', ')})`,
    );
  }
  return found;
}

export function validateAs(entity: Entity, version: number, data: Data): ValidationResult {
  return versionOf(entity, version).validate(data);
}

/**
 * A record's data from one schema version to another, one step at a time (v1 to v3 goes through
 * v2), so each version only ever knows its neighbours.
 */
export { convert } from './conversions.js';

/** Merges an update into a stored record, both at the entity's newest version. */
export function mergeData(entity: Entity, current: Data, update: Data): Record<string, unknown> {
  const contract: Contract = CONTRACTS[entity];
  return contract.merge ? contract.merge(current, update) : { ...current, ...update };
}

/** The JSON Schema a destination can rely on (what validation outputs), as docs/contracts holds it. */
export function jsonSchemaOf(
  entity: Entity,
  version: number = CONTRACTS[entity].version,
): Record<string, unknown> {
  return {
    $id: `https://switchyard.dev/contracts/${entity}.v${version}.json`,
    ...z.toJSONSchema(versionOf(entity, version).schema, { io: 'output' }),
  };
}
