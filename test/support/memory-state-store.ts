import type { Entity } from '../../functions/core/config.js';
import type {
  CanonicalItem,
  DeliveryMapping,
  PossibleDuplicate,
  QuarantineItem,
  StateStore,
} from '../../functions/core/ports.js';
import type { ShadowRecord } from '../../functions/core/shadow.js';

type Method = keyof StateStore;

/**
 * The StateStore port in memory, with the conditional semantics the DynamoDB adapter implements:
 * every call yields once before it touches the data (so concurrent callers interleave as they do
 * against a real table), each read or write is then atomic, and values are copied in and out so a
 * caller can never change what is stored by mutating what it holds.
 */
export class MemoryStateStore implements StateStore {
  readonly xrefs = new Map<string, string>();
  readonly naturalKeys = new Map<string, string>();
  readonly possibleDuplicates: PossibleDuplicate[] = [];
  readonly canonical = new Map<string, CanonicalItem>();
  readonly mappings = new Map<string, DeliveryMapping>();
  /** Keyed like the table: stage, source, event and target, so a re-quarantine overwrites. */
  readonly quarantine = new Map<string, QuarantineItem>();
  /** Keyed like the table: flow, destination, entity and id (the latest record per entity). */
  readonly shadows = new Map<string, ShadowRecord>();
  readonly calls: Record<Method, number> = {
    getXref: 0,
    claimXref: 0,
    claimNaturalKey: 0,
    repointNaturalKey: 0,
    putPossibleDuplicate: 0,
    getCanonical: 0,
    putCanonical: 0,
    getMapping: 0,
    putMapping: 0,
    putQuarantine: 0,
    getShadow: 0,
    putShadow: 0,
  };

  private async enter(method: Method): Promise<void> {
    this.calls[method] += 1;
    await Promise.resolve();
  }

  get quarantined(): QuarantineItem[] {
    return [...this.quarantine.values()];
  }

  async getXref(system: string, entity: Entity, externalId: string): Promise<string | undefined> {
    await this.enter('getXref');
    return this.xrefs.get(`${system}#${entity}#${externalId}`);
  }

  async claimXref(system: string, entity: Entity, externalId: string, canonicalId: string): Promise<string> {
    await this.enter('claimXref');
    const key = `${system}#${entity}#${externalId}`;
    const existing = this.xrefs.get(key);
    if (existing !== undefined) return existing;
    this.xrefs.set(key, canonicalId);
    return canonicalId;
  }

  async claimNaturalKey(entity: Entity, key: string, canonicalId: string): Promise<string> {
    await this.enter('claimNaturalKey');
    const existing = this.naturalKeys.get(`${entity}#${key}`);
    if (existing !== undefined) return existing;
    this.naturalKeys.set(`${entity}#${key}`, canonicalId);
    return canonicalId;
  }

  async repointNaturalKey(entity: Entity, key: string, from: string, to: string): Promise<void> {
    await this.enter('repointNaturalKey');
    if (this.naturalKeys.get(`${entity}#${key}`) === from) this.naturalKeys.set(`${entity}#${key}`, to);
  }

  async putPossibleDuplicate(item: PossibleDuplicate): Promise<void> {
    await this.enter('putPossibleDuplicate');
    this.possibleDuplicates.push(structuredClone(item));
  }

  async getCanonical(entity: Entity, id: string): Promise<CanonicalItem | undefined> {
    await this.enter('getCanonical');
    const item = this.canonical.get(`${entity}#${id}`);
    return item === undefined ? undefined : structuredClone(item);
  }

  async putCanonical(
    item: CanonicalItem,
    expectedRevision: number | undefined,
  ): Promise<'written' | 'conflict'> {
    await this.enter('putCanonical');
    const key = `${item.entity}#${item.id}`;
    const stored = this.canonical.get(key);
    const ok = expectedRevision === undefined ? stored === undefined : stored?.revision === expectedRevision;
    if (!ok) return 'conflict';
    this.canonical.set(key, structuredClone(item));
    return 'written';
  }

  async getMapping(destination: string, entity: Entity, id: string): Promise<DeliveryMapping | undefined> {
    await this.enter('getMapping');
    const mapping = this.mappings.get(`${entity}#${id}#${destination}`);
    return mapping === undefined ? undefined : structuredClone(mapping);
  }

  async putMapping(mapping: DeliveryMapping, source: string): Promise<'written' | 'stale'> {
    await this.enter('putMapping');
    const version = mapping.versions[source];
    // DynamoDB rejects a condition value that is not there; so does this fake.
    if (version === undefined) throw new Error(`putMapping: mapping has no version for source "${source}"`);
    const key = `${mapping.entity}#${mapping.id}#${mapping.destination}`;
    const stored = this.mappings.get(key);
    const storedVersion = stored?.versions[source];
    if (storedVersion !== undefined && storedVersion > version) return 'stale';
    if (
      mapping.revision !== undefined &&
      stored?.revision !== undefined &&
      stored.revision > mapping.revision
    )
      return 'stale';
    this.mappings.set(key, structuredClone(mapping));
    return 'written';
  }

  async putQuarantine(item: QuarantineItem): Promise<void> {
    await this.enter('putQuarantine');
    const target = item.destination
      ? `${item.flow}#${item.destination}`
      : `route${item.recordId ? `#${item.recordId}` : ''}`;
    this.quarantine.set(`${item.stage}#${item.source}#${item.eventId}#${target}`, structuredClone(item));
  }

  async getShadow(
    flow: string,
    destination: string,
    entity: Entity,
    id: string,
  ): Promise<ShadowRecord | undefined> {
    await this.enter('getShadow');
    const record = this.shadows.get(`${flow}#${destination}#${entity}#${id}`);
    return record === undefined ? undefined : structuredClone(record);
  }

  async putShadow(record: ShadowRecord): Promise<'written' | 'stale'> {
    await this.enter('putShadow');
    const key = `${record.flow}#${record.destination}#${record.entity}#${record.id}`;
    const stored = this.shadows.get(key);
    const storedVersion = stored?.versions[record.source];
    if (storedVersion !== undefined && storedVersion > record.version) return 'stale';
    if (record.revision !== undefined && stored?.revision !== undefined && stored.revision > record.revision)
      return 'stale';
    this.shadows.set(key, structuredClone(record));
    return 'written';
  }
}
