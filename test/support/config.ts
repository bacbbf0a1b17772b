import type { SwitchyardConfig, SwitchyardConfigInput } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';

export const STRIPE_SECRET_NAME = 'acme/stripe-webhook';
export const STRIPE_SECRET = 'whsec_test_current_0123456789abcdef';
export const STRIPE_PREVIOUS_SECRET = 'whsec_test_previous_fedcba9876543210';
export const CRM_TOKEN_NAME = 'acme/crm-token';
export const CRM_TOKEN = 'crm-token-s3cr3t';
export const CRM_URL = 'https://crm.example.com/api/contacts';
export const ERP_URL = 'https://erp.example.com/api/customers';

/** A small hub: Stripe customers to a CRM (bearer token) and an ERP (no secret). */
export function baseConfigInput(): SwitchyardConfigInput {
  return {
    name: 'acme',
    sources: { stripe: { connector: 'stripe', secret: STRIPE_SECRET_NAME } },
    destinations: {
      crm: { connector: 'http', url: CRM_URL, secret: CRM_TOKEN_NAME },
      erp: { connector: 'http', url: ERP_URL },
    },
    flows: [{ name: 'customers', entity: 'customer', from: ['stripe'], to: ['crm', 'erp'] }],
  };
}

export function testConfig(overrides: Partial<SwitchyardConfigInput> = {}): SwitchyardConfig {
  return loadConfig({ ...baseConfigInput(), ...overrides });
}
