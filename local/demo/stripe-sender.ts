import { createHmac, randomBytes } from 'node:crypto';

/** A customer as Stripe's API returns it (the fields Switchyard maps). */
export interface StripeCustomer {
  id: string;
  email: string | null;
  name: string | null;
  phone: string | null;
  address: {
    line1: string | null;
    line2: string | null;
    city: string | null;
    state: string | null;
    postal_code: string | null;
    country: string | null;
  } | null;
}

export type StripeCustomerEventType = 'customer.created' | 'customer.updated' | 'customer.deleted';

export function stripeEventId(): string {
  return `evt_${randomBytes(12).toString('base64url')}`;
}

/** A Stripe event in the shape Stripe's webhooks deliver (API version 2024-06-20 style). */
export function stripeCustomerEvent(
  type: StripeCustomerEventType,
  customer: StripeCustomer,
  createdSeconds: number,
  id = stripeEventId(),
): string {
  return JSON.stringify(
    {
      id,
      object: 'event',
      api_version: '2024-06-20',
      created: createdSeconds,
      data: { object: { object: 'customer', created: createdSeconds, livemode: false, ...customer } },
      livemode: false,
      pending_webhooks: 1,
      request: { id: `req_${randomBytes(7).toString('hex')}`, idempotency_key: null },
      type,
    },
    null,
    2,
  );
}

/** Stripe-Signature exactly as Stripe computes it: HMAC-SHA256 over `${t}.${payload}`, hex. */
export function stripeSignatureHeader(payload: string, secret: string, timestampSeconds: number): string {
  const signature = createHmac('sha256', secret).update(`${timestampSeconds}.${payload}`).digest('hex');
  return `t=${timestampSeconds},v1=${signature}`;
}

export interface SendResult {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly ms: number;
}

/** POSTs one signed Stripe event to a Switchyard webhook URL. */
export async function sendStripeEvent(
  url: string,
  payload: string,
  secret: string,
  options: { timestampSeconds?: number; signature?: string } = {},
): Promise<SendResult> {
  const started = performance.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'stripe-signature':
        options.signature ??
        stripeSignatureHeader(payload, secret, options.timestampSeconds ?? Math.floor(Date.now() / 1000)),
    },
    body: payload,
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: response.status, body, ms: performance.now() - started };
}

export function demoCustomer(n: number, overrides: Partial<StripeCustomer> = {}): StripeCustomer {
  const first = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances'][n % 8] ?? 'Alex';
  return {
    id: `cus_demo${String(n).padStart(5, '0')}`,
    email: `  ${first}.${n}@Example.com `,
    name: `${first} Customer ${n}`,
    phone: '+44 20 7946 0958',
    address: {
      line1: `${n} Switchyard Road`,
      line2: null,
      city: 'London',
      state: null,
      postal_code: 'N1 9GU',
      country: 'gb',
    },
    ...overrides,
  };
}
