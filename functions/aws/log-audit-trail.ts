import { Logger } from '@aws-lambda-powertools/logger';
import type { AuditEntry, AuditTrail } from '../core/ports.js';

/** The message and key every audit line carries: what `trace --aws` filters on in Logs Insights. */
export const AUDIT_MESSAGE = 'audit';

/** The slice of a Powertools Logger the adapter writes with. */
export interface AuditLineWriter {
  info(message: string, ...extra: Record<string, unknown>[]): void;
}

/**
 * The audit trail in AWS: one structured log line per transition (`{"message":"audit","audit":{...}}`)
 * in the function's own log group, whose retention is the audit retention (lib/switchyard-stack.ts).
 * No DynamoDB write per transition: write units per record are a tracked cost target (issue 8).
 * The writer must log at INFO whatever the function's level (runtime.ts gives it its own logger),
 * or a WARN-level deployment would keep no trail.
 */
export class LogAuditTrail implements AuditTrail {
  constructor(private readonly writer: AuditLineWriter) {}

  record(entries: readonly AuditEntry[]): void {
    for (const entry of entries) {
      try {
        this.writer.info(AUDIT_MESSAGE, { audit: { ...entry, at: new Date(entry.at).toISOString() } });
      } catch {
        // A trail that cannot be written must not fail a delivery that already happened.
      }
    }
  }
}

/**
 * The trail's own logger: INFO set in the constructor wins over POWERTOOLS_LOG_LEVEL (the config's
 * `logs.level`), so a function logging at WARN or ERROR still writes its audit lines.
 */
export function lambdaAuditTrail(serviceName: string): LogAuditTrail {
  return new LogAuditTrail(new Logger({ serviceName, logLevel: 'INFO' }));
}
