import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type CfnElement, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';
import { type BuildAppProps, type BuiltApp, buildApp } from '../../lib/app.js';
import { DEFAULT_STAGES, resolveStage } from '../../lib/stages.js';
import repoConfig from '../../switchyard.config.js';

/*
 * Stages and canary deploys (issue 9): one config, several stages selected with
 * `--context stage=<name>`, each its own stack and resource names; every function behind a `live`
 * alias that CodeDeploy shifts with the stage's strategy and rolls back on the function's error-rate
 * alarm or the latency alarm of a lane it serves. Templates only: no bundling, cdk-nag on.
 *
 * The expectations (names, alarms per function) are written out by hand for this hub, not derived
 * from what the stack was built from.
 */

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

/** Two webhook sources, one polled source, two destinations; `ledger` is only fed from stripe. */
const hub: SwitchyardConfigInput = {
  name: 'stg',
  sources: {
    stripe: { connector: 'stripe', secret: 'stg/stripe-webhook' },
    shop: { connector: 'shopify', secret: 'stg/shopify-webhook' },
    erp: { ...repoConfig.sources.erp, secret: 'stg/erp-api' } as SwitchyardConfigInput['sources'][string],
  },
  destinations: {
    crm: { connector: 'http', url: 'https://crm.example.com/api/contacts', secret: 'stg/crm-token' },
    ledger: { connector: 'http', url: 'https://ledger.example.com/api/customers' },
  },
  flows: [
    { name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'shop', 'erp'], to: ['crm'] },
    { name: 'customers-to-ledger', entity: 'customer', from: ['stripe'], to: ['ledger'] },
  ],
  alarms: { errorRatePercent: 5, latencyP99Seconds: 60 },
  logs: { retentionDays: 90 },
};

const FUNCTIONS = ['deliver-crm', 'deliver-ledger', 'ingest', 'poll', 'route'];
const CRM_LANE = 'customers-to-crm-crm';
const LEDGER_LANE = 'customers-to-ledger-ledger';
/** The latency alarms (lane suffixes) whose ALARM rolls back each function's deployment. */
const ROLLBACK_LANES: Record<string, string[]> = {
  // Every webhook source feeds both flows (stripe is in both).
  ingest: [CRM_LANE, LEDGER_LANE],
  route: [CRM_LANE, LEDGER_LANE],
  // erp is only in customers-to-crm.
  poll: [CRM_LANE],
  'deliver-crm': [CRM_LANE],
  'deliver-ledger': [LEDGER_LANE],
};

type Json = Record<string, unknown>;
interface Resource {
  readonly Type: string;
  readonly Properties?: Json;
  readonly UpdatePolicy?: Json;
}
interface Synthesized {
  readonly built: BuiltApp;
  readonly resources: Record<string, Resource>;
  readonly outputs: Record<string, Json>;
}

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** Builds and synthesizes with cdk-nag on: a finding nobody acknowledged throws here. */
function synthesize(input: SwitchyardConfigInput, props: BuildAppProps = {}): Synthesized {
  const outdir = mkdtempSync(path.join(tmpdir(), 'switchyard-stages-'));
  outdirs.push(outdir);
  const built = buildApp(input, { ...props, outdir, context: { ...NO_BUNDLING, ...props.context } });
  built.app.synth();
  const template = JSON.parse(readFileSync(path.join(outdir, built.stack.templateFile), 'utf8')) as {
    Resources: Record<string, Resource>;
    Outputs?: Record<string, Json>;
  };
  return { built, resources: template.Resources, outputs: template.Outputs ?? {} };
}

/** The logical id in the template, overrides included (a function version's carries its hash). */
function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return element.stack.resolve(element.logicalId) as string;
}

function ofType(app: Synthesized, type: string): [string, Resource][] {
  return Object.entries(app.resources).filter(([, r]) => r.Type === type);
}

function fnOf(app: Synthesized, key: string) {
  const fn = app.built.stack.functions.get(key);
  if (!fn) throw new Error(`no function ${key}`);
  return fn;
}

/** `<function name>:live` as the template names the alias: the name part of its ARN, and `:live`. */
const aliasFunctionName = (aliasId: string) => ({
  'Fn::Join': ['', [{ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: aliasId }] }] }, ':live']],
});

/** The deployment group of a function, with the names of the alarms it watches. */
function groupOf(app: Synthesized, key: string) {
  const groups = ofType(app, 'AWS::CodeDeploy::DeploymentGroup').filter(
    ([, r]) => r.Properties?.DeploymentGroupName === key,
  );
  expect(groups, `deployment groups named ${key}`).toHaveLength(1);
  const [id, group] = groups[0] as [string, Resource];
  const props = group.Properties as {
    DeploymentConfigName: unknown;
    ApplicationName: unknown;
    ServiceRoleArn: unknown;
    AlarmConfiguration?: { Enabled: boolean; Alarms: { Name: { Ref: string } }[] };
    AutoRollbackConfiguration?: { Enabled: boolean; Events: string[] };
  };
  const alarmNames = (props.AlarmConfiguration?.Alarms ?? []).map(
    (alarm) => app.resources[alarm.Name.Ref]?.Properties?.AlarmName,
  );
  return { id, props, alarmNames };
}

/** Every name AWS requires to be unique in an account and region, by what it names. */
function physicalNames(app: Synthesized): string[] {
  const names: string[] = [];
  const named: Record<string, string> = {
    'AWS::SQS::Queue': 'QueueName',
    'AWS::DynamoDB::Table': 'TableName',
    'AWS::CloudWatch::Alarm': 'AlarmName',
    'AWS::CloudWatch::Dashboard': 'DashboardName',
    'AWS::ApiGatewayV2::Api': 'Name',
    'AWS::CodeDeploy::Application': 'ApplicationName',
    'AWS::KMS::Alias': 'AliasName',
    'AWS::Lambda::Function': 'FunctionName',
    'AWS::IAM::Role': 'RoleName',
    'AWS::Logs::LogGroup': 'LogGroupName',
    'AWS::SNS::Topic': 'TopicName',
    'AWS::Scheduler::Schedule': 'Name',
  };
  for (const resource of Object.values(app.resources)) {
    const property = named[resource.Type];
    const value = property ? resource.Properties?.[property] : undefined;
    if (value !== undefined) names.push(`${resource.Type} ${JSON.stringify(value)}`);
  }
  return names;
}

function functionResource(app: Synthesized, key: string): Resource {
  const resource = app.resources[logicalId(fnOf(app, key))];
  if (!resource) throw new Error(`no function resource for ${key}`);
  return resource;
}

/**
 * The secret names the stack's IAM policies grant (`secretsmanager:GetSecretValue` on
 * `...:secret:<name>-??????`), all of them or those of one function's role.
 */
function secretsGranted(app: Synthesized, key?: string): string[] {
  const role = key === undefined ? undefined : (functionResource(app, key).Properties?.Role as Json);
  const roleRef = role && 'Fn::GetAtt' in role ? (role['Fn::GetAtt'] as string[])[0] : undefined;
  const names = new Set<string>();
  for (const [, policy] of ofType(app, 'AWS::IAM::Policy')) {
    const roles = (policy.Properties?.Roles ?? []) as { Ref?: string }[];
    if (roleRef !== undefined && !roles.some((r) => r.Ref === roleRef)) continue;
    const statements =
      (policy.Properties?.PolicyDocument as { Statement: Json[] } | undefined)?.Statement ?? [];
    for (const statement of statements) {
      const actions = ([] as unknown[]).concat(statement.Action);
      if (!actions.includes('secretsmanager:GetSecretValue')) continue;
      for (const match of JSON.stringify(statement.Resource).matchAll(/:secret:([^"]+?)-\?{6}/g)) {
        if (match[1]) names.add(match[1]);
      }
    }
  }
  return [...names];
}

describe('resolveStage', () => {
  it('has dev (all at once, 7-day logs) and prod (canary 10% for 5 minutes, the config retention)', () => {
    expect(DEFAULT_STAGES.dev).toEqual({ deployment: { type: 'all-at-once' }, logRetentionDays: 7 });
    expect(DEFAULT_STAGES.prod).toEqual({ deployment: { type: 'canary', percent: 10, minutes: 5 } });
  });

  it('builds the unstaged hub without a stage, named like the config, all at once', () => {
    expect(resolveStage('stg', undefined)).toEqual({
      name: undefined,
      hubName: 'stg',
      settings: { deployment: { type: 'all-at-once' } },
    });
  });

  it('merges per-stage overrides field by field and accepts new stages', () => {
    const stages = {
      prod: { alarms: { errorRatePercent: 1 } },
      qa: { deployment: { type: 'linear', percent: 20, minutes: 2 } as const, logRetentionDays: 14 },
    };
    expect(resolveStage('stg', 'prod', stages).settings).toEqual({
      deployment: { type: 'canary', percent: 10, minutes: 5 },
      alarms: { errorRatePercent: 1 },
      secretsPrefix: 'prod/',
    });
    expect(resolveStage('stg', 'qa', stages)).toMatchObject({
      hubName: 'stg-qa',
      settings: { deployment: { type: 'linear', percent: 20, minutes: 2 }, logRetentionDays: 14 },
    });
  });

  it('names the field and the value of every bad stage setting', () => {
    const fails =
      (stage: unknown, stages = {}) =>
      () =>
        resolveStage('stg', stage, stages);
    expect(fails('staging')).toThrow(ConfigError);
    expect(fails('staging')).toThrow(/stage: no stage named "staging" \(stages: dev, prod\)/);
    expect(fails('Prod')).toThrow(/stage: must be lower-case letters and digits.*\(got "Prod"\)/);
    expect(() => resolveStage('a-hub-name-of-exactly-thirty-one', 'prod')).toThrow(
      /stage: the staged hub name "a-hub-name-of-exactly-thirty-one-prod" .* at most 31 characters/,
    );
    expect(fails('qa', { qa: { logRetentionDays: 7 } })).toThrow(/stages\.qa\.deployment: required/);
    const bad = {
      prod: {
        deployment: { type: 'canary', percent: 0, minutes: 5000 } as const,
        logRetentionDays: 10,
        alarms: { errorRatePercent: 120, latencyP99: 3 } as never,
      },
    };
    for (const message of [
      /stages\.prod\.deployment\.percent: must be a whole percent from 1 to 99 \(got 0\)/,
      /stages\.prod\.deployment\.minutes: must be whole minutes from 1 to 2880 \(got 5000\)/,
      /stages\.prod\.logRetentionDays: must be a CloudWatch Logs retention period .* \(got 10\)/,
      /stages\.prod\.alarms\.errorRatePercent: must be a positive number at most 100 \(got 120\)/,
      /stages\.prod\.alarms\.latencyP99: no such threshold/,
    ]) {
      expect(fails('prod', bad)).toThrow(message);
    }
    for (const message of [
      /stages\.dev\.secretsPrefix: must be characters of a Secrets Manager name .*\(got "dev stage\/"\)/,
    ]) {
      expect(fails('dev', { dev: { secretsPrefix: 'dev stage/' } })).toThrow(message);
    }
  });

  it('gives each named stage the secrets prefix <stage>/ unless it sets one; none without a stage', () => {
    expect(resolveStage('stg', 'dev').settings.secretsPrefix).toBe('dev/');
    expect(resolveStage('stg', 'prod').settings.secretsPrefix).toBe('prod/');
    expect(resolveStage('stg', 'prod', { prod: { secretsPrefix: '' } }).settings.secretsPrefix).toBe('');
    expect(
      resolveStage('stg', 'qa', { qa: { deployment: { type: 'all-at-once' }, secretsPrefix: 'team-a/qa/' } })
        .settings.secretsPrefix,
    ).toBe('team-a/qa/');
    expect(resolveStage('stg', undefined).settings.secretsPrefix).toBeUndefined();
  });
});

describe('stages of one hub', () => {
  let unstaged: Synthesized;
  let dev: Synthesized;
  let prod: Synthesized;
  beforeAll(() => {
    unstaged = synthesize(hub);
    dev = synthesize(hub, { stage: 'dev' });
    // As `cdk synth --context stage=prod` passes it.
    prod = synthesize(hub, { context: { stage: 'prod' } });
  });

  it("grants each stage's functions only that stage's prefixed secrets, and tells them the prefix", () => {
    const config = ['stg/stripe-webhook', 'stg/shopify-webhook', 'stg/erp-api', 'stg/crm-token'];
    for (const [app, prefix] of [
      [unstaged, ''],
      [dev, 'dev/'],
      [prod, 'prod/'],
    ] as const) {
      expect(secretsGranted(app).sort(), prefix || 'unstaged').toEqual(
        config.map((n) => `${prefix}${n}`).sort(),
      );
      // Per function: exactly the secrets it reads, under the prefix.
      expect(secretsGranted(app, 'ingest').sort()).toEqual([
        `${prefix}stg/shopify-webhook`,
        `${prefix}stg/stripe-webhook`,
      ]);
      expect(secretsGranted(app, 'deliver-crm')).toEqual([`${prefix}stg/crm-token`]);
      expect(secretsGranted(app, 'deliver-ledger')).toEqual([]);
      expect(secretsGranted(app, 'poll')).toEqual([`${prefix}stg/erp-api`]);
      for (const key of FUNCTIONS) {
        const variables = functionResource(app, key).Properties?.Environment as { Variables: Json };
        if (prefix === '') expect(variables.Variables).not.toHaveProperty('SWITCHYARD_SECRETS_PREFIX');
        else expect(variables.Variables.SWITCHYARD_SECRETS_PREFIX, key).toBe(prefix);
      }
    }
    const devNames = new Set(secretsGranted(dev));
    expect(secretsGranted(prod).filter((name) => devNames.has(name))).toEqual([]);
  });

  it('keeps the unstaged hub as it was: stack and resources named after the config', () => {
    expect(unstaged.built.stack.stackName).toBe('stg');
    expect(unstaged.built.topology.name).toBe('stg');
    expect(unstaged.built.stage.name).toBeUndefined();
    const queues = ofType(unstaged, 'AWS::SQS::Queue').map(([, r]) => r.Properties?.QueueName);
    expect(queues).toContain('stg-inbound');
  });

  it('names each stage stack, and every resource name, <name>-<stage>', () => {
    for (const [app, stage] of [
      [dev, 'dev'],
      [prod, 'prod'],
    ] as const) {
      const prefix = `stg-${stage}`;
      expect(app.built.stack.stackName).toBe(prefix);
      expect(app.built.stage.name).toBe(stage);
      const names = physicalNames(app).map((entry) => entry.replace(/^\S+ /, ''));
      expect(names.length).toBeGreaterThan(20);
      for (const name of names) expect(name, name).toMatch(new RegExp(`^"${prefix}[-"]`));
      expect(names).toEqual(
        expect.arrayContaining([
          `"${prefix}-inbound"`,
          `"${prefix}-inbound-dlq"`,
          `"${prefix}-deliver-crm.fifo"`,
          `"${prefix}-state"`,
          `"${prefix}-hub"`,
          `"${prefix}-webhooks"`,
          `"${prefix}-ingest-error-rate"`,
          `"${prefix}-${CRM_LANE}-latency-p99"`,
        ]),
      );
      expect(
        ofType(app, 'AWS::CodeDeploy::Application').map(([, r]) => r.Properties?.ApplicationName),
      ).toEqual([prefix]);
      // The functions publish their metrics under the stage's service name, which the alarms read.
      expect(app.built.stack.alarms.all.length).toBeGreaterThan(0);
      const service = JSON.stringify(app.resources).match(/"Name":"service","Value":"([^"]+)"/g) ?? [];
      expect(new Set(service)).toEqual(new Set([`"Name":"service","Value":"${prefix}"`]));
    }
  });

  it('synthesizes two stages to two independent stacks: different names, no shared physical name, no cross-stack reference', () => {
    expect(dev.built.stack.stackName).not.toBe(prod.built.stack.stackName);
    expect(dev.built.stack.artifactId).not.toBe(prod.built.stack.artifactId);
    const clash = physicalNames(dev).filter((name) => physicalNames(prod).includes(name));
    expect(clash).toEqual([]);
    for (const app of [dev, prod]) {
      expect(JSON.stringify(app.resources)).not.toContain('Fn::ImportValue');
      for (const output of Object.values(app.outputs)) expect(output.Export).toBeUndefined();
    }
  });

  it('applies the stage settings: dev keeps logs 7 days, prod the config retention (90); audit lines keep 30 (audit.retentionDays)', () => {
    for (const [app, days] of [
      [dev, 7],
      [prod, 90],
      [unstaged, 90],
    ] as const) {
      const groups = ofType(app, 'AWS::Logs::LogGroup');
      // The functions', the API access logs and the operator audit log.
      expect(groups.length).toBe(FUNCTIONS.length + 2);
      const functionGroups = new Set(FUNCTIONS.map((key) => logicalId(fnOf(app, key).logGroup)));
      // The functions' log groups hold the audit trail: never shorter than its 30 days.
      const audit = Math.max(days, 30);
      for (const [id, group] of groups) {
        const isAudit =
          functionGroups.has(id) || String(group.Properties?.LogGroupName ?? '').endsWith('-operator-audit');
        expect(group.Properties?.RetentionInDays, id).toBe(isAudit ? audit : days);
      }
    }
  });

  it('publishes every function behind a live alias on its current version, shifted by its deployment group', () => {
    for (const app of [unstaged, dev, prod]) {
      expect([...app.built.stack.functions.keys()].sort()).toEqual(FUNCTIONS);
      const aliases = ofType(app, 'AWS::Lambda::Alias');
      expect(aliases).toHaveLength(FUNCTIONS.length);
      for (const key of FUNCTIONS) {
        const fn = fnOf(app, key);
        const alias = app.resources[logicalId(fn.live)];
        expect(alias?.Properties).toMatchObject({
          Name: 'live',
          FunctionName: { Ref: logicalId(fn) },
          FunctionVersion: { 'Fn::GetAtt': [logicalId(fn.currentVersion), 'Version'] },
        });
        const group = groupOf(app, key);
        expect(alias?.UpdatePolicy).toEqual({
          CodeDeployLambdaAliasUpdate: {
            ApplicationName: { Ref: logicalId(app.built.stack.deploymentApplication) },
            DeploymentGroupName: { Ref: group.id },
          },
        });
        expect(group.props.ApplicationName).toEqual({
          Ref: logicalId(app.built.stack.deploymentApplication),
        });
      }
    }
  });

  it('deploys all at once in dev (and unstaged), canary 10% for 5 minutes in prod', () => {
    for (const [app, config] of [
      [unstaged, 'CodeDeployDefault.LambdaAllAtOnce'],
      [dev, 'CodeDeployDefault.LambdaAllAtOnce'],
      [prod, 'CodeDeployDefault.LambdaCanary10Percent5Minutes'],
    ] as const) {
      for (const key of FUNCTIONS) expect(groupOf(app, key).props.DeploymentConfigName, key).toBe(config);
    }
  });

  it("rolls back on the function's error-rate alarm and the latency alarms of the lanes it serves, in every stage", () => {
    for (const [app, prefix] of [
      [unstaged, 'stg'],
      [dev, 'stg-dev'],
      [prod, 'stg-prod'],
    ] as const) {
      for (const key of FUNCTIONS) {
        const { props, alarmNames } = groupOf(app, key);
        expect(alarmNames.sort(), key).toEqual(
          [
            `${prefix}-${key}-error-rate`,
            ...(ROLLBACK_LANES[key] ?? []).map((lane) => `${prefix}-${lane}-latency-p99`),
            // Only a canary (prod) has time to watch: its 1-minute alias alarm.
            ...(app === prod ? [`${prefix}-${key}-live-error-rate-1m`] : []),
          ].sort(),
        );
        expect(props.AlarmConfiguration?.Enabled).toBe(true);
        expect(props.AutoRollbackConfiguration).toEqual({
          Enabled: true,
          Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_REQUEST', 'DEPLOYMENT_STOP_ON_ALARM'],
        });
      }
      // The alarms are the hub's own (they notify the topic too), plus in a canary stage one fast
      // rollback alarm per function.
      expect(ofType(app, 'AWS::CloudWatch::Alarm')).toHaveLength(
        app.built.stack.alarms.all.length + (app === prod ? FUNCTIONS.length : 0),
      );
    }
  });

  it('rolls a 5-minute canary back within a minute: a 1-minute error-rate alarm on the live alias, CodeDeploy only', () => {
    for (const key of FUNCTIONS) {
      const deployment = prod.built.stack.deployments.get(key);
      const alarm = deployment?.fastRollbackAlarm;
      expect(alarm, key).toBeDefined();
      const resource = prod.resources[logicalId(alarm as IConstruct)]?.Properties as Json;
      expect(resource.AlarmName).toBe(`stg-prod-${key}-live-error-rate-1m`);
      expect(resource).toMatchObject({
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
        Threshold: 5,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      // Not paged: the function's 5-minute error-rate alarm notifies the topic.
      expect(resource.AlarmActions).toBeUndefined();
      const metrics = resource.Metrics as { MetricStat?: { Period: number; Metric: Json } }[];
      const stats = metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat] : []));
      expect(stats.map((stat) => (stat.Metric as { MetricName: string }).MetricName).sort()).toEqual([
        'Errors',
        'Invocations',
      ]);
      for (const stat of stats) {
        expect(stat.Period).toBe(60);
        // The alias's metrics: the `Resource` dimension is `<function>:live`.
        expect(JSON.stringify(stat.Metric.Dimensions)).toContain('"Name":"Resource"');
        expect(JSON.stringify(stat.Metric.Dimensions)).toContain(':live');
      }
      expect(groupOf(prod, key).alarmNames).toContain(`stg-prod-${key}-live-error-rate-1m`);
    }
    for (const app of [unstaged, dev]) {
      for (const key of FUNCTIONS)
        expect(app.built.stack.deployments.get(key)?.fastRollbackAlarm).toBeUndefined();
    }
  });

  it("lets each group's CodeDeploy role update its own alias and read its own alarms, nothing else", () => {
    for (const key of FUNCTIONS) {
      const fn = fnOf(prod, key);
      const { props } = groupOf(prod, key);
      const roleId = (props.ServiceRoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const role = prod.resources[roleId]?.Properties as {
        AssumeRolePolicyDocument: unknown;
        ManagedPolicyArns?: unknown;
        Policies: { PolicyDocument: { Statement: Json[] } }[];
      };
      expect(role.ManagedPolicyArns, key).toBeUndefined();
      expect(role.AssumeRolePolicyDocument).toEqual({
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'codedeploy.amazonaws.com' } },
        ],
        Version: '2012-10-17',
      });
      const alarmArns = (props.AlarmConfiguration?.Alarms ?? []).map((alarm) => ({
        'Fn::GetAtt': [alarm.Name.Ref, 'Arn'],
      }));
      const statements = role.Policies.flatMap((policy) => policy.PolicyDocument.Statement);
      expect(statements).toHaveLength(2);
      expect(statements).toContainEqual({
        Action: ['lambda:GetAlias', 'lambda:GetProvisionedConcurrencyConfig', 'lambda:UpdateAlias'],
        Effect: 'Allow',
        Resource: [{ 'Fn::GetAtt': [logicalId(fn), 'Arn'] }, { Ref: logicalId(fn.live) }],
      });
      const describeAlarms = statements.find((s) => s.Action === 'cloudwatch:DescribeAlarms');
      expect(new Set(((describeAlarms?.Resource ?? []) as unknown[]).map((r) => JSON.stringify(r)))).toEqual(
        new Set(alarmArns.map((r) => JSON.stringify(r))),
      );
      // No separate policy resource: the grants exist before the group does.
      const attached = ofType(prod, 'AWS::IAM::Policy').filter(([, p]) =>
        JSON.stringify(p.Properties?.Roles).includes(roleId),
      );
      expect(attached).toEqual([]);
    }
  });

  it('points every event source mapping, API route and schedule at the live alias, never at $LATEST', () => {
    for (const app of [unstaged, dev, prod]) {
      // SQS: each consumer's alias.
      const mappings = ofType(app, 'AWS::Lambda::EventSourceMapping');
      expect(mappings).toHaveLength(3);
      for (const key of ['route', 'deliver-crm', 'deliver-ledger']) {
        const fn = fnOf(app, key);
        const consumes = fn.spec.consumes?.queue ?? '';
        const queue = app.built.stack.lanes.get(consumes)?.queue;
        if (!queue) throw new Error(`no queue ${consumes}`);
        const found = mappings.filter(
          ([, m]) =>
            JSON.stringify(m.Properties?.EventSourceArn) ===
            JSON.stringify({ 'Fn::GetAtt': [logicalId(queue), 'Arn'] }),
        );
        expect(found, key).toHaveLength(1);
        expect(found[0]?.[1].Properties?.FunctionName, key).toEqual(aliasFunctionName(logicalId(fn.live)));
      }
      // API: the integration and the invoke permissions are on ingest's alias.
      const ingest = logicalId(fnOf(app, 'ingest').live);
      const integrations = ofType(app, 'AWS::ApiGatewayV2::Integration');
      expect(integrations).toHaveLength(1);
      expect(integrations[0]?.[1].Properties?.IntegrationUri).toEqual({ Ref: ingest });
      const permissions = ofType(app, 'AWS::Lambda::Permission');
      expect(permissions).toHaveLength(2); // stripe and shop routes
      for (const [, permission] of permissions)
        expect(permission.Properties?.FunctionName).toEqual({ Ref: ingest });
      // Scheduler: poll's alias, and its async settings there.
      const poll = logicalId(fnOf(app, 'poll').live);
      const schedules = ofType(app, 'AWS::Scheduler::Schedule');
      expect(schedules).toHaveLength(1);
      expect((schedules[0]?.[1].Properties?.Target as Json | undefined)?.Arn).toEqual({ Ref: poll });
      const invokeConfigs = ofType(app, 'AWS::Lambda::EventInvokeConfig');
      expect(invokeConfigs).toHaveLength(1);
      expect(JSON.stringify(invokeConfigs[0]?.[1].Properties?.Qualifier)).toContain(poll);
      // Nothing names $LATEST or an unqualified function as what to invoke.
      expect(JSON.stringify(app.resources)).not.toContain('$LATEST');
      for (const key of FUNCTIONS) {
        const unqualified = JSON.stringify({ 'Fn::GetAtt': [logicalId(fnOf(app, key)), 'Arn'] });
        for (const [id, resource] of Object.entries(app.resources)) {
          if (['AWS::IAM::Role', 'AWS::Lambda::Version', 'AWS::Lambda::Alias'].includes(resource.Type))
            continue;
          expect(JSON.stringify(resource.Properties ?? {}), `${id} (${resource.Type})`).not.toContain(
            unqualified,
          );
        }
      }
    }
  });

  it('stays clean under cdk-nag with the acknowledgements the stack already had', () => {
    const allowed = new Set([
      'Serverless-LambdaTracing',
      'Serverless-LambdaDLQ',
      'Serverless-LambdaAsyncFailureDestination',
      'Serverless-LambdaEventSourceMappingDestination',
      'Serverless-SQSRedrivePolicy',
      'Serverless-SNSRedrivePolicy',
      'AwsSolutions-APIG4',
    ]);
    for (const app of [dev, prod]) {
      const ids = app.built.stack.node
        .findAll()
        .flatMap((construct) =>
          construct.node.metadata
            .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
            .flatMap((entry) => Object.keys(entry.data as Record<string, string>)),
        )
        .map((id) => id.replace(/^annotation::/i, ''));
      for (const id of ids) expect(allowed, id).toContain(id);
      // Nothing under a deployment group or its role is acknowledged.
      for (const deployment of app.built.stack.deployments.values()) {
        for (const construct of deployment.node.findAll()) {
          expect(
            construct.node.metadata.filter((e) => e.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY),
            construct.node.path,
          ).toEqual([]);
        }
      }
    }
  });
});

describe('stage overrides (buildApp stages)', () => {
  let custom: Synthesized;
  beforeAll(() => {
    custom = synthesize(hub, {
      stage: 'prod',
      stages: {
        prod: {
          deployment: { type: 'canary', percent: 25, minutes: 10 },
          logRetentionDays: 30,
          alarms: { errorRatePercent: 1, latencyP99Seconds: 20 },
        },
      },
    });
  });

  it('uses a custom CodeDeploy configuration for a strategy CodeDeploy has no predefined one for', () => {
    const configs = ofType(custom, 'AWS::CodeDeploy::DeploymentConfig');
    expect(configs).toHaveLength(1);
    const [configId, config] = configs[0] as [string, Resource];
    expect(config.Properties).toMatchObject({
      ComputePlatform: 'Lambda',
      TrafficRoutingConfig: {
        Type: 'TimeBasedCanary',
        TimeBasedCanary: { CanaryPercentage: 25, CanaryInterval: 10 },
      },
    });
    for (const key of FUNCTIONS)
      expect(groupOf(custom, key).props.DeploymentConfigName).toEqual({ Ref: configId });
  });

  it("takes the stage's retention and thresholds instead of the config's", () => {
    for (const [id, group] of ofType(custom, 'AWS::Logs::LogGroup'))
      expect(group.Properties?.RetentionInDays, id).toBe(30);
    const alarms = Object.fromEntries(
      ofType(custom, 'AWS::CloudWatch::Alarm').map(([, r]) => [r.Properties?.AlarmName, r.Properties]),
    );
    expect(alarms['stg-prod-ingest-error-rate']?.Threshold).toBe(1);
    expect(alarms[`stg-prod-${CRM_LANE}-latency-p99`]?.Threshold).toBe(20_000);
    expect(custom.built.settings.alarms).toMatchObject({ errorRatePercent: 1, latencyP99Seconds: 20 });
  });
});

describe('the stage from the CLI context', () => {
  it('reads --context stage=<name> the way cdk passes it (CDK_CONTEXT_JSON), and refuses an unknown stage', () => {
    const previous = process.env.CDK_CONTEXT_JSON;
    try {
      process.env.CDK_CONTEXT_JSON = JSON.stringify({ stage: 'prod' });
      const built = buildApp(hub, { nag: false, context: NO_BUNDLING });
      expect(built.stack.stackName).toBe('stg-prod');
      process.env.CDK_CONTEXT_JSON = JSON.stringify({ stage: 'staging' });
      expect(() => buildApp(hub, { nag: false, context: NO_BUNDLING })).toThrow(
        /stage: no stage named "staging" \(stages: dev, prod\)/,
      );
    } finally {
      if (previous === undefined) delete process.env.CDK_CONTEXT_JSON;
      else process.env.CDK_CONTEXT_JSON = previous;
    }
  });
});
