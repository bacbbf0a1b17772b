import { createHmac, randomUUID } from 'node:crypto';

/** A customer as Shopify's Admin API webhooks deliver it (the fields Switchyard maps). */
export interface ShopifyCustomer {
  id: number;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  updated_at: string;
  default_address?: {
    address1: string | null;
    address2: string | null;
    city: string | null;
    province_code: string | null;
    zip: string | null;
    country_code: string | null;
  } | null;
}

export function shopifyCustomer(n: number, overrides: Partial<ShopifyCustomer> = {}): ShopifyCustomer {
  return {
    id: 7_000_000 + n,
    email: `customer${n}@example.com`,
    first_name: 'Shop',
    last_name: `Customer ${n}`,
    phone: null,
    updated_at: new Date().toISOString(),
    default_address: {
      address1: `${n} Market Street`,
      address2: null,
      city: 'Manchester',
      province_code: 'ENG',
      zip: 'M1 1AA',
      country_code: 'GB',
    },
    ...overrides,
  };
}

/** X-Shopify-Hmac-Sha256 exactly as Shopify computes it: base64 HMAC-SHA256 of the raw body. */
export function shopifyHmac(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body, 'utf8').digest('base64');
}

/** POSTs one signed Shopify webhook to a Switchyard webhook URL. */
export async function sendShopifyEvent(
  url: string,
  topic: string,
  payload: unknown,
  secret: string,
  webhookId: string = randomUUID(),
): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = JSON.stringify(payload);
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-shopify-topic': topic,
      'x-shopify-hmac-sha256': shopifyHmac(body, secret),
      'x-shopify-shop-domain': 'switchyard-demo.myshopify.com',
      'x-shopify-api-version': '2025-10',
      'x-shopify-webhook-id': webhookId,
      'x-shopify-triggered-at': new Date().toISOString(),
    },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
