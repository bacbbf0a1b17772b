import { Logger } from '@aws-lambda-powertools/logger';
import userConfig from '../switchyard.config.js';
import { EmfTelemetry } from './aws/emf-telemetry.js';
import { lambdaAuditTrail } from './aws/log-audit-trail.js';
import { loadConfig } from './core/config.js';
import type { SharedDeps } from './wiring-base.js';

/**
 * Built once per Lambda container, at load: the config bundled with the function (validated again,
 * so a bad bundle fails its cold start by name), the logger and the EMF metrics sink.
 *
 * The SDK clients are not here: each entry (functions/<kind>.ts) builds only those its kind calls,
 * because loading an SDK client package is a large part of a cold start (DynamoDB's ~20 ms,
 * Secrets Manager's ~7 ms on the bench machine) and esbuild keeps every import of an external
 * package whether or not the bundle uses it.
 */
const config = loadConfig(userConfig);

export const base: Pick<SharedDeps, 'config' | 'logger' | 'telemetry' | 'audit'> = {
  config,
  logger: new Logger({ serviceName: config.name }),
  telemetry: new EmfTelemetry({ namespace: 'Switchyard', serviceName: config.name }),
  audit: lambdaAuditTrail(config.name),
};
