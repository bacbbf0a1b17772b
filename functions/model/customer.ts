import { z } from 'zod';
import type { QuarantineReason } from '../core/errors.js';
import { issuesToReasons } from './reasons.js';

/**
 * Canonical customer v1. `null` means the source cleared a field; an absent field means the source
 * said nothing about it (so a merge keeps what another system set).
 */
const optionalText = z.string().trim().max(1000).nullable().optional();

export const addressV1 = z.object({
  line1: optionalText,
  line2: optionalText,
  city: optionalText,
  region: optionalText,
  postalCode: optionalText,
  country: z
    .string()
    .trim()
    .toUpperCase()
    .regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code')
    .nullable()
    .optional(),
});

export const customerV1 = z.object({
  email: z.string().trim().toLowerCase().pipe(z.email('must be a valid email address')),
  name: optionalText,
  phone: z.string().trim().max(64).nullable().optional(),
  address: addressV1.nullable().optional(),
  refs: z.record(z.string(), z.string()),
  updatedAt: z.iso.datetime({ offset: false }).optional(),
});

export type CustomerV1 = z.output<typeof customerV1>;

export type ValidationResult =
  | { readonly ok: true; readonly data: Record<string, unknown> }
  | { readonly ok: false; readonly reasons: readonly QuarantineReason[] };

/**
 * Normalizes and validates a customer. Failures become named, machine-readable reasons with the
 * offending value redacted, ready for the quarantine.
 */
export function validateCustomer(data: Readonly<Record<string, unknown>>): ValidationResult {
  const parsed = customerV1.safeParse(data);
  if (parsed.success) {
    // Drop what the source did not say, so merging cannot erase another system's value.
    return { ok: true, data: JSON.parse(JSON.stringify(parsed.data)) as Record<string, unknown> };
  }
  return { ok: false, reasons: issuesToReasons('customer', parsed.error.issues, data) };
}
