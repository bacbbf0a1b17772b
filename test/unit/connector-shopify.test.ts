import { describe, expect, it } from 'vitest';
import { decimalToMinor, minorUnitExponent, shopifyConnector } from '../../functions/connectors/shopify.js';
import { FatalError } from '../../functions/core/errors.js';
import { validateCustomerV2 } from '../../functions/model/customer.js';
import { validateOrder } from '../../functions/model/order.js';
import { envelope, shopifySignature, sourceSettings, webhookRequest } from '../support/signers.js';

const settings = sourceSettings({ connector: 'shopify' });
const RECEIVED_AT = Date.UTC(2024, 4, 1, 12, 0, 0);

function records(topic: string, body: unknown, extraHeaders: Record<string, string> = {}) {
  return shopifyConnector.toRecords(
    envelope(body, { 'x-shopify-topic': topic, ...extraHeaders }, RECEIVED_AT),
    settings,
  );
}

function fatal(fn: () => unknown): FatalError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FatalError);
    return error as FatalError;
  }
  throw new Error('expected a FatalError');
}

describe('Shopify amounts: exact decimal strings to minor units', () => {
  it.each([
    ['19.99', 'USD', 1999],
    ['0.10', 'USD', 10],
    ['0.01', 'USD', 1],
    ['1000', 'USD', 100000],
    ['0', 'USD', 0],
    ['0.00', 'EUR', 0],
    ['19.990', 'USD', 1999],
    ['19.9', 'USD', 1990],
    ['007.50', 'GBP', 750],
    [' 5.00 ', 'USD', 500],
    ['1000', 'JPY', 1000],
    ['1000.00', 'JPY', 1000],
    ['1.234', 'KWD', 1234],
    ['1.2', 'BHD', 1200],
    ['12345678901234.56', 'USD', 1234567890123456],
    // Values where a float multiply goes wrong: 1.005 * 100 = 100.49999..., 4.35 * 100 = 434.99999...
    ['4.35', 'USD', 435],
    ['1.15', 'USD', 115],
    ['1.005', 'KWD', 1005],
  ])('%s %s -> %i', (amount, currency, minor) => {
    expect(decimalToMinor(amount, currency)).toBe(minor);
  });

  it.each([
    ['19.999', 'USD', 'shopify.amount.precision'],
    ['0.001', 'EUR', 'shopify.amount.precision'],
    ['1000.50', 'JPY', 'shopify.amount.precision'],
    ['1.2345', 'KWD', 'shopify.amount.precision'],
    ['-1.00', 'USD', 'shopify.amount.format'],
    ['1e3', 'USD', 'shopify.amount.format'],
    ['1,000.00', 'USD', 'shopify.amount.format'],
    ['.50', 'USD', 'shopify.amount.format'],
    ['12.', 'USD', 'shopify.amount.format'],
    ['', 'USD', 'shopify.amount.format'],
    ['NaN', 'USD', 'shopify.amount.format'],
    ['99999999999999999.00', 'USD', 'shopify.amount.format'],
    ['9999999999999999.00', 'USD', 'shopify.amount.range'],
  ])('rejects %s %s as a FatalError (%s)', (amount, currency, rule) => {
    const error = fatal(() => decimalToMinor(amount, currency, 'total_price'));
    expect(error.reasons).toEqual([expect.objectContaining({ rule, field: 'total_price' })]);
  });

  it('takes a JSON number through its shortest decimal form, never multiplying a float', () => {
    expect(decimalToMinor(19.99, 'USD')).toBe(1999);
    expect(decimalToMinor(4.35, 'USD')).toBe(435);
    expect(fatal(() => decimalToMinor(0.1 + 0.2, 'USD')).reasons[0]?.rule).toBe('shopify.amount.precision');
  });

  it.each([null, undefined, {}, [], true])('rejects %j', (amount) => {
    expect(fatal(() => decimalToMinor(amount, 'USD')).reasons[0]?.rule).toBe('shopify.amount.format');
  });

  it('uses the canonical minor units: 0 for zero-decimal currencies, 3 for three-decimal ones, else 2', () => {
    expect(['JPY', 'KRW', 'VND', 'CLP', 'ISK', 'jpy'].map(minorUnitExponent)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(['KWD', 'BHD', 'JOD', 'OMR', 'TND'].map(minorUnitExponent)).toEqual([3, 3, 3, 3, 3]);
    expect(['USD', 'EUR', 'GBP', 'CAD', 'XYZ'].map(minorUnitExponent)).toEqual([2, 2, 2, 2, 2]);
  });
});

describe('Shopify verify and parse', () => {
  const body = '{"id":1}';
  const headers = {
    'x-shopify-hmac-sha256': shopifySignature(body, 'secret'),
    'x-shopify-topic': 'orders/create',
    'x-shopify-webhook-id': 'wh-1',
    'x-shopify-shop-domain': 'acme.myshopify.com',
    'x-shopify-api-version': '2025-01',
    'x-shopify-event-id': 'ev-9',
  };

  it('requires the HMAC, topic and webhook id headers', () => {
    expect(shopifyConnector.requiredHeaders(settings)).toEqual([
      'x-shopify-hmac-sha256',
      'x-shopify-topic',
      'x-shopify-webhook-id',
    ]);
  });

  it('tries every secret and reports the one that matched', () => {
    const request = webhookRequest(body, headers);
    expect(shopifyConnector.verify(request, { secrets: ['new', 'secret'], now: 0 }, settings)).toEqual({
      secretIndex: 1,
    });
    expect(() => shopifyConnector.verify(request, { secrets: ['new'], now: 0 }, settings)).toThrow(
      expect.objectContaining({ status: 401, code: 'bad_signature' }),
    );
    expect(() => shopifyConnector.verify(request, { secrets: [], now: 0 }, settings)).toThrow(
      /matches no signing secret/,
    );
  });

  it('uses X-Shopify-Webhook-Id as the event id and keeps only the headers the mapping needs', () => {
    expect(shopifyConnector.parse(webhookRequest(body, headers), { id: 1 }, settings)).toEqual([
      {
        eventId: 'wh-1',
        body,
        keepHeaders: {
          'x-shopify-topic': 'orders/create',
          'x-shopify-shop-domain': 'acme.myshopify.com',
          'x-shopify-api-version': '2025-01',
        },
      },
    ]);
  });
});

const customer = {
  id: 207119551,
  email: 'Bob.Norman@Example.com',
  first_name: 'Bob',
  last_name: 'Norman',
  phone: '+16136120707',
  created_at: '2024-04-30T10:00:00-04:00',
  updated_at: '2024-05-01T07:59:00-04:00',
  default_address: {
    id: 207119551,
    address1: 'Chestnut Street 92',
    address2: 'Apt 2',
    city: 'Louisville',
    province: 'Kentucky',
    province_code: 'KY',
    zip: '40202',
    country: 'United States',
    country_code: 'US',
  },
  admin_graphql_api_id: 'gid://shopify/Customer/207119551',
};

describe('Shopify customers', () => {
  it('maps customers/create to a canonical customer, versioned by updated_at', () => {
    const [record, ...rest] = records('customers/create', customer);
    expect(rest).toEqual([]);
    expect(record).toEqual({
      entity: 'customer',
      sourceId: '207119551',
      version: Date.parse('2024-05-01T11:59:00Z'),
      deleted: false,
      data: {
        email: 'Bob.Norman@Example.com',
        name: 'Bob Norman',
        givenName: 'Bob',
        familyName: 'Norman',
        phone: '+16136120707',
        address: {
          line1: 'Chestnut Street 92',
          line2: 'Apt 2',
          city: 'Louisville',
          region: 'KY',
          postalCode: '40202',
          country: 'US',
        },
        refs: { shopify: '207119551' },
        updatedAt: '2024-05-01T11:59:00.000Z',
      },
      schemaVersion: 2,
    });
    expect(validateCustomerV2(record?.data ?? {})).toMatchObject({
      ok: true,
      data: { email: 'bob.norman@example.com' },
    });
  });

  it('maps customers/update the same way, with the province name when there is no code', () => {
    const [record] = records('customers/update', {
      ...customer,
      default_address: { ...customer.default_address, province_code: null, province: 'Kentucky' },
    });
    expect(record?.data.address).toMatchObject({ region: 'Kentucky' });
  });

  it.each([
    ['both names', 'Bob', 'Norman', 'Bob Norman', 'Bob', 'Norman'],
    ['a first name only', 'Bob', null, 'Bob', 'Bob', null],
    ['a last name only', null, 'Norman', 'Norman', null, 'Norman'],
    ['names with spaces around', ' Bob ', ' Norman ', 'Bob Norman', 'Bob', 'Norman'],
    ['both null', null, null, null, null, null],
    ['both empty', '', '', null, null, null],
  ])('builds the name and its v2 split from %s', (_label, first, last, name, givenName, familyName) => {
    const [record] = records('customers/update', { ...customer, first_name: first, last_name: last });
    expect(record?.data.name).toBe(name);
    expect(record?.data.givenName).toBe(givenName);
    expect(record?.data.familyName).toBe(familyName);
  });

  it('says nothing about fields the payload does not carry, and clears the ones it sets to null', () => {
    const { first_name: _f, last_name: _l, default_address: _a, ...bare } = customer;
    const [record] = records('customers/update', { ...bare, phone: null });
    expect(record?.data).not.toHaveProperty('name', expect.anything());
    expect(record?.data.name).toBeUndefined();
    expect(record?.data.address).toBeUndefined();
    expect(record?.data.phone).toBeNull();
    const [cleared] = records('customers/update', { ...customer, default_address: null });
    expect(cleared?.data.address).toBeNull();
  });

  it('reads an id past 2^53 exactly from admin_graphql_api_id, and refuses one that lost its digits', () => {
    const raw =
      '{"id":706405506930370084,"email":"a@example.com","updated_at":"2024-05-01T00:00:00Z",' +
      '"admin_graphql_api_id":"gid:\\/\\/shopify\\/Customer\\/706405506930370084"}';
    expect(records('customers/create', raw)[0]?.sourceId).toBe('706405506930370084');
    const lossy = '{"id":706405506930370084,"email":"a@example.com","updated_at":"2024-05-01T00:00:00Z"}';
    const error = fatal(() => records('customers/create', lossy));
    expect(error.reasons[0]).toMatchObject({ rule: 'shopify.event.shape', field: 'id' });
  });

  it('maps customers/delete to a deleted customer, versioned by updated_at, X-Shopify-Triggered-At or receipt', () => {
    const deleted = { id: 207119551, admin_graphql_api_id: 'gid://shopify/Customer/207119551' };
    expect(records('customers/delete', deleted)).toEqual([
      {
        entity: 'customer',
        sourceId: '207119551',
        version: RECEIVED_AT,
        deleted: true,
        data: { refs: { shopify: '207119551' } },
      },
    ]);
    const triggered = records('customers/delete', deleted, {
      'x-shopify-triggered-at': '2024-05-01T11:00:00.000Z',
    });
    expect(triggered[0]?.version).toBe(Date.parse('2024-05-01T11:00:00Z'));
    const stated = records('customers/delete', { ...deleted, updated_at: '2024-05-01T10:00:00Z' });
    expect(stated[0]?.version).toBe(Date.parse('2024-05-01T10:00:00Z'));
  });

  it.each([
    ['no id', { ...customer, id: undefined, admin_graphql_api_id: undefined }, 'id'],
    ['no updated_at', { ...customer, updated_at: undefined }, 'updated_at'],
    ['an updated_at that is no date', { ...customer, updated_at: 'yesterday' }, 'updated_at'],
  ])('is a FatalError with %s', (_label, body, field) => {
    expect(fatal(() => records('customers/update', body)).reasons[0]).toMatchObject({ field });
  });
});

const order = {
  id: 450789469,
  admin_graphql_api_id: 'gid://shopify/Order/450789469',
  name: '#1001',
  order_number: 1001,
  email: 'Bob.Norman@Example.com',
  currency: 'USD',
  total_price: '409.94',
  financial_status: 'paid',
  cancelled_at: null,
  created_at: '2024-05-01T07:00:00-04:00',
  updated_at: '2024-05-01T07:05:00-04:00',
  customer: {
    id: 207119551,
    email: 'bob.norman@example.com',
    admin_graphql_api_id: 'gid://shopify/Customer/207119551',
  },
  line_items: [
    { id: 1, variant_id: 39072856, sku: 'IPOD2008GREEN', quantity: 1, price: '199.00' },
    { id: 2, variant_id: 457924702, sku: '', quantity: 2, price: '99.97' },
  ],
};

describe('Shopify orders', () => {
  it.each(['orders/create', 'orders/updated', 'orders/paid', 'orders/cancelled'])(
    'maps %s to a canonical order',
    (topic) => {
      const [record, ...rest] = records(topic, order);
      expect(rest).toEqual([]);
      expect(record).toEqual({
        entity: 'order',
        sourceId: '450789469',
        version: Date.parse('2024-05-01T11:05:00Z'),
        deleted: false,
        data: {
          customerId: '207119551',
          customerEmail: 'Bob.Norman@Example.com',
          number: '#1001',
          currency: 'USD',
          totalMinor: 40994,
          lines: [
            { sku: 'IPOD2008GREEN', quantity: 1, unitPriceMinor: 19900 },
            { sku: '457924702', quantity: 2, unitPriceMinor: 9997 },
          ],
          status: 'paid',
          placedAt: '2024-05-01T11:00:00.000Z',
          refs: { shopify: '450789469' },
          updatedAt: '2024-05-01T11:05:00.000Z',
        },
      });
      expect(validateOrder(record?.data ?? {})).toMatchObject({ ok: true });
    },
  );

  it.each([
    ['cancelled_at set', { cancelled_at: '2024-05-02T00:00:00Z', financial_status: 'refunded' }, 'cancelled'],
    ['pending payment', { financial_status: 'pending' }, 'pending'],
    ['partially refunded', { financial_status: 'partially_refunded' }, 'partially_refunded'],
    ['no financial_status', { financial_status: null }, 'pending'],
  ])('sets the status from %s', (_label, change, status) => {
    expect(records('orders/updated', { ...order, ...change })[0]?.data.status).toBe(status);
  });

  it('falls back to order_number, to customer.email, and to no customer for a guest checkout', () => {
    const [guest] = records('orders/create', { ...order, name: undefined, email: null, customer: null });
    expect(guest?.data).toMatchObject({ number: '1001', customerId: null, customerEmail: null });
    const [byCustomer] = records('orders/create', { ...order, email: '' });
    expect(byCustomer?.data.customerEmail).toBe('bob.norman@example.com');
  });

  it('converts money in the shop currency, zero-decimal ones included', () => {
    const [yen] = records('orders/create', {
      ...order,
      currency: 'JPY',
      total_price: '4100',
      line_items: [{ sku: 'TEA', quantity: 2, price: '2050.00' }],
    });
    expect(yen?.data).toMatchObject({ currency: 'JPY', totalMinor: 4100, lines: [{ unitPriceMinor: 2050 }] });
  });

  it('is a FatalError for money it cannot convert exactly, naming the field', () => {
    expect(
      fatal(() => records('orders/create', { ...order, total_price: '409.945' })).reasons[0],
    ).toMatchObject({
      rule: 'shopify.amount.precision',
      field: 'total_price',
    });
    const badLine = { ...order, line_items: [order.line_items[0], { sku: 'X', quantity: 1, price: 'free' }] };
    expect(fatal(() => records('orders/create', badLine)).reasons[0]).toMatchObject({
      rule: 'shopify.amount.format',
      field: 'line_items[1].price',
    });
    expect(fatal(() => records('orders/create', { ...order, currency: 'dollars' })).reasons[0]).toMatchObject(
      {
        field: 'currency',
      },
    );
  });

  it('leaves a custom line without sku or variant for validation to name', () => {
    const [record] = records('orders/create', {
      ...order,
      line_items: [{ title: 'Gift wrap', quantity: 1, price: '5.00' }],
    });
    const result = validateOrder(record?.data ?? {});
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reasons.map((r) => r.field)).toContain('lines.0.sku');
  });
});

describe('Shopify topics without a mapping', () => {
  it.each(['products/update', 'orders/delete', 'app/uninstalled', 'shop/update', ''])(
    'maps %j to nothing',
    (topic) => {
      expect(records(topic, { id: 1 })).toEqual([]);
    },
  );

  it('quarantines a mapped topic whose body is not a JSON object', () => {
    expect(fatal(() => records('orders/create', 'not json')).reasons[0]?.rule).toBe('shopify.event.json');
    expect(fatal(() => records('orders/create', '[1,2]')).reasons[0]?.rule).toBe('shopify.event.shape');
  });
});
