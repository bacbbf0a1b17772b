import * as z from 'zod';
import { normalizeCurrency, normalizeEmail, normalizeTimestamp, toMinorUnits } from './normalize.js';
import { type ValidationResult, validateWith } from './reasons.js';

export const ORDER_SCHEMA_VERSION = 1;

const minorUnits = z
  .number()
  .int('must be an integer amount in minor units')
  .min(0, 'must not be negative')
  .max(1e13, 'is absurdly large');
const isoDate = z.iso.datetime({ offset: false, message: 'must be a date between 1970 and 2200' });

export const orderLineV1 = z.object({
  sku: z.string().trim().min(1, 'is required').max(200),
  quantity: z
    .number()
    .int('must be a whole number')
    .positive('must be positive')
    .max(1_000_000, 'is absurdly large'),
  unitPriceMinor: minorUnits,
});

/** Canonical order v1 (DESIGN.md section 5). */
export const orderV1 = z
  .object({
    customerId: z.string().trim().min(1).max(200).nullable().optional(),
    customerEmail: z.string().max(320).pipe(z.email('must be a valid email address')).nullable().optional(),
    number: z.string().trim().min(1, 'is required').max(100),
    currency: z.string().refine((code) => normalizeCurrency(code) === code, 'must be an ISO 4217 code'),
    totalMinor: minorUnits,
    lines: z.array(orderLineV1).max(1000),
    status: z.string().trim().min(1).max(50),
    placedAt: isoDate,
    refs: z.record(z.string(), z.string()),
    updatedAt: isoDate.optional(),
  })
  .meta({ title: 'Order', description: 'Canonical order, schema version 1' });

export type OrderV1 = z.output<typeof orderV1>;

/**
 * Currency to ISO 4217, amounts (`total`, a line's `unitPrice`, as "19.99" or 19.99) to integer
 * minor units with exact decimal arithmetic, timestamps to ISO 8601 UTC.
 */
export function normalizeOrder(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  const currency = typeof data.currency === 'string' ? normalizeCurrency(data.currency) : undefined;
  if (currency) out.currency = currency;
  const amount = (value: unknown) =>
    currency && (typeof value === 'string' || typeof value === 'number')
      ? toMinorUnits(value, currency)
      : undefined;
  if (out.totalMinor === undefined && data.total !== undefined) {
    out.totalMinor = amount(data.total) ?? data.total;
    delete out.total;
  }
  if (Array.isArray(data.lines)) {
    out.lines = data.lines.map((line: Record<string, unknown>) => {
      if (
        !line ||
        typeof line !== 'object' ||
        line.unitPriceMinor !== undefined ||
        line.unitPrice === undefined
      )
        return line;
      const { unitPrice, ...rest } = line;
      return { ...rest, unitPriceMinor: amount(unitPrice) ?? unitPrice };
    });
  }
  if (typeof data.customerEmail === 'string') out.customerEmail = normalizeEmail(data.customerEmail);
  for (const field of ['placedAt', 'updatedAt'] as const) {
    const value = data[field];
    if (typeof value === 'string' || typeof value === 'number')
      out[field] = normalizeTimestamp(value) ?? value;
  }
  return out;
}

export function validateOrder(data: Readonly<Record<string, unknown>>): ValidationResult {
  return validateWith('order', orderV1, normalizeOrder, data);
}
