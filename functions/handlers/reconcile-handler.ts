import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type ReconcileDeps, type ReconcileReport, reconcileFlow } from '../core/reconcile.js';
import { describe } from './sqs-failure.js';

export interface ReconcileHandlerDeps extends ReconcileDeps {
  readonly logger: Logger;
}

/** What the EventBridge Scheduler schedule of a flow sends (and the local scheduler). */
export interface ReconcileEvent {
  readonly flow: string;
}

/** The report, without the id lists: the full report is in the stored document. */
export type ReconcileSummary = Pick<
  ReconcileReport,
  'flow' | 'window' | 'listed' | 'atHub' | 'drift' | 'repaired'
>;

/**
 * Reconcile, on a schedule: one flow per invocation, over the last `reconcile.windowHours`, repairing
 * when the flow's config says so. A failure is logged, counted and rethrown, so the error-rate alarm
 * sees it; the next run covers the same window again.
 */
export function createReconcileHandler(deps: ReconcileHandlerDeps) {
  const { logger, telemetry } = deps;
  const onSchedule = async (event: ReconcileEvent, _context: Context): Promise<ReconcileSummary> => {
    const log = logger.createChild({ persistentKeys: { flow: event.flow } });
    const flow = deps.config.flows.find((f) => f.name === event.flow);
    try {
      const until = deps.clock.now();
      const hours = flow?.reconcile?.windowHours ?? 24;
      const report = await reconcileFlow(event.flow, { since: until - hours * 3_600_000, until }, deps, {
        repair: flow?.reconcile?.repair === true,
      });
      log.info('Reconciled', {
        drift: report.drift,
        missingAtHub: report.missingAtHub.length,
        missingAtDestinations: report.missingAtDestinations.length,
        ...(report.repaired ? { repaired: report.repaired } : {}),
      });
      const { flow: name, window, listed, atHub, drift, repaired } = report;
      return { flow: name, window, listed, atHub, drift, ...(repaired ? { repaired } : {}) };
    } catch (error) {
      telemetry.count('reconcileFailed', { flow: flow ? event.flow : '(unknown)' });
      log.error('Reconcile failed', { error: describe(error) });
      throw error;
    } finally {
      telemetry.flush();
    }
  };
  return middy(onSchedule).use(injectLambdaContext(logger, { resetKeys: true }));
}
