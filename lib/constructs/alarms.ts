import { Annotations, ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  AnomalyDetectionAlarm,
  ComparisonOperator,
  MathExpression,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { DeliveryLane } from './delivery-lane.js';
import type { HubMetrics, Lane } from './hub-metrics.js';
import { pascal } from './ids.js';
import { acknowledge } from './nag.js';
import { longestIntervalSeconds } from './schedule-interval.js';

/** Thresholds, from the config's `alarms` block (defaults filled in by loadConfig). */
export interface AlarmThresholds {
  /** Age in seconds of a queue's oldest message above which its alarm fires. */
  readonly oldestMessageAgeSeconds: number;
  /** p99 of `endToEndLatency` (webhook received to destination confirmed), per lane. */
  readonly latencyP99Seconds: number;
  /** Failed invocations as a percent of invocations, per function. */
  readonly errorRatePercent: number;
  /** Quarantined as a percent of routed events, per lane and per source. */
  readonly quarantineRatePercent: number;
  /** Width of the expected band for accepted events per source, in standard deviations. */
  readonly volumeAnomalyStdDevs: number;
}

export interface AlarmsProps {
  /** The queues to watch: each DLQ's depth and each queue's oldest message. */
  readonly lanes: readonly DeliveryLane[];

  /** The hub's functions by topology key: each gets an error-rate alarm. */
  readonly functions: ReadonlyMap<string, IFunction>;

  /** The flows' lanes (flow, destination): each gets a p99 latency and a quarantine-rate alarm. */
  readonly flowLanes: readonly Lane[];

  /** The sources: each gets a quarantine-rate alarm (route stage) and a volume-anomaly alarm. */
  readonly sources: readonly string[];

  /** The schedules of the polled sources: each source gets a poll-lag alarm. */
  readonly schedules?: readonly { readonly source: string; readonly expression: string }[];

  /** The reconciled flows (their schedules): each gets a drift alarm. */
  readonly reconciles?: readonly { readonly flow: string; readonly expression: string }[];

  /** The hub's EMF metrics (namespace and service from the topology). */
  readonly metrics: HubMetrics;

  /** Prefix of every alarm name: the hub's name. */
  readonly namePrefix: string;

  readonly thresholds: AlarmThresholds;

  /**
   * The hub's customer-managed key (see dataKey), to encrypt the topic with instead of a key of its
   * own. The CloudWatch statement is added to its key policy; an imported key's policy cannot be
   * changed from here, so it must already have it (a synth warning says so).
   *
   * @default - a key of the topic's own
   */
  readonly key?: IKey;

  /**
   * Address subscribed to the alarm topic. AWS sends it a confirmation mail first.
   *
   * @default - no subscription; subscribe to the topic yourself
   */
  readonly email?: string;
}

/** Error rate and p99 latency: 5-minute periods, 2 of the last 3 breaching (one bad period is noise). */
const FAST = { period: Duration.minutes(5), evaluationPeriods: 3, datapointsToAlarm: 2 } as const;
/** Quarantine rate: one 15-minute period, enough events for a percentage to mean something. */
const QUARANTINE_PERIOD = Duration.minutes(15);
/** Volume anomaly: three 10-minute periods in a row below the band (half an hour of silence). */
const VOLUME = { period: Duration.minutes(10), evaluationPeriods: 3, datapointsToAlarm: 3 } as const;
/** Poll lag: this many scheduled runs in a row without a successful poll. */
export const POLL_MISSED_RUNS = 3;
const DAY_SECONDS = 86_400;

/**
 * The alarm window for "no successful poll in POLL_MISSED_RUNS of the schedule's longest gaps": one
 * period of that length while it fits in a day, otherwise whole days (at most a week, the longest
 * range CloudWatch evaluates).
 */
export function pollLagWindow(expression: string): { periodSeconds: number; evaluationPeriods: number } {
  const total = POLL_MISSED_RUNS * longestIntervalSeconds(expression);
  if (total <= DAY_SECONDS)
    return { periodSeconds: Math.max(60, Math.ceil(total / 60) * 60), evaluationPeriods: 1 };
  return { periodSeconds: DAY_SECONDS, evaluationPeriods: Math.min(7, Math.ceil(total / DAY_SECONDS)) };
}

/**
 * The hub's alarms and the SNS topic they all notify (on ALARM and again on OK). What each one
 * means and what to do about it is in docs/runbook.md, under the alarm's name.
 *
 * - per DLQ: `ApproximateNumberOfMessagesVisible > 0` (anything dead-lettered needs a person);
 * - per queue: `ApproximateAgeOfOldestMessage > oldestMessageAgeSeconds` (a consumer is stuck or
 *   a destination is down for longer than retries should take);
 * - per function: `100 * Errors / Invocations > errorRatePercent` (the handler itself fails: a
 *   bad deploy, a missing grant or secret; record-level failures are retried, not errors);
 * - per lane: p99 of `endToEndLatency > latencyP99Seconds`;
 * - per lane and per source: `100 * quarantined / routed > quarantineRatePercent`;
 * - per source: `accepted` (missing periods filled with 0) below its anomaly detection band: the
 *   drop to zero when a provider stops sending, a secret rotates on one side only, or a route is
 *   deleted, which no error alarm sees because nothing fails.
 *
 * - per polled source: no successful poll (`polled`) in POLL_MISSED_RUNS of its schedule's intervals.
 *
 * - per reconciled flow: the last reconcile run found drift (`reconcileDrift > 0`): records a
 *   source lists that the hub or a destination lacks, e.g. a lost webhook.
 *
 * The topic is encrypted with a customer-managed KMS key (rotated yearly): the hub's data key when
 * the config asks for one (`props.key`), otherwise a key of its own. CloudWatch cannot publish to a
 * topic encrypted with the AWS-managed `alias/aws/sns` key, because that key's policy cannot be
 * changed to let the CloudWatch service use it: every notification would fail, visible only in each
 * alarm's history.
 * The key policy lets the CloudWatch service use the key; the topic policy lets it publish for this
 * account's alarms only, and denies publishing without TLS.
 */
export class Alarms extends Construct {
  readonly topic: Topic;
  /** The key the topic is encrypted with: `props.key`, or the topic's own. */
  readonly key: IKey;
  /** DLQ depth alarms, by lane (topology queue key). */
  readonly deadLetterAlarms = new Map<string, Alarm>();
  /** Oldest-message age alarms, by lane (topology queue key). */
  readonly ageAlarms = new Map<string, Alarm>();
  /** Error-rate alarms, by topology function key. */
  readonly errorRateAlarms = new Map<string, Alarm>();
  /** p99 end-to-end latency alarms, by `flow/destination`. */
  readonly latencyAlarms = new Map<string, Alarm>();
  /** Quarantine-rate alarms, by `flow/destination` for lanes and by source name for sources. */
  readonly quarantineAlarms = new Map<string, Alarm>();
  /** Volume anomaly alarms on accepted events, by source. */
  readonly volumeAlarms = new Map<string, Alarm>();
  /** No-successful-poll alarms, by polled source. */
  readonly pollLagAlarms = new Map<string, Alarm>();
  /** Reconciliation drift alarms, by flow. */
  readonly driftAlarms = new Map<string, Alarm>();

  /** Every alarm, in creation order. */
  get all(): Alarm[] {
    return [
      ...this.deadLetterAlarms.values(),
      ...this.ageAlarms.values(),
      ...this.errorRateAlarms.values(),
      ...this.latencyAlarms.values(),
      ...this.quarantineAlarms.values(),
      ...this.volumeAlarms.values(),
      ...this.pollLagAlarms.values(),
      ...this.driftAlarms.values(),
    ];
  }

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.key =
      props.key ??
      new Key(this, 'TopicKey', {
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
    const keyUse = this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsUseKeyForTopic',
        effect: Effect.ALLOW,
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    if (!keyUse.statementAdded) {
      Annotations.of(this).addWarningV2(
        'switchyard:alarm-topic-key-policy',
        `The alarm topic is encrypted with the imported key ${this.key.keyArn}, whose key policy this stack cannot change. Unless that policy allows the service principal cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey, every alarm notification fails (visible only in each alarm's history).`,
      );
    }

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
    const notify = (alarm: Alarm): Alarm => {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      return alarm;
    };
    const { thresholds, metrics, namePrefix } = props;

    for (const lane of props.lanes) {
      const key = lane.spec.key;
      const deadLetter = new Alarm(this, `${pascal(key)}DeadLetters`, {
        alarmName: `${lane.spec.deadLetter.name}-not-empty`,
        alarmDescription: `Messages in ${lane.spec.deadLetter.name}: they exhausted ${lane.spec.maxReceiveCount} receives on ${lane.spec.name}. Find the cause in the ${lane.spec.consumer} logs, fix it, then redrive. Runbook: "DLQ not empty".`,
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
        alarmDescription: `The oldest message in ${lane.spec.name} is older than ${thresholds.oldestMessageAgeSeconds} s: ${lane.spec.consumer} is failing, throttled or its destination is down. Runbook: "Oldest message age".`,
        metric: lane.queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: thresholds.oldestMessageAgeSeconds,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      this.deadLetterAlarms.set(key, notify(deadLetter));
      this.ageAlarms.set(key, notify(age));
    }

    for (const [key, fn] of props.functions) {
      const alarm = new Alarm(this, `${pascal(key)}ErrorRate`, {
        alarmName: `${namePrefix}-${key}-error-rate`,
        alarmDescription: `More than ${thresholds.errorRatePercent}% of the ${key} function's invocations failed in 2 of the last 3 five-minute periods: the handler itself throws or times out (bad deploy, missing grant or secret, timeout). Runbook: "Function error rate".`,
        metric: new MathExpression({
          expression: '100 * FILL(errors, 0) / invocations',
          usingMetrics: {
            errors: fn.metricErrors({ period: FAST.period, statistic: 'Sum' }),
            invocations: fn.metricInvocations({ period: FAST.period, statistic: 'Sum' }),
          },
          label: `${key} error rate (%)`,
          period: FAST.period,
        }),
        threshold: thresholds.errorRatePercent,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: FAST.evaluationPeriods,
        datapointsToAlarm: FAST.datapointsToAlarm,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      this.errorRateAlarms.set(key, notify(alarm));
    }

    for (const lane of props.flowLanes) {
      const laneKey = `${lane.flow}/${lane.destination}`;
      const id = pascal(`${lane.flow}-${lane.destination}`);
      const latency = new Alarm(this, `${id}LatencyP99`, {
        alarmName: `${namePrefix}-${lane.flow}-${lane.destination}-latency-p99`,
        alarmDescription: `p99 time from webhook received to ${lane.destination} confirmed, on flow ${lane.flow}, is over ${thresholds.latencyP99Seconds} s in 2 of the last 3 five-minute periods: retries, a slow destination or a backlog. Runbook: "p99 end-to-end latency".`,
        metric: metrics.laneTiming('endToEndLatency', lane, 'p99', { period: FAST.period }),
        threshold: thresholds.latencyP99Seconds * 1000,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: FAST.evaluationPeriods,
        datapointsToAlarm: FAST.datapointsToAlarm,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      this.latencyAlarms.set(laneKey, notify(latency));
      const quarantine = new Alarm(this, `${id}QuarantineRate`, {
        alarmName: `${namePrefix}-${lane.flow}-${lane.destination}-quarantine-rate`,
        alarmDescription: `More than ${thresholds.quarantineRatePercent}% of the records routed to ${lane.destination} on flow ${lane.flow} in 15 minutes were quarantined (failed validation, or ${lane.destination} refused them with a 4xx). Runbook: "Quarantine rate".`,
        metric: new MathExpression({
          expression: '100 * FILL(quarantined, 0) / routed',
          usingMetrics: {
            quarantined: metrics.lane('quarantined', lane, { period: QUARANTINE_PERIOD }),
            routed: metrics.lane('routed', lane, { period: QUARANTINE_PERIOD }),
          },
          label: `${laneKey} quarantined (%)`,
          period: QUARANTINE_PERIOD,
        }),
        threshold: thresholds.quarantineRatePercent,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      this.quarantineAlarms.set(laneKey, notify(quarantine));
    }

    for (const source of props.sources) {
      const id = pascal(source);
      const quarantine = new Alarm(this, `Source${id}QuarantineRate`, {
        alarmName: `${namePrefix}-source-${source}-quarantine-rate`,
        alarmDescription: `More than ${thresholds.quarantineRatePercent}% of the events from ${source} routed in 15 minutes were quarantined before reaching any flow (unreadable event, unknown shape). Runbook: "Quarantine rate".`,
        metric: new MathExpression({
          expression: '100 * FILL(quarantined, 0) / routed',
          usingMetrics: {
            quarantined: metrics.source('quarantined', source, { period: QUARANTINE_PERIOD }),
            routed: metrics.source('routed', source, { period: QUARANTINE_PERIOD }),
          },
          label: `${source} quarantined (%)`,
          period: QUARANTINE_PERIOD,
        }),
        threshold: thresholds.quarantineRatePercent,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      this.quarantineAlarms.set(source, notify(quarantine));
      // FILL(..., 0): EMF writes no data point for a period without events, and the drop to zero
      // is the anomaly this alarm is for. Missing data would otherwise leave it in INSUFFICIENT_DATA.
      const volume = new AnomalyDetectionAlarm(this, `Source${id}VolumeAnomaly`, {
        alarmName: `${namePrefix}-source-${source}-volume-anomaly`,
        alarmDescription: `Events accepted from ${source} fell below the expected band (${thresholds.volumeAnomalyStdDevs} standard deviations) for 30 minutes: the provider stopped sending, its webhook points elsewhere, or every request is refused. Runbook: "Volume anomaly".`,
        metric: new MathExpression({
          expression: 'FILL(accepted, 0)',
          usingMetrics: { accepted: metrics.source('accepted', source, { period: VOLUME.period }) },
          label: `accepted from ${source}`,
          period: VOLUME.period,
        }),
        stdDevs: thresholds.volumeAnomalyStdDevs,
        comparisonOperator: ComparisonOperator.LESS_THAN_LOWER_THRESHOLD,
        evaluationPeriods: VOLUME.evaluationPeriods,
        datapointsToAlarm: VOLUME.datapointsToAlarm,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      this.volumeAlarms.set(source, notify(volume));
    }

    for (const schedule of props.schedules ?? []) {
      const { periodSeconds, evaluationPeriods } = pollLagWindow(schedule.expression);
      const period = Duration.seconds(periodSeconds);
      const window = Duration.seconds(periodSeconds * evaluationPeriods).toHumanString();
      // `polled` is counted once per successful poll; a window without one has no data point, which
      // FILL turns into 0 so the alarm sees it (and breaches) instead of INSUFFICIENT_DATA.
      const alarm = new Alarm(this, `Source${pascal(schedule.source)}PollLag`, {
        alarmName: `${namePrefix}-source-${schedule.source}-poll-lag`,
        alarmDescription: `No successful poll of ${schedule.source} in ${window} (${POLL_MISSED_RUNS} runs of ${schedule.expression}): the API fails, the credential expired, the lease is stuck or the schedule is disabled. Runbook: "Poll lag".`,
        metric: new MathExpression({
          expression: 'FILL(polled, 0)',
          usingMetrics: { polled: metrics.source('polled', schedule.source, { period }) },
          label: `successful polls of ${schedule.source}`,
          period,
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods,
        datapointsToAlarm: evaluationPeriods,
        treatMissingData: TreatMissingData.BREACHING,
      });
      this.pollLagAlarms.set(schedule.source, notify(alarm));
    }

    for (const reconcile of props.reconciles ?? []) {
      // One period as long as the schedule's longest gap, so every run's figure is seen; capped at a
      // day (CloudWatch's longest period for an alarm on a custom metric).
      const period = Duration.seconds(
        Math.min(
          DAY_SECONDS,
          Math.max(60, Math.ceil(longestIntervalSeconds(reconcile.expression) / 60) * 60),
        ),
      );
      const alarm = new Alarm(this, `Flow${pascal(reconcile.flow)}ReconcileDrift`, {
        alarmName: `${namePrefix}-flow-${reconcile.flow}-reconcile-drift`,
        alarmDescription: `The last reconcile of flow ${reconcile.flow} found records its sources list that the hub or a destination lacks (a lost webhook, a missed delivery). See the report with \`switchyard reconcile --flow ${reconcile.flow}\`, then repair with --repair. Runbook: "Reconciliation drift".`,
        metric: metrics.flow('reconcileDrift', reconcile.flow, { period, statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // No run in the period is the error-rate alarm's business, not drift.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      this.driftAlarms.set(reconcile.flow, notify(alarm));
    }
  }
}
