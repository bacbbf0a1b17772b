import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { Entity } from '../core/config.js';
import { sha256Hex } from '../core/hashing.js';
import type {
  BreakerState,
  BreakerStore,
  CanonicalItem,
  DeliveryMapping,
  OpsStore,
  Page,
  PollStateStore,
  PossibleDuplicate,
  QuarantineItem,
  StateStore,
  StoredQuarantineItem,
} from '../core/ports.js';
import type { ShadowRecord } from '../core/shadow.js';
import { CoalescedGet } from './coalesced-get.js';

/** The document client every store here takes: optional fields left undefined are not written. */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error as Error).name === 'ConditionalCheckFailedException';

/**
 * A conditional write: `{ output }` when it was written, undefined when its condition did not hold
 * (an expected answer of a conditional write, not a failure). Any other error is thrown.
 */
async function ifConditionHolds<T>(write: Promise<T>): Promise<{ readonly output: T } | undefined> {
  try {
    return { output: await write };
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

/**
 * The state table: one DynamoDB table, single-item conditional writes only (no transactions:
 * dynalite lacks them, and a transactional write costs double).
 *
 *   XREF#<system>#<entity>#<external id> / XREF          -> canonical id
 *   NATURAL#<entity>#<sha256 of key>     / NATURAL       -> canonical id (email, order number)
 *   DUPLICATES                           / <entity>#a#b  -> possible duplicates, reported
 *   <entity>#<canonical id>              / CANONICAL     -> merged record, versions, revision
 *   <entity>#<canonical id>              / MAP#<dest>    -> what the destination holds
 *   QUARANTINE                           / <stage>#...   -> reasons and the payload to replay
 *   SHADOW#<flow>                        / <dest>#<entity>#<id> -> what a shadowed flow would send
 *   POLL#<source>                        / CURSOR        -> cursor, and the lease while a poll runs
 */
export class DynamoStateStore implements StateStore {
  /** Every read is strongly consistent; reads made at the same moment share a BatchGetItem. */
  private readonly reads: CoalescedGet;

  /**
   * @param reads - the table's coalesced reads, for sharing with another adapter of the same table
   *   (deliver's breaker store), so reads both make at once go out as one call
   *   @default - reads of its own
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly quarantineRetentionSeconds: number,
    reads: CoalescedGet = new CoalescedGet(client, tableName),
  ) {
    this.reads = reads;
  }

  private get(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
    return this.reads.get({ pk, sk });
  }

  private async conditionalPut(
    item: Record<string, unknown>,
    condition: string,
    names?: Record<string, string>,
    values?: Record<string, unknown>,
  ): Promise<boolean> {
    const written = await ifConditionHolds(
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: condition,
          ...(names ? { ExpressionAttributeNames: names } : {}),
          ...(values ? { ExpressionAttributeValues: values } : {}),
        }),
      ),
    );
    return written !== undefined;
  }

  async getXref(system: string, entity: Entity, externalId: string): Promise<string | undefined> {
    const item = await this.get(`XREF#${system}#${entity}#${externalId}`, 'XREF');
    return typeof item?.canonicalId === 'string' ? item.canonicalId : undefined;
  }

  /**
   * Puts `{pk, sk, canonicalId}` if the key is free and returns `canonicalId`; else returns the id
   * that holds the key. DynamoDB hands back the holder with the failed write
   * (ReturnValuesOnConditionCheckFailure, no charge), so a lost claim costs no read; it is read only
   * when the answer lacks it (dynalite ignores the option).
   */
  private async claim(pk: string, sk: string, canonicalId: string, what: string): Promise<string> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk, sk, canonicalId },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return canonicalId;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const returned = (error as ConditionalCheckFailedException).Item?.canonicalId?.S;
      const holder = returned ?? (await this.get(pk, sk))?.canonicalId;
      if (typeof holder !== 'string') throw new Error(`${what} was claimed but cannot be read back`);
      return holder;
    }
  }

  claimXref(system: string, entity: Entity, externalId: string, canonicalId: string): Promise<string> {
    const pk = `XREF#${system}#${entity}#${externalId}`;
    return this.claim(pk, 'XREF', canonicalId, `Xref ${pk}`);
  }

  claimNaturalKey(entity: Entity, key: string, canonicalId: string): Promise<string> {
    // Hashed: an email (or a phone and a name) is personal data, and keys end up in places values
    // do not (CloudTrail, error messages, exports).
    const pk = `NATURAL#${entity}#${sha256Hex(key)}`;
    return this.claim(pk, 'NATURAL', canonicalId, `A ${entity} natural key`);
  }

  async repointNaturalKey(entity: Entity, key: string, from: string, to: string): Promise<void> {
    // Refused when someone else already moved it: theirs is as good.
    await ifConditionHolds(
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `NATURAL#${entity}#${sha256Hex(key)}`, sk: 'NATURAL' },
          UpdateExpression: 'SET canonicalId = :to',
          ConditionExpression: 'canonicalId = :from',
          ExpressionAttributeValues: { ':from': from, ':to': to },
        }),
      ),
    );
  }

  async putPossibleDuplicate(item: PossibleDuplicate): Promise<void> {
    const [a, b] = [...item.ids].sort();
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: 'DUPLICATES', sk: `${item.entity}#${a}#${b}`, ...item },
      }),
    );
  }

  async getCanonical(entity: Entity, id: string): Promise<CanonicalItem | undefined> {
    const item = await this.get(`${entity}#${id}`, 'CANONICAL');
    if (!item) return undefined;
    return {
      entity,
      id,
      data: item.data as Record<string, unknown>,
      ...(typeof item.schemaVersion === 'number' ? { schemaVersion: item.schemaVersion } : {}),
      deleted: item.deleted === true,
      versions: item.versions as Record<string, number>,
      refs: item.refs as Record<string, string>,
      revision: item.revision as number,
      updatedAt: item.updatedAt as number,
    };
  }

  async putCanonical(
    item: CanonicalItem,
    expectedRevision: number | undefined,
  ): Promise<'written' | 'conflict'> {
    const written = await this.conditionalPut(
      { pk: `${item.entity}#${item.id}`, sk: 'CANONICAL', ...item },
      expectedRevision === undefined ? 'attribute_not_exists(pk)' : 'revision = :expected',
      undefined,
      expectedRevision === undefined ? undefined : { ':expected': expectedRevision },
    );
    return written ? 'written' : 'conflict';
  }

  async getMapping(destination: string, entity: Entity, id: string): Promise<DeliveryMapping | undefined> {
    const item = await this.get(`${entity}#${id}`, `MAP#${destination}`);
    if (!item) return undefined;
    return {
      destination,
      entity,
      id,
      ...(typeof item.destinationId === 'string' ? { destinationId: item.destinationId } : {}),
      versions: item.versions as Record<string, number>,
      contentHash: item.contentHash as string,
      updatedAt: item.updatedAt as number,
      ...(typeof item.eventId === 'string' ? { eventId: item.eventId } : {}),
      ...(typeof item.revision === 'number' ? { revision: item.revision } : {}),
    };
  }

  async putMapping(mapping: DeliveryMapping, source: string): Promise<'written' | 'stale'> {
    const version = mapping.versions[source];
    const written = await this.conditionalPut(
      { pk: `${mapping.entity}#${mapping.id}`, sk: `MAP#${mapping.destination}`, ...mapping },
      mapping.revision === undefined
        ? 'attribute_not_exists(pk) OR attribute_not_exists(versions.#source) OR versions.#source <= :version'
        : '(attribute_not_exists(pk) OR attribute_not_exists(versions.#source) OR versions.#source <= :version) AND (attribute_not_exists(#revision) OR #revision <= :revision)',
      mapping.revision === undefined ? { '#source': source } : { '#source': source, '#revision': 'revision' },
      mapping.revision === undefined
        ? { ':version': version }
        : { ':version': version, ':revision': mapping.revision },
    );
    return written ? 'written' : 'stale';
  }

  async putQuarantine(item: QuarantineItem): Promise<void> {
    const target = item.destination
      ? `${item.flow}#${item.destination}`
      : `route${item.recordId ? `#${item.recordId}` : ''}`;
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        // Keyed by event and target, so quarantining the same event again (a retry) overwrites.
        Item: {
          pk: 'QUARANTINE',
          sk: `${item.stage}#${item.source}#${item.eventId}#${target}`,
          ...item,
          expiresAt: Math.floor(item.quarantinedAt / 1000) + this.quarantineRetentionSeconds,
        },
      }),
    );
  }

  async getShadow(
    flow: string,
    destination: string,
    entity: Entity,
    id: string,
  ): Promise<ShadowRecord | undefined> {
    const item = await this.get(shadowPk(flow), shadowSk(destination, entity, id));
    return item ? toShadowRecord(item) : undefined;
  }

  async putShadow(record: ShadowRecord): Promise<'written' | 'stale'> {
    const guard =
      'attribute_not_exists(pk) OR attribute_not_exists(versions.#source) OR versions.#source <= :version';
    const written = await this.conditionalPut(
      { pk: shadowPk(record.flow), sk: shadowSk(record.destination, record.entity, record.id), ...record },
      record.revision === undefined
        ? guard
        : `(${guard}) AND (attribute_not_exists(#revision) OR #revision <= :revision)`,
      record.revision === undefined
        ? { '#source': record.source }
        : { '#source': record.source, '#revision': 'revision' },
      record.revision === undefined
        ? { ':version': record.version }
        : { ':version': record.version, ':revision': record.revision },
    );
    return written ? 'written' : 'stale';
  }
}

const shadowPk = (flow: string) => `SHADOW#${flow}`;
const shadowSk = (destination: string, entity: Entity, id: string) => `${destination}#${entity}#${id}`;
function toShadowRecord(item: Record<string, unknown>): ShadowRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as ShadowRecord;
}

/**
 * Lease and cursor of a polled source on one item, `POLL#<source>` / `CURSOR`: `cursor`, and while a
 * poll runs `owner` and `until`. One item, so a poll takes the lease and reads the cursor in one
 * conditional UpdateItem (ReturnValues ALL_OLD, which costs nothing more), and advances the cursor and
 * releases the lease in another: two write units and two round trips per poll where a lease item
 * and a cursor item took three writes, a read and four round trips.
 *
 * The cursor item is where earlier versions kept the cursor alone, so an upgraded hub polls on from
 * it. Their `POLL#<source>` / `LEASE` items are no longer read (they expire as leases do; a poll of
 * the old code running during the deploy can overlap one of the new, and the re-read rows are
 * absorbed downstream, as a lookback's are).
 */
export class DynamoPollStateStore implements PollStateStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private key(source: string) {
    return { pk: `POLL#${source}`, sk: 'CURSOR' };
  }

  /** A conditional UpdateItem: `{ output }`, or undefined when its condition did not hold. */
  private update(input: Omit<UpdateCommandInput, 'TableName'>) {
    return ifConditionHolds(this.client.send(new UpdateCommand({ TableName: this.tableName, ...input })));
  }

  async acquireLease(
    source: string,
    owner: string,
    untilMs: number,
    nowMs: number,
  ): Promise<{ readonly cursor: number | undefined } | undefined> {
    const taken = await this.update({
      Key: this.key(source),
      UpdateExpression: 'SET #owner = :owner, #until = :until',
      ConditionExpression: 'attribute_not_exists(#owner) OR #until < :now OR #owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
      ExpressionAttributeValues: { ':owner': owner, ':until': untilMs, ':now': nowMs },
      ReturnValues: 'ALL_OLD',
    });
    if (!taken) return undefined;
    const cursor = taken.output.Attributes?.cursor;
    return { cursor: typeof cursor === 'number' ? cursor : undefined };
  }

  async releaseLease(
    source: string,
    owner: string,
    advance?: { readonly expected: number | undefined; readonly next: number },
  ): Promise<'released' | 'advanced' | 'conflict'> {
    const release = {
      Key: this.key(source),
      ExpressionAttributeNames: { '#owner': 'owner', '#until': 'until' },
    };
    if (advance) {
      const advanced = await this.update({
        ...release,
        UpdateExpression: 'SET #cursor = :next REMOVE #owner, #until',
        ConditionExpression: `#owner = :owner AND ${advance.expected === undefined ? 'attribute_not_exists(#cursor)' : '#cursor = :expected'}`,
        ExpressionAttributeNames: { ...release.ExpressionAttributeNames, '#cursor': 'cursor' },
        ExpressionAttributeValues: {
          ':owner': owner,
          ':next': advance.next,
          ...(advance.expected === undefined ? {} : { ':expected': advance.expected }),
        },
      });
      if (advanced) return 'advanced';
    }
    // No cursor to move, or it moved under this poll (rare: its lease ran out and another poll
    // took it): release the lease if it is still ours, else it is someone else's to release.
    await this.update({
      ...release,
      UpdateExpression: 'REMOVE #owner, #until',
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeValues: { ':owner': owner },
    });
    return advance ? 'conflict' : 'released';
  }

  async getCursor(source: string): Promise<number | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: this.key(source), ConsistentRead: true }),
    );
    return typeof result.Item?.cursor === 'number' ? result.Item.cursor : undefined;
  }
}

const encodePosition = (key: Record<string, unknown> | undefined) =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
const decodePosition = (position: string | undefined) =>
  position
    ? (JSON.parse(Buffer.from(position, 'base64url').toString('utf8')) as Record<string, unknown>)
    : undefined;

/** Operators' reads over the state table: queries by partition, scans for the canonical store. */
export class DynamoOpsStore implements OpsStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async listQuarantine(limit: number, after?: string): Promise<Page<StoredQuarantineItem>> {
    const start = decodePosition(after);
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'QUARANTINE' },
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const next = encodePosition(result.LastEvaluatedKey);
    return {
      items: (result.Items ?? []).map((item) => ({ ...(item as QuarantineItem), key: String(item.sk) })),
      ...(next ? { next } : {}),
    };
  }

  async getQuarantine(key: string): Promise<StoredQuarantineItem | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: 'QUARANTINE', sk: key }, ConsistentRead: true }),
    );
    return result.Item ? { ...(result.Item as QuarantineItem), key } : undefined;
  }

  async deleteQuarantine(key: string): Promise<void> {
    await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: 'QUARANTINE', sk: key } }),
    );
  }

  async scanCanonical(entity: Entity, limit: number, after?: string): Promise<Page<CanonicalItem>> {
    const start = decodePosition(after);
    const result = await this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        FilterExpression: 'sk = :sk AND #entity = :entity',
        ExpressionAttributeNames: { '#entity': 'entity' },
        ExpressionAttributeValues: { ':sk': 'CANONICAL', ':entity': entity },
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const next = encodePosition(result.LastEvaluatedKey);
    return { items: (result.Items ?? []) as CanonicalItem[], ...(next ? { next } : {}) };
  }

  async listPossibleDuplicates(entity: Entity): Promise<readonly PossibleDuplicate[]> {
    const items: PossibleDuplicate[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :entity)',
          ExpressionAttributeValues: { ':pk': 'DUPLICATES', ':entity': `${entity}#` },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...((result.Items ?? []) as PossibleDuplicate[]));
      start = result.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async getDocument<T>(name: string): Promise<T | undefined> {
    const result = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: 'DOCUMENT', sk: name }, ConsistentRead: true }),
    );
    return result.Item?.value as T | undefined;
  }

  async putDocument(name: string, value: unknown): Promise<void> {
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: 'DOCUMENT', sk: name, value } }),
    );
  }

  async listShadow(flow: string, limit: number, after?: string): Promise<Page<ShadowRecord>> {
    const start = decodePosition(after);
    const result = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': shadowPk(flow) },
        ConsistentRead: true,
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const next = encodePosition(result.LastEvaluatedKey);
    return { items: (result.Items ?? []).map(toShadowRecord), ...(next ? { next } : {}) };
  }

  async markShadowPromoted(record: ShadowRecord, at: number): Promise<boolean> {
    const marked = await ifConditionHolds(
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: shadowPk(record.flow), sk: shadowSk(record.destination, record.entity, record.id) },
          UpdateExpression: 'SET promotedAt = :at',
          ConditionExpression: 'idempotencyKey = :key AND attribute_not_exists(promotedAt)',
          ExpressionAttributeValues: { ':at': at, ':key': record.idempotencyKey },
        }),
      ),
    );
    return marked !== undefined;
  }

  async clearShadowPromoted(record: ShadowRecord, at: number): Promise<void> {
    // Refused when a newer shadow record replaced it meanwhile: nothing of ours to undo.
    await ifConditionHolds(
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: shadowPk(record.flow), sk: shadowSk(record.destination, record.entity, record.id) },
          UpdateExpression: 'REMOVE promotedAt',
          ConditionExpression: 'promotedAt = :at',
          ExpressionAttributeValues: { ':at': at },
        }),
      ),
    );
  }
}

/**
 * Circuit breakers: `BREAKER#<destination>` / `BREAKER`. A brake, not a lock: the last writer wins,
 * except that no write shortens a pause in effect (a conditional put).
 */
export class DynamoBreakerStore implements BreakerStore {
  /**
   * @param reads - the state store's coalesced reads: deliver reads the breaker and a batch's
   *   mappings at the same moment, and they share one BatchGetItem
   *   @default - reads of its own (strongly consistent, as every breaker read must be)
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly reads: CoalescedGet = new CoalescedGet(client, tableName),
  ) {}

  async getBreaker(destination: string): Promise<BreakerState | undefined> {
    const item = await this.reads.get({ pk: `BREAKER#${destination}`, sk: 'BREAKER' });
    return item
      ? {
          failures: Number(item.failures),
          openUntil: Number(item.openUntil),
          openSeconds: Number(item.openSeconds),
        }
      : undefined;
  }

  async putBreaker(destination: string, state: BreakerState, nowMs: number): Promise<boolean> {
    const written = await ifConditionHolds(
      this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: `BREAKER#${destination}`, sk: 'BREAKER', ...state },
          ConditionExpression: 'attribute_not_exists(pk) OR openUntil <= :now OR openUntil <= :until',
          ExpressionAttributeValues: { ':now': nowMs, ':until': state.openUntil },
        }),
      ),
    );
    return written !== undefined;
  }
}
