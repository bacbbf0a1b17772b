import { z } from 'zod';
import type { ValidationResult } from './customer.js';
import { issuesToReasons } from './reasons.js';

/** An ISO 4217 code; amounts travel as integers in its minor unit. */
const currency = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code');

const minorUnits = z.number().int('must be an integer amount in minor units').min(0).max(1e13);

export const orderLineV1 = z.object({
  sku: z.string().trim().min(1).max(200),
  quantity: z.number().int('must be a whole number').positive('must be positive').max(1_000_000),
  unitPriceMinor: minorUnits,
});

/** Canonical order v1 (DESIGN.md section 5). */
export const orderV1 = z.object({
  customerId: z.string().trim().min(1).max(200).nullable().optional(),
  customerEmail: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.email('must be a valid email address'))
    .nullable()
    .optional(),
  number: z.string().trim().min(1).max(100),
  currency,
  totalMinor: minorUnits,
  lines: z.array(orderLineV1).max(1000),
  status: z.string().trim().min(1).max(50),
  placedAt: z.iso.datetime({ offset: true }),
  refs: z.record(z.string(), z.string()),
  updatedAt: z.iso.datetime({ offset: true }).optional(),
});

export type OrderV1 = z.output<typeof orderV1>;

export function validateOrder(data: Readonly<Record<string, unknown>>): ValidationResult {
  const parsed = orderV1.safeParse(data);
  if (parsed.success)
    return { ok: true, data: JSON.parse(JSON.stringify(parsed.data)) as Record<string, unknown> };
  return { ok: false, reasons: issuesToReasons('order', parsed.error.issues, data) };
}
