import { ConfigError } from '../functions/core/errors.js';
import type { AlarmThresholds } from './constructs/alarms.js';
import { CLOUDWATCH_RETENTION_DAYS } from './constructs/log-retention.js';

/**
 * How CodeDeploy moves the `live` alias of a function to its new version:
 *
 * - `all-at-once`: every invocation goes to the new version at once;
 * - `canary`: `percent` of invocations for `minutes`, then all of them;
 * - `linear`: `percent` more every `minutes` until all of them.
 *
 * While traffic shifts, the function's rollback alarms (see LiveDeployment) are watched; one in
 * ALARM moves the alias back to the old version.
 */
export type DeploymentStrategy =
  | { readonly type: 'all-at-once' }
  | { readonly type: 'canary'; readonly percent: number; readonly minutes: number }
  | { readonly type: 'linear'; readonly percent: number; readonly minutes: number };

/**
 * What differs between stages of one hub. Everything else (sources, destinations, flows, API
 * throttling, encryption) comes from the one config.
 */
export interface StageSettings {
  /** How new versions of the functions are shifted in. */
  readonly deployment: DeploymentStrategy;

  /**
   * Days the functions' logs and the API access logs are kept; a CloudWatch Logs retention period.
   *
   * @default - the config's `logs.retentionDays`
   */
  readonly logRetentionDays?: number;

  /**
   * Alarm thresholds replacing the config's `alarms` values, one by one.
   *
   * @default - the config's thresholds
   */
  readonly alarms?: Partial<AlarmThresholds>;

  /**
   * Put before every secret name the config gives, both where the functions read it and in their
   * grants: the `prod` stage reads `prod/acme/stripe-webhook`, `dev` reads `dev/acme/stripe-webhook`,
   * so a dev deploy can neither read nor be confused by prod's secrets. `''` shares the config's names.
   *
   * @default - `<stage>/` for a named stage; none for the unstaged hub
   */
  readonly secretsPrefix?: string;
}

/** Per stage name, overrides of (or additions to) {@link DEFAULT_STAGES}, merged field by field. */
export type StagesInput = Readonly<Record<string, Partial<StageSettings>>>;

export const ALL_AT_ONCE: DeploymentStrategy = { type: 'all-at-once' };
/** CodeDeploy's `LambdaCanary10Percent5Minutes`. */
export const CANARY_10_PERCENT_5_MINUTES: DeploymentStrategy = { type: 'canary', percent: 10, minutes: 5 };

/**
 * The stages `--context stage=<name>` selects without any configuration:
 *
 * - `dev`: all-at-once deploys, logs kept 7 days;
 * - `prod`: 10% of invocations on a new version for 5 minutes, then all; the config's retention.
 */
export const DEFAULT_STAGES: Readonly<Record<string, StageSettings>> = {
  dev: { deployment: ALL_AT_ONCE, logRetentionDays: 7 },
  prod: { deployment: CANARY_10_PERCENT_5_MINUTES },
};

/**
 * The settings of a hub built without a stage: the single hub `cdk deploy` has always built, named
 * after the config and with the config's retention and thresholds. Its functions are behind the
 * `live` alias too, shifted all at once (an update takes effect at once, as before aliases).
 */
export const UNSTAGED: StageSettings = { deployment: ALL_AT_ONCE };

/** A stage name: lower-case letters and digits, starting with a letter, at most 10 characters. */
export const STAGE_NAME = /^[a-z][a-z0-9]{0,9}$/;

/** A secrets prefix: characters a Secrets Manager name may hold (the functions check the same). */
const SECRETS_PREFIX = /^[A-Za-z0-9/_+=.@-]{0,256}$/;

/** The config's rule for the hub name, which a staged name (`<name>-<stage>`) must keep too. */
const HUB_NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** A stage the app is built for, with its settings resolved. */
export interface ResolvedStage {
  /** The stage name, or `undefined` for the unstaged hub. */
  readonly name: string | undefined;
  /**
   * The name every resource name derives from: `<config name>-<stage>`, or the config's name for the
   * unstaged hub. Also the stack name, unless the app is given another.
   */
  readonly hubName: string;
  readonly settings: StageSettings;
}

/**
 * Resolves the stage to build: its settings ({@link DEFAULT_STAGES} merged with `stages`) and the
 * hub name its resources are named after. `stage` undefined builds the unstaged hub
 * ({@link UNSTAGED}, named like the config).
 *
 * Throws a ConfigError naming the field when the stage is unknown or malformed, its hub name breaks
 * the config's name rule (31 characters: every queue, table and alarm name is sized for it), or a
 * setting is out of range.
 */
export function resolveStage(configName: string, stage: unknown, stages: StagesInput = {}): ResolvedStage {
  if (stage === undefined) return { name: undefined, hubName: configName, settings: UNSTAGED };
  const known = [...new Set([...Object.keys(DEFAULT_STAGES), ...Object.keys(stages)])];
  if (typeof stage !== 'string' || !STAGE_NAME.test(stage)) {
    throw new ConfigError([
      `stage: must be lower-case letters and digits, starting with a letter, at most 10 characters (got ${JSON.stringify(stage)})`,
    ]);
  }
  if (!known.includes(stage)) {
    throw new ConfigError([`stage: no stage named "${stage}" (stages: ${known.join(', ')})`]);
  }
  const hubName = `${configName}-${stage}`;
  const problems: string[] = [];
  if (!HUB_NAME.test(hubName)) {
    problems.push(
      `stage: the staged hub name "${hubName}" (name-stage) must be at most 31 characters; shorten the config's name or the stage's`,
    );
  }
  const base: Partial<StageSettings> = Object.hasOwn(DEFAULT_STAGES, stage)
    ? (DEFAULT_STAGES[stage] ?? {})
    : {};
  const override: Partial<StageSettings> = Object.hasOwn(stages, stage) ? (stages[stage] ?? {}) : {};
  const merged: Partial<StageSettings> = {
    ...base,
    ...override,
    alarms: { ...base.alarms, ...override.alarms },
  };
  const field = `stages.${stage}`;
  const { deployment } = merged;
  if (!deployment) problems.push(`${field}.deployment: required (all-at-once, canary or linear)`);
  else problems.push(...deploymentProblems(deployment, `${field}.deployment`));
  if (merged.logRetentionDays !== undefined && !CLOUDWATCH_RETENTION_DAYS.includes(merged.logRetentionDays)) {
    problems.push(
      `${field}.logRetentionDays: must be a CloudWatch Logs retention period in days, one of ${CLOUDWATCH_RETENTION_DAYS.join(', ')} (got ${JSON.stringify(merged.logRetentionDays)})`,
    );
  }
  for (const [name, value] of Object.entries(merged.alarms ?? {})) {
    const problem = thresholdProblem(name, value);
    if (problem) problems.push(`${field}.alarms.${name}: ${problem} (got ${JSON.stringify(value)})`);
  }
  const secretsPrefix = merged.secretsPrefix ?? `${stage}/`;
  if (typeof secretsPrefix !== 'string' || !SECRETS_PREFIX.test(secretsPrefix)) {
    problems.push(
      `${field}.secretsPrefix: must be characters of a Secrets Manager name (letters, digits, /_+=.@-), at most 256 (got ${JSON.stringify(secretsPrefix)})`,
    );
  }
  if (problems.length > 0 || !deployment) throw new ConfigError(problems);
  return { name: stage, hubName, settings: { ...merged, deployment, secretsPrefix } };
}

/** The ranges the config's `alarms` block allows, per threshold (functions/core/config.ts). */
const THRESHOLDS: Readonly<
  Record<keyof AlarmThresholds, { readonly max?: number; readonly integer?: boolean }>
> = {
  latencyP99Seconds: {},
  oldestMessageAgeSeconds: { integer: true },
  errorRatePercent: { max: 100 },
  quarantineRatePercent: { max: 100 },
  volumeAnomalyStdDevs: { max: 10 },
};

function thresholdProblem(name: string, value: unknown): string | undefined {
  if (!Object.hasOwn(THRESHOLDS, name))
    return `no such threshold (thresholds: ${Object.keys(THRESHOLDS).join(', ')})`;
  const range = THRESHOLDS[name as keyof AlarmThresholds];
  const kind = range.integer ? 'a positive whole number' : 'a positive number';
  const limit = range.max === undefined ? '' : ` at most ${range.max}`;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return `must be ${kind}${limit}`;
  if (range.integer && !Number.isInteger(value)) return `must be ${kind}${limit}`;
  if (range.max !== undefined && value > range.max) return `must be ${kind}${limit}`;
  return undefined;
}

function deploymentProblems(strategy: DeploymentStrategy, field: string): string[] {
  if (strategy.type === 'all-at-once') return [];
  if (strategy.type !== 'canary' && strategy.type !== 'linear') {
    return [
      `${field}.type: must be all-at-once, canary or linear (got ${JSON.stringify((strategy as { type: unknown }).type)})`,
    ];
  }
  const problems: string[] = [];
  // CodeDeploy's limits for time-based traffic shifting.
  if (!Number.isInteger(strategy.percent) || strategy.percent < 1 || strategy.percent > 99) {
    problems.push(
      `${field}.percent: must be a whole percent from 1 to 99 (got ${JSON.stringify(strategy.percent)})`,
    );
  }
  if (!Number.isInteger(strategy.minutes) || strategy.minutes < 1 || strategy.minutes > 2880) {
    problems.push(
      `${field}.minutes: must be whole minutes from 1 to 2880 (got ${JSON.stringify(strategy.minutes)})`,
    );
  }
  return problems;
}

/** `canary 10% for 5 minutes`: for descriptions and messages. */
export function describeStrategy(strategy: DeploymentStrategy): string {
  switch (strategy.type) {
    case 'all-at-once':
      return 'all at once';
    case 'canary':
      return `canary ${strategy.percent}% for ${strategy.minutes} minutes`;
    case 'linear':
      return `linear ${strategy.percent}% every ${strategy.minutes} minutes`;
  }
}
