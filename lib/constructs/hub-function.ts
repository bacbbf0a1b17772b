import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alias, Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import type { EnvRef, FunctionSpec } from '../../functions/core/topology.js';
import { hubBundling } from './bundling.js';
import { toRetentionDays } from './log-retention.js';
import { acknowledge } from './nag.js';

/** The alias every trigger invokes and CodeDeploy shifts to each new version. */
export const LIVE_ALIAS = 'live';

/** The hub's resources a function's environment can refer to (see {@link EnvRef}). */
export interface HubFunctionResources {
  /** The state table, for `tableName` refs. */
  readonly table: ITable;
  /** Queues by topology key (`inbound`, `deliver-<destination>`), for `queueUrl` and `queueUrlMap` refs. */
  readonly queues: ReadonlyMap<string, IQueue>;
}

export interface HubFunctionProps {
  /** What to build: entry, memory, timeout and environment, from the topology. */
  readonly spec: FunctionSpec;

  /** Absolute path of the project root; `spec.entry` is relative to it and it holds package-lock.json and tsconfig.json. */
  readonly projectRoot: string;

  /** Resources the environment refers to. */
  readonly resources: HubFunctionResources;

  /**
   * The validated config the function runs with, bundled as JSON (functions/core/bundled-config.ts),
   * so the bundle carries neither the config schema nor zod and does not validate again at load.
   */
  readonly config: SwitchyardConfig;

  /**
   * Days the function's log group keeps its logs. Must be a CloudWatch Logs retention period
   * (1, 3, 5, 7, 14, 30, 60, 90, ...); anything else throws at synth, naming the value.
   *
   * @default 30
   */
  readonly logRetentionDays?: number;

  /**
   * What happens to the log group when the function leaves the stack.
   *
   * @default RemovalPolicy.RETAIN - logs outlive the function until their retention expires
   */
  readonly logRemovalPolicy?: RemovalPolicy;

  /**
   * X-Ray tracing.
   *
   * Off by default: every event already carries one correlation id through the structured logs of
   * every stage (G8), HTTP APIs cannot start an X-Ray trace, and the handlers do not use the
   * Powertools tracer, so active tracing would record isolated Lambda segments only, at extra cost
   * and with an X-Ray grant on `Resource: *`. Switch it on here when the handlers adopt the tracer.
   *
   * @default Tracing.DISABLED
   */
  readonly tracing?: Tracing;

  /**
   * Concurrent executions reserved for (and capping) the function: the throttle of the ingest
   * function behind a function URL (`api.ingress: 'function-url'`).
   *
   * @default - no reservation: the function shares the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * The project's one Lambda construct: every Switchyard function is built by it, from a topology
 * {@link FunctionSpec}, so all of them share these defaults:
 *
 * - Runtime: Node.js 24 (`Runtime.NODEJS_24_X`), on arm64 (Graviton: cheaper per GB-second).
 * - Code: `spec.entry` bundled by the local esbuild (never Docker), as CommonJS (`index.js`: the
 *   runtime's SDK is CommonJS, see bundling.ts), minified (class and function names kept:
 *   errors are named after their class), with source maps (without the sources inlined, to keep
 *   the bundle small) and `NODE_OPTIONS=--enable-source-maps`, so stack
 *   traces point at the TypeScript. The AWS SDK v3 is left out: the runtime provides it. The
 *   config goes in already validated, as JSON (see {@link HubFunctionProps.config}).
 * - Memory and timeout: from the spec.
 * - Logs: an explicit log group with a retention (see {@link HubFunctionProps.logRetentionDays}),
 *   available as `logGroup`.
 * - Role: its own role with only `logs:CreateLogStream` and `logs:PutLogEvents` on that log group
 *   (no AWSLambdaBasicExecutionRole managed policy); everything else is granted by the stack.
 * - Environment: `spec.env` resolved against {@link HubFunctionResources}.
 * - Tracing: off (see {@link HubFunctionProps.tracing}).
 * - Versions: every change publishes a version (`currentVersion`, kept when replaced, so a rollback
 *   has something to go back to) and the {@link LIVE_ALIAS} alias points at it. Triggers (event
 *   source mappings, the API, schedules) invoke the alias, never `$LATEST`; the stack shifts the
 *   alias with CodeDeploy (see LiveDeployment).
 */
export class HubFunction extends NodejsFunction {
  /** The topology spec this function was built from. */
  readonly spec: FunctionSpec;
  /** The `live` alias: what triggers invoke. */
  readonly live: Alias;

  constructor(scope: Construct, id: string, props: HubFunctionProps) {
    const { spec } = props;
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: toRetentionDays(props.logRetentionDays ?? 30, `${id}.logRetentionDays`),
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Switchyard ${spec.kind} function ${spec.key}`,
    });
    logGroup.grantWrite(role);
    const tracing = props.tracing ?? Tracing.DISABLED;

    super(scope, id, {
      entry: path.join(props.projectRoot, spec.entry),
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: path.join(props.projectRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      description: `Switchyard ${spec.kind}: ${spec.key}`,
      role,
      logGroup,
      tracing,
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      environment: {
        ...resolveEnvironment(scope, spec, props.resources),
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: hubBundling(props.config),
    });
    this.spec = spec;
    this.live = new Alias(this, 'Live', {
      aliasName: LIVE_ALIAS,
      version: this.currentVersion,
      description: `What triggers invoke: the deployed version of ${spec.key}, shifted by CodeDeploy`,
    });

    if (tracing === Tracing.DISABLED) {
      acknowledge(
        this,
        'Serverless-LambdaTracing',
        'X-Ray is off on purpose: one correlation id follows each event through the structured logs of every stage, HTTP APIs cannot start an X-Ray trace and the handlers do not use the Powertools tracer, so tracing would add cost and an xray grant on Resource * for isolated segments only.',
      );
    }
  }
}

function resolveEnvironment(
  scope: Construct,
  spec: FunctionSpec,
  resources: HubFunctionResources,
): Record<string, string> {
  const queueUrl = (variable: string, key: string): string => {
    const queue = resources.queues.get(key);
    if (!queue) {
      throw new Error(
        `Function ${spec.key}: environment ${variable} refers to queue "${key}", which the stack does not have (queues: ${[...resources.queues.keys()].join(', ')})`,
      );
    }
    return queue.queueUrl;
  };
  const resolve = (variable: string, ref: EnvRef): string => {
    switch (ref.kind) {
      case 'literal':
        return ref.value;
      case 'tableName':
        return resources.table.tableName;
      case 'queueUrl':
        return queueUrl(variable, ref.queue);
      case 'queueUrlMap':
        // The URLs are tokens: toJsonString renders them inside the JSON at deploy time.
        return Stack.of(scope).toJsonString(
          Object.fromEntries(
            Object.entries(ref.queues).map(([name, key]) => [name, queueUrl(variable, key)]),
          ),
        );
    }
  };
  return Object.fromEntries(
    Object.entries(spec.env).map(([variable, ref]) => [variable, resolve(variable, ref)]),
  );
}
