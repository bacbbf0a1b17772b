import type { SQSRecord } from 'aws-lambda';
import { type BackoffPolicy, backoffSeconds } from '../core/backoff.js';
import { TransientError } from '../core/errors.js';
import type { AuditEntry, AuditTrail, Dimensions, Log, MessageVisibility, Telemetry } from '../core/ports.js';

export interface RetryContext {
  readonly visibility: MessageVisibility;
  readonly maxReceiveCount: number;
  readonly backoff: BackoffPolicy;
  readonly telemetry: Telemetry;
  readonly log: Log;
  /** Overrides the backoff (held-back FIFO records come back at once; their group stays blocked). */
  readonly delaySeconds?: number;
  /** Where a dead-lettering is recorded, with the record's ids. */
  readonly audit?: AuditTrail;
  readonly clock?: { now(): number };
}

/** What the audit entry of a dead-lettered record says about it (the outcome and time are added). */
export type AuditSubject = Omit<AuditEntry, 'at' | 'outcome'>;

export function receiveCount(record: SQSRecord): number {
  const count = Number(record.attributes.ApproximateReceiveCount);
  return Number.isFinite(count) && count > 0 ? count : 1;
}

/**
 * A record failed in a way worth retrying. Delays its next attempt by changing its visibility
 * (backoff with jitter, honouring Retry-After) and rethrows so the batch reports it as failed. On
 * the last receive SQS moves it to the DLQ instead, so it is counted as dead-lettered here (G3).
 */
export async function retryLater(
  record: SQSRecord,
  error: unknown,
  context: RetryContext,
  dims: Dimensions,
  subject?: AuditSubject,
): Promise<never> {
  const attempt = receiveCount(record);
  const retryAfter = error instanceof TransientError ? error.details.retryAfterSeconds : undefined;
  const lastAttempt = attempt >= context.maxReceiveCount;
  // On the last attempt, make it visible at once so SQS moves it to the DLQ now, not after a timeout.
  const delay = lastAttempt
    ? 0
    : (context.delaySeconds ?? backoffSeconds(attempt, context.backoff, retryAfter));
  if (lastAttempt) {
    context.telemetry.count('deadLettered', dims);
    if (subject)
      context.audit?.record([
        {
          ...subject,
          at: context.clock?.now() ?? Date.now(),
          outcome: 'dead-lettered',
          reason: error instanceof Error ? error.name : 'Error',
        },
      ]);
    context.log.error('Retries exhausted; the message moves to the dead-letter queue', {
      messageId: record.messageId,
      attempt,
      error: describe(error),
    });
  } else {
    context.telemetry.count('retried', dims);
    context.log.warn('Transient failure; retrying later', {
      messageId: record.messageId,
      attempt,
      delaySeconds: Math.ceil(delay),
      error: describe(error),
    });
  }
  try {
    await context.visibility.delay(record.receiptHandle, delay);
  } catch (visibilityError) {
    // The message still comes back after the queue's visibility timeout: slower, not lost.
    context.log.warn('Could not set the retry delay', { error: describe(visibilityError) });
  }
  throw error;
}

/** `scheme://user:password@host` -> `scheme://***@host`: error messages quote URLs. */
const withoutCredentials = (text: string) => text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@');

/** Name, message and cause chain: enough to diagnose, never a payload or a credential. */
export function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: withoutCredentials(String(error)) };
  return {
    name: error.name,
    message: withoutCredentials(error.message),
    ...(error.cause === undefined ? {} : { cause: describe(error.cause) }),
  };
}
