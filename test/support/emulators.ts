import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { awsClientConfig, type Emulators, startEmulators } from '../../local/emulators.js';
import { silentLogger } from '../../local/log.js';

export interface TestEmulators {
  readonly emulators: Emulators;
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  /** Destroys the clients, stops the emulators and removes their directory. */
  stop(): Promise<void>;
}

/** dynalite and fauxqs in memory, with a client for each: for the e2e tests of one adapter or handler. */
export async function startTestEmulators(name: string): Promise<TestEmulators> {
  const dataDir = await mkdtemp(join(tmpdir(), `switchyard-${name}-`));
  const emulators = await startEmulators({ dataDir, inMemory: true, logger: silentLogger });
  const dynamodb = new DynamoDBClient(awsClientConfig(emulators.dynamodbEndpoint));
  const sqs = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
  return {
    emulators,
    dynamodb,
    sqs,
    async stop() {
      dynamodb.destroy();
      sqs.destroy();
      await emulators.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
