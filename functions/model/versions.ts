import type { Entity } from '../core/config.js';

/**
 * The newest schema version of each canonical entity (every version from 1 up to it exists). Kept
 * apart from the zod schemas in contracts.ts so config validation can check a version without
 * pulling the schemas, normalizers and phone metadata into every Lambda bundle (ingest has none of
 * them); test/unit/contract-versions.test.ts holds it equal to CONTRACTS.
 */
export const LATEST_SCHEMA_VERSION: Readonly<Record<Entity, number>> = { customer: 2, order: 1, invoice: 1 };

/** The schema versions an entity has, oldest first. */
export function schemaVersions(entity: Entity): number[] {
  return Array.from({ length: LATEST_SCHEMA_VERSION[entity] }, (_, i) => i + 1);
}

export function isSchemaVersion(entity: Entity, version: unknown): version is number {
  return (
    Number.isInteger(version) &&
    (version as number) >= 1 &&
    (version as number) <= LATEST_SCHEMA_VERSION[entity]
  );
}
