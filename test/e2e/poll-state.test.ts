import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPollStateStore, documentClient } from '../../functions/aws/dynamo-state-store.js';
import { ensureTable } from '../../local/provision.js';
import { startTestEmulators, type TestEmulators } from '../support/emulators.js';

const TABLE = 'poll-state';
let env: TestEmulators;
let dynamodb: DynamoDBClient;
let state: DynamoPollStateStore;

beforeAll(async () => {
  env = await startTestEmulators('poll-state');
  dynamodb = env.dynamodb;
  await ensureTable(TABLE, dynamodb, 10_000);
  state = new DynamoPollStateStore(documentClient(dynamodb), TABLE);
});

afterAll(async () => {
  await env?.stop();
});

const NOW = Date.parse('2026-12-04T00:00:00Z');

describe('DynamoPollStateStore on dynalite: lease and cursor on one item', () => {
  it('takes the lease once: a second poll is refused until the first releases it', async () => {
    expect(await state.acquireLease('a', 'poll-1', NOW + 60_000, NOW)).toEqual({ cursor: undefined });
    expect(await state.acquireLease('a', 'poll-2', NOW + 60_000, NOW + 1)).toBeUndefined();
    // Its own lease again (a retried invocation of the same poll): taken.
    expect(await state.acquireLease('a', 'poll-1', NOW + 60_000, NOW + 2)).toEqual({ cursor: undefined });
    expect(await state.releaseLease('a', 'poll-1', { expected: undefined, next: 100 })).toBe('advanced');
    expect(await state.acquireLease('a', 'poll-2', NOW + 60_000, NOW + 3)).toEqual({ cursor: 100 });
    expect(await state.releaseLease('a', 'poll-2')).toBe('released');
    expect(await state.getCursor('a')).toBe(100);
  });

  it('advances the cursor only from the value it read, and releases the lease either way', async () => {
    await state.acquireLease('b', 'poll-1', NOW + 60_000, NOW);
    await state.releaseLease('b', 'poll-1', { expected: undefined, next: 200 });
    expect(await state.acquireLease('b', 'poll-1', NOW + 60_000, NOW)).toEqual({ cursor: 200 });
    expect(await state.releaseLease('b', 'poll-1', { expected: 150, next: 300 })).toBe('conflict');
    expect(await state.getCursor('b')).toBe(200);
    // Released all the same: another poll takes it at once.
    expect(await state.acquireLease('b', 'poll-2', NOW + 60_000, NOW + 1)).toEqual({ cursor: 200 });
  });

  it('lets a lease that ran out be taken, and then refuses the first poll its cursor write and its release', async () => {
    await state.acquireLease('c', 'slow', NOW + 1_000, NOW);
    expect(await state.acquireLease('c', 'next', NOW + 61_000, NOW + 1_001)).toEqual({ cursor: undefined });
    expect(await state.releaseLease('c', 'slow', { expected: undefined, next: 500 })).toBe('conflict');
    expect(await state.getCursor('c')).toBeUndefined();
    const item = await documentClient(dynamodb).send(
      new GetCommand({ TableName: TABLE, Key: { pk: 'POLL#c', sk: 'CURSOR' }, ConsistentRead: true }),
    );
    expect(item.Item).toMatchObject({ owner: 'next', until: NOW + 61_000 });
    expect(await state.releaseLease('c', 'next', { expected: undefined, next: 600 })).toBe('advanced');
    expect(await state.getCursor('c')).toBe(600);
  });

  it('polls on from the cursor an earlier version wrote (an item with the cursor alone)', async () => {
    await documentClient(dynamodb).send(
      new PutCommand({ TableName: TABLE, Item: { pk: 'POLL#d', sk: 'CURSOR', cursor: 700 } }),
    );
    expect(await state.acquireLease('d', 'poll-1', NOW + 60_000, NOW)).toEqual({ cursor: 700 });
    expect(await state.releaseLease('d', 'poll-1', { expected: 700, next: 800 })).toBe('advanced');
    const item = await documentClient(dynamodb).send(
      new GetCommand({ TableName: TABLE, Key: { pk: 'POLL#d', sk: 'CURSOR' }, ConsistentRead: true }),
    );
    // The lease attributes are gone with the release.
    expect(item.Item).toEqual({ pk: 'POLL#d', sk: 'CURSOR', cursor: 800 });
  });
});
