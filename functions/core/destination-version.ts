import { convert } from '../model/conversions.js';
import type { Entity, SwitchyardConfig } from './config.js';
import type { CanonicalItem } from './ports.js';

/** The schema version of `entity` that `destination` consumes (config `consumes`, default 1). */
export function consumedVersion(config: SwitchyardConfig, destination: string, entity: Entity): number {
  return config.destinations[destination]?.consumes[entity] ?? 1;
}

/** A canonical item's data at the version the destination consumes, and that version. */
export function forDestination(
  config: SwitchyardConfig,
  destination: string,
  item: Pick<CanonicalItem, 'entity' | 'data' | 'schemaVersion'>,
): { data: Record<string, unknown>; schemaVersion: number } {
  const schemaVersion = consumedVersion(config, destination, item.entity);
  return { data: convert(item.entity, item.data, item.schemaVersion ?? 1, schemaVersion), schemaVersion };
}
