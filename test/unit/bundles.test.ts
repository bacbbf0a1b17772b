import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/core/config-schema.js';
import { deriveTopology } from '../../functions/core/topology.js';
import { hubBundling, lambdaEsbuildOptions } from '../../lib/constructs/bundling.js';
import { resolveEnv } from '../../local/runtime.js';
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
  return { bytes: output.bytes, inputs: Object.keys(output.inputs), sdk, js: js.text };
}

/**
 * The SDK packages a bundle has loaded once Node has run its module init, as the Lambda runtime
 * requires it: the bundle is written under node_modules, so its `@aws-sdk/*` resolve as they would
 * in Lambda, and loaded in a fresh process with its function's environment.
 */
async function sdkLoadedAtInit(kind: 'deliver' | 'route' | 'poll'): Promise<string[]> {
  const dir = `${ROOT}node_modules/.cache/switchyard-bundles-test/${kind}`;
  await mkdir(dir, { recursive: true });
  await writeFile(`${dir}/package.json`, '{ "type": "commonjs" }\n');
  await writeFile(`${dir}/index.js`, (await bundle(kind)).js);
  const spec = deriveTopology(CONFIG).functions.find((fn) => fn.kind === kind);
  if (!spec) throw new Error(`no ${kind} function in the topology`);
  const queueUrls = Object.fromEntries(
    deriveTopology(CONFIG).queues.map((q) => [
      q.key,
      `https://sqs.us-east-1.amazonaws.com/000000000000/${q.name}`,
    ]),
  );
  const probe = `require(${JSON.stringify(`${dir}/index.js`)});
const names = Object.keys(require.cache).flatMap((file) => { const [scope, name] = (file.split('/node_modules/').pop() ?? '').split('/'); return scope === '@aws-sdk' ? [scope + '/' + name] : []; });
console.log(JSON.stringify([...new Set(names)].filter((n) => n.startsWith('@aws-sdk/client-') || n === '@aws-sdk/lib-dynamodb').sort()));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', probe], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      ...resolveEnv(spec, 'switchyard-state', queueUrls),
    },
  });
  return JSON.parse(stdout) as string[];
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

  it('deliver does not load the SQS client at init: it calls SQS only to back off or requeue', async () => {
    expect(await sdkLoadedAtInit('deliver')).toEqual([
      '@aws-sdk/client-dynamodb',
      '@aws-sdk/client-secrets-manager',
      '@aws-sdk/lib-dynamodb',
    ]);
  });

  it('route and poll load the SQS client at init: every invocation sends', async () => {
    expect(await sdkLoadedAtInit('route')).toContain('@aws-sdk/client-sqs');
    expect(await sdkLoadedAtInit('poll')).toContain('@aws-sdk/client-sqs');
  });

  it('deliver carries destination connectors only: no webhook connector, no JMESPath, no normalizers', async () => {
    const { inputs } = await bundle('deliver');
    const connectors = inputs.filter((input) => input.startsWith('functions/connectors/'));
    expect(connectors.sort()).toEqual([
      'functions/connectors/destinations.ts',
      'functions/connectors/http.ts',
      'functions/connectors/hubspot-destination.ts',
      'functions/connectors/node-http.ts',
    ]);
    expect(inputs.filter((input) => input.includes('@aws-lambda-powertools/jmespath'))).toEqual([]);
    expect(inputs.filter((input) => input.startsWith('functions/model/'))).toEqual([]);
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

describe('HubFunction bundling (hubBundling, what the CDK bundles with)', () => {
  it('builds minified CommonJS with class and function names kept and external source maps without the sources', () => {
    expect(hubBundling(CONFIG)).toMatchObject({
      format: OutputFormat.CJS,
      minify: true,
      keepNames: true,
      sourceMap: true,
      sourcesContent: false,
      forceDockerBundling: false,
    });
  });

  it('is what lambdaEsbuildOptions builds with, so these bundle tests measure the deployed bundles', () => {
    const props = hubBundling(CONFIG);
    const options = lambdaEsbuildOptions(`${ROOT}functions/ingest.ts`, '/tmp/index.js', CONFIG);
    expect(options).toMatchObject({
      format: props.format,
      minify: props.minify,
      keepNames: props.keepNames,
      sourcemap: props.sourceMap,
      sourcesContent: props.sourcesContent,
      mainFields: props.mainFields,
      define: props.define,
    });
  });
});
