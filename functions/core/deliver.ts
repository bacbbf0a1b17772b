import type { DestinationConnector } from '../connectors/types.js';
import type { DestinationConfig } from './config.js';
import { contentHash, idempotencyKey } from './hashing.js';
import type { DeliveryMessage } from './messages.js';
import type { Clock, Log, SecretStore, StateStore } from './ports.js';
import { readToken } from './secret-values.js';

export interface DeliverDeps {
  readonly destinationName: string;
  readonly destination: DestinationConfig;
  readonly connector: DestinationConnector;
  readonly state: StateStore;
  readonly secrets: SecretStore;
  readonly clock: Clock;
  readonly log: Log;
  readonly fetch: typeof fetch;
}

export type DeliverOutcome =
  | { readonly kind: 'delivered'; readonly idempotencyKey: string }
  | { readonly kind: 'skipped'; readonly reason: 'duplicate' | 'stale' | 'unchanged' | 'never_delivered' };

async function bearerToken(deps: DeliverDeps): Promise<string | undefined> {
  return deps.destination.secret ? readToken(deps.secrets, deps.destination.secret) : undefined;
}

/**
 * Deliver: one destination call per message, exactly once in effect (G4) and never older than
 * what the destination already holds (G5). Throws TransientError (retry) or FatalError (quarantine).
 */
export async function deliverMessage(message: DeliveryMessage, deps: DeliverDeps): Promise<DeliverOutcome> {
  const { destinationName: destination } = deps;
  const hash = contentHash({ deleted: message.deleted, data: message.data });
  const mapping = await deps.state.getMapping(destination, message.entity, message.id);
  const applied = mapping?.versions[message.source];
  if (applied !== undefined && message.version < applied) return { kind: 'skipped', reason: 'stale' };
  // A snapshot of the canonical record older than the one the destination holds, from whichever
  // source (two sources' messages can overtake each other, and a redrive or replay is late by nature).
  if (
    mapping?.revision !== undefined &&
    message.revision !== undefined &&
    message.revision < mapping.revision
  ) {
    return { kind: 'skipped', reason: 'stale' };
  }
  const revision = Math.max(mapping?.revision ?? 0, message.revision ?? 0) || undefined;
  if (mapping && mapping.contentHash === hash) {
    if (applied === message.version) return { kind: 'skipped', reason: 'duplicate' };
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
  if (!mapping && message.deleted) return { kind: 'skipped', reason: 'never_delivered' };

  const key = idempotencyKey(destination, message.entity, message.id, message.source, message.version, hash);
  const token = await bearerToken(deps);
  const result = await deps.connector.deliver({
    message,
    entity: message.entity,
    idempotencyKey: key,
    destination: deps.destination,
    ...(mapping ? { mapping } : {}),
    ...(token === undefined ? {} : { token }),
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
