import type { SourceConfig } from '../core/config.js';
import { FatalError } from '../core/errors.js';
import type { Envelope, SourceRecord } from '../core/messages.js';
import { githubConnector } from './github.js';
import { hmacConnector } from './hmac.js';
import { hubspotConnector } from './hubspot.js';
import { mapEvent } from './mapping.js';
import { shopifyConnector } from './shopify.js';
import { slackConnector } from './slack.js';
import { standardWebhooksConnector } from './standard-webhooks.js';
import { stripeConnector } from './stripe.js';
import type { WebhookConnector } from './types.js';

type WebhookName = Exclude<SourceConfig['connector'], 'rest-poll'>;

/**
 * Webhook connectors by name. Polled sources (rest-poll) are driven by the poll step instead, and
 * destination connectors are in destinations.ts.
 */
const webhooks: { readonly [C in WebhookName]?: WebhookConnector<C> } = {
  stripe: stripeConnector,
  shopify: shopifyConnector,
  hubspot: hubspotConnector,
  github: githubConnector,
  slack: slackConnector,
  'standard-webhooks': standardWebhooksConnector,
  hmac: hmacConnector,
};

export function webhookConnector<C extends WebhookName>(name: C): WebhookConnector<C> {
  const connector = webhooks[name] as WebhookConnector<C> | undefined;
  if (!connector) throw new Error(`No webhook connector "${name}" in this build`);
  return connector;
}

/**
 * The canonical records in one accepted event, by the source's connector: its built-in mapping, or
 * the source's `map` for polled items. Throws FatalError (quarantine) when it cannot.
 */
export function recordsFor(envelope: Envelope, source: SourceConfig): readonly SourceRecord[] {
  if (source.connector === 'rest-poll') {
    let item: unknown;
    try {
      item = JSON.parse(envelope.body);
    } catch (error) {
      throw new FatalError(
        'Polled item is not JSON',
        [{ rule: 'poll.item.json', message: 'body is not JSON' }],
        { cause: error },
      );
    }
    return mapEvent(item, source.map, envelope.headers);
  }
  const connector = webhookConnector(source.connector) as WebhookConnector<typeof source.connector>;
  return connector.toRecords(envelope, source as never);
}
