import * as z from 'zod/mini';
import { normalizeCurrency, normalizeTimestamp, toMinorUnits } from './normalize.js';
import { type ValidationResult, validateWith } from './reasons.js';

export const INVOICE_SCHEMA_VERSION = 1;

const minorUnits = z
  .number()
  .check(
    z.int('must be an integer amount in minor units'),
    z.minimum(0, 'must not be negative'),
    z.maximum(1e13, 'is absurdly large'),
  );
const isoDate = z.iso.datetime({ offset: false, message: 'must be a date between 1970 and 2200' });

/** Canonical invoice v1. */
export const invoiceV1 = z
  .object({
    customerId: z.optional(z.nullable(z.string().check(z.trim(), z.minLength(1), z.maxLength(200)))),
    number: z.optional(z.nullable(z.string().check(z.trim(), z.minLength(1), z.maxLength(100)))),
    currency: z
      .string()
      .check(z.refine((code) => normalizeCurrency(code) === code, 'must be an ISO 4217 code')),
    totalMinor: minorUnits,
    amountDueMinor: z.optional(minorUnits),
    status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']),
    issuedAt: isoDate,
    dueAt: z.optional(z.nullable(isoDate)),
    refs: z.record(z.string(), z.string()),
    updatedAt: z.optional(isoDate),
  })
  .check(z.meta({ title: 'Invoice', description: 'Canonical invoice, schema version 1' }));

export type InvoiceV1 = z.output<typeof invoiceV1>;

export function normalizeInvoice(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  const currency = typeof data.currency === 'string' ? normalizeCurrency(data.currency) : undefined;
  if (currency) out.currency = currency;
  for (const [from, to] of [
    ['total', 'totalMinor'],
    ['amountDue', 'amountDueMinor'],
  ] as const) {
    const value = data[from];
    if (out[to] === undefined && (typeof value === 'string' || typeof value === 'number') && currency) {
      out[to] = toMinorUnits(value, currency) ?? value;
      delete out[from];
    }
  }
  for (const field of ['issuedAt', 'dueAt', 'updatedAt'] as const) {
    const value = data[field];
    if (typeof value === 'string' || typeof value === 'number')
      out[field] = normalizeTimestamp(value) ?? value;
  }
  return out;
}

export function validateInvoice(data: Readonly<Record<string, unknown>>): ValidationResult {
  return validateWith('invoice', invoiceV1, normalizeInvoice, data);
}
