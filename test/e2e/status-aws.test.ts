import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Runs the real CLI (bin/switchyard.js through tsx) with no AWS credentials anywhere: every AWS_*
 * variable cleared, the shared config and credentials files pointed at files that do not exist, and
 * the EC2 metadata endpoint disabled so the provider chain gives up at once instead of timing out.
 */
function cli(args: string[], home: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/switchyard.js', ...args], {
      env: {
        ...env,
        HOME: home,
        AWS_CONFIG_FILE: join(home, 'no-such-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-such-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('switchyard status --aws without AWS credentials', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'switchyard-status-aws-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('exits 1 with one line saying no credentials were found (region given)', async () => {
    const started = Date.now();
    const { code, stdout, stderr } = await cli(['status', '--aws', '--region', 'eu-west-1'], home);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^No AWS credentials found \(/)]);
    expect(stderr).toContain('AWS_PROFILE');
    // Fails fast: no metadata-endpoint timeouts.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('exits 1 naming both the missing credentials and the missing region', async () => {
    const { code, stderr } = await cli(['status', '--aws', '--stack', 'acme', '--json'], home);
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(
      /^No AWS credentials found and no AWS region set: .*--region or set AWS_REGION\.$/,
    );
  });
});
