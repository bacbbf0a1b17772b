import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * fauxqs keeps its queues in one in-process store object, and every change to what a queue holds
 * goes through three of its queue methods: `enqueue` (SendMessage, SendMessageBatch and the moves to
 * a dead-letter queue that fauxqs makes itself during ReceiveMessage), `deleteMessage`
 * (DeleteMessage, DeleteMessageBatch) and `purge`. Observing those methods is the one place that
 * sees every change whichever client made it, DLQ moves included, which SDK middleware on the
 * runtime's own clients would not. fauxqs does not export its store class, so it is loaded from
 * the package's files next to its entry point (fauxqs is pinned to 1.9 in package.json); the shape
 * is checked at load, so an upgrade that changes it fails at start with a clear error.
 */

/** A message as fauxqs stores it (the fields used here). */
export interface FauxqsMessage {
  readonly messageId: string;
  readonly body: string;
  readonly messageAttributes: Record<
    string,
    { DataType: string; StringValue?: string; BinaryValue?: string }
  >;
  readonly messageGroupId?: string;
  readonly messageDeduplicationId?: string;
}

interface FauxqsQueue {
  readonly name: string;
  enqueue(message: FauxqsMessage): void;
  deleteMessage(receiptHandle: string): boolean;
  purge(): void;
  readonly inflightMessages: Map<string, { message: FauxqsMessage }>;
}

/** What the store reports, synchronously, as each change happens. */
export interface QueueObserver {
  enqueued(queue: string, message: FauxqsMessage): void;
  deleted(queue: string, messageId: string): void;
  purged(queue: string): void;
}

export class FauxqsInternalsError extends Error {
  override readonly name = 'FauxqsInternalsError';
}

interface SqsStoreLike {
  createQueue(name: string, url: string, arn: string, ...rest: unknown[]): FauxqsQueue;
  deleteQueue(url: string): boolean;
  getQueue(url: string): FauxqsQueue | undefined;
}

/**
 * Where Node would find the fauxqs package from here. Its `exports` allow no other file to be
 * resolved by name (and vitest has no import.meta.resolve), so the lookup paths are walked.
 */
function fauxqsDirectory(): string {
  const require = createRequire(import.meta.url);
  for (const base of require.resolve.paths('fauxqs') ?? []) {
    const dir = join(base, 'fauxqs');
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new FauxqsInternalsError('cannot find the fauxqs package in any node_modules above local/');
}

/** A fresh fauxqs SQS store whose queues report every change to `observer`. */
export async function observedSqsStore(observer: QueueObserver): Promise<object> {
  const storeUrl = pathToFileURL(join(fauxqsDirectory(), 'dist', 'sqs', 'sqsStore.js')).href;
  let module: { SqsStore?: new () => SqsStoreLike };
  try {
    module = (await import(storeUrl)) as typeof module;
  } catch (error) {
    throw new FauxqsInternalsError(`cannot load fauxqs' queue store from ${storeUrl}`, { cause: error });
  }
  const Store = module.SqsStore;
  const proto = Store?.prototype as unknown as Record<string, unknown> | undefined;
  if (!Store || typeof proto?.createQueue !== 'function' || typeof proto.deleteQueue !== 'function') {
    throw new FauxqsInternalsError(
      `fauxqs' queue store at ${storeUrl} is not the shape this runtime observes (expected fauxqs 1.9)`,
    );
  }
  const store = new Store();
  const createQueue = store.createQueue.bind(store);
  store.createQueue = (...args) => {
    const queue = createQueue(...args);
    observe(queue, observer);
    return queue;
  };
  const deleteQueue = store.deleteQueue.bind(store);
  store.deleteQueue = (url) => {
    const queue = store.getQueue(url);
    const deleted = deleteQueue(url);
    if (deleted && queue) observer.purged(queue.name);
    return deleted;
  };
  return store;
}

function observe(queue: FauxqsQueue, observer: QueueObserver): void {
  for (const method of ['enqueue', 'deleteMessage', 'purge', 'inflightMessages'] as const) {
    if (!(method in queue)) {
      throw new FauxqsInternalsError(`fauxqs' queue has no ${method} (expected fauxqs 1.9)`);
    }
  }
  const enqueue = queue.enqueue.bind(queue);
  queue.enqueue = (message) => {
    // Before the store takes it: a receive that follows can only see it once it is recorded.
    observer.enqueued(queue.name, message);
    enqueue(message);
  };
  const deleteMessage = queue.deleteMessage.bind(queue);
  queue.deleteMessage = (receiptHandle) => {
    const inflight = queue.inflightMessages.get(receiptHandle);
    const deleted = deleteMessage(receiptHandle);
    if (deleted && inflight) observer.deleted(queue.name, inflight.message.messageId);
    return deleted;
  };
  const purge = queue.purge.bind(queue);
  queue.purge = () => {
    purge();
    observer.purged(queue.name);
  };
}
