import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerStore } from './aws/secrets.js';
import { base } from './runtime.js';
import { secretsFromEnv } from './wiring-base.js';
import { ingestHandlerFromEnv } from './wiring-ingest.js';

// Secrets Manager and SQS only: see functions/runtime.ts for why each entry builds its own clients.
export const handler = ingestHandlerFromEnv(process.env, {
  ...base,
  sqs: new SQSClient({}),
  // A staged hub reads its stage's secrets (SWITCHYARD_SECRETS_PREFIX), checked once at load.
  secrets: secretsFromEnv(
    process.env,
    new SecretsManagerStore(new SecretsManagerClient({}), base.config.secretsCacheSeconds),
  ),
});
