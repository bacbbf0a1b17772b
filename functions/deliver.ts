import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { documentClient } from './aws/dynamo-state-store.js';
import { SecretsManagerStore } from './aws/secrets.js';
import { base } from './runtime.js';
import { secretsFromEnv } from './wiring-base.js';
import { deliverHandlerFromEnv } from './wiring-deliver.js';

export const handler = deliverHandlerFromEnv(process.env, {
  ...base,
  // Built on deliver's first SQS call (functions/aws/deferred-sqs.ts): most invocations make none.
  sqs: (SQSClient) => new SQSClient({}),
  dynamo: documentClient(new DynamoDBClient({})),
  // A staged hub reads its stage's secrets (SWITCHYARD_SECRETS_PREFIX), checked once at load.
  secrets: secretsFromEnv(
    process.env,
    new SecretsManagerStore(new SecretsManagerClient({}), base.config.secretsCacheSeconds),
  ),
});
