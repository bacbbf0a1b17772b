import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { loadConfig, type SwitchyardConfig } from '../functions/core/config.js';
import { deriveTopology, type Topology } from '../functions/core/topology.js';
import { SwitchyardStack } from './switchyard-stack.js';

/** The repository root (holds cdk.json, package-lock.json and functions/). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BuildAppProps {
  /**
   * Project root: function entries, package-lock.json and cdk.json are looked up from it.
   *
   * @default PROJECT_ROOT
   */
  readonly projectRoot?: string;

  /**
   * Run the cdk-nag AwsSolutions and Serverless packs at synth. A finding that is not
   * acknowledged fails the synth.
   *
   * @default true
   */
  readonly nag?: boolean;

  /**
   * Cloud assembly directory.
   *
   * @default - `cdk.out` under the CLI, a temporary directory otherwise
   */
  readonly outdir?: string;

  /**
   * Where to deploy.
   *
   * @default - environment-agnostic
   */
  readonly env?: Environment;

  /**
   * Stack name.
   *
   * @default - the hub's name (`config.name`)
   */
  readonly stackName?: string;

  /**
   * Context values on top of cdk.json's. Template tests that never look at the Lambda code pass
   * `{ 'aws:cdk:bundling-stacks': [] }` to skip the esbuild bundling.
   *
   * @default - cdk.json's context only
   */
  readonly context?: Readonly<Record<string, unknown>>;
}

export interface BuiltApp {
  readonly app: App;
  readonly stack: SwitchyardStack;
  readonly config: SwitchyardConfig;
  readonly topology: Topology;
}

/**
 * Builds the CDK app from a config: validates it (throwing a ConfigError that names every bad
 * field and value), derives the topology, creates the stack and registers cdk-nag.
 *
 * `bin/app.ts` (what `cdk synth` runs) and the infra tests both call this, with the feature flags
 * from cdk.json, so the tests check exactly what deploys.
 */
export function buildApp(input: unknown, props: BuildAppProps = {}): BuiltApp {
  const projectRoot = props.projectRoot ?? PROJECT_ROOT;
  const config = loadConfig(input);
  const topology = deriveTopology(config);

  // Under the CLI, cdk.json's context arrives through the environment and takes precedence; this
  // gives a direct call (the tests) the same feature flags.
  const app = new App({
    context: { ...cdkJsonContext(projectRoot), ...props.context },
    outdir: props.outdir,
  });
  const stack = new SwitchyardStack(app, props.stackName ?? topology.name, {
    topology,
    settings: config,
    projectRoot,
    env: props.env,
    description: `Switchyard integration hub "${topology.name}"`,
  });
  if (props.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  }
  return { app, stack, config, topology };
}

function cdkJsonContext(projectRoot: string): Record<string, unknown> {
  const file = path.join(projectRoot, 'cdk.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> };
  return json.context ?? {};
}
