import type { BuildOptions } from 'esbuild';
import { bundledConfigDefine } from '../../functions/core/bundled-config.js';
import type { SwitchyardConfig } from '../../functions/core/config.js';

/**
 * Makes `require` exist in the ESM bundle. Some bundled dependencies are CommonJS and call
 * `require('node:...')` at run time, which an ES module does not define.
 */
export const ESM_REQUIRE_SHIM =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

/**
 * The esbuild options NodejsFunction runs with the bundling props of HubFunction (hub-function.ts),
 * for what measures or checks the bundles outside CDK (bench/cold-start.ts, test/unit/bundles.test.ts):
 * ESM, minified, external source map without sources, the createRequire banner, the validated
 * `config` defined in (functions/core/bundled-config.ts), and `@aws-sdk/*` external (NodejsFunction's
 * default for Node 18+ runtimes: the runtime provides the SDK).
 */
export function lambdaEsbuildOptions(entry: string, outfile: string, config: SwitchyardConfig): BuildOptions {
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    banner: { js: ESM_REQUIRE_SHIM },
    define: bundledConfigDefine(config),
    external: ['@aws-sdk/*'],
    metafile: true,
    outfile,
    logLevel: 'error',
  };
}
