import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { documentClient } from './aws/dynamo-state-store.js';
import { base } from './runtime.js';
import { routeHandlerFromEnv } from './wiring-route.js';

// DynamoDB and SQS only: see functions/runtime.ts for why each entry builds its own clients.
export const handler = routeHandlerFromEnv(process.env, {
  ...base,
  sqs: new SQSClient({}),
  dynamo: documentClient(new DynamoDBClient({})),
});
