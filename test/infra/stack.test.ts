import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type CfnElement, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';
import { type BuiltApp, buildApp, PROJECT_ROOT } from '../../lib/app.js';
import { POLL_MISSED_RUNS, pollLagWindow } from '../../lib/constructs/alarms.js';
import type { DeliveryLane } from '../../lib/constructs/delivery-lane.js';
import type { HubFunction } from '../../lib/constructs/hub-function.js';
import { HUB_METRIC_DIMENSIONS, lanesOf } from '../../lib/constructs/hub-metrics.js';
import { longestIntervalSeconds } from '../../lib/constructs/schedule-interval.js';
import repoConfig from '../../switchyard.config.js';

/** A bigger hub: two webhook sources, two destinations (one without a secret), email alarms. */
const twoDestinations: SwitchyardConfigInput = {
  name: 'acme',
  sources: {
    stripe: { connector: 'stripe', secret: 'acme/stripe-webhook' },
    'stripe-eu': { connector: 'stripe', secret: 'acme/stripe-eu-webhook' },
  },
  destinations: {
    crm: {
      connector: 'http',
      url: 'https://crm.example.com/api/contacts',
      secret: 'acme/crm-token',
      maxConcurrency: 3,
    },
    erp: {
      connector: 'http',
      url: 'https://erp.example.com/api/customers',
      maxConcurrency: 10,
      retry: { maxReceiveCount: 4 },
    },
  },
  flows: [
    { name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'stripe-eu'], to: ['crm'] },
    { name: 'customers-to-erp', entity: 'customer', from: ['stripe'], to: ['erp'] },
  ],
  alarms: { email: 'ops@example.com', oldestMessageAgeSeconds: 600 },
  logs: { retentionDays: 90 },
};

interface Synthesized extends BuiltApp {
  readonly template: Template;
  /** What `app.synth()` threw (cdk-nag findings fail the synth), if anything. */
  readonly synthError: unknown;
}

type Json = Record<string, unknown>;
interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource?: unknown;
  readonly Principal?: unknown;
  readonly Condition?: unknown;
}

/** Sources with a webhook endpoint (polled sources have none). */
function webhookSources(app: { config: { sources: Record<string, { connector: string }> } }): string[] {
  return Object.entries(app.config.sources)
    .filter(([, source]) => source.connector !== 'rest-poll')
    .map(([name]) => name);
}

const outdirs: string[] = [];

/** Builds the app exactly as bin/app.ts does (cdk-nag on) and synthesizes it once. */
function synthesize(input: SwitchyardConfigInput): Synthesized {
  const outdir = mkdtempSync(path.join(tmpdir(), 'switchyard-infra-'));
  outdirs.push(outdir);
  const built = buildApp(input, { outdir });
  let synthError: unknown;
  try {
    built.app.synth();
  } catch (error) {
    synthError = error;
  }
  // The template is written before validation runs, so it is there even when cdk-nag fails the synth.
  const file = path.join(outdir, built.stack.templateFile);
  const template = Template.fromJSON(JSON.parse(readFileSync(file, 'utf8')) as Json);
  return { ...built, template, synthError };
}

afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function logicalId(construct: IConstruct): string {
  const element = construct.node.defaultChild as CfnElement | undefined;
  if (!element) throw new Error(`${construct.node.path} has no default child`);
  return element.stack.getLogicalId(element);
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Every statement of every identity policy attached to the role. */
function roleStatements(template: Template, roleId: string): Statement[] {
  const statements: Statement[] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const props = policy.Properties as { Roles: unknown[]; PolicyDocument: { Statement: Statement[] } };
    if (props.Roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId }))) {
      statements.push(...props.PolicyDocument.Statement);
    }
  }
  const role = template.findResources('AWS::IAM::Role')[roleId];
  for (const inline of asArray((role?.Properties as Json | undefined)?.Policies as Json[] | undefined)) {
    statements.push(...((inline.PolicyDocument as { Statement: Statement[] }).Statement ?? []));
  }
  return statements;
}

function resourceProps(template: Template, type: string, id: string): Json {
  const resource = template.findResources(type)[id];
  if (!resource) throw new Error(`no ${type} ${id} in the template`);
  return (resource.Properties ?? {}) as Json;
}

function laneOf(app: Synthesized, key: string): DeliveryLane {
  const lane = app.stack.lanes.get(key);
  if (!lane) throw new Error(`no lane ${key}`);
  return lane;
}

function functionOf(app: Synthesized, key: string): HubFunction {
  const fn = app.stack.functions.get(key);
  if (!fn) throw new Error(`no function ${key}`);
  return fn;
}

function variablesOf(app: Synthesized, key: string): Json {
  const props = resourceProps(app.template, 'AWS::Lambda::Function', logicalId(functionOf(app, key)));
  return (props.Environment as { Variables: Json }).Variables;
}

function functionStatements(app: Synthesized, key: string): Statement[] {
  const role = functionOf(app, key).role;
  if (!role) throw new Error(`function ${key} has no role`);
  return roleStatements(app.template, logicalId(role));
}

/**
 * `<function name>:live`, as a template names the `live` alias of a function to Lambda: the name
 * part of the alias ARN (what `Ref` of an AWS::Lambda::Alias returns) and the alias name.
 */
const aliasFunctionName = (aliasId: string) => ({
  'Fn::Join': ['', [{ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: aliasId }] }] }, ':live']],
});

const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => asArray(s.Action));
const getAtt = (id: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [id, attribute] });

/** Every "Statement" array anywhere in the template: identity, resource and key policies. */
function allStatements(template: Template): { resource: string; type: string; statement: Statement }[] {
  const found: { resource: string; type: string; statement: Statement }[] = [];
  const visit = (resource: string, type: string, node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(resource, type, item);
    } else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'Statement') {
          for (const statement of asArray(value as Statement | Statement[])) {
            found.push({ resource, type, statement });
          }
        } else {
          visit(resource, type, value);
        }
      }
    }
  };
  for (const [id, resource] of Object.entries(template.toJSON().Resources as Record<string, Json>)) {
    visit(id, resource.Type as string, resource.Properties);
  }
  return found;
}

interface Dimension {
  readonly Name: string;
  readonly Value: unknown;
}
interface MetricDataQuery {
  readonly Id: string;
  readonly Expression?: string;
  readonly ReturnData?: boolean;
  readonly MetricStat?: {
    readonly Metric: {
      readonly Namespace: string;
      readonly MetricName: string;
      readonly Dimensions?: Dimension[];
    };
    readonly Period: number;
    readonly Stat: string;
  };
}
interface AlarmProps {
  readonly AlarmName?: string;
  readonly AlarmDescription?: string;
  readonly Namespace?: string;
  readonly MetricName?: string;
  readonly Dimensions?: Dimension[];
  readonly ExtendedStatistic?: string;
  readonly Threshold?: number;
  readonly ComparisonOperator?: string;
  readonly ThresholdMetricId?: string;
  readonly Metrics?: MetricDataQuery[];
  readonly AlarmActions?: unknown[];
  readonly OKActions?: unknown[];
}

function alarmNamed(app: Synthesized, name: string): AlarmProps {
  const found = Object.values(app.template.findResources('AWS::CloudWatch::Alarm'))
    .map((resource) => resource.Properties as AlarmProps)
    .filter((props) => props.AlarmName === name);
  if (found.length !== 1) throw new Error(`expected one alarm named ${name}, found ${found.length}`);
  return found[0] as AlarmProps;
}

/** The metric a math-expression alarm reads under the variable `id`. */
function metricStat(alarm: AlarmProps, id: string) {
  const query = alarm.Metrics?.find((m) => m.Id === id);
  if (!query?.MetricStat) throw new Error(`alarm ${alarm.AlarmName} has no metric ${id}`);
  const { Metric, Period, Stat } = query.MetricStat;
  return {
    namespace: Metric.Namespace,
    name: Metric.MetricName,
    dimensions: Metric.Dimensions ?? [],
    stat: Stat,
    period: Period,
  };
}

const sortDims = (dims: readonly Dimension[] | undefined): Dimension[] =>
  [...(dims ?? [])].sort((a, b) => a.Name.localeCompare(b.Name));

interface Widget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly markdown?: string;
    readonly alarms?: unknown[];
    readonly metrics?: unknown[][];
  };
}

/** The dashboard body as CloudWatch will read it, with every deploy-time token replaced by "TOKEN". */
function dashboardBody(app: Synthesized): { widgets: Widget[] } {
  const [dashboard] = Object.values(app.template.findResources('AWS::CloudWatch::Dashboard'));
  if (!dashboard) throw new Error('no dashboard in the template');
  const body = (dashboard.Properties as { DashboardBody: unknown }).DashboardBody;
  const text =
    typeof body === 'string'
      ? body
      : (body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]
          .map((part) => (typeof part === 'string' ? part : 'TOKEN'))
          .join('');
  return JSON.parse(text) as { widgets: Widget[] };
}

/** Every metric in the hub's own namespace that an alarm or a dashboard widget reads. */
function hubMetricsIn(app: Synthesized): { dimensions: Dimension[]; where: string }[] {
  const found: { dimensions: Dimension[]; where: string }[] = [];
  for (const resource of Object.values(app.template.findResources('AWS::CloudWatch::Alarm'))) {
    const alarm = resource.Properties as AlarmProps;
    if (alarm.Namespace === 'Switchyard') {
      found.push({ dimensions: alarm.Dimensions ?? [], where: `alarm ${alarm.AlarmName}` });
    }
    for (const query of alarm.Metrics ?? []) {
      const metric = query.MetricStat?.Metric;
      if (metric?.Namespace === 'Switchyard') {
        found.push({ dimensions: metric.Dimensions ?? [], where: `alarm ${alarm.AlarmName} (${query.Id})` });
      }
    }
  }
  for (const widget of dashboardBody(app).widgets) {
    for (const metric of widget.properties.metrics ?? []) {
      if (metric[0] !== 'Switchyard') continue;
      const pairs = metric.slice(2).filter((part) => typeof part === 'string') as string[];
      const dimensions: Dimension[] = [];
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        dimensions.push({ Name: pairs[i] as string, Value: pairs[i + 1] });
      }
      found.push({ dimensions, where: `widget "${widget.properties.title}" (${String(metric[1])})` });
    }
  }
  return found;
}

/** The hub's resources and wiring, for any config: expectations come from the topology the stack is built from. */
describe.each([
  ['switchyard.config.ts', repoConfig],
  ['two sources, two destinations', twoDestinations],
])('stack for %s', (_label, input) => {
  let app: Synthesized;
  beforeAll(() => {
    app = synthesize(input);
  });

  describe('cdk-nag (AwsSolutions and Serverless packs)', () => {
    it('has no unacknowledged finding: the synth with both packs registered succeeds', () => {
      const findings = [new AwsSolutionsChecks(), new ServerlessChecks()].flatMap((pack) =>
        pack
          .validateScope(app.stack)
          .violations.map(
            (v) =>
              `${v.ruleName} (${v.severity}) at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
          ),
      );
      expect(findings).toEqual([]);
      expect(app.synthError).toBeUndefined();
    });

    it('acknowledges only the expected rules, each on a resource-level construct with a written reason', () => {
      const allowed = new Set([
        'Serverless-LambdaTracing',
        'Serverless-LambdaDLQ',
        'Serverless-LambdaAsyncFailureDestination',
        'Serverless-LambdaEventSourceMappingDestination',
        'Serverless-SQSRedrivePolicy',
        'Serverless-SNSRedrivePolicy',
        'AwsSolutions-APIG4',
      ]);
      const acknowledgements = app.stack.node.findAll().flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) =>
            Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
              path: construct.node.path,
              id: id.replace(/^annotation::/i, ''),
              reason,
            })),
          ),
      );
      expect(acknowledgements.length).toBeGreaterThan(0);
      for (const ack of acknowledgements) {
        expect(allowed, `${ack.id} at ${ack.path}`).toContain(ack.id);
        expect(ack.reason.length, `reason for ${ack.id} at ${ack.path}`).toBeGreaterThan(80);
        expect(ack.path, 'never on the stack as a whole').not.toBe(app.stack.node.path);
      }
      expect(acknowledgements.filter((a) => a.id.includes('IAM5'))).toEqual([]);
    });
  });

  describe('queues', () => {
    it('builds one queue and one DLQ per topology queue, with the topology names', () => {
      app.template.resourceCountIs('AWS::SQS::Queue', app.topology.queues.length * 2);
      for (const spec of app.topology.queues) {
        const fifo = spec.fifo ? true : Match.absent();
        app.template.hasResourceProperties('AWS::SQS::Queue', { QueueName: spec.name, FifoQueue: fifo });
        app.template.hasResourceProperties('AWS::SQS::Queue', {
          QueueName: spec.deadLetter.name,
          FifoQueue: fifo,
          MessageRetentionPeriod: spec.deadLetter.retentionSeconds,
        });
      }
    });

    it('gives every queue a redrive policy to its own DLQ after maxReceiveCount, and every DLQ none', () => {
      for (const lane of app.stack.lanes.values()) {
        expect(resourceProps(app.template, 'AWS::SQS::Queue', logicalId(lane.queue))).toMatchObject({
          QueueName: lane.spec.name,
          VisibilityTimeout: lane.spec.visibilityTimeoutSeconds,
          MessageRetentionPeriod: lane.spec.retentionSeconds,
          RedrivePolicy: {
            deadLetterTargetArn: getAtt(logicalId(lane.deadLetterQueue)),
            maxReceiveCount: lane.spec.maxReceiveCount,
          },
        });
        const dlq = resourceProps(app.template, 'AWS::SQS::Queue', logicalId(lane.deadLetterQueue));
        expect(dlq.RedrivePolicy).toBeUndefined();
      }
      // And nothing else: every queue in the template either redrives to a DLQ or is one.
      const queues = app.template.findResources('AWS::SQS::Queue');
      const targets = new Set(
        Object.values(queues).flatMap((q) => {
          const redrive = q.Properties?.RedrivePolicy as
            | { deadLetterTargetArn: { 'Fn::GetAtt': string[] } }
            | undefined;
          return redrive ? [redrive.deadLetterTargetArn['Fn::GetAtt'][0]] : [];
        }),
      );
      for (const [id, queue] of Object.entries(queues)) {
        expect(queue.Properties?.RedrivePolicy !== undefined || targets.has(id), id).toBe(true);
      }
    });

    it('encrypts every queue and denies every request not made over TLS', () => {
      const queues = app.template.findResources('AWS::SQS::Queue');
      const policies = Object.values(app.template.findResources('AWS::SQS::QueuePolicy'));
      for (const [id, queue] of Object.entries(queues)) {
        expect(queue.Properties?.SqsManagedSseEnabled, id).toBe(true);
        const denies = policies
          .filter((p) => JSON.stringify(p.Properties?.Queues) === JSON.stringify([{ Ref: id }]))
          .flatMap(
            (p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement,
          )
          .filter(
            (s) =>
              s.Effect === 'Deny' &&
              JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }) &&
              JSON.stringify(s.Resource) === JSON.stringify(getAtt(id)),
          );
        expect(denies, `HTTPS-only policy on ${id}`).toHaveLength(1);
      }
    });
  });

  describe('alarms', () => {
    it('alarms on any message in each DLQ, notifying the alarm topic', () => {
      const topic = logicalId(app.stack.alarms.topic);
      for (const lane of app.stack.lanes.values()) {
        app.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: getAtt(logicalId(lane.deadLetterQueue), 'QueueName') }],
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: 0,
          AlarmActions: [{ Ref: topic }],
        });
      }
    });

    it('alarms when the oldest message of each queue is older than config.alarms.oldestMessageAgeSeconds', () => {
      const topic = logicalId(app.stack.alarms.topic);
      for (const lane of app.stack.lanes.values()) {
        app.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [{ Name: 'QueueName', Value: getAtt(logicalId(lane.queue), 'QueueName') }],
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: app.config.alarms.oldestMessageAgeSeconds,
          AlarmActions: [{ Ref: topic }],
        });
      }
    });

    it('publishes to a KMS-encrypted, TLS-only topic CloudWatch may use, with the configured email', () => {
      app.template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: getAtt(logicalId(app.stack.alarms.key)),
      });
      app.template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            }),
          ]),
        },
      });
      app.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sns:Publish',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
            Match.objectLike({
              Effect: 'Allow',
              Action: 'sns:Publish',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
            }),
          ]),
        },
      });
      const email = app.config.alarms.email;
      app.template.resourceCountIs('AWS::SNS::Subscription', email ? 1 : 0);
      if (email) {
        app.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email });
      }
    });

    it('alarms when a function fails more than config.alarms.errorRatePercent of its invocations', () => {
      for (const [key, fn] of app.stack.functions) {
        const alarm = alarmNamed(app, `${app.topology.name}-${key}-error-rate`);
        expect(alarm.Threshold).toBe(app.config.alarms.errorRatePercent);
        expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
        expect(alarm.Metrics?.find((m) => m.ReturnData !== false)?.Expression).toBe(
          '100 * FILL(errors, 0) / invocations',
        );
        const functionDims = [{ Name: 'FunctionName', Value: { Ref: logicalId(fn) } }];
        expect(metricStat(alarm, 'errors')).toEqual({
          namespace: 'AWS/Lambda',
          name: 'Errors',
          dimensions: functionDims,
          stat: 'Sum',
          period: 300,
        });
        expect(metricStat(alarm, 'invocations')).toMatchObject({
          name: 'Invocations',
          dimensions: functionDims,
        });
      }
    });

    it('alarms when the p99 end-to-end latency of a flow destination exceeds config.alarms.latencyP99Seconds', () => {
      for (const lane of lanesOf(app.config.flows)) {
        const alarm = alarmNamed(app, `${app.topology.name}-${lane.flow}-${lane.destination}-latency-p99`);
        expect(alarm).toMatchObject({
          Namespace: 'Switchyard',
          MetricName: 'endToEndLatency',
          ExtendedStatistic: 'p99',
          Threshold: app.config.alarms.latencyP99Seconds * 1000,
          ComparisonOperator: 'GreaterThanThreshold',
        });
        expect(sortDims(alarm.Dimensions)).toEqual(
          sortDims([
            { Name: 'flow', Value: lane.flow },
            { Name: 'destination', Value: lane.destination },
            { Name: 'service', Value: app.topology.name },
          ]),
        );
      }
    });

    it('alarms when more than config.alarms.quarantineRatePercent of routed records are quarantined, per lane and per source', () => {
      const cases = [
        ...lanesOf(app.config.flows).map((lane) => ({
          name: `${app.topology.name}-${lane.flow}-${lane.destination}-quarantine-rate`,
          dims: { flow: lane.flow, destination: lane.destination },
        })),
        ...Object.keys(app.config.sources).map((source) => ({
          name: `${app.topology.name}-source-${source}-quarantine-rate`,
          dims: { source },
        })),
      ];
      for (const { name, dims } of cases) {
        const alarm = alarmNamed(app, name);
        expect(alarm.Threshold).toBe(app.config.alarms.quarantineRatePercent);
        expect(alarm.Metrics?.find((m) => m.ReturnData !== false)?.Expression).toBe(
          '100 * FILL(quarantined, 0) / routed',
        );
        const expected = sortDims(
          Object.entries({ ...dims, service: app.topology.name }).map(([Name, Value]) => ({ Name, Value })),
        );
        for (const [id, metricName] of [
          ['quarantined', 'quarantined'],
          ['routed', 'routed'],
        ] as const) {
          const stat = metricStat(alarm, id);
          expect(stat).toMatchObject({ namespace: 'Switchyard', name: metricName, stat: 'Sum', period: 900 });
          expect(sortDims(stat.dimensions)).toEqual(expected);
        }
      }
    });

    it('alarms when accepted events per source fall below their anomaly detection band (a drop to zero included)', () => {
      for (const source of Object.keys(app.config.sources)) {
        const alarm = alarmNamed(app, `${app.topology.name}-source-${source}-volume-anomaly`);
        expect(alarm.ComparisonOperator).toBe('LessThanLowerThreshold');
        const band = alarm.Metrics?.find((m) => m.Id === alarm.ThresholdMetricId);
        expect(band?.Expression).toMatch(
          new RegExp(`^ANOMALY_DETECTION_BAND\\((\\w+), ${app.config.alarms.volumeAnomalyStdDevs}\\)$`),
        );
        const input = band?.Expression?.match(/\((\w+),/)?.[1];
        // Periods without events count as zero, so silence is below the band rather than missing.
        expect(alarm.Metrics?.find((m) => m.Id === input)?.Expression).toBe('FILL(accepted, 0)');
        const stat = metricStat(alarm, 'accepted');
        expect(stat).toMatchObject({ namespace: 'Switchyard', name: 'accepted', stat: 'Sum' });
        expect(sortDims(stat.dimensions)).toEqual(
          sortDims([
            { Name: 'source', Value: source },
            { Name: 'service', Value: app.topology.name },
          ]),
        );
      }
    });

    it('has exactly these alarms, and every one notifies the topic on ALARM and on OK', () => {
      const topic = { Ref: logicalId(app.stack.alarms.topic) };
      const lanes = lanesOf(app.config.flows).length;
      const sources = Object.keys(app.config.sources).length;
      const expected =
        app.topology.queues.length * 2 +
        app.topology.functions.length +
        lanes * 2 +
        sources * 2 +
        app.topology.schedules.length;
      const alarms = Object.values(app.template.findResources('AWS::CloudWatch::Alarm'));
      expect(alarms).toHaveLength(expected);
      for (const alarm of alarms) {
        const props = alarm.Properties as AlarmProps;
        expect(props.AlarmActions, props.AlarmName).toEqual([topic]);
        expect(props.OKActions, props.AlarmName).toEqual([topic]);
        expect(props.AlarmDescription, props.AlarmName).toMatch(/Runbook: "[^"]+"/);
      }
    });

    it('names in every alarm description a runbook section that docs/runbook.md has', () => {
      const runbook = readFileSync(path.join(PROJECT_ROOT, 'docs/runbook.md'), 'utf8');
      const headings = new Set([...runbook.matchAll(/^### (.+)$/gm)].map((m) => m[1]?.trim()));
      for (const alarm of Object.values(app.template.findResources('AWS::CloudWatch::Alarm'))) {
        const section = (alarm.Properties as AlarmProps).AlarmDescription?.match(/Runbook: "([^"]+)"/)?.[1];
        expect(headings, `${section}`).toContain(section);
      }
    });

    it('outputs the ARN of the topic the alarms notify', () => {
      app.template.hasOutput('AlarmTopicArn', { Value: { Ref: logicalId(app.stack.alarms.topic) } });
    });
  });

  describe('metric dimensions', () => {
    it('uses only bounded dimensions, with values from the config, on every hub metric alarmed or graphed', () => {
      const flows = new Set(app.config.flows.map((f) => f.name));
      const destinations = new Set(app.config.flows.flatMap((f) => f.to));
      const sources = new Set(Object.keys(app.config.sources));
      const allowedValues: Record<string, (value: unknown) => boolean> = {
        service: (v) => v === app.topology.name,
        flow: (v) => flows.has(v as string),
        destination: (v) => destinations.has(v as string),
        source: (v) => sources.has(v as string),
      };
      const seen = hubMetricsIn(app);
      expect(seen.length).toBeGreaterThan(0);
      for (const { dimensions, where } of seen) {
        for (const { Name, Value } of dimensions) {
          expect(HUB_METRIC_DIMENSIONS, `${Name} in ${where}`).toContain(Name);
          const check = allowedValues[Name];
          if (check) expect(check(Value), `${Name}=${JSON.stringify(Value)} in ${where}`).toBe(true);
        }
      }
      // SEARCH expressions name their dimension schema: the same bounded names, `reason` grouped.
      const searches = dashboardBody(app).widgets.flatMap((w) =>
        (w.properties.metrics ?? []).flatMap((m) =>
          m.flatMap((part) => {
            const expression = (part as { expression?: string }).expression;
            return expression?.startsWith('SEARCH(') ? [expression] : [];
          }),
        ),
      );
      expect(searches.length).toBeGreaterThan(0);
      for (const search of searches) {
        const schema = search.match(/\{([^}]+)\}/)?.[1]?.split(',') ?? [];
        expect(schema[0]).toBe('Switchyard');
        for (const name of schema.slice(1)) expect(HUB_METRIC_DIMENSIONS, search).toContain(name);
        expect(search).toContain(`service="${app.topology.name}"`);
      }
    });
  });

  describe('dashboard', () => {
    it('has a heading and a widget per flow destination, each graphing that lane', () => {
      app.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
      app.template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
        DashboardName: `${app.topology.name}-hub`,
      });
      const { widgets } = dashboardBody(app);
      for (const flow of app.config.flows) {
        expect(
          widgets.some(
            (w) => w.type === 'text' && w.properties.markdown?.startsWith(`## Flow ${flow.name}\n`),
          ),
          `heading for ${flow.name}`,
        ).toBe(true);
        for (const destination of flow.to) {
          const titled = (suffix: string) =>
            widgets.find((w) => w.properties.title === `${flow.name} → ${destination}: ${suffix}`);
          const outcomes = titled('outcomes');
          const latency = titled('latency (ms)');
          expect(outcomes, `${flow.name} → ${destination} outcomes`).toBeDefined();
          expect(latency, `${flow.name} → ${destination} latency`).toBeDefined();
          const names = (w: Widget | undefined) =>
            (w?.properties.metrics ?? []).map((m) => (typeof m[1] === 'string' ? m[1] : 'expression'));
          expect(names(outcomes)).toEqual([
            'delivered',
            'expression',
            'quarantined',
            'deadLettered',
            'retried',
          ]);
          expect(names(latency)).toEqual(['endToEndLatency', 'endToEndLatency', 'destinationCallLatency']);
          for (const metric of outcomes?.properties.metrics ?? []) {
            if (typeof metric[1] !== 'string') continue;
            expect(metric.slice(2, 8)).toEqual(
              expect.arrayContaining(['flow', flow.name, 'destination', destination]),
            );
          }
          const queue = laneOf(app, `deliver-${destination}`);
          expect(
            widgets.some((w) => w.properties.title === `${queue.spec.name}: depth and oldest message (s)`),
          ).toBe(true);
          expect(widgets.some((w) => w.properties.title === `${queue.spec.deadLetter.name}: messages`)).toBe(
            true,
          );
        }
      }
    });

    it('has an ingest row: accepted per source, rejections by reason per source, API 4xx/5xx, the inbound queue', () => {
      const { widgets } = dashboardBody(app);
      const accepted = widgets.find((w) => w.properties.title === 'Accepted per source');
      expect(accepted?.properties.metrics?.map((m) => m[1])).toEqual(
        Object.keys(app.config.sources).map(() => 'accepted'),
      );
      for (const source of Object.keys(app.config.sources)) {
        const rejected = widgets.find((w) => w.properties.title === `Rejected from ${source}, by reason`);
        const expression = (rejected?.properties.metrics?.[0]?.[0] as { expression?: string })?.expression;
        expect(expression).toContain('MetricName="rejected"');
        expect(expression).toContain(`source="${source}"`);
      }
      const api = widgets.find((w) => w.properties.title === 'Webhook API responses');
      expect(api?.properties.metrics?.map((m) => m[1])).toEqual(['Count', '4xx', '5xx']);
      const inbound = laneOf(app, 'inbound');
      expect(widgets.some((w) => w.properties.title === `${inbound.spec.deadLetter.name}: messages`)).toBe(
        true,
      );
    });

    it('shows every alarm and outputs the dashboard URL', () => {
      const status = dashboardBody(app).widgets.find((w) => w.type === 'alarm');
      expect(status?.properties.alarms).toHaveLength(app.stack.alarms.all.length);
      const url = JSON.stringify(app.template.findOutputs('DashboardUrl').DashboardUrl?.Value);
      expect(url).toContain('.console.aws.amazon.com/cloudwatch/home?region=');
      expect(url).toContain(`#dashboards/dashboard/${app.topology.name}-hub`);
    });
  });

  describe('state table', () => {
    it('is on-demand with point-in-time recovery, TTL, encryption, and retained', () => {
      const spec = app.topology.table;
      app.template.resourceCountIs('AWS::DynamoDB::Table', 1);
      app.template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          TableName: spec.name,
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          TimeToLiveSpecification: { AttributeName: spec.ttlAttribute, Enabled: true },
          SSESpecification: { SSEEnabled: true },
        },
      });
    });

    it('has deletion protection', () => {
      app.template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
    });
  });

  describe('functions', () => {
    it('runs every function on Node.js 24, arm64, with its own log group and source maps', () => {
      const functions = app.template.findResources('AWS::Lambda::Function');
      expect(Object.keys(functions)).toHaveLength(app.topology.functions.length);
      const logGroups = app.template.findResources('AWS::Logs::LogGroup');
      for (const [id, fn] of Object.entries(functions)) {
        const props = fn.Properties as Json & { LoggingConfig: { LogGroup: { Ref: string } } };
        expect(props, id).toMatchObject({
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
        });
        expect(logGroups[props.LoggingConfig.LogGroup.Ref]?.Properties, id).toMatchObject({
          RetentionInDays: app.config.logs.retentionDays,
        });
      }
    });

    it('deploys every function as a minified CommonJS index.js with an external source map without the sources', () => {
      for (const [id, fn] of Object.entries(app.template.findResources('AWS::Lambda::Function'))) {
        const key = (fn.Properties as { Code: { S3Key: string } }).Code.S3Key;
        const asset = path.join(app.app.outdir, `asset.${key.replace(/\.zip$/, '')}`);
        // An ES module bundle would be index.mjs; a CommonJS one exports through module.exports.
        expect(readdirSync(asset).sort(), id).toEqual(['index.js', 'index.js.map']);
        const js = readFileSync(path.join(asset, 'index.js'), 'utf8');
        expect(js, id).toContain('module.exports={handler}');
        expect(js.trimEnd().endsWith('//# sourceMappingURL=index.js.map'), id).toBe(true);
        // Unminified, these bundles run to thousands of lines; minified, to a few dozen.
        expect(js.split('\n').length, id).toBeLessThan(100);
        const map = JSON.parse(readFileSync(path.join(asset, 'index.js.map'), 'utf8')) as Json;
        expect(map.sources, id).toEqual(expect.arrayContaining([expect.stringMatching(/\.ts$/)]));
        expect(map.sourcesContent, id).toBeUndefined();
      }
    });

    it('takes memory, timeout and environment from the topology', () => {
      for (const [key, fn] of app.stack.functions) {
        const props = resourceProps(app.template, 'AWS::Lambda::Function', logicalId(fn));
        expect(props).toMatchObject({ MemorySize: fn.spec.memoryMb, Timeout: fn.spec.timeoutSeconds });
        expect(Object.keys(variablesOf(app, key)).sort(), key).toEqual(
          [...Object.keys(fn.spec.env), 'NODE_OPTIONS'].sort(),
        );
      }
      const variables = variablesOf(app, 'route');
      expect(variables.STATE_TABLE_NAME).toEqual({ Ref: logicalId(app.stack.table.table) });
      expect(variables.SOURCE_QUEUE_URL).toEqual({ Ref: logicalId(laneOf(app, 'inbound').queue) });
      // The destination -> queue URL map is JSON with the URLs filled in at deploy time.
      const map = JSON.stringify(variables.DESTINATION_QUEUE_URLS);
      for (const lane of app.stack.lanes.values()) {
        if (!lane.spec.destination) continue;
        expect(map).toContain(`\\"${lane.spec.destination}\\":\\"`);
        expect(map).toContain(JSON.stringify({ Ref: logicalId(lane.queue) }));
      }
    });

    it("subscribes each consumer's live alias to its queue with partial batch failures, FIFO queues without a batching window", () => {
      const consumers = app.topology.functions.filter((fn) => fn.consumes);
      const mappings = app.template.findResources('AWS::Lambda::EventSourceMapping');
      expect(Object.keys(mappings)).toHaveLength(consumers.length);
      for (const mapping of Object.values(mappings)) {
        expect(mapping.Properties?.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      }
      for (const spec of consumers) {
        if (!spec.consumes) continue;
        const lane = laneOf(app, spec.consumes.queue);
        app.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          FunctionName: aliasFunctionName(logicalId(functionOf(app, spec.key).live)),
          EventSourceArn: getAtt(logicalId(lane.queue)),
          BatchSize: spec.consumes.batchSize,
          // FIFO queues allow no window; a zero window is Lambda's default and left out.
          MaximumBatchingWindowInSeconds:
            lane.spec.fifo || spec.consumes.maxBatchingWindowSeconds === 0
              ? Match.absent()
              : spec.consumes.maxBatchingWindowSeconds,
          ScalingConfig:
            spec.consumes.maxConcurrency === undefined
              ? Match.absent()
              : { MaximumConcurrency: spec.consumes.maxConcurrency },
        });
      }
    });
  });

  describe('least privilege (G9)', () => {
    it('grants no IAM action with a wildcard, and no resource policy allows one (but the KMS key admin statement)', () => {
      for (const { resource, type, statement } of allStatements(app.template)) {
        const wildcards = asArray(statement.Action).filter((action) => action.includes('*'));
        if (wildcards.length === 0) continue;
        const where = `${type} ${resource}: ${JSON.stringify(statement)}`;
        if (statement.Effect === 'Deny') continue; // Deny sqs:* without TLS is the point of the policy.
        // A customer-managed key's policy must let the account administer it (AWS's default key
        // policy); IAM policies then decide who may. No IAM identity in this stack is given kms:*.
        const accountRootKeyAdmin =
          type === 'AWS::KMS::Key' &&
          JSON.stringify(statement.Principal).includes(':root') &&
          JSON.stringify(statement.Action) === '"kms:*"';
        expect(accountRootKeyAdmin, where).toBe(true);
      }
      for (const [id, role] of Object.entries(app.template.findResources('AWS::IAM::Role'))) {
        expect(role.Properties?.ManagedPolicyArns, `${id} has no managed policies`).toBeUndefined();
      }
      app.template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    });

    it('grants no identity policy on Resource "*"', () => {
      for (const id of Object.keys(app.template.findResources('AWS::IAM::Role'))) {
        for (const statement of roleStatements(app.template, id)) {
          expect(asArray(statement.Resource), `${id}: ${JSON.stringify(statement)}`).not.toContain('*');
        }
      }
    });

    it('lets the ingest function send to the inbound queue and read source secrets, and nothing else', () => {
      const statements = functionStatements(app, 'ingest');
      const actions = actionsOf(statements);
      expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
      expect(actions).not.toContain('sqs:ReceiveMessage');
      const inbound = laneOf(app, 'inbound').queue;
      const sends = statements.filter((s) => asArray(s.Action).includes('sqs:SendMessage'));
      expect(sends.map((s) => s.Resource)).toEqual([getAtt(logicalId(inbound))]);
      const secretArns = JSON.stringify(
        statements
          .filter((s) => asArray(s.Action).includes('secretsmanager:GetSecretValue'))
          .map((s) => s.Resource),
      );
      for (const source of Object.values(app.config.sources)) {
        // Webhook sources' signing secrets only: a polled source's API credential is the poll function's.
        if (source.connector === 'rest-poll') expect(secretArns).not.toContain(`:secret:${source.secret}-`);
        else expect(secretArns).toContain(`:secret:${source.secret}-??????`);
      }
      expect(new Set(actions)).toEqual(
        new Set([
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'sqs:SendMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'secretsmanager:GetSecretValue',
          'secretsmanager:DescribeSecret',
        ]),
      );
    });

    it('lets each deliver function consume only its own queue, read only its own secret, and send only to its own queue', () => {
      const queueIds = [...app.stack.lanes.values()].flatMap((lane) => [
        logicalId(lane.queue),
        logicalId(lane.deadLetterQueue),
      ]);
      for (const [destination, settings] of Object.entries(app.config.destinations)) {
        const key = `deliver-${destination}`;
        const own = logicalId(laneOf(app, key).queue);
        const statements = functionStatements(app, key);
        const consume = statements.filter((s) => asArray(s.Action).includes('sqs:ReceiveMessage'));
        expect(consume.map((s) => s.Resource)).toEqual([getAtt(own)]);
        expect(asArray(consume[0]?.Action)).toContain('sqs:ChangeMessageVisibility');
        // The circuit breaker puts a waiting record back on the lane's own queue, and nowhere else.
        const sends = statements.filter((s) => asArray(s.Action).includes('sqs:SendMessage'));
        expect(sends.map((s) => s.Resource)).toEqual([getAtt(own)]);
        // No statement mentions another queue.
        const text = JSON.stringify(statements);
        for (const other of queueIds.filter((id) => id !== own)) {
          expect(text, `${key} mentions ${other}`).not.toContain(other);
        }
        const secrets = statements.filter((s) => asArray(s.Action).includes('secretsmanager:GetSecretValue'));
        if (settings.secret) {
          expect(secrets).toHaveLength(1);
          expect(JSON.stringify(secrets[0]?.Resource)).toContain(`:secret:${settings.secret}-??????`);
        } else {
          expect(secrets).toEqual([]);
        }
      }
    });

    it('lets the route function consume the inbound queue, send to every delivery queue, and read no secret', () => {
      const statements = functionStatements(app, 'route');
      const inbound = logicalId(laneOf(app, 'inbound').queue);
      const consume = statements.filter((s) => asArray(s.Action).includes('sqs:ReceiveMessage'));
      expect(consume.map((s) => s.Resource)).toEqual([getAtt(inbound)]);
      expect(asArray(consume[0]?.Action)).toContain('sqs:ChangeMessageVisibility');
      const sendTargets = statements
        .filter((s) => asArray(s.Action).includes('sqs:SendMessage'))
        .flatMap((s) => asArray(s.Resource));
      const deliveryQueues = [...app.stack.lanes.values()]
        .filter((lane) => lane.spec.destination)
        .map((lane) => getAtt(logicalId(lane.queue)));
      expect(sendTargets).toEqual(expect.arrayContaining(deliveryQueues));
      expect(sendTargets).toHaveLength(deliveryQueues.length);
      expect(actionsOf(statements).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
      const table = statements.filter((s) => asArray(s.Action).includes('dynamodb:PutItem'));
      expect(table.map((s) => s.Resource)).toEqual([getAtt(logicalId(app.stack.table.table))]);
    });

    it('never puts a secret value in the template', () => {
      app.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      expect(JSON.stringify(app.template.toJSON())).not.toMatch(/SecretString|resolve:secretsmanager/);
    });
  });

  describe('webhook API', () => {
    it("has exactly one POST /webhooks/{source} route per source, each invoking the ingest function's live alias", () => {
      const sources = webhookSources(app);
      app.template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
      app.template.resourceCountIs('AWS::ApiGatewayV2::Route', sources.length);
      for (const source of sources) {
        app.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
          RouteKey: `POST /webhooks/${source}`,
        });
      }
      const ingest = logicalId(functionOf(app, 'ingest').live);
      app.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationType: 'AWS_PROXY',
        IntegrationUri: { Ref: ingest },
        PayloadFormatVersion: '2.0',
      });
    });

    it('throttles the default stage and writes JSON access logs', () => {
      app.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 },
        AccessLogSettings: {
          DestinationArn: getAtt(logicalId(required(app.stack.ingestApi, 'the HTTP API').accessLogGroup)),
          Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
        },
      });
    });

    it('outputs the API URL and one webhook URL per source', () => {
      const outputs = app.template.findOutputs('*');
      expect(outputs.ApiUrl).toBeDefined();
      const webhookOutputs = Object.keys(outputs).filter((name) => name.startsWith('WebhookUrl'));
      expect(webhookOutputs).toHaveLength(webhookSources(app).length);
      for (const source of webhookSources(app)) {
        const name = `WebhookUrl${source
          .split('-')
          .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
          .join('')}`;
        expect(JSON.stringify(outputs[name]?.Value), name).toContain(`/webhooks/${source}`);
      }
    });
  });
});

/** A webhook source and two polled ones: every five minutes, and on weekday mornings only. */
const polledSources: SwitchyardConfigInput = {
  name: 'polled',
  sources: {
    stripe: { connector: 'stripe', secret: 'polled/stripe-webhook' },
    erp: {
      connector: 'rest-poll',
      schedule: 'rate(5 minutes)',
      url: 'https://erp.example.com/api/customers',
      secret: 'polled/erp-token',
      auth: { type: 'bearer' },
      items: 'data',
      map: { entity: 'customer', id: 'id', version: 'updated_at', fields: { email: 'email' } },
    },
    ledger: {
      connector: 'rest-poll',
      schedule: 'cron(0 9 ? * MON-FRI *)',
      url: 'https://ledger.example.com/api/customers',
      items: 'rows',
      map: { entity: 'customer', id: 'id', version: 'updated_at', fields: { email: 'email' } },
    },
  },
  destinations: { crm: { connector: 'http', url: 'https://crm.example.com/api/contacts' } },
  flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'erp', 'ledger'], to: ['crm'] }],
};

describe('poll lag alarms, for a hub with polled sources', () => {
  let app: Synthesized;
  beforeAll(() => {
    app = synthesize(polledSources);
  });

  it("knows each schedule's longest gap between runs (a weekday schedule waits over the weekend)", () => {
    expect(longestIntervalSeconds('rate(5 minutes)')).toBe(300);
    expect(longestIntervalSeconds('rate(1 hour)')).toBe(3600);
    expect(longestIntervalSeconds('rate(2 days)')).toBe(172_800);
    expect(longestIntervalSeconds('cron(0/15 * * * ? *)')).toBe(900);
    expect(longestIntervalSeconds('cron(0 9 ? * MON-FRI *)')).toBe(3 * 86_400);
    expect(() => longestIntervalSeconds('every 5 minutes')).toThrow(/rate\(\.\.\.\) or 6-field cron/);
    expect(pollLagWindow('rate(5 minutes)')).toEqual({ periodSeconds: 900, evaluationPeriods: 1 });
    expect(pollLagWindow('cron(0 9 ? * MON-FRI *)')).toEqual({ periodSeconds: 86_400, evaluationPeriods: 7 });
  });

  it('alarms when a polled source has had no successful poll for several of its scheduled runs', () => {
    const topic = { Ref: logicalId(app.stack.alarms.topic) };
    for (const schedule of app.topology.schedules) {
      const alarm = alarmNamed(app, `${app.topology.name}-source-${schedule.source}-poll-lag`);
      const window = pollLagWindow(schedule.expression);
      expect(alarm).toMatchObject({
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        EvaluationPeriods: window.evaluationPeriods,
        DatapointsToAlarm: window.evaluationPeriods,
        TreatMissingData: 'breaching',
        AlarmActions: [topic],
        OKActions: [topic],
      });
      expect(alarm.AlarmDescription).toContain(`${POLL_MISSED_RUNS} runs of ${schedule.expression}`);
      expect(alarm.Metrics?.find((m) => m.ReturnData !== false)?.Expression).toBe('FILL(polled, 0)');
      const stat = metricStat(alarm, 'polled');
      expect(stat).toMatchObject({
        namespace: 'Switchyard',
        name: 'polled',
        stat: 'Sum',
        period: window.periodSeconds,
      });
      expect(sortDims(stat.dimensions)).toEqual(
        sortDims([
          { Name: 'source', Value: schedule.source },
          { Name: 'service', Value: app.topology.name },
        ]),
      );
    }
    expect(app.stack.alarms.pollLagAlarms.size).toBe(2);
    expect(app.synthError).toBeUndefined();
  });

  it("graphs each polled source's polls, failures and lag on the dashboard", () => {
    const { widgets } = dashboardBody(app);
    for (const schedule of app.topology.schedules) {
      const polls = widgets.find((w) => w.properties.title === `Polls of ${schedule.source}`);
      expect(polls?.properties.metrics?.map((m) => (typeof m[1] === 'string' ? m[1] : 'expression'))).toEqual(
        ['polled', 'expression', 'pollLag'],
      );
    }
  });
});

describe('the app fails at synth, naming the field and the value, if', () => {
  it('logs.retentionDays is not a CloudWatch Logs retention period', () => {
    const build = () => buildApp({ ...repoConfig, logs: { retentionDays: 42 } });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(/logs\.retentionDays: .*one of 1, 3, 5, 7, 14, 30, .* \(got 42\)/);
  });

  it('a flow names a destination that does not exist', () => {
    const build = () =>
      buildApp({
        ...repoConfig,
        flows: [{ name: 'customers-to-crm', entity: 'customer', from: ['stripe'], to: ['nope'] }],
      });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(/flows\[0\]\.to\[0\]: no destination named "nope"/);
  });

  it('a source names an unknown connector', () => {
    const build = () =>
      buildApp({ ...repoConfig, sources: { stripe: { connector: 'paypal' as 'stripe', secret: 'x/y' } } });
    expect(build).toThrow(/sources\.stripe\.connector: .*\(got "paypal"\)/);
  });

  it('a resource breaks a cdk-nag rule nobody acknowledged (cdk-nag runs in every synth)', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'switchyard-infra-'));
    outdirs.push(outdir);
    const { app, stack } = buildApp(repoConfig, { outdir });
    new Queue(stack, 'Unprotected');
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS4[\s\S]*Unprotected/);
  });
});

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the stack has no ${what}`);
  return value;
}
