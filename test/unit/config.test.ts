import { describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { ConfigError } from '../../functions/core/errors.js';
import {
  DELIVER_TIMEOUT_SECONDS,
  deriveTopology,
  INBOUND_MAX_RECEIVE_COUNT,
  ROUTE_TIMEOUT_SECONDS,
} from '../../functions/core/topology.js';
import { baseConfigInput, CRM_TOKEN_NAME, STRIPE_SECRET_NAME, testConfig } from '../support/config.js';

/** The ConfigError a bad config throws (fails the test if it does not throw one). */
function configError(input: unknown): ConfigError {
  try {
    loadConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

function withChanges(change: (input: SwitchyardConfigInput & Record<string, unknown>) => void): unknown {
  const input = structuredClone(baseConfigInput()) as SwitchyardConfigInput & Record<string, unknown>;
  change(input);
  return input;
}

describe('loadConfig', () => {
  it('fills every default', () => {
    const config = loadConfig({
      name: 'acme',
      sources: { stripe: { connector: 'stripe', secret: 'acme/stripe' } },
      destinations: { crm: { connector: 'http', url: 'https://crm.example.com/api' } },
      flows: [{ name: 'customers', entity: 'customer', from: ['stripe'], to: ['crm'] }],
    });
    expect(config.sources.stripe).toEqual({
      connector: 'stripe',
      secret: 'acme/stripe',
      toleranceSeconds: 300,
    });
    expect(config.destinations.crm).toEqual({
      connector: 'http',
      url: 'https://crm.example.com/api',
      maxConcurrency: 5,
      timeoutMs: 10_000,
      retry: { maxReceiveCount: 8, baseDelaySeconds: 2, maxDelaySeconds: 300 },
      circuitBreaker: { enabled: true, failureThreshold: 5, openSeconds: 30, maxOpenSeconds: 600 },
      consumes: {},
    });
    expect(config.ownership).toEqual({});
    expect(config.alarms).toEqual({
      latencyP99Seconds: 60,
      oldestMessageAgeSeconds: 900,
      errorRatePercent: 5,
      quarantineRatePercent: 5,
      volumeAnomalyStdDevs: 3,
    });
    expect(config.limits).toEqual({ maxBodyBytes: 256 * 1024 });
    expect(config.logs).toEqual({ level: 'INFO', retentionDays: 30 });
    expect(config.quarantine).toEqual({ retentionDays: 14 });
    expect(config.secretsCacheSeconds).toBe(300);
  });

  it('keeps explicit values over defaults', () => {
    const config = testConfig({
      limits: { maxBodyBytes: 64 * 1024 },
      logs: { level: 'DEBUG' },
      ownership: { customer: { email: 'stripe' } },
    });
    expect(config.limits.maxBodyBytes).toBe(64 * 1024);
    expect(config.logs).toEqual({ level: 'DEBUG', retentionDays: 30 });
    expect(config.ownership).toEqual({ customer: { email: 'stripe' } });
  });

  it('accepts the config the repository ships', async () => {
    const shipped = (await import('../../switchyard.config.js')).default;
    expect(loadConfig(shipped).flows.map((f) => f.name)).toEqual(['customers-to-crm']);
  });

  it('fails if a source names an unknown connector', () => {
    const error = configError(
      withChanges((c) => {
        c.sources = { stripe: { connector: 'paypal' as 'stripe', secret: 'acme/x' } };
      }),
    );
    expect(error.message).toContain('sources.stripe.connector');
    expect(error.message).toContain('"paypal"');
  });

  it("fails if identity.lookalikes is neither 'report' nor 'off', naming the field and the value", () => {
    const error = configError(
      withChanges((c) => {
        c.identity = { lookalikes: 'merge' as 'off' };
      }),
    );
    expect(error.message).toContain('identity.lookalikes');
    expect(error.message).toContain('"merge"');
  });

  it('fails if a destination names an unknown connector', () => {
    const error = configError(
      withChanges((c) => {
        c.destinations = { crm: { connector: 'soap' as 'http', url: 'https://crm.example.com' } };
      }),
    );
    expect(error.issues).toEqual([expect.stringMatching(/^destinations\.crm\.connector: .*\(got "soap"\)$/)]);
  });

  it('fails if a flow names a missing source', () => {
    const error = configError(
      withChanges((c) => {
        c.flows = [{ name: 'customers', entity: 'customer', from: ['stripe', 'shop'], to: ['crm'] }];
      }),
    );
    expect(error.issues).toEqual(['flows[0].from[1]: no source named "shop" (sources: stripe)']);
  });

  it('fails if a flow names a missing destination', () => {
    const error = configError(
      withChanges((c) => {
        c.flows = [{ name: 'customers', entity: 'customer', from: ['stripe'], to: ['hubspot'] }];
      }),
    );
    expect(error.issues).toEqual(['flows[0].to[0]: no destination named "hubspot" (destinations: crm, erp)']);
  });

  it('fails if a field is owned by a system that is not a source', () => {
    const error = configError(
      withChanges((c) => {
        c.ownership = { customer: { email: 'shop' } };
      }),
    );
    expect(error.issues).toEqual(['ownership.customer.email: owner "shop" is not a source']);
  });

  it('fails if ownership names a field the canonical entity does not have (a typo would silently disable it)', () => {
    const error = configError(
      withChanges((c) => {
        c.ownership = { customer: { emial: 'stripe' } };
      }),
    );
    expect(error.issues).toEqual([
      'ownership.customer.emial: not a customer field (fields: email, name, givenName, familyName, phone, address)',
    ]);
  });

  it('fails if a field is owned by a destination rather than a source', () => {
    const error = configError(
      withChanges((c) => {
        c.ownership = { customer: { name: 'crm' } };
      }),
    );
    expect(error.message).toContain('ownership.customer.name: owner "crm" is not a source');
  });

  it.each([
    [
      'the hub name',
      (c: SwitchyardConfigInput) => Object.assign(c, { name: 'Acme Corp' }),
      'name',
      '"Acme Corp"',
    ],
    [
      'a flow name',
      (c: SwitchyardConfigInput) =>
        Object.assign(c, { flows: [{ name: 'to_crm', entity: 'customer', from: ['stripe'], to: ['crm'] }] }),
      'flows[0].name',
      '"to_crm"',
    ],
    [
      'a name longer than 31 characters',
      (c: SwitchyardConfigInput) => Object.assign(c, { name: `a${'b'.repeat(31)}` }),
      'name',
      `"a${'b'.repeat(31)}"`,
    ],
  ])('fails if %s is not a resource name', (_label, change, field, value) => {
    const error = configError(withChanges(change));
    expect(error.issues).toEqual([
      `${field}: must be lower-case letters, digits and dashes, starting with a letter (got ${value})`,
    ]);
  });

  it('fails if a source key is not a resource name, saying which key and why', () => {
    const error = configError(
      withChanges((c) => {
        c.sources = { Stripe: { connector: 'stripe', secret: 'acme/stripe' } };
        c.flows = [];
      }),
    );
    expect(error.message).toContain('sources.Stripe');
    expect(error.message).toContain('must be lower-case letters, digits and dashes');
  });

  it('fails if a secret name is not a Secrets Manager name', () => {
    const error = configError(
      withChanges((c) => {
        c.sources = { stripe: { connector: 'stripe', secret: 'acme stripe secret' } };
      }),
    );
    expect(error.message).toContain('sources.stripe.secret: must be a Secrets Manager name');
    // A value in a secret field may be the secret itself (pasted by mistake): shown redacted.
    expect(error.message).toContain('(got a***(18 chars))');
    expect(error.message).not.toContain('acme stripe secret');
  });

  it('fails if maxReceiveCount is 0', () => {
    const error = configError(
      withChanges((c) => {
        c.destinations = {
          crm: { connector: 'http', url: 'https://crm.example.com', retry: { maxReceiveCount: 0 } },
          erp: { connector: 'http', url: 'https://erp.example.com' },
        };
      }),
    );
    expect(error.issues).toEqual([
      expect.stringMatching(/^destinations\.crm\.retry\.maxReceiveCount: .*>=1 \(got 0\)$/),
    ]);
  });

  it('fails if maxDelaySeconds is below baseDelaySeconds', () => {
    const error = configError(
      withChanges((c) => {
        c.destinations = {
          crm: {
            connector: 'http',
            url: 'https://crm.example.com',
            retry: { baseDelaySeconds: 30, maxDelaySeconds: 10 },
          },
          erp: { connector: 'http', url: 'https://erp.example.com' },
        };
      }),
    );
    expect(error.issues).toEqual([
      'destinations.crm.retry.maxDelaySeconds: must be at least baseDelaySeconds (got 10 < 30)',
    ]);
  });

  it.each([
    ['not a URL', 'crm.example.com/api'],
    ['an ftp URL', 'ftp://crm.example.com/api'],
    ['a javascript: URL', 'javascript:alert(1)'],
  ])('fails if a destination URL is %s', (_label, url) => {
    const error = configError(
      withChanges((c) => {
        c.destinations = {
          crm: { connector: 'http', url },
          erp: { connector: 'http', url: 'https://erp.example.com' },
        };
      }),
    );
    expect(error.issues).toEqual([`destinations.crm.url: Invalid URL (got ${JSON.stringify(url)})`]);
  });

  it('fails if the config has an unknown key', () => {
    const error = configError(withChanges((c) => Object.assign(c, { sorces: {} })));
    expect(error.issues).toEqual([
      expect.stringMatching(/^\(root\): Unrecognized key: "sorces" \(got \["sorces"\]\)$/),
    ]);
  });

  it('fails if a nested object has an unknown key, naming where it is', () => {
    const error = configError(
      withChanges((c) => {
        c.sources = { stripe: { connector: 'stripe', secret: 'acme/x', tolerance: 60 } as never };
      }),
    );
    expect(error.issues).toEqual([expect.stringMatching(/^sources\.stripe: Unrecognized key: "tolerance"/)]);
  });

  it('fails if two flows share a name', () => {
    const error = configError(
      withChanges((c) => {
        c.flows = [
          { name: 'customers', entity: 'customer', from: ['stripe'], to: ['crm'] },
          { name: 'customers', entity: 'customer', from: ['stripe'], to: ['erp'] },
        ];
      }),
    );
    expect(error.issues).toEqual(['flows[1].name: duplicate flow name (got "customers")']);
  });

  it('fails if there is no source at all', () => {
    const error = configError(
      withChanges((c) => {
        c.sources = {};
        c.flows = [];
      }),
    );
    expect(error.issues).toEqual(['sources: needs at least one source (got {})']);
  });

  it('reports every problem at once, not only the first', () => {
    const error = configError(
      withChanges((c) => {
        c.flows = [
          { name: 'a', entity: 'customer', from: ['shop'], to: ['crm'] },
          { name: 'a', entity: 'customer', from: ['stripe'], to: ['ledger'] },
        ];
        c.ownership = { customer: { email: 'shop' } };
      }),
    );
    expect(error.issues).toHaveLength(4);
    expect(error.message).toMatch(/^Invalid Switchyard config:\n {2}- /);
  });
});

describe('deriveTopology', () => {
  const config = testConfig({
    destinations: {
      crm: {
        connector: 'http',
        url: 'https://crm.example.com/api',
        secret: CRM_TOKEN_NAME,
        maxConcurrency: 7,
        retry: { maxReceiveCount: 4 },
      },
      erp: { connector: 'http', url: 'https://erp.example.com/api' },
      // Configured but in no flow: gets no queue and no function.
      ledger: { connector: 'http', url: 'https://ledger.example.com/api', secret: 'acme/ledger' },
    },
  });
  const topology = deriveTopology(config);

  it('has the inbound queue and one FIFO queue per destination used by a flow, each with a DLQ', () => {
    expect(topology.queues.map((q) => q.key)).toEqual(['inbound', 'deliver-crm', 'deliver-erp']);
    const [inbound, crm, erp] = topology.queues;
    expect(inbound).toMatchObject({
      name: 'acme-inbound',
      fifo: false,
      maxReceiveCount: INBOUND_MAX_RECEIVE_COUNT,
      deadLetter: { name: 'acme-inbound-dlq' },
      consumer: 'route',
    });
    expect(crm).toMatchObject({
      name: 'acme-deliver-crm.fifo',
      fifo: true,
      maxReceiveCount: 4,
      deadLetter: { name: 'acme-deliver-crm-dlq.fifo' },
      consumer: 'deliver-crm',
      destination: 'crm',
    });
    expect(erp).toMatchObject({
      name: 'acme-deliver-erp.fifo',
      fifo: true,
      maxReceiveCount: 8,
      destination: 'erp',
    });
    for (const queue of topology.queues) {
      expect(queue.deadLetter.retentionSeconds).toBe(14 * 24 * 3600);
      if (queue.fifo) expect(queue.deadLetter.name).toMatch(/\.fifo$/);
    }
  });

  it('sets each queue visibility to 6x the timeout of the function that consumes it', () => {
    for (const queue of topology.queues) {
      const consumer = topology.functions.find((fn) => fn.key === queue.consumer);
      expect(consumer?.consumes?.queue).toBe(queue.key);
      expect(queue.visibilityTimeoutSeconds).toBe(6 * (consumer?.timeoutSeconds ?? Number.NaN));
    }
    expect(topology.queues[0]?.visibilityTimeoutSeconds).toBe(6 * ROUTE_TIMEOUT_SECONDS);
    expect(topology.queues[1]?.visibilityTimeoutSeconds).toBe(6 * DELIVER_TIMEOUT_SECONDS);
  });

  it('has ingest, route and one deliver function per destination in a flow', () => {
    expect(topology.functions.map((fn) => [fn.key, fn.kind, fn.entry])).toEqual([
      ['ingest', 'ingest', 'functions/ingest.ts'],
      ['route', 'route', 'functions/route.ts'],
      ['deliver-crm', 'deliver', 'functions/deliver.ts'],
      ['deliver-erp', 'deliver', 'functions/deliver.ts'],
    ]);
  });

  it('gives each function the environment references it reads', () => {
    const byKey = Object.fromEntries(topology.functions.map((fn) => [fn.key, fn]));
    const common = {
      POWERTOOLS_SERVICE_NAME: { kind: 'literal', value: 'acme' },
      POWERTOOLS_METRICS_NAMESPACE: { kind: 'literal', value: 'Switchyard' },
      POWERTOOLS_LOG_LEVEL: { kind: 'literal', value: 'INFO' },
    };
    expect(byKey.ingest?.env).toEqual({
      ...common,
      INBOUND_QUEUE_URL: { kind: 'queueUrl', queue: 'inbound' },
    });
    expect(byKey.route?.env).toEqual({
      ...common,
      STATE_TABLE_NAME: { kind: 'tableName' },
      SOURCE_QUEUE_URL: { kind: 'queueUrl', queue: 'inbound' },
      MAX_RECEIVE_COUNT: { kind: 'literal', value: String(INBOUND_MAX_RECEIVE_COUNT) },
      DESTINATION_QUEUE_URLS: { kind: 'queueUrlMap', queues: { crm: 'deliver-crm', erp: 'deliver-erp' } },
    });
    expect(byKey['deliver-crm']?.env).toEqual({
      ...common,
      STATE_TABLE_NAME: { kind: 'tableName' },
      SOURCE_QUEUE_URL: { kind: 'queueUrl', queue: 'deliver-crm' },
      MAX_RECEIVE_COUNT: { kind: 'literal', value: '4' },
      DESTINATION_NAME: { kind: 'literal', value: 'crm' },
    });
    expect(byKey['deliver-crm']?.consumes).toEqual({
      queue: 'deliver-crm',
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      maxConcurrency: 7,
    });
    expect(byKey.ingest).toMatchObject({ sendsTo: ['inbound'], table: 'none' });
    expect(byKey.route).toMatchObject({ sendsTo: ['deliver-crm', 'deliver-erp'], table: 'read-write' });
  });

  it('lists each secret with exactly the functions that read it', () => {
    expect(topology.secrets).toEqual([
      { name: STRIPE_SECRET_NAME, usedBy: ['ingest'] },
      { name: CRM_TOKEN_NAME, usedBy: ['deliver-crm'] },
    ]);
    expect(topology.functions.find((fn) => fn.key === 'route')?.secrets).toEqual([]);
    expect(topology.functions.find((fn) => fn.key === 'deliver-erp')?.secrets).toEqual([]);
  });

  it('has one webhook route per source', () => {
    const twoSources = testConfig({
      sources: {
        stripe: { connector: 'stripe', secret: STRIPE_SECRET_NAME },
        'stripe-eu': { connector: 'stripe', secret: 'acme/stripe-eu' },
      },
    });
    expect(deriveTopology(twoSources).routes).toEqual([
      { source: 'stripe', method: 'POST', path: '/webhooks/stripe', function: 'ingest' },
      { source: 'stripe-eu', method: 'POST', path: '/webhooks/stripe-eu', function: 'ingest' },
    ]);
    expect(deriveTopology(twoSources).secrets[0]).toEqual({
      name: STRIPE_SECRET_NAME,
      usedBy: ['ingest'],
    });
  });

  it('names the state table after the hub and has no schedules for webhook-only sources', () => {
    expect(topology.table).toEqual({
      name: 'acme-state',
      partitionKey: 'pk',
      sortKey: 'sk',
      ttlAttribute: 'expiresAt',
    });
    expect(topology.schedules).toEqual([]);
  });

  it('is a pure function of the config', () => {
    expect(deriveTopology(config)).toEqual(topology);
  });
});

describe('loadConfig for connector settings', () => {
  it('fails if an hmac source signs {timestamp} without saying which header carries it', () => {
    expect(() =>
      loadConfig({
        name: 'acme',
        sources: {
          acme: {
            connector: 'hmac',
            secret: 'acme/hook',
            header: 'X-Sig',
            signedPayload: '{timestamp}.{body}',
            eventId: { header: 'X-Id' },
            map: { entity: 'customer', id: 'id', version: 'v', fields: { email: 'email' } },
          },
        },
        destinations: {},
        flows: [],
      }),
    ).toThrow('sources.acme.signedPayload: uses {timestamp} but no timestampHeader says where it is');
  });

  it('fails if a mapping expression is not JMESPath, naming the field', () => {
    expect(() =>
      loadConfig({
        name: 'acme',
        sources: {
          gh: {
            connector: 'github',
            secret: 'acme/gh',
            map: { entity: 'customer', id: 'sender.[', version: 'v', fields: {} },
          },
        },
        destinations: {},
        flows: [],
      }),
    ).toThrow(/sources\.gh\.map\.id: is not a valid JMESPath expression/);
  });

  it('fails if a source names a connector this build does not have, listing the ones it has', () => {
    expect(() =>
      loadConfig({
        name: 'acme',
        sources: { x: { connector: 'zapier', secret: 's' } },
        destinations: {},
        flows: [],
      }),
    ).toThrow(/sources\.x\.connector: unknown connector \(known: stripe, shopify, hubspot/);
  });
});

describe('loadConfig cross-field rules', () => {
  const base = {
    name: 'acme',
    sources: {
      stripe: { connector: 'stripe', secret: 'acme/stripe' },
      erp: {
        connector: 'rest-poll',
        schedule: 'rate(5 minutes)',
        url: 'https://erp.example.com/api',
        map: { entity: 'customer', id: 'id', version: 'v', fields: {} },
      },
    },
    destinations: { crm: { connector: 'http', url: 'https://crm.example.com/api' } },
  } as const;

  it('fails if two flows carry the same entity from the same source to the same destination', () => {
    expect(() =>
      loadConfig({
        ...base,
        flows: [
          { name: 'a', entity: 'customer', from: ['stripe'], to: ['crm'] },
          { name: 'b', entity: 'customer', from: ['stripe', 'erp'], to: ['crm'] },
        ],
      }),
    ).toThrow('flows[1]: customer from stripe to crm is already carried by flows[0] (a)');
  });

  it('fails if api.routes names a source without a webhook route', () => {
    expect(() =>
      loadConfig({ ...base, flows: [], api: { routes: { erp: { rateLimit: 5, burstLimit: 10 } } } }),
    ).toThrow('api.routes.erp: no webhook route for "erp" (webhook sources: stripe)');
  });

  it('fails if both a customer-managed key and an existing key are asked for', () => {
    expect(() =>
      loadConfig({
        ...base,
        flows: [],
        encryption: {
          customerManagedKey: true,
          kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/12345678-1234-1234-1234-123456789012',
        },
      }),
    ).toThrow('encryption: choose customerManagedKey or kmsKeyArn, not both');
  });
});
