/**
 * Deliver's call floor (see route.ts): the breaker and the mapping in one BatchGetItem with the token
 * read alongside, the CRM call, then the mapping write, with the clients deliver builds and none of
 * its code.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { BatchGetCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { env, floorHandler, httpCall } from './shared.js';

const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const secrets = new SecretsManagerClient({});
const TableName = env('FLOOR_TABLE');
const SecretId = env('FLOOR_SECRET');
const url = env('FLOOR_URL');

export const handler = floorHandler(async () => {
  const id = randomUUID();
  const [secret] = await Promise.all([
    secrets.send(new GetSecretValueCommand({ SecretId })),
    dynamo.send(
      new BatchGetCommand({
        RequestItems: {
          [TableName]: {
            Keys: [
              { pk: 'breaker#crm', sk: 'state' },
              { pk: `map#crm#${id}`, sk: 'map' },
            ],
            ConsistentRead: true,
          },
        },
      }),
    ),
  ]);
  const created = await httpCall(url, secret.SecretString ?? '', {
    id,
    email: `floor.${id}@example.com`,
    name: 'Call Floor',
  });
  if (created.status >= 300) throw new Error(`CRM answered ${created.status}: ${created.body}`);
  await dynamo.send(
    new PutCommand({
      TableName,
      Item: { pk: `map#crm#${id}`, sk: 'map', destinationId: id },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
});
