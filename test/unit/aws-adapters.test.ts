import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DynamoOpsStore,
  DynamoPollStateStore,
  DynamoStateStore,
} from '../../functions/aws/dynamo-state-store.js';
import { SecretsManagerStore } from '../../functions/aws/secrets.js';
import { SqsDeliveryQueues, SqsInboundQueue, SqsMessageVisibility } from '../../functions/aws/sqs.js';
import { backoffSeconds } from '../../functions/core/backoff.js';
import { TransientError } from '../../functions/core/errors.js';
import { deduplicationId } from '../../functions/core/hashing.js';
import type { DeliveryMessage, Envelope } from '../../functions/core/messages.js';
import type { CanonicalItem, DeliveryMapping } from '../../functions/core/ports.js';
import type { ShadowRecord } from '../../functions/core/shadow.js';

const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
const CRM_QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/acme-deliver-crm.fifo';
const ERP_QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/acme-deliver-erp.fifo';
const INBOUND_QUEUE = 'https://sqs.eu-west-1.amazonaws.com/123456789012/acme-inbound';

function conditionFailed(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
}

function deliveryMessage(i: number, overrides: Partial<DeliveryMessage> = {}): DeliveryMessage {
  return {
    v: 1,
    flow: 'customers',
    destination: 'crm',
    entity: 'customer',
    id: `cust-${i}`,
    source: 'stripe',
    sourceId: `cus_${i}`,
    version: 1_714_564_800 + i,
    deleted: false,
    data: { email: `c${i}@example.com`, refs: { stripe: `cus_${i}` } },
    eventId: `evt_${i}`,
    receivedAt: 1_714_564_800_000,
    routedFrom: `inbound-${i}`,
    ...overrides,
  };
}

describe('SQS adapters', () => {
  const sqs = new SQSClient({ region, credentials });
  const sqsMock = mockClient(sqs);

  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  });

  describe('SqsDeliveryQueues', () => {
    it('sends in batches of at most 10 per destination queue', async () => {
      const messages = [
        ...Array.from({ length: 23 }, (_, i) => deliveryMessage(i)),
        ...Array.from({ length: 3 }, (_, i) => deliveryMessage(100 + i, { destination: 'erp' })),
      ];
      await new SqsDeliveryQueues(sqs, { crm: CRM_QUEUE, erp: ERP_QUEUE }).send(messages);

      const batches = sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input);
      expect(batches.map((b) => [b.QueueUrl, b.Entries?.length])).toEqual([
        [CRM_QUEUE, 10],
        [CRM_QUEUE, 10],
        [CRM_QUEUE, 3],
        [ERP_QUEUE, 3],
      ]);
      const sent = batches
        .flatMap((b) => b.Entries ?? [])
        .map((e) => JSON.parse(e.MessageBody ?? '') as DeliveryMessage);
      expect(sent).toEqual(messages);
      for (const batch of batches) {
        const ids = (batch.Entries ?? []).map((e) => e.Id);
        expect(new Set(ids).size).toBe(ids.length);
      }
    });

    it('starts a new batch before the bodies pass 1 MiB, in order, so a shared route batch of large records is not refused', async () => {
      const big = (i: number) => deliveryMessage(i, { data: { note: 'x'.repeat(300_000), refs: {} } });
      const messages = [big(1), big(2), big(3), big(4), deliveryMessage(5), big(6)];
      await new SqsDeliveryQueues(sqs, { crm: CRM_QUEUE }).send(messages);

      const batches = sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input);
      expect(batches.map((b) => b.Entries?.length)).toEqual([3, 3]);
      for (const batch of batches) {
        const bytes = (batch.Entries ?? []).reduce((n, e) => n + Buffer.byteLength(e.MessageBody ?? ''), 0);
        expect(bytes).toBeLessThanOrEqual(1_048_576);
      }
      const sent = batches
        .flatMap((b) => b.Entries ?? [])
        .map((e) => JSON.parse(e.MessageBody ?? '') as DeliveryMessage);
      expect(sent.map((m) => m.id)).toEqual(messages.map((m) => m.id));
    });

    it('groups by entity and id, and sets a dedup id from destination, id, version and inbound message', async () => {
      const message = deliveryMessage(7);
      await new SqsDeliveryQueues(sqs, { crm: CRM_QUEUE }).send([message]);
      const entry = sqsMock.commandCalls(SendMessageBatchCommand)[0]?.args[0].input
        .Entries?.[0] as SendMessageBatchRequestEntry;
      expect(entry.MessageGroupId).toBe('customer#cust-7');
      expect(entry.MessageDeduplicationId).toBe(
        deduplicationId('crm', 'cust-7', message.version, 'inbound-7'),
      );
      // SQS allows at most 128 characters.
      expect(entry.MessageDeduplicationId).toMatch(/^[0-9a-f]{64}$/);
    });

    it('gives a route retry the same dedup id, and a provider re-delivery or new version a different one', async () => {
      const queues = new SqsDeliveryQueues(sqs, { crm: CRM_QUEUE });
      const m = deliveryMessage(1);
      await queues.send([m]);
      await queues.send([structuredClone(m)]);
      await queues.send([{ ...m, routedFrom: 'inbound-redelivered' }]);
      await queues.send([{ ...m, version: m.version + 1 }]);
      await queues.send([{ ...m, destination: 'crm', id: 'cust-other' }]);
      const ids = sqsMock
        .commandCalls(SendMessageBatchCommand)
        .map((call) => call.args[0].input.Entries?.[0]?.MessageDeduplicationId);
      expect(ids[1]).toBe(ids[0]);
      expect(new Set([ids[0], ids[2], ids[3], ids[4]]).size).toBe(4);
    });

    it('sends again only the entries SQS refused, and resolves once every entry is in', async () => {
      sqsMock
        .on(SendMessageBatchCommand)
        .resolvesOnce({
          Successful: [{ Id: '0', MessageId: 'x', MD5OfMessageBody: 'y' }],
          Failed: [
            { Id: '1', Code: 'ThrottlingException', SenderFault: false, Message: 'Rate exceeded' },
            { Id: '2', Code: 'ThrottlingException', SenderFault: false, Message: 'Rate exceeded' },
          ],
        })
        .resolvesOnce({
          Successful: [
            { Id: '1', MessageId: 'x1', MD5OfMessageBody: 'y' },
            { Id: '2', MessageId: 'x2', MD5OfMessageBody: 'y' },
          ],
        });
      await new SqsDeliveryQueues(sqs, { crm: CRM_QUEUE }).send([
        deliveryMessage(0),
        deliveryMessage(1),
        deliveryMessage(2),
      ]);
      const calls = sqsMock.commandCalls(SendMessageBatchCommand);
      expect(calls.map((c) => c.args[0].input.Entries?.map((e) => e.Id))).toEqual([
        ['0', '1', '2'],
        ['1', '2'],
      ]);
    });

    it('fails with a TransientError naming the count and the first failure when SQS keeps refusing entries', async () => {
      sqsMock.on(SendMessageBatchCommand).resolves({
        Successful: [{ Id: '0', MessageId: 'x', MD5OfMessageBody: 'y' }],
        Failed: [
          { Id: '1', Code: 'ThrottlingException', SenderFault: false, Message: 'Rate exceeded' },
          { Id: '2', Code: 'ThrottlingException', SenderFault: false, Message: 'Rate exceeded' },
        ],
      });
      const error = await new SqsDeliveryQueues(sqs, { crm: CRM_QUEUE })
        .send([deliveryMessage(0), deliveryMessage(1), deliveryMessage(2)])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toBe(
        '2 delivery messages were not queued (ThrottlingException: Rate exceeded)',
      );
      expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(3);
    });

    it('fails if a message names a destination that has no queue, before sending anything', async () => {
      await expect(
        new SqsDeliveryQueues(sqs, { crm: CRM_QUEUE }).send([
          deliveryMessage(1),
          deliveryMessage(2, { destination: 'ledger' }),
        ]),
      ).rejects.toThrow('No delivery queue for destination "ledger"');
      expect(sqsMock.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
    });

    it('lets an SQS error through, so the route step retries', async () => {
      sqsMock.on(SendMessageBatchCommand).rejects(new Error('connect ECONNREFUSED'));
      await expect(new SqsDeliveryQueues(sqs, { crm: CRM_QUEUE }).send([deliveryMessage(1)])).rejects.toThrow(
        'connect ECONNREFUSED',
      );
    });
  });

  describe('SqsInboundQueue', () => {
    it('sends the envelope as JSON and resolves only once SQS answered', async () => {
      sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
      const envelope: Envelope = {
        v: 1,
        source: 'stripe',
        eventId: 'evt_1',
        receivedAt: 1,
        headers: {},
        body: '{"id":"evt_1"}',
      };
      await new SqsInboundQueue(sqs, INBOUND_QUEUE).send([envelope]);
      const input = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input;
      expect(input?.QueueUrl).toBe(INBOUND_QUEUE);
      expect(JSON.parse(input?.MessageBody ?? '')).toEqual(envelope);
    });

    it('fails if SQS does', async () => {
      sqsMock.on(SendMessageCommand).rejects(new Error('AWS.SimpleQueueService.NonExistentQueue'));
      await expect(
        new SqsInboundQueue(sqs, INBOUND_QUEUE).send([
          { v: 1, source: 's', eventId: 'e', receivedAt: 1, headers: {}, body: '{}' },
        ]),
      ).rejects.toThrow('NonExistentQueue');
    });
  });

  describe('SqsMessageVisibility', () => {
    it.each([
      [2.2, 3],
      [0, 0],
      [-1, 0],
      [100_000, 43_200],
    ])('sets a delay of %d s as a visibility timeout of %d s', async (seconds, expected) => {
      sqsMock.on(ChangeMessageVisibilityCommand).resolves({});
      await new SqsMessageVisibility(sqs, CRM_QUEUE).delay('rh-1', seconds);
      expect(sqsMock.commandCalls(ChangeMessageVisibilityCommand)[0]?.args[0].input).toEqual({
        QueueUrl: CRM_QUEUE,
        ReceiptHandle: 'rh-1',
        VisibilityTimeout: expected,
      });
    });
  });
});

describe('DynamoStateStore', () => {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region, credentials }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const ddbMock = mockClient(doc);
  const store = new DynamoStateStore(doc, 'acme-state', 14 * 86_400);

  const mapping: DeliveryMapping = {
    destination: 'crm',
    entity: 'customer',
    id: 'cust-1',
    destinationId: 'crm-42',
    versions: { stripe: 5 },
    contentHash: 'abc',
    updatedAt: 1000,
  };

  beforeEach(() => {
    ddbMock.reset();
  });

  it('writes a mapping under a condition on the source version', async () => {
    ddbMock.on(PutCommand).resolves({});
    expect(await store.putMapping(mapping, 'stripe')).toBe('written');
    const input = ddbMock.commandCalls(PutCommand)[0]?.args[0].input;
    expect(input).toEqual({
      TableName: 'acme-state',
      Item: { pk: 'customer#cust-1', sk: 'MAP#crm', ...mapping },
      ConditionExpression:
        'attribute_not_exists(pk) OR attribute_not_exists(versions.#source) OR versions.#source <= :version',
      ExpressionAttributeNames: { '#source': 'stripe' },
      ExpressionAttributeValues: { ':version': 5 },
    });
  });

  it("returns 'stale' when the condition fails", async () => {
    ddbMock.on(PutCommand).rejects(conditionFailed());
    expect(await store.putMapping(mapping, 'stripe')).toBe('stale');
  });

  it('recognises a ConditionalCheckFailedException by name, as a second SDK copy throws it', async () => {
    ddbMock.on(PutCommand).rejects(
      Object.assign(new Error('The conditional request failed'), {
        name: 'ConditionalCheckFailedException',
      }),
    );
    expect(await store.putMapping(mapping, 'stripe')).toBe('stale');
  });

  it('lets any other DynamoDB error through', async () => {
    ddbMock
      .on(PutCommand)
      .rejects(
        Object.assign(new Error('Throughput exceeded'), { name: 'ProvisionedThroughputExceededException' }),
      );
    await expect(store.putMapping(mapping, 'stripe')).rejects.toThrow('Throughput exceeded');
  });

  it('reads a mapping back with a consistent read', async () => {
    ddbMock.on(GetCommand).resolves({ Item: { pk: 'customer#cust-1', sk: 'MAP#crm', ...mapping } });
    expect(await store.getMapping('crm', 'customer', 'cust-1')).toEqual(mapping);
    expect(ddbMock.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: 'acme-state',
      Key: { pk: 'customer#cust-1', sk: 'MAP#crm' },
      ConsistentRead: true,
    });
  });

  it('claims a new xref only if none exists', async () => {
    ddbMock.on(PutCommand).resolves({});
    expect(await store.claimXref('stripe', 'customer', 'cus_1', 'cust-new')).toBe('cust-new');
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      Item: { pk: 'XREF#stripe#customer#cus_1', sk: 'XREF', canonicalId: 'cust-new' },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
  });

  it('returns the winner when another claim got there first', async () => {
    ddbMock.on(PutCommand).rejects(conditionFailed());
    ddbMock
      .on(GetCommand)
      .resolves({ Item: { pk: 'XREF#stripe#customer#cus_1', sk: 'XREF', canonicalId: 'cust-winner' } });
    expect(await store.claimXref('stripe', 'customer', 'cus_1', 'cust-loser')).toBe('cust-winner');
    expect(ddbMock.commandCalls(GetCommand)[0]?.args[0].input.Key).toEqual({
      pk: 'XREF#stripe#customer#cus_1',
      sk: 'XREF',
    });
  });

  it('takes the winner from the failed claim itself when DynamoDB returns it, reading nothing', async () => {
    ddbMock.on(PutCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: { pk: { S: 'NATURAL#customer#h' }, sk: { S: 'NATURAL' }, canonicalId: { S: 'cust-holder' } },
      }),
    );
    expect(await store.claimNaturalKey('customer', 'email:jenny@example.com', 'cust-new')).toBe(
      'cust-holder',
    );
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: 'attribute_not_exists(pk)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
  });

  it('fails if a lost claim cannot be read back', async () => {
    ddbMock.on(PutCommand).rejects(conditionFailed());
    ddbMock.on(GetCommand).resolves({});
    await expect(store.claimXref('stripe', 'customer', 'cus_1', 'cust-x')).rejects.toThrow(
      'Xref XREF#stripe#customer#cus_1 was claimed but cannot be read back',
    );
  });

  it('writes a canonical item against the revision it read', async () => {
    const item: CanonicalItem = {
      entity: 'customer',
      id: 'cust-1',
      data: { email: 'a@example.com' },
      deleted: false,
      versions: { stripe: 5 },
      refs: { stripe: 'cus_1' },
      revision: 3,
      updatedAt: 1,
    };
    ddbMock.on(PutCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    expect(await store.putCanonical(item, 2)).toBe('written');
    expect(await store.putCanonical({ ...item, revision: 1 }, undefined)).toBe('conflict');
    const [first, second] = ddbMock.commandCalls(PutCommand).map((c) => c.args[0].input);
    expect(first).toMatchObject({
      ConditionExpression: 'revision = :expected',
      ExpressionAttributeValues: { ':expected': 2 },
      Item: { pk: 'customer#cust-1', sk: 'CANONICAL', revision: 3 },
    });
    expect(second?.ConditionExpression).toBe('attribute_not_exists(pk)');
    expect(second?.ExpressionAttributeValues).toBeUndefined();
  });

  it('keys a quarantine item by stage, source, event and target, with a TTL', async () => {
    ddbMock.on(PutCommand).resolves({});
    await store.putQuarantine({
      stage: 'deliver',
      source: 'stripe',
      eventId: 'evt_1',
      flow: 'customers',
      destination: 'crm',
      reasons: [{ rule: 'destination.rejected', message: 'HTTP 422' }],
      payload: { unreadable: '...' },
      quarantinedAt: 1_700_000_000_000,
    });
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      pk: 'QUARANTINE',
      sk: 'deliver#stripe#evt_1#customers#crm',
      expiresAt: 1_700_000_000 + 14 * 86_400,
    });
  });
});

describe('DynamoPollStateStore', () => {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region, credentials }));
  const ddbMock = mockClient(doc);
  const store = new DynamoPollStateStore(doc, 'acme-state');

  beforeEach(() => {
    ddbMock.reset();
  });

  it('polls with two writes: one takes the lease and returns the cursor, one advances it and releases the lease', async () => {
    ddbMock
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { cursor: 41 } })
      .resolvesOnce({});
    expect(await store.acquireLease('erp', 'poll-1', 2_000, 1_000)).toEqual({ cursor: 41 });
    expect(await store.releaseLease('erp', 'poll-1', { expected: 41, next: 42 })).toBe('advanced');
    // Two calls in all, both single-item UpdateItems on the one poll item: no read, no delete.
    expect(ddbMock.calls()).toHaveLength(2);
    const [take, release] = ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(take).toMatchObject({
      Key: { pk: 'POLL#erp', sk: 'CURSOR' },
      ConditionExpression: 'attribute_not_exists(#owner) OR #until < :now OR #owner = :owner',
      ReturnValues: 'ALL_OLD',
    });
    expect(release).toMatchObject({
      Key: { pk: 'POLL#erp', sk: 'CURSOR' },
      UpdateExpression: 'SET #cursor = :next REMOVE #owner, #until',
      ConditionExpression: '#owner = :owner AND #cursor = :expected',
      ExpressionAttributeValues: { ':owner': 'poll-1', ':next': 42, ':expected': 41 },
    });
  });

  it('releases the lease in a second write when the cursor moved under the poll', async () => {
    ddbMock.on(UpdateCommand).rejectsOnce(conditionFailed()).resolvesOnce({});
    expect(await store.releaseLease('erp', 'poll-1', { expected: 41, next: 42 })).toBe('conflict');
    const inputs = ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input);
    expect(inputs[1]).toMatchObject({
      UpdateExpression: 'REMOVE #owner, #until',
      ConditionExpression: '#owner = :owner',
    });
  });

  it('fails loudly on anything but a failed condition', async () => {
    ddbMock.on(UpdateCommand).rejects(new Error('ProvisionedThroughputExceededException'));
    await expect(store.acquireLease('erp', 'poll-1', 2_000, 1_000)).rejects.toThrow(
      'ProvisionedThroughputExceededException',
    );
  });
});

describe('SecretsManagerStore', () => {
  const client = new SecretsManagerClient({ region, credentials });
  const smMock = mockClient(client);

  beforeEach(() => {
    smMock.reset();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('calls Secrets Manager once per secret within maxAge', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretString: 'whsec_current' });
    const store = new SecretsManagerStore(client, 300);
    expect(await store.get('acme/stripe')).toBe('whsec_current');
    expect(await store.get('acme/stripe')).toBe('whsec_current');
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(smMock.commandCalls(GetSecretValueCommand)[0]?.args[0].input.SecretId).toBe('acme/stripe');
  });

  it('fetches again once maxAge has passed, picking up a rotated value', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2024-05-01T12:00:00Z'));
    smMock.on(GetSecretValueCommand).resolvesOnce({ SecretString: 'old' }).resolves({ SecretString: 'new' });
    const store = new SecretsManagerStore(client, 60);
    expect(await store.get('acme/stripe')).toBe('old');
    vi.setSystemTime(new Date('2024-05-01T12:00:59Z'));
    expect(await store.get('acme/stripe')).toBe('old');
    vi.setSystemTime(new Date('2024-05-01T12:01:01Z'));
    expect(await store.get('acme/stripe')).toBe('new');
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('caches each secret separately', async () => {
    smMock.on(GetSecretValueCommand, { SecretId: 'a' }).resolves({ SecretString: 'A' });
    smMock.on(GetSecretValueCommand, { SecretId: 'b' }).resolves({ SecretString: 'B' });
    const store = new SecretsManagerStore(client, 300);
    expect([await store.get('a'), await store.get('b'), await store.get('a')]).toEqual(['A', 'B', 'A']);
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('reads a JSON list as the rotating [current, previous] pair, and a JSON object as an object', async () => {
    smMock
      .on(GetSecretValueCommand, { SecretId: 'list' })
      .resolves({ SecretString: ' ["whsec_new", "whsec_old"] ' });
    smMock.on(GetSecretValueCommand, { SecretId: 'object' }).resolves({ SecretString: '{"token":"t0k"}' });
    smMock.on(GetSecretValueCommand, { SecretId: 'brace' }).resolves({ SecretString: '{not json' });
    const store = new SecretsManagerStore(client, 300);
    expect(await store.get('list')).toEqual(['whsec_new', 'whsec_old']);
    expect(await store.get('object')).toEqual({ token: 't0k' });
    expect(await store.get('brace')).toBe('{not json');
  });

  it('fails if the secret is binary', async () => {
    smMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1, 2, 3]) });
    await expect(new SecretsManagerStore(client, 300).get('bin')).rejects.toThrow(
      'Secret bin is binary or empty; Switchyard reads string secrets',
    );
  });
});

describe('backoffSeconds', () => {
  const policy = { baseDelaySeconds: 2, maxDelaySeconds: 60 };

  it('spans the full jitter range [0, base * 2^(attempt-1)]', () => {
    expect(backoffSeconds(1, policy, undefined, () => 0)).toBe(0);
    expect(backoffSeconds(1, policy, undefined, () => 0.5)).toBe(1);
    expect(backoffSeconds(1, policy, undefined, () => 0.999_999)).toBeCloseTo(2, 4);
    expect(backoffSeconds(3, policy, undefined, () => 0.999_999)).toBeCloseTo(8, 4);
    expect(backoffSeconds(4, policy, undefined, () => 0.25)).toBe(4);
  });

  it('is bounded by the maximum delay however many attempts failed', () => {
    for (const attempt of [6, 10, 50, 1000]) {
      expect(backoffSeconds(attempt, policy, undefined, () => 0.999_999)).toBeLessThanOrEqual(60);
    }
    expect(backoffSeconds(1000, policy, undefined, () => 0.5)).toBe(30);
  });

  it('stays within range with the real random source', () => {
    for (let i = 0; i < 500; i++) {
      const delay = backoffSeconds(5, policy);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(32);
    }
  });

  it('is never shorter than Retry-After', () => {
    expect(backoffSeconds(1, policy, 30, () => 0)).toBe(30);
    expect(backoffSeconds(1, policy, 30, () => 0.999)).toBe(30);
    expect(backoffSeconds(10, policy, 5, () => 0.5)).toBe(30);
  });

  it('honours a Retry-After beyond the maximum delay, up to the 12 h SQS limit', () => {
    expect(backoffSeconds(1, policy, 600, () => 0)).toBe(600);
    expect(backoffSeconds(1, policy, 100_000, () => 0)).toBe(43_200);
  });

  it('treats attempt 0 or below as the first attempt', () => {
    expect(backoffSeconds(0, policy, undefined, () => 0.999_999)).toBeCloseTo(2, 4);
  });
});

describe('DynamoStateStore and DynamoOpsStore: shadow records', () => {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region, credentials }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const ddbMock = mockClient(doc);
  const store = new DynamoStateStore(doc, 'acme-state', 14 * 86_400);
  const ops = new DynamoOpsStore(doc, 'acme-state');
  const record: ShadowRecord = {
    flow: 'customers',
    destination: 'crm',
    entity: 'customer',
    id: 'cust-1',
    source: 'stripe',
    version: 5,
    revision: 3,
    versions: { stripe: 5 },
    contentHash: 'abc',
    idempotencyKey: 'sy-key',
    payload: { data: {} },
    decision: 'create',
    message: deliveryMessage(1),
    at: 1000,
  };

  beforeEach(() => {
    ddbMock.reset();
  });

  it('writes a shadow record behind the version and revision guard, and reports stale when it fails', async () => {
    ddbMock.on(PutCommand).resolves({});
    expect(await store.putShadow(record)).toBe('written');
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input).toEqual({
      TableName: 'acme-state',
      Item: { pk: 'SHADOW#customers', sk: 'crm#customer#cust-1', ...record },
      ConditionExpression:
        '(attribute_not_exists(pk) OR attribute_not_exists(versions.#source) OR versions.#source <= :version) AND (attribute_not_exists(#revision) OR #revision <= :revision)',
      ExpressionAttributeNames: { '#source': 'stripe', '#revision': 'revision' },
      ExpressionAttributeValues: { ':version': 5, ':revision': 3 },
    });
    ddbMock.on(PutCommand).rejects(conditionFailed());
    expect(await store.putShadow(record)).toBe('stale');
  });

  it('reads a shadow record back without its keys', async () => {
    ddbMock
      .on(GetCommand)
      .resolves({ Item: { pk: 'SHADOW#customers', sk: 'crm#customer#cust-1', ...record } });
    expect(await store.getShadow('customers', 'crm', 'customer', 'cust-1')).toEqual(record);
  });

  it('marks a record promoted only if it is still the one read and not promoted yet', async () => {
    ddbMock.on(UpdateCommand).resolves({});
    expect(await ops.markShadowPromoted(record, 2000)).toBe(true);
    expect(ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: 'acme-state',
      Key: { pk: 'SHADOW#customers', sk: 'crm#customer#cust-1' },
      UpdateExpression: 'SET promotedAt = :at',
      ConditionExpression: 'idempotencyKey = :key AND attribute_not_exists(promotedAt)',
      ExpressionAttributeValues: { ':at': 2000, ':key': 'sy-key' },
    });
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    expect(await ops.markShadowPromoted(record, 2000)).toBe(false);
  });

  it('lists a flow from its partition, page by page', async () => {
    ddbMock.on(QueryCommand).resolves({
      Items: [{ pk: 'SHADOW#customers', sk: 'crm#customer#cust-1', ...record }],
      LastEvaluatedKey: { pk: 'SHADOW#customers', sk: 'crm#customer#cust-1' },
    });
    const page = await ops.listShadow('customers', 50);
    expect(page.items).toEqual([record]);
    expect(page.next).toBeDefined();
    await ops.listShadow('customers', 50, page.next);
    expect(ddbMock.commandCalls(QueryCommand)[1]?.args[0].input).toMatchObject({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'SHADOW#customers' },
      Limit: 50,
      ExclusiveStartKey: { pk: 'SHADOW#customers', sk: 'crm#customer#cust-1' },
    });
  });
});
