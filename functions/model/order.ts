import * as z from 'zod/mini';
import { normalizeCurrency, normalizeEmail, normalizeTimestamp, toMinorUnits } from './normalize.js';
import { type ValidationResult, validateWith } from './reasons.js';

export const ORDER_SCHEMA_VERSION = 1;

const minorUnits = z
  .number()
  .check(
    z.int('must be an integer amount in minor units'),
    z.minimum(0, 'must not be negative'),
    z.maximum(1e13, 'is absurdly large'),
  );
const isoDate = z.iso.datetime({ offset: false, message: 'must be a date between 1970 and 2200' });

export const orderLineV1 = z.object({
  sku: z.string().check(z.trim(), z.minLength(1, 'is required'), z.maxLength(200)),
  quantity: z
    .number()
    .check(
      z.int('must be a whole number'),
      z.positive('must be positive'),
      z.maximum(1_000_000, 'is absurdly large'),
    ),
  unitPriceMinor: minorUnits,
});

/** Canonical order v1 (DESIGN.md section 5). */
export const orderV1 = z
  .object({
    customerId: z.optional(z.nullable(z.string().check(z.trim(), z.minLength(1), z.maxLength(200)))),
    customerEmail: z.optional(
      z.nullable(z.pipe(z.string().check(z.maxLength(320)), z.email('must be a valid email address'))),
    ),
    number: z.string().check(z.trim(), z.minLength(1, 'is required'), z.maxLength(100)),
    currency: z
      .string()
      .check(z.refine((code) => normalizeCurrency(code) === code, 'must be an ISO 4217 code')),
    totalMinor: minorUnits,
    lines: z.array(orderLineV1).check(z.maxLength(1000)),
    status: z.string().check(z.trim(), z.minLength(1), z.maxLength(50)),
    placedAt: isoDate,
    refs: z.record(z.string(), z.string()),
    updatedAt: z.optional(isoDate),
  })
  .check(z.meta({ title: 'Order', description: 'Canonical order, schema version 1' }));

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
