import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derivedCanonicalId } from '../../functions/core/identity.js';

/**
 * RFC 9562 UUIDv8 from a SHA-256 digest, built here independently of the product: the first 128
 * bits of the digest with the version (bits 48-51 := 1000) and variant (bits 64-65 := 10) set, so
 * the other 122 bits are the digest's own (RFC 9562 appendix B.2).
 */
function uuidV8FromSha256(input: Buffer | string): string {
  const bytes = createHash('sha256').update(input).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The documented input: a namespace, then entity, source and source id, NUL-separated. */
function expectedId(source: string, entity: string, sourceId: string): string {
  return uuidV8FromSha256(`switchyard/canonical\u0000${entity}\u0000${source}\u0000${sourceId}`);
}

const RFC_9562_LAYOUT = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const samples: [string, 'customer' | 'order' | 'invoice', string][] = [
  ['stripe', 'customer', 'cus_NffrFeUfNV2Hib'],
  ['hubspot', 'customer', '51'],
  ['shopify', 'order', 'gid://shopify/Order/148977776'],
  ['stripe', 'invoice', 'in_1MtHbELkdIwHu7ixl4OzzPMv'],
  ['stripe', 'customer', ''],
  ['stripe', 'customer', 'ünïcödé/ id'],
];

describe('derivedCanonicalId', () => {
  it('builds UUIDv8 the way RFC 9562 appendix B.2 does (checks the helper against the RFC vector)', () => {
    // SHA-256 name-based example of RFC 9562 B.2: namespace DNS, name "www.example.com".
    const namespaceDns = Buffer.from('6ba7b8109dad11d180b400c04fd430c8', 'hex');
    const input = Buffer.concat([namespaceDns, Buffer.from('www.example.com')]);
    expect(uuidV8FromSha256(input)).toBe('5c146b14-3c52-8afd-938a-375d0df1fbf6');
  });

  it.each(samples)(
    'is an RFC 9562 version-8 UUID (%s %s %j): 8-4-4-4-12 lowercase hex, version 8, variant 10',
    (source, entity, sourceId) => {
      const id = derivedCanonicalId(source, entity, sourceId);
      expect(id).toMatch(RFC_9562_LAYOUT);
      const [, , third, fourth] = id.split('-');
      expect(third?.charAt(0)).toBe('8');
      expect(Number.parseInt(fourth?.charAt(0) ?? '', 16) >> 2).toBe(0b10);
    },
  );

  it.each(samples)(
    'carries 122 bits of SHA-256 of the documented input (%s %s %j)',
    (source, entity, sourceId) => {
      expect(derivedCanonicalId(source, entity, sourceId)).toBe(expectedId(source, entity, sourceId));
    },
  );

  it('stays the id existing records were founded under (pinned value)', () => {
    expect(derivedCanonicalId('stripe', 'customer', 'cus_NffrFeUfNV2Hib')).toBe(
      expectedId('stripe', 'customer', 'cus_NffrFeUfNV2Hib'),
    );
    expect(derivedCanonicalId('stripe', 'customer', 'cus_NffrFeUfNV2Hib')).toBe(
      '5454045b-bb3f-84c4-8bfc-bf16d6186e4d',
    );
  });

  it('is deterministic: every route of one record derives the same id', () => {
    const first = derivedCanonicalId('stripe', 'customer', 'cus_NffrFeUfNV2Hib');
    for (let i = 0; i < 5; i++) {
      expect(derivedCanonicalId('stripe', 'customer', 'cus_NffrFeUfNV2Hib')).toBe(first);
    }
  });

  it('differs when only the entity, the source or the source id changes', () => {
    const base = derivedCanonicalId('stripe', 'customer', 'cus_1');
    const changed = [
      derivedCanonicalId('stripe', 'order', 'cus_1'),
      derivedCanonicalId('hubspot', 'customer', 'cus_1'),
      derivedCanonicalId('stripe', 'customer', 'cus_2'),
    ];
    for (const id of changed) expect(id).not.toBe(base);
    expect(new Set([base, ...changed]).size).toBe(4);
  });

  it('keeps the fields apart: moving text between source and source id changes the id', () => {
    expect(derivedCanonicalId('stripe', 'customer', 'x:1')).not.toBe(
      derivedCanonicalId('stripe:x', 'customer', '1'),
    );
    expect(derivedCanonicalId('ab', 'customer', 'c')).not.toBe(derivedCanonicalId('a', 'customer', 'bc'));
  });
});
