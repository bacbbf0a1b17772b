import { defineConfig } from './functions/core/config.js';

/**
 * The hub itself. The CDK app, the Lambda bundles and the local runtime all import this file.
 * `npm start` runs it locally with simulated Stripe and CRM systems (`switchyard dev --demo`).
 */
export default defineConfig({
  name: 'switchyard',
  sources: {
    stripe: { connector: 'stripe', secret: 'switchyard/stripe-webhook' },
  },
  destinations: {
    crm: {
      connector: 'http',
      url: 'https://crm.example.com/api/contacts',
      secret: 'switchyard/crm-token',
      maxConcurrency: 5,
    },
  },
  flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['crm'] }],
  alarms: { latencyP99Seconds: 60 },
});
