import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';
import { bundledConfigDefine } from '../../functions/core/bundled-config.js';
import type { SwitchyardConfig } from '../../functions/core/config.js';

/**
 * HubFunction's bundling props (hub-function.ts): CommonJS (`index.js`), minified with class and
 * function names kept (the errors' `name` comes from their class and becomes a log field and the
 * reason dimension of failure metrics), external source maps without sources, the validated config
 * defined in, local esbuild only. {@link lambdaEsbuildOptions} is the same as esbuild options.
 *
 * CommonJS rather than ESM for the cold start: the runtime's AWS SDK is CommonJS, and an ES module
 * that imports it makes Node scan each SDK package's source for its export names
 * (cjs-module-lexer) and run the ESM loader over it, where a CommonJS bundle just `require`s it.
 * The sources are still read as ES modules (`mainFields`), so tree shaking is unchanged. Measured by
 * `npm run bench -- --only=cold` (README "Benchmark").
 */
export function hubBundling(config: SwitchyardConfig): BundlingOptions {
  return {
    format: OutputFormat.CJS,
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
 * CommonJS, minified with names kept, external source map without sources, the validated `config`
 * defined in (functions/core/bundled-config.ts), and `@aws-sdk/*` external (NodejsFunction's default
 * for Node 18+ runtimes: the runtime provides the SDK). `outfile` should end in `.js` or `.cjs`.
 */
export function lambdaEsbuildOptions(entry: string, outfile: string, config: SwitchyardConfig): BuildOptions {
  const props = hubBundling(config);
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    mainFields: [...(props.mainFields ?? [])],
    minify: props.minify,
    keepNames: props.keepNames,
    sourcemap: props.sourceMap,
    sourcesContent: props.sourcesContent,
    define: { ...props.define },
    external: ['@aws-sdk/*'],
    metafile: true,
    outfile,
    logLevel: 'warning',
  };
}
