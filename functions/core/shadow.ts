import type { FlowConfig } from './config.js';
import { sha256Hex } from './hashing.js';
import type { DeliveryMessage } from './messages.js';

/**
 * Where a record of a pilot's percent sample falls: the first 8 hex digits of SHA-256 of its
 * canonical id, as a number, modulo 100. An entity is in a `percent: p` sample when this is below
 * p, so it is always in or always out, and widening p only ever adds entities.
 */
export function sampleBucket(canonicalId: string): number {
  return Number.parseInt(sha256Hex(canonicalId).slice(0, 8), 16) % 100;
}

/** The `system:externalId` names of a record: its source's id and every ref the canonical record holds. */
function externalNames(message: DeliveryMessage): Set<string> {
  const names = new Set([`${message.source}:${message.sourceId}`]);
  const refs = message.data.refs;
  if (refs && typeof refs === 'object') {
    for (const [system, id] of Object.entries(refs as Record<string, unknown>)) {
      if (typeof id === 'string' || typeof id === 'number') names.add(`${system}:${id}`);
    }
  }
  return names;
}

/**
 * Whether deliver calls the destination for this record of this flow: a live flow without a pilot
 * always; a shadow flow never; a pilot only for its sample (the rest takes the shadow path).
 */
export function deliversLive(flow: Pick<FlowConfig, 'mode' | 'pilot'>, message: DeliveryMessage): boolean {
  if (flow.mode === 'shadow') return false;
  const { pilot } = flow;
  if (!pilot) return true;
  if ('percent' in pilot) return sampleBucket(message.id) < pilot.percent;
  const names = externalNames(message);
  return pilot.ids.some((id) => id === message.id || names.has(id));
}

/** What deliver decided for a record of a shadowed flow, had it been live. */
export type ShadowDecision = 'create' | 'update' | 'delete';

/**
 * One shadow record: what deliver would have sent for one entity to one destination, the latest
 * per entity (a newer version replaces it; an older one is stale and leaves it as it is).
 */
export interface ShadowRecord {
  readonly flow: string;
  readonly destination: string;
  readonly entity: DeliveryMessage['entity'];
  readonly id: string;
  readonly source: string;
  readonly version: number;
  readonly revision?: number;
  /** Newest version recorded per source, so an older update from any source is recognised as stale. */
  readonly versions: Readonly<Record<string, number>>;
  readonly contentHash: string;
  readonly idempotencyKey: string;
  /** The body the connector would have sent (the HTTP destination's wire format, HubSpot's properties). */
  readonly payload: unknown;
  readonly decision: ShadowDecision;
  /** The delivery message itself: what `shadow promote` puts back on the destination's queue. */
  readonly message: DeliveryMessage;
  readonly at: number;
  /** Set once promoted: a second promote sends nothing. */
  readonly promotedAt?: number;
}
