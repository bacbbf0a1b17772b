import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { macMatches } from '../../functions/connectors/signing.js';
import { acceptWebhook, type IngestResponse } from '../../functions/core/ingest.js';
import { STRIPE_PREVIOUS_SECRET, STRIPE_SECRET, STRIPE_SECRET_NAME, testConfig } from '../support/config.js';
import { ManualClock, MemoryInboundQueue, MemorySecretStore, MemoryTelemetry } from '../support/fakes.js';

/*
 * What "constant time" means here, and what these tests can and cannot show.
 *
 * They do not measure wall-clock time (that would be flaky and prove little). They pin down the
 * code path instead, by spying on node:crypto's timingSafeEqual and on every other way to compare
 * buffers: a MAC with the right length is compared with timingSafeEqual, once, on two whole
 * equal-length buffers, whatever byte differs, and never with Buffer#equals, Buffer.compare or a
 * string comparison. timingSafeEqual's own running time depends only on the length, which for
 * HMAC-SHA256 is public (32 bytes).
 *
 * A candidate of the wrong length is refused on its length alone today, before any comparison of
 * content: that leaks nothing but the length of the expected MAC, which is public. Issue 7 asks for
 * the same path for both (one timingSafeEqual on equal-length buffers), as the last two tests check.
 */

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const spy = vi.mocked(timingSafeEqual);
const key = 'whsec_constant_time_test';
const expected = createHmac('sha256', key).update('1714564800.').update('{"id":"evt_1"}').digest();
const expectedHex = expected.toString('hex');

/** The same MAC with the byte at `index` changed (still 32 bytes, still lower-case hex). */
function differingAt(index: number): string {
  const copy = Buffer.from(expected);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy.toString('hex');
}

interface Comparison {
  readonly lengths: readonly [number, number];
  readonly comparesExpected: boolean;
}

/** Every timingSafeEqual call since the last reset: lengths and whether the expected MAC was one side. */
function comparisons(): Comparison[] {
  return spy.mock.calls.map(([a, b]) => {
    const left = Buffer.from(a as Uint8Array);
    const right = Buffer.from(b as Uint8Array);
    return {
      lengths: [left.length, right.length] as const,
      comparesExpected: left.equals(expected) || right.equals(expected),
    };
  });
}

let otherComparisons: {
  equals: MockInstance;
  compare: MockInstance;
};

beforeEach(() => {
  spy.mockClear();
  otherComparisons = {
    equals: vi.spyOn(Buffer.prototype, 'equals'),
    compare: vi.spyOn(Buffer, 'compare'),
  };
});
afterEach(() => {
  otherComparisons.equals.mockRestore();
  otherComparisons.compare.mockRestore();
});

/** Runs `check` with the Buffer comparison spies counting only what happens inside it. */
function isolated<T>(check: () => T): { result: T; equalsCalls: number; compareCalls: number } {
  otherComparisons.equals.mockClear();
  otherComparisons.compare.mockClear();
  const result = check();
  return {
    result,
    equalsCalls: otherComparisons.equals.mock.calls.length,
    compareCalls: otherComparisons.compare.mock.calls.length,
  };
}

describe('macMatches (functions/connectors/signing.ts)', () => {
  it('accepts the right MAC through exactly one timingSafeEqual on two 32-byte buffers', () => {
    const run = isolated(() => macMatches(expected, expectedHex, 'hex'));
    expect(run.result).toBe(true);
    expect(comparisons()).toEqual([{ lengths: [32, 32], comparesExpected: true }]);
    expect(run.equalsCalls + run.compareCalls).toBe(0);
  });

  it('compares a wrong MAC of the right length the same way wherever it differs: one timingSafeEqual on the whole 32 bytes, no other comparison', () => {
    const wrongs = [differingAt(0), differingAt(15), differingAt(31), Buffer.alloc(32).toString('hex')];
    const shapes = wrongs.map((wrong) => {
      spy.mockClear();
      const run = isolated(() => macMatches(expected, wrong, 'hex'));
      expect(run.result).toBe(false);
      expect(run.equalsCalls + run.compareCalls, 'Buffer#equals or Buffer.compare used').toBe(0);
      return comparisons();
    });
    for (const shape of shapes) expect(shape).toEqual([{ lengths: [32, 32], comparesExpected: true }]);
  });

  it('refuses a MAC of the wrong length, through the same single comparison on equal-length buffers', () => {
    const wrongLengths = [
      '',
      expectedHex.slice(0, 2), // a prefix of the right MAC
      expectedHex.slice(0, 62), // the right MAC less its last byte
      `${expectedHex}00`, // the right MAC plus a byte
      differingAt(0).slice(0, 62),
      'ab'.repeat(64), // SHA-512 sized
    ];
    for (const wrong of wrongLengths) {
      spy.mockClear();
      const run = isolated(() => macMatches(expected, wrong, 'hex'));
      expect(run.result, wrong).toBe(false);
      // Same path for a prefix of the right MAC as for garbage: one constant-time comparison of
      // 32 bytes, and no other byte comparison.
      expect(
        comparisons().map((c) => c.lengths),
        wrong,
      ).toEqual([[32, 32]]);
      expect(run.equalsCalls + run.compareCalls, wrong).toBe(0);
    }
  });

  it('refuses upper-case and non-hex text (Stripe signs lower-case hex), on the same single comparison', () => {
    for (const wrong of [expectedHex.toUpperCase(), `${expectedHex.slice(0, 62)}zz`, ` ${expectedHex}`]) {
      spy.mockClear();
      expect(macMatches(expected, wrong, 'hex'), wrong).toBe(false);
      expect(
        comparisons().map((c) => c.lengths),
        wrong,
      ).toEqual([[32, 32]]);
    }
  });

  it('takes the same path for a wrong length as for the right one: one timingSafeEqual on 32-byte buffers', () => {
    spy.mockClear();
    expect(macMatches(expected, expectedHex.slice(0, 62), 'hex')).toBe(false);
    expect(comparisons().map((c) => c.lengths)).toEqual([[32, 32]]);
  });

  it('refuses the right MAC followed by one more hex digit (Buffer.from drops an odd nibble; Stripe refuses it)', () => {
    expect(macMatches(expected, `${expectedHex}0`, 'hex')).toBe(false);
  });
});

describe('the Stripe signature check, end to end through acceptWebhook', () => {
  const body = Buffer.from('{"id":"evt_constant_time","type":"customer.created"}');
  const clock = new ManualClock();
  const t = Math.floor(clock.now() / 1000);
  const mac = (secret: string) => createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');

  async function post(signature: string): Promise<IngestResponse> {
    return acceptWebhook(
      {
        source: 'stripe',
        method: 'POST',
        url: 'https://hooks.example.com/webhooks/stripe',
        headers: { 'stripe-signature': signature, 'content-type': 'application/json' },
        rawBody: body,
      },
      {
        config: testConfig(),
        queue: new MemoryInboundQueue(),
        secrets: new MemorySecretStore({
          [STRIPE_SECRET_NAME]: JSON.stringify([STRIPE_SECRET, STRIPE_PREVIOUS_SECRET]),
        }),
        telemetry: new MemoryTelemetry(),
        clock,
      },
    );
  }

  it('tries every v1 against every secret with timingSafeEqual on 32-byte buffers, whichever byte is wrong', async () => {
    const good = Buffer.from(mac(STRIPE_SECRET), 'hex');
    const wrong = (index: number) => {
      const copy = Buffer.from(good);
      copy[index] = (copy[index] ?? 0) ^ 0x80;
      return copy.toString('hex');
    };
    for (const index of [0, 16, 31]) {
      spy.mockClear();
      const response = await post(
        `t=${t},v1=${wrong(index)},v1=${wrong((index + 1) % 32)},v1=${'0'.repeat(64)}`,
      );
      expect(response.status).toBe(401);
      // 3 candidates x 2 secrets, no early exit on a mismatch.
      expect(spy.mock.calls.map(([a, b]) => [a.byteLength, b.byteLength])).toEqual(Array(6).fill([32, 32]));
    }
  });

  it('answers a wrong MAC of the wrong length exactly as one of the right length: no response tells them apart', async () => {
    const rightLength = await post(`t=${t},v1=${'1'.repeat(64)}`);
    for (const candidate of ['1'.repeat(62), '1'.repeat(66), mac(STRIPE_SECRET).slice(0, 40), '1']) {
      const wrongLength = await post(`t=${t},v1=${candidate}`);
      expect(wrongLength).toEqual(rightLength);
    }
    expect(rightLength.status).toBe(401);
    expect(rightLength.body.error).toBe('bad_signature');
  });

  it('accepts the current and the previous secret, each through timingSafeEqual', async () => {
    for (const secret of [STRIPE_SECRET, STRIPE_PREVIOUS_SECRET]) {
      spy.mockClear();
      const response = await post(`t=${t},v1=${mac(secret)}`);
      expect(response.status).toBe(202);
      expect(spy.mock.calls.length).toBeGreaterThanOrEqual(1);
      for (const [a, b] of spy.mock.calls) expect([a.byteLength, b.byteLength]).toEqual([32, 32]);
    }
  });
});
