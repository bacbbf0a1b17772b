import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import userConfig from '../switchyard.config.js';
import { EmfTelemetry } from './aws/emf-telemetry.js';
import { lambdaAuditTrail } from './aws/log-audit-trail.js';
import { SecretsManagerStore } from './aws/secrets.js';
import { loadConfig } from './core/config.js';
import { type SharedDeps, secretsFromEnv } from './wiring.js';

/**
 * Built once per Lambda container, at load: the config bundled with the function (validated again,
 * so a bad bundle fails its cold start by name), SDK clients, the logger and the EMF metrics sink.
 */
const config = loadConfig(userConfig);

export const shared: SharedDeps = {
  config,
  logger: new Logger({ serviceName: config.name }),
  telemetry: new EmfTelemetry({ namespace: 'Switchyard', serviceName: config.name }),
  audit: lambdaAuditTrail(config.name),
  // Read once, at load: a staged hub reads its stage's secrets (SWITCHYARD_SECRETS_PREFIX).
  secrets: secretsFromEnv(
    process.env,
    new SecretsManagerStore(new SecretsManagerClient({}), config.secretsCacheSeconds),
  ),
  sqs: new SQSClient({}),
  dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  }),
};
