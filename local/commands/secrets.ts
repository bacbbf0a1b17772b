import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { signingSecrets } from '../../functions/connectors/signing.js';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { parseSecretString } from '../../functions/core/secret-values.js';
import { loadConfigFile } from '../load-config.js';

/**
 * `switchyard secrets check`: every secret the config references, whether it exists and whether it
 * parses as what its user expects. It never prints a value, nor any part of one: only names, counts
 * and what is wrong.
 */

export type SecretRole = 'signing' | 'token' | 'api-credential';

export interface SecretRef {
  readonly name: string;
  readonly role: SecretRole;
  /** Who reads it: `source stripe`, `destination crm`. */
  readonly usedBy: readonly string[];
}

export interface SecretCheck extends SecretRef {
  readonly status: 'ok' | 'missing' | 'invalid' | 'not checked';
  /** Shape only, e.g. "2 signing secrets (current, previous)"; never a value. */
  readonly detail: string;
}

export interface SecretsReport {
  readonly mode: 'file' | 'aws';
  readonly where: string;
  readonly checks: readonly SecretCheck[];
  /** Names in the secrets file no config entry refers to (names only). */
  readonly unreferenced: readonly string[];
  readonly warnings: readonly string[];
  readonly ok: boolean;
}

interface SourceSettings {
  readonly connector: string;
  readonly secret?: string;
  readonly schedule?: string;
  /** Stripe's list API key, which reconciliation reads. */
  readonly api?: { readonly secret?: string };
}

/** Every secret the config references, with what reads it and as what. */
export function secretReferences(config: SwitchyardConfig): SecretRef[] {
  const refs = new Map<string, { role: SecretRole; usedBy: string[] }>();
  const add = (name: string, role: SecretRole, user: string) => {
    const found = refs.get(name);
    if (found) found.usedBy.push(user);
    else refs.set(name, { role, usedBy: [user] });
  };
  for (const [name, source] of Object.entries(config.sources as Readonly<Record<string, SourceSettings>>)) {
    if (source.api?.secret) add(source.api.secret, 'api-credential', `source ${name} (list API)`);
    if (!source.secret) continue;
    const polled = source.connector === 'rest-poll' || source.schedule !== undefined;
    add(source.secret, polled ? 'api-credential' : 'signing', `source ${name}`);
  }
  for (const [name, destination] of Object.entries(config.destinations)) {
    if (destination.secret) add(destination.secret, 'token', `destination ${name}`);
  }
  return [...refs].map(([name, ref]) => ({ name, ...ref }));
}

/**
 * Whether a stored value parses as its role wants, described without the value. Signing secrets: a
 * string, a JSON list [current, previous] or {current, previous}. Tokens and API credentials: a
 * string or {"token": ...}.
 */
export function checkValue(ref: SecretRef, stored: unknown): Pick<SecretCheck, 'status' | 'detail'> {
  const value = typeof stored === 'string' ? parseSecretString(stored) : stored;
  if (ref.role === 'signing') {
    try {
      const secrets = signingSecrets(value, ref.name);
      return {
        status: 'ok',
        detail:
          secrets.length === 1
            ? '1 signing secret'
            : `${secrets.length} signing secrets (current first, then previous: rotation in progress)`,
      };
    } catch {
      // The error's cause may quote the value (JSON.parse does): say what is wrong, not what is there.
      return {
        status: 'invalid',
        detail:
          'not a signing secret: want a string, a JSON list [current, previous] or {"current", "previous"}',
      };
    }
  }
  if (typeof value === 'string') {
    return value.trim().length > 0
      ? { status: 'ok', detail: 'a string' }
      : { status: 'invalid', detail: 'empty string' };
  }
  const token = (value as { token?: unknown } | null)?.token;
  if (value !== null && typeof value === 'object' && typeof token === 'string' && token.length > 0)
    return { status: 'ok', detail: 'an object with a "token" string' };
  return { status: 'invalid', detail: 'want a string or an object with a "token" string' };
}

/** Checks the references against a local secrets file (secret name -> value). */
export async function checkSecretsFile(config: SwitchyardConfig, file: string): Promise<SecretsReport> {
  const refs = secretReferences(config);
  const warnings: string[] = [];
  let values: Record<string, unknown> | undefined;
  let problem: string | undefined;
  try {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0)
      warnings.push(
        `${file} is readable or writable by group or others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`,
      );
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      problem = 'the secrets file must hold a JSON object: secret name -> value';
    else values = parsed as Record<string, unknown>;
  } catch (error) {
    // Never the parser's message: it quotes the file around the error, and the file holds secrets.
    problem =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'the secrets file does not exist'
        : 'the secrets file is not valid JSON';
  }
  const checks = refs.map((ref): SecretCheck => {
    if (!values) return { ...ref, status: 'missing', detail: problem ?? 'no secrets file' };
    if (!Object.hasOwn(values, ref.name))
      return { ...ref, status: 'missing', detail: 'not in the secrets file' };
    return { ...ref, ...checkValue(ref, values[ref.name]) };
  });
  const referenced = new Set(refs.map((r) => r.name));
  const unreferenced = values
    ? Object.keys(values)
        .filter((name) => !referenced.has(name))
        .sort()
    : [];
  if (problem) warnings.push(problem);
  return {
    mode: 'file',
    where: file,
    checks,
    unreferenced,
    warnings,
    ok: checks.every((c) => c.status === 'ok'),
  };
}

/** Checks the references in AWS Secrets Manager, if credentials are at hand; otherwise "not checked". */
export async function checkSecretsManager(config: SwitchyardConfig): Promise<SecretsReport> {
  const refs = secretReferences(config);
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    await client.config.credentials();
  } catch {
    client.destroy();
    return {
      mode: 'aws',
      where: 'AWS Secrets Manager',
      checks: refs.map((ref) => ({ ...ref, status: 'not checked', detail: 'no AWS credentials' })),
      unreferenced: [],
      warnings: ['AWS Secrets Manager: not checked (no AWS credentials found)'],
      ok: false,
    };
  }
  const region = await client.config.region().catch(() => 'unknown region');
  const checks: SecretCheck[] = [];
  for (const ref of refs) {
    try {
      const answer = await client.send(new GetSecretValueCommand({ SecretId: ref.name }));
      checks.push(
        answer.SecretString === undefined
          ? { ...ref, status: 'invalid', detail: 'binary secret; Switchyard reads string secrets' }
          : { ...ref, ...checkValue(ref, answer.SecretString) },
      );
    } catch (error) {
      const name = (error as { name?: string }).name ?? 'Error';
      checks.push({
        ...ref,
        status: name === 'ResourceNotFoundException' ? 'missing' : 'not checked',
        detail:
          name === 'ResourceNotFoundException' ? `not in Secrets Manager (${region})` : `${name} (${region})`,
      });
    }
  }
  client.destroy();
  return {
    mode: 'aws',
    where: `AWS Secrets Manager (${region})`,
    checks,
    unreferenced: [],
    warnings: [],
    ok: checks.every((c) => c.status === 'ok'),
  };
}

export function formatReport(report: SecretsReport): string {
  const rows = [['SECRET', 'ROLE', 'USED BY', 'STATUS', 'DETAIL']];
  for (const c of report.checks) rows.push([c.name, c.role, c.usedBy.join(', '), c.status, c.detail]);
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const lines = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
  const bad = report.checks.filter((c) => c.status !== 'ok').length;
  return [
    `Secrets referenced by the config, checked in ${report.where} (values are never printed):`,
    '',
    ...lines,
    '',
    ...report.warnings.map((w) => `warning: ${w}`),
    ...(report.unreferenced.length > 0
      ? [`not referenced by the config: ${report.unreferenced.join(', ')}`]
      : []),
    report.checks.length === 0
      ? 'The config references no secret.'
      : bad === 0
        ? `All ${report.checks.length} secret(s) exist and parse.`
        : `${bad} of ${report.checks.length} secret(s) missing, invalid or not checked.`,
    '',
  ].join('\n');
}

export function register(program: Command): void {
  const secrets = program.command('secrets').description('Secrets the hub config references');
  secrets
    .command('check')
    .description('List every secret the config references and whether it exists and parses (never its value)')
    .option('--config <file>', 'hub config module', 'switchyard.config.ts')
    .option('--secrets <file>', 'local secrets file (name -> value)', '.switchyard/secrets.json')
    .option('--aws', 'check AWS Secrets Manager instead of the local file (needs AWS credentials)', false)
    .option('--json', 'print JSON instead of a table', false)
    .action(async (options: { config: string; secrets: string; aws: boolean; json: boolean }) => {
      const config = await loadConfigFile(options.config);
      const report = options.aws
        ? await checkSecretsManager(config)
        : await checkSecretsFile(config, resolve(options.secrets));
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      if (!options.aws)
        process.stdout.write(options.json ? '' : 'AWS Secrets Manager: not checked (pass --aws)\n');
      process.exitCode = report.ok ? 0 : 1;
    });
}
