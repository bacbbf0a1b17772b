import { randomBytes, randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  Context,
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttribute,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
import { createLogger, type Logger } from './log.js';

/**
 * Runs a Lambda SQS handler against a queue the way Lambda's SQS event source mapping does:
 *
 * - Long-polls ReceiveMessage (all system and message attributes) and hands the handler a
 *   Lambda-shaped SQSEvent and Context.
 * - Standard queues: up to 10 messages per receive; with maxBatchingWindowSeconds > 0 it keeps
 *   receiving until batchSize messages or the window has passed since the first one, as Lambda
 *   does. FIFO queues: one receive per batch (Lambda allows no batching window on FIFO), at most 10.
 * - ReportBatchItemFailures: deletes every record not listed in `batchItemFailures`. A handler that
 *   throws, times out or returns an invalid response (an empty, null or unknown itemIdentifier, or
 *   batchItemFailures that is not a list) fails the whole batch, and nothing is deleted: the
 *   messages come back after the queue's visibility timeout, and the queue's redrive policy moves
 *   them to the DLQ after maxReceiveCount receives (fauxqs does that move, as SQS does).
 * - FIFO: once a record fails, the records after it in the same message group are kept too, so a
 *   group never advances past a failure.
 * - maxConcurrency: how many batches may be in flight at once; each slot receives, invokes, deletes.
 *
 * What it does not emulate: scaling beyond maxConcurrency, the 6 MB invocation payload cap, and
 * killing a handler that timed out (it keeps running in the background; its result is ignored).
 */

export type SqsBatchHandler = (
  event: SQSEvent,
  context: Context,
  // biome-ignore lint/suspicious/noConfusingVoidType: the same return type as aws-lambda's SQSHandler
) => Promise<SQSBatchResponse | void> | SQSBatchResponse | void;

export interface SqsEventSourcePollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** The event's eventSourceARN; the region and account are taken from it too. */
  queueArn: string;
  handler: SqsBatchHandler;
  functionName: string;
  /** Defaults to whether the queue URL ends in `.fifo`. */
  fifo?: boolean;
  /** Records per invocation. FIFO: 1..10. Standard: 1..10000, above 10 only with a batching window. */
  batchSize?: number;
  /** Standard queues only, 0..300. Default 0: invoke with what one receive returned. */
  maxBatchingWindowSeconds?: number;
  /**
   * Batches in flight at once. Default 2: the smallest MaximumConcurrency Lambda accepts, and enough
   * to show interleaving locally without flooding a laptop. For FIFO, more slots than active message
   * groups do nothing; order per group holds regardless (the queue releases a group's next message
   * only after the previous one is deleted or becomes visible again).
   */
  maxConcurrency?: number;
  /** Function timeout: the Context's remaining time, and when a running batch counts as failed. Default 30. */
  timeoutSeconds?: number;
  /** Long-poll wait per ReceiveMessage, 0..20. Default 2. stop() and pause() can take this long while idle. */
  waitTimeSeconds?: number;
  /** FunctionResponseTypes ReportBatchItemFailures. Default true; when false, a resolved handler deletes the whole batch. */
  reportBatchItemFailures?: boolean;
  /** Context.memoryLimitInMB. Default 512. */
  memoryMb?: number;
  logger?: Logger;
  /** Called after every batch (after its deletes), e.g. for the console's counters. Must not throw. */
  onBatch?: (result: BatchResult) => void;
}

export type BatchOutcome = 'success' | 'partial' | 'error' | 'timeout' | 'invalid-response';

export interface BatchResult {
  readonly awsRequestId: string;
  readonly outcome: BatchOutcome;
  readonly messageIds: readonly string[];
  /** Records not deleted: they come back after the visibility timeout. */
  readonly failedMessageIds: readonly string[];
  readonly deletedMessageIds: readonly string[];
  readonly durationMs: number;
  readonly error?: unknown;
}

export interface PollerStats {
  readonly state: PollerState;
  readonly inFlightBatches: number;
  /** ReceiveMessage calls waiting for an answer right now. */
  readonly pollsInFlight: number;
  /** Handler invocations. */
  readonly batches: number;
  /** Records handed to the handler (a redelivered message counts again). */
  readonly messages: number;
  /** Records not deleted because they, or their batch, failed. */
  readonly failures: number;
  readonly deleted: number;
  readonly partialBatches: number;
  /** Batches the handler threw on. */
  readonly batchErrors: number;
  readonly timeouts: number;
  readonly invalidResponses: number;
  readonly receives: number;
  readonly emptyReceives: number;
  readonly receiveErrors: number;
  readonly deleteErrors: number;
}

export type PollerState = 'created' | 'running' | 'paused' | 'stopped';

const MAX_RECEIVE = 10;
const BACKOFF_MIN_MS = 200;
const BACKOFF_MAX_MS = 5_000;

export class SqsEventSourcePoller {
  readonly functionName: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly fifo: boolean;

  private readonly sqs: SQSClient;
  private readonly handler: SqsBatchHandler;
  private readonly batchSize: number;
  private readonly windowMs: number;
  private readonly maxConcurrency: number;
  private readonly timeoutMs: number;
  private readonly waitTimeSeconds: number;
  private readonly reportBatchItemFailures: boolean;
  private readonly memoryMb: number;
  private readonly region: string;
  private readonly invokedFunctionArn: string;
  private readonly log: Logger;
  private readonly onBatch: ((result: BatchResult) => void) | undefined;

  private state: PollerState = 'created';
  /** Bumped by stop(), so slots from before a stop() never outlive it. */
  private generation = 0;
  private readonly slots: (Promise<void> | undefined)[];
  private readonly logStreams: string[];
  private readonly sleepers = new Set<() => void>();
  private idleWaiters: (() => void)[] = [];
  private inFlight = 0;
  private polls = 0;
  private readonly counters = {
    batches: 0,
    messages: 0,
    failures: 0,
    deleted: 0,
    partialBatches: 0,
    batchErrors: 0,
    timeouts: 0,
    invalidResponses: 0,
    receives: 0,
    emptyReceives: 0,
    receiveErrors: 0,
    deleteErrors: 0,
  };

  constructor(options: SqsEventSourcePollerOptions) {
    this.sqs = options.sqs;
    this.queueUrl = options.queueUrl;
    this.queueArn = options.queueArn;
    this.handler = options.handler;
    this.functionName = options.functionName;
    this.fifo = options.fifo ?? options.queueUrl.endsWith('.fifo');
    this.batchSize = options.batchSize ?? 10;
    this.windowMs = (options.maxBatchingWindowSeconds ?? 0) * 1000;
    this.maxConcurrency = options.maxConcurrency ?? 2;
    this.timeoutMs = (options.timeoutSeconds ?? 30) * 1000;
    this.waitTimeSeconds = options.waitTimeSeconds ?? 2;
    this.reportBatchItemFailures = options.reportBatchItemFailures ?? true;
    this.memoryMb = options.memoryMb ?? 512;
    this.onBatch = options.onBatch;

    const arn = options.queueArn.split(':');
    this.region = arn[3] || 'us-east-1';
    const account = arn[4] || '000000000000';
    this.invokedFunctionArn = `arn:aws:lambda:${this.region}:${account}:function:${this.functionName}`;
    this.log = (options.logger ?? createLogger('sqs-poller')).child({
      function: this.functionName,
      queue: options.queueUrl.slice(options.queueUrl.lastIndexOf('/') + 1),
    });
    this.validate();
    this.slots = Array.from({ length: this.maxConcurrency }, () => undefined);
    // One "execution environment" per slot, as Lambda gives each concurrent instance its own stream.
    this.logStreams = this.slots.map(() => logStreamName());
  }

  private validate(): void {
    const fail = (message: string) => {
      throw new Error(`poller for ${this.functionName}: ${message}`);
    };
    const windowSeconds = this.windowMs / 1000;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) fail('batchSize must be a positive integer');
    if (this.fifo && this.batchSize > 10) fail('batchSize on a FIFO queue is at most 10');
    if (!this.fifo && this.batchSize > 10_000) fail('batchSize is at most 10000');
    if (windowSeconds < 0 || windowSeconds > 300) fail('maxBatchingWindowSeconds must be 0..300');
    if (this.fifo && windowSeconds > 0) fail('FIFO queues take no batching window');
    if (this.batchSize > 10 && windowSeconds === 0) fail('batchSize above 10 needs a batching window');
    if (!Number.isInteger(this.maxConcurrency) || this.maxConcurrency < 1)
      fail('maxConcurrency must be >= 1');
    if (!(this.timeoutMs > 0)) fail('timeoutSeconds must be positive');
    if (!Number.isInteger(this.waitTimeSeconds) || this.waitTimeSeconds < 0 || this.waitTimeSeconds > 20) {
      fail('waitTimeSeconds must be an integer 0..20');
    }
  }

  /** Starts polling (again, after stop()). */
  start(): void {
    if (this.state === 'running') return;
    this.state = 'running';
    this.log.debug('poller started', { maxConcurrency: this.maxConcurrency, batchSize: this.batchSize });
    this.spawnSlots();
  }

  /** Stops taking new batches; batches in flight finish. A receive already waiting still delivers what it gets. */
  pause(): void {
    if (this.state !== 'running') return;
    this.state = 'paused';
    this.wakeSleepers();
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.start();
  }

  /**
   * Stops receiving and resolves when every slot has exited: in-flight batches have been handled and
   * their successes deleted, and pending long polls have returned (at most waitTimeSeconds; a
   * receive is never aborted, because an aborted long poll can still take messages off the queue
   * server-side and hide them for a whole visibility timeout). Messages such a poll returns are
   * still handled, as Lambda would.
   */
  async stop(): Promise<void> {
    this.state = 'stopped';
    // A start() before this resolves gets fresh slots; the old ones still finish their batch.
    this.generation += 1;
    const loops = [...this.slots];
    this.slots.fill(undefined);
    this.wakeSleepers();
    await Promise.all(loops);
  }

  /** Resolves when no batch is in flight (immediately if none is). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** True when no batch is in flight (a long poll may still be waiting). */
  isIdle(): boolean {
    return this.inFlight === 0;
  }

  get stats(): PollerStats {
    return { state: this.state, inFlightBatches: this.inFlight, pollsInFlight: this.polls, ...this.counters };
  }

  /** Read through a method so TypeScript does not keep a narrowing across awaits. */
  private currentState(): PollerState {
    return this.state;
  }

  private spawnSlots(): void {
    for (let slot = 0; slot < this.slots.length; slot++) {
      if (this.slots[slot]) continue;
      const loop: Promise<void> = this.runSlot(slot, this.generation)
        .catch((error: unknown) => this.log.error('poller slot crashed', { slot, error }))
        .finally(() => {
          if (this.slots[slot] !== loop) return;
          this.slots[slot] = undefined;
          // resume() may have come while this slot was on its way out.
          if (this.state === 'running') this.spawnSlots();
        });
      this.slots[slot] = loop;
    }
  }

  private async runSlot(slot: number, generation: number): Promise<void> {
    let consecutiveErrors = 0;
    while (this.state === 'running' && this.generation === generation) {
      let messages: Message[];
      try {
        messages = await this.collectBatch();
      } catch (error) {
        if (this.currentState() === 'stopped') {
          this.log.debug('receive failed while stopping', { error });
          break;
        }
        consecutiveErrors += 1;
        this.counters.receiveErrors += 1;
        if (consecutiveErrors === 1 || consecutiveErrors % 10 === 0) {
          this.log.warn('receive failed; backing off', { slot, consecutiveErrors, error });
        }
        const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (consecutiveErrors - 1));
        await this.sleep(backoff * (0.5 + Math.random() / 2));
        continue;
      }
      if (consecutiveErrors > 0) {
        this.log.info('receive recovered', { slot, after: consecutiveErrors });
        consecutiveErrors = 0;
      }
      if (messages.length > 0) await this.processBatch(slot, messages);
      // Short polling (waitTimeSeconds 0) on an empty queue would otherwise spin.
      else if (this.waitTimeSeconds === 0) await this.sleep(100);
    }
  }

  private async receive(max: number, waitTimeSeconds: number): Promise<Message[]> {
    this.counters.receives += 1;
    this.polls += 1;
    const response = await this.sqs
      .send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: waitTimeSeconds,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      )
      .finally(() => {
        this.polls -= 1;
      });
    const messages = response.Messages ?? [];
    if (messages.length === 0) this.counters.emptyReceives += 1;
    return messages;
  }

  /** One long poll; then, for standard queues with a window, more receives until full or the window closes. */
  private async collectBatch(): Promise<Message[]> {
    const batch = await this.receive(Math.min(MAX_RECEIVE, this.batchSize), this.waitTimeSeconds);
    if (batch.length === 0 || this.fifo || this.windowMs === 0) return batch;

    const deadline = Date.now() + this.windowMs;
    while (batch.length < this.batchSize && this.state === 'running') {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      // Whole seconds only: never wait past the window; below a second, short-poll and nap.
      const wait = Math.min(20, Math.floor(remainingMs / 1000));
      let more: Message[];
      try {
        more = await this.receive(Math.min(MAX_RECEIVE, this.batchSize - batch.length), wait);
      } catch (error) {
        // What is already received must not be dropped: invoke with it.
        this.counters.receiveErrors += 1;
        this.log.warn('receive failed while filling a batch; invoking with what arrived', { error });
        break;
      }
      batch.push(...more);
      if (more.length === 0 && wait === 0) await this.sleep(Math.min(remainingMs, 100));
    }
    return batch;
  }

  private async processBatch(slot: number, messages: Message[]): Promise<void> {
    this.inFlight += 1;
    const started = Date.now();
    const awsRequestId = randomUUID();
    const records = messages.map((message) => this.toRecord(message));
    const messageIds = records.map((r) => r.messageId);
    this.counters.batches += 1;
    this.counters.messages += records.length;
    let outcome: BatchOutcome = 'success';
    let failed = new Set<string>();
    let error: unknown;

    try {
      const context = this.createContext(slot, awsRequestId, started + this.timeoutMs);
      const invocation = await this.invoke({ Records: records }, context);
      if (invocation.kind === 'timeout') {
        outcome = 'timeout';
        this.counters.timeouts += 1;
        failed = new Set(messageIds);
        this.log.warn('handler timed out; batch not deleted', {
          awsRequestId,
          timeoutSeconds: this.timeoutMs / 1000,
          messages: records.length,
        });
      } else if (invocation.kind === 'error') {
        outcome = 'error';
        error = invocation.error;
        this.counters.batchErrors += 1;
        failed = new Set(messageIds);
        this.log.warn('handler failed; batch not deleted', {
          awsRequestId,
          messages: records.length,
          error,
        });
      } else {
        const parsed = this.reportBatchItemFailures
          ? parseBatchResponse(invocation.value, new Set(messageIds))
          : { ok: true as const, failed: new Set<string>() };
        if (!parsed.ok) {
          outcome = 'invalid-response';
          this.counters.invalidResponses += 1;
          failed = new Set(messageIds);
          this.log.warn('invalid batch response; whole batch failed', {
            awsRequestId,
            reason: parsed.reason,
          });
        } else if (parsed.failed.size > 0) {
          outcome = 'partial';
          this.counters.partialBatches += 1;
          failed = parsed.failed;
        }
      }

      const keep = new Set(failedRecordIds(records, failed, this.fifo));
      const toDelete = records.filter((r) => !keep.has(r.messageId));
      const deleted = await this.deleteRecords(toDelete);
      this.counters.deleted += deleted.length;
      this.counters.failures += keep.size;
      const result: BatchResult = {
        awsRequestId,
        outcome,
        messageIds,
        failedMessageIds: records.filter((r) => keep.has(r.messageId)).map((r) => r.messageId),
        deletedMessageIds: deleted,
        durationMs: Date.now() - started,
        ...(error === undefined ? {} : { error }),
      };
      this.log.debug('batch done', {
        awsRequestId,
        outcome,
        messages: records.length,
        failed: keep.size,
        durationMs: result.durationMs,
      });
      try {
        this.onBatch?.(result);
      } catch (callbackError) {
        this.log.error('onBatch callback threw', { error: callbackError });
      }
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  private async invoke(
    event: SQSEvent,
    context: Context,
  ): Promise<{ kind: 'ok'; value: unknown } | { kind: 'error'; error: unknown } | { kind: 'timeout' }> {
    const running = Promise.resolve()
      .then(() => this.handler(event, context))
      .then(
        (value) => ({ kind: 'ok' as const, value }),
        (error: unknown) => ({ kind: 'error' as const, error }),
      );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ kind: 'timeout' }>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'timeout' }), this.timeoutMs);
    });
    const first = await Promise.race([running, timeout]);
    clearTimeout(timer);
    if (first.kind === 'timeout') {
      // Lambda would kill the sandbox; in-process the handler runs on, so at least say when it ends.
      void running.then((late) =>
        this.log.warn('timed-out handler finished; its result was discarded', {
          awsRequestId: context.awsRequestId,
          kind: late.kind,
        }),
      );
    }
    return first;
  }

  /** Deletes in batches of 10; returns the ids SQS confirmed. Failures only mean a redelivery. */
  private async deleteRecords(records: readonly SQSRecord[]): Promise<string[]> {
    const deleted: string[] = [];
    for (let i = 0; i < records.length; i += MAX_RECEIVE) {
      const chunk = records.slice(i, i + MAX_RECEIVE);
      try {
        const response = await this.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: chunk.map((r, index) => ({ Id: String(index), ReceiptHandle: r.receiptHandle })),
          }),
        );
        for (const entry of response.Successful ?? []) {
          const record = chunk[Number(entry.Id)];
          if (record) deleted.push(record.messageId);
        }
        for (const entry of response.Failed ?? []) {
          this.counters.deleteErrors += 1;
          this.log.warn('delete failed; message will be redelivered', {
            messageId: chunk[Number(entry.Id)]?.messageId,
            code: entry.Code,
            reason: entry.Message,
          });
        }
      } catch (error) {
        this.counters.deleteErrors += chunk.length;
        this.log.warn('delete failed; messages will be redelivered', { messages: chunk.length, error });
      }
    }
    return deleted;
  }

  private toRecord(message: Message): SQSRecord {
    const a = message.Attributes ?? {};
    const attributes: SQSRecordAttributes = {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    };
    if (a.SequenceNumber !== undefined) attributes.SequenceNumber = a.SequenceNumber;
    if (a.MessageGroupId !== undefined) attributes.MessageGroupId = a.MessageGroupId;
    if (a.MessageDeduplicationId !== undefined) attributes.MessageDeduplicationId = a.MessageDeduplicationId;
    if (a.AWSTraceHeader !== undefined) attributes.AWSTraceHeader = a.AWSTraceHeader;
    if (a.DeadLetterQueueSourceArn !== undefined)
      attributes.DeadLetterQueueSourceArn = a.DeadLetterQueueSourceArn;

    const messageAttributes: Record<string, SQSMessageAttribute> = {};
    for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
      messageAttributes[name] = toRecordAttribute(value);
    }

    const record: SQSRecord = {
      messageId: message.MessageId ?? '',
      receiptHandle: message.ReceiptHandle ?? '',
      body: message.Body ?? '',
      attributes,
      messageAttributes,
      md5OfBody: message.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.queueArn,
      awsRegion: this.region,
    };
    if (message.MD5OfMessageAttributes) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
    return record;
  }

  private createContext(slot: number, awsRequestId: string, deadline: number): Context {
    const noop = () => {};
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: this.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: this.invokedFunctionArn,
      memoryLimitInMB: String(this.memoryMb),
      awsRequestId,
      logGroupName: `/aws/lambda/${this.functionName}`,
      logStreamName: this.logStreams[slot] ?? logStreamName(),
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: noop,
      fail: noop,
      succeed: noop,
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private wakeSleepers(): void {
    for (const wake of [...this.sleepers]) wake();
  }
}

/**
 * Reads a handler's return value the way Lambda does with ReportBatchItemFailures: nothing, null,
 * no or an empty batchItemFailures list mean complete success; an itemIdentifier that is missing,
 * empty, null or not a message id of the batch (or a list that is not a list) fails the whole batch.
 */
export function parseBatchResponse(
  value: unknown,
  messageIds: ReadonlySet<string>,
): { ok: true; failed: Set<string> } | { ok: false; reason: string } {
  if (value === undefined || value === null || typeof value !== 'object')
    return { ok: true, failed: new Set() };
  const failures = (value as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { ok: true, failed: new Set() };
  if (!Array.isArray(failures)) return { ok: false, reason: 'batchItemFailures is not a list' };
  const failed = new Set<string>();
  for (const item of failures as unknown[]) {
    const id =
      typeof item === 'object' && item !== null
        ? (item as { itemIdentifier?: unknown }).itemIdentifier
        : undefined;
    if (typeof id !== 'string' || id === '') return { ok: false, reason: 'missing or empty itemIdentifier' };
    if (!messageIds.has(id)) return { ok: false, reason: `itemIdentifier ${id} is not in the batch` };
    failed.add(id);
  }
  return { ok: true, failed };
}

/**
 * The records to keep (not delete), in batch order: the failed ones, and on FIFO queues also every
 * record after a failed one in the same message group.
 */
export function failedRecordIds(
  records: readonly SQSRecord[],
  failed: ReadonlySet<string>,
  fifo: boolean,
): string[] {
  const blockedGroups = new Set<string>();
  const keep: string[] = [];
  for (const record of records) {
    const group = fifo ? record.attributes.MessageGroupId : undefined;
    const blocked = group !== undefined && blockedGroups.has(group);
    if (failed.has(record.messageId) || blocked) {
      keep.push(record.messageId);
      if (group !== undefined) blockedGroups.add(group);
    }
  }
  return keep;
}

function toRecordAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const attribute: SQSMessageAttribute = {
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map(base64),
    dataType: value.DataType ?? 'String',
  };
  if (value.StringValue !== undefined) attribute.stringValue = value.StringValue;
  if (value.BinaryValue !== undefined) attribute.binaryValue = base64(value.BinaryValue);
  return attribute;
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** `2026/01/31/[$LATEST]0123456789abcdef0123456789abcdef`, as Lambda names its log streams. */
function logStreamName(): string {
  const d = new Date();
  const date = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}`;
  return `${date}/[$LATEST]${randomBytes(16).toString('hex')}`;
}
