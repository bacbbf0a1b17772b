import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoBreakerStore, documentClient } from '../../functions/aws/dynamo-state-store.js';
import { ensureTable } from '../../local/provision.js';
import { startTestEmulators, type TestEmulators } from '../support/emulators.js';

const TABLE = 'breaker-state';
let env: TestEmulators;
let store: DynamoBreakerStore;

beforeAll(async () => {
  env = await startTestEmulators('breaker-store');
  await ensureTable(TABLE, env.dynamodb, 10_000);
  store = new DynamoBreakerStore(documentClient(env.dynamodb), TABLE);
});

afterAll(async () => {
  await env?.stop();
});

const NOW = Date.parse('2026-12-04T00:00:00Z');

describe('DynamoBreakerStore on dynalite: no write shortens a pause in effect', () => {
  it('refuses to close or shorten a pause until it is over, and takes a longer one at any time', async () => {
    expect(
      await store.putBreaker('crm', { failures: 5, openUntil: NOW + 60_000, openSeconds: 30 }, NOW),
    ).toBe(true);
    // A success, and a failure below the threshold, both from reads made before it opened.
    expect(await store.putBreaker('crm', { failures: 0, openUntil: 0, openSeconds: 30 }, NOW + 1)).toBe(
      false,
    );
    expect(await store.putBreaker('crm', { failures: 3, openUntil: 0, openSeconds: 30 }, NOW + 2)).toBe(
      false,
    );
    expect(
      await store.putBreaker('crm', { failures: 6, openUntil: NOW + 30_000, openSeconds: 30 }, NOW + 3),
    ).toBe(false);
    expect(await store.getBreaker('crm')).toEqual({ failures: 5, openUntil: NOW + 60_000, openSeconds: 30 });
    // A longer pause (a longer Retry-After) replaces it.
    expect(
      await store.putBreaker('crm', { failures: 6, openUntil: NOW + 90_000, openSeconds: 30 }, NOW + 4),
    ).toBe(true);
    // Once the pause is over, the probe's success closes it.
    expect(await store.putBreaker('crm', { failures: 0, openUntil: 0, openSeconds: 30 }, NOW + 90_001)).toBe(
      true,
    );
    expect(await store.getBreaker('crm')).toEqual({ failures: 0, openUntil: 0, openSeconds: 30 });
  });
});
