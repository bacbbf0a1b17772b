import { DynamoStateStore } from './aws/dynamo-state-store.js';
import { type DepsWith, type Env, required } from './wiring-base.js';

/** The state table adapter every DynamoDB-backed kind builds from STATE_TABLE_NAME. */
export function stateStore(env: Env, shared: DepsWith<'dynamo'>): DynamoStateStore {
  return new DynamoStateStore(
    shared.dynamo,
    required(env, 'STATE_TABLE_NAME'),
    shared.config.quarantine.retentionDays * 86_400,
  );
}
