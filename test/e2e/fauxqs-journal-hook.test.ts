import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { awsClientConfig, type Emulators, startEmulators } from '../../local/emulators.js';
import type { FauxqsMessage } from '../../local/fauxqs-store.js';
import { silentLogger } from '../../local/log.js';

/**
 * The queue journal's view of real fauxqs (local/fauxqs-store.ts): every change reaches the
 * observer, DLQ moves included, and no answer leaves fauxqs before the journal's sync resolves.
 */
describe('fauxqs observed for the queue journal', () => {
  let emulators: Emulators | undefined;
  let sqs: SQSClient | undefined;
  afterEach(async () => {
    sqs?.destroy();
    await emulators?.stop();
  });

  const start = async (sync: () => Promise<void>) => {
    const seen: string[] = [];
    const messages: FauxqsMessage[] = [];
    emulators = await startEmulators({
      dataDir: '',
      inMemory: true,
      logger: silentLogger,
      queueJournal: {
        enqueued: (queue, message) => {
          seen.push(`enqueued ${queue} ${message.messageId}`);
          messages.push(message);
        },
        deleted: (queue, id) => seen.push(`deleted ${queue} ${id}`),
        purged: (queue) => seen.push(`purged ${queue}`),
        sync,
      },
    });
    sqs = new SQSClient({ ...awsClientConfig(emulators.sqsEndpoint), maxAttempts: 1 });
    return { seen, messages, sqs };
  };

  it('reports sends (with FIFO group and dedup id), deletes and the moves fauxqs makes to a DLQ', async () => {
    const { seen, messages, sqs } = await start(async () => {});
    const dlq = await sqs.send(new CreateQueueCommand({ QueueName: 'j-dlq' }));
    const dlqArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn;
    const main = await sqs.send(
      new CreateQueueCommand({
        QueueName: 'j-main',
        Attributes: {
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }),
          VisibilityTimeout: '0',
        },
      }),
    );
    const fifo = await sqs.send(
      new CreateQueueCommand({ QueueName: 'j-lane.fifo', Attributes: { FifoQueue: 'true' } }),
    );
    const a = await sqs.send(new SendMessageCommand({ QueueUrl: main.QueueUrl, MessageBody: 'a' }));
    const f = await sqs.send(
      new SendMessageCommand({
        QueueUrl: fifo.QueueUrl,
        MessageBody: 'f',
        MessageGroupId: 'customer#1',
        MessageDeduplicationId: 'dedup-f',
      }),
    );
    expect(messages.find((m) => m.messageId === f.MessageId)).toMatchObject({
      messageGroupId: 'customer#1',
      messageDeduplicationId: 'dedup-f',
    });
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: fifo.QueueUrl }));
    await sqs.send(
      new DeleteMessageCommand({
        QueueUrl: fifo.QueueUrl,
        ReceiptHandle: received.Messages?.[0]?.ReceiptHandle,
      }),
    );
    // First receive of `a` uses its one allowed receive; the next one makes fauxqs move it.
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: main.QueueUrl }));
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: main.QueueUrl }));
    expect(seen).toEqual([
      `enqueued j-main ${a.MessageId}`,
      `enqueued j-lane.fifo ${f.MessageId}`,
      `deleted j-lane.fifo ${f.MessageId}`,
      `enqueued j-dlq ${a.MessageId}`,
    ]);
  });

  it('holds every answer until the journal has synced, and fails it when the sync fails', async () => {
    let gate: Promise<void> | undefined;
    let open = () => {};
    let failing = false;
    const { seen, sqs } = await start(async () => {
      if (failing) throw new Error('disk full');
      await gate;
    });
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: 'j-held' }));
    gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let answered = false;
    const sending = sqs
      .send(new SendMessageCommand({ QueueUrl: queue.QueueUrl, MessageBody: 'x' }))
      .then(() => {
        answered = true;
      });
    const deadline = Date.now() + 5_000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    // Queued in fauxqs, but the client has not been told.
    expect(seen).toHaveLength(1);
    expect(answered).toBe(false);
    open();
    await sending;
    expect(answered).toBe(true);

    failing = true;
    await expect(
      sqs.send(new SendMessageCommand({ QueueUrl: queue.QueueUrl, MessageBody: 'y' })),
    ).rejects.toThrow();
  });
});
