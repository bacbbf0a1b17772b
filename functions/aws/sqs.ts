import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { TransientError } from '../core/errors.js';
import { deduplicationId } from '../core/hashing.js';
import type { DeliveryMessage, Envelope } from '../core/messages.js';
import type { DeliveryQueues, InboundQueue, MessageVisibility } from '../core/ports.js';

/**
 * A message body SQS accepts: JSON with every surrogate and U+FFFE/U+FFFF written as a \uXXXX
 * escape. SQS refuses lone surrogates and those two code points (and fauxqs refuses any
 * surrogate, even a valid pair); the escaped JSON parses back to the same string.
 */
export function sqsSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\uD800-\uDFFF\uFFFE\uFFFF]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** SQS takes at most 10 entries per SendMessageBatch. */
const SQS_BATCH_LIMIT = 10;

export class SqsInboundQueue implements InboundQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(envelopes: readonly Envelope[]): Promise<void> {
    const [only] = envelopes;
    if (envelopes.length === 1 && only) {
      await this.client.send(
        new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: sqsSafeJson(only) }),
      );
      return;
    }
    for (let start = 0; start < envelopes.length; start += SQS_BATCH_LIMIT) {
      const chunk = envelopes.slice(start, start + SQS_BATCH_LIMIT);
      const result = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((envelope, i) => ({ Id: String(i), MessageBody: sqsSafeJson(envelope) })),
        }),
      );
      if (result.Failed && result.Failed.length > 0) {
        throw new TransientError(`${result.Failed.length} of ${chunk.length} events were not queued`);
      }
    }
  }
}

export class SqsDeliveryQueues implements DeliveryQueues {
  constructor(
    private readonly client: SQSClient,
    /** Destination name to its FIFO queue URL. */
    private readonly queueUrls: Readonly<Record<string, string>>,
  ) {}

  async send(messages: readonly DeliveryMessage[]): Promise<void> {
    const byQueue = new Map<string, DeliveryMessage[]>();
    for (const message of messages) {
      const url = this.queueUrls[message.destination];
      if (!url) throw new Error(`No delivery queue for destination "${message.destination}"`);
      byQueue.set(url, [...(byQueue.get(url) ?? []), message]);
    }
    for (const [queueUrl, queued] of byQueue) {
      for (let start = 0; start < queued.length; start += SQS_BATCH_LIMIT) {
        const chunk = queued.slice(start, start + SQS_BATCH_LIMIT);
        const result = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((message, i) => ({
              Id: String(i),
              MessageBody: sqsSafeJson(message),
              // One group per entity: SQS hands its updates to deliver one at a time, in order (G5).
              MessageGroupId: `${message.entity}#${message.id}`,
              MessageDeduplicationId: deduplicationId(
                message.destination,
                message.id,
                message.version,
                message.routedFrom,
              ),
            })),
          }),
        );
        if (result.Failed && result.Failed.length > 0) {
          const first = result.Failed[0];
          throw new TransientError(
            `${result.Failed.length} of ${chunk.length} delivery messages were not queued (${first?.Code}: ${first?.Message})`,
          );
        }
      }
    }
  }
}

export class SqsMessageVisibility implements MessageVisibility {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async delay(receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: Math.max(0, Math.min(43_200, Math.ceil(seconds))),
      }),
    );
  }
}
