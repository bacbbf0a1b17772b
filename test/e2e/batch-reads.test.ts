import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsCallCounter } from '../../bench/aws-call-counter.js';
import { documentClient } from '../../functions/aws/dynamo-state-store.js';
import { deriveTopology } from '../../functions/core/topology.js';
import type { DepsWith } from '../../functions/wiring-base.js';
import { deliverHandlerFromEnv } from '../../functions/wiring-deliver.js';
import { routeHandlerFromEnv } from '../../functions/wiring-route.js';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { silentLogger } from '../../local/log.js';
import { provision } from '../../local/provision.js';
import { resolveEnv } from '../../local/runtime.js';
import { startTestEmulators, type TestEmulators } from '../support/emulators.js';
import { lambdaContext, sqsEvent, sqsRecord } from '../support/events.js';
import { MemorySecretStore, MemoryTelemetry } from '../support/fakes.js';
import { CRM_TOKEN, e2eConfig } from '../support/hub.js';

let env: TestEmulators;
const counter = new AwsCallCounter();
let route: ReturnType<typeof routeHandlerFromEnv>;
let deliver: ReturnType<typeof deliverHandlerFromEnv>;
let crm: CrmDestination;
let deliveryQueueArn: string;
let shared: DepsWith<'secrets' | 'sqs' | 'dynamo'>;
let deliverEnv: Parameters<typeof deliverHandlerFromEnv>[0];

beforeAll(async () => {
  env = await startTestEmulators('batch-reads');
  const { dynamodb, sqs } = env;
  crm = await startCrmDestination({ token: CRM_TOKEN });
  const config = e2eConfig(crm.url);
  const topology = deriveTopology(config);
  const provisioned = await provision(topology, { dynamodb, sqs }, { logger: silentLogger });
  const spec = (kind: 'route' | 'deliver') => {
    const found = topology.functions.find((fn) => fn.kind === kind);
    if (!found) throw new Error(`no ${kind} function`);
    return found;
  };
  counter.instrument({ sqs, dynamodb });
  shared = {
    config,
    logger: new Logger({ serviceName: 'batch-reads', logLevel: 'SILENT' }),
    telemetry: new MemoryTelemetry(),
    secrets: new MemorySecretStore({ 'e2e/crm-token': CRM_TOKEN }),
    sqs,
    dynamo: documentClient(dynamodb),
  };
  route = routeHandlerFromEnv(
    resolveEnv(spec('route'), provisioned.tableName, provisioned.queueUrls),
    shared,
  );
  const deliverSpec = spec('deliver');
  deliverEnv = resolveEnv(deliverSpec, provisioned.tableName, provisioned.queueUrls);
  deliver = deliverHandlerFromEnv(deliverEnv, shared);
  deliveryQueueArn = provisioned.queueArns[deliverSpec.consumes?.queue ?? ''] ?? '';
});

afterAll(async () => {
  await crm?.stop();
  await env?.stop();
});

/** One inbound batch of ten Stripe customer events, as the event source mapping hands it to route. */
function inboundBatch(version: number) {
  return sqsEvent(
    Array.from({ length: 10 }, (_, n) =>
      sqsRecord(
        JSON.stringify({
          v: 1,
          source: 'stripe',
          eventId: `evt_reads_${n}_${version}`,
          receivedAt: Date.now(),
          headers: {},
          body: stripeCustomerEvent(
            version === 1 ? 'customer.created' : 'customer.updated',
            demoCustomer(900 + n, { name: `Reads ${n} v${version}` }),
            1_780_000_000 + version,
          ),
        }),
        { messageId: `m-${n}-${version}` },
      ),
    ),
  );
}

/** A delivery message for entity `reads-<n>`, as route sends it to the crm lane. */
const deliveryMessage = (n: number, version: number) => ({
  v: 1,
  flow: 'customers-to-crm',
  destination: 'crm',
  entity: 'customer',
  id: `reads-${n}`,
  source: 'stripe',
  sourceId: `cus_reads${n}`,
  version,
  deleted: false,
  data: {
    email: `reads.${n}@example.com`,
    name: `Reads ${n} v${version}`,
    refs: { stripe: `cus_reads${n}` },
  },
  eventId: `evt_deliver_reads_${n}_${version}`,
  receivedAt: Date.now(),
  routedFrom: `m-${n}-${version}`,
});

const deliveryRecord = (n: number, version: number) =>
  sqsRecord(JSON.stringify(deliveryMessage(n, version)), {
    messageId: `d-${n}-${version}`,
    groupId: `customer#reads-${n}`,
    eventSourceARN: deliveryQueueArn,
  });

describe('route and deliver on dynalite: the records of one batch share their reads', () => {
  it('reads ten new records with a few BatchGetItem calls, and the same read units as one GetItem per key', async () => {
    counter.reset();
    expect(await route(inboundBatch(1), lambdaContext('route'))).toEqual({ batchItemFailures: [] });
    const { calls, dynamo } = counter.counts;
    const readCalls = (calls['DynamoDB.BatchGetItem'] ?? 0) + (calls['DynamoDB.GetItem'] ?? 0);
    // Each new record reads three keys (its derived id, its xref, the founder's split check): thirty
    // GetItem calls one by one. The lookups of the ten records share two calls; the split checks
    // follow each record's canonical write, so they share calls as those writes finish together
    // (8 calls here; at worst 12).
    expect(calls['DynamoDB.BatchGetItem']).toBeGreaterThanOrEqual(2);
    expect(readCalls).toBeLessThanOrEqual(12);
    expect(dynamo.readUnits).toBe(30);
    expect(calls['SQS.SendMessageBatch']).toBe(1);
  });

  it('reads ten updates of known records with one BatchGetItem', async () => {
    counter.reset();
    expect(await route(inboundBatch(2), lambdaContext('route'))).toEqual({ batchItemFailures: [] });
    expect(counter.counts.calls['DynamoDB.BatchGetItem']).toBe(1);
    expect(counter.counts.calls['DynamoDB.GetItem'] ?? 0).toBe(0);
    expect(counter.counts.dynamo.readUnits).toBe(10);
  });

  it('deliver reads the mappings of a batch of ten entities with one BatchGetItem, and a later update of one of them reads its own', async () => {
    counter.reset();
    const batch = sqsEvent([
      ...Array.from({ length: 10 }, (_, n) => deliveryRecord(n, 1)),
      // The second version of entity 0: it must see the mapping the first one writes in this batch.
      deliveryRecord(0, 2),
    ]);
    expect(await deliver(batch, lambdaContext('deliver-crm'))).toEqual({ batchItemFailures: [] });
    expect(counter.counts.calls['DynamoDB.BatchGetItem']).toBe(1);
    // Entity 0's second version reads its own mapping (the e2e config has no breaker to read).
    expect(counter.counts.calls['DynamoDB.GetItem']).toBe(1);
    expect(crm.contacts.size).toBe(10);
    const zero = [...crm.contacts.values()].find((c) => c.data.email === 'reads.0@example.com');
    // Updated in place (the second version found the first one's destination id), not created twice.
    expect(zero).toMatchObject({ data: { name: 'Reads 0 v2' }, writes: 2 });
  });

  it("deliver with a circuit breaker reads the breaker in the same BatchGetItem as the batch's mappings", async () => {
    const withBreaker = e2eConfig(crm.url, {
      destinations: {
        crm: {
          connector: 'http',
          url: crm.url,
          secret: 'e2e/crm-token',
          circuitBreaker: { enabled: true },
        },
      },
    });
    const guarded = deliverHandlerFromEnv(deliverEnv, { ...shared, config: withBreaker });
    counter.reset();
    const batch = sqsEvent(Array.from({ length: 5 }, (_, n) => deliveryRecord(20 + n, 1)));
    expect(await guarded(batch, lambdaContext('deliver-crm'))).toEqual({ batchItemFailures: [] });
    expect(counter.counts.calls['DynamoDB.BatchGetItem']).toBe(1);
    expect(counter.counts.calls['DynamoDB.GetItem'] ?? 0).toBe(0);
    // Billed per item as GetItem would be: the breaker and five mappings.
    expect(counter.counts.dynamo.readUnits).toBe(6);
    expect([...crm.contacts.values()].filter((c) => /^reads\.2\d@/.test(String(c.data.email)))).toHaveLength(
      5,
    );
  });
});
