import { describe, expect, it } from 'vitest';
import { stripeConnector } from '../../functions/connectors/stripe.js';
import { RejectedRequestError } from '../../functions/core/errors.js';
import { stripe, stripeCustomerEvent, stripeHeader } from '../support/stripe.js';

/**
 * Stripe-Signature as Stripe's own SDK (the `stripe` npm package) makes and checks it: every header
 * here is produced by `generateTestHeaderString`, and whatever our verifier accepts must also pass
 * `stripe.webhooks.constructEvent`.
 */

const CURRENT = 'whsec_5Lq1vU4Cq3p0nMZ8bF2yXk7tR9wHdJ6e';
const PREVIOUS = 'whsec_Pm2oYt7Rz4cW1xN8qL5vB3kH6jD9sF0a';
const NOW_SECONDS = 1_714_564_800;
const NOW_MS = NOW_SECONDS * 1000;
const TOLERANCE = 300;

const payload = stripeCustomerEvent({ created: NOW_SECONDS - 5 });

function verify(
  body: string | Buffer,
  header: string | undefined,
  secrets: readonly string[] = [CURRENT],
  now = NOW_MS,
): { secretIndex: number } {
  return stripeConnector.verify(
    {
      method: 'POST',
      url: 'https://hub.example.com/webhooks/stripe',
      headers: { 'stripe-signature': header },
      rawBody: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    },
    { secrets, now },
    { connector: 'stripe', secret: 'test/stripe', toleranceSeconds: TOLERANCE },
  );
}

/** Our verdict: accepted, or the rejection's status, code and message. */
function ours(body: string | Buffer, header: string, secrets: readonly string[] = [CURRENT], now = NOW_MS) {
  try {
    return { accepted: true as const, secretIndex: verify(body, header, secrets, now).secretIndex };
  } catch (error) {
    if (!(error instanceof RejectedRequestError)) throw error;
    return { accepted: false as const, status: error.status, code: error.code, message: error.message };
  }
}

/** Stripe's verdict, with the same clock and tolerance. */
function stripeAccepts(body: string | Buffer, header: string, secret = CURRENT, now = NOW_MS): boolean {
  try {
    stripe.webhooks.constructEvent(body, header, secret, TOLERANCE, undefined, now);
    return true;
  } catch (error) {
    if ((error as { type?: unknown }).type !== 'StripeSignatureVerificationError') throw error;
    return false;
  }
}

function expectRejected(
  verdict: ReturnType<typeof ours>,
  code: 'bad_signature' | 'timestamp_out_of_window',
  message: RegExp,
): void {
  expect(verdict).toMatchObject({ accepted: false, status: 401, code });
  if (!verdict.accepted) expect(verdict.message).toMatch(message);
}

describe('Stripe signatures made by the Stripe SDK', () => {
  it('verifies a payload signed with the current secret', () => {
    const header = stripeHeader(payload, CURRENT, NOW_SECONDS);
    expect(verify(payload, header)).toEqual({ secretIndex: 0 });
    expect(stripeAccepts(payload, header)).toBe(true);
  });

  it.each([
    ['compact JSON', '{"id":"evt_1","type":"customer.created"}'],
    ['pretty-printed JSON with CRLF', '{\r\n  "id": "evt_1",\r\n  "type": "customer.created"\r\n}\r\n'],
    ['non-ASCII text', '{"id":"evt_1","name":"Zoë Ångström 東京 😀"}'],
    ['escaped unicode', '{"id":"evt_1","name":"Zo\\u00eb"}'],
    ['a 200 KiB body', JSON.stringify({ id: 'evt_big', pad: 'x'.repeat(200 * 1024) })],
  ])('verifies %s, as Stripe does', (_label, body) => {
    const header = stripeHeader(body, CURRENT, NOW_SECONDS);
    expect(verify(body, header)).toEqual({ secretIndex: 0 });
    expect(stripeAccepts(body, header)).toBe(true);
  });

  it('fails if one byte of the body changed', () => {
    const header = stripeHeader(payload, CURRENT, NOW_SECONDS);
    const tampered = payload.replace('jenny.rosen@example.com', 'jenny.rosen@example.org');
    expect(tampered).not.toBe(payload);
    expectRejected(ours(tampered, header), 'bad_signature', /No v1 signature .* matches a signing secret/);
    expect(stripeAccepts(tampered, header)).toBe(false);
  });

  it('fails if the signed timestamp was changed after signing', () => {
    const header = stripeHeader(payload, CURRENT, NOW_SECONDS).replace(
      `t=${NOW_SECONDS}`,
      `t=${NOW_SECONDS + 1}`,
    );
    expectRejected(ours(payload, header), 'bad_signature', /No v1 signature .* matches a signing secret/);
  });

  it('fails if the payload was signed with another secret', () => {
    const header = stripeHeader(payload, 'whsec_someone_else', NOW_SECONDS);
    expectRejected(ours(payload, header), 'bad_signature', /No v1 signature .* matches a signing secret/);
    expect(stripeAccepts(payload, header)).toBe(false);
  });

  it('keys the HMAC with the whole whsec_ string, not a decoded form of it', () => {
    const header = stripeHeader(payload, CURRENT, NOW_SECONDS);
    const decodedKey = Buffer.from(CURRENT.slice('whsec_'.length), 'base64').toString('latin1');
    expectRejected(ours(payload, header, [decodedKey]), 'bad_signature', /matches a signing secret/);
  });

  describe('replay window', () => {
    it('accepts a timestamp exactly at the edge of the window, as Stripe does', () => {
      const header = stripeHeader(payload, CURRENT, NOW_SECONDS - TOLERANCE);
      expect(verify(payload, header)).toEqual({ secretIndex: 0 });
      expect(stripeAccepts(payload, header)).toBe(true);
    });

    it('fails if the timestamp is more than 300 s old', () => {
      const header = stripeHeader(payload, CURRENT, NOW_SECONDS - TOLERANCE - 1);
      expectRejected(ours(payload, header), 'timestamp_out_of_window', /301 s old; the window is 300 s/);
      expect(stripeAccepts(payload, header)).toBe(false);
    });

    it('fails if the timestamp is more than 300 s in the future (Stripe only rejects old ones)', () => {
      const header = stripeHeader(payload, CURRENT, NOW_SECONDS + TOLERANCE + 1);
      expectRejected(
        ours(payload, header),
        'timestamp_out_of_window',
        /301 s in the future; the window is 300 s/,
      );
      // The documented difference: Stripe's SDK lets a future timestamp through.
      expect(stripeAccepts(payload, header)).toBe(true);
    });

    it('checks the window only after the signature: a forged header says bad_signature, not the age', () => {
      const header = stripeHeader(payload, 'whsec_forger', NOW_SECONDS - 10_000);
      expectRejected(ours(payload, header), 'bad_signature', /matches a signing secret/);
    });
  });

  describe('several signatures and rotation', () => {
    it('accepts a header with several v1 entries when one of them matches', () => {
      const signed = stripeHeader(payload, CURRENT, NOW_SECONDS);
      const good = signed.split(',v1=')[1] ?? '';
      const other = stripeHeader(payload, PREVIOUS, NOW_SECONDS).split(',v1=')[1] ?? '';
      expect(good).toMatch(/^[0-9a-f]{64}$/);
      for (const header of [
        `t=${NOW_SECONDS},v1=${other},v1=${good}`,
        `t=${NOW_SECONDS},v1=${good},v1=${other}`,
        `t=${NOW_SECONDS},v1=${'0'.repeat(64)},v1=${good},v0=${'f'.repeat(64)}`,
      ]) {
        expect(verify(payload, header)).toEqual({ secretIndex: 0 });
        expect(stripeAccepts(payload, header)).toBe(true);
      }
    });

    it('fails if none of several v1 entries matches', () => {
      const header = `t=${NOW_SECONDS},v1=${'0'.repeat(64)},v1=${'a'.repeat(64)}`;
      expectRejected(ours(payload, header), 'bad_signature', /No v1 signature .* matches a signing secret/);
    });

    it('accepts the previous secret during a rotation and says which one matched', () => {
      const byPrevious = stripeHeader(payload, PREVIOUS, NOW_SECONDS);
      const byCurrent = stripeHeader(payload, CURRENT, NOW_SECONDS);
      expect(verify(payload, byPrevious, [CURRENT, PREVIOUS])).toEqual({ secretIndex: 1 });
      expect(verify(payload, byCurrent, [CURRENT, PREVIOUS])).toEqual({ secretIndex: 0 });
      expect(stripeAccepts(payload, byPrevious, PREVIOUS)).toBe(true);
    });

    it('fails if the payload was signed with a secret that has been rotated out', () => {
      const header = stripeHeader(payload, PREVIOUS, NOW_SECONDS);
      expectRejected(ours(payload, header, [CURRENT]), 'bad_signature', /matches a signing secret/);
    });
  });

  describe('malformed headers', () => {
    it('fails if the header carries only a v0 signature', () => {
      const header = stripe.webhooks.generateTestHeaderString({
        payload,
        secret: CURRENT,
        timestamp: NOW_SECONDS,
        scheme: 'v0',
      });
      expect(header).toMatch(/^t=\d+,v0=[0-9a-f]{64}$/);
      expectRejected(ours(payload, header), 'bad_signature', /no t= timestamp or no v1= signature/);
      expect(stripeAccepts(payload, header)).toBe(false);
    });

    it('fails if the v1 value is not hex', () => {
      const good = stripeHeader(payload, CURRENT, NOW_SECONDS).split(',v1=')[1] ?? '';
      for (const bad of [
        'z'.repeat(64),
        `${good.slice(0, 62)}zz`,
        `${good}zz`,
        `0x${good}`,
        good.slice(0, 63),
      ]) {
        expectRejected(
          ours(payload, `t=${NOW_SECONDS},v1=${bad}`),
          'bad_signature',
          /matches a signing secret/,
        );
      }
    });

    it('fails if the v1 value is the right MAC in base64 instead of hex', () => {
      const good = stripeHeader(payload, CURRENT, NOW_SECONDS).split(',v1=')[1] ?? '';
      const base64 = Buffer.from(good, 'hex').toString('base64');
      expectRejected(
        ours(payload, `t=${NOW_SECONDS},v1=${base64}`),
        'bad_signature',
        /matches a signing secret/,
      );
    });

    it.each([
      ['no timestamp', (sig: string) => `v1=${sig}`],
      ['a non-numeric timestamp', (sig: string) => `t=soon,v1=${sig}`],
      ['an empty header', () => ''],
    ])('fails if the header has %s', (_label, make) => {
      const good = stripeHeader(payload, CURRENT, NOW_SECONDS).split(',v1=')[1] ?? '';
      expectRejected(ours(payload, make(good)), 'bad_signature', /no t= timestamp or no v1= signature/);
    });

    it('fails if the header is missing altogether', () => {
      expect(() => verify(payload, undefined)).toThrow(/no t= timestamp or no v1= signature/);
    });
  });

  describe('raw bytes, not re-serialised JSON', () => {
    const raw =
      '{\n  "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",\n  "object": "event",\n  "data": {"object": {"name": "Zoë  Ångström", "note": "tab\\there"}}\n}\n';

    it('verifies the exact bytes received', () => {
      const header = stripeHeader(raw, CURRENT, NOW_SECONDS);
      expect(verify(Buffer.from(raw, 'utf8'), header)).toEqual({ secretIndex: 0 });
      expect(stripeAccepts(Buffer.from(raw, 'utf8'), header)).toBe(true);
    });

    it.each([
      ['re-serialised compactly', (s: string) => JSON.stringify(JSON.parse(s))],
      ['re-serialised with two-space indent', (s: string) => `${JSON.stringify(JSON.parse(s), null, 2)}\n`],
      ['without its trailing newline', (s: string) => s.trimEnd()],
      ['with non-ASCII escaped as \\uXXXX', (s: string) => s.replace('ë', '\\u00eb')],
      ['in Unicode NFD instead of NFC', (s: string) => s.normalize('NFD')],
      ['with CRLF line ends', (s: string) => s.replaceAll('\n', '\r\n')],
    ])('fails if the body arrives %s', (_label, transform) => {
      const header = stripeHeader(raw, CURRENT, NOW_SECONDS);
      const changed = transform(raw);
      expect(changed).not.toBe(raw);
      // Same JSON value (where it still parses), different bytes: the signature must not match.
      expectRejected(ours(Buffer.from(changed, 'utf8'), header), 'bad_signature', /matches a signing secret/);
      expect(stripeAccepts(changed, header)).toBe(false);
    });
  });

  describe('whatever we accept, Stripe accepts', () => {
    const signed = stripeHeader(payload, CURRENT, NOW_SECONDS);
    const sig = signed.split(',v1=')[1] ?? '';
    const v0 = stripe.webhooks
      .generateTestHeaderString({ payload, secret: CURRENT, timestamp: NOW_SECONDS, scheme: 'v0' })
      .split(',v0=')[1];

    it.each([
      ['the header as signed', `t=${NOW_SECONDS},v1=${sig}`],
      ['v1 before t', `v1=${sig},t=${NOW_SECONDS}`],
      ['a v0 entry next to v1', `t=${NOW_SECONDS},v1=${sig},v0=${v0}`],
      ['an unknown scheme next to v1', `t=${NOW_SECONDS},v9=abc,v1=${sig}`],
      ['the signature in upper-case hex', `t=${NOW_SECONDS},v1=${sig.toUpperCase()}`],
      ['a space after each comma', `t=${NOW_SECONDS}, v1=${sig}`],
      ['spaces around the equals signs', `t = ${NOW_SECONDS},v1 = ${sig}`],
      ['a second, later t', `t=${NOW_SECONDS},v1=${sig},t=${NOW_SECONDS + 1}`],
    ])('with %s', (_label, header) => {
      const verdict = ours(payload, header);
      const theirs = stripeAccepts(payload, header);
      if (verdict.accepted) expect(theirs, `we accept "${header}", Stripe's SDK does not`).toBe(true);
      else expect(verdict.status).toBe(401);
    });

    it('with every header Stripe signs for a range of timestamps inside the window', () => {
      for (const offset of [-TOLERANCE, -120, -1, 0, 1, 60]) {
        const header = stripeHeader(payload, CURRENT, NOW_SECONDS + offset);
        expect(ours(payload, header)).toEqual({ accepted: true, secretIndex: 0 });
        expect(stripeAccepts(payload, header)).toBe(true);
      }
    });
  });
});

describe('the simulated Stripe sender (demo, e2e tests, bench)', () => {
  it("signs exactly as Stripe's SDK does, and its events pass Stripe's own constructEvent", async () => {
    const {
      demoCustomer,
      stripeCustomerEvent: demoEvent,
      stripeSignatureHeader,
    } = await import('../../local/demo/stripe-sender.js');
    const payload = demoEvent('customer.updated', demoCustomer(7), 1_700_000_000);
    const ours = stripeSignatureHeader(payload, 'whsec_demo', 1_700_000_000);
    expect(ours).toBe(
      stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_demo', timestamp: 1_700_000_000 }),
    );
    const event = stripe.webhooks.constructEvent(
      payload,
      stripeSignatureHeader(payload, 'whsec_demo', Math.floor(Date.now() / 1000)),
      'whsec_demo',
    );
    expect(event.type).toBe('customer.updated');
  });
});
