import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { documentClient } from './aws/dynamo-state-store.js';
import { SecretsManagerStore } from './aws/secrets.js';
import { base } from './runtime.js';
import { secretsFromEnv } from './wiring-base.js';
import { pollHandlerFromEnv } from './wiring-poll.js';

export const handler = pollHandlerFromEnv(process.env, {
  ...base,
  sqs: new SQSClient({}),
  dynamo: documentClient(new DynamoDBClient({})),
  // A staged hub reads its stage's secrets (SWITCHYARD_SECRETS_PREFIX), checked once at load.
  secrets: secretsFromEnv(
    process.env,
    new SecretsManagerStore(new SecretsManagerClient({}), base.config.secretsCacheSeconds),
  ),
});
