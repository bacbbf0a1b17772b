import { createHmac } from 'node:crypto';
import Stripe from 'stripe';
import type { Envelope } from '../../functions/core/messages.js';

/** Stripe's own SDK, used only to sign and check test payloads. */
export const stripe = new Stripe('sk_test_x');

/** A Stripe-Signature header made by Stripe's SDK. */
export function stripeHeader(payload: string, secret: string, timestampSeconds: number): string {
  return stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: timestampSeconds });
}

/** The v1 HMAC over raw bytes, for bodies Stripe's SDK cannot express (it signs strings only). */
export function stripeV1OverBytes(rawBody: Buffer, secret: string, timestampSeconds: number): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(rawBody).digest('hex');
}

export interface CustomerEventOptions {
  readonly eventId?: string;
  readonly type?: string;
  readonly customerId?: string;
  /** Event creation, epoch seconds: the record's version. */
  readonly created?: number;
  readonly email?: string | null;
  readonly name?: string | null;
  readonly phone?: string | null;
  readonly address?: Record<string, string | null> | null;
}

/** A Stripe customer event body, shaped like the real ones (API version 2024-06-20). */
export function stripeCustomerEvent(options: CustomerEventOptions = {}): string {
  const customerId = options.customerId ?? 'cus_NffrFeUfNV2Hib';
  const created = options.created ?? 1_714_564_800;
  return JSON.stringify({
    id: options.eventId ?? `evt_${customerId}_${created}`,
    object: 'event',
    api_version: '2024-06-20',
    created,
    type: options.type ?? 'customer.created',
    livemode: false,
    pending_webhooks: 1,
    request: { id: 'req_123', idempotency_key: null },
    data: {
      object: {
        id: customerId,
        object: 'customer',
        created,
        email: options.email === undefined ? 'jenny.rosen@example.com' : options.email,
        name: options.name === undefined ? 'Jenny Rosen' : options.name,
        phone: options.phone === undefined ? '+14155552671' : options.phone,
        address:
          options.address === undefined
            ? {
                line1: '510 Townsend St',
                line2: null,
                city: 'San Francisco',
                state: 'CA',
                postal_code: '94103',
                country: 'US',
              }
            : options.address,
        metadata: {},
      },
    },
  });
}

/** What ingest would have put on the inbound queue for this body. */
export function envelopeFor(body: string, options: { source?: string; receivedAt?: number } = {}): Envelope {
  const parsed = JSON.parse(body) as { id?: unknown };
  return {
    v: 1,
    source: options.source ?? 'stripe',
    eventId: typeof parsed.id === 'string' ? parsed.id : 'evt_unknown',
    receivedAt: options.receivedAt ?? Date.UTC(2024, 4, 1, 12, 0, 0),
    headers: {},
    body,
  };
}
