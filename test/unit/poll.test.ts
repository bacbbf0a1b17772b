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

/** Lease and cursor on one item in memory, with the order of every call, as the Dynamo store keeps them. */
class MemoryPollState implements PollStateStore {
  readonly calls: string[] = [];
  lease: { owner: string; until: number } | undefined;
  cursor: number | undefined;
  /** Runs right after a lease is taken: models what other polls do while this one reads pages. */
  afterAcquire: (() => void) | undefined;

  async acquireLease(
    _source: string,
    owner: string,
    untilMs: number,
    nowMs: number,
  ): Promise<{ readonly cursor: number | undefined } | undefined> {
    this.calls.push('acquireLease');
    if (this.lease && this.lease.until >= nowMs && this.lease.owner !== owner) return undefined;
    this.lease = { owner, until: untilMs };
    const read = { cursor: this.cursor };
    this.afterAcquire?.();
    return read;
  }

  async releaseLease(
    _source: string,
    owner: string,
    advance?: { readonly expected: number | undefined; readonly next: number },
  ): Promise<'released' | 'advanced' | 'conflict'> {
    this.calls.push(advance ? 'releaseLease+advance' : 'releaseLease');
    const ours = this.lease?.owner === owner;
    if (advance && ours && this.cursor === advance.expected) {
      this.cursor = advance.next;
      this.lease = undefined;
      return 'advanced';
    }
    if (ours) this.lease = undefined;
    return advance ? 'conflict' : 'released';
  }

  async getCursor(): Promise<number | undefined> {
    this.calls.push('getCursor');
    return this.cursor;
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
    // One write takes the lease and reads the cursor, one advances it and releases the lease.
    expect(state.calls).toEqual(['acquireLease', 'releaseLease+advance']);
  });

  it('skips while another poll holds the lease: no page read, nothing enqueued, no cursor write', async () => {
    const { state, sent, urls, deps } = harness([row('a', '2026-11-01T00:00:00Z')]);
    state.lease = { owner: 'poll-0', until: Number.MAX_SAFE_INTEGER };
    expect(await pollSource('erp', deps)).toEqual({ kind: 'leased' });
    expect(urls).toEqual([]);
    expect(sent).toEqual([]);
    expect(state.calls).toEqual(['acquireLease']);
    expect(state.lease.owner).toBe('poll-0');
  });

  it('moves no cursor and leaves the lease when its lease ran out and another poll took it and moved the cursor', async () => {
    const { state, sent, log, deps } = harness([row('a', '2026-11-01T00:00:00Z')]);
    state.cursor = Date.parse('2026-10-01T00:00:00Z');
    state.afterAcquire = () => {
      state.lease = { owner: 'poll-2', until: Number.MAX_SAFE_INTEGER };
      state.cursor = Date.parse('2026-11-05T00:00:00Z');
    };
    const result = await pollSource('erp', deps);
    // Read from the older cursor: the row is enqueued again (the mapping absorbs it downstream).
    expect(sent).toHaveLength(1);
    expect(result).toMatchObject({ kind: 'polled', enqueued: 1 });
    expect(state.cursor).toBe(Date.parse('2026-11-05T00:00:00Z'));
    expect(state.lease?.owner).toBe('poll-2');
    expect(log.entries.some((e) => e.message === 'The cursor moved under this poll; leaving it')).toBe(true);
  });

  it('releases the lease without a cursor write when no row moved the cursor', async () => {
    const { state, deps } = harness([row('a', '2026-11-01T00:00:00Z')]);
    state.cursor = Date.parse('2026-11-01T00:00:00Z');
    await pollSource('erp', deps);
    expect(state.calls).toEqual(['acquireLease', 'releaseLease']);
    expect(state.lease).toBeUndefined();
    expect(state.cursor).toBe(Date.parse('2026-11-01T00:00:00Z'));
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
