/**
 * Route's call floor: a hello world (shared.ts) that makes the AWS calls route makes for a new
 * customer, in the same order and overlap (from a BENCH_TRACE of route's first invocation), with the
 * clients route builds and none of route's code. Route's gap to this is its own code; this one's
 * gap to hello world is the calls.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { env, floorHandler } from './shared.js';

const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const sqs = new SQSClient({});
const TableName = env('FLOOR_TABLE');
const QueueUrl = env('FLOOR_QUEUE_URL');

const get = (pk: string, sk: string) =>
  dynamo.send(new GetCommand({ TableName, Key: { pk, sk }, ConsistentRead: true }));
const claim = (pk: string, sk: string, item: Record<string, unknown>) =>
  dynamo.send(
    new PutCommand({
      TableName,
      Item: { pk, sk, ...item },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );

export const handler = floorHandler(async () => {
  const id = randomUUID();
  const email = `floor.${id}@example.com`;
  await get(`customer#${id}`, 'canonical');
  await get(`xref#stripe#cus_${id}`, 'xref');
  await claim(`claim#customer#email`, email, { entity: id });
  await Promise.all([
    claim(`customer#${id}`, 'canonical', { email, name: 'Call Floor', version: Date.now() }),
    claim(`claim#customer#phone-name`, `+4420${id}`, { entity: id }),
  ]);
  await Promise.all([
    sqs.send(
      new SendMessageBatchCommand({
        QueueUrl,
        Entries: [
          {
            Id: '0',
            MessageBody: JSON.stringify({ id, email }),
            MessageGroupId: `customer#${id}`,
            MessageDeduplicationId: id,
          },
        ],
      }),
    ),
    get(`founder#${email}`, 'split'),
  ]);
});
