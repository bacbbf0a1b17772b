import { Duration, Stack } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import type { ReconcileScheduleSpec } from '../../functions/core/topology.js';
import { ExactLambdaInvoke } from './poll-schedule.js';

export interface ReconcileScheduleProps {
  /** The schedule, as the topology derives it from a flow's `reconcile` block. */
  readonly spec: ReconcileScheduleSpec;
  /** What to invoke, the reconcile function's `live` alias; it receives `{ "flow": "<name>" }`. */
  readonly fn: IFunction;
}

/**
 * One EventBridge Scheduler schedule per reconciled flow, like {@link PollSchedule}: its own role,
 * which may invoke the reconcile function's alias and nothing else. Not retried: the next run covers
 * the same window again.
 */
export class ReconcileSchedule extends Construct {
  readonly schedule: Schedule;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: ReconcileScheduleProps) {
    super(scope, id);
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: `Lets EventBridge Scheduler invoke the reconcile function for flow ${props.spec.flow}`,
    });
    this.schedule = new Schedule(this, 'Schedule', {
      schedule: ScheduleExpression.expression(props.spec.expression),
      description: `Reconciles flow ${props.spec.flow} over the last ${props.spec.windowHours} h (Switchyard)`,
      target: new ExactLambdaInvoke(props.fn, {
        role: this.role,
        input: ScheduleTargetInput.fromObject({ flow: props.spec.flow }),
        retryAttempts: 0,
        maxEventAge: Duration.minutes(5),
      }),
    });
  }
}
