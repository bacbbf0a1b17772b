import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { icuCountryCodes } from '../../functions/model/country-codes.js';
import { validateCustomer } from '../../functions/model/customer.js';
import {
  minorDigits,
  normalizeCountry,
  normalizeCurrency,
  normalizeEmail,
  normalizePhone,
  normalizeTimestamp,
  toMinorUnits,
} from '../../functions/model/normalize.js';
import { validateOrder } from '../../functions/model/order.js';

describe('normalizers', () => {
  it.each([
    ['  Ada.Lovelace@Example.COM ', 'ada.lovelace@example.com'],
    ['\tBOB@example.org\n', 'bob@example.org'],
  ])('email %j -> %j', (raw, normalized) => {
    expect(normalizeEmail(raw)).toBe(normalized);
  });

  it.each([
    ['+44 20 7946 0958', undefined, '+442079460958'],
    ['020 7946 0958', 'GB', '+442079460958'],
    ['(415) 555-0132', 'US', '+14155550132'],
    ['+1 415-555-0132', 'GB', '+14155550132'],
    ['0043 1 234567', 'AT', '+431234567'],
  ])('phone %j (country %s) -> %j', (raw, country, e164) => {
    expect(normalizePhone(raw, country)).toBe(e164);
  });

  it.each([
    ['020 7946 0958', undefined],
    ['not a phone', 'GB'],
    ['12', 'US'],
  ])('phone %j (country %s) cannot be read', (raw, country) => {
    expect(normalizePhone(raw, country)).toBeUndefined();
  });

  it.each([
    ['United Kingdom', 'GB'],
    ['UK', 'GB'],
    ['GB', 'GB'],
    ['gb', 'GB'],
    ['Great Britain', 'GB'],
    ['united states', 'US'],
    ['USA', 'US'],
    ['United States of America', 'US'],
    ['Germany', 'DE'],
    ['Deutschland', 'DE'],
    ['the Netherlands', 'NL'],
    ['Côte d’Ivoire', 'CI'],
  ])('country %j -> %j', (raw, code) => {
    expect(normalizeCountry(raw)).toBe(code);
  });

  it.each(['Atlantis', 'EU', 'ZZ', 'DD', 'XX', ''])('country %j is not a country', (raw) => {
    expect(normalizeCountry(raw)).toBeUndefined();
  });

  it("reads codes from country-codes.json, which is this Node's ICU (run npm run country-codes)", async () => {
    const committed = JSON.parse(
      await readFile(new URL('../../functions/model/country-codes.json', import.meta.url), 'utf8'),
    ) as string[];
    const codes = icuCountryCodes();
    expect(codes.length).toBeGreaterThan(240);
    expect(committed).toEqual(codes);
    // Every code ICU knows is accepted, and so is the name ICU gives it.
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    for (const code of codes) {
      expect(normalizeCountry(code.toLowerCase())).toBe(code);
      expect(normalizeCountry(names.of(code) ?? '')).toBe(code);
    }
  });

  it.each([
    ['usd', 'USD'],
    [' eur ', 'EUR'],
    ['JPY', 'JPY'],
  ])('currency %j -> %j', (raw, code) => {
    expect(normalizeCurrency(raw)).toBe(code);
  });

  it.each(['XYZ', 'dollars', 'US'])('currency %j is not ISO 4217', (raw) => {
    expect(normalizeCurrency(raw)).toBeUndefined();
  });

  it('knows each currency minor unit', () => {
    expect([minorDigits('USD'), minorDigits('JPY'), minorDigits('BHD')]).toEqual([2, 0, 3]);
    // ISO 4217, not ICU's display rounding.
    expect([minorDigits('HUF'), minorDigits('IQD'), minorDigits('IDR')]).toEqual([2, 3, 2]);
  });

  it.each([
    [19.99, 'USD', 1999],
    ['19.99', 'USD', 1999],
    [0.1, 'USD', 10],
    ['0.10', 'EUR', 10],
    ['1,299.00', 'GBP', 129900],
    [1000, 'USD', 100000],
    [1.005, 'BHD', 1005],
    ['500', 'JPY', 500],
    [1.15, 'USD', 115],
  ])('amount %j %s -> %i minor units, exactly', (amount, currency, minor) => {
    expect(toMinorUnits(amount, currency)).toBe(minor);
  });

  it.each([
    ['19.999', 'USD'],
    ['1.5', 'JPY'],
    ['abc', 'USD'],
    [Number.NaN, 'USD'],
    ['1e3', 'USD'],
  ])('amount %j %s has no exact minor-unit value', (amount, currency) => {
    expect(toMinorUnits(amount, currency)).toBeUndefined();
  });

  it.each([
    ['2026-11-22T10:00:00+01:00', '2026-11-22T09:00:00.000Z'],
    ['2026-11-22T09:00:00Z', '2026-11-22T09:00:00.000Z'],
    [1_763_802_000, '2025-11-22T09:00:00.000Z'],
    [1_763_802_000_000, '2025-11-22T09:00:00.000Z'],
    ['1763802000', '2025-11-22T09:00:00.000Z'],
  ])('timestamp %j -> %j', (raw, iso) => {
    expect(normalizeTimestamp(raw)).toBe(iso);
  });

  it.each(['20024-01-01T00:00:00Z', 'yesterday', '1969-12-31T23:59:59Z'])(
    'timestamp %j is refused',
    (raw) => {
      expect(normalizeTimestamp(raw)).toBeUndefined();
    },
  );
});

describe('customer rules', () => {
  const base = { email: 'a@example.com', refs: { stripe: 'cus_1' } };

  it('normalizes a messy customer: email, country name, national phone read with the country', () => {
    const result = validateCustomer({
      ...base,
      email: '  Jane.Doe@Example.COM ',
      phone: '020 7946 0958',
      address: { line1: '1 High St', city: 'London', country: 'United Kingdom' },
    });
    expect(result).toEqual({
      ok: true,
      data: {
        email: 'jane.doe@example.com',
        phone: '+442079460958',
        address: { line1: '1 High St', city: 'London', country: 'GB' },
        refs: { stripe: 'cus_1' },
      },
    });
  });

  it('keeps a phone it cannot read, raw, and flags it', () => {
    const result = validateCustomer({ ...base, phone: 'call the office' });
    expect(result).toMatchObject({ ok: true, data: { phone: 'call the office', flags: ['phone.unparsed'] } });
  });

  it.each([
    ['a missing email', { email: undefined }, 'customer.email.required', 'email'],
    ['an invalid email', { email: 'not-an-email' }, 'customer.email.format', 'email'],
    [
      'a country that is no country',
      { address: { country: 'Atlantis' } },
      'customer.address.country.format',
      'address.country',
    ],
    ['a name of 10 MB', { name: 'x'.repeat(10 * 1024 * 1024) }, 'customer.name.format', 'name'],
    ['a name of the wrong type', { name: 42 }, 'customer.name.format', 'name'],
    [
      'a date in year 20024',
      { updatedAt: '20024-01-01T00:00:00Z' },
      'customer.updatedAt.format',
      'updatedAt',
    ],
  ])('quarantines %s with a named rule and a redacted value', (_label, change, rule, field) => {
    const result = validateCustomer({ ...base, ...change });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reasons).toContainEqual(expect.objectContaining({ rule, field }));
    for (const reason of result.reasons) expect((reason.value ?? '').length).toBeLessThan(40);
  });

  it('says what limit a value broke where the rule has no message of its own (zod/mini with English)', () => {
    const result = validateCustomer({ ...base, email: `${'a'.repeat(330)}@example.com`, refs: { shop: 7 } });
    expect(result).toEqual({
      ok: false,
      reasons: [
        expect.objectContaining({
          rule: 'customer.email.format',
          message: 'Too big: expected string to have <=320 characters',
        }),
        expect.objectContaining({
          rule: 'customer.refs.shop.format',
          message: 'Invalid input: expected string, received number',
        }),
      ],
    });
  });
});

describe('order rules', () => {
  const order = {
    number: '#1001',
    currency: 'usd',
    total: 19.99,
    lines: [{ sku: 'SKU-1', quantity: 1, unitPrice: '19.99' }],
    status: 'paid',
    placedAt: '2026-11-22T10:00:00+01:00',
    refs: { shopify: '1001' },
  };

  it('normalizes currency, float and string amounts to minor units, and dates to UTC', () => {
    expect(validateOrder(order)).toEqual({
      ok: true,
      data: {
        number: '#1001',
        currency: 'USD',
        totalMinor: 1999,
        lines: [{ sku: 'SKU-1', quantity: 1, unitPriceMinor: 1999 }],
        status: 'paid',
        placedAt: '2026-11-22T09:00:00.000Z',
        refs: { shopify: '1001' },
      },
    });
  });

  it.each([
    [
      'a negative quantity',
      { lines: [{ sku: 'A', quantity: -2, unitPriceMinor: 100 }] },
      'order.lines[].quantity.format',
    ],
    [
      'a fractional quantity',
      { lines: [{ sku: 'A', quantity: 1.5, unitPriceMinor: 100 }] },
      'order.lines[].quantity.format',
    ],
    ['an unknown currency', { currency: 'XYZ' }, 'order.currency.format'],
    ['an amount with too many decimals', { total: '19.999' }, 'order.totalMinor.format'],
    ['a date in year 20024', { placedAt: '20024-01-01T00:00:00Z' }, 'order.placedAt.format'],
    ['a missing number', { number: undefined }, 'order.number.required'],
    ['lines that are not a list', { lines: 'three' }, 'order.lines.format'],
  ])('quarantines an order with %s', (_label, change, rule) => {
    const result = validateOrder({ ...order, ...change });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reasons.map((r) => r.rule)).toContain(rule);
  });
});
