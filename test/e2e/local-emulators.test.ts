import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { QueueSpec, TableSpec } from '../../functions/core/topology.js';
import { awsClientConfig, type Emulators, setLocalAwsEnv, startEmulators } from '../../local/emulators.js';
import { createLogger, silentLogger } from '../../local/log.js';
import { type Provisioned, provision } from '../../local/provision.js';
import {
  failedRecordIds,
  parseBatchResponse,
  type SqsBatchHandler,
  SqsEventSourcePoller,
  type SqsEventSourcePollerOptions,
} from '../../local/sqs-poller.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const table: TableSpec = { name: 'e2e-state', partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let dataDir: string;
let emulators: Emulators;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;
const pollers: SqsEventSourcePoller[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'switchyard-e2e-'));
  emulators = await startEmulators({ dataDir, logger: silentLogger });
  sqs = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
  dynamodb = new DynamoDBClient(awsClientConfig(emulators.dynamodbEndpoint));
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});

afterAll(async () => {
  sqs?.destroy();
  dynamodb?.destroy();
  await emulators?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

let queueCounter = 0;
function queueSpec(
  options: { fifo?: boolean; visibility?: number; maxReceiveCount?: number } = {},
): QueueSpec {
  queueCounter += 1;
  const base = `e2e-q${queueCounter}`;
  const suffix = options.fifo ? '.fifo' : '';
  return {
    key: base,
    name: `${base}${suffix}`,
    fifo: options.fifo ?? false,
    visibilityTimeoutSeconds: options.visibility ?? 1,
    retentionSeconds: 3600,
    maxReceiveCount: options.maxReceiveCount ?? 5,
    deadLetter: { name: `${base}-dlq${suffix}`, retentionSeconds: 7200 },
    consumer: 'test',
  };
}

async function provisionQueue(spec: QueueSpec): Promise<{ url: string; arn: string; dlqUrl: string }> {
  const result = await provision({ table, queues: [spec] }, { dynamodb, sqs }, { logger: silentLogger });
  return {
    url: result.queueUrls[spec.key] ?? '',
    arn: result.queueArns[spec.key] ?? '',
    dlqUrl: result.deadLetterUrls[spec.key] ?? '',
  };
}

function startPoller(
  options: Omit<SqsEventSourcePollerOptions, 'sqs' | 'functionName'> & { functionName?: string },
): SqsEventSourcePoller {
  const poller = new SqsEventSourcePoller({
    sqs,
    functionName: 'e2e-fn',
    waitTimeSeconds: 1,
    logger: silentLogger,
    ...options,
  });
  pollers.push(poller);
  poller.start();
  return poller;
}

async function depth(
  queueUrl: string,
  client: SQSClient = sqs,
): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
  };
}

async function waitFor(condition: () => boolean | Promise<boolean>, label: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(25);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const md5 = (text: string) => createHash('md5').update(text).digest('hex');

describe('emulators and provisioning', () => {
  it('creates the table, and each queue with its DLQ, redrive policy and settings', async () => {
    const standard = queueSpec({ visibility: 7, maxReceiveCount: 4 });
    const fifo = queueSpec({ fifo: true, visibility: 9, maxReceiveCount: 3 });
    const result = await provision(
      { table, queues: [standard, fifo] },
      { dynamodb, sqs },
      { logger: silentLogger },
    );

    expect(result.tableName).toBe(table.name);
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: table.name }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');

    for (const spec of [standard, fifo]) {
      const url = result.queueUrls[spec.key] ?? '';
      const dlqUrl = result.deadLetterUrls[spec.key] ?? '';
      // fauxqs' queue URLs live on the SQS endpoint the runtime hands out (see emulators.ts).
      expect(url).toBe(`${emulators.sqsEndpoint}/000000000000/${spec.name}`);
      expect(dlqUrl).toBe(`${emulators.sqsEndpoint}/000000000000/${spec.deadLetter.name}`);

      const queue = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
      const attributes = queue.Attributes ?? {};
      expect(attributes.QueueArn).toBe(result.queueArns[spec.key]);
      expect(JSON.parse(attributes.RedrivePolicy ?? '{}')).toEqual({
        deadLetterTargetArn: result.deadLetterArns[spec.key],
        maxReceiveCount: spec.maxReceiveCount,
      });
      expect(attributes.VisibilityTimeout).toBe(String(spec.visibilityTimeoutSeconds));
      expect(attributes.MessageRetentionPeriod).toBe(String(spec.retentionSeconds));

      const dlq = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['All'] }),
      );
      expect(dlq.Attributes?.QueueArn).toBe(result.deadLetterArns[spec.key]);
      expect(dlq.Attributes?.MessageRetentionPeriod).toBe(String(spec.deadLetter.retentionSeconds));
      expect(dlq.Attributes?.RedrivePolicy).toBeUndefined();
      if (spec.fifo) {
        expect(attributes.FifoQueue).toBe('true');
        expect(attributes.ContentBasedDeduplication).toBe('false');
        expect(dlq.Attributes?.FifoQueue).toBe('true');
      } else {
        expect(attributes.FifoQueue).toBeUndefined();
      }
    }
  });

  it('points clients that configure themselves from the environment at the emulators', async () => {
    const spec = queueSpec();
    const { url } = await provisionQueue(spec);
    const warn = vi.spyOn(console, 'warn');
    const restore = setLocalAwsEnv(emulators);
    const envSqs = new SQSClient({});
    const envDynamo = new DynamoDBClient({});
    try {
      await envSqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'from env' }));
      const tables = await envDynamo.send(new ListTablesCommand({}));
      expect(tables.TableNames).toContain(table.name);
    } finally {
      restore();
      envSqs.destroy();
      envDynamo.destroy();
      warn.mockRestore();
    }
    expect(await depth(url)).toEqual({ visible: 1, inFlight: 0 });
    // The SDK warns (on every call) when it has to send a request to the queue URL's host instead
    // of its endpoint; with matching origins it must not.
    expect(warn.mock.calls.flat().join(' ')).not.toContain('differs from SQSClient');
    expect(process.env.AWS_ENDPOINT_URL_SQS).not.toBe(emulators.sqsEndpoint);
  });

  it('is idempotent, also after a restart on the same data dir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-restart-'));
    const specs = [queueSpec(), queueSpec({ fifo: true })];
    const run = async <T>(body: (clients: { sqs: SQSClient; dynamodb: DynamoDBClient }) => Promise<T>) => {
      const emu = await startEmulators({ dataDir: dir, logger: silentLogger });
      const clients = {
        sqs: new SQSClient(awsClientConfig(emu.sqsEndpoint)),
        dynamodb: new DynamoDBClient(awsClientConfig(emu.dynamodbEndpoint)),
      };
      try {
        return await body(clients);
      } finally {
        clients.sqs.destroy();
        clients.dynamodb.destroy();
        await emu.stop();
      }
    };
    try {
      const first = await run(async (clients) => {
        const once = await provision({ table, queues: specs }, clients, { logger: silentLogger });
        const twice = await provision({ table, queues: specs }, clients, { logger: silentLogger });
        expect(twice).toEqual(once);
        // A changed setting on a queue that exists is applied to it, as a stack update would.
        const changed = specs.map((spec) => ({ ...spec, visibilityTimeoutSeconds: 3, maxReceiveCount: 9 }));
        expect(await provision({ table, queues: changed }, clients, { logger: silentLogger })).toEqual(once);
        const updated = await clients.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: once.queueUrls[specs[1]?.key ?? ''],
            AttributeNames: ['All'],
          }),
        );
        expect(updated.Attributes?.VisibilityTimeout).toBe('3');
        expect(JSON.parse(updated.Attributes?.RedrivePolicy ?? '{}').maxReceiveCount).toBe(9);
        await clients.dynamodb.send(
          new PutItemCommand({
            TableName: table.name,
            Item: { pk: { S: 'k' }, sk: { S: 's' }, v: { N: '42' } },
          }),
        );
        // The directory is locked while this emulator runs: a second one must refuse cleanly.
        await expect(startEmulators({ dataDir: dir, logger: silentLogger })).rejects.toThrow(
          /another switchyard/,
        );
        return once;
      });

      await run(async (clients) => {
        // dynalite kept the table (and its item); fauxqs starts empty and gets its queues again.
        const again = await provision({ table, queues: specs }, clients, { logger: silentLogger });
        const path = (urls: Record<string, string>) => Object.values(urls).map((u) => new URL(u).pathname);
        expect(path(again.queueUrls)).toEqual(path(first.queueUrls));
        expect(path(again.deadLetterUrls)).toEqual(path(first.deadLetterUrls));
        const item = await clients.dynamodb.send(
          new GetItemCommand({ TableName: table.name, Key: { pk: { S: 'k' }, sk: { S: 's' } } }),
        );
        expect(item.Item?.v).toEqual({ N: '42' });
        const redrive = await clients.sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: again.queueUrls[specs[1]?.key ?? ''],
            AttributeNames: ['RedrivePolicy'],
          }),
        );
        expect(JSON.parse(redrive.Attributes?.RedrivePolicy ?? '{}').deadLetterTargetArn).toBe(
          again.deadLetterArns[specs[1]?.key ?? ''],
        );
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SqsEventSourcePoller', () => {
  it('hands a Lambda-shaped batch and context to the handler and deletes what succeeded', async () => {
    const spec = queueSpec({ visibility: 5 });
    const { url, arn } = await provisionQueue(spec);
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          {
            Id: 'a',
            MessageBody: '{"n":1}',
            MessageAttributes: {
              kind: { DataType: 'String', StringValue: 'customer' },
              blob: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) },
            },
          },
          { Id: 'b', MessageBody: '{"n":2}' },
          { Id: 'c', MessageBody: '{"n":3}' },
        ],
      }),
    );
    const sentIds = (sent.Successful ?? []).map((entry) => entry.MessageId);
    const before = Date.now();

    const seen: { event: SQSEvent; context: Context; remainingMs: number }[] = [];
    const poller = startPoller({
      queueUrl: url,
      queueArn: arn,
      functionName: 'e2e-route',
      batchSize: 3,
      maxBatchingWindowSeconds: 1,
      maxConcurrency: 1,
      timeoutSeconds: 20,
      handler: async (event, context) => {
        seen.push({ event, context, remainingMs: context.getRemainingTimeInMillis() });
      },
    });
    await waitFor(() => poller.stats.deleted === 3, 'three deletions');

    expect(seen).toHaveLength(1);
    const [{ event, context, remainingMs }] = seen as [(typeof seen)[0]];
    expect(event.Records.map((r) => r.messageId)).toEqual(sentIds);
    for (const record of event.Records) {
      expect(record.eventSource).toBe('aws:sqs');
      expect(record.eventSourceARN).toBe(arn);
      expect(record.awsRegion).toBe('us-east-1');
      expect(record.md5OfBody).toBe(md5(record.body));
      expect(record.receiptHandle).not.toBe('');
      expect(record.attributes.ApproximateReceiveCount).toBe('1');
      expect(Number(record.attributes.SentTimestamp)).toBeGreaterThanOrEqual(before - 5_000);
      expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(
        Number(record.attributes.SentTimestamp),
      );
      expect(record.attributes.MessageGroupId).toBeUndefined();
    }
    const first = event.Records[0] as SQSRecord;
    expect(first.body).toBe('{"n":1}');
    expect(first.messageAttributes).toEqual({
      kind: { stringValue: 'customer', stringListValues: [], binaryListValues: [], dataType: 'String' },
      blob: { binaryValue: 'AQID', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
    });
    expect(first.md5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    expect(event.Records[1]?.messageAttributes).toEqual({});

    expect(context.functionName).toBe('e2e-route');
    expect(context.awsRequestId).toMatch(UUID);
    expect(context.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:e2e-route');
    expect(context.logGroupName).toBe('/aws/lambda/e2e-route');
    expect(context.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    expect(remainingMs).toBeGreaterThan(15_000);
    expect(remainingMs).toBeLessThanOrEqual(20_000);

    await poller.idle();
    expect(await depth(url)).toEqual({ visible: 0, inFlight: 0 });
    expect(poller.stats).toMatchObject({ batches: 1, messages: 3, deleted: 3, failures: 0 });
  });

  it('retries batchItemFailures and moves them to the DLQ after maxReceiveCount', async () => {
    const spec = queueSpec({ visibility: 1, maxReceiveCount: 2 });
    const { url, arn, dlqUrl } = await provisionQueue(spec);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'good' }));
    const poison = await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));

    const deliveries: { body: string; receiveCount: string }[] = [];
    const poller = startPoller({
      queueUrl: url,
      queueArn: arn,
      handler: async (event) => {
        for (const r of event.Records) {
          deliveries.push({ body: r.body, receiveCount: r.attributes.ApproximateReceiveCount });
        }
        return {
          batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => ({
            itemIdentifier: r.messageId,
          })),
        };
      },
    });

    await waitFor(async () => (await depth(dlqUrl)).visible === 1, 'the poison message in the DLQ');
    await poller.idle();

    expect(deliveries.filter((d) => d.body === 'good')).toEqual([{ body: 'good', receiveCount: '1' }]);
    expect(deliveries.filter((d) => d.body === 'poison').map((d) => d.receiveCount)).toEqual(['1', '2']);
    expect(await depth(url)).toEqual({ visible: 0, inFlight: 0 });
    expect(poller.stats).toMatchObject({ deleted: 1, failures: 2, partialBatches: 2 });

    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MessageSystemAttributeNames: ['All'] }),
    );
    expect(Messages.map((m) => [m.MessageId, m.Body])).toEqual([[poison.MessageId, 'poison']]);
  });

  it('gives the whole batch back when the handler throws or times out', async () => {
    const spec = queueSpec({ visibility: 1, maxReceiveCount: 5 });
    const { url, arn } = await provisionQueue(spec);
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: ['x', 'y', 'z'].map((body) => ({ Id: body, MessageBody: body })),
      }),
    );

    const batches: { ids: string[]; counts: string[] }[] = [];
    const outcomes: string[] = [];
    const poller = startPoller({
      queueUrl: url,
      queueArn: arn,
      batchSize: 3,
      maxBatchingWindowSeconds: 1,
      maxConcurrency: 1,
      timeoutSeconds: 1,
      onBatch: (result) => outcomes.push(result.outcome),
      handler: async (event) => {
        batches.push({
          ids: event.Records.map((r) => r.messageId).sort(),
          counts: event.Records.map((r) => r.attributes.ApproximateReceiveCount),
        });
        if (batches.length === 1) throw new Error('downstream exploded');
        if (batches.length === 2) await sleep(1_500); // past the 1 s function timeout
      },
    });

    await waitFor(() => poller.stats.deleted === 3, 'the third attempt to succeed');
    expect(outcomes).toEqual(['error', 'timeout', 'success']);
    expect(batches).toHaveLength(3);
    expect(batches[1]?.ids).toEqual(batches[0]?.ids);
    expect(batches[2]?.ids).toEqual(batches[0]?.ids);
    expect(batches.map((b) => [...new Set(b.counts)])).toEqual([['1'], ['2'], ['3']]);
    expect(poller.stats).toMatchObject({ batchErrors: 1, timeouts: 1, failures: 6, deleted: 3 });
    expect(await depth(url)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('FIFO: a failing message holds back only its own group, and each group stays in order', async () => {
    const spec = queueSpec({ fifo: true, visibility: 1, maxReceiveCount: 5 });
    const { url, arn } = await provisionQueue(spec);
    const bodies = ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'];
    for (const body of bodies) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: body,
          MessageGroupId: `group-${body[0]}`,
          MessageDeduplicationId: `dedup-${body}`,
        }),
      );
    }

    const handled: string[] = [];
    const succeeded: { body: string; at: number }[] = [];
    let a1Attempts = 0;
    const records: SQSRecord[] = [];
    const poller = startPoller({
      queueUrl: url,
      queueArn: arn,
      maxConcurrency: 2,
      handler: async (event) => {
        const failures: { itemIdentifier: string }[] = [];
        for (const record of event.Records) {
          records.push(record);
          handled.push(record.body);
          if (record.body === 'a1' && ++a1Attempts <= 2) {
            failures.push({ itemIdentifier: record.messageId });
          } else {
            succeeded.push({ body: record.body, at: Date.now() });
          }
        }
        return { batchItemFailures: failures };
      },
    });

    await waitFor(() => poller.stats.deleted === 6, 'all six messages');
    const order = (group: string) => handled.filter((b) => b.startsWith(group));
    expect(order('a')).toEqual(['a1', 'a1', 'a1', 'a2', 'a3']);
    expect(order('b')).toEqual(['b1', 'b2', 'b3']);
    const at = (body: string) => succeeded.find((s) => s.body === body)?.at ?? Number.NaN;
    // Group b did not wait for a1's retries (two visibility timeouts).
    expect(at('b3')).toBeLessThan(at('a1'));

    const b2 = records.find((r) => r.body === 'b2');
    expect(b2?.attributes.MessageGroupId).toBe('group-b');
    expect(b2?.attributes.MessageDeduplicationId).toBe('dedup-b2');
    expect(b2?.attributes.SequenceNumber).toMatch(/^\d+$/);
    expect(await depth(url)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('applies the partial-response rules Lambda applies', () => {
    const record = (messageId: string, group?: string): SQSRecord => ({
      messageId,
      receiptHandle: `rh-${messageId}`,
      body: messageId,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '0',
        SenderId: 's',
        ApproximateFirstReceiveTimestamp: '0',
        ...(group ? { MessageGroupId: group } : {}),
      },
      messageAttributes: {},
      md5OfBody: md5(messageId),
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:q.fifo',
      awsRegion: 'us-east-1',
    });
    // fauxqs never puts two messages of one group in a batch; real SQS does.
    const batch = [
      record('a1', 'A'),
      record('a2', 'A'),
      record('b1', 'B'),
      record('a3', 'A'),
      record('b2', 'B'),
    ];
    expect(failedRecordIds(batch, new Set(['a2']), true)).toEqual(['a2', 'a3']);
    expect(failedRecordIds(batch, new Set(['a2']), false)).toEqual(['a2']);
    expect(failedRecordIds(batch, new Set(['b1', 'a1']), true)).toEqual(['a1', 'a2', 'b1', 'a3', 'b2']);

    const ids = new Set(['m1', 'm2']);
    expect(parseBatchResponse(undefined, ids)).toEqual({ ok: true, failed: new Set() });
    expect(parseBatchResponse({ batchItemFailures: [] }, ids)).toEqual({ ok: true, failed: new Set() });
    expect(parseBatchResponse({ batchItemFailures: [{ itemIdentifier: 'm2' }] }, ids)).toEqual({
      ok: true,
      failed: new Set(['m2']),
    });
    for (const invalid of [
      { batchItemFailures: [{ itemIdentifier: '' }] },
      { batchItemFailures: [{ itemIdentifier: null }] },
      { batchItemFailures: [{ id: 'm1' }] },
      { batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] },
      { batchItemFailures: 'm1' },
    ]) {
      expect(parseBatchResponse(invalid, ids).ok).toBe(false);
    }
  });

  it('stop() lets the batch in flight finish and delete, then takes nothing more', async () => {
    const spec = queueSpec({ visibility: 10 });
    const { url, arn } = await provisionQueue(spec);
    let started = 0;
    let finishedAt = 0;
    const handler: SqsBatchHandler = async () => {
      started += 1;
      await sleep(700);
      finishedAt = Date.now();
    };
    const poller = startPoller({ queueUrl: url, queueArn: arn, handler });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'slow' }));
    await waitFor(() => started === 1, 'the handler to start');

    let stoppedAt = 0;
    const stopping = poller.stop().then(() => {
      stoppedAt = Date.now();
    });
    expect(poller.isIdle()).toBe(false);
    await sleep(100);
    expect(stoppedAt).toBe(0);
    await stopping;
    expect(finishedAt).toBeGreaterThan(0);
    expect(stoppedAt).toBeGreaterThanOrEqual(finishedAt);
    expect(poller.isIdle()).toBe(true);
    expect(await depth(url)).toEqual({ visible: 0, inFlight: 0 });

    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'after stop' }));
    await sleep(400);
    expect(started).toBe(1);
    expect(await depth(url)).toEqual({ visible: 1, inFlight: 0 });

    // And it can be started again.
    poller.start();
    await waitFor(() => poller.stats.deleted === 2, 'the message sent after stop');
    expect(started).toBe(2);
  });

  it('pause() holds deliveries and resume() picks them up again', async () => {
    const spec = queueSpec({ visibility: 10 });
    const { url, arn } = await provisionQueue(spec);
    const bodies: string[] = [];
    const poller = startPoller({
      queueUrl: url,
      queueArn: arn,
      handler: async (event) => {
        bodies.push(...event.Records.map((r) => r.body));
      },
    });
    await waitFor(() => poller.stats.pollsInFlight > 0, 'a long poll');
    poller.pause();
    // A receive already waiting may still deliver; once those have returned, none starts.
    await waitFor(() => poller.stats.pollsInFlight === 0, 'the waiting polls to return');
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'held' }));
    await sleep(300);
    expect(bodies).toEqual([]);
    expect(poller.stats.state).toBe('paused');
    poller.resume();
    await waitFor(() => poller.stats.deleted === 1, 'the held message');
    expect(bodies).toEqual(['held']);
  });

  it('survives the emulator going away: logs, backs off, and still stops', async () => {
    const lines: string[] = [];
    const logger = createLogger('test', { level: 'warn', write: (line) => lines.push(line) });
    const emu = await startEmulators({ dataDir, inMemory: true, logger: silentLogger });
    const client = new SQSClient({ ...awsClientConfig(emu.sqsEndpoint), maxAttempts: 1 });
    const dynamo = new DynamoDBClient(awsClientConfig(emu.dynamodbEndpoint));
    try {
      const spec = queueSpec();
      const result: Provisioned = await provision(
        { table, queues: [spec] },
        { sqs: client, dynamodb: dynamo },
        { logger: silentLogger },
      );
      const poller = new SqsEventSourcePoller({
        sqs: client,
        queueUrl: result.queueUrls[spec.key] ?? '',
        queueArn: result.queueArns[spec.key] ?? '',
        functionName: 'e2e-orphan',
        waitTimeSeconds: 1,
        logger,
        handler: async () => {},
      });
      pollers.push(poller);
      poller.start();
      await waitFor(() => poller.stats.receives >= 2, 'the poller to be polling');
      await emu.stop();

      await waitFor(() => poller.stats.receiveErrors >= 2, 'receive errors');
      const warnings = lines.map(
        (line) => JSON.parse(line) as { level: string; msg: string; error?: unknown },
      );
      expect(warnings.some((w) => w.level === 'warn' && w.msg === 'receive failed; backing off')).toBe(true);
      expect(poller.stats.state).toBe('running');

      const stopStarted = Date.now();
      await poller.stop();
      expect(Date.now() - stopStarted).toBeLessThan(3_000);
    } finally {
      client.destroy();
      dynamo.destroy();
      await emu.stop();
    }
  });

  it('leaves nothing behind that keeps the process alive after stop()', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-exit-'));
    const local = (file: string) => JSON.stringify(join(ROOT, 'local', file));
    // Plain JS through --eval, so bare imports resolve from the project root (cwd).
    const script = `
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { awsClientConfig, startEmulators } from ${local('emulators.ts')};
import { silentLogger } from ${local('log.ts')};
import { provision } from ${local('provision.ts')};
import { SqsEventSourcePoller } from ${local('sqs-poller.ts')};

const emulators = await startEmulators({ dataDir: ${JSON.stringify(dir)}, logger: silentLogger });
const sqs = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
const dynamodb = new DynamoDBClient(awsClientConfig(emulators.dynamodbEndpoint));
const spec = ${JSON.stringify(queueSpec({ fifo: true }))};
const p = await provision({ table: ${JSON.stringify(table)}, queues: [spec] }, { sqs, dynamodb }, { logger: silentLogger });
let handled = 0;
const poller = new SqsEventSourcePoller({
  sqs, queueUrl: p.queueUrls[spec.key], queueArn: p.queueArns[spec.key], functionName: 'child',
  waitTimeSeconds: 2, logger: silentLogger, handler: async () => { handled += 1; },
});
poller.start();
await sqs.send(new SendMessageCommand({ QueueUrl: p.queueUrls[spec.key], MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'd' }));
while (handled === 0) await new Promise((r) => setTimeout(r, 20));
await poller.stop();
sqs.destroy();
dynamodb.destroy();
await emulators.stop();
console.log('stopped cleanly');
`;
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
        cwd: ROOT,
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        output += chunk;
      });
      const exitCode = await new Promise<number | string>((resolveExit) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolveExit('hung: something kept the event loop alive');
        }, 20_000);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolveExit(code ?? 'killed');
        });
      });
      expect(exitCode, output).toBe(0);
      expect(output).toContain('stopped cleanly');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
