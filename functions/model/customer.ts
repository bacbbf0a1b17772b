import * as z from 'zod';
import { normalizeCountry, normalizeEmail, normalizePhone, normalizeTimestamp } from './normalize.js';
import { type ValidationResult, validateWith } from './reasons.js';

/** The newest canonical customer schema version; the canonical store holds customers in it. */
export const CUSTOMER_SCHEMA_VERSION = 2;

/**
 * Canonical customer v1. `null` means the source cleared a field; an absent field means the source
 * said nothing about it (so a merge keeps what another system set).
 */
const optionalText = z.string().trim().max(1000, 'is longer than 1000 characters').nullable().optional();

export const addressV1 = z.object({
  line1: optionalText,
  line2: optionalText,
  city: optionalText,
  region: optionalText,
  postalCode: optionalText,
  country: z
    .string()
    .regex(/^[A-Z]{2}$/, 'must be a country (an ISO 3166-1 alpha-2 code or a country name)')
    .nullable()
    .optional(),
});

export const customerV1 = z
  .object({
    email: z.string().max(320).pipe(z.email('must be a valid email address')),
    name: optionalText,
    /** E.164 when it could be read; otherwise the raw value, and `flags` says so. */
    phone: z.string().max(64, 'is longer than 64 characters').nullable().optional(),
    address: addressV1.nullable().optional(),
    refs: z.record(z.string(), z.string()),
    updatedAt: z.iso.datetime({ offset: false, message: 'must be a date between 1970 and 2200' }).optional(),
    /** Data-quality flags the normalizers raised, e.g. `phone.unparsed`. */
    flags: z.array(z.string()).optional(),
  })
  .meta({ title: 'Customer', description: 'Canonical customer, schema version 1' });

export type CustomerV1 = z.output<typeof customerV1>;

/**
 * Canonical customer v2: v1 plus the name split into `givenName` and `familyName`, with `name` kept as
 * the display name. CRMs file contacts by first and last name (HubSpot, Salesforce), and guessing the
 * split from one string is wrong for many names ("Ludwig van Beethoven", family-name-first orders),
 * so v2 carries it from the systems that know it (Shopify has first_name and last_name). A separate
 * version because v1's contract forbids other properties: a strict v1 consumer would reject them.
 */
export const customerV2 = customerV1
  .extend({
    givenName: optionalText,
    familyName: optionalText,
  })
  .meta({ title: 'Customer', description: 'Canonical customer, schema version 2' });

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

/** After a comma these are suffixes ("Martin Luther King, Jr.") or company forms ("Acme, Inc."), not a given name. */
const NOT_A_GIVEN_NAME = /^(jr|sr|ii|iii|iv|v|phd|md|esq|inc|ltd|llc|gmbh|ag|co|corp|plc|s\.?a|b\.?v)\.?$/i;

const nonBlank = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

/**
 * v1 to v2. Lossless: `name` is kept as it was, so a downgrade gives the v1 record back. The split is
 * filled only when the name says it unambiguously, in the "Family, Given" form ERPs and billing
 * exports use; any other name leaves both parts out (unknown, not cleared), because a guessed family
 * name at a CRM is worse than none. A partial update keeps its partiality: no `name`, no parts.
 */
export function upgradeCustomerV1(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  if (!nonBlank(data.name)) return out;
  const parts = data.name.split(',');
  const [family, given] = parts.map((part) => part.trim());
  if (parts.length === 2 && nonBlank(family) && nonBlank(given) && !NOT_A_GIVEN_NAME.test(given)) {
    out.givenName = given;
    out.familyName = family;
  }
  return out;
}

/**
 * v2 to v1. Lossy: `givenName` and `familyName` are dropped (a v1 consumer's contract has no place
 * for them). When the record has no display name but has parts, `name` becomes "Given Family" (the
 * order most v1 consumers expect); a record that cleared both parts and has no name gets `null`.
 * Only fields the v2 record carried appear, so a partial update stays partial.
 */
export function downgradeCustomerV2(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { givenName, familyName, ...rest } = data;
  const out: Record<string, unknown> = { ...rest };
  if (out.name === undefined || out.name === null) {
    const parts = [givenName, familyName].filter(nonBlank).map((part) => part.trim());
    if (parts.length > 0) out.name = parts.join(' ');
    else if (out.name === undefined && (givenName === null || familyName === null)) out.name = null;
  }
  return out;
}

/**
 * The split belongs to a name: when an update changes the display name without saying the parts
 * (a v1 source), the parts the hub held describe the old name and are cleared, so a v2 consumer
 * never sees "Ada King" filed as given "Ada", family "Lovelace".
 */
export function mergeCustomer(
  current: Readonly<Record<string, unknown>>,
  update: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current, ...update };
  const saysParts = 'givenName' in update || 'familyName' in update;
  if ('name' in update && !saysParts && update.name !== current.name) {
    if (current.givenName !== undefined) merged.givenName = null;
    if (current.familyName !== undefined) merged.familyName = null;
  }
  return merged;
}
