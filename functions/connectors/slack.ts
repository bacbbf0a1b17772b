import type { SourceConfig } from '../core/config.js';
import { RejectedRequestError } from '../core/errors.js';
import {
  badSignature,
  checkWindow,
  encodedMacMatches,
  eventIdFrom,
  headerValue,
  mappedRecords,
  matchingSecret,
  singleEvent,
  timestampFrom,
} from './hmac.js';
import { hmac } from './signing.js';
import type { ParsedEvent, VerifyOptions, WebhookConnector, WebhookRequest } from './types.js';

/**
 * Slack Events API: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<raw body>">`, keyed with the
 * app's signing secret as UTF-8, and `X-Slack-Request-Timestamp` in seconds. The event id is the
 * body's `event_id` (the same on Slack's retries, which add X-Slack-Retry-Num).
 *
 * Decisions:
 * - The window applies both ways (Slack's own SDKs only reject old timestamps): a timestamp more
 *   than `toleranceSeconds` ahead is rejected too.
 * - `url_verification` (the challenge Slack sends when the request URL is set) carries no event_id
 *   and must be answered with the challenge in the response body; the ingest contract answers 202
 *   `{eventId}`, so it is refused with 400 `no_events` and a message saying so. Verify the URL in
 *   Slack with the challenge answered elsewhere, or add a challenge answer to ingest.
 * - Only JSON bodies (the Events API): interactivity and slash commands post form-encoded bodies,
 *   which ingest refuses as malformed.
 * - Events map through the source's `map`.
 */

type SlackSettings = Extract<SourceConfig, { connector: 'slack' }>;

const SIGNATURE = 'x-slack-signature';
const TIMESTAMP = 'x-slack-request-timestamp';
const PREFIX = 'v0=';

function verify(
  request: WebhookRequest,
  options: VerifyOptions,
  settings: SlackSettings,
): { secretIndex: number } {
  const value = headerValue(request, SIGNATURE);
  if (!value.startsWith(PREFIX)) throw badSignature('X-Slack-Signature does not start with "v0="');
  const received = value.slice(PREFIX.length);
  const timestampText = headerValue(request, TIMESTAMP);
  const timestamp = timestampFrom(timestampText, 'X-Slack-Request-Timestamp', 's');
  const secretIndex = matchingSecret(options.secrets, (secret) =>
    encodedMacMatches(hmac('sha256', secret, [`v0:${timestampText}:`, request.rawBody]), received, 'hex'),
  );
  if (secretIndex < 0) throw badSignature('X-Slack-Signature matches no signing secret');
  checkWindow(timestamp, 's', options.now, settings.toleranceSeconds, 'X-Slack-Request-Timestamp');
  return { secretIndex };
}

function parse(request: WebhookRequest, body: unknown): ParsedEvent[] {
  const event = (body ?? {}) as { type?: unknown; event_id?: unknown };
  if (event.type === 'url_verification') {
    throw new RejectedRequestError(
      400,
      'no_events',
      'Slack url_verification carries no event; Switchyard does not answer the challenge',
    );
  }
  return singleEvent(request, eventIdFrom(event.event_id, 'The body field event_id'));
}

export const slackConnector: WebhookConnector<'slack'> = {
  kind: 'webhook',
  name: 'slack',
  requiredHeaders: () => [SIGNATURE, TIMESTAMP],
  verify,
  parse,
  toRecords: (envelope, settings) => mappedRecords(envelope, settings, 'Slack'),
};
