import { type CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import {
  type CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SwitchyardConfig } from '../functions/core/config.js';
import { deriveTopology, type QueueSpec, type Topology } from '../functions/core/topology.js';
import { buildInventory } from './commands/inventory.js';

/**
 * `switchyard status --aws`: the same view as the local status, read from a deployed stack. The stack
 * is found by name through CloudFormation (its outputs), the queues by the names the topology gives
 * them (SQS), the alarms by the hub's name prefix (CloudWatch). Queue age is not a queue attribute:
 * it comes from the `ApproximateAgeOfOldestMessage` metric, the one the age alarms watch.
 *
 * The clients are parameters, so the tests hand in mocked ones.
 */

export interface AwsClients {
  readonly cloudFormation: CloudFormationClient;
  readonly sqs: SQSClient;
  readonly cloudWatch: CloudWatchClient;
}

export type AlarmState = 'ALARM' | 'INSUFFICIENT_DATA' | 'OK';

/** What went wrong, for the one-line error and for tests. */
export type AwsStatusProblem = 'credentials' | 'region' | 'stack' | 'aws';

export class AwsStatusError extends Error {
  override readonly name = 'AwsStatusError';
  constructor(
    readonly problem: AwsStatusProblem,
    message: string,
  ) {
    super(message);
  }
}

/** One lane's alarms in a line: the worst state among them and which are not OK. */
export interface AlarmSummary {
  /** Worst state among the alarms found; null when none of them exist in CloudWatch. */
  readonly state: AlarmState | null;
  readonly notOk: readonly string[];
}

/** What `switchyard status --aws --json` prints: one object, stable field names. */
export interface AwsHubStatus {
  readonly target: 'aws';
  readonly hub: string;
  readonly stack: {
    readonly name: string;
    readonly status: string;
    readonly region: string;
    readonly lastUpdated: string | null;
  };
  readonly outputs: {
    readonly apiUrl: string | null;
    readonly dashboardUrl: string | null;
    readonly alarmTopicArn: string | null;
    /** By source name (from the `WebhookUrl<Source>` outputs). */
    readonly webhookUrls: Readonly<Record<string, string>>;
    /** Every output as CloudFormation lists it. */
    readonly all: Readonly<Record<string, string>>;
  };
  readonly lanes: readonly {
    readonly flow: string;
    readonly destination: string;
    readonly queue: string;
    readonly depth: number | null;
    readonly inFlight: number | null;
    readonly oldestMessageAgeSeconds: number | null;
    readonly deadLetterDepth: number | null;
    readonly alarms: AlarmSummary;
  }[];
  readonly sources: readonly {
    readonly source: string;
    readonly intake: 'webhook' | 'poll';
    /** The webhook URL from the stack outputs, or the poll schedule. */
    readonly where: string | null;
    readonly alarms: AlarmSummary;
  }[];
  readonly queues: readonly QueueStatus[];
  readonly alarms: {
    readonly counts: Readonly<Record<AlarmState, number>>;
    readonly byState: Readonly<Record<AlarmState, readonly string[]>>;
    /** Sorted: ALARM first, then INSUFFICIENT_DATA, then OK; by name within a state. */
    readonly items: readonly {
      readonly name: string;
      readonly state: AlarmState;
      readonly reason: string;
      readonly updatedAt: string | null;
    }[];
    /** Alarms the config implies (see `switchyard inventory`) that CloudWatch does not have. */
    readonly missing: readonly string[];
  };
}

export interface QueueDepth {
  readonly name: string;
  /** False when SQS has no queue by this name (not deployed, or deleted). */
  readonly exists: boolean;
  /** ApproximateNumberOfMessages: waiting to be received. */
  readonly depth: number | null;
  /** ApproximateNumberOfMessagesNotVisible: received, not yet deleted. */
  readonly inFlight: number | null;
  /** ApproximateNumberOfMessagesDelayed. */
  readonly delayed: number | null;
  /** Latest ApproximateAgeOfOldestMessage (Maximum, 1 minute) in the last 15 minutes, if any. */
  readonly oldestMessageAgeSeconds: number | null;
}

export interface QueueStatus extends QueueDepth {
  readonly key: string;
  readonly deadLetter: QueueDepth;
}

export interface ReadAwsStatusOptions {
  readonly config: SwitchyardConfig;
  /** Default: the config's name (the stack name `cdk deploy` uses). */
  readonly stackName?: string;
  readonly topology?: Topology;
  readonly now?: () => Date;
}

const STATES: readonly AlarmState[] = ['ALARM', 'INSUFFICIENT_DATA', 'OK'];
const AGE_WINDOW_MS = 15 * 60 * 1000;

const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'TokenProviderError',
]);

/** `WebhookUrlShopifyPlus` <- `shopify-plus`: the same transformation lib/constructs/ids.ts applies. */
function pascal(key: string): string {
  return key
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

const errorName = (error: unknown): string => (error instanceof Error ? error.name : 'Error');
const errorMessage = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();

/** Region and credentials, resolved before any call, so their absence gets its own message. */
async function checkAccess(client: CloudFormationClient): Promise<string> {
  let region: string | undefined;
  try {
    region = await client.config.region();
  } catch {
    region = undefined;
  }
  let credentialsError: unknown;
  try {
    await client.config.credentials();
  } catch (error) {
    credentialsError = error;
  }
  const how =
    'set AWS_PROFILE (after `aws sso login` or `aws configure`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
  if (credentialsError !== undefined && !region)
    throw new AwsStatusError(
      'credentials',
      `No AWS credentials found and no AWS region set: ${how}, and pass --region or set AWS_REGION.`,
    );
  if (credentialsError !== undefined)
    throw new AwsStatusError(
      'credentials',
      `No AWS credentials found (${errorMessage(credentialsError)}): ${how}.`,
    );
  if (!region) throw new AwsStatusError('region', 'No AWS region set: pass --region or set AWS_REGION.');
  return region;
}

/** Turns an SDK error into a one-line AwsStatusError. */
function explain(error: unknown, doing: string, stackName: string, region: string): AwsStatusError {
  if (error instanceof AwsStatusError) return error;
  const name = errorName(error);
  const message = errorMessage(error);
  if (CREDENTIAL_ERRORS.has(name))
    return new AwsStatusError(
      'credentials',
      `AWS rejected the credentials while ${doing} (${name}: ${message}); refresh them (e.g. \`aws sso login\`).`,
    );
  if (name === 'ValidationError' && /does not exist/i.test(message))
    return new AwsStatusError(
      'stack',
      `Stack "${stackName}" not found in ${region}: deploy it (\`npx cdk deploy\`) or pass --stack and --region.`,
    );
  return new AwsStatusError(
    'aws',
    `Reading stack "${stackName}" in ${region} failed while ${doing}: ${name}: ${message}`,
  );
}

async function describeStack(client: CloudFormationClient, stackName: string): Promise<Stack> {
  const answer = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  const stack = answer.Stacks?.[0];
  if (!stack)
    throw Object.assign(new Error(`Stack with id ${stackName} does not exist`), { name: 'ValidationError' });
  return stack;
}

function parseOutputs(stack: Stack, sources: readonly string[]): AwsHubStatus['outputs'] {
  const all: Record<string, string> = {};
  for (const output of stack.Outputs ?? []) {
    if (output.OutputKey && output.OutputValue !== undefined) all[output.OutputKey] = output.OutputValue;
  }
  const webhookUrls: Record<string, string> = {};
  const byPascal = new Map(sources.map((source) => [pascal(source), source]));
  for (const [key, value] of Object.entries(all)) {
    const match = /^WebhookUrl(.+)$/.exec(key);
    if (match?.[1]) webhookUrls[byPascal.get(match[1]) ?? match[1]] = value;
  }
  return {
    apiUrl: all.ApiUrl ?? null,
    dashboardUrl: all.DashboardUrl ?? null,
    alarmTopicArn: all.AlarmTopicArn ?? null,
    webhookUrls,
    all,
  };
}

const count = (value: string | undefined): number | null => {
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
};

async function queueDepth(
  client: SQSClient,
  name: string,
): Promise<Omit<QueueDepth, 'oldestMessageAgeSeconds'>> {
  let url: string | undefined;
  try {
    url = (await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (error) {
    if (errorName(error) === 'QueueDoesNotExist' || errorName(error).endsWith('NonExistentQueue'))
      return { name, exists: false, depth: null, inFlight: null, delayed: null };
    throw error;
  }
  if (!url) return { name, exists: false, depth: null, inFlight: null, delayed: null };
  const { Attributes: attributes = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    name,
    exists: true,
    depth: count(attributes.ApproximateNumberOfMessages),
    inFlight: count(attributes.ApproximateNumberOfMessagesNotVisible),
    delayed: count(attributes.ApproximateNumberOfMessagesDelayed),
  };
}

/** The latest ApproximateAgeOfOldestMessage of each queue, in one GetMetricData call (per 500). */
async function oldestMessageAges(
  client: CloudWatchClient,
  names: readonly string[],
  now: Date,
): Promise<Map<string, number>> {
  const ages = new Map<string, number>();
  for (let start = 0; start < names.length; start += 500) {
    const batch = names.slice(start, start + 500);
    const queries: MetricDataQuery[] = batch.map((name, i) => ({
      Id: `q${i}`,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [{ Name: 'QueueName', Value: name }],
        },
        Period: 60,
        Stat: 'Maximum',
      },
      ReturnData: true,
    }));
    let nextToken: string | undefined;
    do {
      const answer = await client.send(
        new GetMetricDataCommand({
          MetricDataQueries: queries,
          StartTime: new Date(now.getTime() - AGE_WINDOW_MS),
          EndTime: now,
          ScanBy: 'TimestampDescending',
          NextToken: nextToken,
        }),
      );
      for (const result of answer.MetricDataResults ?? []) {
        const name = batch[Number(result.Id?.slice(1))];
        const latest = result.Values?.[0];
        if (name !== undefined && latest !== undefined && !ages.has(name)) ages.set(name, latest);
      }
      nextToken = answer.NextToken;
    } while (nextToken);
  }
  return ages;
}

interface AlarmItem {
  readonly name: string;
  readonly state: AlarmState;
  readonly reason: string;
  readonly updatedAt: string | null;
}

const asState = (value: string | undefined): AlarmState =>
  value === 'ALARM' || value === 'OK' ? value : 'INSUFFICIENT_DATA';

async function describeAlarms(client: CloudWatchClient, prefix: string): Promise<AlarmItem[]> {
  const items: AlarmItem[] = [];
  let nextToken: string | undefined;
  do {
    const answer = await client.send(
      new DescribeAlarmsCommand({
        AlarmNamePrefix: prefix,
        AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
        MaxRecords: 100,
        NextToken: nextToken,
      }),
    );
    for (const alarm of [...(answer.MetricAlarms ?? []), ...(answer.CompositeAlarms ?? [])]) {
      if (!alarm.AlarmName) continue;
      items.push({
        name: alarm.AlarmName,
        state: asState(alarm.StateValue),
        reason: (alarm.StateReason ?? '').replace(/\s+/g, ' ').trim(),
        updatedAt: alarm.StateUpdatedTimestamp?.toISOString() ?? null,
      });
    }
    nextToken = answer.NextToken;
  } while (nextToken);
  return items.sort(
    (a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state) || a.name.localeCompare(b.name),
  );
}

function summarize(names: readonly string[], alarms: ReadonlyMap<string, AlarmItem>): AlarmSummary {
  const found = names.flatMap((name) => {
    const alarm = alarms.get(name);
    return alarm ? [alarm] : [];
  });
  if (found.length === 0) return { state: null, notOk: [] };
  const worst = STATES.find((state) => found.some((alarm) => alarm.state === state)) ?? 'OK';
  return { state: worst, notOk: found.filter((alarm) => alarm.state !== 'OK').map((alarm) => alarm.name) };
}

const queueAlarmNames = (queue: QueueSpec | undefined): string[] =>
  queue ? [`${queue.deadLetter.name}-not-empty`, `${queue.name}-oldest-message-age`] : [];

/** Reads a deployed hub: stack outputs, queue depths and ages, alarm states. Throws AwsStatusError. */
export async function readAwsStatus(
  clients: AwsClients,
  options: ReadAwsStatusOptions,
): Promise<AwsHubStatus> {
  const { config } = options;
  const topology = options.topology ?? deriveTopology(config);
  const hub = topology.name;
  const stackName = options.stackName ?? config.name;
  const now = options.now?.() ?? new Date();
  const region = await checkAccess(clients.cloudFormation);

  let stack: Stack;
  try {
    stack = await describeStack(clients.cloudFormation, stackName);
  } catch (error) {
    throw explain(error, 'describing the stack', stackName, region);
  }

  const queueNames = topology.queues.flatMap((queue) => [queue.name, queue.deadLetter.name]);
  let depths: Omit<QueueDepth, 'oldestMessageAgeSeconds'>[];
  let ages: Map<string, number>;
  let alarmItems: AlarmItem[];
  try {
    [depths, ages, alarmItems] = await Promise.all([
      Promise.all(queueNames.map((name) => queueDepth(clients.sqs, name))),
      oldestMessageAges(clients.cloudWatch, queueNames, now),
      // The dash keeps another hub whose name merely starts with this one out.
      describeAlarms(clients.cloudWatch, `${hub}-`),
    ]);
  } catch (error) {
    throw explain(error, 'reading queues and alarms', stackName, region);
  }
  const depthOf = (name: string): QueueDepth => {
    const depth = depths.find((d) => d.name === name) ?? {
      name,
      exists: false,
      depth: null,
      inFlight: null,
      delayed: null,
    };
    return { ...depth, oldestMessageAgeSeconds: depth.exists ? (ages.get(name) ?? null) : null };
  };
  const queues: QueueStatus[] = topology.queues.map((queue) => ({
    key: queue.key,
    ...depthOf(queue.name),
    deadLetter: depthOf(queue.deadLetter.name),
  }));

  const alarmsByName = new Map(alarmItems.map((alarm) => [alarm.name, alarm]));
  const lanes = config.flows.flatMap((flow) =>
    flow.to.map((destination) => {
      const spec = topology.queues.find((queue) => queue.destination === destination);
      const queue = queues.find((q) => q.key === spec?.key);
      return {
        flow: flow.name,
        destination,
        queue: spec?.name ?? '-',
        depth: queue?.depth ?? null,
        inFlight: queue?.inFlight ?? null,
        oldestMessageAgeSeconds: queue?.oldestMessageAgeSeconds ?? null,
        deadLetterDepth: queue?.deadLetter.depth ?? null,
        alarms: summarize(
          [
            ...queueAlarmNames(spec),
            ...(spec ? [`${hub}-${spec.consumer}-error-rate`] : []),
            `${hub}-${flow.name}-${destination}-latency-p99`,
            `${hub}-${flow.name}-${destination}-quarantine-rate`,
          ],
          alarmsByName,
        ),
      };
    }),
  );

  const outputs = parseOutputs(stack, Object.keys(config.sources));
  const sources = Object.keys(config.sources).map((source) => {
    const schedule = topology.schedules.find((s) => s.source === source);
    return {
      source,
      intake: schedule ? ('poll' as const) : ('webhook' as const),
      where: schedule ? schedule.expression : (outputs.webhookUrls[source] ?? null),
      alarms: summarize(
        [
          `${hub}-source-${source}-quarantine-rate`,
          `${hub}-source-${source}-volume-anomaly`,
          ...(schedule ? [`${hub}-source-${source}-poll-lag`] : []),
        ],
        alarmsByName,
      ),
    };
  });

  const inventory = buildInventory(config, topology);
  const expected = new Set([
    ...inventory.hubAlarms,
    ...inventory.sources.flatMap((s) => s.alarms),
    ...inventory.destinations.flatMap((d) => d.alarms),
  ]);
  const byState = Object.fromEntries(
    STATES.map((state) => [state, alarmItems.filter((a) => a.state === state).map((a) => a.name)]),
  ) as Record<AlarmState, string[]>;

  return {
    target: 'aws',
    hub,
    stack: {
      name: stack.StackName ?? stackName,
      status: stack.StackStatus ?? 'UNKNOWN',
      region,
      lastUpdated: (stack.LastUpdatedTime ?? stack.CreationTime)?.toISOString() ?? null,
    },
    outputs,
    lanes,
    sources,
    queues,
    alarms: {
      counts: {
        ALARM: byState.ALARM.length,
        INSUFFICIENT_DATA: byState.INSUFFICIENT_DATA.length,
        OK: byState.OK.length,
      },
      byState,
      items: alarmItems,
      missing: [...expected].filter((name) => !alarmsByName.has(name)).sort(),
    },
  };
}
