/**
 * A diagnostic next to the cold-start baseline: the hello world of cold-start-hello.ts, but
 * constructing every SDK client the hub's functions build at load (functions/runtime.ts builds
 * DynamoDB + DocumentClient, SQS and Secrets Manager clients for every function). Its first
 * invocation does the same one SendMessage, so the gap to hello world is the cost of the clients.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';

const logger = new Logger({ serviceName: 'hello' });
const sqs = new SQSClient({});
export const clients = {
  dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  secrets: new SecretsManagerClient({}),
};

export const handler = async (event: unknown, context: Context): Promise<{ statusCode: number }> => {
  logger.addContext(context);
  await sqs.send(
    new SendMessageCommand({ QueueUrl: process.env.HELLO_QUEUE_URL, MessageBody: JSON.stringify(event) }),
  );
  logger.info('Hello');
  return { statusCode: 200 };
};
