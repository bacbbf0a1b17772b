import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import { describe as describeError } from '../../functions/handlers/sqs-failure.js';
import { type CrmDestination, startCrmDestination } from '../../local/demo/crm-destination.js';
import { FileSecretStore } from '../../local/file-secrets.js';
import { createLogger } from '../../local/log.js';
import { type HubRuntime, startRuntime } from '../../local/runtime.js';

/*
 * Log scan (G2, G8): PII-laden and hostile traffic through the local runtime with the handlers'
 * Powertools logger at DEBUG and the runtime's own logger at debug, every byte written to stdout,
 * stderr or the console captured, then searched for anything personal or secret.
 *
 * Scenarios: signed customer events full of personal data (delivered); the same bodies with forged,
 * stale and wrong-secret signatures (401); a signed event with an invalid email (quarantined); a
 * destination answering 401 with a body that echoes the token and the email (quarantined); a
 * destination answering 500 (retried); a secrets file broken by a hand edit; a destination URL with
 * credentials in it; and a config with a secret value pasted where a secret name goes (the CLI).
 */

const SIGNING_SECRET = `whsec_logscan_${randomBytes(12).toString('hex')}`;
const PREVIOUS_SIGNING_SECRET = `whsec_logscan_prev_${randomBytes(12).toString('hex')}`;
const CRM_TOKEN = `crm_logscan_${randomBytes(12).toString('hex')}`;
/** Added to the secrets file by the hand edit below, unquoted: a realistic mistake. */
const UNQUOTED_API_KEY = `k${randomBytes(16).toString('hex')}`;
/** In a destination URL: `http://legacy:<password>@host/...`. */
const URL_PASSWORD = `urlpass${randomBytes(8).toString('hex')}`;
/** Pasted into a `secret:` field of a config instead of the secret's name. */
const PASTED_VALUE = `Bearer pasted_${randomBytes(8).toString('hex')}`;

interface Person {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly phone: string;
  readonly line1: string;
  readonly postalCode: string;
}
const people: Person[] = Array.from({ length: 6 }, (_, i) => ({
  id: `cus_logscan${String(i).padStart(6, '0')}`,
  email: `quokka.leakcheck${i}@example.org`,
  name: `Quokka Leakington${i}`,
  phone: `+1415555${String(1000 + i)}`,
  line1: `${77 + i} Leakcheck Lane`,
  postalCode: `LK${i}9QZ`,
}));
const invalidEmailPerson: Person = {
  id: 'cus_logscanbadmail',
  email: 'not-an-email-leakcheck',
  name: 'Wombat Leakington',
  phone: '+14155557777',
  line1: '1 Nowhere Leakcheck Road',
  postalCode: 'LK99QZ',
};

const now = () => Math.floor(Date.now() / 1000);
const sign = (body: string, secret: string, t = now()) =>
  `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;

function customerEvent(person: Person, type = 'customer.created', created = now()): string {
  return JSON.stringify({
    id: `evt_${randomBytes(10).toString('hex')}`,
    object: 'event',
    created,
    type,
    data: {
      object: {
        id: person.id,
        object: 'customer',
        email: person.email,
        name: person.name,
        phone: person.phone,
        address: {
          line1: person.line1,
          line2: null,
          city: 'Leakville',
          state: null,
          postal_code: person.postalCode,
          country: 'GB',
        },
      },
    },
  });
}

const captured: string[] = [];
const signaturesSent: string[] = [];
let crm: CrmDestination;
let crmHost = '';
let runtime: HubRuntime;
let dir: string;
let secretsFile: string;
let cliOutput = '';
const spies: MockInstance[] = [];

async function post(body: string, signature: string): Promise<number> {
  signaturesSent.push(/v1=([0-9a-f]+)/.exec(signature)?.[1] ?? signature);
  const response = await fetch(`${runtime.url}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body,
  });
  await response.text();
  return response.status;
}

function runCli(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(process.execPath, ['bin/switchyard.js', ...args], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('exit', () => resolve(output));
  });
}

const writeSecrets = (text: string) => writeFile(secretsFile, text);
const goodSecrets = () =>
  JSON.stringify({
    'log/stripe-webhook': JSON.stringify([SIGNING_SECRET, PREVIOUS_SIGNING_SECRET]),
    'log/crm-token': CRM_TOKEN,
  });

beforeAll(async () => {
  // Captured, not printed: the point is to read them.
  const capture = (chunk: unknown, ...rest: unknown[]): boolean => {
    captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  };
  spies.push(vi.spyOn(process.stdout, 'write').mockImplementation(capture as never));
  spies.push(vi.spyOn(process.stderr, 'write').mockImplementation(capture as never));
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    spies.push(
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        captured.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      }),
    );
  }

  dir = await mkdtemp(join(tmpdir(), 'switchyard-logscan-'));
  secretsFile = join(dir, 'secrets.json');
  await writeSecrets(goodSecrets());
  crm = await startCrmDestination({ token: CRM_TOKEN });
  crmHost = new URL(crm.url).host;
  const config = loadConfig({
    name: 'logscan',
    sources: { stripe: { connector: 'stripe', secret: 'log/stripe-webhook' } },
    destinations: {
      crm: {
        connector: 'http',
        url: crm.url,
        secret: 'log/crm-token',
        timeoutMs: 2000,
        retry: { maxReceiveCount: 4, baseDelaySeconds: 0.2, maxDelaySeconds: 0.5 },
      },
    },
    flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['crm'] }],
    logs: { level: 'DEBUG' },
  });
  runtime = await startRuntime({
    config,
    secrets: new FileSecretStore(secretsFile, {}, 50),
    dataDir: dir,
    inMemory: true,
    port: 0,
    logLevel: 'DEBUG',
    pollWaitSeconds: 1,
    log: createLogger('runtime', { level: 'debug' }),
  });

  // 1. Signed events full of personal data, current and previous secret: delivered.
  for (const [i, person] of people.entries()) {
    const body = customerEvent(person);
    expect(await post(body, sign(body, i % 2 === 0 ? SIGNING_SECRET : PREVIOUS_SIGNING_SECRET))).toBe(202);
  }
  // 2. The same bodies, forged, stale, signed with another secret, tampered, malformed: 4xx.
  for (const person of people) {
    const body = customerEvent(person, 'customer.updated');
    expect(await post(body, `t=${now()},v1=${randomBytes(32).toString('hex')}`)).toBe(401);
    expect(await post(body, sign(body, SIGNING_SECRET, now() - 3600))).toBe(401);
    expect(await post(body, sign(body, 'whsec_somebody_else'))).toBe(401);
    expect(await post(body.replace(person.name, 'Mallory'), sign(body, SIGNING_SECRET))).toBe(401);
    const broken = `${body.slice(0, -1)} ${person.email}`;
    expect(await post(broken, sign(broken, SIGNING_SECRET))).toBe(400);
  }
  // 3. A signed event with an invalid email: quarantined by validation.
  const bad = customerEvent(invalidEmailPerson);
  expect(await post(bad, sign(bad, SIGNING_SECRET))).toBe(202);
  await runtime.settle(30_000);

  // 4. The destination answers 401 with a body echoing the token and the email, then 500 once.
  const [first, second] = people;
  if (!first || !second) throw new Error('people');
  crm.fail({
    status: 401,
    times: 1,
    body: JSON.stringify({ error: `token Bearer ${CRM_TOKEN} is not valid for ${first.email}` }),
  });
  const update = customerEvent({ ...first, name: `${first.name} Updated` }, 'customer.updated', now() + 1);
  expect(await post(update, sign(update, SIGNING_SECRET))).toBe(202);
  await runtime.settle(30_000);
  crm.fail({ status: 500, times: 1, body: `internal error for ${second.email} ${second.phone}` });
  const update2 = customerEvent({ ...second, name: `${second.name} Updated` }, 'customer.updated', now() + 1);
  expect(await post(update2, sign(update2, SIGNING_SECRET))).toBe(202);
  await runtime.settle(30_000);

  // 5. A hand edit breaks the secrets file (an unquoted value) while an event waits for its retry.
  crm.fail({ status: 503, times: 2 });
  const third = people[2] as Person;
  const update3 = customerEvent({ ...third, name: `${third.name} Again` }, 'customer.updated', now() + 2);
  expect(await post(update3, sign(update3, SIGNING_SECRET))).toBe(202);
  await writeSecrets(`${goodSecrets().slice(0, -1)}, "log/unused-api-key": ${UNQUOTED_API_KEY}}`);
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const refused = customerEvent(third, 'customer.updated', now() + 3);
  expect(await post(refused, sign(refused, SIGNING_SECRET))).toBe(503);
  await writeSecrets(goodSecrets());
  await runtime.settle(30_000);

  // 6. A config with a secret value where the secret's name goes, through the CLI.
  const badConfig = join(dir, 'bad.config.mjs');
  await writeFile(
    badConfig,
    `export default ${JSON.stringify({
      name: 'pasted',
      sources: { stripe: { connector: 'stripe', secret: PASTED_VALUE } },
      destinations: { crm: { connector: 'http', url: 'https://crm.example.com/api', secret: 'pasted/crm' } },
      flows: [{ name: 'customers', entity: 'customer', from: ['stripe'], to: ['crm'] }],
    })};\n`,
  );
  cliOutput = await runCli(['dev', '--config', badConfig, '--port', '0', '--data', dir]);
  captured.push(...cliOutput.split('\n'));
}, 120_000);

afterAll(async () => {
  for (const spy of spies) spy.mockRestore();
  await runtime?.stop();
  await crm?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Lines that hold `needle`, or any `window`-character piece of it (for long secrets). */
function linesWith(needle: string, window = 12): string[] {
  const windows =
    needle.length <= window + 4
      ? [needle]
      : Array.from({ length: needle.length - window + 1 }, (_, i) => needle.slice(i, i + window));
  return captured
    .flatMap((chunk) => chunk.split('\n'))
    .filter((line) => windows.some((w) => line.includes(w)));
}

function expectAbsent(label: string, needles: readonly string[], window = 12): void {
  for (const needle of needles) {
    const found = linesWith(needle, window);
    expect(
      found,
      `${label} "${needle}" in ${found.length} log line(s):\n${found.slice(0, 3).join('\n')}`,
    ).toEqual([]);
  }
}

describe('log scan: nothing personal or secret in any log line, on the happy and the error paths', () => {
  it('ran the scenarios: logs were written at DEBUG, events were delivered, rejected, quarantined and retried', async () => {
    const lines = captured.flatMap((chunk) => chunk.split('\n')).filter((l) => l.trim());
    expect(lines.length).toBeGreaterThan(50);
    expect(lines.some((l) => l.includes('"level":"DEBUG"') || l.includes('"level":"debug"'))).toBe(true);
    expect(lines.some((l) => l.includes('Webhook rejected'))).toBe(true);
    expect(lines.some((l) => l.includes('Quarantined'))).toBe(true);
    expect(lines.some((l) => l.includes('Transient failure; retrying later'))).toBe(true);
    const stats = await runtime.stats();
    expect(stats.flows['customers-to-crm']?.crm?.delivered).toBeGreaterThanOrEqual(people.length);
    expect(stats.flows['customers-to-crm']?.crm?.quarantined).toBeGreaterThanOrEqual(1);
    expect(stats.sources.stripe?.rejected.bad_signature).toBeGreaterThanOrEqual(people.length * 3);
    expect(cliOutput).toContain('Invalid Switchyard config');
  });

  it('logs no email, phone, name, street or postal code', () => {
    for (const person of [...people, invalidEmailPerson]) {
      expectAbsent('email', [person.email]);
      expectAbsent('phone', [person.phone, person.phone.slice(1)]);
      expectAbsent('name', [person.name]);
      expectAbsent('street', [person.line1]);
      expectAbsent('postal code', [person.postalCode]);
    }
  });

  it('logs no signing secret, no signature and no bearer token', () => {
    expectAbsent('signing secret', [SIGNING_SECRET, PREVIOUS_SIGNING_SECRET]);
    expectAbsent(
      'signature',
      signaturesSent.filter((s) => s.length >= 32),
    );
    expectAbsent('bearer token', [CRM_TOKEN, `Bearer ${CRM_TOKEN}`]);
  });

  it('refuses credentials in a destination URL at config load, without echoing them, and logs none', () => {
    let message = '';
    try {
      loadConfig({
        name: 'logscan',
        sources: { stripe: { connector: 'stripe', secret: 'log/stripe-webhook' } },
        destinations: {
          legacy: { connector: 'http', url: `http://legacy:${URL_PASSWORD}@${crmHost}/api/contacts` },
        },
        flows: [],
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('destinations.legacy.url: must not carry a user or password');
    expect(message).not.toContain(URL_PASSWORD);
    expectAbsent('URL password', [URL_PASSWORD]);
    // And should an error ever quote such a URL, the logged description drops the credentials.
    expect(
      JSON.stringify(
        describeError(new Error(`fetch failed for http://legacy:${URL_PASSWORD}@example.com/x`)),
      ),
    ).not.toContain(URL_PASSWORD);
  });

  it('logs no part of a secrets file that does not parse (the SyntaxError quotes it; describe() logs the cause)', () => {
    // V8 quotes about ten characters around the error: 8 random hex characters are enough to tell.
    expectAbsent('secrets-file value', [UNQUOTED_API_KEY], 8);
  });

  it('prints no secret value pasted into a config secret field (ConfigError echoes bad values)', () => {
    expectAbsent('pasted secret', [PASTED_VALUE.slice('Bearer '.length)]);
  });
});
