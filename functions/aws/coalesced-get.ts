import { BatchGetCommand, type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';

/** The key of an item in the state table. */
export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

type Item = Record<string, unknown>;

interface Waiting {
  readonly key: ItemKey;
  readonly callers: { resolve(item: Item | undefined): void; reject(error: unknown): void }[];
}

/** BatchGetItem's limit on keys per call. */
const MAX_KEYS_PER_CALL = 100;
/** Calls for keys a BatchGetItem left unprocessed (throttled, or past its 16 MB answer) before each is read alone. */
const UNPROCESSED_RETRIES = 2;
const UNPROCESSED_DELAY_MS = 25;

const keyId = (key: ItemKey) => `${key.pk}\u0000${key.sk}`;

/** Answers every caller of one key; each gets its own copy, so no caller sees another's changes. */
function settle(entry: Waiting, item: Item | undefined): void {
  for (const [i, caller] of entry.callers.entries()) {
    caller.resolve(i === 0 || !item ? item : structuredClone(item));
  }
}

/**
 * Strongly consistent single-item reads, coalesced: the reads asked for in one turn of the event loop
 * go out as one BatchGetItem, a lone read as a GetItem. Route runs the records of an inbound batch
 * in parallel, so their lookups (the canonical item at each record's derived id, then the xrefs of
 * those not found) share a call: about two calls per batch of ten new records where there were
 * twenty. BatchGetItem bills each item as GetItem does, so the read units do not change.
 *
 * Nothing is lost and no read fails for another's sake: a key asked for twice is read once for both
 * (each gets its own copy); keys a BatchGetItem leaves unprocessed are asked for again, then read
 * alone; and when a BatchGetItem call fails, the keys it did not answer are read alone, so a caller
 * fails only when its own read does (with that read's error).
 */
export class CoalescedGet {
  private waiting = new Map<string, Waiting>();
  private scheduled = false;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  get(key: ItemKey): Promise<Item | undefined> {
    return new Promise((resolve, reject) => {
      const id = keyId(key);
      const entry = this.waiting.get(id) ?? { key, callers: [] };
      entry.callers.push({ resolve, reject });
      this.waiting.set(id, entry);
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: the parallel records reach their first read after a few
        // awaits each, all within this turn of the loop.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const entries = [...this.waiting.values()];
    this.waiting = new Map();
    this.scheduled = false;
    for (let start = 0; start < entries.length; start += MAX_KEYS_PER_CALL) {
      void this.read(entries.slice(start, start + MAX_KEYS_PER_CALL));
    }
  }

  /** Settles every caller of `entries`; never rejects itself. */
  private async read(entries: readonly Waiting[]): Promise<void> {
    const unread = { left: entries };
    if (entries.length > 1) {
      try {
        await this.readTogether(unread);
      } catch {
        // A call failed as a whole (a network error, a throttle the SDK gave up on): the keys it did
        // not answer are read on their own below, and each caller gets its own read's outcome.
      }
    }
    await Promise.all(unread.left.map((entry) => this.readAlone(entry)));
  }

  /** Reads `unread.left` with BatchGetItem, settling those it answers and leaving the rest in it. */
  private async readTogether(unread: { left: readonly Waiting[] }): Promise<void> {
    for (let attempt = 0; attempt <= UNPROCESSED_RETRIES && unread.left.length > 0; attempt++) {
      const left = unread.left;
      if (attempt > 0) await this.sleep(UNPROCESSED_DELAY_MS * 2 ** (attempt - 1));
      const result = await this.client.send(
        new BatchGetCommand({
          RequestItems: {
            [this.tableName]: { Keys: left.map((entry) => ({ ...entry.key })), ConsistentRead: true },
          },
        }),
      );
      const found = new Map<string, Item>();
      for (const item of result.Responses?.[this.tableName] ?? []) {
        found.set(keyId({ pk: String(item.pk), sk: String(item.sk) }), item);
      }
      const unprocessed = new Set(
        (result.UnprocessedKeys?.[this.tableName]?.Keys ?? []).map((key) =>
          keyId({ pk: String(key.pk), sk: String(key.sk) }),
        ),
      );
      const next: Waiting[] = [];
      for (const entry of left) {
        const id = keyId(entry.key);
        if (unprocessed.has(id)) next.push(entry);
        else settle(entry, found.get(id));
      }
      unread.left = next;
    }
  }

  private async readAlone(entry: Waiting): Promise<void> {
    try {
      const result = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { ...entry.key }, ConsistentRead: true }),
      );
      settle(entry, result.Item);
    } catch (error) {
      for (const caller of entry.callers) caller.reject(error);
    }
  }
}
