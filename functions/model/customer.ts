import * as z from 'zod/mini';
import { normalizeCountry, normalizeEmail, normalizePhone, normalizeTimestamp } from './normalize.js';
import { type ValidationResult, validateWith } from './reasons.js';

/** The newest canonical customer schema version; the canonical store holds customers in it. */
export const CUSTOMER_SCHEMA_VERSION = 2;

/**
 * Canonical customer v1. `null` means the source cleared a field; an absent field means the source
 * said nothing about it (so a merge keeps what another system set).
 */
const optionalText = z.optional(
  z.nullable(z.string().check(z.trim(), z.maxLength(1000, 'is longer than 1000 characters'))),
);

export const addressV1 = z.object({
  line1: optionalText,
  line2: optionalText,
  city: optionalText,
  region: optionalText,
  postalCode: optionalText,
  country: z.optional(
    z.nullable(
      z
        .string()
        .check(z.regex(/^[A-Z]{2}$/, 'must be a country (an ISO 3166-1 alpha-2 code or a country name)')),
    ),
  ),
});

export const customerV1 = z
  .object({
    email: z.pipe(z.string().check(z.maxLength(320)), z.email('must be a valid email address')),
    name: optionalText,
    /** E.164 when it could be read; otherwise the raw value, and `flags` says so. */
    phone: z.optional(z.nullable(z.string().check(z.maxLength(64, 'is longer than 64 characters')))),
    address: z.optional(z.nullable(addressV1)),
    refs: z.record(z.string(), z.string()),
    updatedAt: z.optional(z.iso.datetime({ offset: false, message: 'must be a date between 1970 and 2200' })),
    /** Data-quality flags the normalizers raised, e.g. `phone.unparsed`. */
    flags: z.optional(z.array(z.string())),
  })
  .check(z.meta({ title: 'Customer', description: 'Canonical customer, schema version 1' }));

export type CustomerV1 = z.output<typeof customerV1>;

/**
 * Canonical customer v2: v1 plus the name split into `givenName` and `familyName`, with `name` kept as
 * the display name. CRMs file contacts by first and last name (HubSpot, Salesforce), and guessing the
 * split from one string is wrong for many names ("Ludwig van Beethoven", family-name-first orders),
 * so v2 carries it from the systems that know it (Shopify has first_name and last_name). A separate
 * version because v1's contract forbids other properties: a strict v1 consumer would reject them.
 */
export const customerV2 = z
  .extend(customerV1, {
    givenName: optionalText,
    familyName: optionalText,
  })
  .check(z.meta({ title: 'Customer', description: 'Canonical customer, schema version 2' }));

export type CustomerV2 = z.output<typeof customerV2>;

export type { ValidationResult } from './reasons.js';

/**
 * One spelling per value before validation: email trimmed and lower-cased, country names and codes
 * to alpha-2, phone to E.164 read with the record's country (kept raw and flagged when unreadable),
 * timestamps to ISO 8601 UTC. Values that cannot be normalized are left as they are, so validation
 * names them.
 */
export function normalizeCustomer(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  const flags = new Set<string>(Array.isArray(data.flags) ? (data.flags as string[]) : []);
  if (typeof data.email === 'string') out.email = normalizeEmail(data.email);
  let country: string | undefined;
  if (data.address && typeof data.address === 'object') {
    const address = { ...(data.address as Record<string, unknown>) };
    if (typeof address.country === 'string') {
      country = normalizeCountry(address.country);
      if (country) address.country = country;
    }
    out.address = address;
  }
  if (typeof data.phone === 'string') {
    const phone = normalizePhone(data.phone, country);
    if (phone) {
      out.phone = phone;
      flags.delete('phone.unparsed');
    } else {
      out.phone = data.phone.trim();
      flags.add('phone.unparsed');
    }
  }
  if (typeof data.updatedAt === 'string' || typeof data.updatedAt === 'number') {
    out.updatedAt = normalizeTimestamp(data.updatedAt) ?? data.updatedAt;
  }
  if (flags.size > 0) out.flags = [...flags].sort();
  return out;
}

/**
 * Normalizes and validates a customer. Failures become named, machine-readable reasons with the
 * offending value redacted, ready for the quarantine.
 */
export function validateCustomer(data: Readonly<Record<string, unknown>>): ValidationResult {
  return validateWith('customer', customerV1, normalizeCustomer, data);
}

export function validateCustomerV2(data: Readonly<Record<string, unknown>>): ValidationResult {
  return validateWith('customer', customerV2, normalizeCustomer, data);
}

export { downgradeCustomerV2, mergeCustomer, upgradeCustomerV1 } from './customer-conversions.js';
