import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
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
 * HubFunction's bundling props (hub-function.ts): ESM with the createRequire banner, minified with
 * class and function names kept (the errors' `name` comes from their class and becomes a log field
 * and the reason dimension of failure metrics), external source maps without sources, the validated
 * config defined in, local esbuild only. {@link lambdaEsbuildOptions} is the same as esbuild options.
 */
export function hubBundling(config: SwitchyardConfig): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    banner: ESM_REQUIRE_SHIM,
    mainFields: ['module', 'main'],
    minify: true,
    keepNames: true,
    sourceMap: true,
    sourcesContent: false,
    define: bundledConfigDefine(config),
    forceDockerBundling: false,
  };
}

/**
 * The esbuild options NodejsFunction runs with the bundling props of HubFunction ({@link hubBundling}),
 * for what measures or checks the bundles outside CDK (bench/cold-start.ts, test/unit/bundles.test.ts):
 * ESM, minified with names kept, external source map without sources, the createRequire banner, the validated
 * `config` defined in (functions/core/bundled-config.ts), and `@aws-sdk/*` external (NodejsFunction's
 * default for Node 18+ runtimes: the runtime provides the SDK).
 */
export function lambdaEsbuildOptions(entry: string, outfile: string, config: SwitchyardConfig): BuildOptions {
  const props = hubBundling(config);
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    mainFields: [...(props.mainFields ?? [])],
    minify: props.minify,
    keepNames: props.keepNames,
    sourcemap: props.sourceMap,
    sourcesContent: props.sourcesContent,
    banner: { js: props.banner ?? '' },
    define: { ...props.define },
    external: ['@aws-sdk/*'],
    metafile: true,
    outfile,
    logLevel: 'error',
  };
}
