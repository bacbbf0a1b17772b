import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { TransientError } from '../core/errors.js';
import { deduplicationId } from '../core/hashing.js';
import type { DeliveryMessage, Envelope } from '../core/messages.js';
import type { DeliveryQueues, InboundQueue, MessageVisibility } from '../core/ports.js';

/** For a caller that loads this module on first use and builds its client then (deferred-sqs.ts). */
export { SQSClient };

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
/** SQS refuses a SendMessageBatch whose bodies add up to more than its message limit, 1 MiB. */
const SQS_BATCH_BYTES = 1_048_576;
/** Entries SQS refused in a batch (throttling, an internal error) are sent again this many times. */
const BATCH_ATTEMPTS = 3;

type BatchEntry = SendMessageBatchRequestEntry & { Id: string };

/** Consecutive runs of at most 10 entries whose bodies fit in one request together. */
export function batchesOf<T extends { readonly MessageBody?: string | undefined }>(
  entries: readonly T[],
): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = Buffer.byteLength(entry.MessageBody ?? '', 'utf8');
    if (current.length > 0 && (current.length === SQS_BATCH_LIMIT || bytes + size > SQS_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Sends entries in batches of 10 (fewer when their bodies pass 1 MiB). A batch can partly fail; only the failed entries are sent again,
 * so what SQS already holds is never sent twice, and the call resolves only when every entry is in.
 */
async function sendAll(
  client: SQSClient,
  queueUrl: string,
  entries: readonly BatchEntry[],
  what: string,
): Promise<void> {
  for (const batch of batchesOf(entries)) {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const result = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      const failed = new Set((result.Failed ?? []).map((f) => f.Id));
      if (failed.size > 0 && attempt >= BATCH_ATTEMPTS) {
        const first = result.Failed?.[0];
        throw new TransientError(
          `${failed.size} ${what} were not queued (${first?.Code}: ${first?.Message})`,
        );
      }
      pending = pending.filter((entry) => failed.has(entry.Id));
    }
  }
}

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
    const entries = envelopes.map((envelope, i) => ({ Id: String(i), MessageBody: sqsSafeJson(envelope) }));
    await sendAll(this.client, this.queueUrl, entries, 'events');
  }
}

export class SqsDeliveryQueues implements DeliveryQueues {
  constructor(
    private readonly client: SQSClient,
    /** Destination name to its FIFO queue URL. */
    private readonly queueUrls: Readonly<Record<string, string>>,
  ) {}

  async send(messages: readonly DeliveryMessage[]): Promise<void> {
    const byQueue = new Map<string, BatchEntry[]>();
    for (const message of messages) {
      const url = this.queueUrls[message.destination];
      if (!url) throw new Error(`No delivery queue for destination "${message.destination}"`);
      const entries = byQueue.get(url) ?? [];
      entries.push({
        Id: String(entries.length),
        MessageBody: sqsSafeJson(message),
        // One group per entity: SQS hands its updates to deliver one at a time, in order (G5).
        MessageGroupId: `${message.entity}#${message.id}`,
        MessageDeduplicationId: deduplicationId(
          message.destination,
          message.id,
          message.version,
          message.routedFrom,
        ),
      });
      byQueue.set(url, entries);
    }
    for (const [queueUrl, entries] of byQueue)
      await sendAll(this.client, queueUrl, entries, 'delivery messages');
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
