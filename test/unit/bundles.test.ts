import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import { lambdaEsbuildOptions } from '../../lib/constructs/bundling.js';
import userConfig from '../../switchyard.config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LIMIT_BYTES = 250_000;
const CONFIG = loadConfig(userConfig);

/** Each Lambda entry bundled as HubFunction bundles it (in memory): its size, inputs and SDK imports. */
async function bundle(kind: string) {
  const result = await build({
    ...lambdaEsbuildOptions(
      `${ROOT}functions/${kind}.ts`,
      `/tmp/switchyard-bundle-test/${kind}/index.js`,
      CONFIG,
    ),
    write: false,
  });
  const js = result.outputFiles.find((file) => file.path.endsWith('.js'));
  const output = Object.values(result.metafile?.outputs ?? {}).find((o) => o.entryPoint !== undefined);
  if (!js || !output) throw new Error(`esbuild produced no bundle for ${kind}`);
  const sdk = [
    ...new Set([...js.text.matchAll(/require\("(@aws-sdk\/[a-z0-9-]+)"\)/g)].map((m) => m[1])),
  ].sort();
  return { bytes: output.bytes, inputs: Object.keys(output.inputs), sdk };
}

describe('Lambda bundles', () => {
  it('ingest loads the SQS and Secrets Manager clients only (no DynamoDB packages)', async () => {
    const { sdk } = await bundle('ingest');
    expect(sdk).toEqual(['@aws-sdk/client-secrets-manager', '@aws-sdk/client-sqs']);
  });

  it('route loads the DynamoDB and SQS clients only (no Secrets Manager)', async () => {
    const { sdk } = await bundle('route');
    expect(sdk).toEqual(['@aws-sdk/client-dynamodb', '@aws-sdk/client-sqs', '@aws-sdk/lib-dynamodb']);
  });

  it.each(['deliver', 'poll', 'reconcile'])('%s loads the three clients it calls', async (kind) => {
    const { sdk } = await bundle(kind);
    expect(sdk).toEqual([
      '@aws-sdk/client-dynamodb',
      '@aws-sdk/client-secrets-manager',
      '@aws-sdk/client-sqs',
      '@aws-sdk/lib-dynamodb',
    ]);
  });

  it('route carries the trimmed phone metadata, not libphonenumber-js metadata with formats', async () => {
    const { inputs } = await bundle('route');
    expect(inputs.some((input) => input.endsWith('functions/model/phone-metadata.json'))).toBe(true);
    expect(inputs.filter((input) => /libphonenumber-js\/metadata\.\w+\.json/.test(input))).toEqual([]);
  });

  it.each(['ingest', 'route', 'deliver', 'poll', 'reconcile'])(
    "%s bundles neither the config schema nor another kind's handler",
    async (kind) => {
      const { inputs } = await bundle(kind);
      expect(inputs.filter((input) => input.includes('functions/core/config-schema'))).toEqual([]);
      const handlers = inputs.filter(
        (input) => input.includes('functions/handlers/') && !input.includes('sqs-failure'),
      );
      expect(handlers).toEqual([`functions/handlers/${kind}-handler.ts`]);
    },
  );

  it.each(['ingest', 'deliver', 'poll', 'reconcile'])(
    '%s carries no zod (no record models)',
    async (kind) => {
      const { inputs } = await bundle(kind);
      expect(inputs.filter((input) => input.includes('node_modules/zod/'))).toEqual([]);
    },
  );

  it('route validates with zod/mini and the English messages only: no classic zod, no other locale', async () => {
    const { inputs } = await bundle('route');
    const zod = inputs.filter((input) => input.includes('node_modules/zod/'));
    expect(zod.some((input) => input.includes('zod/v4/mini/'))).toBe(true);
    expect(zod.filter((input) => input.includes('zod/v4/classic/'))).toEqual([]);
    expect(zod.filter((input) => input.includes('/locales/'))).toEqual(['node_modules/zod/v4/locales/en.js']);
  });

  it.each(['ingest', 'route', 'deliver', 'poll', 'reconcile'])(
    '%s is at most 250 KB minified',
    async (kind) => {
      const { bytes } = await bundle(kind);
      expect(bytes).toBeLessThanOrEqual(LIMIT_BYTES);
    },
  );
});
