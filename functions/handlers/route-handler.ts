import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { BackoffPolicy } from '../core/backoff.js';
import { FatalError, TransientError } from '../core/errors.js';
import type { Envelope } from '../core/messages.js';
import type { AuditEntry, AuditTrail, MessageVisibility } from '../core/ports.js';
import { type RouteDeps, type RouteResult, routeEnvelope } from '../core/route.js';
import { SharedSendDeliveryQueues } from '../core/shared-send.js';
import { describe, retryLater } from './sqs-failure.js';

export interface RouteHandlerDeps extends Omit<RouteDeps, 'log'> {
  readonly logger: Logger;
  readonly visibility: MessageVisibility;
  readonly maxReceiveCount: number;
  readonly backoff: BackoffPolicy;
  /** Where each routing decision is recorded (one entry per lane, or one for the event). */
  readonly audit?: AuditTrail;
}

export function parseEnvelope(body: string): Envelope {
  let value: Partial<Envelope>;
  try {
    value = JSON.parse(body) as Partial<Envelope>;
  } catch (error) {
    throw new FatalError(
      'Inbound message is not JSON',
      [{ rule: 'envelope.json', message: 'body is not JSON' }],
      { cause: error },
    );
  }
  if (
    value?.v !== 1 ||
    typeof value.source !== 'string' ||
    typeof value.eventId !== 'string' ||
    typeof value.body !== 'string'
  ) {
    throw new FatalError('Inbound message is not a v1 envelope', [
      { rule: 'envelope.shape', message: 'needs v=1, source, eventId and body' },
    ]);
  }
  return value as Envelope;
}

/** The audit entries of one routed event: one per lane, or one for an event that concerns none. */
export function routeAuditEntries(result: RouteResult, envelope: Envelope, at: number): AuditEntry[] {
  const base = { eventId: envelope.eventId, at, stage: 'route', source: envelope.source } as const;
  if (result.unrouted) {
    return [
      {
        ...base,
        outcome: result.unrouted.kind,
        ...(result.unrouted.kind === 'skipped' ? { reason: result.unrouted.reason } : {}),
      },
    ];
  }
  return result.lanes.map((outcome) => ({
    ...base,
    outcome: outcome.kind === 'enqueued' ? 'routed' : outcome.kind,
    flow: outcome.lane.flow,
    destination: outcome.lane.destination,
    entity: outcome.record.entity,
    ...(outcome.record.id ? { id: outcome.record.id } : {}),
    sourceId: outcome.record.sourceId,
    version: outcome.record.version,
    ...(outcome.kind === 'skipped' ? { reason: outcome.reason } : {}),
    ...(outcome.kind === 'quarantined' ? { reason: outcome.reasons.map((r) => r.rule).join(', ') } : {}),
  }));
}

function countRouted(result: RouteResult, source: string, deps: RouteHandlerDeps): void {
  const { telemetry } = deps;
  telemetry.count('routed', { source });
  if (result.lanes.length > 0) telemetry.count('fannedOut', { source });
  if (result.unrouted?.kind === 'skipped')
    telemetry.count('skipped', { source, reason: result.unrouted.reason });
  if (result.unrouted?.kind === 'quarantined') telemetry.count('quarantined', { source });
  for (const outcome of result.lanes) {
    const lane = { flow: outcome.lane.flow, destination: outcome.lane.destination };
    telemetry.count('routed', lane);
    if (outcome.kind === 'skipped') telemetry.count('skipped', { ...lane, reason: outcome.reason });
    if (outcome.kind === 'quarantined') telemetry.count('quarantined', lane);
  }
}

/** Route, on the inbound queue: partial batch failures, one envelope per record. */
export function createRouteHandler(deps: RouteHandlerDeps) {
  const { logger } = deps;
  const core: RouteDeps = { ...deps, log: logger };
  const processor = new BatchProcessor(EventType.SQS);

  const routeRecord = async (record: SQSRecord, queues: SharedSendDeliveryQueues): Promise<void> => {
    try {
      await routeOne(record, queues);
    } finally {
      queues.leave();
    }
  };

  const routeOne = async (record: SQSRecord, deliveryQueues: SharedSendDeliveryQueues): Promise<void> => {
    let envelope: Envelope | undefined;
    let log = logger;
    try {
      envelope = parseEnvelope(record.body);
      // Records run in parallel: a child logger per record keeps each line's correlation id its own.
      log = logger.createChild({
        persistentKeys: { correlationId: envelope.eventId, source: envelope.source },
      });
      const result = await routeEnvelope(envelope, { ...core, log, deliveryQueues }, record.messageId);
      countRouted(result, envelope.source, deps);
      deps.audit?.record(routeAuditEntries(result, envelope, deps.clock.now()));
      log.info('Event routed', {
        lanes: result.lanes.map((o) => `${o.lane.flow}/${o.lane.destination}:${o.kind}`),
        ...(result.unrouted ? { unrouted: result.unrouted } : {}),
      });
    } catch (error) {
      const source = envelope?.source ?? '(unreadable)';
      let failure = error;
      if (error instanceof FatalError) {
        try {
          await deps.state.putQuarantine({
            stage: 'route',
            source,
            eventId: envelope?.eventId ?? record.messageId,
            reasons: error.reasons,
            payload: envelope ?? { unreadable: record.body.slice(0, 4096) },
            quarantinedAt: deps.clock.now(),
          });
          deps.telemetry.count('routed', { source });
          deps.telemetry.count('quarantined', { source });
          deps.audit?.record([
            {
              eventId: envelope?.eventId ?? record.messageId,
              at: deps.clock.now(),
              stage: 'route',
              outcome: 'quarantined',
              source,
              reason: error.reasons.map((r) => r.rule).join(', '),
            },
          ]);
          log.warn('Event quarantined', {
            reasons: error.reasons.map((r) => r.rule),
            error: describe(error),
          });
          return;
        } catch (quarantineError) {
          // Not set aside: retried like a transient failure, and counted if it reaches the DLQ.
          failure = new TransientError('Could not write the quarantine item', {}, { cause: quarantineError });
        }
      }
      await retryLater(
        record,
        failure,
        { ...deps, log },
        { source },
        {
          eventId: envelope?.eventId ?? record.messageId,
          stage: 'route',
          source,
        },
      );
    }
  };

  const routeBatch = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    try {
      // One per invocation: the records of this batch share their SendMessageBatch calls.
      const queues = new SharedSendDeliveryQueues(deps.deliveryQueues, event.Records.length);
      return await processPartialResponse(
        event,
        (record: SQSRecord) => routeRecord(record, queues),
        processor,
        {
          context,
          throwOnFullBatchFailure: false,
        },
      );
    } finally {
      deps.telemetry.flush();
    }
  };
  return middy(routeBatch).use(injectLambdaContext(logger, { resetKeys: true }));
}
