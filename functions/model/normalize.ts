import { type MetadataJson, parsePhoneNumberFromString } from 'libphonenumber-js/core';
import { regionNames } from './country-codes.js';
// The country codes of ICU, written at build time (scripts/country-codes.ts says why).
import countryCodesJson from './country-codes.json' with { type: 'json' };
// libphonenumber-js's min metadata without display formats (scripts/phone-metadata.ts says why).
import phoneMetadataJson from './phone-metadata.json' with { type: 'json' };

const phoneMetadata = phoneMetadataJson as unknown as MetadataJson;

/**
 * Normalizers: one spelling per value, so two systems' copies of a record compare equal and a
 * destination gets what it expects. Each returns the normalized value, or `undefined` when it
 * cannot (the caller keeps the raw value and flags it, or fails validation by name).
 */

export function normalizeEmail(value: string): string {
  return value.trim().toLowerCase();
}

/** Names and codes a person or a system writes for a country, upper-cased, to ISO 3166-1 alpha-2. */
const COUNTRY_ALIASES: Record<string, string> = {
  UK: 'GB',
  'GREAT BRITAIN': 'GB',
  BRITAIN: 'GB',
  ENGLAND: 'GB',
  SCOTLAND: 'GB',
  WALES: 'GB',
  'NORTHERN IRELAND': 'GB',
  USA: 'US',
  'U.S.': 'US',
  'U.S.A.': 'US',
  'UNITED STATES OF AMERICA': 'US',
  AMERICA: 'US',
  HOLLAND: 'NL',
  'THE NETHERLANDS': 'NL',
  DEUTSCHLAND: 'DE',
  'SOUTH KOREA': 'KR',
  'NORTH KOREA': 'KP',
  RUSSIA: 'RU',
  'CZECH REPUBLIC': 'CZ',
  'IVORY COAST': 'CI',
  VIETNAM: 'VN',
};

const countryCodes: ReadonlySet<string> = new Set(countryCodesJson);
let countryNames: Map<string, string> | undefined;

/** English country names to codes, built from the runtime's ICU on the first name (no table to maintain). */
function countriesByName(): Map<string, string> {
  if (countryNames) return countryNames;
  const names = regionNames();
  countryNames = new Map();
  for (const code of countryCodes) {
    const name = names.of(code)?.toUpperCase();
    if (name && !countryNames.has(name)) countryNames.set(name, code);
  }
  return countryNames;
}

/** `"United Kingdom"`, `"UK"`, `"gb"` -> `"GB"`; undefined when it names no country. */
export function normalizeCountry(value: string): string | undefined {
  const key = value.trim().toUpperCase().replace(/\s+/g, ' ');
  if (key === '') return undefined;
  const alias = COUNTRY_ALIASES[key];
  if (alias) return alias;
  if (/^[A-Z]{2}$/.test(key)) return countryCodes.has(key) ? key : undefined;
  const byName = countriesByName();
  return byName.get(key) ?? byName.get(key.replace(/^THE /, ''));
}

/**
 * A phone number in E.164, read with the record's country when the number has none. Undefined
 * when it cannot be read (the caller keeps the raw value and flags it).
 */
export function normalizePhone(value: string, defaultCountry?: string): string | undefined {
  const parsed = parsePhoneNumberFromString(value.trim(), defaultCountry as never, phoneMetadata);
  return parsed?.isPossible() ? parsed.number : undefined;
}

/** A currency code, checked against the runtime's ISO 4217 list. */
export function normalizeCurrency(value: string): string | undefined {
  const code = value.trim().toUpperCase();
  return /^[A-Z]{3}$/.test(code) && Intl.supportedValuesOf('currency').includes(code) ? code : undefined;
}

/**
 * Where ICU's display digits differ from the ISO 4217 minor unit (ICU rounds these for display);
 * money must follow ISO, as payment APIs do.
 */
const ISO_MINOR_DIGITS: Record<string, number> = {
  IQD: 3,
  HUF: 2,
  IDR: 2,
  COP: 2,
  PKR: 2,
  IRR: 2,
  AFN: 2,
  ALL: 2,
  KPW: 2,
  LAK: 2,
  LBP: 2,
  MGA: 2,
  MMK: 2,
  SLL: 2,
  SOS: 2,
  SYP: 2,
  YER: 2,
};

/** Digits after the decimal point in a currency's ISO 4217 minor unit: USD 2, JPY 0, BHD 3. */
export function minorDigits(currency: string): number {
  return (
    ISO_MINOR_DIGITS[currency] ??
    new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ??
    2
  );
}

/**
 * An amount (`"19.99"`, `19.99`, `"1,299.00"`) as an integer in the currency's minor unit, with
 * exact decimal arithmetic (19.99 * 100 in floating point is 1998.9999999999998). Undefined when
 * it has more decimals than the currency allows, or is not a number.
 */
export function toMinorUnits(amount: string | number, currency: string): number | undefined {
  const text =
    typeof amount === 'number'
      ? Number.isFinite(amount)
        ? String(amount)
        : ''
      : amount.trim().replace(/,/g, '');
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return undefined;
  const digits = minorDigits(currency);
  const fraction = (match[3] ?? '').replace(/0+$/, '');
  if (fraction.length > digits) return undefined;
  const minor = Number(`${match[2]}${fraction.padEnd(digits, '0')}`);
  if (!Number.isSafeInteger(minor)) return undefined;
  return match[1] === '-' ? -minor : minor;
}

/** Epoch seconds or milliseconds, or any date string with a zone, to ISO 8601 UTC; years 1970-2200 only. */
export function normalizeTimestamp(value: string | number): string | undefined {
  let ms: number;
  if (typeof value === 'number') ms = value < 1e11 ? value * 1000 : value;
  else ms = /^\d+$/.test(value.trim()) ? normalizeEpochString(value.trim()) : Date.parse(value);
  if (!Number.isFinite(ms)) return undefined;
  const year = new Date(ms).getUTCFullYear();
  return year >= 1970 && year <= 2200 ? new Date(ms).toISOString() : undefined;
}

function normalizeEpochString(value: string): number {
  const n = Number(value);
  return n < 1e11 ? n * 1000 : n;
}
