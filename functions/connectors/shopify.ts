import { FatalError, type QuarantineReason } from '../core/errors.js';
import type { Envelope, SourceRecord } from '../core/messages.js';
import { redactValue } from '../core/redact.js';
import { minorDigits } from '../model/normalize.js';
import {
  badSignature,
  encodedMacMatches,
  eventIdFrom,
  eventJson,
  headerValue,
  keep,
  matchingSecret,
  singleEvent,
} from './hmac.js';
import { hmac } from './signing.js';
import type { ParsedEvent, VerifyOptions, WebhookConnector, WebhookRequest } from './types.js';

/**
 * Shopify webhooks: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body, keyed with the
 * app's client secret as UTF-8. Shopify signs no timestamp, so there is no replay window: a replay is
 * a duplicate, and X-Shopify-Webhook-Id (the same on every retry) is the event id the pipeline
 * dedupes on. After a secret rotation Shopify may sign with the old secret for up to an hour: both
 * are tried, and the matched index says when the old one can go.
 *
 * Built-in mapping, by X-Shopify-Topic:
 * - customers/create, customers/update: a customer; version = updated_at (epoch ms).
 * - customers/delete: a deleted customer; its payload has no updated_at, so the version is
 *   X-Shopify-Triggered-At, or the time ingest accepted the event when that header is absent.
 * - orders/create, orders/updated, orders/paid, orders/cancelled: an order; version = updated_at.
 * - anything else: no record.
 *
 * Decisions:
 * - Ids: Shopify ids can exceed 2^53 (JSON numbers lose digits past that), so the exact id is read
 *   from `admin_graphql_api_id` (`gid://shopify/Customer/<id>`) when present, else from `id` when it
 *   is a safe integer; an id that lost precision is a FatalError rather than a wrong link.
 * - Money: amounts are decimal strings ("19.99") in the shop currency (`currency`); they are converted
 *   with exact string arithmetic to the currency's minor unit as the canonical model defines it
 *   (`minorDigits` in model/normalize.ts): 2 decimals for most, 0 for zero-decimal currencies (JPY
 *   "1000" or "1000.00" -> 1000), 3 for BHD, JOD, KWD, OMR, TND. More significant decimals than the
 *   currency has ("19.999" USD, "1000.50" JPY), a negative or non-decimal amount is a FatalError:
 *   never rounded, never a float multiply.
 * - Order status: `cancelled` when cancelled_at is set, else financial_status (`paid`, `pending`,
 *   `refunded`, ...), else `pending`.
 * - Line sku: the line's sku, else its variant_id; a custom line with neither is left without a sku
 *   so validation quarantines the order with the reason.
 * - Times are normalised to UTC ISO 8601 (`...Z`); an unparseable one is passed through for
 *   validation to name.
 */

const HMAC_HEADER = 'x-shopify-hmac-sha256';
const TOPIC = 'x-shopify-topic';
const WEBHOOK_ID = 'x-shopify-webhook-id';
const TRIGGERED_AT = 'x-shopify-triggered-at';
const KEPT = [TOPIC, 'x-shopify-shop-domain', 'x-shopify-api-version', TRIGGERED_AT];

function verify(request: WebhookRequest, options: VerifyOptions): { secretIndex: number } {
  const received = headerValue(request, HMAC_HEADER);
  const secretIndex = matchingSecret(options.secrets, (secret) =>
    encodedMacMatches(hmac('sha256', secret, [request.rawBody]), received, 'base64'),
  );
  if (secretIndex < 0) throw badSignature('X-Shopify-Hmac-Sha256 matches no signing secret');
  return { secretIndex };
}

function parse(request: WebhookRequest): ParsedEvent[] {
  return singleEvent(
    request,
    eventIdFrom(headerValue(request, WEBHOOK_ID), 'X-Shopify-Webhook-Id'),
    keep(request, KEPT),
  );
}

// ---------------------------------------------------------------------------------------------
// Money

/**
 * Decimal places of a currency's minor unit. The canonical model's definition (one for every source,
 * so the same order from two systems has the same totalMinor): JPY 0, USD 2, KWD 3.
 */
export function minorUnitExponent(currency: string): number {
  return minorDigits(currency.toUpperCase());
}

function money(field: string, message: string, value: unknown, rule: string): FatalError {
  return new FatalError(`Shopify amount ${field} ${message}`, [
    { rule, field, message, value: redactValue(value) },
  ]);
}

/**
 * A decimal amount ("19.99", or a JSON number Shopify sometimes sends) in the currency's minor units
 * (1999), by exact string arithmetic. Throws FatalError for anything that is not an exact,
 * non-negative amount in that currency.
 */
export function decimalToMinor(amount: unknown, currency: string, field = 'amount'): number {
  const text = typeof amount === 'number' && Number.isFinite(amount) ? String(amount) : amount;
  const match = typeof text === 'string' ? /^(\d{1,16})(?:\.(\d{1,20}))?$/.exec(text.trim()) : null;
  if (!match) {
    throw money(field, 'is not a non-negative decimal amount', amount, 'shopify.amount.format');
  }
  const exponent = minorUnitExponent(currency);
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  if (fraction.replace(/0+$/, '').length > exponent) {
    throw money(
      field,
      `has more decimals than ${currency.toUpperCase()} has minor units (${exponent})`,
      amount,
      'shopify.amount.precision',
    );
  }
  const minor = BigInt(whole + fraction.padEnd(exponent, '0').slice(0, exponent));
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw money(field, 'is too large', amount, 'shopify.amount.range');
  }
  return Number(minor);
}

// ---------------------------------------------------------------------------------------------
// Mapping

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | null | undefined {
  if (value === null) return null;
  return typeof value === 'string' ? value : undefined;
}

function shape(topic: string, field: string, message: string, value?: unknown): FatalError {
  const reason: QuarantineReason = { rule: 'shopify.event.shape', field, message };
  return new FatalError(`Shopify ${topic} event: ${field} ${message}`, [
    value === undefined ? reason : { ...reason, value: redactValue(value) },
  ]);
}

/**
 * A Shopify object's id, exactly: from `admin_graphql_api_id` when present, else `id` when it is a
 * safe integer (or a numeric string). Undefined when the object has neither.
 */
export function shopifyId(object: Json, topic: string, field: string): string | undefined {
  const gid = object.admin_graphql_api_id;
  if (typeof gid === 'string') {
    const match = /^gid:\/\/shopify\/[A-Za-z]+\/(\d+)(?:\?.*)?$/.exec(gid);
    if (match?.[1]) return match[1];
  }
  const id = object.id;
  if (typeof id === 'string' && /^\d{1,30}$/.test(id)) return id;
  if (typeof id === 'number') {
    if (Number.isSafeInteger(id) && id > 0) return String(id);
    throw shape(topic, field, 'is a number too large to be exact and no admin_graphql_api_id gives it', id);
  }
  return undefined;
}

function requiredId(object: Json, topic: string, field: string): string {
  const id = shopifyId(object, topic, field);
  if (id === undefined) throw shape(topic, field, 'is missing');
  return id;
}

function timeVersion(object: Json, topic: string): number {
  const version = typeof object.updated_at === 'string' ? Date.parse(object.updated_at) : Number.NaN;
  if (Number.isNaN(version)) throw shape(topic, 'updated_at', 'is missing or not a date', object.updated_at);
  return version;
}

/** UTC ISO 8601 for a parseable time; anything else as is, for validation to name. */
function isoTime(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString();
}

function personName(first: unknown, last: unknown): string | null | undefined {
  if (first === undefined && last === undefined) return undefined;
  const parts = [first, last].filter((p): p is string => typeof p === 'string' && p.trim() !== '');
  return parts.length > 0 ? parts.map((p) => p.trim()).join(' ') : null;
}

/** One side of the name as Shopify holds it (v2's split); blank is cleared, absent says nothing. */
function namePart(value: unknown): string | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'string') return undefined;
  return value.trim() === '' ? null : value.trim();
}

function shopifyAddress(value: unknown): Json | null | undefined {
  if (value === null) return null;
  if (!isObject(value)) return undefined;
  return {
    line1: text(value.address1),
    line2: text(value.address2),
    city: text(value.city),
    region: text(value.province_code) ?? text(value.province),
    postalCode: text(value.zip),
    country: text(value.country_code),
  };
}

function customerRecords(body: Json, topic: string, envelope: Envelope): SourceRecord[] {
  const id = requiredId(body, topic, 'id');
  const refs = { shopify: id };
  if (topic === 'customers/delete') {
    const stated = [body.updated_at, envelope.headers[TRIGGERED_AT]]
      .map((value) => (typeof value === 'string' ? Date.parse(value) : Number.NaN))
      .find((ms) => !Number.isNaN(ms));
    return [
      {
        entity: 'customer',
        sourceId: id,
        version: stated ?? envelope.receivedAt,
        deleted: true,
        data: { refs },
      },
    ];
  }
  const version = timeVersion(body, topic);
  return [
    {
      entity: 'customer',
      sourceId: id,
      version,
      deleted: false,
      data: {
        email: text(body.email),
        name: personName(body.first_name, body.last_name),
        givenName: namePart(body.first_name),
        familyName: namePart(body.last_name),
        phone: text(body.phone),
        address: shopifyAddress(body.default_address),
        refs,
        updatedAt: new Date(version).toISOString(),
      },
      // Shopify knows first and last name: its customers are canonical v2.
      schemaVersion: 2,
    },
  ];
}

function orderStatus(order: Json): string {
  if (order.cancelled_at !== null && order.cancelled_at !== undefined) return 'cancelled';
  return typeof order.financial_status === 'string' && order.financial_status !== ''
    ? order.financial_status
    : 'pending';
}

function orderRecords(order: Json, topic: string): SourceRecord[] {
  const id = requiredId(order, topic, 'id');
  const version = timeVersion(order, topic);
  const currency = text(order.currency);
  if (!currency || !/^[A-Za-z]{3}$/.test(currency))
    throw shape(topic, 'currency', 'is not an ISO 4217 code', currency);
  const items = order.line_items ?? [];
  if (!Array.isArray(items)) throw shape(topic, 'line_items', 'is not a list');
  const lines = items.map((item: unknown, i) => {
    const line = isObject(item) ? item : {};
    const variant = line.variant_id;
    const sku =
      typeof line.sku === 'string' && line.sku.trim() !== ''
        ? line.sku
        : typeof variant === 'number' || (typeof variant === 'string' && variant !== '')
          ? String(variant)
          : undefined;
    return {
      sku,
      quantity: line.quantity,
      unitPriceMinor: decimalToMinor(line.price, currency, `line_items[${i}].price`),
    };
  });
  const customer = isObject(order.customer) ? order.customer : undefined;
  const number =
    typeof order.name === 'string' && order.name !== ''
      ? order.name
      : typeof order.order_number === 'number' || typeof order.order_number === 'string'
        ? String(order.order_number)
        : undefined;
  return [
    {
      entity: 'order',
      sourceId: id,
      version,
      deleted: false,
      data: {
        customerId: customer ? (shopifyId(customer, topic, 'customer.id') ?? null) : null,
        customerEmail:
          text(order.email) || text(order.contact_email) || (customer ? text(customer.email) : null) || null,
        number,
        currency: currency.toUpperCase(),
        totalMinor: decimalToMinor(order.total_price, currency, 'total_price'),
        lines,
        status: orderStatus(order),
        placedAt: isoTime(order.created_at),
        refs: { shopify: id },
        updatedAt: new Date(version).toISOString(),
      },
    },
  ];
}

const CUSTOMER_TOPICS = new Set(['customers/create', 'customers/update', 'customers/delete']);
const ORDER_TOPICS = new Set(['orders/create', 'orders/updated', 'orders/paid', 'orders/cancelled']);

function toRecords(envelope: Envelope): readonly SourceRecord[] {
  const topic = envelope.headers[TOPIC] ?? '';
  if (!CUSTOMER_TOPICS.has(topic) && !ORDER_TOPICS.has(topic)) return [];
  const body = eventJson(envelope, 'Shopify');
  if (!isObject(body)) throw shape(topic, '(body)', 'is not a JSON object');
  return CUSTOMER_TOPICS.has(topic) ? customerRecords(body, topic, envelope) : orderRecords(body, topic);
}

export const shopifyConnector: WebhookConnector<'shopify'> = {
  kind: 'webhook',
  name: 'shopify',
  requiredHeaders: () => [HMAC_HEADER, TOPIC, WEBHOOK_ID],
  verify,
  parse,
  toRecords,
};
