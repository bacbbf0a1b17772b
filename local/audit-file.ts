import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AuditEntry, AuditTrail } from '../functions/core/ports.js';

export const AUDIT_FILE = 'audit.jsonl';

const DAY_MS = 86_400_000;

/** What opening the file found: how much was dropped, so the start can say so. */
export interface AuditOpenReport {
  readonly kept: number;
  /** Entries older than the retention, removed from the file. */
  readonly pruned: number;
  /** Lines that did not parse (a torn last line after a kill, or damage); skipped, never fatal. */
  readonly unreadable: number;
}

/**
 * The local audit trail: an append-only JSONL file in the data directory (one entry per line),
 * indexed in memory by event id and by entity (canonical id and `system:externalId`). It is read
 * back at start and pruned to the retention there (rewritten to a temporary file and renamed, so
 * a kill mid-compaction leaves the old file). Appends are batched per tick and not fsynced: a
 * SIGKILL can lose the last moment of the trail, never the queues (they have their own journal).
 * Without a file (an in-memory hub) it is the same index, gone with the process.
 */
export class LocalAuditTrail implements AuditTrail {
  private readonly entries: AuditEntry[] = [];
  private readonly byEventId = new Map<string, AuditEntry[]>();
  private readonly byEntityKey = new Map<string, Set<string>>();
  /** Lines not yet appended, each with the sequence number of its entry. */
  private pending: { readonly seq: number; readonly line: string }[] = [];
  private seq = 0;
  /** Entries up to this number are in the file by a rewrite: their pending appends are skipped. */
  private rewrittenThrough = 0;
  private writing: Promise<void> = Promise.resolve();
  private scheduled = false;
  private failure: unknown;

  private constructor(
    private readonly file: string | undefined,
    private readonly retentionMs: number,
  ) {}

  /** Opens (or starts) the trail in `dataDir`; `dataDir` undefined keeps it in memory only. */
  static async open(
    dataDir: string | undefined,
    options: { readonly retentionDays: number; readonly now: number },
  ): Promise<{ trail: LocalAuditTrail; report: AuditOpenReport }> {
    const file = dataDir === undefined ? undefined : join(dataDir, AUDIT_FILE);
    const trail = new LocalAuditTrail(file, options.retentionDays * DAY_MS);
    if (!file) return { trail, report: { kept: 0, pruned: 0, unreadable: 0 } };
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const cutoff = options.now - trail.retentionMs;
    let pruned = 0;
    let unreadable = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const entry = parseEntry(line);
      if (!entry) unreadable += 1;
      else if (entry.at < cutoff) pruned += 1;
      else trail.index(entry);
    }
    if (pruned > 0 || unreadable > 0) await trail.compact();
    else await mkdir(dirname(file), { recursive: true });
    return { trail, report: { kept: trail.entries.length, pruned, unreadable } };
  }

  record(entries: readonly AuditEntry[]): void {
    for (const entry of entries) {
      if (!entry.eventId) continue;
      this.index(entry);
      this.seq += 1;
      if (this.file) this.pending.push({ seq: this.seq, line: `${JSON.stringify(entry)}\n` });
    }
    if (this.file && this.pending.length > 0 && !this.scheduled) {
      this.scheduled = true;
      // One append per tick for everything recorded in it: the hot path never waits on the disk.
      setImmediate(() => {
        this.scheduled = false;
        void this.flush();
      });
    }
  }

  /** Resolves once everything recorded so far is in the file. */
  flush(): Promise<void> {
    const file = this.file;
    if (!file || this.pending.length === 0) return this.writing;
    const lines = this.pending;
    this.pending = [];
    this.writing = this.writing.then(() => {
      const chunk = lines
        .filter((l) => l.seq > this.rewrittenThrough)
        .map((l) => l.line)
        .join('');
      if (chunk === '') return;
      return appendFile(file, chunk).catch((error: unknown) => {
        // Kept for the next start's report; the pipeline must not fail because the trail did.
        this.failure = error;
      });
    });
    return this.writing;
  }

  /**
   * Drops what is older than the retention, from the index and the file (a long-running hub calls
   * it periodically; the start does it too). Queued behind pending appends, so no line is lost.
   */
  async prune(now: number): Promise<number> {
    const cutoff = now - this.retentionMs;
    const kept = this.entries.filter((e) => e.at >= cutoff);
    const dropped = this.entries.length - kept.length;
    if (dropped === 0) return 0;
    this.entries.length = 0;
    this.byEventId.clear();
    this.byEntityKey.clear();
    for (const entry of kept) this.index(entry);
    this.writing = this.writing.then(() => this.compact());
    await this.writing;
    return dropped;
  }

  /** The last append error, if any (the runtime logs it at stop). */
  get writeError(): unknown {
    return this.failure;
  }

  /** Rewrites the file with what the index holds (only entries within the retention). */
  private async compact(): Promise<void> {
    if (!this.file) return;
    await mkdir(dirname(this.file), { recursive: true });
    const temporary = `${this.file}.tmp`;
    // Everything indexed so far is in this rewrite; appends still queued for it are skipped.
    const text = this.entries.map((e) => `${JSON.stringify(e)}\n`).join('');
    this.rewrittenThrough = this.seq;
    await writeFile(temporary, text);
    await rename(temporary, this.file);
  }

  private index(entry: AuditEntry): void {
    this.entries.push(entry);
    const list = this.byEventId.get(entry.eventId);
    if (list) list.push(entry);
    else this.byEventId.set(entry.eventId, [entry]);
    for (const key of entityKeys(entry)) {
      const events = this.byEntityKey.get(key);
      if (events) events.add(entry.eventId);
      else this.byEntityKey.set(key, new Set([entry.eventId]));
    }
  }

  /** One event's transitions, in time order. */
  event(eventId: string): readonly AuditEntry[] {
    return sortByTime(this.byEventId.get(eventId) ?? []);
  }

  /** The events that touched an entity (canonical id, or `system:externalId`), oldest first. */
  eventsOfEntity(key: string): readonly string[] {
    const ids = [...(this.byEntityKey.get(key) ?? [])];
    const firstAt = (id: string) =>
      this.byEventId.get(id)?.reduce((min, e) => Math.min(min, e.at), Infinity) ?? 0;
    return ids.sort((a, b) => firstAt(a) - firstAt(b));
  }

  /** Every entry held, oldest first (for replay by filter). */
  all(): readonly AuditEntry[] {
    return sortByTime(this.entries);
  }
}

const sortByTime = (entries: readonly AuditEntry[]) => [...entries].sort((a, b) => a.at - b.at);

/** The keys an entry is found by as an entity: its canonical id and its `source:sourceId`. */
function entityKeys(entry: AuditEntry): string[] {
  const keys: string[] = [];
  if (entry.id) keys.push(entry.id);
  if (entry.source && entry.sourceId) keys.push(`${entry.source}:${entry.sourceId}`);
  return keys;
}

function parseEntry(line: string): AuditEntry | undefined {
  try {
    const value = JSON.parse(line) as Partial<AuditEntry> | null;
    if (
      !value ||
      typeof value.eventId !== 'string' ||
      typeof value.at !== 'number' ||
      typeof value.stage !== 'string' ||
      typeof value.outcome !== 'string'
    )
      return undefined;
    return value as AuditEntry;
  } catch {
    return undefined;
  }
}
