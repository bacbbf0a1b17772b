import { createHmac } from 'node:crypto';
import { search } from '@aws-lambda-powertools/jmespath';
import type { SourceConfig } from '../core/config.js';
import { FatalError, RejectedRequestError } from '../core/errors.js';
import type { Envelope, SourceRecord } from '../core/messages.js';
import { mapEvent } from './mapping.js';
import { macMatches } from './signing.js';
import type { ParsedEvent, VerifyOptions, WebhookConnector, WebhookRequest } from './types.js';

/**
 * `hmac`: a configurable HMAC scheme for the many providers that sign "some bytes" with a shared
 * secret and put the MAC in a header. The source's settings say which header, algorithm (sha1,
 * sha256, sha512), encoding (hex or base64), prefix (e.g. `sha256=`), what is signed (a template
 * over `{body}`, `{timestamp}`, `{method}` and `{url}`), an optional timestamp header and its unit
 * (with a replay window both ways), and where the event id is (a header, or a JMESPath into the body).
 *
 * Decisions:
 * - `{body}` is the raw bytes received; `{timestamp}` is the header's text exactly as received (not a
 *   re-formatted number); `{url}` is the URL as the caller used it; `{method}` as received.
 * - hex signatures are compared case-insensitively (some providers send upper-case hex; it is the
 *   same MAC). base64 must be canonical standard base64, so no two header texts pass for one MAC.
 * - A timestamp header that is not part of `signedPayload` is still checked against the window,
 *   but it only stops accidental replays: unsigned, it proves nothing.
 * - `{timestamp}` in `signedPayload` without a `timestampHeader` is a config mistake: verification
 *   fails with a plain Error (500) naming it, never silently signing an empty string.
 *
 * The helpers exported below are shared by the other HMAC-based connectors (shopify, hubspot,
 * github, slack, standard-webhooks): finding the secret that matched, the replay window, event ids.
 */

type HmacSettings = Extract<SourceConfig, { connector: 'hmac' }>;

// ---------------------------------------------------------------------------------------------
// Shared by the HMAC-based connectors.

/** A header's value ('' when missing); `name` in any case (requests carry lower-cased names). */
export function headerValue(request: WebhookRequest, name: string): string {
  return request.headers[name.toLowerCase()] ?? '';
}

/**
 * Constant-time compare of a computed MAC with a received, encoded one. Stricter than decoding
 * alone: base64 must be in its canonical form (Node's decoder skips stray characters, which would
 * let many header texts pass for one MAC), hex must be lower-case.
 */
export function encodedMacMatches(expected: Buffer, received: string, encoding: 'hex' | 'base64'): boolean {
  if (received.length === 0) return false;
  if (encoding === 'base64' && Buffer.from(received, 'base64').toString('base64') !== received) return false;
  return macMatches(expected, received, encoding);
}

/** Index of the first secret (current first) for which `matches` holds; -1 when none does. */
export function matchingSecret(secrets: readonly string[], matches: (secret: string) => boolean): number {
  return secrets.findIndex((secret) => secret.length > 0 && matches(secret));
}

/** 401 bad_signature. The message names the header and the problem, never a secret or the payload. */
export function badSignature(message: string): RejectedRequestError {
  return new RejectedRequestError(401, 'bad_signature', message);
}

/** A timestamp header as a whole number; a missing or malformed one is a bad signature. */
export function timestampFrom(value: string, label: string, unit: 's' | 'ms'): number {
  if (!/^\d{1,16}$/.test(value)) {
    throw badSignature(`${label} is not a whole number of ${unit === 's' ? 'seconds' : 'milliseconds'}`);
  }
  return Number(value);
}

/**
 * The replay window, both ways: a timestamp older than the tolerance is a replay, one further ahead
 * than the tolerance is a clock that far off, or a replay prepared in advance. The edge itself is
 * accepted (as every vendor SDK does). Seconds are compared as whole seconds, as the vendors do.
 * Call it after the signature matched: only a verified timestamp means anything.
 */
export function checkWindow(
  timestamp: number,
  unit: 's' | 'ms',
  now: number,
  toleranceSeconds: number,
  label: string,
): void {
  const age = unit === 's' ? Math.floor(now / 1000) - timestamp : now - timestamp;
  const limit = unit === 's' ? toleranceSeconds : toleranceSeconds * 1000;
  if (Math.abs(age) > limit) {
    throw new RejectedRequestError(
      401,
      'timestamp_out_of_window',
      `${label} is ${Math.abs(age)} ${unit} ${age > 0 ? 'old' : 'in the future'}; the window is ${limit} ${unit}`,
    );
  }
}

/** A provider's event id as a string (numbers are accepted: HubSpot's are); 400 when unusable. */
export function eventIdFrom(value: unknown, where: string): string {
  const id = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof id !== 'string' || id.trim() === '' || id.length > 255) {
    throw new RejectedRequestError(
      400,
      'missing_event_id',
      `${where} holds no event id (1 to 255 characters)`,
    );
  }
  return id;
}

/** The one event of a single-event request: its raw body as received. */
export function singleEvent(
  request: WebhookRequest,
  eventId: string,
  keepHeaders: Readonly<Record<string, string>> = {},
): ParsedEvent[] {
  return [{ eventId, body: request.rawBody.toString('utf8'), keepHeaders }];
}

/** The headers to keep that are present, under their lower-case names. */
export function keep(request: WebhookRequest, names: readonly string[]): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of names) {
    const value = request.headers[name.toLowerCase()];
    if (value !== undefined && value !== '') kept[name.toLowerCase()] = value;
  }
  return kept;
}

/** An accepted event's JSON; a body that no longer parses is quarantined, never retried. */
export function eventJson(envelope: Envelope, system: string): unknown {
  try {
    return JSON.parse(envelope.body) as unknown;
  } catch (error) {
    throw new FatalError(
      `${system} event body is not JSON`,
      [
        {
          rule: `${system.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.event.json`,
          message: 'body is not JSON',
        },
      ],
      { cause: error },
    );
  }
}

/** An event through the source's configured mapping (declarative JMESPath or a function). */
export function mappedRecords(
  envelope: Envelope,
  settings: { readonly map: Parameters<typeof mapEvent>[1] },
  system: string,
): SourceRecord[] {
  return mapEvent(eventJson(envelope, system), settings.map, envelope.headers);
}

// ---------------------------------------------------------------------------------------------
// The configurable scheme.

const PLACEHOLDER = /(\{body\}|\{timestamp\}|\{method\}|\{url\})/;

/** The signed bytes, in order: the template's text around the raw body and the other values. */
function signedParts(
  request: WebhookRequest,
  settings: HmacSettings,
  timestamp: string | undefined,
): (string | Buffer)[] {
  return settings.signedPayload
    .split(PLACEHOLDER)
    .filter((part) => part !== '')
    .map((part) => {
      switch (part) {
        case '{body}':
          return request.rawBody;
        case '{method}':
          return request.method;
        case '{url}':
          return request.url;
        case '{timestamp}':
          if (timestamp === undefined) {
            throw new Error(
              'hmac source: signedPayload uses {timestamp} but no timestampHeader is configured',
            );
          }
          return timestamp;
        default:
          return part;
      }
    });
}

function verify(
  request: WebhookRequest,
  options: VerifyOptions,
  settings: HmacSettings,
): { secretIndex: number } {
  const value = headerValue(request, settings.header);
  if (!value.startsWith(settings.prefix)) {
    throw badSignature(`${settings.header} does not start with "${settings.prefix}"`);
  }
  const signature = value.slice(settings.prefix.length);
  const received = settings.encoding === 'hex' ? signature.toLowerCase() : signature;
  const timestampText = settings.timestampHeader ? headerValue(request, settings.timestampHeader) : undefined;
  const parts = signedParts(request, settings, timestampText);
  const secretIndex = matchingSecret(options.secrets, (secret) => {
    const mac = createHmac(settings.algorithm, secret);
    for (const part of parts) mac.update(part);
    return encodedMacMatches(mac.digest(), received, settings.encoding);
  });
  if (secretIndex < 0) throw badSignature(`${settings.header} matches no signing secret`);
  if (settings.timestampHeader && timestampText !== undefined) {
    const timestamp = timestampFrom(timestampText, settings.timestampHeader, settings.timestampUnit);
    checkWindow(
      timestamp,
      settings.timestampUnit,
      options.now,
      settings.toleranceSeconds,
      settings.timestampHeader,
    );
  }
  return { secretIndex };
}

function parse(request: WebhookRequest, body: unknown, settings: HmacSettings): ParsedEvent[] {
  const where = settings.eventId;
  const eventId =
    'header' in where
      ? eventIdFrom(headerValue(request, where.header), `Header ${where.header}`)
      : eventIdFrom(search(where.path, body as never), `The body at ${where.path}`);
  return singleEvent(
    request,
    eventId,
    settings.timestampHeader ? keep(request, [settings.timestampHeader]) : {},
  );
}

export const hmacConnector: WebhookConnector<'hmac'> = {
  kind: 'webhook',
  name: 'hmac',
  requiredHeaders: (settings) =>
    [
      settings.header,
      settings.timestampHeader,
      'header' in settings.eventId ? settings.eventId.header : undefined,
    ]
      .filter((name): name is string => name !== undefined)
      .map((name) => name.toLowerCase()),
  verify,
  parse,
  toRecords: (envelope, settings) => mappedRecords(envelope, settings, 'hmac'),
};
