import { createHash, randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * Local DLQ redrive: moves messages from a dead-letter queue back to the queue they failed on, the
 * way SQS's StartMessageMoveTask does in AWS (fauxqs 1.9 does not implement it).
 *
 * For each message, oldest first: receive it from the DLQ, send its body and message attributes to
 * the source queue, then delete it from the DLQ. On a FIFO queue the message keeps its group id, so
 * the entity's updates stay in order (G5). The deduplication id is new: the original one may still
 * be inside the queue's five-minute deduplication window, where SQS would accept the send and drop
 * the message. A crash between send and delete leaves a copy in both queues, never none; the
 * duplicate is skipped at delivery by version and content hash (G4).
 */
export interface RedriveOptions {
  readonly sqs: SQSClient;
  /** The dead-letter queue's URL. */
  readonly from: string;
  /** The URL of the queue the messages go back to. */
  readonly to: string;
  /** Whether both queues are FIFO queues. */
  readonly fifo: boolean;
  /**
   * Most messages to move.
   *
   * @default - every message in the DLQ when the redrive starts
   */
  readonly max?: number;
  /** Called with each message's body after it is back in its queue (for the local counters). */
  readonly onMoved?: (body: string) => void;
}

export interface RedriveResult {
  /** Messages now back in their queue and gone from the DLQ. */
  readonly moved: number;
  /** Set when the redrive stopped early; the message it stopped at is still in the DLQ. */
  readonly error?: string;
}

/** How long a received DLQ message stays invisible while it is being moved. */
const MOVE_VISIBILITY_SECONDS = 30;

export async function redrive(options: RedriveOptions): Promise<RedriveResult> {
  const { sqs, from, to, fifo } = options;
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: from, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  // Only what is there now: a message that fails again and comes back is not moved twice in one go.
  const limit = Math.min(
    options.max ?? Number.POSITIVE_INFINITY,
    Number(Attributes.ApproximateNumberOfMessages ?? 0),
  );
  let moved = 0;
  while (moved < limit) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: from,
        MaxNumberOfMessages: Math.min(10, limit - moved),
        WaitTimeSeconds: 0,
        VisibilityTimeout: MOVE_VISIBILITY_SECONDS,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) break;
    for (const [i, message] of Messages.entries()) {
      try {
        await moveOne(sqs, message, from, to, fifo);
      } catch (error) {
        // Put this one and the rest of the batch back at once, in order, and stop: moving later
        // messages of a FIFO group ahead of an earlier one would reorder the entity's updates.
        await releaseAll(sqs, from, Messages.slice(i));
        return { moved, error: `${(error as Error).name}: ${(error as Error).message}` };
      }
      moved += 1;
      options.onMoved?.(message.Body ?? '');
    }
  }
  return { moved };
}

async function moveOne(
  sqs: SQSClient,
  message: Message,
  from: string,
  to: string,
  fifo: boolean,
): Promise<void> {
  const groupId = message.Attributes?.MessageGroupId;
  if (fifo && !groupId) throw new Error(`Message ${message.MessageId} in a FIFO DLQ has no MessageGroupId`);
  const attributes = copyAttributes(message.MessageAttributes);
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: to,
      MessageBody: message.Body ?? '',
      ...(attributes ? { MessageAttributes: attributes } : {}),
      ...(fifo
        ? {
            MessageGroupId: groupId,
            MessageDeduplicationId: createHash('sha256')
              .update(`redrive:${message.MessageId}:${randomUUID()}`)
              .digest('hex'),
          }
        : {}),
    }),
  );
  // Deleting after the send: a failure here leaves a duplicate (absorbed at delivery), never a loss.
  await sqs.send(new DeleteMessageCommand({ QueueUrl: from, ReceiptHandle: message.ReceiptHandle }));
}

async function releaseAll(sqs: SQSClient, queueUrl: string, messages: readonly Message[]): Promise<void> {
  for (const message of messages) {
    await sqs
      .send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      )
      .catch(() => {
        // It becomes visible again after MOVE_VISIBILITY_SECONDS anyway.
      });
  }
}

/** Message attributes as SendMessage takes them (the list types SQS reserves are left out). */
function copyAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): Record<string, MessageAttributeValue> | undefined {
  if (!attributes || Object.keys(attributes).length === 0) return undefined;
  return Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      {
        DataType: value.DataType,
        ...(value.StringValue === undefined ? {} : { StringValue: value.StringValue }),
        ...(value.BinaryValue === undefined ? {} : { BinaryValue: value.BinaryValue }),
      },
    ]),
  );
}
