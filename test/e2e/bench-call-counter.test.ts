import { BatchGetCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsCallCounter } from '../../bench/aws-call-counter.js';
import { documentClient } from '../../functions/aws/dynamo-state-store.js';
import { ensureTable } from '../../local/provision.js';
import { startTestEmulators, type TestEmulators } from '../support/emulators.js';

const TABLE = 'counter-state';
let env: TestEmulators;

beforeAll(async () => {
  env = await startTestEmulators('counter');
  await ensureTable(TABLE, env.dynamodb, 10_000);
});

afterAll(async () => {
  await env?.stop();
});

describe("the bench's AWS call counter (bench/aws-call-counter.ts), on dynalite", () => {
  it('bills a BatchGetItem per item, as DynamoDB does: the same read units as one GetItem per key', async () => {
    const { dynamodb, sqs } = env;
    const doc = documentClient(dynamodb);
    await doc.send(
      new PutCommand({ TableName: TABLE, Item: { pk: 'small', sk: 'S', data: 'x'.repeat(100) } }),
    );
    // About 5 KB: two read units on a consistent read.
    await doc.send(
      new PutCommand({ TableName: TABLE, Item: { pk: 'large', sk: 'S', data: 'x'.repeat(5_000) } }),
    );
    const counter = new AwsCallCounter();
    counter.instrument({ sqs, dynamodb });
    const keys = [
      { pk: 'small', sk: 'S' },
      { pk: 'large', sk: 'S' },
    ];
    for (const key of keys)
      await doc.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }));
    const alone = counter.counts.dynamo.readUnits;
    counter.reset();
    await doc.send(new BatchGetCommand({ RequestItems: { [TABLE]: { Keys: keys, ConsistentRead: true } } }));
    expect(alone).toBe(3);
    expect(counter.counts.dynamo.readUnits).toBe(alone);
    expect(counter.counts.calls).toEqual({ 'DynamoDB.BatchGetItem': 1 });
  });
});
