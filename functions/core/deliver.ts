import type { DestinationConnector } from '../connectors/types.js';
import type { DestinationConfig, FlowConfig } from './config.js';
import { contentHash, idempotencyKey } from './hashing.js';
import type { DeliveryMessage } from './messages.js';
import type { Clock, DeliveryMapping, HttpFetch, Log, SecretStore, StateStore } from './ports.js';
import { readToken } from './secret-values.js';
import { deliversLive, type ShadowDecision } from './shadow.js';

export interface DeliverDeps {
  readonly destinationName: string;
  readonly destination: DestinationConfig;
  readonly connector: DestinationConnector;
  readonly state: StateStore;
  readonly secrets: SecretStore;
  readonly clock: Clock;
  readonly log: Log;
  readonly fetch: HttpFetch;
  /**
   * The config's flows, for their mode and pilot. A message of a flow not listed (or without
   * flows) is delivered live.
   */
  readonly flows?: readonly Pick<FlowConfig, 'name' | 'mode' | 'pilot'>[];
}

type SkipReason = 'duplicate' | 'stale' | 'unchanged' | 'never_delivered';

export type DeliverOutcome =
  | { readonly kind: 'delivered'; readonly idempotencyKey: string }
  | { readonly kind: 'skipped'; readonly reason: SkipReason }
  /** A shadow flow (or a record outside a pilot's sample): recorded what would be sent, sent nothing. */
  | { readonly kind: 'shadowed'; readonly idempotencyKey: string; readonly decision: ShadowDecision };

/** What the destination holds as far as a decision is concerned: versions, revision and content. */
type Held = Pick<DeliveryMapping, 'versions' | 'contentHash' | 'revision'>;

/** Why a message needs no destination call given what is held; undefined when it needs one. */
function skipReason(message: DeliveryMessage, hash: string, held: Held | undefined): SkipReason | undefined {
  const applied = held?.versions[message.source];
  if (applied !== undefined && message.version < applied) return 'stale';
  // A snapshot of the canonical record older than the one the destination holds, from whichever
  // source (two sources' messages can overtake each other, and a redrive or replay is late by nature).
  if (held?.revision !== undefined && message.revision !== undefined && message.revision < held.revision) {
    return 'stale';
  }
  if (held && held.contentHash === hash) return applied === message.version ? 'duplicate' : 'unchanged';
  if (!held && message.deleted) return 'never_delivered';
  return undefined;
}

async function bearerToken(deps: DeliverDeps): Promise<string | undefined> {
  return deps.destination.secret ? readToken(deps.secrets, deps.destination.secret) : undefined;
}

/**
 * The content the destination holds once this message is applied. The schema version counts from v2
 * on, so a destination that moves to a newer version is sent each record once more in it, while the
 * hashes (and Idempotency-Keys) of v1 messages stay what they were before versioned contracts.
 */
function messageHash(message: DeliveryMessage): string {
  const schemaVersion = message.schemaVersion ?? 1;
  return contentHash({
    deleted: message.deleted,
    data: message.data,
    ...(schemaVersion > 1 ? { schemaVersion } : {}),
  });
}

/**
 * Deliver: one destination call per message, exactly once in effect (G4) and never older than
 * what the destination already holds (G5). Throws TransientError (retry) or FatalError (quarantine).
 */
export async function deliverMessage(message: DeliveryMessage, deps: DeliverDeps): Promise<DeliverOutcome> {
  const { destinationName: destination } = deps;
  const flow = deps.flows?.find((f) => f.name === message.flow);
  if (flow && !deliversLive(flow, message)) return shadowMessage(message, deps);
  const hash = messageHash(message);
  // The token (cached per container) is read alongside the mapping, not after it; a message that
  // turns out to be a skip does not wait for it, and a failed read fails only the messages that send.
  const token = bearerToken(deps);
  token.catch(() => undefined);
  const mapping = await deps.state.getMapping(destination, message.entity, message.id);
  const revision = Math.max(mapping?.revision ?? 0, message.revision ?? 0) || undefined;
  const reason = skipReason(message, hash, mapping);
  if (reason === 'unchanged' && mapping) {
    // Same content under a newer version: nothing to send, but remember the version so an older
    // update arriving later is recognised as stale.
    await deps.state.putMapping(
      {
        ...mapping,
        versions: { ...mapping.versions, [message.source]: message.version },
        updatedAt: deps.clock.now(),
        ...(revision === undefined ? {} : { revision }),
      },
      message.source,
    );
    return { kind: 'skipped', reason: 'unchanged' };
  }
  if (reason) return { kind: 'skipped', reason };

  const key = idempotencyKey(destination, message.entity, message.id, message.source, message.version, hash);
  const bearer = await token;
  const result = await deps.connector.deliver({
    message,
    entity: message.entity,
    idempotencyKey: key,
    destination: deps.destination,
    ...(mapping ? { mapping } : {}),
    ...(bearer === undefined ? {} : { token: bearer }),
    fetch: deps.fetch,
  });
  const destinationId = result.destinationId ?? mapping?.destinationId;
  const written = await deps.state.putMapping(
    {
      destination,
      entity: message.entity,
      id: message.id,
      ...(destinationId === undefined ? {} : { destinationId }),
      versions: { ...mapping?.versions, [message.source]: message.version },
      contentHash: hash,
      updatedAt: deps.clock.now(),
      eventId: message.eventId,
      ...(revision === undefined ? {} : { revision }),
    },
    message.source,
  );
  if (written === 'stale') {
    // Only possible if two deliveries of one entity overlapped, which the FIFO group prevents.
    deps.log.warn('A newer version was recorded while this one was delivered', {
      id: message.id,
      version: message.version,
    });
  }
  return { kind: 'delivered', idempotencyKey: key };
}

/**
 * The shadow path: the same decision deliver makes live, but against what the destination would
 * hold had the flow been live (the latest shadow record, else the mapping), and instead of the call
 * a shadow record. The mapping is never written, so going live starts from the same mappings and the
 * promoted records carry the same idempotency keys.
 */
async function shadowMessage(message: DeliveryMessage, deps: DeliverDeps): Promise<DeliverOutcome> {
  const { destinationName: destination } = deps;
  const hash = messageHash(message);
  const mapping = await deps.state.getMapping(destination, message.entity, message.id);
  const shadow = await deps.state.getShadow(message.flow, destination, message.entity, message.id);
  const held: Held | undefined = shadow ?? mapping;
  const reason = skipReason(message, hash, held);
  if (reason) return { kind: 'skipped', reason };
  const key = idempotencyKey(destination, message.entity, message.id, message.source, message.version, hash);
  const call = {
    message,
    entity: message.entity,
    idempotencyKey: key,
    destination: deps.destination,
    ...(mapping ? { mapping } : {}),
  };
  const revision = Math.max(held?.revision ?? 0, message.revision ?? 0) || undefined;
  const decision: ShadowDecision = message.deleted ? 'delete' : mapping ? 'update' : 'create';
  const written = await deps.state.putShadow({
    flow: message.flow,
    destination,
    entity: message.entity,
    id: message.id,
    source: message.source,
    version: message.version,
    ...(revision === undefined ? {} : { revision }),
    versions: { ...held?.versions, [message.source]: message.version },
    contentHash: hash,
    idempotencyKey: key,
    payload: deps.connector.payload ? deps.connector.payload(call) : { data: message.data },
    decision,
    message,
    at: deps.clock.now(),
  });
  // A newer record was written between the read and this write (the FIFO group makes it rare).
  if (written === 'stale') return { kind: 'skipped', reason: 'stale' };
  return { kind: 'shadowed', idempotencyKey: key, decision };
}
