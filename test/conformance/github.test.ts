import { verify as octokitVerify, sign } from '@octokit/webhooks-methods';
import { describe, expect, it } from 'vitest';
import { githubConnector } from '../../functions/connectors/github.js';
import {
  envelopesOf,
  expectRejected,
  githubSignature,
  sourceSettings,
  verdictOf,
  webhookRequest,
} from '../support/signers.js';

/**
 * X-Hub-Signature-256 as GitHub's own library (@octokit/webhooks-methods) makes and checks it:
 * bodies are signed with its `sign`, and whatever our verifier accepts must also pass its `verify`.
 */

const CURRENT = 'gh-webhook-secret-current-7f3a9c';
const PREVIOUS = 'gh-webhook-secret-previous-1b2d4e';
const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const DELIVERY = '72d3162e-cc78-11e3-81ab-4c9367dc0958';
const settings = sourceSettings({
  connector: 'github',
  map: {
    entity: 'customer',
    id: 'sender.id',
    version: 'sender.updated_at',
    fields: { email: 'sender.email' },
  },
});

const payload =
  '{"action":"edited","sender":{"id":583231,"login":"octocat","email":"octocat@github.com","updated_at":"2024-05-01T11:59:00Z"}}';

function headers(signature: string | undefined): Record<string, string | undefined> {
  return {
    'X-Hub-Signature-256': signature,
    'X-GitHub-Event': 'member',
    'X-GitHub-Delivery': DELIVERY,
    'X-GitHub-Hook-ID': '292430182',
  };
}

function ours(
  body: string | Buffer,
  signature: string | undefined,
  secrets: readonly string[] = [CURRENT],
  now = NOW,
) {
  return verdictOf(githubConnector, webhookRequest(body, headers(signature)), secrets, now, settings);
}

async function octokitAccepts(body: string, signature: string, secret = CURRENT): Promise<boolean> {
  try {
    return await octokitVerify(secret, body, signature);
  } catch {
    return false;
  }
}

describe('GitHub webhooks signed by @octokit/webhooks-methods', () => {
  it('verifies a payload signed with the current secret, as GitHub does', async () => {
    const signature = await sign(CURRENT, payload);
    expect(signature).toBe(githubSignature(payload, CURRENT));
    expect(ours(payload, signature)).toEqual({ accepted: true, secretIndex: 0 });
    expect(await octokitAccepts(payload, signature)).toBe(true);
  });

  it.each([
    ['compact JSON', '{"zen":"Keep it logically awesome.","hook_id":1}'],
    ['pretty-printed JSON with CRLF', '{\r\n  "zen": "Design for failure."\r\n}\r\n'],
    ['non-ASCII text', '{"login":"Zoë Ångström 東京 😀"}'],
    ['a 200 KiB body', JSON.stringify({ pad: 'x'.repeat(200 * 1024) })],
  ])('verifies %s', async (_label, body) => {
    const signature = await sign(CURRENT, body);
    expect(ours(body, signature)).toEqual({ accepted: true, secretIndex: 0 });
    expect(await octokitAccepts(body, signature)).toBe(true);
  });

  it('fails if one byte of the body changed', async () => {
    const signature = await sign(CURRENT, payload);
    const tampered = payload.replace('octocat@github.com', 'octocat@github.org');
    expectRejected(
      ours(tampered, signature),
      'bad_signature',
      /X-Hub-Signature-256 matches no signing secret/,
      [CURRENT],
      tampered,
    );
    expect(await octokitAccepts(tampered, signature)).toBe(false);
  });

  it('fails if the payload was signed with another secret', async () => {
    const signature = await sign('someone-else', payload);
    expectRejected(ours(payload, signature), 'bad_signature', /matches no signing secret/, [CURRENT]);
  });

  it.each([
    ['re-serialised compactly', (s: string) => JSON.stringify(JSON.parse(s))],
    ['re-serialised with indent', (s: string) => JSON.stringify(JSON.parse(s), null, 2)],
    ['with non-ASCII escaped', (s: string) => s.replace('ë', '\\u00eb')],
    ['without its trailing newline', (s: string) => s.trimEnd()],
  ])('fails if the body arrives %s', async (_label, transform) => {
    const raw = '{ "login": "Zoë",  "id": 1 }\n';
    const signature = await sign(CURRENT, raw);
    const changed = transform(raw);
    expect(changed).not.toBe(raw);
    expectRejected(ours(changed, signature), 'bad_signature', /matches no signing secret/);
    expect(await octokitAccepts(changed, signature)).toBe(false);
  });

  it('has no replay window: GitHub signs no timestamp; a redelivery keeps its X-GitHub-Delivery for dedupe', async () => {
    const signature = await sign(CURRENT, payload);
    expect(ours(payload, signature, [CURRENT], NOW + 30 * 86_400_000)).toEqual({
      accepted: true,
      secretIndex: 0,
    });
    const events = githubConnector.parse(
      webhookRequest(payload, headers(signature)),
      JSON.parse(payload),
      settings,
    );
    expect(events).toEqual([
      { eventId: DELIVERY, body: payload, keepHeaders: { 'x-github-event': 'member' } },
    ]);
  });

  describe('rotation', () => {
    it('accepts the previous secret while it is listed, and says which one matched', async () => {
      expect(ours(payload, await sign(PREVIOUS, payload), [CURRENT, PREVIOUS])).toEqual({
        accepted: true,
        secretIndex: 1,
      });
    });

    it('fails once the previous secret is removed', async () => {
      expectRejected(ours(payload, await sign(PREVIOUS, payload), [CURRENT]), 'bad_signature', /matches no/, [
        CURRENT,
        PREVIOUS,
      ]);
    });
  });

  describe('header forms: whatever we accept, octokit accepts', () => {
    it.each([
      ['the signature as signed', (s: string) => s],
      ['upper-case hex', (s: string) => `sha256=${s.slice(7).toUpperCase()}`],
      ['an upper-case prefix', (s: string) => `SHA256=${s.slice(7)}`],
      ['the legacy sha1= prefix', (s: string) => `sha1=${s.slice(7)}`],
      ['no prefix', (s: string) => s.slice(7)],
      ['the MAC in base64', (s: string) => `sha256=${Buffer.from(s.slice(7), 'hex').toString('base64')}`],
      ['a truncated MAC', (s: string) => s.slice(0, 40)],
      ['trailing garbage', (s: string) => `${s}00`],
    ])('with %s', async (_label, make) => {
      const header = make(await sign(CURRENT, payload));
      const verdict = ours(payload, header);
      if (verdict.accepted) expect(await octokitAccepts(payload, header), `we accept "${header}"`).toBe(true);
      else expect(verdict).toMatchObject({ status: 401, code: 'bad_signature' });
    });
  });

  it('requires the signature, delivery and event headers', () => {
    for (const missing of ['X-Hub-Signature-256', 'X-GitHub-Delivery', 'X-GitHub-Event']) {
      const all = headers(githubSignature(payload, CURRENT));
      delete all[missing];
      expect(
        verdictOf(githubConnector, webhookRequest(payload, all), [CURRENT], NOW, settings),
      ).toMatchObject({
        status: 400,
        code: 'missing_header',
      });
    }
  });

  it('maps a signed event through the configured map, and a ping to nothing', async () => {
    const request = webhookRequest(payload, headers(await sign(CURRENT, payload)));
    const [envelope] = envelopesOf(githubConnector.parse(request, JSON.parse(payload), settings));
    expect(envelope && githubConnector.toRecords(envelope, settings)).toEqual([
      {
        entity: 'customer',
        sourceId: '583231',
        version: Date.parse('2024-05-01T11:59:00Z'),
        deleted: false,
        data: { email: 'octocat@github.com' },
      },
    ]);
    const ping = {
      ...envelope,
      headers: { 'x-github-event': 'ping' },
      body: '{"zen":"Speak like a human."}',
    };
    expect(envelope && githubConnector.toRecords({ ...envelope, ...ping }, settings)).toEqual([]);
  });
});
