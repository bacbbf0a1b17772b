import { describe, expect, it } from 'vitest';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import type { Envelope } from '../../functions/core/messages.js';
import { type PollDeps, pollSource } from '../../functions/core/poll.js';
import type { PollStateStore } from '../../functions/core/ports.js';
import { ManualClock, MemoryLog, MemorySecretStore, MemoryTelemetry } from '../support/fakes.js';

const ERP_URL = 'https://erp.example.com/api/customers';

function erpConfig(): SwitchyardConfig {
  return loadConfig({
    name: 'polltest',
    sources: {
      erp: {
        connector: 'rest-poll',
        schedule: 'rate(1 minute)',
        url: ERP_URL,
        secret: 'erp/token',
        auth: { type: 'bearer' },
        items: 'data',
        lookbackSeconds: 0,
        map: { entity: 'customer', id: 'id', version: 'updated_at', fields: { email: 'email' } },
      },
    },
    destinations: {},
    flows: [],
  });
}

/** Leases and cursors in memory, with the order of every call, as the Dynamo store keeps them. */
class MemoryPollState implements PollStateStore {
  readonly calls: string[] = [];
  lease: { owner: string; until: number } | undefined;
  cursor: number | undefined;
  /** Set to model another poll that wrote the cursor after this one read it. */
  cursorWrittenElsewhere: number | undefined;

  async acquireLease(_source: string, owner: string, untilMs: number, nowMs: number): Promise<boolean> {
    this.calls.push('acquireLease');
    if (this.lease && this.lease.until >= nowMs && this.lease.owner !== owner) return false;
    this.lease = { owner, until: untilMs };
    return true;
  }

  async releaseLease(_source: string, owner: string): Promise<void> {
    this.calls.push('releaseLease');
    if (this.lease?.owner === owner) this.lease = undefined;
  }

  async getCursor(): Promise<number | undefined> {
    this.calls.push('getCursor');
    const read = this.cursor;
    if (this.cursorWrittenElsewhere !== undefined) this.cursor = this.cursorWrittenElsewhere;
    return read;
  }

  async putCursor(
    _source: string,
    expected: number | undefined,
    next: number,
  ): Promise<'written' | 'conflict'> {
    this.calls.push('putCursor');
    if (this.cursor !== expected) return 'conflict';
    this.cursor = next;
    return 'written';
  }
}

function harness(rows: readonly Record<string, unknown>[], fail = false) {
  const state = new MemoryPollState();
  const sent: Envelope[] = [];
  const urls: string[] = [];
  const log = new MemoryLog();
  const deps: PollDeps = {
    config: erpConfig(),
    state,
    queue: { send: async (envelopes) => void sent.push(...envelopes) },
    secrets: new MemorySecretStore({ 'erp/token': 'erp-token' }),
    telemetry: new MemoryTelemetry(),
    clock: new ManualClock(),
    log,
    fetch: async (url) => {
      urls.push(url);
      if (fail) throw new Error('connect ECONNREFUSED');
      return new Response(JSON.stringify({ data: rows }), { status: 200 });
    },
    owner: 'poll-1',
    leaseMs: 60_000,
  };
  return { state, sent, urls, log, deps };
}

const row = (id: string, at: string) => ({ id, email: `${id}@example.com`, updated_at: at });

describe('pollSource: the lease and the cursor', () => {
  it('enqueues the rows, advances the cursor and releases the lease', async () => {
    const { state, sent, deps } = harness([
      row('a', '2026-11-01T00:00:00Z'),
      row('b', '2026-11-02T00:00:00Z'),
    ]);
    const result = await pollSource('erp', deps);
    expect(result).toMatchObject({ kind: 'polled', enqueued: 2, cursor: Date.parse('2026-11-02T00:00:00Z') });
    expect(sent).toHaveLength(2);
    expect(state.cursor).toBe(Date.parse('2026-11-02T00:00:00Z'));
    expect(state.lease).toBeUndefined();
    expect(state.calls).toContain('releaseLease');
  });

  it('skips while another poll holds the lease: no page read, nothing enqueued, no cursor write', async () => {
    const { state, sent, urls, deps } = harness([row('a', '2026-11-01T00:00:00Z')]);
    state.lease = { owner: 'poll-0', until: Number.MAX_SAFE_INTEGER };
    expect(await pollSource('erp', deps)).toEqual({ kind: 'leased' });
    expect(urls).toEqual([]);
    expect(sent).toEqual([]);
    expect(state.calls).not.toContain('putCursor');
    expect(state.lease.owner).toBe('poll-0');
  });

  it('re-reads, and leaves the newer cursor, when the previous poll wrote it just after this one read it', async () => {
    const { state, sent, log, deps } = harness([row('a', '2026-11-01T00:00:00Z')]);
    state.cursor = Date.parse('2026-10-01T00:00:00Z');
    state.cursorWrittenElsewhere = Date.parse('2026-11-05T00:00:00Z');
    const result = await pollSource('erp', deps);
    // Read from the older cursor: the row is enqueued again (the mapping absorbs it downstream).
    expect(sent).toHaveLength(1);
    expect(result).toMatchObject({ kind: 'polled', enqueued: 1 });
    expect(state.cursor).toBe(Date.parse('2026-11-05T00:00:00Z'));
    expect(log.entries.some((e) => e.message === 'The cursor moved under this poll; leaving it')).toBe(true);
  });

  it('releases the lease and moves no cursor when the source API is unreachable', async () => {
    const { state, sent, deps } = harness([], true);
    state.cursor = 5;
    await expect(pollSource('erp', deps)).rejects.toThrow('The source API is unreachable');
    expect(sent).toEqual([]);
    expect(state.cursor).toBe(5);
    expect(state.lease).toBeUndefined();
  });
});
