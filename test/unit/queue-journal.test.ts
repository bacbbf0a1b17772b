import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FauxqsMessage } from '../../local/fauxqs-store.js';
import { JOURNAL_FILE, JournalError, QueueJournal, readJournal } from '../../local/queue-journal.js';

const message = (id: string, extra: Partial<FauxqsMessage> = {}): FauxqsMessage => ({
  messageId: id,
  body: `{"n":"${id}"}`,
  messageAttributes: {},
  ...extra,
});

describe('queue journal', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-journal-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const opened = async () => {
    const journal = new QueueJournal(dir);
    await journal.open();
    return journal;
  };

  it('reads back what was sent and not deleted, with group and deduplication ids, in send order', async () => {
    const journal = await opened();
    journal.enqueued(
      'lane.fifo',
      message('a', { messageGroupId: 'customer#1', messageDeduplicationId: 'd-a' }),
    );
    journal.enqueued('inbound', message('b'));
    journal.enqueued('inbound', message('c'));
    journal.deleted('inbound', 'b');
    await journal.sync();
    const recovered = await readJournal(dir);
    expect(recovered.found).toBe(true);
    expect(recovered.tornTail).toBe(false);
    expect(recovered.messages).toEqual([
      { queue: 'lane.fifo', id: 'a', body: '{"n":"a"}', groupId: 'customer#1', dedupId: 'd-a' },
      { queue: 'inbound', id: 'c', body: '{"n":"c"}' },
    ]);
    await journal.close();
  });

  it('follows a message fauxqs moves to its DLQ, and drops a purged queue', async () => {
    const journal = await opened();
    journal.enqueued('inbound', message('a'));
    journal.enqueued('inbound', message('b'));
    journal.enqueued('other', message('c'));
    // fauxqs moves a message by enqueueing the same message object on the DLQ.
    journal.enqueued('inbound-dlq', message('a'));
    journal.purged('inbound');
    await journal.close();
    expect((await readJournal(dir)).messages.map((m) => [m.queue, m.id])).toEqual([
      ['inbound-dlq', 'a'],
      ['other', 'c'],
    ]);
  });

  it('tolerates a torn last line (a write the kill cut short was never acknowledged)', async () => {
    const journal = await opened();
    journal.enqueued('inbound', message('a'));
    await journal.close();
    await appendFile(join(dir, JOURNAL_FILE), '{"s":"b","q":"inbound","b":"{\\"n');
    const recovered = await readJournal(dir);
    expect(recovered.tornTail).toBe(true);
    expect(recovered.messages.map((m) => m.id)).toEqual(['a']);
  });

  it('fails naming the file and the line when a line before the last is damaged', async () => {
    await writeFile(join(dir, JOURNAL_FILE), '{"s":"a","q":"inbound","b":"x"}\nnot json\n{"x":"a"}\n');
    const error = await readJournal(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JournalError);
    expect((error as Error).message).toContain(`${JOURNAL_FILE} is damaged at line 2`);
  });

  it('reports no journal on a first start', async () => {
    expect(await readJournal(dir)).toEqual({ messages: [], found: false, tornTail: false });
  });

  it('opens by rewriting the file with only the live messages', async () => {
    await writeFile(
      join(dir, JOURNAL_FILE),
      '{"s":"a","q":"inbound","b":"x"}\n{"s":"b","q":"inbound","b":"y"}\n{"x":"a"}\n',
    );
    const recovered = await readJournal(dir);
    // What the runtime does at start: re-send (fauxqs reports the new message), then open.
    const journal = new QueueJournal(dir);
    for (const m of recovered.messages) journal.enqueued(m.queue, message(`new-${m.id}`, { body: m.body }));
    await journal.sync();
    // Until open() nothing is written: a crash while re-sending leaves the old file as it was.
    expect((await readFile(join(dir, JOURNAL_FILE), 'utf8')).split('\n')).toHaveLength(4);
    await journal.open();
    expect(await readFile(join(dir, JOURNAL_FILE), 'utf8')).toBe('{"s":"new-b","q":"inbound","b":"y"}\n');
    await journal.close();
  });

  it('compacts while running once deleted entries far outnumber live ones', async () => {
    const journal = await opened();
    for (let n = 0; n < 3_000; n++) {
      journal.enqueued('inbound', message(`m${n}`));
      if (n % 100 !== 0) journal.deleted('inbound', `m${n}`);
      if (n % 500 === 0) await journal.sync();
    }
    await journal.sync();
    // One more flush sees the file is mostly dead lines and rewrites it.
    journal.enqueued('inbound', message('last'));
    await journal.sync();
    const lines = (await readFile(join(dir, JOURNAL_FILE), 'utf8')).trim().split('\n');
    expect(lines.length).toBeLessThan(100);
    expect((await readJournal(dir)).messages).toHaveLength(31);
    await journal.close();
  });

  it('makes concurrent appends durable together (group commit) and all of them readable', async () => {
    const journal = await opened();
    const waits = Array.from({ length: 200 }, (_, n) => {
      journal.enqueued('inbound', message(`c${n}`));
      return journal.sync();
    });
    await Promise.all(waits);
    expect((await readJournal(dir)).messages).toHaveLength(200);
    expect(journal.flushes).toBeLessThan(10);
    await journal.close();
  });

  it('refuses to acknowledge anything after a write failed', async () => {
    // A directory that cannot exist: the first write fails, and so does every sync after it.
    const broken = new QueueJournal(join(dir, 'missing', '\0bad'));
    broken.enqueued('inbound', message('a'));
    await expect(broken.open()).rejects.toBeInstanceOf(JournalError);
    broken.enqueued('inbound', message('b'));
    await expect(broken.sync()).rejects.toThrow(/cannot write the queue journal/);
  });
});
