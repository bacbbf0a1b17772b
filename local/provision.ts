import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type QueueAttributeName,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { QueueSpec, Topology } from '../functions/core/topology.js';
import { createLogger, type Logger } from './log.js';

/**
 * Creates the topology's state table and queues on the emulators, the way the CDK stack creates
 * them in AWS. Idempotent: the runtime calls it on every start, and after a restart with the same
 * data dir the table is already there (dynalite persists) while the queues are not (fauxqs does not).
 */

export interface ProvisionClients {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
}

export interface ProvisionOptions {
  logger?: Logger;
  /** How long to wait for the table to become ACTIVE. */
  tableTimeoutMs?: number;
}

export interface Provisioned {
  tableName: string;
  /** Queue URL by QueueSpec.key. */
  queueUrls: Record<string, string>;
  /** Dead-letter queue URL by QueueSpec.key (of the queue it serves). */
  deadLetterUrls: Record<string, string>;
  /** Queue ARN by QueueSpec.key: the pollers' eventSourceARN. */
  queueArns: Record<string, string>;
  deadLetterArns: Record<string, string>;
}

export async function provision(
  topology: Pick<Topology, 'table' | 'queues'>,
  clients: ProvisionClients,
  options: ProvisionOptions = {},
): Promise<Provisioned> {
  const log = options.logger ?? createLogger('provision');
  const tableName = await ensureTable(
    topology.table.name,
    clients.dynamodb,
    options.tableTimeoutMs ?? 10_000,
  );
  // No UpdateTimeToLive here: dynalite does not implement it (nor expire items). The CDK stack sets
  // TTL on `topology.table.ttlAttribute`; locally, quarantine and audit items simply never expire.

  const result: Provisioned = {
    tableName,
    queueUrls: {},
    deadLetterUrls: {},
    queueArns: {},
    deadLetterArns: {},
  };
  for (const spec of topology.queues) {
    const dlq = await ensureQueue(clients.sqs, spec.deadLetter.name, deadLetterAttributes(spec));
    const queue = await ensureQueue(clients.sqs, spec.name, queueAttributes(spec, dlq.arn));
    result.queueUrls[spec.key] = queue.url;
    result.queueArns[spec.key] = queue.arn;
    result.deadLetterUrls[spec.key] = dlq.url;
    result.deadLetterArns[spec.key] = dlq.arn;
  }
  log.info('provisioned', { table: tableName, queues: topology.queues.map((q) => q.name) });
  return result;
}

/** RedrivePolicy exactly as the queue is created with (and as GetQueueAttributes returns it). */
export function redrivePolicy(deadLetterTargetArn: string, maxReceiveCount: number): string {
  return JSON.stringify({ deadLetterTargetArn, maxReceiveCount });
}

type Attributes = Partial<Record<QueueAttributeName, string>>;

function deadLetterAttributes(spec: QueueSpec): Attributes {
  const attributes: Attributes = { MessageRetentionPeriod: String(spec.deadLetter.retentionSeconds) };
  if (spec.fifo) {
    attributes.FifoQueue = 'true';
    attributes.ContentBasedDeduplication = 'false';
  }
  return attributes;
}

function queueAttributes(spec: QueueSpec, deadLetterArn: string): Attributes {
  const attributes: Attributes = {
    VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(spec.retentionSeconds),
    RedrivePolicy: redrivePolicy(deadLetterArn, spec.maxReceiveCount),
  };
  if (spec.fifo) {
    attributes.FifoQueue = 'true';
    // The sender sets a deduplication id on every message (hash of destination, id and version).
    attributes.ContentBasedDeduplication = 'false';
  }
  return attributes;
}

async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Attributes,
): Promise<{ url: string; arn: string }> {
  if ((attributes.FifoQueue === 'true') !== name.endsWith('.fifo')) {
    throw new Error(`queue ${name}: FIFO queue names, and only they, must end in .fifo`);
  }
  let url: string | undefined;
  try {
    url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl;
  } catch (error) {
    // Same name, different attributes (the config changed while fauxqs kept running): bring the
    // queue in line, as a CloudFormation update would. FifoQueue cannot change, so it is left out.
    // SQS's modeled QueueNameExists, or what the SDK makes of fauxqs' x-amzn-query-error header,
    // which it cannot map to the model: a plain SQSServiceException named
    // `AWS.SimpleQueueService.QueueNameExists`.
    if (!/(^|\.)(QueueNameExists|QueueAlreadyExists)$/.test(errorName(error) ?? '')) throw error;
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    if (!url) throw new Error(`queue ${name}: GetQueueUrl returned no URL`);
    const { FifoQueue: _fifo, ...settable } = attributes;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: settable }));
  }
  if (!url) throw new Error(`queue ${name}: CreateQueue returned no URL`);
  const described = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const arn = described.Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${name}: no QueueArn`);
  return { url, arn };
}

/** Creates the state table's shape (pk, sk) under `name` if it is not there, and waits for ACTIVE. */
export async function ensureTable(
  name: string,
  dynamodb: DynamoDBClient,
  timeoutMs: number,
): Promise<string> {
  try {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    if (errorName(error) !== 'ResourceInUseException') throw error;
  }

  // CreateTable answers CREATING even with createTableMs 0, and item operations on a CREATING table
  // fail with ResourceNotFoundException: wait for ACTIVE.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') {
      assertKeySchema(name, Table);
      return name;
    }
    if (Date.now() > deadline) {
      // dynalite flips CREATING to ACTIVE in a timer after writing CREATING to LevelDB; a process
      // killed in between leaves a table that stays CREATING forever and cannot be deleted.
      throw new Error(
        `table ${name} is still ${Table?.TableStatus ?? 'missing'} after ${timeoutMs} ms; if the runtime ` +
          'was killed while creating it, delete the data dir (the table cannot hold data yet)',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function assertKeySchema(name: string, table: TableDescription): void {
  const keys = (table.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
  if (keys !== 'pk:HASH,sk:RANGE') {
    throw new Error(`table ${name} exists with key schema ${keys}, expected pk:HASH,sk:RANGE`);
  }
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}
