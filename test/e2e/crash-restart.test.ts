import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../functions/core/ports.js';
import { AUDIT_FILE } from '../../local/audit-file.js';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import type { HubStats } from '../../local/stats.js';

/**
 * The real `switchyard dev` as a child process, stopped mid-traffic (SIGKILL, then SIGTERM) and
 * started again on the same data directory. The CRM runs here, outside the process that is killed,
 * so it keeps what it was sent. See README "Stopping and restarting".
 */

const SECRET = 'whsec_crash_test';
const EVENTS = 60;

interface Hub {
  child: ChildProcess;
  url: string;
  output: () => string;
}

const children: ChildProcess[] = [];

async function startHub(dir: string, crmUrl: string): Promise<Hub> {
  let output = '';
  const child = spawn(
    process.execPath,
    [
      'bin/switchyard.js',
      'dev',
      '--config',
      'test/e2e/fixtures/cli.config.ts',
      '--secrets',
      join(dir, 'secrets.json'),
      '--port',
      '0',
      '--data',
      join(dir, 'data'),
    ],
    {
      env: {
        ...process.env,
        CLI_TEST_CRM_URL: crmUrl,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        SWITCHYARD_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(
    () => /ready at/.test(output) || child.exitCode !== null,
    30_000,
    'the ready line',
    () => output,
  );
  const url = /ready at (http:\/\/[\d.:]+)/.exec(output)?.[1];
  if (!url) throw new Error(`switchyard dev did not start:\n${output}`);
  return { child, url, output: () => output };
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string, output: () => string) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}. Output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode ?? child.exitCode);
    else child.once('exit', (code, signal) => resolve(signal ?? code));
  });

const stats = async (hub: Hub): Promise<HubStats> =>
  (await (await fetch(`${hub.url}/_switchyard/stats`)).json()) as HubStats;

/** Polls the stats until nothing is queued or in flight and the counters stop moving. */
async function drained(hub: Hub, timeoutMs = 60_000): Promise<HubStats> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const current = await stats(hub);
    const key = JSON.stringify(current.totals);
    if (current.totals.inFlight === 0 && key === last) return current;
    last = key;
    if (Date.now() > deadline) throw new Error(`did not drain: ${key}\n${hub.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Sends EVENTS customer.created events, 8 at a time, and calls `midway` once `after` of them got
 * their 202 (without waiting for it). Returns the customers whose event got a 202; a request that
 * failed (the process died under it) is not acknowledged.
 */
async function sendTraffic(hub: Hub, after: number, midway: () => void): Promise<number[]> {
  const acknowledged: number[] = [];
  let next = 1;
  let fired = false;
  const now = Math.floor(Date.now() / 1000);
  const worker = async () => {
    while (next <= EVENTS) {
      const n = next++;
      try {
        const sent = await sendStripeEvent(
          `${hub.url}/webhooks/stripe`,
          stripeCustomerEvent('customer.created', demoCustomer(n), now),
          SECRET,
        );
        if (sent.status === 202) acknowledged.push(n);
      } catch {
        // Connection refused or reset: the hub is gone, this event was not acknowledged.
      }
      if (!fired && acknowledged.length >= after) {
        fired = true;
        midway();
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return acknowledged;
}

const emailOf = (n: number) => (demoCustomer(n).email ?? '').trim().toLowerCase();

/** Every acknowledged customer is at the CRM, written exactly once; nothing is written twice. */
function expectExactlyOnce(crm: CrmDestination, acknowledged: readonly number[]) {
  const byEmail = new Map(
    [...crm.contacts.values()].map((c) => [String(c.data.email ?? '').toLowerCase(), c] as const),
  );
  for (const n of acknowledged) {
    const contact = byEmail.get(emailOf(n));
    expect(contact, `customer ${n} (acknowledged) is at the CRM`).toBeDefined();
    expect(contact?.writes).toBe(1);
  }
  for (const contact of crm.contacts.values()) expect(contact.writes).toBe(1);
}

describe('stopping switchyard dev mid-traffic and starting it again', () => {
  let dir: string;
  let crm: CrmDestination;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-crash-'));
    await writeFile(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'cli/stripe-webhook': SECRET, 'cli/crm-token': 'crash-token' }),
    );
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited(child);
      }
    }
    await crm?.stop();
    await rm(join(dir, 'data'), { recursive: true, force: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGKILL loses nothing acknowledged: every 202 is delivered exactly once and G3 balances', async () => {
    // Slow enough that most accepted events are still queued, or mid-delivery, at the kill.
    crm = await startCrmDestination({ token: 'crash-token', delayMs: 100 });
    const first = await startHub(dir, crm.url);
    let contactsAtKill = -1;
    const acknowledged = await sendTraffic(first, 35, () => {
      contactsAtKill = crm.contacts.size;
      first.child.kill('SIGKILL');
    });
    expect(await exited(first.child)).toBe('SIGKILL');
    expect(acknowledged.length).toBeGreaterThanOrEqual(35);
    // Mid-traffic for real: some events were refused by the dead process, most were not delivered yet.
    expect(acknowledged.length).toBeLessThan(EVENTS);
    expect(contactsAtKill).toBeLessThan(acknowledged.length);

    const restartedAt = Date.now();
    const second = await startHub(dir, crm.url);
    const recovered = /recovered the queues after an unclean stop[^\n]*"messages":(\d+)/.exec(
      second.output(),
    );
    expect(recovered, second.output()).not.toBeNull();
    const resent = Number(recovered?.[1]);
    expect(resent).toBeGreaterThan(0);
    const after = await drained(second);

    expectExactlyOnce(crm, acknowledged);
    // Counters start over from the recovered messages: each counts as accepted once, and ends
    // delivered or skipped (a duplicate of a delivery whose delete the kill cut off).
    expect(after.balanced).toBe(true);
    expect(after.totals.accepted).toBe(resent);
    expect(after.totals.delivered + after.totals.skipped).toBe(resent);
    expect(after.totals.quarantined + after.totals.deadLettered).toBe(0);
    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toBe(0);
    // The audit trail came through the kill: the restart dropped a torn tail, every line reads, and
    // each re-sent message has its one terminal entry at the destination.
    const trail = (await readFile(join(dir, 'data', AUDIT_FILE), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEntry);
    const terminalSinceRestart = trail.filter(
      (e) => e.stage === 'deliver' && e.at >= restartedAt && ['delivered', 'skipped'].includes(e.outcome),
    );
    expect(terminalSinceRestart).toHaveLength(resent);
  }, 180_000);

  it('SIGTERM loses nothing: what the drain left is delivered after the restart, counters carried exactly', async () => {
    crm = await startCrmDestination({ token: 'crash-token', delayMs: 20 });
    const first = await startHub(dir, crm.url);
    // The CRM goes down mid-traffic, so the drain (10 s) cannot empty the lane before the exit.
    const acknowledged = await sendTraffic(first, 20, () => crm.outage(503));
    expect(acknowledged).toHaveLength(EVENTS);
    first.child.kill('SIGTERM');
    expect(await exited(first.child)).toBe(0);
    const delivered = crm.contacts.size;
    expect(delivered).toBeLessThan(EVENTS);

    crm.restore();
    const second = await startHub(dir, crm.url);
    const after = await drained(second);
    expectExactlyOnce(crm, acknowledged);
    expect(crm.contacts.size).toBe(EVENTS);
    expect(after.sources.stripe?.accepted).toBe(EVENTS);
    expect(after.flows['customers-to-crm']?.crm?.delivered).toBe(EVENTS);
    expect(after.balanced).toBe(true);
    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toBe(0);
  }, 180_000);
});
