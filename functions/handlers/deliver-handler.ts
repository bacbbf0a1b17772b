import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { DestinationConnector } from '../connectors/types.js';
import { CircuitBreaker } from '../core/breaker.js';
import { type DeliverDeps, deliverMessage } from '../core/deliver.js';
import { FatalError, SwitchyardError, TransientError } from '../core/errors.js';
import type { DeliveryMessage } from '../core/messages.js';
import type {
  AuditEntry,
  AuditTrail,
  BreakerStore,
  DeliveryMapping,
  DeliveryQueues,
  Dimensions,
  MessageVisibility,
  SecretStore,
  SecretValue,
  StateStore,
  Telemetry,
} from '../core/ports.js';
import { describe, receiveCount, retryLater } from './sqs-failure.js';

export interface DeliverHandlerDeps extends Omit<DeliverDeps, 'log'> {
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly visibility: MessageVisibility;
  /** The destination's circuit breaker state; without it the lane never pauses. */
  readonly breakers?: BreakerStore;
  /** This lane's own queue: a waiting record received before is put back on it as a new message. */
  readonly requeue?: DeliveryQueues;
  /** Where each terminal outcome of a record is recorded. */
  readonly audit?: AuditTrail;
}

/** The lane is paused: the record waits in the queue (not a retry, not counted as one). */
export class BreakerOpenError extends SwitchyardError {}

export function parseDeliveryMessage(body: string): DeliveryMessage {
  let value: Partial<DeliveryMessage>;
  try {
    value = JSON.parse(body) as Partial<DeliveryMessage>;
  } catch (error) {
    throw new FatalError(
      'Delivery message is not JSON',
      [{ rule: 'message.json', message: 'body is not JSON' }],
      {
        cause: error,
      },
    );
  }
  if (
    value?.v !== 1 ||
    typeof value.id !== 'string' ||
    typeof value.version !== 'number' ||
    typeof value.flow !== 'string'
  ) {
    throw new FatalError('Delivery message is not a v1 message', [
      { rule: 'message.shape', message: 'needs v=1, flow, id and a numeric version' },
    ]);
  }
  return value as DeliveryMessage;
}

/** Time kept in hand after the last destination call of an invocation: the mapping write, the batch response. */
const TIME_MARGIN_MS = 3_000;

/** What one invocation knows about the FIFO groups of its batch. */
interface BatchState {
  /** Groups with a failed or held record: their later records are not attempted. */
  readonly failedGroups: Set<string>;
  /** Groups with a record put back on the queue by the open breaker. */
  readonly requeuedGroups: Set<string>;
  /** The batch's readable messages by message id, parsed once. */
  readonly messages: ReadonlyMap<string, DeliveryMessage>;
}

const groupOf = (record: SQSRecord): string => record.attributes.MessageGroupId ?? record.messageId;

/**
 * The readable messages of a batch by message id, parsed once for the prefetch and the records' turns;
 * an unreadable one is parsed again in its turn, which quarantines it with the reason.
 */
function readableMessages(records: readonly SQSRecord[]): Map<string, DeliveryMessage> {
  const messages = new Map<string, DeliveryMessage>();
  for (const record of records) {
    try {
      messages.set(record.messageId, parseDeliveryMessage(record.body));
    } catch {
      // Left to the record's own turn, which reports why.
    }
  }
  return messages;
}

/**
 * The state store for one batch, with the mappings of the first record of each FIFO group read at
 * the start, all at once: the store coalesces reads made at the same moment into one BatchGetItem,
 * where the records, which run one at a time, would each make a GetItem. Only the first of each
 * group: a later record of a group must see the mapping its predecessor writes, so it reads its
 * own. Each prefetched mapping answers that one record's read, once.
 */
function withPrefetchedMappings(
  state: StateStore,
  destination: string,
  records: readonly SQSRecord[],
  messages: ReadonlyMap<string, DeliveryMessage>,
): StateStore {
  const prefetched = new Map<string, Promise<DeliveryMapping | undefined>>();
  const seen = new Set<string>();
  for (const record of records) {
    const group = groupOf(record);
    if (seen.has(group)) continue;
    seen.add(group);
    // Unreadable: its own turn quarantines it, with the reason.
    const message = messages.get(record.messageId);
    if (!message) continue;
    const read = state.getMapping(destination, message.entity, message.id);
    // Consumed by the record's own read, which reports a failure; one never consumed (its record
    // was held or handed back) must not become an unhandled rejection.
    read.catch(() => undefined);
    prefetched.set(`${message.entity}#${message.id}`, read);
  }
  // The store's other methods, with their `this`, through the prototype chain.
  const batchState: StateStore = Object.create(state);
  batchState.getMapping = (name, entity, id) => {
    const key = `${entity}#${id}`;
    const read = name === destination ? prefetched.get(key) : undefined;
    if (!read) return state.getMapping(name, entity, id);
    prefetched.delete(key);
    return read;
  };
  return batchState;
}

/**
 * The secret store for one batch, with the destination's secret read at the start, alongside the
 * batch's other reads, where the first record that sends would read it after its mapping. The
 * prefetched read answers the first read of that name, once; later reads go to the store (and its
 * cache), so a failed read fails one record, as it would have without the prefetch.
 */
function withPrefetchedSecret(secrets: SecretStore, name: string | undefined): SecretStore {
  if (name === undefined) return secrets;
  let prefetched: Promise<SecretValue> | undefined = secrets.get(name);
  // Consumed by the first record that sends, which reports a failure; never consumed when every
  // record is a skip or held, and then it must not become an unhandled rejection.
  prefetched.catch(() => undefined);
  return {
    get: (wanted) => {
      const read = wanted === name ? prefetched : undefined;
      if (!read) return secrets.get(wanted);
      prefetched = undefined;
      return read;
    },
  };
}

/** What a batch's records read through: the state and secret stores, with the batch's prefetches. */
type BatchReads = Pick<DeliverDeps, 'state' | 'secrets'>;

/** Thrown for a record held back (an earlier record of its FIFO group failed, or the invocation is out of time). */
export class HeldBackError extends TransientError {}

/**
 * Deliver, on one destination's FIFO queue. Records run in order; once one fails, the later records
 * of its group (its entity) are held back, not attempted, so order holds (G5), while other groups go
 * on (G7). Held-back records are made visible again at once (the failed record's own delay keeps
 * the group waiting); once received before they are requeued instead (requeueIfWaitedBefore),
 * since waiting is not failing.
 */
export function createDeliverHandler(deps: DeliverHandlerDeps) {
  const { logger, telemetry, destinationName } = deps;
  const processor = new BatchProcessor(EventType.SQS);
  const retry = {
    visibility: deps.visibility,
    maxReceiveCount: deps.destination.retry.maxReceiveCount,
    backoff: deps.destination.retry,
    telemetry,
    clock: deps.clock,
    ...(deps.audit ? { audit: deps.audit } : {}),
  };

  /** The audit entry of one record at this destination (ids only; an unreadable body has its message id). */
  const subject = (record: SQSRecord, message: DeliveryMessage | undefined) =>
    ({
      eventId: message?.eventId ?? record.messageId,
      stage: 'deliver',
      flow: message?.flow ?? '(unreadable)',
      destination: destinationName,
      ...(message
        ? {
            source: message.source,
            entity: message.entity,
            id: message.id,
            sourceId: message.sourceId,
            version: message.version,
          }
        : {}),
    }) as const;
  const audit = (
    record: SQSRecord,
    message: DeliveryMessage | undefined,
    outcome: AuditEntry['outcome'],
    reason?: string,
  ) =>
    deps.audit?.record([
      { ...subject(record, message), at: deps.clock.now(), outcome, ...(reason ? { reason } : {}) },
    ]);

  /** The destination connector, timing each call (success or failure) as `destinationCallLatency`. */
  const timed = (dims: Dimensions): DestinationConnector => {
    const inner = deps.connector;
    // Everything else of the connector stays as it is (own properties and prototype alike).
    const wrapped = Object.create(inner) as {
      -readonly [K in keyof DestinationConnector]: DestinationConnector[K];
    };
    wrapped.deliver = async (call) => {
      const started = performance.now();
      try {
        return await inner.deliver(call);
      } finally {
        telemetry.timing('destinationCallLatency', dims, performance.now() - started);
      }
    };
    return wrapped;
  };

  /**
   * Holds a record while the breaker is open: visible again when it closes. A record that waits (it
   * did not fail itself: the breaker was open when its turn came) is put back on the queue as a new
   * message instead once it has been received before (requeueIfWaitedBefore); one whose own failure
   * opened the breaker only on its last receive, so a destination down for longer than the retry
   * budget leaves its records waiting, not in the DLQ. Either copy carries the pause as `notBefore`.
   * Returns when requeued (the original is done); throws when held.
   */
  const hold = async (
    record: SQSRecord,
    message: DeliveryMessage,
    until: number,
    lane: Dimensions,
    batch: BatchState,
    failed: boolean,
  ): Promise<void> => {
    const fromReceive = failed ? deps.destination.retry.maxReceiveCount - 1 : undefined;
    if (await requeueIfWaitedBefore(record, message, lane, batch, until, fromReceive)) return;
    await deps.visibility.delay(record.receiptHandle, Math.ceil((until - deps.clock.now()) / 1000));
    telemetry.count('held', lane);
    throw new BreakerOpenError(`The circuit breaker of ${destinationName} is open; waiting`);
  };

  /**
   * Puts a record back on the queue as a new message (its receive count starts again), behind the
   * records of its group still queued; later records of its group in this batch follow it (G5).
   * False when the lane has no queue to put it on.
   */
  const requeue = async (
    record: SQSRecord,
    message: DeliveryMessage,
    lane: Dimensions,
    batch: BatchState,
    notBefore?: number,
  ): Promise<boolean> => {
    if (!deps.requeue) return false;
    const { notBefore: previous, ...rest } = message;
    // A copy requeued again keeps the pause it still has to wait out.
    const until = Math.max(notBefore ?? 0, previous ?? 0);
    await deps.requeue.send([
      {
        ...rest,
        // A new FIFO deduplication id (it is built from routedFrom), one suffix however often.
        routedFrom: `${message.routedFrom.replace(/~held@\d+$/, '')}~held@${deps.clock.now()}`,
        ...(until > deps.clock.now() ? { notBefore: until } : {}),
      },
    ]);
    batch.requeuedGroups.add(groupOf(record));
    telemetry.count('requeued', lane);
    return true;
  };

  /**
   * Puts a record that is waiting, not failing (behind the open breaker, behind a record of its
   * entity that failed in this batch, or out of invocation time) back on the queue as a new message
   * once it has been received before, or when its group was requeued in this batch; true when it did.
   * Every receive counts toward the DLQ, waits included: requeued from its second wait on, a record
   * spends at most one receive of its budget waiting, so it reaches the DLQ only after at least
   * maxReceiveCount - 1 failures of its own. (Requeued only on its last receive, a record of a
   * flapping destination could wait behind its entity's failures for six receives of eight, then
   * fail twice and be dead-lettered: chaos 2 did that in CI.) The cost is one SendMessage per wait
   * after the first, paid only while a lane is failing. Never on a first receive (unless that is the
   * last, with maxReceiveCount 1): a requeued copy is visible at once, and one that was requeued
   * again on arrival would spin through the queue for the whole pause instead of waiting it out.
   *
   * A record that fails on its own between waits starts again with each requeue, so on a lane whose
   * breaker keeps opening for other records' failures it stays out of the DLQ until the lane settles.
   * `fromReceive` overrides the receive it is requeued from (hold: a record whose own failure opened
   * the breaker spent the receive failing, and is requeued on its last only).
   */
  const requeueIfWaitedBefore = async (
    record: SQSRecord,
    message: DeliveryMessage,
    lane: Dimensions,
    batch: BatchState,
    notBefore?: number,
    fromReceive = Math.min(2, deps.destination.retry.maxReceiveCount),
  ): Promise<boolean> =>
    (batch.requeuedGroups.has(groupOf(record)) || receiveCount(record) >= fromReceive) &&
    requeue(record, message, lane, batch, notBefore);

  const deliverRecord = async (
    record: SQSRecord,
    batch: BatchState,
    context: Context,
    breaker: CircuitBreaker | undefined,
    reads: BatchReads,
  ): Promise<void> => {
    const { failedGroups } = batch;
    let message: DeliveryMessage | undefined;
    let log = logger;
    const group = groupOf(record);
    const lane = () => ({ flow: message?.flow ?? '(unreadable)', destination: destinationName });
    try {
      message = batch.messages.get(record.messageId) ?? parseDeliveryMessage(record.body);
      // A child per record: the correlation id must not leak into another record's lines.
      log = logger.createChild({ persistentKeys: { correlationId: message.eventId, entityId: message.id } });
      if (failedGroups.has(group)) {
        // Behind a record the open breaker holds: wait with it, as it does, not toward the DLQ.
        const pausedUntil = breaker?.openUntil();
        if (pausedUntil !== undefined) {
          await hold(record, message, pausedUntil, lane(), batch, false);
          return;
        }
        // It has not failed itself: waiting again, it goes back on the queue behind the record it
        // waits for (still in the queue, as its own retry), rather than toward the DLQ.
        if (await requeueIfWaitedBefore(record, message, lane(), batch)) return;
        throw new HeldBackError(
          'An earlier update of this entity failed in this batch; holding this one back',
        );
      }
      // Not enough time left for one more destination call: hand the record back now (counted,
      // visible again at once) rather than be cut off mid-batch by the function timeout.
      if (context.getRemainingTimeInMillis() < deps.destination.timeoutMs + TIME_MARGIN_MS) {
        if (await requeueIfWaitedBefore(record, message, lane(), batch)) return;
        throw new HeldBackError('Too little of the invocation left for another destination call');
      }
      await breaker?.load();
      // A copy put back while the breaker was open waits out that pause whatever the breaker says now.
      const pausedUntil = Math.max(breaker?.openUntil() ?? 0, message.notBefore ?? 0);
      if (pausedUntil > deps.clock.now()) {
        failedGroups.add(group);
        await hold(record, message, pausedUntil, lane(), batch, false);
        return;
      }
      const outcome = await deliverMessage(message, { ...deps, ...reads, connector: timed(lane()), log });
      if (outcome.kind === 'delivered') {
        await breaker?.recordSuccess();
        telemetry.count('delivered', lane());
        audit(record, message, 'delivered');
        telemetry.timing('endToEndLatency', lane(), deps.clock.now() - message.receivedAt);
        log.info('Delivered', { version: message.version, idempotencyKey: outcome.idempotencyKey });
      } else if (outcome.kind === 'shadowed') {
        // Terminal for this record (G3): counted as skipped, reason `shadow`; a promote re-enters it.
        telemetry.count('skipped', { ...lane(), reason: 'shadow' });
        audit(record, message, 'skipped', 'shadow');
        log.info('Shadowed', {
          version: message.version,
          idempotencyKey: outcome.idempotencyKey,
          decision: outcome.decision,
        });
      } else {
        telemetry.count('skipped', { ...lane(), reason: outcome.reason });
        audit(record, message, 'skipped', outcome.reason);
        log.info('Skipped', { version: message.version, reason: outcome.reason });
      }
    } catch (error) {
      if (error instanceof BreakerOpenError) throw error;
      let failure = error;
      if (breaker && message && error instanceof TransientError && !(error instanceof HeldBackError)) {
        await breaker.recordFailure(error.details.retryAfterSeconds);
        const pausedUntil = breaker.openUntil();
        if (pausedUntil !== undefined) {
          log.warn('Circuit breaker open: pausing the lane', { until: new Date(pausedUntil).toISOString() });
          failedGroups.add(group);
          await hold(record, message, pausedUntil, lane(), batch, true);
          return;
        }
      }
      if (error instanceof FatalError && !failedGroups.has(group)) {
        try {
          await deps.state.putQuarantine({
            stage: 'deliver',
            source: message?.source ?? '(unreadable)',
            eventId: message?.eventId ?? record.messageId,
            flow: lane().flow,
            destination: destinationName,
            ...(message ? { entity: message.entity } : {}),
            reasons: error.reasons,
            payload: message ?? { unreadable: record.body.slice(0, 4096) },
            quarantinedAt: deps.clock.now(),
          });
          telemetry.count('quarantined', lane());
          audit(record, message, 'quarantined', error.reasons.map((r) => r.rule).join(', '));
          log.warn('Quarantined', { reasons: error.reasons.map((r) => r.rule), error: describe(error) });
          return;
        } catch (quarantineError) {
          // The record cannot be set aside now: retry it like any transient failure (counted on its
          // last receive), and hold back the rest of its entity so order holds.
          failure = new TransientError('Could not write the quarantine item', {}, { cause: quarantineError });
        }
      }
      failedGroups.add(group);
      await retryLater(
        record,
        failure,
        { ...retry, log, ...(failure instanceof HeldBackError ? { delaySeconds: 0 } : {}) },
        lane(),
        subject(record, message),
      );
    }
  };

  const deliverBatch = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const batch: BatchState = {
      failedGroups: new Set(),
      requeuedGroups: new Set(),
      messages: readableMessages(event.Records),
    };
    const breaker = deps.breakers
      ? new CircuitBreaker(deps.breakers, destinationName, deps.destination.circuitBreaker, deps.clock)
      : undefined;
    try {
      // What the first records wait on is asked for at once, not one after another: the breaker and
      // the mappings share one BatchGetItem (the store coalesces reads made together), the token
      // (cached per container) comes alongside. While the breaker is open the prefetched reads go
      // unused, a read unit per group during an outage against a round trip on every batch. The
      // load is awaited so the records find the breaker read, not start another; a failed one is
      // left to each record's own (deliverRecord loads it again and fails only that record).
      const loaded = breaker?.load().catch(() => undefined);
      const reads: BatchReads = {
        state: withPrefetchedMappings(deps.state, destinationName, event.Records, batch.messages),
        secrets: withPrefetchedSecret(deps.secrets, deps.destination.secret),
      };
      await loaded;
      return await processPartialResponse(
        event,
        (record: SQSRecord) => deliverRecord(record, batch, context, breaker, reads),
        processor,
        {
          context,
          // In order, one at a time: FIFO order within a group depends on it.
          processInParallel: false,
          throwOnFullBatchFailure: false,
        },
      );
    } finally {
      telemetry.flush();
    }
  };
  return middy(deliverBatch).use(injectLambdaContext(logger, { resetKeys: true }));
}
