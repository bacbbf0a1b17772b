import type { Entity } from './config.js';
import { sha256Hex } from './hashing.js';
import type { CanonicalItem, StateStore } from './ports.js';

/** The canonical id a source record founds an entity under when it is the first to know it. */
export type CanonicalIdFor = (source: string, entity: Entity, sourceId: string) => string;

/**
 * A UUID (version 8: custom, RFC 9562) from the SHA-256 of entity, source and source id. Every route
 * of one record derives the same id, so a record that founds its entity needs no xref item: the
 * canonical item at this id is the link, and one write unit less per new record. Records that join
 * another system's entity (the natural key was claimed first) still get an xref item.
 */
export const derivedCanonicalId: CanonicalIdFor = (source, entity, sourceId) => {
  const hex = sha256Hex(`switchyard/canonical\u0000${entity}\u0000${source}\u0000${sourceId}`);
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

/** Where a source record's entity is, and what the canonical store holds for it (if anything yet). */
export interface KnownRecord {
  readonly id: string;
  readonly item: CanonicalItem | undefined;
}

/**
 * Finds the entity of a source record: the canonical item at its derived id (it founded the entity;
 * one read), else its xref (it joined another system's entity, or was linked before derived ids).
 * Undefined when the hub has never seen the record.
 */
export async function findKnownRecord(
  state: Pick<StateStore, 'getXref' | 'getCanonical'>,
  canonicalIdFor: CanonicalIdFor,
  source: string,
  entity: Entity,
  sourceId: string,
): Promise<KnownRecord | undefined> {
  const derived = canonicalIdFor(source, entity, sourceId);
  const founded = await state.getCanonical(entity, derived);
  if (founded) return { id: derived, item: founded };
  const linked = await state.getXref(source, entity, sourceId);
  if (linked === undefined) return undefined;
  return { id: linked, item: await state.getCanonical(entity, linked) };
}
