import { FatalError, RejectedRequestError } from '../core/errors.js';
import type { Envelope, SourceRecord } from '../core/messages.js';
import { hmac, macMatches } from './signing.js';
import type { ParsedEvent, VerifyOptions, WebhookConnector, WebhookRequest } from './types.js';

const SIGNATURE_HEADER = 'stripe-signature';

interface StripeSignatureHeader {
  readonly timestamp: number;
  /** The `t` value as sent: the bytes Stripe signed. */
  readonly timestampText: string;
  readonly signatures: readonly string[];
}

/**
 * `t=<seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`: every v1 is tried, other schemes are ignored. As
 * strict as Stripe's SDK (no spaces, lower-case hex), so what verifies here verifies there too.
 */
export function parseStripeSignatureHeader(header: string): StripeSignatureHeader | undefined {
  let timestamp: number | undefined;
  let timestampText = '';
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 't' && /^\d{1,12}$/.test(value)) {
      timestamp = Number(value);
      timestampText = value;
    }
    if (key === 'v1' && value.length > 0) signatures.push(value);
  }
  return timestamp === undefined || signatures.length === 0
    ? undefined
    : { timestamp, timestampText, signatures };
}

function verify(
  request: WebhookRequest,
  options: VerifyOptions,
  settings: { readonly toleranceSeconds: number },
): { secretIndex: number } {
  const header = request.headers[SIGNATURE_HEADER] ?? '';
  const parsed = parseStripeSignatureHeader(header);
  if (!parsed) {
    throw new RejectedRequestError(
      401,
      'bad_signature',
      'Stripe-Signature has no t= timestamp or no v1= signature',
    );
  }
  // The key is the whole `whsec_...` string as UTF-8 (Stripe does not decode it).
  const secretIndex = options.secrets.findIndex((secret) => {
    const expected = hmac('sha256', secret, [`${parsed.timestampText}.`, request.rawBody]);
    return parsed.signatures.some((signature) => macMatches(expected, signature, 'hex'));
  });
  if (secretIndex < 0) {
    throw new RejectedRequestError(
      401,
      'bad_signature',
      'No v1 signature in Stripe-Signature matches a signing secret',
    );
  }
  // Checked after the signature, since only a verified timestamp means anything. Unlike Stripe's SDK,
  // a timestamp too far in the future is rejected too: a clock that far ahead is a replay risk.
  const ageSeconds = options.now / 1000 - parsed.timestamp;
  if (Math.abs(ageSeconds) > settings.toleranceSeconds) {
    throw new RejectedRequestError(
      401,
      'timestamp_out_of_window',
      `Stripe-Signature timestamp is ${Math.round(Math.abs(ageSeconds))} s ${ageSeconds > 0 ? 'old' : 'in the future'}; the window is ${settings.toleranceSeconds} s`,
    );
  }
  return { secretIndex };
}

function parse(request: WebhookRequest, body: unknown): ParsedEvent[] {
  const id = (body as { id?: unknown } | null)?.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 255) {
    throw new RejectedRequestError(400, 'missing_event_id', 'A Stripe event needs a string "id" (evt_...)');
  }
  return [{ eventId: id, body: request.rawBody.toString('utf8'), keepHeaders: {} }];
}

interface StripeEvent {
  id?: unknown;
  type?: unknown;
  created?: unknown;
  data?: { object?: Record<string, unknown> | null } | null;
}

const CUSTOMER_EVENTS = new Set(['customer.created', 'customer.updated', 'customer.deleted']);

function text(value: unknown): string | null | undefined {
  if (value === null) return null;
  return typeof value === 'string' ? value : undefined;
}

function stripeAddress(value: unknown): Record<string, unknown> | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'object' || value === undefined) return undefined;
  const a = value as Record<string, unknown>;
  return {
    line1: text(a.line1),
    line2: text(a.line2),
    city: text(a.city),
    region: text(a.state),
    postalCode: text(a.postal_code),
    country: text(a.country),
  };
}

const INVOICE_EVENTS = new Set([
  'invoice.created',
  'invoice.finalized',
  'invoice.updated',
  'invoice.paid',
  'invoice.voided',
  'invoice.marked_uncollectible',
]);

/** Epoch seconds as ISO 8601; a value Date cannot hold is left as is, for validation to name. */
const epochIso = (seconds: unknown) =>
  typeof seconds === 'number' && Number.isFinite(seconds) && Math.abs(seconds) <= 8.64e12
    ? new Date(seconds * 1000).toISOString()
    : seconds;

/** Stripe invoices: amounts are already integers in the currency's minor unit. */
function invoiceRecords(event: StripeEvent): SourceRecord[] {
  const invoice = event.data?.object;
  if (
    !invoice ||
    typeof invoice.id !== 'string' ||
    invoice.id.length > 255 ||
    typeof event.created !== 'number' ||
    Math.abs(event.created) > 8.64e12
  ) {
    const badId = !invoice || typeof invoice.id !== 'string' || invoice.id.length > 255;
    throw new FatalError(`Stripe ${String(event.type)} event lacks a usable data.object.id or created`, [
      {
        rule: 'stripe.event.shape',
        field: badId ? 'data.object.id' : 'created',
        message:
          'an invoice event needs data.object.id (at most 255 characters) and created (a date in range)',
      },
    ]);
  }
  return [
    {
      entity: 'invoice',
      sourceId: invoice.id,
      version: event.created,
      deleted: false,
      data: {
        customerId: text(invoice.customer),
        number: text(invoice.number),
        currency: typeof invoice.currency === 'string' ? invoice.currency.toUpperCase() : invoice.currency,
        totalMinor: invoice.total,
        amountDueMinor: invoice.amount_due,
        status: invoice.status,
        issuedAt: epochIso(invoice.created),
        dueAt: invoice.due_date === null ? null : epochIso(invoice.due_date),
        refs: { stripe: invoice.id },
        updatedAt: epochIso(event.created),
      },
    },
  ];
}

function toRecords(envelope: Envelope): readonly SourceRecord[] {
  let event: StripeEvent;
  try {
    event = JSON.parse(envelope.body) as StripeEvent;
  } catch (error) {
    throw new FatalError(
      'Stripe event body is not JSON',
      [{ rule: 'stripe.event.json', message: 'body is not JSON' }],
      {
        cause: error,
      },
    );
  }
  if (typeof event.type === 'string' && INVOICE_EVENTS.has(event.type)) return invoiceRecords(event);
  if (typeof event.type !== 'string' || !CUSTOMER_EVENTS.has(event.type)) return [];
  const customer = event.data?.object;
  const created = event.created;
  if (
    !customer ||
    typeof customer.id !== 'string' ||
    typeof created !== 'number' ||
    !Number.isInteger(created)
  ) {
    throw new FatalError(`Stripe ${event.type} event lacks data.object.id or created`, [
      {
        rule: 'stripe.event.shape',
        field: !customer || typeof customer.id !== 'string' ? 'data.object.id' : 'created',
        message: 'a customer event needs data.object.id (string) and created (integer seconds)',
      },
    ]);
  }
  // Signed, but unusable: out of Date's range, or an id no key can hold. Quarantined, not retried.
  if (Math.abs(created) > 8.64e12 || customer.id.length > 255) {
    throw new FatalError(`Stripe ${event.type} event has an unusable created or customer id`, [
      {
        rule: 'stripe.event.range',
        field: customer.id.length > 255 ? 'data.object.id' : 'created',
        message: 'created must be a date in range and the id at most 255 characters',
      },
    ]);
  }
  const refs = { stripe: customer.id };
  if (event.type === 'customer.deleted') {
    return [{ entity: 'customer', sourceId: customer.id, version: created, deleted: true, data: { refs } }];
  }
  return [
    {
      entity: 'customer',
      sourceId: customer.id,
      // Stripe objects carry no update counter; the event's creation second orders updates.
      version: created,
      deleted: false,
      data: {
        email: text(customer.email),
        name: text(customer.name),
        phone: text(customer.phone),
        address: stripeAddress(customer.address),
        refs,
        updatedAt: new Date(created * 1000).toISOString(),
      },
    },
  ];
}

export const stripeConnector: WebhookConnector<'stripe'> = {
  kind: 'webhook',
  name: 'stripe',
  requiredHeaders: () => [SIGNATURE_HEADER],
  verify,
  parse,
  toRecords,
};
