import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import userConfig from '../switchyard.config.js';
import { DynamoStateStore } from './aws/dynamo-state-store.js';
import { EmfTelemetry } from './aws/emf-telemetry.js';
import { SecretsManagerStore } from './aws/secrets.js';
import { loadConfig, type SwitchyardConfig } from './core/config.js';
import { requireEnv } from './env.js';

/**
 * What every Lambda entry shares, built once per container at load: the validated config bundled
 * with the function, SDK clients (endpoints come from AWS_ENDPOINT_URL_* when set, which is how the
 * local runtime points them at the emulators), the logger and the metrics sink.
 */
export const config: SwitchyardConfig = loadConfig(userConfig);
export const logger = new Logger({ serviceName: config.name });
export const telemetry = new EmfTelemetry({ namespace: 'Switchyard', serviceName: config.name });
export const sqs = new SQSClient({});
export const secrets = new SecretsManagerStore(new SecretsManagerClient({}), config.secretsCacheSeconds);

let state: DynamoStateStore | undefined;
/** The state table, for the functions that have one (ingest does not). */
export function stateStore(): DynamoStateStore {
  state ??= new DynamoStateStore(
    DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    requireEnv('STATE_TABLE_NAME'),
    config.quarantine.retentionDays * 86_400,
  );
  return state;
}

export const newId = (): string => randomUUID();
