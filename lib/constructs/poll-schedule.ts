import { Duration, Stack } from 'aws-cdk-lib';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import type { ScheduleSpec } from '../../functions/core/topology.js';

/**
 * Scheduler invokes exactly the ARN it is given (the poll function's `live` alias), so that is all
 * its role may invoke: the stock target grants `<arn>:*` as well (every version and alias), a
 * wildcard this hub does not need.
 */
export class ExactLambdaInvoke extends LambdaInvoke {
  private readonly target: IFunction;

  constructor(fn: IFunction, props: ConstructorParameters<typeof LambdaInvoke>[1]) {
    super(fn, props);
    this.target = fn;
  }

  protected override addTargetActionToRole(role: IRole): void {
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.target.functionArn] }),
    );
  }
}

export interface PollScheduleProps {
  /** The schedule, as the topology derives it from a polled source. */
  readonly spec: ScheduleSpec;
  /** What to invoke, the poll function's `live` alias; it receives `{ "source": "<name>" }`. */
  readonly fn: IFunction;
}

/**
 * One EventBridge Scheduler schedule per polled source, invoking the poll function with the
 * source's name. Scheduler does not retry a failed poll: the next run re-reads from the unchanged
 * cursor, and the lease keeps two runs from overlapping.
 */
export class PollSchedule extends Construct {
  readonly schedule: Schedule;
  /** The role Scheduler assumes; it may invoke the poll function and nothing else. */
  readonly role: Role;

  constructor(scope: Construct, id: string, props: PollScheduleProps) {
    super(scope, id);
    if (!/^(rate|cron)\(.+\)$/.test(props.spec.expression)) {
      throw new Error(
        `PollSchedule: schedule for ${props.spec.source} must be rate(...) or cron(...) (got "${props.spec.expression}")`,
      );
    }
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: `Lets EventBridge Scheduler invoke the poll function for ${props.spec.source}`,
    });
    this.schedule = new Schedule(this, 'Schedule', {
      schedule: ScheduleExpression.expression(props.spec.expression),
      description: `Polls ${props.spec.source} (Switchyard rest-poll source)`,
      target: new ExactLambdaInvoke(props.fn, {
        role: this.role,
        input: ScheduleTargetInput.fromObject({ source: props.spec.source }),
        retryAttempts: 0,
        maxEventAge: Duration.minutes(5),
      }),
    });
  }
}
