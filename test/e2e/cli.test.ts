import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { demoCustomer, sendStripeEvent, stripeCustomerEvent } from '../../local/demo/stripe-sender.js';

const SECRET = 'whsec_cli_test';

function run(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['bin/switchyard.js', ...args], {
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

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string, output: () => string) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}. Output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

describe('switchyard dev (the CLI, as a user runs it)', () => {
  let dir: string;
  let crm: CrmDestination;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    // Slow enough that the drain is still going when the test knocks during it.
    crm = await startCrmDestination({ token: 'cli-token', delayMs: 1500 });
    await writeFile(
      join(dir, 'secrets.json'),
      JSON.stringify({ 'cli/stripe-webhook': SECRET, 'cli/crm-token': 'cli-token' }),
    );
  });
  afterAll(async () => {
    await crm?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a ready line with its URL, delivers, and on SIGTERM answers 503, drains and exits 0', async () => {
    const { child, output } = run(
      [
        'dev',
        '--config',
        'test/e2e/fixtures/cli.config.ts',
        '--secrets',
        join(dir, 'secrets.json'),
        '--port',
        '0',
        '--data',
        dir,
      ],
      { CLI_TEST_CRM_URL: crm.url },
    );
    await waitFor(() => /ready/.test(output()), 30_000, 'the ready line', output);
    const url = /ready at (http:\/\/[\d.:]+)/.exec(output())?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(`${url}/_switchyard/health`)).json()).toEqual({ ok: true });

    const response = await sendStripeEvent(
      `${url}/webhooks/stripe`,
      stripeCustomerEvent('customer.created', demoCustomer(42), Math.floor(Date.now() / 1000)),
      SECRET,
    );
    expect(response.status).toBe(202);
    child.kill('SIGTERM');
    await waitFor(() => /draining/.test(output()), 10_000, 'draining', output);
    const refused = await sendStripeEvent(
      `${url}/webhooks/stripe`,
      stripeCustomerEvent('customer.created', demoCustomer(43), Math.floor(Date.now() / 1000)),
      SECRET,
    );
    expect(refused.status).toBe(503);
    expect(refused.body.error).toBe('shutting_down');
    // Draining: the event accepted just before the signal still reaches the destination.
    expect(await exited(child)).toBe(0);
    expect(output()).toMatch(/SIGTERM: draining/);
    expect(crm.calls.filter((call) => call.status === 201)).toHaveLength(1);
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
