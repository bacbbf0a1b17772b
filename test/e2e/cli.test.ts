import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';

const SECRET = 'whsec_cli_test';
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin/switchyard.js');

function run(
  args: string[],
  env: Record<string, string> = {},
  cwd = REPO,
): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: {
      ...process.env,
      ...env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      SWITCHYARD_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { child, output: () => output };
}

async function waitFor(
  predicate: () => boolean,
  timeoutMs: number,
  what: string,
  output: () => string,
  child?: ChildProcess,
) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}. Output:\n${output()}`);
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`Exited while waiting for ${what}. Output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

/** The exit code, or a failure naming `what` if the process is still running after `timeoutMs`. */
async function exitedWithin(child: ChildProcess, timeoutMs: number, what: string, output: () => string) {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what}: still running after ${timeoutMs} ms. Output:\n${output()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([exited(child), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** The counters a graceful stop saved in `dataDir`: metric -> sum over every dimension set. */
async function savedCounters(dataDir: string): Promise<Record<string, number>> {
  const { counters } = JSON.parse(await readFile(join(dataDir, 'counters.json'), 'utf8')) as {
    counters: [string, number][];
  };
  const totals: Record<string, number> = {};
  for (const [key, value] of counters) {
    const [metric] = JSON.parse(key) as [string];
    totals[metric] = (totals[metric] ?? 0) + value;
  }
  return totals;
}

/** Whether nothing listens on 127.0.0.1:`port` (the host the hub binds). */
const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });

const readyUrl = (output: string) => /ready at (http:\/\/[\d.:]+)/.exec(output)?.[1];

describe('switchyard dev (the CLI, as a user runs it)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    await writeFile(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'cli/stripe-webhook': SECRET, 'cli/crm-token': 'cli-token' }),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** `dev` on the CLI fixture config and this suite's secrets, on a free port, keeping its data in `data`. */
  const startFixtureHub = (data: string, crmUrl: string) =>
    run(
      [
        'dev',
        '--config',
        'test/e2e/fixtures/cli.config.ts',
        '--secrets',
        join(dir, 'secrets.json'),
        '--port',
        '0',
        '--data',
        data,
      ],
      { CLI_TEST_CRM_URL: crmUrl },
    );

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'prints a ready line with its URL, delivers, and on %s answers 503, drains, saves the counters and exits 0',
    async (signal) => {
      const data = await mkdtemp(join(dir, `data-${signal}-`));
      // Slow enough that the drain is still going when the test knocks during it.
      const crm = await startCrmDestination({ token: 'cli-token', delayMs: 1500 });
      try {
        const { child, output } = startFixtureHub(data, crm.url);
        await waitFor(() => /ready/.test(output()), 30_000, 'the ready line', output, child);
        const url = readyUrl(output());
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(await (await fetch(`${url}/_switchyard/health`)).json()).toEqual({ ok: true });

        const response = await sendStripeEvent(
          `${url}/webhooks/stripe`,
          stripeCustomerEvent('customer.created', demoCustomer(42), Math.floor(Date.now() / 1000)),
          SECRET,
        );
        expect(response.status).toBe(202);
        child.kill(signal);
        await waitFor(() => /draining/.test(output()), 10_000, 'draining', output);
        const refused = await sendStripeEvent(
          `${url}/webhooks/stripe`,
          stripeCustomerEvent('customer.created', demoCustomer(43), Math.floor(Date.now() / 1000)),
          SECRET,
        );
        expect(refused.status).toBe(503);
        expect(refused.body.error).toBe('shutting_down');
        // Draining: the event accepted just before the signal still reaches the destination.
        expect(await exitedWithin(child, 20_000, `dev after ${signal}`, output)).toBe(0);
        expect(output()).toContain(`${signal}: draining`);
        expect(crm.calls.filter((call) => call.status === 201)).toHaveLength(1);
        // The counters are saved for the next start: the one event, accepted and delivered.
        const counters = await savedCounters(data);
        expect(counters.accepted).toBe(1);
        expect(counters.delivered).toBe(1);
      } finally {
        await crm.stop();
      }
    },
  );

  it('drains for 10 s by default: a destination that stays down holds SIGTERM about 10 s, then it exits 0', async () => {
    const data = await mkdtemp(join(dir, 'data-drain-'));
    const crm = await startCrmDestination({ token: 'cli-token' });
    crm.outage(503);
    try {
      // No drain option on the command line: the drain time is the runtime's default.
      const { child, output } = startFixtureHub(data, crm.url);
      await waitFor(() => /ready/.test(output()), 30_000, 'the ready line', output, child);
      const url = readyUrl(output());
      const response = await sendStripeEvent(
        `${url}/webhooks/stripe`,
        stripeCustomerEvent('customer.created', demoCustomer(44), Math.floor(Date.now() / 1000)),
        SECRET,
      );
      expect(response.status).toBe(202);
      // The delivery has failed at least once, so the message is retrying when the signal comes.
      await waitFor(
        () => crm.calls.some((call) => call.status === 503),
        10_000,
        'a 503 from the CRM',
        output,
      );
      const signalled = Date.now();
      child.kill('SIGTERM');
      expect(
        await exitedWithin(child, 20_000, 'dev draining a message that cannot be delivered', output),
      ).toBe(0);
      const drainedMs = Date.now() - signalled;
      expect(drainedMs).toBeGreaterThanOrEqual(9_500);
      expect(drainedMs).toBeLessThan(18_000);
      expect(output()).toContain('stopping with messages still queued');
      expect(crm.calls.some((call) => call.status === 201)).toBe(false);
      const counters = await savedCounters(data);
      expect(counters.accepted).toBe(1);
      expect(counters.delivered ?? 0).toBe(0);
    } finally {
      await crm.stop();
    }
  });

  it('runs on its defaults: switchyard.config.ts and .switchyard/ in the working directory, port 3000', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'));
    const crm = await startCrmDestination({ token: 'defaults-token' });
    const configModule = pathToFileURL(join(REPO, 'functions/core/config.js')).href;
    await writeFile(
      join(cwd, 'switchyard.config.ts'),
      `import { defineConfig } from ${JSON.stringify(configModule)};
export default defineConfig({
  name: 'defaults',
  sources: { paystripe: { connector: 'stripe', secret: 'defaults/stripe-webhook' } },
  destinations: {
    crm: { connector: 'http', url: process.env.CLI_TEST_CRM_URL ?? 'http://127.0.0.1:9/none', secret: 'defaults/crm-token' },
  },
  flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['paystripe'], to: ['crm'] }],
});
`,
    );
    // A user's project is an ES module package, as this one is.
    await writeFile(join(cwd, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    await mkdir(join(cwd, '.switchyard'));
    const secret = 'whsec_defaults_test';
    await writeFile(
      join(cwd, '.switchyard', 'secrets.json'),
      JSON.stringify({ 'defaults/stripe-webhook': secret, 'defaults/crm-token': 'defaults-token' }),
    );
    // Port 3000 only when it is free (the probe and the start race, but nothing else here uses 3000).
    const onDefaultPort = await portIsFree(3000);
    try {
      const { child, output } = run(
        ['dev', ...(onDefaultPort ? [] : ['--port', '0'])],
        { CLI_TEST_CRM_URL: crm.url },
        cwd,
      );
      await waitFor(() => /ready/.test(output()), 30_000, 'the ready line', output, child);
      const url = readyUrl(output());
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      if (onDefaultPort) expect(url).toBe('http://127.0.0.1:3000');
      else console.warn('port 3000 is taken: the default port is not checked in this run');
      const ready =
        output()
          .split('\n')
          .find((line) => line.includes('ready')) ?? '';
      // The ready line names the console and the webhook URL of the source in ./switchyard.config.ts.
      expect(ready).toContain(`console: ${url}/`);
      expect(ready).toContain(`${url}/webhooks/paystripe`);
      const consolePage = await fetch(`${url}/`);
      expect(consolePage.status).toBe(200);
      expect(consolePage.headers.get('content-type')).toMatch(/text\/html/);

      // Signed with the secret from ./.switchyard/secrets.json; delivered with its CRM token.
      const response = await sendStripeEvent(
        `${url}/webhooks/paystripe`,
        stripeCustomerEvent('customer.created', demoCustomer(45), Math.floor(Date.now() / 1000)),
        secret,
      );
      expect(response.status).toBe(202);
      await waitFor(() => crm.calls.some((call) => call.status === 201), 15_000, 'the delivery', output);
      expect(crm.calls.find((call) => call.status === 201)?.headers.authorization).toBe(
        'Bearer defaults-token',
      );

      // Its state is in ./.switchyard/.
      expect(existsSync(join(cwd, '.switchyard', 'queues.journal'))).toBe(true);
      expect(existsSync(join(cwd, '.switchyard', 'dynamodb'))).toBe(true);
      child.kill('SIGTERM');
      expect(await exitedWithin(child, 20_000, 'dev after SIGTERM', output)).toBe(0);
      expect((await savedCounters(join(cwd, '.switchyard'))).delivered).toBe(1);
    } finally {
      await crm.stop();
    }
  });

  it('fails at start with the field and the value when the config is bad', async () => {
    const { child, output } = run([
      'dev',
      '--config',
      'test/e2e/fixtures/bad.config.ts',
      '--port',
      '0',
      '--data',
      dir,
    ]);
    expect(await exited(child)).toBe(1);
    expect(output()).toContain('flows[0].from[0]: no source named "shopify"');
  });
});
