import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCustomer, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';
import { cli } from '../support/cli.js';
import { startTestHub, type TestHub } from '../support/hub.js';

const now = () => Math.floor(Date.now() / 1000);

/** Polls `condition` until it holds, or fails with `what` after `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Runs `switchyard backfill --flow F --page 1` through a proxy in front of the hub and stops it
 * (SIGINT, an operator's Ctrl-C) while it waits for the page after the first one that held a
 * record: the hub has served that page (and saved the position after it) and never sees the next.
 * Returns what the interrupted run had been sent (the records before the saved position).
 */
async function interruptedBackfill(hubUrl: string, flow: string): Promise<{ scannedBefore: number }> {
  let scannedBefore = 0;
  let held: ServerResponse | undefined;
  const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
    const isPage = req.method === 'POST' && (req.url ?? '').startsWith('/_switchyard/ops/backfill/');
    if (isPage && scannedBefore > 0) {
      held = res; // never forwarded, never answered
      return;
    }
    void (async () => {
      const answer = await fetch(`${hubUrl}${req.url ?? '/'}`, { method: req.method ?? 'GET' });
      const text = await answer.text();
      if (isPage) scannedBefore += (JSON.parse(text) as { scanned: number }).scanned;
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
    })().catch((error: unknown) => res.writeHead(502).end(String(error)));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  try {
    const child = spawn(
      process.execPath,
      ['bin/switchyard.js', 'backfill', '--flow', flow, '--page', '1', '--url', proxyUrl],
      {
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        stdio: 'ignore',
      },
    );
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await waitFor(() => held !== undefined, 'the backfill to ask for its next page');
    child.kill('SIGINT');
    await exited;
  } finally {
    proxy.closeAllConnections();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
  return { scannedBefore };
}

/** The canonical ids the hub's audit trail shows backfilled since entry `from`. */
const backfilledSince = (hub: TestHub, from: number): string[] =>
  hub.runtime.audit
    .all()
    .slice(from)
    .filter((e) => e.stage === 'backfill')
    .map((e) => e.id ?? '');

describe('data CLI: quarantine, backfill and quality against the running hub', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub();
    for (let n = 1; n <= 3; n++)
      await hub.send(stripeCustomerEvent('customer.created', demoCustomer(n), now()));
    await hub.send(stripeCustomerEvent('customer.created', demoCustomer(9, { email: 'front-desk' }), now()));
    await hub.runtime.settle();
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('`quarantine list` names the rule and shows the value redacted; `show` prints the record', async () => {
    const list = await cli(['quarantine', 'list', '--url', hub.runtime.url]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/customer\.email\.format \(email = f\*\*\*/);
    expect(list.stdout).not.toContain('front-desk');
    const key = list.stdout.split('\n')[0] ?? '';
    const show = await cli(['quarantine', 'show', key, '--url', hub.runtime.url]);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      stage: 'route',
      reasons: [{ rule: 'customer.email.format' }],
    });
  });

  it('`backfill --flow` reports what it scanned and sent; the destination already holds it all, so nothing is written twice', async () => {
    const before = hub.crm.calls.length;
    const result = await cli([
      'backfill',
      '--flow',
      'customers-to-crm',
      '--restart',
      '--url',
      hub.runtime.url,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('backfill customers-to-crm: 3 records scanned, 3 messages sent');
    const stats = await hub.runtime.settle();
    expect(hub.crm.calls.length).toBe(before);
    expect(stats.flows['customers-to-crm']?.crm?.skipped.duplicate).toBe(3);
    expect(stats.balanced).toBe(true);
  });

  it('`backfill` interrupted part-way resumes from its saved position without re-sending what it sent; --restart starts over', async () => {
    const flow = 'customers-to-crm';
    const all = hub.runtime.audit.all().length;
    const interrupted = await interruptedBackfill(hub.runtime.url, flow);
    expect(interrupted.scannedBefore).toBe(1);
    const sentBefore = backfilledSince(hub, all);
    expect(sentBefore).toHaveLength(1);

    let mark = hub.runtime.audit.all().length;
    const resumed = await cli(['backfill', '--flow', flow, '--page', '1', '--url', hub.runtime.url]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`resuming ${flow} from its saved position`);
    expect(resumed.stdout).toContain(`backfill ${flow}: 2 records scanned, 2 messages sent`);
    const sentOnResume = backfilledSince(hub, mark);
    expect(sentOnResume).toHaveLength(2);
    expect(sentOnResume).not.toContain(sentBefore[0]);
    const everyCustomer = new Set([...sentBefore, ...sentOnResume]);
    expect(everyCustomer.size).toBe(3);

    // A saved midpoint again; --restart ignores it and sends every record.
    await interruptedBackfill(hub.runtime.url, flow);
    mark = hub.runtime.audit.all().length;
    const restarted = await cli([
      'backfill',
      '--flow',
      flow,
      '--page',
      '1',
      '--restart',
      '--url',
      hub.runtime.url,
    ]);
    expect(restarted.code, restarted.stderr).toBe(0);
    expect(restarted.stdout).not.toContain('resuming');
    expect(restarted.stdout).toContain(`backfill ${flow}: 3 records scanned, 3 messages sent`);
    expect(new Set(backfilledSince(hub, mark))).toEqual(everyCustomer);
    const stats = await hub.runtime.settle();
    expect(stats.balanced).toBe(true);
  });

  it('`quality` prints completeness, the invalid rate of the failing rule and the formats', async () => {
    const result = await cli(['quality', '--url', hub.runtime.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/records 3, quarantined 1/);
    expect(result.stdout).toMatch(/customer\.email\.format\s+25\.0%/);
    expect(result.stdout).toMatch(/phone\.e164\s+100\.0%/);
    const json = await cli(['quality', '--json', '--url', hub.runtime.url]);
    expect(JSON.parse(json.stdout)).toMatchObject({
      entity: 'customer',
      records: 3,
      trend: { since: expect.any(String) },
    });
  });

  it('fails with a clear message when no hub answers', async () => {
    const result = await cli(['quarantine', 'list', '--url', 'http://127.0.0.1:9']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('No hub answers at http://127.0.0.1:9');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it.each(['0', '1001', '2.5', 'ten'])(
    'fails if `backfill --page` is %s, naming the value and the range',
    async (page) => {
      const result = await cli([
        'backfill',
        '--flow',
        'customers-to-crm',
        '--page',
        page,
        '--url',
        'http://127.0.0.1:9',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `A backfill page is a whole number of state-table items from 1 to 1000 (got "${page}")`,
      );
    },
  );
});
