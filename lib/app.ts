import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, type Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { SwitchyardConfig } from '../functions/core/config.js';
import { loadConfig } from '../functions/core/config-schema.js';
import { deriveTopology, type Topology } from '../functions/core/topology.js';
import { type ResolvedStage, resolveStage, type StagesInput } from './stages.js';
import { type HubSettings, SwitchyardStack } from './switchyard-stack.js';

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
   * @default - the staged hub name (`<config.name>-<stage>`), or `config.name` without a stage
   */
  readonly stackName?: string;

  /**
   * The stage to build: `dev`, `prod` (lib/stages.ts DEFAULT_STAGES) or a name in `stages`.
   *
   * @default - the `stage` context value (`cdk synth --context stage=prod`); without one, the
   *   unstaged hub: named after the config, with its retention and thresholds, deployed all at once
   */
  readonly stage?: string;

  /**
   * Per-stage overrides of, or additions to, DEFAULT_STAGES (deploy strategy, log retention,
   * alarm thresholds), merged field by field.
   *
   * @default - DEFAULT_STAGES as they are
   */
  readonly stages?: StagesInput;

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
  /** The validated config, as written (its name is not the staged one). */
  readonly config: SwitchyardConfig;
  /** The topology the stack is built from, named after the staged hub name. */
  readonly topology: Topology;
  /** The stage built (name undefined for the unstaged hub) and its settings. */
  readonly stage: ResolvedStage;
  /** What the stack was given: the config with the stage's retention and thresholds applied. */
  readonly settings: HubSettings;
}

/**
 * Builds the CDK app from a config: validates it (throwing a ConfigError that names every bad
 * field and value), resolves the stage, derives the topology, creates the stack and registers
 * cdk-nag.
 *
 * Stages: one config, several stages of the hub, chosen with `--context stage=<name>` (or
 * `props.stage`). A stage's stack is `<name>-<stage>`, and so is the prefix of every resource name
 * (queues, table, alarms, dashboard, API, data key alias, CodeDeploy application): the topology is
 * derived from the config under that name, so two stages can live in one account and region. Its
 * deploy strategy, log retention and alarm thresholds come from its StageSettings (lib/stages.ts).
 * Without a stage the app builds the hub it always has, under the config's name, so `cdk deploy`
 * updates an existing stack instead of creating a second hub beside it.
 *
 * Secrets are per stage: every secret name the config gives is read and granted as
 * `<secretsPrefix><name>` (default `<stage>/`, none without a stage), so `prod` reads
 * `prod/acme/stripe-webhook` and `dev` cannot.
 *
 * `bin/app.ts` (what `cdk synth` runs) and the infra tests both call this, with the feature flags
 * from cdk.json, so the tests check exactly what deploys.
 */
export function buildApp(input: unknown, props: BuildAppProps = {}): BuiltApp {
  const projectRoot = props.projectRoot ?? PROJECT_ROOT;
  const config = loadConfig(input);

  // Under the CLI, cdk.json's context arrives through the environment and takes precedence; this
  // gives a direct call (the tests) the same feature flags. `--context stage=...` arrives the same way.
  const app = new App({
    context: { ...cdkJsonContext(projectRoot), ...props.context },
    outdir: props.outdir,
  });
  const stage = resolveStage(config.name, props.stage ?? app.node.tryGetContext('stage'), props.stages);
  const topology = deriveTopology(
    { ...config, name: stage.hubName },
    { secretsPrefix: stage.settings.secretsPrefix ?? '' },
  );
  const settings: HubSettings = {
    ...config,
    logs: { ...config.logs, retentionDays: stage.settings.logRetentionDays ?? config.logs.retentionDays },
    alarms: { ...config.alarms, ...stage.settings.alarms },
  };
  const stack = new SwitchyardStack(app, props.stackName ?? stage.hubName, {
    topology,
    settings,
    projectRoot,
    config,
    env: props.env,
    deployment: stage.settings.deployment,
    description: stage.name
      ? `Switchyard integration hub "${config.name}", stage ${stage.name}`
      : `Switchyard integration hub "${topology.name}"`,
  });
  if (props.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  }
  return { app, stack, config, topology, stage, settings };
}

function cdkJsonContext(projectRoot: string): Record<string, unknown> {
  const file = path.join(projectRoot, 'cdk.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> };
  return json.context ?? {};
}
