import { Duration, Stack } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  type IWidget,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { DeliveryLane } from './delivery-lane.js';
import type { HubMetrics } from './hub-metrics.js';

/** A flow as the dashboard shows it: its name, what it carries, from where, to where. */
export interface DashboardFlow {
  readonly name: string;
  readonly entity: string;
  readonly from: readonly string[];
  readonly to: readonly string[];
}

export interface HubDashboardProps {
  /** CloudWatch dashboard name; unique per account and region. */
  readonly dashboardName: string;
  readonly metrics: HubMetrics;
  readonly flows: readonly DashboardFlow[];
  readonly sources: readonly string[];
  /** The polled sources (with a schedule): each gets a graph of its polls. */
  readonly polledSources?: readonly string[];
  /** Queues by topology key: `inbound` and `deliver-<destination>`. */
  readonly lanes: ReadonlyMap<string, DeliveryLane>;
  /** Functions by topology key. */
  readonly functions: ReadonlyMap<string, IFunction>;
  /**
   * What webhooks come in through, graphed as requests, 4xx and 5xx: the HTTP API, or the ingest
   * function behind a function URL (invocations, errors, throttles).
   *
   * @default - no front-door graph (a hub with polled sources only)
   */
  readonly ingress?: { readonly api: IHttpApi } | { readonly fn: IFunction };
  /** Shown at the top, with their state. */
  readonly alarms: readonly IAlarm[];
  /** Drawn as a line on each latency graph, in seconds. */
  readonly latencyP99Seconds: number;
}

const PERIOD = Duration.minutes(5);
/** Four graphs side by side: CloudWatch dashboards are 24 units wide. */
const QUARTER = 6;
const HEIGHT = 6;

/**
 * The hub's CloudWatch dashboard, built from the topology and the flows, so a new flow, source or
 * destination gets its row on the next deploy:
 *
 * - alarms: the state of every hub alarm;
 * - ingest: accepted per source, rejected by reason per source (signature failures included),
 *   events quarantined before reaching a flow, the webhook API's 4xx and 5xx, each polled source's
 *   polls, failures and lag, and the inbound queue and its DLQ;
 * - one row per flow destination: outcomes (delivered, skipped by reason, quarantined,
 *   dead-lettered), end-to-end latency p50/p99 against the alarm threshold, the delivery queue's
 *   depth and oldest message, and its DLQ;
 * - functions: errors and duration per function.
 *
 * The local console (`switchyard dev`, `/`) shows the same rows from the local counters.
 */
export class HubDashboard extends Construct {
  readonly dashboard: Dashboard;
  /** The dashboard's name, as given (a plain string, not a deploy-time token). */
  readonly name: string;
  /** Widgets per flow name, in the order they appear. */
  readonly flowWidgets = new Map<string, IWidget[]>();

  constructor(scope: Construct, id: string, props: HubDashboardProps) {
    super(scope, id);
    const { metrics } = props;
    this.name = props.dashboardName;
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });

    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# Switchyard: ${metrics.service}\nEvery accepted event ends, per flow destination, as delivered, skipped, quarantined or dead-lettered. What each alarm means and what to do: docs/runbook.md.`,
        width: 24,
        height: 2,
      }),
    );
    if (props.alarms.length > 0) {
      this.dashboard.addWidgets(
        new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 4 }),
      );
    }

    // Ingest.
    const inbound = props.lanes.get('inbound');
    const ingest: IWidget[] = [
      new GraphWidget({
        title: 'Accepted per source',
        left: props.sources.map((source) => metrics.source('accepted', source, { label: source })),
        width: QUARTER,
        height: HEIGHT,
        period: PERIOD,
      }),
      ...props.sources.map(
        (source) =>
          new GraphWidget({
            title: `Rejected from ${source}, by reason`,
            left: [metrics.byReason('rejected', { source })],
            width: QUARTER,
            height: HEIGHT,
            period: PERIOD,
          }),
      ),
      new GraphWidget({
        title: 'Quarantined before any flow, per source',
        left: props.sources.map((source) => metrics.source('quarantined', source, { label: source })),
        width: QUARTER,
        height: HEIGHT,
        period: PERIOD,
      }),
      ...ingressWidgets(props.ingress),
      ...(props.polledSources ?? []).map(
        (source) =>
          new GraphWidget({
            title: `Polls of ${source}`,
            left: [
              metrics.source('polled', source, { label: 'successful polls' }),
              metrics.byReason('pollFailed', { source }),
            ],
            right: [metrics.sourceTiming('pollLag', source, 'Maximum', { label: 'newest row behind (ms)' })],
            width: QUARTER,
            height: HEIGHT,
            period: PERIOD,
          }),
      ),
    ];
    if (inbound) ingest.push(...queueWidgets(inbound));
    this.dashboard.addWidgets(heading('Ingest', 'webhooks in, to the inbound queue'));
    this.dashboard.addWidgets(...ingest);

    // One row per flow destination.
    for (const flow of props.flows) {
      const widgets: IWidget[] = [];
      for (const destination of flow.to) {
        const lane = { flow: flow.name, destination };
        const title = `${flow.name} → ${destination}`;
        widgets.push(
          new GraphWidget({
            title: `${title}: outcomes`,
            left: [
              metrics.lane('delivered', lane),
              metrics.byReason('skipped', lane),
              metrics.lane('quarantined', lane),
              metrics.lane('deadLettered', lane),
              metrics.lane('retried', lane),
            ],
            stacked: false,
            width: QUARTER,
            height: HEIGHT,
            period: PERIOD,
          }),
          new GraphWidget({
            title: `${title}: latency (ms)`,
            left: [
              metrics.laneTiming('endToEndLatency', lane, 'p50', { label: 'end to end p50' }),
              metrics.laneTiming('endToEndLatency', lane, 'p99', { label: 'end to end p99' }),
              metrics.laneTiming('destinationCallLatency', lane, 'p99', { label: `${destination} call p99` }),
            ],
            leftAnnotations: [{ value: props.latencyP99Seconds * 1000, label: 'p99 alarm' }],
            width: QUARTER,
            height: HEIGHT,
            period: PERIOD,
          }),
        );
        const queue = props.lanes.get(`deliver-${destination}`);
        if (queue) widgets.push(...queueWidgets(queue));
      }
      this.flowWidgets.set(flow.name, widgets);
      this.dashboard.addWidgets(
        heading(`Flow ${flow.name}`, `${flow.entity} from ${flow.from.join(', ')} to ${flow.to.join(', ')}`),
      );
      for (let i = 0; i < widgets.length; i += 4) this.dashboard.addWidgets(...widgets.slice(i, i + 4));
    }

    // Functions.
    const functions = [...props.functions];
    this.dashboard.addWidgets(heading('Functions', 'handler failures (not record retries) and duration'));
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Errors per function',
        left: functions.map(([key, fn]) => fn.metricErrors({ period: PERIOD, statistic: 'Sum', label: key })),
        width: 12,
        height: HEIGHT,
        period: PERIOD,
      }),
      new GraphWidget({
        title: 'Duration p99 per function (ms)',
        left: functions.map(([key, fn]) =>
          fn.metricDuration({ period: PERIOD, statistic: 'p99', label: key }),
        ),
        width: 12,
        height: HEIGHT,
        period: PERIOD,
      }),
    );
  }

  /** The console URL of the dashboard (region resolved at deploy). */
  get url(): string {
    const region = Stack.of(this).region;
    return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/${this.name}`;
  }
}

function heading(title: string, subtitle: string): TextWidget {
  return new TextWidget({ markdown: `## ${title}\n${subtitle}`, width: 24, height: 1 });
}

/** A queue's backlog and oldest message, and its DLQ's depth. */
function queueWidgets(lane: DeliveryLane): IWidget[] {
  const minute = { period: Duration.minutes(1), statistic: 'Maximum' };
  const backlog: IMetric[] = [
    lane.queue.metricApproximateNumberOfMessagesVisible({ ...minute, label: 'waiting' }),
    lane.queue.metricApproximateNumberOfMessagesNotVisible({ ...minute, label: 'in flight' }),
  ];
  return [
    new GraphWidget({
      title: `${lane.spec.name}: depth and oldest message (s)`,
      left: backlog,
      right: [lane.queue.metricApproximateAgeOfOldestMessage({ ...minute, label: 'oldest (s)' })],
      width: QUARTER,
      height: HEIGHT,
    }),
    new GraphWidget({
      title: `${lane.spec.deadLetter.name}: messages`,
      left: [
        lane.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ ...minute, label: 'dead letters' }),
      ],
      width: QUARTER,
      height: HEIGHT,
    }),
  ];
}

function ingressWidgets(ingress: HubDashboardProps['ingress']): GraphWidget[] {
  if (!ingress) return [];
  const sum = { period: PERIOD, statistic: 'Sum' };
  const left =
    'api' in ingress
      ? [
          ingress.api.metricCount({ ...sum, label: 'requests' }),
          ingress.api.metricClientError({ ...sum, label: '4xx' }),
          ingress.api.metricServerError({ ...sum, label: '5xx' }),
        ]
      : [
          ingress.fn.metricInvocations({ ...sum, label: 'requests' }),
          ingress.fn.metricThrottles({ ...sum, label: 'throttled (429)' }),
          ingress.fn.metricErrors({ ...sum, label: 'errors' }),
        ];
  return [
    new GraphWidget({
      title: 'api' in ingress ? 'Webhook API responses' : 'Webhook function URL requests',
      left,
      width: QUARTER,
      height: HEIGHT,
      period: PERIOD,
    }),
  ];
}
