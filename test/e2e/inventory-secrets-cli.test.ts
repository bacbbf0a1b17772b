import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { buildApp } from '../../lib/app.js';
import { buildInventory, type Inventory } from '../../local/commands/inventory.js';
import { checkSecretsFile, type SecretsReport } from '../../local/commands/secrets.js';

/*
 * `switchyard inventory` and `switchyard secrets check`, run as a user runs them (the CLI spawned on a
 * config file), plus the alarm names checked against the stack lib/ synthesizes from the same config.
 */

const hub: SwitchyardConfigInput = {
  name: 'inv',
  sources: {
    stripe: { connector: 'stripe', secret: 'inv/stripe-signing', toleranceSeconds: 120 },
    'stripe-eu': { connector: 'stripe', secret: 'inv/stripe-eu-signing' },
  },
  destinations: {
    crm: {
      connector: 'http',
      url: 'https://crm.example.com/api/contacts?apikey=zzz',
      secret: 'inv/crm-token',
      maxConcurrency: 3,
      retry: { maxReceiveCount: 6 },
    },
    erp: { connector: 'http', url: 'https://erp.example.com/api/customers' },
  },
  flows: [
    { name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'stripe-eu'], to: ['crm'] },
    { name: 'customers-to-erp', entity: 'customer', from: ['stripe'], to: ['erp'] },
  ],
  ownership: { customer: { email: 'stripe', address: 'stripe-eu', name: 'stripe' } },
  logs: { retentionDays: 90 },
  quarantine: { retentionDays: 30 },
};

const VALUES = {
  current: `whsec_current_${'c'.repeat(24)}`,
  previous: `whsec_previous_${'p'.repeat(24)}`,
  eu: `whsec_eu_${'e'.repeat(24)}`,
  token: `crm_token_${'t'.repeat(24)}`,
};

let dir: string;

/** Every alarm name lib/ gives the stack built from `input`. */
function stackAlarms(input: SwitchyardConfigInput, outdir: string): string[] {
  const built = buildApp(input, { nag: false, outdir: join(dir, outdir) });
  return built.stack.node
    .findAll()
    .filter((c): c is CfnAlarm => c instanceof CfnAlarm)
    .map((alarm) => String(alarm.alarmName))
    .sort();
}

/** Every alarm name the inventory lists, once. */
function allAlarms(inventory: Inventory): string[] {
  return [
    ...new Set([
      ...inventory.sources.flatMap((s) => s.alarms),
      ...inventory.destinations.flatMap((d) => d.alarms),
      ...inventory.hubAlarms,
    ]),
  ].sort();
}
const configFile = () => join(dir, 'hub.config.mjs');

function run(args: string[]): Promise<{ code: number | null; output: string; stdout: string }> {
  return new Promise((resolve) => {
    let output = '';
    let stdout = '';
    const child = spawn(process.execPath, ['bin/switchyard.js', ...args], {
      env: {
        ...process.env,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        // No AWS credentials anywhere, and no waiting on an instance metadata service.
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_SESSION_TOKEN: '',
        AWS_PROFILE: '',
        AWS_WEB_IDENTITY_TOKEN_FILE: '',
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '',
        AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
        AWS_REGION: 'eu-west-1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('exit', (code) => resolve({ code, output, stdout }));
  });
}

function expectNoValue(text: string): void {
  for (const value of Object.values(VALUES)) {
    expect(text).not.toContain(value);
    expect(text).not.toContain(value.slice(-12));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-inventory-'));
  await writeFile(configFile(), `export default ${JSON.stringify(hub)};\n`);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('switchyard inventory', () => {
  let inventory: Inventory;
  beforeAll(async () => {
    const { code, stdout, output } = await run(['inventory', '--json', '--config', configFile()]);
    expect(code, output).toBe(0);
    inventory = JSON.parse(stdout) as Inventory;
  });

  it('lists every source with its connector, signing secret, owned fields, replay window, schedule and retention', () => {
    expect(inventory.hub).toBe('inv');
    expect(inventory.sources.map((s) => s.name)).toEqual(['stripe', 'stripe-eu']);
    const [stripe, eu] = inventory.sources;
    expect(stripe).toMatchObject({
      connector: 'stripe',
      intake: { type: 'webhook', path: '/webhooks/stripe' },
      secrets: [{ name: 'inv/stripe-signing', role: 'signing' }],
      replayWindowSeconds: 120,
      owns: ['customer.email', 'customer.name'],
      flows: ['customers-to-crm', 'customers-to-erp'],
      schedule: null,
      retention: { logsDays: 90, quarantineDays: 30, queueDays: 4, deadLetterQueueDays: 14 },
    });
    expect(eu).toMatchObject({ owns: ['customer.address'], replayWindowSeconds: 300, schedule: null });
  });

  it('lists every destination with its connector, token, flows and retention, and an endpoint without credentials', () => {
    expect(inventory.destinations.map((d) => d.name)).toEqual(['crm', 'erp']);
    const [crm, erp] = inventory.destinations;
    expect(crm).toMatchObject({
      connector: 'http',
      endpoint: 'https://crm.example.com/api/contacts',
      secrets: [{ name: 'inv/crm-token', role: 'token' }],
      flows: [{ flow: 'customers-to-crm', entity: 'customer', from: ['stripe', 'stripe-eu'] }],
      owns: [],
      maxConcurrency: 3,
      maxReceiveCount: 6,
      retention: { logsDays: 90, quarantineDays: 30, queueDays: 14, deadLetterQueueDays: 14 },
    });
    expect(erp?.secrets).toEqual([]);
    expect(JSON.stringify(inventory)).not.toMatch(/hunter2|apikey|zzz/);
  });

  it('refuses a destination URL with a user and password, or plain http to another host, and never prints the password', async () => {
    // A credential belongs in the destination's secret: the config refuses it in the URL, and says so
    // with the user and password masked.
    const refused = join(dir, 'refused.config.mjs');
    for (const [url, reason, shown] of [
      [
        'https://ops:hunter2@crm.example.com/api/contacts',
        'must not carry a user or password',
        '"https://***@crm.example.com/api/contacts"',
      ],
      ['https://hunter2@crm.example.com/api/contacts', 'must not carry a user or password', '***@crm'],
      ['http://crm.example.com/api/contacts', 'must be https', '"http://crm.example.com/api/contacts"'],
    ] as const) {
      const crm = { connector: 'http', url, secret: 'inv/crm-token' } as const;
      await writeFile(
        refused,
        `export default ${JSON.stringify({ ...hub, destinations: { ...hub.destinations, crm } })};\n`,
      );
      const { code, output } = await run(['inventory', '--json', '--config', refused]);
      expect(code, output).toBe(1);
      expect(output).toContain(`destinations.crm.url: ${reason}`);
      expect(output).toContain(shown);
      expect(output).not.toMatch(/hunter2|ops:/);
    }
  });

  it('names exactly the alarms the synthesized stack has, each attached to what it watches', () => {
    expect(allAlarms(inventory)).toEqual(stackAlarms(hub, 'cdk.out'));
    const crm = inventory.destinations[0];
    expect(crm?.alarms).toEqual(
      expect.arrayContaining(['inv-deliver-crm-dlq.fifo-not-empty', 'inv-customers-to-crm-crm-latency-p99']),
    );
    expect(crm?.alarms.join()).not.toContain('erp');
  }, 120_000);

  it('prints a table by default, with every name and secret name and no value', async () => {
    const { code, stdout } = await run(['inventory', '--config', configFile()]);
    expect(code).toBe(0);
    for (const text of [
      'stripe-eu',
      'inv/crm-token (token)',
      'inv/stripe-signing (signing)',
      'customer.address',
    ])
      expect(stdout).toContain(text);
    expect(stdout).toContain('Alarms watching each');
    expect(stdout).not.toContain('hunter2');
  });

  it('shows a polled source with its schedule, API credential and poll-lag alarm, as the stack names them', () => {
    const withPoll: SwitchyardConfigInput = {
      ...hub,
      sources: {
        ...hub.sources,
        erp: {
          connector: 'rest-poll',
          schedule: 'rate(5 minutes)',
          url: 'https://erp.example.com/api/orders?token=abc',
          secret: 'inv/erp-api',
          map: { entity: 'customer', id: 'id', version: 'version', fields: { email: 'email' } },
        },
      },
    };
    const polled = buildInventory(loadConfig(withPoll));
    expect(polled.sources.find((s) => s.name === 'erp')).toMatchObject({
      intake: { type: 'poll', url: 'https://erp.example.com/api/orders' },
      secrets: [{ name: 'inv/erp-api', role: 'api-credential' }],
      schedule: 'rate(5 minutes)',
      replayWindowSeconds: null,
    });
    expect(polled.sources.find((s) => s.name === 'erp')?.alarms).toContain('inv-source-erp-poll-lag');
    expect(allAlarms(polled)).toEqual(stackAlarms(withPoll, 'cdk.out.poll'));
  }, 120_000);
});

describe('switchyard secrets check', () => {
  const secretsFile = () => join(dir, 'secrets.json');
  const write = async (values: Record<string, unknown> | string, mode = 0o600) => {
    await writeFile(secretsFile(), typeof values === 'string' ? values : JSON.stringify(values));
    await chmod(secretsFile(), mode);
  };
  const check = (...extra: string[]) =>
    run(['secrets', 'check', '--config', configFile(), '--secrets', secretsFile(), ...extra]);

  it('exits 0 when every referenced secret exists and parses, and never prints a value', async () => {
    await write({
      'inv/stripe-signing': JSON.stringify([VALUES.current, VALUES.previous]),
      'inv/stripe-eu-signing': VALUES.eu,
      'inv/crm-token': { token: VALUES.token },
      'inv/left-over': 'x'.repeat(30),
    });
    const { code, output } = await check();
    expect(code, output).toBe(0);
    expect(output).toContain('All 3 secret(s) exist and parse');
    expect(output).toMatch(/inv\/stripe-signing\s+signing\s+source stripe\s+ok\s+2 signing secrets/);
    expect(output).toContain('not referenced by the config: inv/left-over');
    expect(output).toContain('AWS Secrets Manager: not checked');
    expectNoValue(output);
  });

  it('exits 1 naming what is missing or unparseable, still without a value', async () => {
    await write({
      'inv/stripe-signing': `[${VALUES.current}`, // looks like JSON, does not parse
      'inv/crm-token': { tok: VALUES.token },
    });
    const { code, stdout } = await check('--json');
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as SecretsReport;
    expect(Object.fromEntries(report.checks.map((c) => [c.name, c.status]))).toEqual({
      'inv/stripe-signing': 'invalid',
      'inv/stripe-eu-signing': 'missing',
      'inv/crm-token': 'invalid',
    });
    expect(report.checks.find((c) => c.name === 'inv/stripe-eu-signing')?.usedBy).toEqual([
      'source stripe-eu',
    ]);
    expectNoValue(stdout);
  });

  it('does not quote a secrets file that is not JSON, and warns when others can read it', async () => {
    await write(`{"inv/stripe-signing": ${VALUES.current}}`, 0o644);
    const report = await checkSecretsFile(loadConfig(hub), secretsFile());
    expect(report.ok).toBe(false);
    expect(report.warnings.join('\n')).toContain('not valid JSON');
    expect(report.warnings.join('\n')).toContain('chmod 600');
    expectNoValue(JSON.stringify(report));
  });

  it('refuses a config with secret values pasted where secret names go, without echoing them', async () => {
    const signing = JSON.stringify([VALUES.current, VALUES.previous]);
    const token = JSON.stringify({ token: VALUES.token });
    const pasted = join(dir, 'pasted.config.mjs');
    await writeFile(
      pasted,
      `export default ${JSON.stringify({
        ...hub,
        sources: { ...hub.sources, stripe: { connector: 'stripe', secret: signing } },
        destinations: {
          ...hub.destinations,
          crm: { connector: 'http', url: 'https://crm.example.com', secret: token },
        },
      })};\n`,
    );
    for (const args of [
      ['secrets', 'check', '--config', pasted, '--secrets', secretsFile()],
      ['inventory', '--json', '--config', pasted],
    ]) {
      const { code, output } = await run(args);
      expect(code, output).toBe(1);
      expect(output).toContain(
        `sources.stripe.secret: must be a Secrets Manager name (letters, digits, /_+=.@-) (got [***(${signing.length} chars))`,
      );
      expect(output).toContain(
        `destinations.crm.secret: must be a Secrets Manager name (letters, digits, /_+=.@-) (got {***(${token.length} chars))`,
      );
      expectNoValue(output);
    }
  });

  it('says "not checked" for AWS Secrets Manager without credentials, and exits 1', async () => {
    const { code, output } = await check('--aws');
    expect(code).toBe(1);
    expect(output).toContain('not checked (no AWS credentials found)');
    expectNoValue(output);
  });
});

describe('a config module in a project that is not an ES module package', () => {
  it('is read from a switchyard.config.ts with no package.json "type": "module" beside it', async () => {
    const project = await mkdtemp(join(tmpdir(), 'switchyard-cjs-project-'));
    try {
      // No package.json: Node and tsx treat the .ts file as CommonJS, as in most projects.
      await writeFile(
        join(project, 'switchyard.config.ts'),
        `export default {
  name: 'plain-project',
  sources: { stripe: { connector: 'stripe', secret: 'plain/stripe-webhook' } },
  destinations: { crm: { connector: 'http', url: 'https://crm.example.com/api', secret: 'plain/crm-token' } },
  flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['crm'] }],
};
`,
      );
      const { code, stdout, output } = await run([
        'inventory',
        '--json',
        '--config',
        join(project, 'switchyard.config.ts'),
      ]);
      expect(code, output).toBe(0);
      expect((JSON.parse(stdout) as { hub: string }).hub).toBe('plain-project');
    } finally {
      await rm(project, { recursive: true, force: true });
    }
  });
});
