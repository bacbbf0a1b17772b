import { Duration, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IAlarm,
  MathExpression,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import {
  type ILambdaApplication,
  type ILambdaDeploymentConfig,
  LambdaDeploymentConfig,
  LambdaDeploymentGroup,
  TrafficRouting,
} from 'aws-cdk-lib/aws-codedeploy';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Alias, IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { DeploymentStrategy } from '../stages.js';

/**
 * Alarms CodeDeploy may watch per deployment group (its default quota: 50, adjustable).
 */
export const MAX_ROLLBACK_ALARMS = 50;

/** The CodeDeploy configurations that exist in every account, by strategy. */
const PREDEFINED: Readonly<Record<string, ILambdaDeploymentConfig>> = {
  'all-at-once': LambdaDeploymentConfig.ALL_AT_ONCE,
  'canary-10-5': LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
  'canary-10-10': LambdaDeploymentConfig.CANARY_10PERCENT_10MINUTES,
  'canary-10-15': LambdaDeploymentConfig.CANARY_10PERCENT_15MINUTES,
  'canary-10-30': LambdaDeploymentConfig.CANARY_10PERCENT_30MINUTES,
  'linear-10-1': LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
  'linear-10-2': LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_2MINUTES,
  'linear-10-3': LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_3MINUTES,
  'linear-10-10': LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_10MINUTES,
};

function strategyKey(strategy: DeploymentStrategy): string {
  return strategy.type === 'all-at-once'
    ? 'all-at-once'
    : `${strategy.type}-${strategy.percent}-${strategy.minutes}`;
}

/**
 * The CodeDeploy deployment configuration of a strategy: CodeDeploy's predefined one when there is
 * one (`CodeDeployDefault.LambdaAllAtOnce`, `...LambdaCanary10Percent5Minutes`, ...), otherwise a
 * custom configuration, created once per stack.
 */
export function deploymentConfigFor(scope: Construct, strategy: DeploymentStrategy): ILambdaDeploymentConfig {
  const key = strategyKey(strategy);
  const predefined = PREDEFINED[key];
  if (predefined) return predefined;
  if (strategy.type === 'all-at-once') return LambdaDeploymentConfig.ALL_AT_ONCE;
  const stack = Stack.of(scope);
  const id = `DeploymentConfig-${key}`;
  const existing = stack.node.tryFindChild(id);
  if (existing) return existing as LambdaDeploymentConfig;
  const interval = Duration.minutes(strategy.minutes);
  return new LambdaDeploymentConfig(stack, id, {
    trafficRouting:
      strategy.type === 'canary'
        ? TrafficRouting.timeBasedCanary({ interval, percentage: strategy.percent })
        : TrafficRouting.timeBasedLinear({ interval, percentage: strategy.percent }),
  });
}

export interface LiveDeploymentProps {
  /** The function, for the role's grants. */
  readonly fn: IFunction;
  /** Its `live` alias: what every trigger invokes and what CodeDeploy shifts. */
  readonly alias: Alias;
  /** The topology key of the function: the deployment group's name. */
  readonly key: string;
  /** The stack's CodeDeploy application. */
  readonly application: ILambdaApplication;
  readonly strategy: DeploymentStrategy;
  /**
   * Alarms that roll a deployment back while they are in ALARM: the function's error-rate alarm
   * and the latency alarms of the lanes it serves. At most {@link MAX_ROLLBACK_ALARMS}.
   */
  readonly alarms: readonly IAlarm[];
  /**
   * For a canary or linear strategy: the `live` alias's error rate, in percent over one minute, above
   * which the shift rolls back (an alarm only this group watches). The hub's error-rate alarm judges
   * 2 of 3 five-minute periods, too slow to stop a 5-minute canary; this one sees the first minute.
   * The alias's metrics count only what the triggers invoke, old and new version together, so at a
   * 10% canary a new version failing every call shows as 10%.
   *
   * @default - no fast rollback alarm
   */
  readonly fastRollback?: { readonly alarmName: string; readonly errorRatePercent: number };
}

/**
 * Shifts a function's `live` alias to each new version through CodeDeploy: a deployment group with
 * the stage's strategy, the function's rollback alarms, and automatic rollback when a deployment
 * fails, is stopped, or one of those alarms is in ALARM while traffic shifts.
 *
 * CloudFormation starts the deployment when it updates the alias (the alias's
 * `CodeDeployLambdaAliasUpdate` update policy) and waits for it: a rolled-back deployment fails the
 * stack update, which CloudFormation then rolls back too.
 *
 * The hub's alarms judge 5-minute periods and fire on 2 of the last 3, too slow for a 5-minute
 * canary; so a canary or linear group also watches a 1-minute error-rate alarm on the alias
 * (`fastRollback`), which sees a failing new version within the first minute or two of the shift.
 * Latency has no such fast alarm: a p99 over one minute of a 10% canary is too few samples to judge.
 *
 * CodeDeploy's role may read and update this alias and describe these alarms, nothing else: not
 * the AWS-managed AWSCodeDeployRoleForLambdaLimited (CDK attaches it by default), whose
 * `lambda:UpdateAlias` and `cloudwatch:DescribeAlarms` are on `Resource: *` and which also reads S3
 * objects and invokes `CodeDeployHook_*` functions (this hub has neither an S3 AppSpec nor hooks).
 * The grants are inline, in the role itself, so they exist before the deployment group does.
 */
export class LiveDeployment extends Construct {
  readonly group: LambdaDeploymentGroup;
  /** The role CodeDeploy assumes for this group. */
  readonly role: Role;
  /** What the group watches. */
  readonly alarms: readonly IAlarm[];
  /** The 1-minute alias error-rate alarm (canary and linear strategies only). */
  readonly fastRollbackAlarm: Alarm | undefined;

  constructor(scope: Construct, id: string, props: LiveDeploymentProps) {
    super(scope, id);
    const fast =
      props.fastRollback && props.strategy.type !== 'all-at-once'
        ? new Alarm(this, 'FastRollback', {
            alarmName: props.fastRollback.alarmName,
            alarmDescription: `Rolls back a ${props.key} deployment: more than ${props.fastRollback.errorRatePercent}% of the invocations of its live alias failed in the last minute while CodeDeploy shifted traffic. Watched by CodeDeploy only, not sent to the alarm topic (the function's error-rate alarm is). Runbook: "Function error rate".`,
            metric: new MathExpression({
              expression: '100 * FILL(errors, 0) / invocations',
              usingMetrics: {
                errors: props.alias.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
                invocations: props.alias.metricInvocations({ period: Duration.minutes(1), statistic: 'Sum' }),
              },
              label: `${props.key} live alias error rate (%)`,
              period: Duration.minutes(1),
            }),
            threshold: props.fastRollback.errorRatePercent,
            comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluationPeriods: 1,
            datapointsToAlarm: 1,
            treatMissingData: TreatMissingData.NOT_BREACHING,
          })
        : undefined;
    this.fastRollbackAlarm = fast;
    this.alarms = fast ? [fast, ...props.alarms] : props.alarms;
    if (this.alarms.length > MAX_ROLLBACK_ALARMS) {
      throw new Error(
        `Function ${props.key}: ${this.alarms.length} rollback alarms, more than the ${MAX_ROLLBACK_ALARMS} a CodeDeploy deployment group may watch`,
      );
    }
    const aliasActions = ['lambda:GetAlias', 'lambda:UpdateAlias', 'lambda:GetProvisionedConcurrencyConfig'];
    const statements = [
      // Lambda authorizes alias actions on the function's ARN or the alias's: both, this function only.
      new PolicyStatement({
        actions: aliasActions,
        resources: [props.fn.functionArn, props.alias.functionArn],
      }),
    ];
    if (this.alarms.length > 0) {
      statements.push(
        new PolicyStatement({
          actions: ['cloudwatch:DescribeAlarms'],
          resources: this.alarms.map((alarm) => alarm.alarmArn),
        }),
      );
    }
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('codedeploy.amazonaws.com'),
      description: `Lets CodeDeploy shift the ${props.key} function's live alias and read its rollback alarms`,
      inlinePolicies: { ShiftLiveAlias: new PolicyDocument({ statements }) },
    });

    this.group = new LambdaDeploymentGroup(this, 'Group', {
      application: props.application,
      deploymentGroupName: props.key,
      alias: props.alias,
      deploymentConfig: deploymentConfigFor(this, props.strategy),
      alarms: [...this.alarms],
      // An immutable view: the group cannot attach AWSCodeDeployRoleForLambdaLimited to it.
      role: this.role.withoutPolicyUpdates(),
      autoRollback: {
        failedDeployment: true,
        stoppedDeployment: true,
        deploymentInAlarm: this.alarms.length > 0,
      },
    });
  }
}
