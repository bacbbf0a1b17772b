import { FatalError, RejectedRequestError } from '../core/errors.js';
import type { Envelope, SourceRecord } from '../core/messages.js';
import { redactValue } from '../core/redact.js';
import {
  badSignature,
  checkWindow,
  encodedMacMatches,
  eventIdFrom,
  eventJson,
  headerValue,
  matchingSecret,
  timestampFrom,
} from './hmac.js';
import { hmac } from './signing.js';
import type { ParsedEvent, VerifyOptions, WebhookConnector, WebhookRequest } from './types.js';

/**
 * HubSpot webhooks, signature v3: `X-HubSpot-Signature-v3` is the base64 HMAC-SHA256, keyed with the
 * app's client secret, of `method + uri + body + timestamp` (no separators), where the timestamp is
 * `X-HubSpot-Request-Timestamp` in MILLISECONDS and the uri is the URL exactly as HubSpot called it
 * (ingest rebuilds scheme and host), with only `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B`
 * decoded (`%20` and every other escape stay encoded). A timestamp older than the window is
 * rejected, as HubSpot's SDK does, and so is one further ahead than the window.
 *
 * The body is a JSON array of up to 100 events; each becomes its own event (its own envelope), with
 * `eventId` = the element's `eventId` and body = the element's JSON.
 *
 * Built-in mapping (contacts only; `object.*` events with objectTypeId `0-1` are contacts too):
 * - contact.propertyChange: `email` -> email, `phone` -> phone. A name needs firstname and lastname
 *   together, and a propertyChange event carries one property, so `firstname` or `lastname` alone
 *   maps to no record (rather than a half name overwriting a whole one). Other properties: none.
 *   An emptied value ("") becomes null (cleared).
 * - contact.deletion, contact.privacyDeletion: a deleted customer.
 * - contact.creation: no record. The creation event carries no properties, so a record from it would
 *   hold only refs and fail validation (email is required); the propertyChange events HubSpot sends
 *   for the new contact's properties carry the data.
 * - sourceId = String(objectId); version = occurredAt (epoch ms).
 *
 * Note that a phone-only change is a customer record without an email, which the canonical customer
 * validation (email required) refuses unless route validates partial updates.
 */

const SIGNATURE = 'x-hubspot-signature-v3';
const TIMESTAMP = 'x-hubspot-request-timestamp';

const DECODED: Readonly<Record<string, string>> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

/**
 * The uri HubSpot signs for a URL: only HubSpot's listed escapes decoded, in one pass (so `%253A`
 * stays `%253A`). `caseInsensitive` also decodes their lower-case spellings (`%3a`).
 */
export function hubspotSignedUri(url: string, caseInsensitive = false): string {
  const pattern = caseInsensitive
    ? /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi
    : /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/g;
  return url.replace(pattern, (encoded) => DECODED[encoded.toUpperCase()] ?? encoded);
}

/**
 * The uri forms to try. HubSpot documents the listed escapes in upper case; whether it decodes their
 * lower-case spellings is not documented, so both readings are tried (they name the same resource,
 * so nothing is gained by forging either).
 */
function uriCandidates(url: string): string[] {
  const strict = hubspotSignedUri(url);
  const loose = hubspotSignedUri(url, true);
  return strict === loose ? [strict] : [strict, loose];
}

function verify(
  request: WebhookRequest,
  options: VerifyOptions,
  settings: { readonly toleranceSeconds: number },
): { secretIndex: number } {
  const received = headerValue(request, SIGNATURE);
  const timestampText = headerValue(request, TIMESTAMP);
  const timestamp = timestampFrom(timestampText, 'X-HubSpot-Request-Timestamp', 'ms');
  const uris = uriCandidates(request.url);
  const secretIndex = matchingSecret(options.secrets, (secret) =>
    uris.some((uri) =>
      encodedMacMatches(
        hmac('sha256', secret, [request.method, uri, request.rawBody, timestampText]),
        received,
        'base64',
      ),
    ),
  );
  if (secretIndex < 0) throw badSignature('X-HubSpot-Signature-v3 matches no signing secret');
  checkWindow(timestamp, 'ms', options.now, settings.toleranceSeconds, 'X-HubSpot-Request-Timestamp');
  return { secretIndex };
}

function parse(_request: WebhookRequest, body: unknown): ParsedEvent[] {
  if (!Array.isArray(body)) {
    throw new RejectedRequestError(400, 'malformed_body', 'A HubSpot webhook body is a JSON array of events');
  }
  return body.map((element: unknown, i) => {
    const eventId = (element as { eventId?: unknown } | null)?.eventId;
    return {
      eventId: eventIdFrom(eventId, `Event [${i}] of the HubSpot batch`),
      body: JSON.stringify(element),
      keepHeaders: {},
    };
  });
}

interface HubSpotEvent {
  subscriptionType?: unknown;
  objectTypeId?: unknown;
  objectId?: unknown;
  occurredAt?: unknown;
  propertyName?: unknown;
  propertyValue?: unknown;
}

/** `contact.x`, or `object.x` for a contact (objectTypeId 0-1) in HubSpot's generic webhooks. */
function contactEventType(event: HubSpotEvent): string | undefined {
  const type = typeof event.subscriptionType === 'string' ? event.subscriptionType : '';
  if (type.startsWith('contact.')) return type.slice('contact.'.length);
  if (type.startsWith('object.') && event.objectTypeId === '0-1') return type.slice('object.'.length);
  return undefined;
}

function shape(type: string, field: string, message: string, value: unknown): FatalError {
  return new FatalError(`HubSpot contact.${type} event: ${field} ${message}`, [
    { rule: 'hubspot.event.shape', field, message, value: redactValue(value) },
  ]);
}

/** Canonical fields from the properties one event carries (see the module comment). */
function contactFields(properties: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const value = (name: string): string | null | undefined => {
    const v = properties[name];
    if (v === undefined) return undefined;
    return typeof v === 'string' && v.trim() !== '' ? v : null;
  };
  const fields: Record<string, unknown> = {};
  const email = value('email');
  const phone = value('phone');
  const first = value('firstname');
  const last = value('lastname');
  if (email !== undefined) fields.email = email;
  if (phone !== undefined) fields.phone = phone;
  if (first !== undefined && last !== undefined) {
    const name = [first, last].filter((p): p is string => p !== null).join(' ');
    fields.name = name === '' ? null : name;
  }
  return fields;
}

function toRecords(envelope: Envelope): readonly SourceRecord[] {
  const event = eventJson(envelope, 'HubSpot') as HubSpotEvent | null;
  if (event === null || typeof event !== 'object') return [];
  const type = contactEventType(event);
  if (type !== 'propertyChange' && type !== 'deletion' && type !== 'privacyDeletion') return [];
  const objectId = event.objectId;
  const sourceId =
    typeof objectId === 'number' && Number.isSafeInteger(objectId)
      ? String(objectId)
      : typeof objectId === 'string' && /^\d{1,30}$/.test(objectId)
        ? objectId
        : undefined;
  if (sourceId === undefined) throw shape(type, 'objectId', 'is missing or not an integer', objectId);
  const version = event.occurredAt;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw shape(type, 'occurredAt', 'is missing or not epoch milliseconds', version);
  }
  const refs = { hubspot: sourceId };
  if (type !== 'propertyChange') {
    return [{ entity: 'customer', sourceId, version, deleted: true, data: { refs } }];
  }
  if (typeof event.propertyName !== 'string') return [];
  const fields = contactFields({ [event.propertyName]: event.propertyValue });
  if (Object.keys(fields).length === 0) return [];
  return [
    {
      entity: 'customer',
      sourceId,
      version,
      deleted: false,
      data: { ...fields, refs, updatedAt: new Date(version).toISOString() },
    },
  ];
}

export const hubspotConnector: WebhookConnector<'hubspot'> = {
  kind: 'webhook',
  name: 'hubspot',
  requiredHeaders: () => [SIGNATURE, TIMESTAMP],
  verify,
  parse,
  toRecords,
};
