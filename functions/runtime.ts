import { Logger } from '@aws-lambda-powertools/logger';
import userConfig from '../switchyard.config.js';
import { EmfTelemetry } from './aws/emf-telemetry.js';
import { lambdaAuditTrail } from './aws/log-audit-trail.js';
import { configFromBundle } from './core/bundled-config.js';
import type { SharedDeps } from './wiring-base.js';

/**
 * Built once per Lambda container, at load: the config the synth validated and bundled with the
 * function (functions/core/bundled-config.ts), the logger and the EMF metrics sink.
 *
 * The SDK clients are not here: each entry (functions/<kind>.ts) builds only those its kind calls,
 * because loading an SDK client package is a large part of a cold start (DynamoDB's ~20 ms,
 * Secrets Manager's ~7 ms on the bench machine) and esbuild keeps every import of an external
 * package whether or not the bundle uses it.
 */
// Replaced by esbuild (bundledConfigDefine); left undefined, configFromBundle fails the cold start by name.
declare const __SWITCHYARD_CONFIG__: string | undefined;
const config = configFromBundle(
  typeof __SWITCHYARD_CONFIG__ === 'undefined' ? undefined : __SWITCHYARD_CONFIG__,
  userConfig,
);

export const base: Pick<SharedDeps, 'config' | 'logger' | 'telemetry' | 'audit'> = {
  config,
  logger: new Logger({ serviceName: config.name }),
  telemetry: new EmfTelemetry({ namespace: 'Switchyard', serviceName: config.name }),
  audit: lambdaAuditTrail(config.name),
};
