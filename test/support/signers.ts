import { createHmac } from 'node:crypto';
import { expect } from 'vitest';
import type { ParsedEvent, WebhookConnector, WebhookRequest } from '../../functions/connectors/types.js';
import type { SourceConfig, SwitchyardConfigInput } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { RejectedRequestError } from '../../functions/core/errors.js';
import type { Envelope } from '../../functions/core/messages.js';

/**
 * Signers written from ../shared/notes/webhook-signatures.md with node:crypto alone, independent of
 * the connectors: the conformance tests check them against the vendors' own packages, and use them
 * where a vendor ships no signer (Slack, the generic hmac scheme).
 */

export type Body = string | Buffer;

function bytes(body: Body): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
}

/** Shopify: base64 HMAC-SHA256 of the raw body. */
export function shopifySignature(body: Body, secret: string): string {
  return createHmac('sha256', secret).update(bytes(body)).digest('base64');
}

/** GitHub: `sha256=` + lower-case hex HMAC-SHA256 of the raw body. */
export function githubSignature(body: Body, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(bytes(body)).digest('hex')}`;
}

/** HubSpot v3: base64 HMAC-SHA256 of method + uri + body + timestamp (ms); `uri` already decoded. */
export function hubspotSignature(
  method: string,
  uri: string,
  body: Body,
  timestampMs: number,
  secret: string,
): string {
  return createHmac('sha256', secret)
    .update(method)
    .update(uri)
    .update(bytes(body))
    .update(String(timestampMs))
    .digest('base64');
}

/** Slack: `v0=` + hex HMAC-SHA256 of `v0:<ts>:<body>`, ts in seconds. */
export function slackSignature(body: Body, timestampSeconds: number, secret: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestampSeconds}:`).update(bytes(body)).digest('hex')}`;
}

/** Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `<id>.<ts>.<body>`, key = base64 of the secret after `whsec_`. */
export function standardWebhooksSignature(
  id: string,
  timestampSeconds: number,
  body: Body,
  secret: string,
): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.`).update(bytes(body)).digest('base64')}`;
}

/** A webhook request as ingest hands it to a connector (header names lower-cased). */
export function webhookRequest(
  body: Body,
  headers: Record<string, string | undefined>,
  { method = 'POST', url = 'https://hub.example.com/webhooks/test' }: { method?: string; url?: string } = {},
): WebhookRequest {
  const lower: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  return { method, url, headers: lower, rawBody: bytes(body) };
}

type Connector = SourceConfig['connector'];
export type SettingsOf<C extends Connector> = Extract<SourceConfig, { connector: C }>;

/** A source's settings as the config loader validates them, defaults filled in. */
export function sourceSettings<C extends Connector>(
  input: { connector: C } & Record<string, unknown>,
): SettingsOf<C> {
  const config = loadConfig({
    name: 'conformance',
    sources: { source: { secret: 'test/webhook', ...input } },
    destinations: {},
    flows: [],
  } as SwitchyardConfigInput);
  return config.sources.source as SettingsOf<C>;
}

export type Verdict =
  | { readonly accepted: true; readonly secretIndex: number }
  | { readonly accepted: false; readonly status: number; readonly code: string; readonly message: string };

/**
 * What ingest would do with the request up to the queue: required headers (400), verify (401), then
 * parse. The verdict is the secret index, or the rejection's status, code and message.
 */
export function verdictOf<C extends Connector>(
  connector: WebhookConnector<C>,
  request: WebhookRequest,
  secrets: readonly string[],
  now: number,
  settings: SettingsOf<C>,
): Verdict {
  try {
    for (const header of connector.requiredHeaders(settings)) {
      if (!request.headers[header])
        throw new RejectedRequestError(400, 'missing_header', `${header} is missing`);
    }
    return { accepted: true, secretIndex: connector.verify(request, { secrets, now }, settings).secretIndex };
  } catch (error) {
    if (!(error instanceof RejectedRequestError)) throw error;
    return { accepted: false, status: error.status, code: error.code, message: error.message };
  }
}

/** Asserts a 401 with the code, and that the message names no secret and no part of the body. */
export function expectRejected(
  verdict: Verdict,
  code: 'bad_signature' | 'timestamp_out_of_window',
  message: RegExp,
  secrets: readonly string[] = [],
  body?: Body,
): void {
  expect(verdict).toMatchObject({ accepted: false, status: 401, code });
  if (verdict.accepted) return;
  expect(verdict.message).toMatch(message);
  for (const secret of secrets) expect(verdict.message).not.toContain(secret);
  if (body !== undefined) {
    const text = bytes(body).toString('utf8');
    // No run of 12 characters of the body (names, emails, ids) appears in the message.
    for (let i = 0; i + 12 <= text.length; i += 6)
      expect(verdict.message).not.toContain(text.slice(i, i + 12));
  }
}

/** The envelopes ingest would enqueue for the parsed events. */
export function envelopesOf(events: readonly ParsedEvent[], source = 'source', receivedAt = 0): Envelope[] {
  return events.map((event) => ({
    v: 1,
    source,
    eventId: event.eventId,
    receivedAt,
    headers: event.keepHeaders,
    body: event.body,
  }));
}

/** An envelope carrying one event body, as a route test needs it. */
export function envelope(
  body: unknown,
  headers: Record<string, string> = {},
  receivedAt = 1_714_564_800_000,
): Envelope {
  return {
    v: 1,
    source: 'source',
    eventId: 'evt-1',
    receivedAt,
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}
