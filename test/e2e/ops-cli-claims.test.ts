import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuditEntry } from '../../functions/core/ports.js';
import { AUDIT_FILE } from '../../local/audit-file.js';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { FileSecretStore } from '../../local/file-secrets.js';
import { silentLogger } from '../../local/log.js';
import { type HubRuntime, startRuntime } from '../../local/runtime.js';
import { cli } from '../support/cli.js';
import { CRM_TOKEN, e2eConfig, STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

const now = () => Math.floor(Date.now() / 1000);
const DAY = 86_400_000;

/** Polls `condition` until it holds, or fails with `what` after `timeoutMs`. */
async function waitFor(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface Listed {
  key: string;
  stage: string;
  eventId: string;
  destination?: string;
}

/**
 * README: `npx switchyard quarantine list | show <key> | replay <key>|--all`, and the command's
 * help: "Send a quarantined record (or all, with --all) through the current code again". The CRM
 * refuses three customers (a 422, a bug on its side, quarantined at deliver at once); once fixed,
 * the real CLI replays one by key, then the rest with --all.
 */
describe('`switchyard quarantine replay <key>|--all` against the running hub', () => {
  let hub: TestHub;
  const refused = new Set([2, 3, 4].map((n) => demoCustomer(n).id));
  const list = async (): Promise<Listed[]> => {
    const listed = await cli(['quarantine', 'list', '--json', '--url', hub.runtime.url]);
    expect(listed.code, listed.stderr).toBe(0);
    return JSON.parse(listed.stdout) as Listed[];
  };
  const delivered = () => [...hub.crm.contacts.values()].map((c) => c.id).sort();

  beforeAll(async () => {
    hub = await startTestHub();
    hub.crm.failWhen({
      match: (body) => refused.has(String((body.data as { refs?: { stripe?: string } })?.refs?.stripe)),
      status: 422,
      body: '{"error":"simulated validation bug"}',
    });
    for (let n = 1; n <= 4; n++)
      expect((await hub.send(stripeCustomerEvent('customer.created', demoCustomer(n), now()))).status).toBe(
        202,
      );
    const stats = await hub.runtime.settle();
    expect(stats.flows['customers-to-crm']?.crm).toMatchObject({ delivered: 1, quarantined: 3 });
    hub.crm.clearRules();
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('`replay <key>` sends that record through again: it leaves the quarantine and is delivered; the others stay', async () => {
    const before = await list();
    expect(before.map((i) => [i.stage, i.destination])).toEqual([
      ['deliver', 'crm'],
      ['deliver', 'crm'],
      ['deliver', 'crm'],
    ]);
    const [chosen] = before as [Listed];
    const shown = await cli(['quarantine', 'show', chosen.key, '--url', hub.runtime.url]);
    expect(shown.code, shown.stderr).toBe(0);
    const canonicalId = (JSON.parse(shown.stdout) as { payload: { id: string } }).payload.id;
    expect(delivered()).not.toContain(canonicalId);
    const deliveredBefore = delivered().length;

    const replay = await cli(['quarantine', 'replay', chosen.key, '--url', hub.runtime.url]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout.trim()).toBe(`replayed ${chosen.eventId} through deliver`);
    const stats = await hub.runtime.settle();
    expect(delivered()).toContain(canonicalId);
    expect(delivered()).toHaveLength(deliveredBefore + 1);
    const after = await list();
    expect(after.map((i) => i.key).sort()).toEqual(
      before
        .filter((i) => i.key !== chosen.key)
        .map((i) => i.key)
        .sort(),
    );
    expect(stats.flows['customers-to-crm']?.crm).toMatchObject({ delivered: 2, quarantined: 3 });
    expect(stats.balanced).toBe(true);
  });

  it('`replay --all` replays every record left: the quarantine is empty and each customer is delivered once', async () => {
    const left = await list();
    expect(left).toHaveLength(2);
    const replay = await cli(['quarantine', 'replay', '--all', '--url', hub.runtime.url]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout.trim().split('\n').sort()).toEqual(
      left.map((i) => `replayed ${i.eventId} through deliver`).sort(),
    );
    const stats = await hub.runtime.settle();
    expect(await list()).toEqual([]);
    const empty = await cli(['quarantine', 'list', '--url', hub.runtime.url]);
    expect(empty.stdout.trim()).toBe('The quarantine is empty.');
    expect(hub.crm.contacts.size).toBe(4);
    expect([...hub.crm.contacts.values()].every((c) => c.writes === 1)).toBe(true);
    expect(stats.flows['customers-to-crm']?.crm).toMatchObject({ delivered: 4, quarantined: 3 });
    expect(stats.balanced).toBe(true);
  });

  it('a key that is not in the quarantine fails with a message naming it and a non-zero exit; so does no key', async () => {
    const bad = await cli(['quarantine', 'replay', 'no-such-record#42', '--url', hub.runtime.url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('No quarantined record "no-such-record#42"');
    expect(bad.stdout).not.toContain('replayed');
    const none = await cli(['quarantine', 'replay', '--url', hub.runtime.url]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('Name a record to replay, or pass --all');
    // The message is the whole answer: an operator's mistake is not a crash with a stack trace.
    expect(bad.stderr.trim()).toBe('No quarantined record "no-such-record#42"');
    expect(none.stderr.trim()).toBe('Name a record to replay, or pass --all');
  });
});

/**
 * README, audit trail: locally `audit.jsonl` "survives restarts; pruned to the retention at start
 * and every 6 hours". The 6-hour prune is a setInterval inside startRuntime, so fake timers would
 * have to cover the emulators' network I/O too; instead a pass-through spy records the intervals
 * the start schedules (nothing is faked, the hub runs as usual), and the test fires the 6-hour one
 * itself after moving the hub's clock past the retention.
 */
describe('the local audit trail is pruned to the retention at start and every 6 hours', () => {
  let dir: string;
  let crm: CrmDestination;
  let runtime: HubRuntime | undefined;
  const clock = { current: Date.now(), now: () => clock.current };
  const line = (eventId: string, at: number): string =>
    `${JSON.stringify({ eventId, at, stage: 'ingest', outcome: 'accepted', source: 'stripe' } satisfies AuditEntry)}\n`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-audit-prune-'));
    crm = await startCrmDestination({ token: CRM_TOKEN });
  });
  afterAll(async () => {
    await runtime?.stop({ drainTimeoutMs: 500 });
    await crm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('drops what is past the retention at start, and schedules a prune every 6 hours that drops what has aged since', async () => {
    const start = clock.current;
    await writeFile(
      join(dir, AUDIT_FILE),
      line('evt_expired', start - 31 * DAY) +
        line('evt_recent', start - DAY) +
        line('evt_fresh', start + DAY),
    );
    const spy = vi.spyOn(globalThis, 'setInterval');
    let calls: [() => void, number | undefined][] = [];
    try {
      runtime = await startRuntime({
        config: e2eConfig(crm.url),
        schedules: false,
        secrets: new FileSecretStore(join(dir, 'none.json'), {
          'e2e/stripe-webhook': STRIPE_SECRET,
          'e2e/crm-token': CRM_TOKEN,
        }),
        dataDir: dir,
        port: 0,
        logLevel: 'SILENT',
        pollWaitSeconds: 1,
        log: silentLogger,
        clock,
      });
    } finally {
      // Copied first: mockRestore clears what the spy recorded.
      calls = [...spy.mock.calls] as unknown as [() => void, number | undefined][];
      spy.mockRestore();
    }
    const hub = runtime;
    expect(hub.config.audit.retentionDays).toBe(30);
    // At start: the expired entry is gone, from the index and the file.
    expect(hub.audit.event('evt_expired')).toEqual([]);
    expect(hub.audit.event('evt_recent')).toHaveLength(1);
    const atStart = await readFile(join(dir, AUDIT_FILE), 'utf8');
    expect(atStart).not.toContain('evt_expired');
    expect(atStart).toContain('evt_recent');

    const sixHourly = calls.filter(([, ms]) => ms === 6 * 3_600_000);
    expect(sixHourly, `intervals scheduled: ${calls.map(([, ms]) => ms).join(', ')}`).toHaveLength(1);
    const [[prune]] = sixHourly as [[() => void, number]];

    // Thirty days later (by the hub's clock), the 6-hour timer fires.
    clock.current = start + 30 * DAY;
    prune();
    await waitFor(
      async () => !(await readFile(join(dir, AUDIT_FILE), 'utf8')).includes('evt_recent'),
      'the scheduled prune to rewrite audit.jsonl',
    );
    expect(hub.audit.event('evt_recent')).toEqual([]);
    expect(hub.audit.event('evt_fresh')).toHaveLength(1);
    expect(await readFile(join(dir, AUDIT_FILE), 'utf8')).toContain('evt_fresh');
  });
});
