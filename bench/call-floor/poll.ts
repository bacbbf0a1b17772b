/**
 * Poll's call floor (see route.ts): the token and the lease together, one API page, the send, then
 * the release with the cursor, with the clients poll builds and none of its code.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { env, floorHandler, httpCall } from './shared.js';

const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secrets = new SecretsManagerClient({});
const sqs = new SQSClient({});
const TableName = env('FLOOR_TABLE');
const QueueUrl = env('FLOOR_QUEUE_URL');
const SecretId = env('FLOOR_SECRET');
const url = env('FLOOR_URL');
const Key = { pk: 'floor#erp', sk: 'cursor' };
const owner = `floor-${process.pid}`;
const lookbackMs = Number(env('FLOOR_LOOKBACK_SECONDS')) * 1000;

export const handler = floorHandler(async () => {
  const [secret, lease] = await Promise.all([
    secrets.send(new GetSecretValueCommand({ SecretId })),
    dynamo.send(
      new UpdateCommand({
        TableName,
        Key,
        UpdateExpression: 'SET #owner = :owner, #until = :until',
        ConditionExpression: 'attribute_not_exists(#owner) OR #until < :now',
        ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
        ExpressionAttributeValues: { ':owner': owner, ':until': Date.now() + 60_000, ':now': Date.now() },
        ReturnValues: 'ALL_OLD',
      }),
    ),
  ]);
  // The page poll reads: from the cursor minus the source's lookback.
  const cursor = typeof lease.Attributes?.cursor === 'number' ? lease.Attributes.cursor : 0;
  const since = new Date(Math.max(0, cursor - lookbackMs)).toISOString();
  const page = await httpCall(`${url}&updated_since=${encodeURIComponent(since)}`, secret.SecretString ?? '');
  if (page.status !== 200) throw new Error(`API answered ${page.status}: ${page.body}`);
  const rows = (JSON.parse(page.body) as { data?: { updated_at?: string }[] }).data ?? [];
  await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl,
      Entries: (rows.length > 0 ? rows : [{}])
        .slice(0, 10)
        .map((row, i) => ({ Id: String(i), MessageBody: JSON.stringify(row) })),
    }),
  );
  await dynamo.send(
    new UpdateCommand({
      TableName,
      Key,
      UpdateExpression: 'SET #cursor = :cursor REMOVE #owner, #until',
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until', '#cursor': 'cursor' },
      ExpressionAttributeValues: {
        ':owner': owner,
        ':cursor': Math.max(cursor, ...rows.map((row) => Date.parse(row.updated_at ?? '') || 0)),
      },
    }),
  );
});
