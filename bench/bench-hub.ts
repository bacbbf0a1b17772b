import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SwitchyardConfigInput } from '../functions/core/config.js';
import { loadConfig } from '../functions/core/config-schema.js';
import { FileSecretStore } from '../local/file-secrets.js';
import { silentLogger } from '../local/log.js';
import { type HubRuntime, startRuntime } from '../local/runtime.js';
import type { InvocationLog } from './cost-model.js';

/**
 * The hub the pipeline and scale sections measure: the local runtime, silent and in memory, with
 * one Stripe source, one CRM destination and the flow between them; its handler clients handed to
 * `instrument` (to count their calls) and every invocation's time to `invocations`.
 */
export function startBenchHub(options: {
  readonly name: string;
  readonly webhookSecret: string;
  readonly crmUrl: string;
  readonly dataDir: string;
  readonly identity?: SwitchyardConfigInput['identity'];
  readonly instrument: (clients: { sqs: SQSClient; dynamodb: DynamoDBClient }) => void;
  readonly invocations: InvocationLog;
}): Promise<HubRuntime> {
  return startRuntime({
    config: loadConfig({
      name: options.name,
      sources: { stripe: { connector: 'stripe', secret: 'bench/stripe' } },
      destinations: {
        crm: { connector: 'http', url: options.crmUrl, secret: 'bench/crm', maxConcurrency: 10 },
      },
      flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['crm'] }],
      ...(options.identity ? { identity: options.identity } : {}),
    }),
    secrets: new FileSecretStore(join(options.dataDir, 'none.json'), {
      'bench/stripe': options.webhookSecret,
      'bench/crm': 'bench-token',
    }),
    dataDir: options.dataDir,
    inMemory: true,
    port: 0,
    logLevel: 'SILENT',
    pollWaitSeconds: 1,
    log: silentLogger,
    instrumentHandlerClients: options.instrument,
    onInvocation: (fn, ms, records) => options.invocations.add(fn, ms, records),
  });
}
