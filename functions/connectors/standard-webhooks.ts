import type { SourceConfig } from '../core/config.js';
import {
  badSignature,
  checkWindow,
  encodedMacMatches,
  eventIdFrom,
  headerValue,
  keep,
  mappedRecords,
  matchingSecret,
  singleEvent,
  timestampFrom,
} from './hmac.js';
import { hmac } from './signing.js';
import type { ParsedEvent, VerifyOptions, WebhookConnector, WebhookRequest } from './types.js';

/**
 * Standard Webhooks (and Svix, the same scheme under `svix-*` headers): `<prefix>-id`,
 * `<prefix>-timestamp` (seconds) and `<prefix>-signature`, a space-separated list of
 * `<version>,<base64>` entries. v1 is base64 HMAC-SHA256 of `<id>.<timestamp>.<raw body>` keyed with
 * the secret base64-decoded after stripping `whsec_` (unlike Stripe, which keys with the whole
 * string). Any v1 entry that matches passes; other versions (e.g. `v1a`, asymmetric) are skipped.
 * The window is ±toleranceSeconds, as the spec says: too new is rejected too. The event id is the
 * id header.
 *
 * Decisions:
 * - A secret that decodes to no bytes (`whsec_` alone) never matches: an empty HMAC key is public.
 * - The timestamp header is kept (as `<prefix>-timestamp`) so a mapping function can use it.
 * - Events map through the source's `map`.
 */

type StandardSettings = Extract<SourceConfig, { connector: 'standard-webhooks' }>;

const SECRET_PREFIX = 'whsec_';

/** The HMAC key of a Standard Webhooks secret: base64-decoded, without its `whsec_` prefix. */
export function standardWebhooksKey(secret: string): Buffer {
  return Buffer.from(
    secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
    'base64',
  );
}

function names(settings: Pick<StandardSettings, 'headerPrefix'>): {
  id: string;
  timestamp: string;
  signature: string;
} {
  const prefix = settings.headerPrefix;
  return { id: `${prefix}-id`, timestamp: `${prefix}-timestamp`, signature: `${prefix}-signature` };
}

function verify(
  request: WebhookRequest,
  options: VerifyOptions,
  settings: StandardSettings,
): { secretIndex: number } {
  const header = names(settings);
  const id = headerValue(request, header.id);
  const timestampText = headerValue(request, header.timestamp);
  const timestamp = timestampFrom(timestampText, header.timestamp, 's');
  const signatures = headerValue(request, header.signature)
    .split(' ')
    .map((entry) => {
      const comma = entry.indexOf(',');
      return comma < 0 ? undefined : { version: entry.slice(0, comma), value: entry.slice(comma + 1) };
    })
    .filter((entry) => entry?.version === 'v1')
    .map((entry) => entry?.value ?? '');
  if (signatures.length === 0) throw badSignature(`${header.signature} has no v1 signature`);
  const secretIndex = matchingSecret(options.secrets, (secret) => {
    const key = standardWebhooksKey(secret);
    if (key.length === 0) return false;
    const expected = hmac('sha256', key, [`${id}.${timestampText}.`, request.rawBody]);
    return signatures.some((signature) => encodedMacMatches(expected, signature, 'base64'));
  });
  if (secretIndex < 0) throw badSignature(`No v1 signature in ${header.signature} matches a signing secret`);
  checkWindow(timestamp, 's', options.now, settings.toleranceSeconds, header.timestamp);
  return { secretIndex };
}

function parse(request: WebhookRequest, _body: unknown, settings: StandardSettings): ParsedEvent[] {
  const header = names(settings);
  return singleEvent(
    request,
    eventIdFrom(headerValue(request, header.id), header.id),
    keep(request, [header.timestamp]),
  );
}

export const standardWebhooksConnector: WebhookConnector<'standard-webhooks'> = {
  kind: 'webhook',
  name: 'standard-webhooks',
  requiredHeaders: (settings) => Object.values(names(settings)),
  verify,
  parse,
  toRecords: (envelope, settings) => mappedRecords(envelope, settings, 'Standard Webhooks'),
};
