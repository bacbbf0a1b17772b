import { describe, expect, it } from 'vitest';
import { stripeConnector } from '../../functions/connectors/stripe.js';
import { validateInvoice } from '../../functions/model/invoice.js';

const settings = { connector: 'stripe', secret: 'test/stripe', toleranceSeconds: 300 } as const;

function envelope(type: string, invoice: Record<string, unknown>, created = 1_763_800_000) {
  const body = JSON.stringify({
    id: 'evt_inv',
    object: 'event',
    type,
    created,
    data: { object: { object: 'invoice', ...invoice } },
  });
  return { v: 1 as const, source: 'stripe', eventId: 'evt_inv', receivedAt: 0, headers: {}, body };
}

describe('Stripe invoices to canonical invoice v1', () => {
  it('maps a paid invoice: minor units as Stripe sends them, currency upper-cased, epoch seconds to UTC', () => {
    const [record] = stripeConnector.toRecords(
      envelope('invoice.paid', {
        id: 'in_1',
        customer: 'cus_1',
        number: 'ACME-0001',
        currency: 'eur',
        total: 2599,
        amount_due: 0,
        status: 'paid',
        created: 1_763_790_000,
        due_date: null,
      }),
      settings,
    );
    expect(record).toMatchObject({
      entity: 'invoice',
      sourceId: 'in_1',
      version: 1_763_800_000,
      deleted: false,
    });
    expect(validateInvoice(record?.data ?? {})).toEqual({
      ok: true,
      data: {
        customerId: 'cus_1',
        number: 'ACME-0001',
        currency: 'EUR',
        totalMinor: 2599,
        amountDueMinor: 0,
        status: 'paid',
        issuedAt: '2025-11-22T05:40:00.000Z',
        dueAt: null,
        refs: { stripe: 'in_1' },
        updatedAt: '2025-11-22T08:26:40.000Z',
      },
    });
  });

  it('quarantines an invoice with an unknown status, naming the rule', () => {
    const [record] = stripeConnector.toRecords(
      envelope('invoice.updated', {
        id: 'in_2',
        currency: 'usd',
        total: 100,
        status: 'lost',
        created: 1_763_790_000,
      }),
      settings,
    );
    const result = validateInvoice(record?.data ?? {});
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reasons.map((r) => r.rule)).toEqual(['invoice.status.format']);
  });

  it('fails if the event has no invoice id, with a named reason', () => {
    expect(() => stripeConnector.toRecords(envelope('invoice.paid', { currency: 'usd' }), settings)).toThrow(
      'lacks a usable data.object.id',
    );
  });
});

describe('Stripe invoices with dates out of range', () => {
  it('quarantines (FatalError through validation) rather than throwing a RangeError into the retry path', () => {
    const [record] = stripeConnector.toRecords(
      envelope('invoice.paid', {
        id: 'in_far',
        currency: 'usd',
        total: 1,
        status: 'paid',
        created: 1e20,
        due_date: 1e20,
      }),
      settings,
    );
    const result = validateInvoice(record?.data ?? {});
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.reasons.map((r) => r.rule)).toEqual(expect.arrayContaining(['invoice.issuedAt.format']));
  });
});
