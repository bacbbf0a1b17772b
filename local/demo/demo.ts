import type { SwitchyardConfig } from '../../functions/core/config.js';
import type { SecretValue } from '../../functions/core/ports.js';
import { type CrmDestination, startCrmDestination } from './crm-destination.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from './stripe-sender.js';

export const DEMO_STRIPE_SECRET = 'whsec_switchyard_demo_only_not_a_real_secret';
export const DEMO_CRM_TOKEN = 'crm_demo_token_not_a_real_secret';

export interface Demo {
  readonly config: SwitchyardConfig;
  readonly secrets: Readonly<Record<string, SecretValue>>;
  readonly crm: CrmDestination;
  /** Sends the demo traffic to the running hub; resolves when everything is sent. */
  run(hubUrl: string, report: (line: string) => void): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The demo systems: a CRM-like destination and a Stripe-like sender with real signatures and
 * realistic messy traffic. Every http destination of the config is pointed at the simulated CRM and
 * every Stripe source gets the demo signing secret, in memory only.
 */
export async function startDemo(config: SwitchyardConfig): Promise<Demo> {
  const crm = await startCrmDestination({ token: DEMO_CRM_TOKEN });
  const secrets: Record<string, SecretValue> = {};
  const destinations = Object.fromEntries(
    Object.entries(config.destinations).map(([name, destination]) => {
      if (destination.secret) secrets[destination.secret] = DEMO_CRM_TOKEN;
      return [name, { ...destination, url: crm.url }];
    }),
  );
  const stripeSources = Object.entries(config.sources).filter(([, source]) => source.connector === 'stripe');
  for (const [, source] of stripeSources) if (source.secret) secrets[source.secret] = DEMO_STRIPE_SECRET;
  const demoConfig: SwitchyardConfig = { ...config, destinations };

  async function run(hubUrl: string, report: (line: string) => void): Promise<void> {
    const [sourceName] = stripeSources[0] ?? [];
    if (!sourceName) {
      report('demo: the config has no stripe source; nothing to send');
      return;
    }
    const url = `${hubUrl}/webhooks/${sourceName}`;
    const send = (payload: string, options = {}) =>
      sendStripeEvent(url, payload, DEMO_STRIPE_SECRET, options);
    const now = Math.floor(Date.now() / 1000);
    // Ten new customers.
    for (let n = 1; n <= 10; n++)
      await send(stripeCustomerEvent('customer.created', demoCustomer(n), now - 60 + n));
    // An update, then the same event again (Stripe retries), then an older update arriving late.
    const update = stripeCustomerEvent('customer.updated', demoCustomer(1, { name: 'Ada Lovelace' }), now);
    await send(update);
    await send(update);
    await send(stripeCustomerEvent('customer.updated', demoCustomer(1, { name: 'Ada (old)' }), now - 30));
    // Messy data: a bad email is quarantined with its reason.
    await send(stripeCustomerEvent('customer.created', demoCustomer(11, { email: 'not-an-email' }), now));
    // A forged signature is refused with 401 and counted.
    const forged = await send(stripeCustomerEvent('customer.created', demoCustomer(12), now), {
      signature: `t=${now},v1=${'0'.repeat(64)}`,
    });
    report(`demo: forged webhook answered ${forged.status}`);
    // The CRM goes down for a while; the next customer is retried until it answers.
    crm.fail({ status: 503, times: 2 });
    await send(stripeCustomerEvent('customer.created', demoCustomer(13), now));
    report(
      'demo: traffic sent (13 customers, 1 duplicate, 1 out-of-order update, 1 bad email, 1 forgery, CRM outage)',
    );
  }

  return { config: demoConfig, secrets, crm, run, stop: () => crm.stop() };
}
