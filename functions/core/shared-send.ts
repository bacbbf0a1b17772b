import type { DeliveryMessage } from './messages.js';
import type { DeliveryQueues } from './ports.js';

interface Waiting {
  readonly messages: readonly DeliveryMessage[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The delivery queues as the records of one route batch see them: their sends share calls. A send
 * waits until every other record of the batch is waiting in a send too or has finished
 * ({@link leave}); then everything waiting goes out in one `send` of the underlying queues, whose
 * SQS adapter packs it into as few SendMessageBatch calls as the entry and size limits allow
 * (about one per batch, instead of one per record).
 *
 * Each record still resolves only when its own messages are in. If the shared send fails, each
 * record's messages are sent again on their own, so a record fails only when its own send does (as
 * without sharing); the FIFO deduplication ids make the messages that did get in harmless when
 * sent twice.
 */
export class SharedSendDeliveryQueues implements DeliveryQueues {
  private active: number;
  private waiting: Waiting[] = [];

  constructor(
    private readonly queues: DeliveryQueues,
    /** The records of the batch: each must call {@link leave} once, when it is done. */
    participants: number,
  ) {
    this.active = participants;
  }

  send(messages: readonly DeliveryMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ messages, resolve, reject });
      this.active -= 1;
      this.flushWhenAllWait();
    });
  }

  /** A record of the batch is done (routed, skipped, quarantined or failed): nobody waits on it. */
  leave(): void {
    this.active -= 1;
    this.flushWhenAllWait();
  }

  private flushWhenAllWait(): void {
    if (this.active > 0 || this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    // They run again once the send settles, and may send again: count them before anything awaits.
    this.active += batch.length;
    this.queues.send(batch.flatMap((w) => w.messages)).then(
      () => {
        for (const w of batch) w.resolve();
      },
      () => {
        for (const w of batch) this.queues.send(w.messages).then(w.resolve, w.reject);
      },
    );
  }
}
