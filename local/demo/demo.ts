import type { SwitchyardConfig } from '../../functions/core/config.js';
import type { SecretValue } from '../../functions/core/ports.js';
import { type CrmDestination, startCrmDestination } from './crm-destination.js';
import { type ErpApi, startErpApi } from './erp-api.js';
import { sendShopifyEvent, shopifyCustomer } from './shopify-sender.js';
import { type StripeApi, startStripeApi } from './stripe-api.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from './stripe-sender.js';

export const DEMO_STRIPE_SECRET = 'whsec_switchyard_demo_only_not_a_real_secret';
export const DEMO_SHOPIFY_SECRET = 'shpss_switchyard_demo_only_not_a_real_secret';
export const DEMO_CRM_TOKEN = 'crm_demo_token_not_a_real_secret';
export const DEMO_ERP_TOKEN = 'erp_demo_token_not_a_real_secret';
export const DEMO_STRIPE_API_KEY = 'sk_test_switchyard_demo_only_not_a_real_key';

export interface Demo {
  readonly config: SwitchyardConfig;
  readonly secrets: Readonly<Record<string, SecretValue>>;
  readonly crm: CrmDestination;
  readonly erp: ErpApi;
  /** The Stripe-like customers list API reconciliation reads (`switchyard reconcile`). */
  readonly stripeApi: StripeApi;
  /** Sends the demo traffic to the running hub; resolves when everything is sent. */
  run(hubUrl: string, report: (line: string) => void): Promise<void>;
  stop(): Promise<void>;
}

const sourcesOf = (config: SwitchyardConfig, connector: string) =>
  Object.entries(config.sources).filter(([, source]) => source.connector === connector);

/**
 * The config with every http destination at `crmUrl` and every polled source at `erpUrl` (the demo's
 * simulations; the cold-start bench's stand-ins).
 */
export function withStandInUrls(config: SwitchyardConfig, crmUrl: string, erpUrl: string): SwitchyardConfig {
  const destinations = Object.fromEntries(
    Object.entries(config.destinations).map(([name, d]) => [
      name,
      d.connector === 'http' ? { ...d, url: crmUrl } : d,
    ]),
  );
  const sources = Object.fromEntries(
    Object.entries(config.sources).map(([name, s]) => [
      name,
      s.connector === 'rest-poll' ? { ...s, url: erpUrl } : s,
    ]),
  );
  return { ...config, destinations, sources } as SwitchyardConfig;
}

/**
 * The demo systems, speaking the real wire formats: a CRM-like destination (bearer auth,
 * Idempotency-Key), a Stripe-like and a Shopify-like sender with real signatures, and an ERP-like
 * API without webhooks for the rest-poll sources. Every http destination and every polled source
 * of the config is pointed at a simulation, and their secrets are the demo's, in memory only.
 */
export async function startDemo(config: SwitchyardConfig): Promise<Demo> {
  const crm = await startCrmDestination({ token: DEMO_CRM_TOKEN });
  const erp = await startErpApi({ token: DEMO_ERP_TOKEN, pageSize: 5 });
  const stripeApi = await startStripeApi({ apiKey: DEMO_STRIPE_API_KEY });
  const pointed = withStandInUrls(config, crm.url, erp.url);
  const secrets: Record<string, SecretValue> = {};
  for (const destination of Object.values(pointed.destinations))
    if (destination.secret) secrets[destination.secret] = DEMO_CRM_TOKEN;
  const sources = Object.fromEntries(
    Object.entries(pointed.sources).map(([name, source]) => {
      if (source.connector === 'stripe') {
        secrets[source.secret] = DEMO_STRIPE_SECRET;
        // Its list API is the simulation, so `switchyard reconcile` has a real source to compare with.
        const api = { secret: source.api?.secret ?? `${name}/demo-stripe-api`, url: stripeApi.url };
        secrets[api.secret] = DEMO_STRIPE_API_KEY;
        return [name, { ...source, api }];
      }
      if (source.connector === 'shopify') secrets[source.secret] = DEMO_SHOPIFY_SECRET;
      if (source.connector === 'rest-poll' && source.secret) secrets[source.secret] = DEMO_ERP_TOKEN;
      return [name, source];
    }),
  );
  const demoConfig = { ...pointed, sources } as SwitchyardConfig;

  async function run(hubUrl: string, report: (line: string) => void): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const [stripe] = sourcesOf(demoConfig, 'stripe')[0] ?? [];
    if (stripe) {
      const url = `${hubUrl}/webhooks/${stripe}`;
      const send = (payload: string, options = {}) =>
        sendStripeEvent(url, payload, DEMO_STRIPE_SECRET, options);
      for (let n = 1; n <= 10; n++) {
        stripeApi.add(demoCustomer(n), now - 60 + n);
        await send(stripeCustomerEvent('customer.created', demoCustomer(n), now - 60 + n));
      }
      // Two customers exist at Stripe whose webhooks never arrived: `switchyard reconcile` finds them.
      for (const n of [14, 15]) stripeApi.add(demoCustomer(n), now - 30 + n);
      // An update, then the same event again (Stripe retries), then an older update arriving late.
      const update = stripeCustomerEvent('customer.updated', demoCustomer(1, { name: 'Ada Lovelace' }), now);
      await send(update);
      await send(update);
      await send(stripeCustomerEvent('customer.updated', demoCustomer(1, { name: 'Ada (old)' }), now - 30));
      // Messy data: a bad email is quarantined with its reason.
      await send(stripeCustomerEvent('customer.created', demoCustomer(11, { email: 'not-an-email' }), now));
      const forged = await send(stripeCustomerEvent('customer.created', demoCustomer(12), now), {
        signature: `t=${now},v1=${'0'.repeat(64)}`,
      });
      report(`demo: a forged Stripe webhook was answered ${forged.status}`);
      // The CRM goes down for a while; the next customer is retried until it answers.
      crm.fail({ status: 503, times: 2 });
      stripeApi.add(demoCustomer(13), now);
      await send(stripeCustomerEvent('customer.created', demoCustomer(13), now));
    }
    const [shop] = sourcesOf(demoConfig, 'shopify')[0] ?? [];
    if (shop) {
      const url = `${hubUrl}/webhooks/${shop}`;
      // The same person as Stripe's customer 2, spelled differently: the hub makes them one entity.
      await sendShopifyEvent(
        url,
        'customers/create',
        shopifyCustomer(2, { email: ' Linus.2@EXAMPLE.com' }),
        DEMO_SHOPIFY_SECRET,
      );
      for (let n = 20; n < 24; n++)
        await sendShopifyEvent(url, 'customers/create', shopifyCustomer(n), DEMO_SHOPIFY_SECRET);
      // A Shopify retry of one delivery (same webhook id) is absorbed.
      const retried = shopifyCustomer(20, { first_name: 'Retried' });
      await sendShopifyEvent(url, 'customers/update', retried, DEMO_SHOPIFY_SECRET, 'demo-webhook-20');
      await sendShopifyEvent(url, 'customers/update', retried, DEMO_SHOPIFY_SECRET, 'demo-webhook-20');
    }
    const [erpSource] = sourcesOf(demoConfig, 'rest-poll')[0] ?? [];
    if (erpSource) {
      const base = Date.now() - 60_000;
      for (let n = 1; n <= 12; n++) {
        // Three rows share one timestamp across the 5-row page boundary.
        const at = new Date(base + (n >= 4 && n <= 6 ? 4 : n) * 1000).toISOString();
        erp.upsert({
          id: `erp-${n}`,
          email: `erp.customer${n}@example.com`,
          name: `ERP Customer ${n}`,
          updated_at: at,
        });
      }
      const response = await fetch(`${hubUrl}/_switchyard/poll/${erpSource}`, { method: 'POST' });
      const body = (await response.json()) as Record<string, unknown>;
      report(`demo: polled ${erpSource}: ${String(body.enqueued)} row(s) in ${String(body.pages)} page(s)`);
    }
    report(
      'demo: traffic sent (Stripe with a duplicate, a late update, a bad email, a forgery, a CRM outage and two lost webhooks `switchyard reconcile --flow <flow>` finds; Shopify with one person also in Stripe; an ERP poll)',
    );
  }

  return {
    config: demoConfig,
    secrets,
    crm,
    erp,
    stripeApi,
    run,
    stop: async () => {
      await crm.stop();
      await erp.stop();
      await stripeApi.stop();
    },
  };
}
