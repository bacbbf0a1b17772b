import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { FatalError } from '../core/errors.js';
import { type PollDeps, type PollResult, pollSource } from '../core/poll.js';
import { describe } from './sqs-failure.js';

export interface PollHandlerDeps extends Omit<PollDeps, 'log' | 'owner'> {
  readonly logger: Logger;
}

/** What the EventBridge Scheduler schedule sends (and `switchyard poll <source>` locally). */
export interface PollEvent {
  readonly source: string;
}

/**
 * Poll, on a schedule: one source per invocation. A failure is logged, counted and rethrown, so the
 * invocation fails visibly (error-rate alarm) and the next scheduled run starts again from the
 * unchanged cursor.
 */
export function createPollHandler(deps: PollHandlerDeps) {
  const { logger, telemetry } = deps;
  const pollOnSchedule = async (event: PollEvent, context: Context): Promise<PollResult> => {
    const log = logger.createChild({ persistentKeys: { source: event.source } });
    try {
      return await pollSource(event.source, { ...deps, log, owner: context.awsRequestId });
    } catch (error) {
      telemetry.count('pollFailed', {
        source: deps.config.sources[event.source] ? event.source : '(unknown)',
        reason: error instanceof FatalError ? 'fatal' : 'transient',
      });
      log.error('Poll failed', { error: describe(error) });
      throw error;
    } finally {
      telemetry.flush();
    }
  };
  return middy(pollOnSchedule).use(injectLambdaContext(logger, { resetKeys: true }));
}
