/**
 * The cold-start baseline: a hello-world Lambda handler with the Powertools logger and one SDK
 * client, bundled exactly like the hub's functions (bench/cold-start.ts). Its first invocation
 * logs a line and sends one SQS message.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';

const logger = new Logger({ serviceName: 'hello' });
const sqs = new SQSClient({});

export const handler = async (event: unknown, context: Context): Promise<{ statusCode: number }> => {
  logger.addContext(context);
  await sqs.send(
    new SendMessageCommand({ QueueUrl: process.env.HELLO_QUEUE_URL, MessageBody: JSON.stringify(event) }),
  );
  logger.info('Hello');
  return { statusCode: 200 };
};
