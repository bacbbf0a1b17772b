import * as z from 'zod';
import type { Entity } from '../core/config.js';
import {
  CUSTOMER_SCHEMA_VERSION,
  customerV1,
  normalizeCustomer,
  type ValidationResult,
  validateCustomer,
} from './customer.js';
import { INVOICE_SCHEMA_VERSION, invoiceV1, normalizeInvoice, validateInvoice } from './invoice.js';
import { normalizeOrder, ORDER_SCHEMA_VERSION, orderV1, validateOrder } from './order.js';

/** Every canonical entity: its schema version, zod schema and validator (normalizes first). */
export const CONTRACTS = {
  customer: {
    version: CUSTOMER_SCHEMA_VERSION,
    schema: customerV1,
    normalize: normalizeCustomer,
    validate: validateCustomer,
  },
  order: {
    version: ORDER_SCHEMA_VERSION,
    schema: orderV1,
    normalize: normalizeOrder,
    validate: validateOrder,
  },
  invoice: {
    version: INVOICE_SCHEMA_VERSION,
    schema: invoiceV1,
    normalize: normalizeInvoice,
    validate: validateInvoice,
  },
} as const satisfies Record<
  Entity,
  {
    version: number;
    schema: z.ZodType;
    normalize: (data: Readonly<Record<string, unknown>>) => Record<string, unknown>;
    validate: (data: Readonly<Record<string, unknown>>) => ValidationResult;
  }
>;

/** The JSON Schema a destination can rely on (what validation outputs), as docs/contracts holds it. */
export function jsonSchemaOf(entity: Entity): Record<string, unknown> {
  const contract = CONTRACTS[entity];
  return {
    $id: `https://switchyard.dev/contracts/${entity}.v${contract.version}.json`,
    ...z.toJSONSchema(contract.schema, { io: 'output' }),
  };
}
