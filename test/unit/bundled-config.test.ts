import { mkdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import {
  BUNDLED_CONFIG_GLOBAL,
  bundledConfigDefine,
  configFromBundle,
} from '../../functions/core/bundled-config.js';
import type { MapFunction, SwitchyardConfigInput } from '../../functions/core/config.js';
import { loadConfig } from '../../functions/core/config-schema.js';
import { ConfigError } from '../../functions/core/errors.js';
import { lambdaEsbuildOptions } from '../../lib/constructs/bundling.js';
import userConfig from '../../switchyard.config.js';
import { baseConfigInput } from '../support/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Under node_modules, so a bundle's external packages resolve as the Lambda runtime's would.
const OUT = `${ROOT}node_modules/.cache/switchyard-bundled-config-test`;

/** What the bundle's define holds, as the bundle's code sees it (esbuild parses the define as JSON). */
function bundledJson(config: ReturnType<typeof loadConfig>): string {
  return JSON.parse(bundledConfigDefine(config)[BUNDLED_CONFIG_GLOBAL] ?? 'null') as string;
}

function withMapFunction(): { input: SwitchyardConfigInput; map: MapFunction } {
  const map: MapFunction = () => [{ entity: 'customer', id: 'f1', version: 1, fields: { email: 'a@x.io' } }];
  const input = baseConfigInput();
  input.sources.fn = { connector: 'hmac', secret: 'acme/fn', header: 'x-sig', eventId: { path: 'id' }, map };
  return { input, map };
}

describe('the config bundled into the Lambdas', () => {
  it('is the validated config with every default, read back without the schema', () => {
    const config = loadConfig(userConfig);
    expect(configFromBundle(bundledJson(config), userConfig)).toEqual(config);
  });

  it('puts mapping functions back where the config had them (JSON cannot carry them)', () => {
    const { input, map } = withMapFunction();
    const config = loadConfig(input);
    const json = bundledJson(config);
    expect((JSON.parse(json) as { sources: Record<string, object> }).sources.fn).not.toHaveProperty('map');
    const bundled = configFromBundle(json, input);
    const fn = bundled.sources.fn;
    expect(fn?.connector === 'hmac' ? fn.map : undefined).toBe(map);
    expect(bundled).toEqual(config);
  });

  it('fails if the bundle was built without its config, naming the global and how to build it', () => {
    expect(() => configFromBundle(undefined, userConfig)).toThrow(ConfigError);
    expect(() => configFromBundle(undefined, userConfig)).toThrow(
      /__SWITCHYARD_CONFIG__: this bundle was built without its validated config; build it through HubFunction/,
    );
  });

  it('fails if the bundled config is not JSON, showing its start', () => {
    expect(() => configFromBundle('{"name": "acme"', userConfig)).toThrow(
      /__SWITCHYARD_CONFIG__: not JSON \(got \{"name": "acme"/,
    );
  });

  it('fails at synth if the config is too large for a bundle build, naming its size', () => {
    const config = loadConfig(userConfig);
    const huge = { ...config, ownership: { customer: { email: 'x'.repeat(120_000) } } } as typeof config;
    expect(() => bundledConfigDefine(huge)).toThrow(
      /the validated config is 1\d{5} bytes as JSON; at most 100000/,
    );
  });

  it('is what a built function runs with: functions/runtime.ts bundled as HubFunction bundles it', async () => {
    const config = loadConfig(userConfig);
    await mkdir(OUT, { recursive: true });
    const outfile = `${OUT}/runtime.cjs`;
    const result = await build({ ...lambdaEsbuildOptions(`${ROOT}functions/runtime.ts`, outfile, config) });
    const inputs = Object.keys(result.metafile?.inputs ?? {});
    // Neither the schema nor zod is in the bundle: the config arrives validated.
    expect(
      inputs.filter((input) => input.includes('config-schema') || input.includes('node_modules/zod/')),
    ).toEqual([]);
    const runtime = (await import(`${pathToFileURL(outfile).href}?${Date.now()}`)) as {
      base: { config: unknown };
    };
    expect(runtime.base.config).toEqual(config);
  });

  it('keeps error names through minification: a bundled entry without its environment says MissingEnvironmentError', async () => {
    const config = loadConfig(userConfig);
    await mkdir(OUT, { recursive: true });
    const outfile = `${OUT}/route.cjs`;
    await build({ ...lambdaEsbuildOptions(`${ROOT}functions/route.ts`, outfile, config) });
    expect(process.env.STATE_TABLE_NAME).toBeUndefined();
    // The name is a log field and the reason dimension of failure metrics, so it must survive.
    await expect(import(`${pathToFileURL(outfile).href}?${Date.now()}`)).rejects.toMatchObject({
      name: 'MissingEnvironmentError',
      message: expect.stringMatching(/^Environment variable [A-Z_]+ is not set$/),
    });
  });
});
