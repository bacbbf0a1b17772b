import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { awsClientConfig } from '../local/emulators.js';
import { silentLogger } from '../local/log.js';
import { SqsEventSourcePoller } from '../local/sqs-poller.js';
import { AwsCallCounter } from './aws-call-counter.js';
import { startBareIngest } from './bare-ingest.js';
import { InvocationLog } from './cost-model.js';
import { sleep } from './util.js';

/**
 * The obvious design, for the cost comparison: the bare ingest server (HMAC check, one SendMessage
 * to a standard queue) and a consumer fed by the same local SQS event source poller the runtime
 * uses, batches of 10, Powertools' BatchProcessor, each record through `makeIdempotent` (key: the
 * provider's event id; DynamoDB persistence layer) around one business PutItem. Same dynalite and
 * fauxqs as the hub; its own tables and queue.
 */
export interface PowertoolsBaseline {
  readonly url: string;
  readonly counter: AwsCallCounter;
  readonly invocations: InvocationLog;
  /** Records whose business function ran (not answered from the idempotency record). */
  readonly executed: { count: number };
  /** Resolves once the queue is empty and no batch is in flight. */
  settle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const IDEMPOTENCY_TABLE = 'bench-idempotency';
const BUSINESS_TABLE = 'bench-business';
const QUEUE = 'bench-baseline';

interface StripeEvent {
  id: string;
  created: number;
  data: { object: { id: string } & Record<string, unknown> };
}

/**
 * dynalite ignores ReturnValuesOnConditionCheckFailure, so a failed conditional put comes back
 * without the item and Powertools falls back to a GetItem that real DynamoDB never needs (it
 * returns the old item with the failure, at no extra charge). This supplies the item the way
 * DynamoDB would, from a client nobody counts.
 */
function returnOldItemOnConditionFailure(client: DynamoDBClient, reader: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const input = args.input as GetItemCommandInput & {
          Item?: Record<string, unknown>;
          ReturnValuesOnConditionCheckFailure?: string;
        };
        if (
          context.commandName === 'PutItemCommand' &&
          error instanceof ConditionalCheckFailedException &&
          input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' &&
          error.Item === undefined &&
          input.Item
        ) {
          const key = { id: input.Item.id } as GetItemCommandInput['Key'];
          const old = await reader.send(
            new GetItemCommand({ TableName: input.TableName, Key: key, ConsistentRead: true }),
          );
          if (old.Item) error.Item = old.Item;
        }
        throw error;
      }
    },
    { step: 'serialize', name: 'benchReturnOldItemOnConditionFailure' },
  );
}

export async function startPowertoolsBaseline(options: {
  dynamodbEndpoint: string;
  sqsEndpoint: string;
  secret: string;
}): Promise<PowertoolsBaseline> {
  const admin = new DynamoDBClient(awsClientConfig(options.dynamodbEndpoint));
  const adminSqs = new SQSClient(awsClientConfig(options.sqsEndpoint));
  for (const [name, key] of [
    [IDEMPOTENCY_TABLE, 'id'],
    [BUSINESS_TABLE, 'pk'],
  ] as const) {
    await admin.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  const { QueueUrl: queueUrl = '' } = await adminSqs.send(
    new CreateQueueCommand({ QueueName: QUEUE, Attributes: { VisibilityTimeout: '180' } }),
  );

  // The functions' own clients, counted like the hub's handler clients.
  const counter = new AwsCallCounter();
  const sqs = new SQSClient(awsClientConfig(options.sqsEndpoint));
  const dynamodb = new DynamoDBClient(awsClientConfig(options.dynamodbEndpoint));
  counter.instrument({ sqs, dynamodb });
  returnOldItemOnConditionFailure(dynamodb, admin);
  const documents = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true },
  });

  const invocations = new InvocationLog();
  const executed = { count: 0 };
  const bare = await startBareIngest({
    secret: options.secret,
    sqs,
    queueUrl,
    onRequest: (ms) => invocations.add('ingest', ms),
  });

  const config = new IdempotencyConfig({ eventKeyJmesPath: 'id' });
  const processEvent = makeIdempotent(
    async (event: StripeEvent) => {
      executed.count += 1;
      const customer = event.data.object;
      await documents.send(
        new PutCommand({
          TableName: BUSINESS_TABLE,
          Item: { ...customer, pk: `customer#${customer.id}`, updatedAt: event.created },
        }),
      );
      return { id: customer.id };
    },
    {
      persistenceStore: new DynamoDBPersistenceLayer({
        tableName: IDEMPOTENCY_TABLE,
        awsSdkV3Client: dynamodb,
      }),
      config,
    },
  );
  const processor = new BatchProcessor(EventType.SQS);
  const recordHandler = async (record: SQSRecord) => {
    const envelope = JSON.parse(record.body) as { body: string };
    return processEvent(JSON.parse(envelope.body) as StripeEvent);
  };
  const handler = async (event: SQSEvent, context: Context) => {
    const started = performance.now();
    try {
      config.registerLambdaContext(context);
      return await processPartialResponse(event, recordHandler, processor, { context });
    } finally {
      invocations.add('consumer', performance.now() - started, event.Records.length);
    }
  };
  const pollerSqs = new SQSClient(awsClientConfig(options.sqsEndpoint));
  const poller = new SqsEventSourcePoller({
    sqs: pollerSqs,
    queueUrl,
    queueArn: `arn:aws:sqs:us-east-1:000000000000:${QUEUE}`,
    functionName: 'bench-baseline-consumer',
    handler,
    batchSize: 10,
    maxConcurrency: 2,
    waitTimeSeconds: 1,
    timeoutSeconds: 30,
    logger: silentLogger,
  });
  poller.start();

  const depth = async () => {
    const { Attributes = {} } = await adminSqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(Attributes.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  };

  return {
    url: bare.url,
    counter,
    invocations,
    executed,
    async settle(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      let quietSince: number | undefined;
      for (;;) {
        const busy = (await depth()) > 0 || poller.stats.inFlightBatches > 0;
        if (!busy) {
          quietSince ??= Date.now();
          if (Date.now() - quietSince >= 150) return;
        } else quietSince = undefined;
        if (Date.now() > deadline) throw new Error('The Powertools baseline did not settle');
        await sleep(50);
      }
    },
    async stop() {
      await poller.stop();
      await bare.stop();
      for (const client of [admin, adminSqs, sqs, dynamodb, pollerSqs]) client.destroy();
    },
  };
}
