import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { CoalescedGet } from '../../functions/aws/coalesced-get.js';

const doc = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' } }),
);
const ddbMock = mockClient(doc);
const TABLE = 'acme-state';
const key = (n: number) => ({ pk: `customer#${n}`, sk: 'CANONICAL' });
const item = (n: number) => ({ ...key(n), revision: n });

describe('CoalescedGet', () => {
  const sleeps: number[] = [];
  let reads: CoalescedGet;

  beforeEach(() => {
    ddbMock.reset();
    sleeps.length = 0;
    reads = new CoalescedGet(doc, TABLE, async (ms) => void sleeps.push(ms));
  });

  it('reads the keys asked for at the same moment with one consistent BatchGetItem', async () => {
    ddbMock.on(BatchGetCommand).resolves({ Responses: { [TABLE]: [item(2), item(1)] } });
    const results = await Promise.all([reads.get(key(1)), reads.get(key(2)), reads.get(key(3))]);
    expect(results).toEqual([item(1), item(2), undefined]);
    expect(ddbMock.calls()).toHaveLength(1);
    expect(ddbMock.commandCalls(BatchGetCommand)[0]?.args[0].input).toEqual({
      RequestItems: { [TABLE]: { Keys: [key(1), key(2), key(3)], ConsistentRead: true } },
    });
  });

  it('reads a lone key with GetItem, and a key asked for twice once', async () => {
    ddbMock.on(GetCommand).resolves({ Item: item(1) });
    expect(await reads.get(key(1))).toEqual(item(1));
    const [a, b] = await Promise.all([reads.get(key(1)), reads.get(key(1))]);
    expect([a, b]).toEqual([item(1), item(1)]);
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(2);
    expect(ddbMock.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: key(1),
      ConsistentRead: true,
    });
    expect(ddbMock.commandCalls(BatchGetCommand)).toHaveLength(0);
  });

  it('asks again for unprocessed keys with a growing pause, then reads the rest alone', async () => {
    ddbMock
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { [TABLE]: [item(1)] },
        UnprocessedKeys: { [TABLE]: { Keys: [key(2), key(3)] } },
      })
      .resolvesOnce({ Responses: { [TABLE]: [item(2)] }, UnprocessedKeys: { [TABLE]: { Keys: [key(3)] } } })
      .resolvesOnce({ Responses: { [TABLE]: [] }, UnprocessedKeys: { [TABLE]: { Keys: [key(3)] } } });
    ddbMock.on(GetCommand).resolves({ Item: item(3) });
    const results = await Promise.all([reads.get(key(1)), reads.get(key(2)), reads.get(key(3))]);
    expect(results).toEqual([item(1), item(2), item(3)]);
    const asked = ddbMock
      .commandCalls(BatchGetCommand)
      .map((c) => c.args[0].input.RequestItems?.[TABLE]?.Keys);
    expect(asked).toEqual([[key(1), key(2), key(3)], [key(2), key(3)], [key(3)]]);
    expect(sleeps).toEqual([25, 50]);
    expect(ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input.Key)).toEqual([key(3)]);
  });

  it('reads each key alone when the BatchGetItem call fails, so a caller fails only with its own read', async () => {
    ddbMock.on(BatchGetCommand).rejects(new Error('socket hang up'));
    ddbMock
      .on(GetCommand, { Key: key(1) })
      .resolves({ Item: item(1) })
      .on(GetCommand, { Key: key(2) })
      .rejects(new Error('ProvisionedThroughputExceededException'));
    const [one, two] = await Promise.allSettled([reads.get(key(1)), reads.get(key(2))]);
    expect(one).toEqual({ status: 'fulfilled', value: item(1) });
    expect(two).toMatchObject({
      status: 'rejected',
      reason: { message: 'ProvisionedThroughputExceededException' },
    });
  });

  it('after a failed retry reads alone only the keys still unread, and gives callers of one key their own copies', async () => {
    ddbMock
      .on(BatchGetCommand)
      .resolvesOnce({ Responses: { [TABLE]: [item(1)] }, UnprocessedKeys: { [TABLE]: { Keys: [key(2)] } } })
      .rejectsOnce(new Error('socket hang up'));
    ddbMock.on(GetCommand).resolves({ Item: item(2) });
    const [one, again, two] = await Promise.all([reads.get(key(1)), reads.get(key(1)), reads.get(key(2))]);
    expect([one, again, two]).toEqual([item(1), item(1), item(2)]);
    expect(one).not.toBe(again);
    expect(ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input.Key)).toEqual([key(2)]);
  });

  it('splits more than 100 keys across calls', async () => {
    ddbMock
      .on(BatchGetCommand)
      .callsFake((input: { RequestItems: Record<string, { Keys: { pk: string }[] }> }) => ({
        Responses: { [TABLE]: (input.RequestItems[TABLE]?.Keys ?? []).map((k) => ({ ...k, found: true })) },
      }));
    const results = await Promise.all(Array.from({ length: 150 }, (_, n) => reads.get(key(n))));
    expect(results.every((r) => r?.found === true)).toBe(true);
    expect(
      ddbMock.commandCalls(BatchGetCommand).map((c) => c.args[0].input.RequestItems?.[TABLE]?.Keys?.length),
    ).toEqual([100, 50]);
  });
});
