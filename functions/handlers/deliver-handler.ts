import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type DeliverDeps, deliverMessage } from '../core/deliver.js';
import { FatalError } from '../core/errors.js';
import type { DeliveryMessage } from '../core/messages.js';
import type { MessageVisibility, Telemetry } from '../core/ports.js';
import { describe, retryLater } from './sqs-failure.js';

export interface DeliverHandlerDeps extends Omit<DeliverDeps, 'log'> {
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly visibility: MessageVisibility;
}

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

/** Deliver, on one destination's FIFO queue: a failing entity holds back only its own group. */
export function createDeliverHandler(deps: DeliverHandlerDeps) {
  const { logger, telemetry, destinationName } = deps;
  const core: DeliverDeps = { ...deps, log: logger };
  const processor = new SqsFifoPartialProcessorAsync();
  const retry = {
    visibility: deps.visibility,
    maxReceiveCount: deps.destination.retry.maxReceiveCount,
    backoff: deps.destination.retry,
    telemetry,
    log: logger,
  };

  const deliverRecord = async (record: SQSRecord): Promise<void> => {
    let message: DeliveryMessage | undefined;
    const lane = () => ({ flow: message?.flow ?? '(unreadable)', destination: destinationName });
    try {
      message = parseDeliveryMessage(record.body);
      logger.appendKeys({ correlationId: message.eventId, entityId: message.id });
      const outcome = await deliverMessage(message, core);
      if (outcome.kind === 'delivered') {
        telemetry.count('delivered', lane());
        telemetry.timing('endToEndLatency', lane(), deps.clock.now() - message.receivedAt);
        logger.info('Delivered', { version: message.version, idempotencyKey: outcome.idempotencyKey });
      } else {
        telemetry.count('skipped', { ...lane(), reason: outcome.reason });
        logger.info('Skipped', { version: message.version, reason: outcome.reason });
      }
    } catch (error) {
      if (error instanceof FatalError) {
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
        logger.warn('Quarantined', { reasons: error.reasons.map((r) => r.rule), error: describe(error) });
        return;
      }
      await retryLater(record, error, retry, lane());
    } finally {
      logger.removeKeys(['correlationId', 'entityId']);
    }
  };

  const deliverBatch = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    try {
      return await processPartialResponse(event, deliverRecord, processor, {
        context,
        skipGroupOnError: true,
        throwOnFullBatchFailure: false,
      });
    } finally {
      telemetry.flush();
    }
  };
  return middy(deliverBatch).use(injectLambdaContext(logger, { resetKeys: true }));
}
