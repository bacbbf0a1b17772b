import { defineConfig } from './functions/core/config.js';

/**
 * The hub itself. The CDK app, the Lambda bundles and the local runtime all import this file.
 * `npm start` runs it locally with simulated Stripe, Shopify, ERP and CRM systems
 * (`switchyard dev --demo` points the destinations and polled APIs at the simulations).
 */
export default defineConfig({
  name: 'switchyard',
  sources: {
    // `api`: a restricted key that can read customers, so `switchyard reconcile` can list them.
    stripe: {
      connector: 'stripe',
      secret: 'switchyard/stripe-webhook',
      api: { secret: 'switchyard/stripe-api' },
    },
    shop: { connector: 'shopify', secret: 'switchyard/shopify-webhook' },
    erp: {
      connector: 'rest-poll',
      schedule: 'rate(5 minutes)',
      url: 'https://erp.example.com/api/customers?limit=100',
      secret: 'switchyard/erp-api',
      auth: { type: 'bearer' },
      items: 'data',
      nextLink: 'next',
      cursorField: 'updated_at',
      lookbackSeconds: 300,
      map: { entity: 'customer', id: 'id', version: 'updated_at', fields: { email: 'email', name: 'name' } },
    },
  },
  destinations: {
    crm: {
      connector: 'http',
      url: 'https://crm.example.com/api/contacts',
      secret: 'switchyard/crm-token',
      maxConcurrency: 5,
    },
  },
  flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'shop', 'erp'], to: ['crm'] }],
  alarms: { latencyP99Seconds: 60 },
});
