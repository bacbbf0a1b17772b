import type { CoalescedGet } from './aws/coalesced-get.js';
import { DynamoStateStore } from './aws/dynamo-state-store.js';
import { type DepsWith, type Env, required } from './wiring-base.js';

/**
 * The state table adapter every DynamoDB-backed kind builds from STATE_TABLE_NAME; `reads` when
 * another adapter of the table shares its coalesced reads (deliver's breaker store).
 */
export function stateStore(env: Env, shared: DepsWith<'dynamo'>, reads?: CoalescedGet): DynamoStateStore {
  return new DynamoStateStore(
    shared.dynamo,
    required(env, 'STATE_TABLE_NAME'),
    shared.config.quarantine.retentionDays * 86_400,
    reads,
  );
}
