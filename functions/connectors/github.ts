import type { SourceConfig } from '../core/config.js';
import type { Envelope, SourceRecord } from '../core/messages.js';
import {
  badSignature,
  encodedMacMatches,
  eventIdFrom,
  headerValue,
  keep,
  mappedRecords,
  matchingSecret,
  singleEvent,
} from './hmac.js';
import { hmac } from './signing.js';
import type { ParsedEvent, VerifyOptions, WebhookConnector, WebhookRequest } from './types.js';

/**
 * GitHub webhooks: `X-Hub-Signature-256: sha256=<lower-case hex HMAC-SHA256 of the raw body>`, keyed
 * with the webhook secret as UTF-8. GitHub signs no timestamp, so there is no replay window: a
 * replay is a duplicate, and X-GitHub-Delivery (the same on a redelivery) is the event id that the
 * pipeline dedupes on. The legacy SHA-1 `X-Hub-Signature` is ignored.
 *
 * Decisions:
 * - X-GitHub-Event is required (GitHub always sends it) and kept for the mapping, as `x-github-event`
 *   in the headers a mapping function receives.
 * - `ping` (sent when a webhook is created) is accepted and maps to no record, rather than being
 *   quarantined for lacking what the mapping expects.
 * - Every other event goes through the source's `map` (declarative JMESPath or a function).
 */

type GithubSettings = Extract<SourceConfig, { connector: 'github' }>;

const SIGNATURE = 'x-hub-signature-256';
const DELIVERY = 'x-github-delivery';
const EVENT = 'x-github-event';
const PREFIX = 'sha256=';

function verify(request: WebhookRequest, options: VerifyOptions): { secretIndex: number } {
  const value = headerValue(request, SIGNATURE);
  if (!value.startsWith(PREFIX)) throw badSignature('X-Hub-Signature-256 does not start with "sha256="');
  const received = value.slice(PREFIX.length);
  const secretIndex = matchingSecret(options.secrets, (secret) =>
    encodedMacMatches(hmac('sha256', secret, [request.rawBody]), received, 'hex'),
  );
  if (secretIndex < 0) throw badSignature('X-Hub-Signature-256 matches no signing secret');
  return { secretIndex };
}

function parse(request: WebhookRequest): ParsedEvent[] {
  return singleEvent(
    request,
    eventIdFrom(headerValue(request, DELIVERY), 'X-GitHub-Delivery'),
    keep(request, [EVENT]),
  );
}

function toRecords(envelope: Envelope, settings: GithubSettings): readonly SourceRecord[] {
  if (envelope.headers[EVENT] === 'ping') return [];
  return mappedRecords(envelope, settings, 'GitHub');
}

export const githubConnector: WebhookConnector<'github'> = {
  kind: 'webhook',
  name: 'github',
  requiredHeaders: () => [SIGNATURE, DELIVERY, EVENT],
  verify,
  parse,
  toRecords,
};
