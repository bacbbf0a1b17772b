import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { DeliveryLane } from './delivery-lane.js';
import { pascal } from './ids.js';
import { acknowledge } from './nag.js';

export interface AlarmsProps {
  /** The lanes to watch: each DLQ's depth and each queue's oldest message. */
  readonly lanes: readonly DeliveryLane[];

  /** Age in seconds of a queue's oldest message above which its alarm fires. */
  readonly oldestMessageAgeSeconds: number;

  /**
   * Address subscribed to the alarm topic. AWS sends it a confirmation mail first.
   *
   * @default - no subscription; subscribe to the topic yourself
   */
  readonly email?: string;
}

/**
 * The hub's alarms and the SNS topic they notify (on ALARM and again on OK):
 *
 * - per DLQ: `ApproximateNumberOfMessagesVisible > 0` (anything dead-lettered needs a person);
 * - per queue: `ApproximateAgeOfOldestMessage > oldestMessageAgeSeconds` (a consumer is stuck or
 *   a destination is down for longer than retries should take).
 *
 * The topic is encrypted with its own customer-managed KMS key (rotated yearly): CloudWatch cannot
 * publish to a topic encrypted with the AWS-managed `alias/aws/sns` key, because that key's policy
 * cannot be changed to let the CloudWatch service use it: every notification would fail, visible
 * only in each alarm's history.
 * The key policy lets the CloudWatch service use the key; the topic policy lets it publish for this
 * account's alarms only, and denies publishing without TLS.
 */
export class Alarms extends Construct {
  readonly topic: Topic;
  readonly key: Key;
  /** DLQ depth alarms, by lane (topology queue key). */
  readonly deadLetterAlarms = new Map<string, Alarm>();
  /** Oldest-message age alarms, by lane (topology queue key). */
  readonly ageAlarms = new Map<string, Alarm>();

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.key = new Key(this, 'TopicKey', {
      description: 'Encrypts the Switchyard alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');
    // CloudWatch publishes as itself, so it needs the key: SNS asks KMS for a data key to store each
    // message and decrypts it to deliver. AWS documents this statement without conditions (a
    // caller-account condition is known to break it); the topic policy below is what limits
    // publishing to this account's alarms.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsUseKeyForTopic',
        effect: Effect.ALLOW,
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );

    this.topic = new Topic(this, 'Topic', {
      displayName: 'Switchyard alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        effect: Effect.ALLOW,
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );

    if (props.email) {
      const subscription = this.topic.addSubscription(new EmailSubscription(props.email));
      acknowledge(
        subscription,
        'Serverless-SNSRedrivePolicy',
        'An email subscription is a convenience copy of alarm state changes: the alarms themselves stay in ALARM in CloudWatch until resolved, so an undeliverable email loses no information worth a dead-letter queue.',
      );
    }

    const action = new SnsAction(this.topic);
    for (const lane of props.lanes) {
      const key = lane.spec.key;
      const deadLetter = new Alarm(this, `${pascal(key)}DeadLetters`, {
        alarmName: `${lane.spec.deadLetter.name}-not-empty`,
        alarmDescription: `Messages in ${lane.spec.deadLetter.name}: they exhausted ${lane.spec.maxReceiveCount} receives on ${lane.spec.name}. Find the cause in the ${lane.spec.consumer} logs, fix it, then redrive.`,
        metric: lane.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      const age = new Alarm(this, `${pascal(key)}OldestMessage`, {
        alarmName: `${lane.spec.name}-oldest-message-age`,
        alarmDescription: `The oldest message in ${lane.spec.name} is older than ${props.oldestMessageAgeSeconds} s: ${lane.spec.consumer} is failing, throttled or its destination is down.`,
        metric: lane.queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: props.oldestMessageAgeSeconds,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      for (const alarm of [deadLetter, age]) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
      this.deadLetterAlarms.set(key, deadLetter);
      this.ageAlarms.set(key, age);
    }
  }
}
