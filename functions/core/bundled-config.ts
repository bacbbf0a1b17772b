import type { SwitchyardConfig } from './config.js';
import { ConfigError } from './errors.js';

/**
 * The global esbuild replaces with the config validated at synth (a JSON string). The Lambda bundles
 * read it instead of validating the config again at load: the schema and zod are ~110 kB of every
 * bundle and ~30 ms of every cold start, and the bundle is built by the same synth that validated
 * the config, so the check could only ever pass.
 */
export const BUNDLED_CONFIG_GLOBAL = '__SWITCHYARD_CONFIG__';

/**
 * Past this the config would not fit one esbuild command-line argument (Linux allows 128 KiB): it
 * fails at synth with the size, not as an esbuild crash.
 */
const MAX_BUNDLED_CONFIG_BYTES = 100_000;

/**
 * The esbuild `define` that bundles a validated config. Mapping functions cannot be JSON: they are
 * dropped here and put back at load from the config module the bundle imports
 * ({@link configFromBundle}).
 */
export function bundledConfigDefine(config: SwitchyardConfig): Record<string, string> {
  const json = JSON.stringify(config);
  if (json.length > MAX_BUNDLED_CONFIG_BYTES) {
    throw new ConfigError([
      `(root): the validated config is ${json.length} bytes as JSON; at most ${MAX_BUNDLED_CONFIG_BYTES} fit in a Lambda bundle's build (move large mappings into functions)`,
    ]);
  }
  return { [BUNDLED_CONFIG_GLOBAL]: JSON.stringify(json) };
}

/**
 * The config a bundle was built with: the synth-validated JSON, with the mapping functions of
 * `source` (the user's config module, bundled as written) at the paths they had.
 */
export function configFromBundle(json: string | undefined, source: unknown): SwitchyardConfig {
  if (json === undefined) {
    throw new ConfigError([
      `${BUNDLED_CONFIG_GLOBAL}: this bundle was built without its validated config; build it through HubFunction (lib/constructs/hub-function.ts) or lambdaEsbuildOptions (lib/constructs/bundling.ts)`,
    ]);
  }
  let config: unknown;
  try {
    config = JSON.parse(json);
  } catch (error) {
    throw new ConfigError([`${BUNDLED_CONFIG_GLOBAL}: not JSON (got ${json.slice(0, 40)}...)`], {
      cause: error,
    });
  }
  restoreFunctions(source, config, []);
  return config as SwitchyardConfig;
}

function restoreFunctions(source: unknown, target: unknown, path: readonly string[]): void {
  if (source === null || typeof source !== 'object') return;
  for (const [key, value] of Object.entries(source)) {
    if (typeof value === 'function') {
      if (target === null || typeof target !== 'object') {
        throw new ConfigError([
          `${[...path, key].join('.')}: a mapping function whose place is missing from the bundled config`,
        ]);
      }
      (target as Record<string, unknown>)[key] = value;
    } else {
      restoreFunctions(value, (target as Record<string, unknown> | undefined)?.[key], [...path, key]);
    }
  }
}
