import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { LambdaApplication } from 'aws-cdk-lib/aws-codedeploy';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { EventSourceMapping, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { SwitchyardConfig } from '../functions/core/config.js';
import { ConfigError } from '../functions/core/errors.js';
import type { FunctionSpec, Topology } from '../functions/core/topology.js';
import { Alarms } from './constructs/alarms.js';
import { HubDashboard } from './constructs/dashboard.js';
import { dataKey } from './constructs/data-key.js';
import { DeliveryLane } from './constructs/delivery-lane.js';
import { HubFunction } from './constructs/hub-function.js';
import { HubMetrics, type Lane, lanesOf } from './constructs/hub-metrics.js';
import { pascal } from './constructs/ids.js';
import { IngestApi } from './constructs/ingest-api.js';
import { LiveDeployment } from './constructs/live-deployment.js';
import { toRetentionDays } from './constructs/log-retention.js';
import { acknowledge } from './constructs/nag.js';
import { PollSchedule } from './constructs/poll-schedule.js';
import { ReconcileSchedule } from './constructs/reconcile-schedule.js';
import { StateTable } from './constructs/state-table.js';
import { WebhookFunctionUrl } from './constructs/webhook-function-url.js';
import { ALL_AT_ONCE, type DeploymentStrategy } from './stages.js';

/**
 * The settings the stack reads from the config. Resources come from the topology; the flows and
 * sources name the lanes the alarms and the dashboard watch; `api` throttles the webhook API;
 * `encryption` chooses the key of the queues, the table and the alarm topic.
 */
export type HubSettings = Pick<SwitchyardConfig, 'logs' | 'alarms' | 'flows' | 'api' | 'encryption'> & {
  readonly sources: Readonly<Record<string, unknown>>;
  /**
   * The audit trail's retention: the functions' log groups hold the audit lines, so they keep at
   * least this long.
   * @default - the log retention alone
   */
  readonly audit?: SwitchyardConfig['audit'];
};

export interface SwitchyardStackProps extends StackProps {
  /** What to build: the one description of the hub shared with the local runtime. */
  readonly topology: Topology;

  /** Log retention, alarm thresholds, API throttling and encryption, from the validated config. */
  readonly settings: HubSettings;

  /** Absolute path of the project root: function entries are relative to it. */
  readonly projectRoot: string;

  /** The validated config, bundled into every function (they run with it, without validating again). */
  readonly config: SwitchyardConfig;

  /**
   * How CodeDeploy shifts each function's `live` alias to a new version (the stage's strategy).
   *
   * @default - all at once
   */
  readonly deployment?: DeploymentStrategy;
}

/**
 * The whole hub in one stack, built from the {@link Topology} only: the state table, one lane
 * (queue + DLQ) per topology queue, one {@link HubFunction} per topology function with exactly the
 * grants its spec asks for, SQS event sources, the webhook API, alarms, a dashboard, and outputs for
 * each webhook URL, the dashboard and the alarm topic.
 *
 * Every trigger (event source mapping, API route, schedule) invokes a function's `live` alias, and
 * one CodeDeploy deployment group per function shifts that alias to each new version with the
 * stage's strategy, rolling back when the function's error-rate alarm or the latency alarm of a lane
 * it serves is in ALARM (see {@link rollbackLanes}).
 */
export class SwitchyardStack extends Stack {
  readonly topology: Topology;
  /**
   * The customer-managed key of the queues, the table and the alarm topic (created or imported,
   * see dataKey), when the config asks for one.
   */
  readonly dataKey: IKey | undefined;
  readonly table: StateTable;
  /** Lanes by topology queue key. */
  readonly lanes: ReadonlyMap<string, DeliveryLane>;
  /** Functions by topology function key. */
  readonly functions: ReadonlyMap<string, HubFunction>;
  /** The HTTP API webhooks come in through (`api.ingress: 'http-api'`, the default). */
  readonly ingestApi: IngestApi | undefined;
  /** The ingest function URL webhooks come in through instead (`api.ingress: 'function-url'`). */
  readonly webhookFunctionUrl: WebhookFunctionUrl | undefined;
  readonly alarms: Alarms;
  readonly dashboard: HubDashboard;
  /** The CodeDeploy application of the hub (named after it), holding one group per function. */
  readonly deploymentApplication: LambdaApplication;
  /** Deployment groups by topology function key. */
  readonly deployments: ReadonlyMap<string, LiveDeployment>;

  constructor(scope: Construct, id: string, props: SwitchyardStackProps) {
    super(scope, id, props);
    const { topology, settings } = props;
    this.topology = topology;

    // Check the config values CloudFormation would reject before building anything.
    const logRetention = toRetentionDays(settings.logs.retentionDays, 'logs.retentionDays');
    // The audit trail is log lines in the functions' log groups: its retention is theirs.
    const functionLogRetention = settings.audit
      ? toRetentionDays(
          Math.max(settings.logs.retentionDays, settings.audit.retentionDays),
          settings.audit.retentionDays > settings.logs.retentionDays
            ? 'audit.retentionDays'
            : 'logs.retentionDays',
        )
      : logRetention;
    checkRouteThrottles(settings.api.routes, topology);

    this.dataKey = dataKey(this, topology.name, settings.encryption);
    const encryptionKey = this.dataKey;

    this.table = new StateTable(this, 'State', { spec: topology.table, encryptionKey });

    const lanes = new Map<string, DeliveryLane>();
    for (const spec of topology.queues) {
      lanes.set(spec.key, new DeliveryLane(this, `${pascal(spec.key)}Lane`, { spec, encryptionKey }));
    }
    this.lanes = lanes;
    const queues: ReadonlyMap<string, IQueue> = new Map([...lanes].map(([key, lane]) => [key, lane.queue]));

    const secrets = new Map<string, ISecret>();
    topology.secrets.forEach((spec, i) => {
      secrets.set(spec.name, Secret.fromSecretNameV2(this, `Secret${i}`, spec.name));
    });

    const routedKeys = new Set(topology.routes.map((route) => route.function));
    const functions = new Map<string, HubFunction>();
    for (const spec of topology.functions) {
      const fn = new HubFunction(this, `${pascal(spec.key)}Function`, {
        spec,
        projectRoot: props.projectRoot,
        resources: { table: this.table.table, queues },
        config: props.config,
        logRetentionDays: functionLogRetention,
        ...(routedKeys.has(spec.key) && settings.api.reservedConcurrency !== undefined
          ? { reservedConcurrentExecutions: settings.api.reservedConcurrency }
          : {}),
      });
      functions.set(spec.key, fn);
      this.grant(fn, spec, lanes, secrets);
      if (spec.consumes) this.consume(fn, spec, lanes);
    }
    this.functions = functions;

    // Operators' actions that no function performs (`switchyard redrive --aws`) go to the audit trail
    // here, by a fixed name the CLI knows, kept as long as the functions' audit lines.
    new LogGroup(this, 'OperatorAuditLog', {
      logGroupName: `${topology.name}-operator-audit`,
      retention: functionLogRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    for (const key of routedKeys) {
      const fn = functions.get(key);
      if (!fn) continue; // IngestApi names the missing function.
      acknowledge(
        fn,
        'Serverless-LambdaDLQ',
        'API Gateway (or, with api.ingress function-url, the function URL) invokes this function synchronously and returns its answer to the webhook provider; a failure becomes a 5xx the provider retries (G1). Lambda never invokes it asynchronously, so an async dead-letter target would never receive anything.',
      );
    }

    for (const spec of topology.schedules) {
      const fn = functions.get(spec.function);
      if (!fn)
        throw new Error(
          `Schedule for ${spec.source} targets ${spec.function}, which the topology does not have`,
        );
      new PollSchedule(this, `${pascal(spec.source)}Poll`, { spec, fn: fn.live });
    }
    const pollFn = functions.get('poll');
    if (pollFn) {
      // A failed poll changes nothing (the cursor only moves after everything is queued); the next
      // scheduled run re-reads, so Lambda's own async retries would only overlap it.
      // Scheduler invokes the alias, so that is where the async settings must be.
      pollFn.live.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(10) });
      acknowledge(
        pollFn,
        'Serverless-LambdaDLQ',
        'EventBridge Scheduler invokes the poll function; a failed poll leaves its cursor unchanged and the next scheduled run re-reads the same rows, so there is no event to keep in a dead-letter queue. Failures are counted (pollFailed) and alarmed through the function error-rate alarm.',
      );
      acknowledge(
        pollFn,
        'Serverless-LambdaAsyncFailureDestination',
        'A failed poll needs no failure destination: its cursor is unchanged, the next scheduled run re-reads the same rows, and the failure is counted (pollFailed) and alarmed through the function error-rate alarm.',
      );
    }

    for (const spec of topology.reconciles) {
      const fn = functions.get(spec.function);
      if (!fn)
        throw new Error(
          `Reconcile schedule for ${spec.flow} targets ${spec.function}, which the topology does not have`,
        );
      new ReconcileSchedule(this, `${pascal(spec.flow)}Reconcile`, { spec, fn: fn.live });
    }
    const reconcileFn = functions.get('reconcile');
    if (reconcileFn) {
      // A failed run changes nothing it did not finish; the next scheduled run covers the window again.
      reconcileFn.live.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(10) });
      acknowledge(
        reconcileFn,
        'Serverless-LambdaDLQ',
        'EventBridge Scheduler invokes the reconcile function; a failed run is repeated by the next scheduled run over the same window, so there is no event to keep in a dead-letter queue. Failures are counted (reconcileFailed) and alarmed through the function error-rate alarm.',
      );
      acknowledge(
        reconcileFn,
        'Serverless-LambdaAsyncFailureDestination',
        'A failed reconcile needs no failure destination: the next scheduled run covers the same window again, and the failure is alarmed through the function error-rate alarm.',
      );
    }

    const ingressFn = [...routedKeys].map((key) => functions.get(key)).find((fn) => fn !== undefined);
    if (settings.api.ingress === 'function-url' && ingressFn) {
      this.ingestApi = undefined;
      this.webhookFunctionUrl = new WebhookFunctionUrl(this, 'WebhookUrl', {
        routes: topology.routes,
        fn: ingressFn.live,
      });
    } else {
      this.webhookFunctionUrl = undefined;
      this.ingestApi = new IngestApi(this, 'Webhooks', {
        routes: topology.routes,
        handlers: new Map<string, IFunction>([...functions].map(([key, fn]) => [key, fn.live])),
        apiName: `${topology.name}-webhooks`,
        throttle: settings.api.throttle,
        routeThrottles: settings.api.routes,
        accessLogRetention: logRetention,
      });
    }
    const webhooks = this.ingestApi ?? this.webhookFunctionUrl;

    const metrics = new HubMetrics(topology);
    const sources = Object.keys(settings.sources);
    const { email, ...thresholds } = settings.alarms;
    this.alarms = new Alarms(this, 'Alarms', {
      lanes: [...lanes.values()],
      functions: new Map<string, IFunction>(functions),
      flowLanes: lanesOf(settings.flows),
      sources,
      schedules: topology.schedules,
      reconciles: topology.reconciles,
      metrics,
      namePrefix: topology.name,
      thresholds,
      ...(encryptionKey ? { key: encryptionKey } : {}),
      ...(email ? { email } : {}),
    });

    this.deploymentApplication = new LambdaApplication(this, 'Deployments', {
      applicationName: topology.name,
    });
    const deployments = new Map<string, LiveDeployment>();
    const strategy = props.deployment ?? ALL_AT_ONCE;
    for (const [key, fn] of functions) {
      const errorRate = this.alarms.errorRateAlarms.get(key);
      const latency = rollbackLanes(fn.spec, topology, settings.flows).flatMap((lane) => {
        const alarm = this.alarms.latencyAlarms.get(`${lane.flow}/${lane.destination}`);
        return alarm ? [alarm] : [];
      });
      const alarms: IAlarm[] = [...(errorRate ? [errorRate] : []), ...latency];
      deployments.set(
        key,
        new LiveDeployment(this, `${pascal(key)}Deployment`, {
          fn,
          alias: fn.live,
          key,
          application: this.deploymentApplication,
          strategy,
          alarms,
          fastRollback: {
            alarmName: `${topology.name}-${key}-live-error-rate-1m`,
            errorRatePercent: settings.alarms.errorRatePercent,
          },
        }),
      );
    }
    this.deployments = deployments;

    this.dashboard = new HubDashboard(this, 'Dashboard', {
      dashboardName: `${topology.name}-hub`,
      metrics,
      flows: settings.flows,
      sources,
      polledSources: topology.schedules.map((schedule) => schedule.source),
      lanes,
      functions: new Map<string, IFunction>(functions),
      ...(this.ingestApi
        ? { ingress: { api: this.ingestApi.api } }
        : ingressFn
          ? { ingress: { fn: ingressFn.live } }
          : {}),
      alarms: this.alarms.all,
      latencyP99Seconds: settings.alarms.latencyP99Seconds,
    });

    if (webhooks) {
      new CfnOutput(this, 'ApiUrl', {
        description: this.ingestApi ? 'Base URL of the webhook API' : 'The ingest function URL (webhooks)',
        value: this.ingestApi ? this.ingestApi.api.apiEndpoint : (this.webhookFunctionUrl?.url.url ?? ''),
      });
      for (const source of webhooks.sources) {
        new CfnOutput(this, `WebhookUrl${pascal(source)}`, {
          description: `Webhook URL to configure in ${source}`,
          value: webhooks.urlFor(source),
        });
      }
    }
    new CfnOutput(this, 'DashboardUrl', {
      description: 'CloudWatch dashboard of the hub: flows, ingest, queues, alarms',
      value: this.dashboard.url,
    });
    if (this.dataKey) {
      new CfnOutput(this, 'DataKeyArn', {
        description:
          'KMS key of the queues, the state table and the alarm topic; operators who redrive or read them need kms:Decrypt on it',
        value: this.dataKey.keyArn,
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic the alarms notify; subscribe to it',
      value: this.alarms.topic.topicArn,
    });
  }

  /**
   * Grants exactly what the spec lists, through the resources' grant methods, and on a
   * customer-managed key only the key use each needs (see DeliveryLane.grantSend and
   * StateTable.grantReadWriteData).
   */
  private grant(
    fn: HubFunction,
    spec: FunctionSpec,
    lanes: ReadonlyMap<string, DeliveryLane>,
    secrets: ReadonlyMap<string, ISecret>,
  ): void {
    for (const key of spec.sendsTo) {
      lane(lanes, key, `${spec.key}.sendsTo`).grantSend(fn);
    }
    if (spec.table === 'read-write') this.table.grantReadWriteData(fn);
    for (const name of spec.secrets) {
      const secret = secrets.get(name);
      if (!secret) {
        throw new Error(`Function ${spec.key} reads secret "${name}", which the topology does not list`);
      }
      // Grants on the secret's ARN with `-??????`: the six random characters Secrets Manager appends,
      // so exactly this secret is readable, without a `*`.
      secret.grantRead(fn);
    }
  }

  /** Subscribes the function to its queue; the event source grants the consume actions on that queue only. */
  private consume(fn: HubFunction, spec: FunctionSpec, lanes: ReadonlyMap<string, DeliveryLane>): void {
    const consumes = spec.consumes;
    if (!consumes) return;
    const source = lane(lanes, consumes.queue, `${spec.key}.consumes.queue`);
    if (source.spec.consumer !== spec.key) {
      throw new Error(
        `Function ${spec.key} consumes ${consumes.queue}, but the topology names ${source.spec.consumer} as its consumer`,
      );
    }
    // FIFO queues do not accept a batching window.
    const window = !source.spec.fifo && consumes.maxBatchingWindowSeconds > 0;
    // On the alias: each batch goes to the version(s) the alias routes to while CodeDeploy shifts it.
    fn.live.addEventSource(
      new SqsEventSource(source.queue, {
        batchSize: consumes.batchSize,
        maxBatchingWindow: window ? Duration.seconds(consumes.maxBatchingWindowSeconds) : undefined,
        maxConcurrency: consumes.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    for (const mapping of fn.live.node.children.filter((child) => child instanceof EventSourceMapping)) {
      acknowledge(
        mapping,
        'Serverless-LambdaEventSourceMappingDestination',
        `SQS event sources do not support on-failure destinations. A message that fails ${source.spec.maxReceiveCount} times moves to ${source.spec.deadLetter.name} through the queue's redrive policy, and that DLQ's depth is alarmed.`,
      );
    }
    acknowledge(
      fn,
      'Serverless-LambdaDLQ',
      `Only its SQS event source invokes this function, synchronously. Failed messages go to ${source.spec.deadLetter.name} through the queue's redrive policy; an async dead-letter target would never receive anything.`,
    );
  }
}

/**
 * The lanes whose p99 latency a new version of the function can push up, so whose latency alarm
 * rolls its deployment back: a deliver function's own destination on every flow; the route
 * function's every lane; ingest's the lanes of flows from a webhook source; poll's the lanes of
 * flows from a polled source.
 */
export function rollbackLanes(
  spec: FunctionSpec,
  topology: Pick<Topology, 'queues' | 'routes' | 'schedules'>,
  flows: HubSettings['flows'],
): Lane[] {
  const lanesFrom = (sources: readonly string[]): Lane[] =>
    lanesOf(flows.filter((flow) => flow.from.some((source) => sources.includes(source))));
  switch (spec.kind) {
    case 'route':
      return lanesOf(flows);
    case 'ingest':
      return lanesFrom(topology.routes.map((route) => route.source));
    case 'poll':
      return lanesFrom(topology.schedules.map((schedule) => schedule.source));
    case 'reconcile':
      // Off the hot path: what it repairs goes through route and deliver, whose alarms watch it.
      return [];
    case 'deliver': {
      const queue = topology.queues.find((q) => q.key === spec.consumes?.queue);
      return lanesOf(flows).filter((lane) => lane.destination === queue?.destination);
    }
  }
}

/** Every `api.routes` entry must name a source with a webhook route (a polled source has none). */
function checkRouteThrottles(routes: HubSettings['api']['routes'], topology: Topology): void {
  const webhookSources = topology.routes.map((route) => route.source);
  const problems = Object.keys(routes)
    .filter((source) => !webhookSources.includes(source))
    .map(
      (source) =>
        `api.routes.${source}: no webhook route for "${source}" (webhook sources: ${webhookSources.join(', ') || 'none'})`,
    );
  if (problems.length > 0) throw new ConfigError(problems);
}

function lane(lanes: ReadonlyMap<string, DeliveryLane>, key: string, field: string): DeliveryLane {
  const found = lanes.get(key);
  if (!found) {
    throw new Error(`${field}: no queue "${key}" in the topology (queues: ${[...lanes.keys()].join(', ')})`);
  }
  return found;
}
