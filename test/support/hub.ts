import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SwitchyardConfig, SwitchyardConfigInput } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { sendStripeEvent } from '../../local/demo/stripe-sender.js';
import { FileSecretStore } from '../../local/file-secrets.js';
import { silentLogger } from '../../local/log.js';
import { type HubRuntime, type StartRuntimeOptions, startRuntime } from '../../local/runtime.js';

export const STRIPE_SECRET = 'whsec_e2e_current_secret';
export const CRM_TOKEN = 'crm_e2e_token';

/** A hub config for the e2e tier: fast retries so outages resolve in seconds. */
export function e2eConfig(crmUrl: string, overrides: Partial<SwitchyardConfigInput> = {}): SwitchyardConfig {
  return loadConfig({
    name: 'e2e',
    sources: { stripe: { connector: 'stripe', secret: 'e2e/stripe-webhook' } },
    destinations: {
      crm: {
        connector: 'http',
        url: crmUrl,
        secret: 'e2e/crm-token',
        timeoutMs: 2000,
        retry: { maxReceiveCount: 4, baseDelaySeconds: 0.5, maxDelaySeconds: 1 },
        // These scenarios make dead letters on purpose; the breaker, which prevents exactly that
        // for long outages, has its own test (test/e2e/circuit-breaker.test.ts).
        circuitBreaker: { enabled: false },
      },
    },
    flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['crm'] }],
    ...overrides,
  });
}

export interface TestHub {
  readonly runtime: HubRuntime;
  readonly crm: CrmDestination;
  readonly webhookUrl: string;
  readonly secretsFile: string;
  send(
    payload: string,
    options?: { timestampSeconds?: number; signature?: string; secret?: string },
  ): ReturnType<typeof sendStripeEvent>;
  stop(): Promise<void>;
}

/** The real local runtime (dynalite, fauxqs, real handlers) with a simulated CRM behind it. */
export async function startTestHub(
  secrets: Record<string, unknown> = { 'e2e/stripe-webhook': STRIPE_SECRET, 'e2e/crm-token': CRM_TOKEN },
  options: {
    config?: (crmUrl: string) => SwitchyardConfig;
    schedules?: boolean;
    /** Runtime options the chaos suite sets (a fault proxy in front of dynalite, the SDK's settings). */
    runtime?: Pick<StartRuntimeOptions, 'handlerDynamodbEndpoint' | 'instrumentHandlerClients'>;
  } = {},
): Promise<TestHub> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-e2e-'));
  const secretsFile = join(dir, 'secrets.json');
  await writeFile(secretsFile, JSON.stringify(secrets));
  const crm = await startCrmDestination({ token: CRM_TOKEN });
  const runtime = await startRuntime({
    config: options.config ? options.config(crm.url) : e2eConfig(crm.url),
    schedules: options.schedules ?? true,
    secrets: new FileSecretStore(secretsFile),
    dataDir: dir,
    inMemory: true,
    port: 0,
    logLevel: 'SILENT',
    pollWaitSeconds: 1,
    log: silentLogger,
    ...options.runtime,
  });
  const webhookUrl = `${runtime.url}/webhooks/stripe`;
  return {
    runtime,
    crm,
    webhookUrl,
    secretsFile,
    send: (payload, options = {}) =>
      sendStripeEvent(webhookUrl, payload, options.secret ?? STRIPE_SECRET, options),
    async stop() {
      await runtime.stop();
      await crm.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
