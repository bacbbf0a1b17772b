import { type FileHandle, mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { FauxqsMessage, QueueObserver } from './fauxqs-store.js';

/**
 * fauxqs keeps queues in memory, so the local runtime keeps a write-ahead journal of them in the
 * data directory: one JSON line per change (a message sent, moved to a DLQ, deleted; a queue
 * purged), appended as the change happens and made durable (fdatasync) before fauxqs answers the
 * request that made it. So whatever a client was told is queued (a SendMessage that resolved, the
 * ingest step's send before the webhook's 202) survives a SIGKILL, and so does every delete and DLQ
 * move a client or poller saw. Visibility timeouts and receive counts are not journaled: after a
 * restart every message is visible at once with a fresh receive count.
 *
 * Group commit: appends wait for the next flush, and one write + fdatasync covers everything
 * appended since the previous one, so concurrent requests share a sync.
 *
 * Compaction rewrites the file with only the live messages (temp file, fdatasync, rename): at start
 * and whenever the lines written outnumber the live messages by far.
 */

export const JOURNAL_FILE = 'queues.journal';

/** A message the journal says is still queued. */
export interface JournaledMessage {
  readonly queue: string;
  readonly id: string;
  readonly body: string;
  readonly attributes?: FauxqsMessage['messageAttributes'];
  readonly groupId?: string;
  readonly dedupId?: string;
}

type Line =
  | { s: string; q: string; b: string; a?: JournaledMessage['attributes']; g?: string; d?: string }
  | { m: string; q: string }
  | { x: string }
  | { p: string };

export class JournalError extends Error {
  override readonly name = 'JournalError';
}

/** Compaction once this many lines are written and they are more than twice the live messages. */
const COMPACT_MIN_LINES = 2_000;

export interface RecoveredJournal {
  /** Live messages in the order they were first sent. */
  readonly messages: JournaledMessage[];
  /** Whether a journal file was there at all. */
  readonly found: boolean;
  /** Whether its last line was cut short (the process died mid-write: that change was not acknowledged). */
  readonly tornTail: boolean;
}

function apply(live: Map<string, JournaledMessage>, line: Line): void {
  if ('s' in line) {
    live.set(line.s, {
      queue: line.q,
      id: line.s,
      body: line.b,
      ...(line.a ? { attributes: line.a } : {}),
      ...(line.g !== undefined ? { groupId: line.g } : {}),
      ...(line.d !== undefined ? { dedupId: line.d } : {}),
    });
  } else if ('m' in line) {
    const message = live.get(line.m);
    if (message) live.set(line.m, { ...message, queue: line.q });
  } else if ('x' in line) {
    live.delete(line.x);
  } else {
    for (const [id, message] of live) if (message.queue === line.p) live.delete(id);
  }
}

const toLine = (m: JournaledMessage): Line => ({
  s: m.id,
  q: m.queue,
  b: m.body,
  ...(m.attributes ? { a: m.attributes } : {}),
  ...(m.groupId !== undefined ? { g: m.groupId } : {}),
  ...(m.dedupId !== undefined ? { d: m.dedupId } : {}),
});

/** Reads the journal in `dataDir`: the live messages, tolerating a torn last line. */
export async function readJournal(dataDir: string): Promise<RecoveredJournal> {
  const path = join(dataDir, JOURNAL_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { messages: [], found: false, tornTail: false };
    throw new JournalError(`cannot read the queue journal ${path}`, { cause: error });
  }
  const live = new Map<string, JournaledMessage>();
  const lines = text.split('\n');
  // A complete file ends with a newline, so the last element is '' unless the last write was cut.
  const tail = lines.pop() ?? '';
  for (const [index, raw] of lines.entries()) {
    if (raw === '') continue;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch (error) {
      throw new JournalError(
        `the queue journal ${path} is damaged at line ${index + 1} (not the last line, so not a cut-short write); move it away to start with empty queues`,
        { cause: error },
      );
    }
    apply(live, line);
  }
  return { messages: [...live.values()], found: true, tornTail: tail !== '' };
}

/**
 * The journal while the runtime runs. Until `open()` it only keeps the live set in memory (the
 * runtime re-sends what was recovered, then `open()` writes the file afresh, so a crash while
 * re-sending leaves the previous file in place).
 */
export class QueueJournal implements QueueObserver {
  private readonly live = new Map<string, JournaledMessage>();
  private pending: string[] = [];
  private appended = 0;
  private durableUpTo = 0;
  private linesInFile = 0;
  private file: FileHandle | undefined;
  private flushing: Promise<void> | undefined;
  private failure: JournalError | undefined;
  private closed = false;
  private syncs = 0;

  constructor(private readonly dataDir: string) {}

  get path(): string {
    return join(this.dataDir, JOURNAL_FILE);
  }

  /** How many writes + fdatasyncs the journal made (group commit shares them). */
  get flushes(): number {
    return this.syncs;
  }

  /** How many messages the journal holds as queued right now. */
  get liveMessages(): number {
    return this.live.size;
  }

  enqueued(queue: string, message: FauxqsMessage): void {
    const known = this.live.get(message.messageId);
    if (known) {
      // The same message arriving in another queue: fauxqs moving it to its DLQ.
      this.live.set(message.messageId, { ...known, queue });
      this.append({ m: message.messageId, q: queue });
      return;
    }
    const entry: JournaledMessage = {
      queue,
      id: message.messageId,
      body: message.body,
      ...(Object.keys(message.messageAttributes).length > 0 ? { attributes: message.messageAttributes } : {}),
      ...(message.messageGroupId !== undefined ? { groupId: message.messageGroupId } : {}),
      ...(message.messageDeduplicationId !== undefined ? { dedupId: message.messageDeduplicationId } : {}),
    };
    this.live.set(entry.id, entry);
    this.append(toLine(entry));
  }

  deleted(_queue: string, messageId: string): void {
    if (this.live.delete(messageId)) this.append({ x: messageId });
  }

  purged(queue: string): void {
    let any = false;
    for (const [id, message] of this.live) {
      if (message.queue !== queue) continue;
      this.live.delete(id);
      any = true;
    }
    if (any) this.append({ p: queue });
  }

  private append(line: Line): void {
    if (this.closed) return;
    this.pending.push(`${JSON.stringify(line)}\n`);
    this.appended += 1;
  }

  /** Writes the live set to a fresh file (atomically) and starts appending to it. */
  async open(): Promise<void> {
    await this.sync();
    while (this.flushing) await this.flushing;
    this.start(() => this.compact());
    await this.flushing;
    if (this.failure) throw this.failure;
  }

  /**
   * Resolves once every change observed so far is on disk. Rejects, from then on, after a write
   * failed: the runtime must not acknowledge what it cannot keep.
   */
  async sync(): Promise<void> {
    const target = this.appended;
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.durableUpTo >= target) return;
      // One flush at a time; callers that arrive meanwhile share the next one.
      if (this.flushing) await this.flushing;
      else this.start(() => this.flush());
    }
  }

  private start(step: () => Promise<void>): void {
    this.flushing = step()
      .catch((error: unknown) => {
        this.failure ??= new JournalError(`cannot write the queue journal ${this.path}`, { cause: error });
      })
      .finally(() => {
        this.flushing = undefined;
      });
  }

  private async flush(): Promise<void> {
    const upTo = this.appended;
    if (!this.file) {
      // Not open yet (recovering): nothing goes to disk until open() writes the whole live set.
      this.pending = [];
      this.durableUpTo = upTo;
      return;
    }
    if (this.linesInFile > COMPACT_MIN_LINES && this.linesInFile > 2 * this.live.size) return this.compact();
    const lines = this.pending;
    this.pending = [];
    if (lines.length > 0) {
      await this.file.write(lines.join(''));
      await this.file.datasync();
      this.syncs += 1;
      this.linesInFile += lines.length;
    }
    this.durableUpTo = upTo;
  }

  private async compact(): Promise<void> {
    // The live set already reflects every pending line, so they are dropped, not written.
    const upTo = this.appended;
    this.pending = [];
    const content = [...this.live.values()].map((m) => `${JSON.stringify(toLine(m))}\n`).join('');
    const count = this.live.size;
    await mkdir(this.dataDir, { recursive: true });
    const temp = `${this.path}.tmp`;
    const handle = await open(temp, 'w');
    try {
      await handle.write(content);
      await handle.datasync();
      this.syncs += 1;
    } finally {
      await handle.close();
    }
    await rename(temp, this.path);
    await syncDirectory(this.dataDir);
    await this.file?.close();
    this.file = await open(this.path, 'a');
    this.linesInFile = count;
    this.durableUpTo = upTo;
  }

  /** Makes the last changes durable and closes the file. */
  async close(): Promise<void> {
    await this.sync();
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.file?.close();
    this.file = undefined;
  }
}

/** A rename is durable once the directory is synced (POSIX); Windows cannot open a directory. */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
