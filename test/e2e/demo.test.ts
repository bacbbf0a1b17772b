import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubStats } from '../../local/stats.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

describe('npm start (switchyard dev --demo)', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-demo-'));
    // The demo's secrets are its own, in memory; an empty file keeps it off the repo's .switchyard/.
    await writeFile(join(dir, 'secrets.json'), '{}');
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the simulated senders, the ERP poll and the flaky CRM, prints the counters, and stops on SIGTERM', async () => {
    let output = '';
    child = spawn(
      process.execPath,
      [
        join(REPO, 'bin/switchyard.js'),
        'dev',
        '--demo',
        '--port',
        '0',
        '--data',
        join(dir, 'data'),
        '--secrets',
        join(dir, 'secrets.json'),
      ],
      {
        cwd: REPO,
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const proc = child;
    proc.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const fail = (what: string) => new Error(`${what}. Output:\n${output}`);

    const deadline = Date.now() + 30_000;
    const tick = () => new Promise((resolve) => setTimeout(resolve, 100));
    let url: string | undefined;
    while (!url) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw fail('dev --demo exited before it was ready');
      if (Date.now() > deadline) throw fail('Timed out waiting for the ready line');
      url = /ready at (http:\/\/[\d.:]+)/.exec(output)?.[1];
      await tick();
    }

    // The hub's own counters: both senders accepted, the ERP polled, the forgery rejected, the CRM
    // retried through its outage and delivered to.
    let stats: HubStats | undefined;
    const done = (s: HubStats | undefined) =>
      s !== undefined &&
      (s.sources.stripe?.accepted ?? 0) > 0 &&
      (s.sources.shop?.accepted ?? 0) > 0 &&
      (s.sources.erp?.accepted ?? 0) > 0 &&
      (s.sources.stripe?.rejected.bad_signature ?? 0) > 0 &&
      (s.destinations.crm?.retried ?? 0) > 0 &&
      (s.destinations.crm?.delivered ?? 0) > 0;
    while (!done(stats)) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw fail('dev --demo exited');
      if (Date.now() > deadline)
        throw fail(`Timed out waiting for the demo traffic; last stats ${JSON.stringify(stats)}`);
      await tick();
      stats = (await (await fetch(`${url}/_switchyard/stats`)).json()) as HubStats;
    }
    expect(output).toMatch(/demo: destinations point at the simulated CRM http:\/\/127\.0\.0\.1:\d+/);
    // The hub counts a forged webhook and the ERP's rows before its answer reaches the demo, which
    // prints its line only then, so those lines can trail the counters. The terminal also prints the
    // counters as they move: a line with something delivered.
    const printed = async (line: RegExp, what: string) => {
      while (!line.test(output)) {
        if (Date.now() > deadline) throw fail(`Timed out waiting for ${what}`);
        await tick();
      }
    };
    await printed(/demo: a forged Stripe webhook was answered 401/, "the forged webhook's line");
    await printed(/demo: polled erp: [1-9]\d* row\(s\)/, "the ERP poll's line");
    await printed(/accepted [1-9]\d* \| delivered [1-9]\d* \|/, 'a counters line with deliveries');

    proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited(proc),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(fail('dev --demo still running 20 s after SIGTERM')), 20_000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(code).toBe(0);
    expect(output).toContain('SIGTERM: draining');
    const saved = JSON.parse(await readFile(join(dir, 'data', 'counters.json'), 'utf8')) as {
      counters: [string, number][];
    };
    const delivered = saved.counters
      .filter(([key]) => (JSON.parse(key) as [string])[0] === 'delivered')
      .reduce((n, [, value]) => n + value, 0);
    expect(delivered).toBeGreaterThanOrEqual(stats?.destinations.crm?.delivered ?? 1);
  });
});
