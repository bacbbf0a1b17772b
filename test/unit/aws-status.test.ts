import {
  CloudFormationClient,
  type CloudFormationClientConfig,
  CloudFormationServiceException,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import {
  CloudWatchClient,
  type CloudWatchClientConfig,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SQSClient,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type AwsClients, AwsStatusError, readAwsStatus } from '../../local/aws-status.js';
import { buildInventory } from '../../local/commands/inventory.js';
import { formatAwsStatus } from '../../local/commands/status.js';
import { testConfig } from '../support/config.js';

const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const NOW = new Date('2026-05-01T12:00:00Z');

/** acme: Stripe and a Shopify store (webhooks) and a polled ledger, to a CRM and an ERP. */
const config = testConfig({
  sources: {
    stripe: { connector: 'stripe', secret: 'acme/stripe-webhook' },
    'shop-eu': { connector: 'shopify', secret: 'acme/shopify-webhook' },
    ledger: {
      connector: 'rest-poll',
      schedule: 'rate(5 minutes)',
      url: 'https://ledger.example.com/api/customers',
      secret: 'acme/ledger-api',
      auth: { type: 'bearer' },
      items: 'data',
      cursorField: 'updated_at',
      map: { entity: 'customer', id: 'id', version: 'updated_at', fields: { email: 'email' } },
    },
  },
  flows: [
    { name: 'customers', entity: 'customer', from: ['stripe', 'shop-eu', 'ledger'], to: ['crm', 'erp'] },
  ],
});

const API = 'https://abc123.execute-api.eu-west-1.amazonaws.com';
const DASHBOARD = 'https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=acme-hub';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:acme-AlarmsTopic';
const queueUrl = (name: string) => `https://sqs.eu-west-1.amazonaws.com/123456789012/${name}`;

/** Visible / in flight / oldest age per queue; a queue absent here does not exist. */
const QUEUES: Record<string, { visible: number; inFlight: number; age?: number }> = {
  'acme-inbound': { visible: 3, inFlight: 1, age: 42 },
  'acme-inbound-dlq': { visible: 0, inFlight: 0, age: 0 },
  'acme-deliver-crm.fifo': { visible: 120, inFlight: 10, age: 1800 },
  'acme-deliver-crm-dlq.fifo': { visible: 2, inFlight: 0, age: 86_000 },
  // The ERP queue reports no age data point in the window; its DLQ was deleted by hand.
  'acme-deliver-erp.fifo': { visible: 0, inFlight: 0 },
};

const alarm = (
  name: string,
  state: string,
  reason = 'Threshold Crossed: 1 datapoint [0.0 (01/05/26 11:49:00)] was not greater than the threshold (0.0).',
): MetricAlarm => ({
  AlarmName: name,
  StateValue: state as MetricAlarm['StateValue'],
  StateReason: reason,
  StateUpdatedTimestamp: new Date('2026-05-01T11:50:00Z'),
});

type ClientConfig = CloudFormationClientConfig;

function clients(overrides: Pick<ClientConfig, 'region' | 'credentials'> = {}): AwsClients {
  const settings = { region, credentials, ...overrides } as ClientConfig;
  return {
    cloudFormation: new CloudFormationClient(settings),
    sqs: new SQSClient(settings as SQSClientConfig),
    cloudWatch: new CloudWatchClient(settings as CloudWatchClientConfig),
  };
}

/** What the SDK's region resolution throws when neither --region, AWS_REGION nor a profile sets one. */
const noRegion = async (): Promise<string> => {
  throw new Error('Region is missing');
};

describe('readAwsStatus (the `status --aws` adapter over CloudFormation, SQS and CloudWatch)', () => {
  const aws = clients();
  const cfn = mockClient(aws.cloudFormation);
  const sqs = mockClient(aws.sqs);
  const cw = mockClient(aws.cloudWatch);

  // Every alarm the config implies, OK unless listed; one left out to be reported missing.
  const expected = (() => {
    const inventory = buildInventory(config);
    return [
      ...new Set([
        ...inventory.hubAlarms,
        ...inventory.sources.flatMap((s) => s.alarms),
        ...inventory.destinations.flatMap((d) => d.alarms),
      ]),
    ];
  })();
  const notOk: Record<string, [string, string]> = {
    'acme-deliver-crm-dlq.fifo-not-empty': [
      'ALARM',
      'Threshold Crossed: 1 datapoint [2.0 (01/05/26 11:49:00)] was greater than the threshold (0.0).',
    ],
    'acme-deliver-crm.fifo-oldest-message-age': ['ALARM', 'Threshold Crossed: 1 datapoint [1800.0] > 900.0'],
    'acme-source-ledger-poll-lag': ['INSUFFICIENT_DATA', 'Insufficient Data: 3 datapoints were unknown.'],
  };
  const missing = 'acme-source-shop-eu-volume-anomaly';
  const alarms = expected
    .filter((name) => name !== missing)
    .map((name) => alarm(name, notOk[name]?.[0] ?? 'OK', notOk[name]?.[1]));

  beforeEach(() => {
    cfn.reset();
    sqs.reset();
    cw.reset();
    // Any other stack name is unknown; the specific answer comes after the default, so it wins.
    cfn.on(DescribeStacksCommand).rejects(
      new CloudFormationServiceException({
        name: 'ValidationError',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'Stack with id nope does not exist',
      }),
    );
    cfn.on(DescribeStacksCommand, { StackName: 'acme' }).resolves({
      Stacks: [
        {
          StackName: 'acme',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date('2026-04-01T09:00:00Z'),
          LastUpdatedTime: new Date('2026-04-30T17:00:00Z'),
          Outputs: [
            { OutputKey: 'ApiUrl', OutputValue: API },
            { OutputKey: 'WebhookUrlStripe', OutputValue: `${API}/webhooks/stripe` },
            { OutputKey: 'WebhookUrlShopEu', OutputValue: `${API}/webhooks/shop-eu` },
            { OutputKey: 'DashboardUrl', OutputValue: DASHBOARD },
            { OutputKey: 'AlarmTopicArn', OutputValue: TOPIC },
          ],
        },
      ],
    });
    sqs.on(GetQueueUrlCommand).callsFake(({ QueueName }: { QueueName: string }) => {
      if (!QUEUES[QueueName])
        throw new QueueDoesNotExist({ $metadata: {}, message: 'The specified queue does not exist.' });
      return { QueueUrl: queueUrl(QueueName) };
    });
    sqs.on(GetQueueAttributesCommand).callsFake(({ QueueUrl }: { QueueUrl: string }) => {
      const queue = QUEUES[QueueUrl.split('/').pop() ?? ''];
      return {
        Attributes: {
          ApproximateNumberOfMessages: String(queue?.visible),
          ApproximateNumberOfMessagesNotVisible: String(queue?.inFlight),
          ApproximateNumberOfMessagesDelayed: '0',
        },
      };
    });
    cw.on(GetMetricDataCommand).callsFake(({ MetricDataQueries = [] }: GetMetricDataCommandInput) => ({
      MetricDataResults: MetricDataQueries.map((query) => {
        const name = query.MetricStat?.Metric?.Dimensions?.[0]?.Value ?? '';
        const age = QUEUES[name]?.age;
        // Newest first, as ScanBy TimestampDescending returns them.
        return { Id: query.Id, Values: age === undefined ? [] : [age, age - 60] };
      }),
    }));
    // Two pages, as CloudWatch returns more than 100 alarms.
    cw.on(DescribeAlarmsCommand, { NextToken: undefined }).resolves({
      MetricAlarms: alarms.slice(0, 10),
      NextToken: 'page-2',
    });
    cw.on(DescribeAlarmsCommand, { NextToken: 'page-2' }).resolves({ MetricAlarms: alarms.slice(10) });
  });

  const read = (stackName?: string, with_ = aws) =>
    readAwsStatus(with_, { config, now: () => NOW, ...(stackName ? { stackName } : {}) });

  it('parses the stack outputs: API, webhook URL per source, dashboard, alarm topic', async () => {
    const status = await read();
    expect(status.stack).toEqual({
      name: 'acme',
      status: 'UPDATE_COMPLETE',
      region,
      lastUpdated: '2026-04-30T17:00:00.000Z',
    });
    expect(status.outputs).toMatchObject({
      apiUrl: API,
      dashboardUrl: DASHBOARD,
      alarmTopicArn: TOPIC,
      webhookUrls: { stripe: `${API}/webhooks/stripe`, 'shop-eu': `${API}/webhooks/shop-eu` },
    });
    expect(status.sources.map((s) => [s.source, s.intake, s.where])).toEqual([
      ['stripe', 'webhook', `${API}/webhooks/stripe`],
      ['shop-eu', 'webhook', `${API}/webhooks/shop-eu`],
      ['ledger', 'poll', 'rate(5 minutes)'],
    ]);
    expect(cfn.commandCalls(DescribeStacksCommand)[0]?.args[0].input).toEqual({ StackName: 'acme' });
  });

  it('reads depth, in-flight and oldest-message age for every topology queue and its DLQ', async () => {
    const status = await read();
    expect(
      status.queues.map((q) => [
        q.name,
        q.exists,
        q.depth,
        q.inFlight,
        q.oldestMessageAgeSeconds,
        q.deadLetter.name,
        q.deadLetter.exists,
        q.deadLetter.depth,
        q.deadLetter.oldestMessageAgeSeconds,
      ]),
    ).toEqual([
      ['acme-inbound', true, 3, 1, 42, 'acme-inbound-dlq', true, 0, 0],
      ['acme-deliver-crm.fifo', true, 120, 10, 1800, 'acme-deliver-crm-dlq.fifo', true, 2, 86_000],
      ['acme-deliver-erp.fifo', true, 0, 0, null, 'acme-deliver-erp-dlq.fifo', false, null, null],
    ]);
    expect(sqs.commandCalls(GetQueueUrlCommand)).toHaveLength(6);
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(5);
    const [metrics] = cw.commandCalls(GetMetricDataCommand);
    expect(metrics?.args[0].input).toMatchObject({
      StartTime: new Date(NOW.getTime() - 15 * 60_000),
      EndTime: NOW,
      ScanBy: 'TimestampDescending',
    });
    expect(metrics?.args[0].input.MetricDataQueries?.[0]?.MetricStat).toEqual({
      Metric: {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: 'acme-inbound' }],
      },
      Period: 60,
      Stat: 'Maximum',
    });
    expect(status.lanes.map((l) => [l.flow, l.destination, l.depth, l.inFlight, l.deadLetterDepth])).toEqual([
      ['customers', 'crm', 120, 10, 2],
      ['customers', 'erp', 0, 0, null],
    ]);
  });

  it('groups alarm states across pages, per lane and per source, and names the missing ones', async () => {
    const status = await read();
    expect(cw.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input.AlarmNamePrefix)).toEqual([
      'acme-',
      'acme-',
    ]);
    expect(status.alarms.counts).toEqual({ ALARM: 2, INSUFFICIENT_DATA: 1, OK: alarms.length - 3 });
    expect(status.alarms.byState.ALARM).toEqual([
      'acme-deliver-crm-dlq.fifo-not-empty',
      'acme-deliver-crm.fifo-oldest-message-age',
    ]);
    expect(status.alarms.byState.INSUFFICIENT_DATA).toEqual(['acme-source-ledger-poll-lag']);
    expect(status.alarms.items.slice(0, 3).map((a) => a.state)).toEqual([
      'ALARM',
      'ALARM',
      'INSUFFICIENT_DATA',
    ]);
    expect(status.alarms.missing).toEqual([missing]);
    expect(status.lanes.map((l) => l.alarms)).toEqual([
      {
        state: 'ALARM',
        notOk: ['acme-deliver-crm-dlq.fifo-not-empty', 'acme-deliver-crm.fifo-oldest-message-age'],
      },
      { state: 'OK', notOk: [] },
    ]);
    expect(status.sources.map((s) => [s.source, s.alarms.state])).toEqual([
      ['stripe', 'OK'],
      ['shop-eu', 'OK'],
      ['ledger', 'INSUFFICIENT_DATA'],
    ]);
  });

  it('prints the lanes, sources, queues and alarms as tables', async () => {
    const text = formatAwsStatus(await read());
    expect(text).toMatch(/^Switchyard "acme" on AWS: stack acme \(UPDATE_COMPLETE\) in eu-west-1$/m);
    expect(text).toContain(`dashboard ${DASHBOARD}`);
    expect(text).toContain(`alarms: 2 in ALARM, 1 INSUFFICIENT_DATA, ${alarms.length - 3} OK`);
    expect(text).toMatch(
      /^customers -> crm\s+120\s+10\s+1800\s+2\s+ALARM: acme-deliver-crm-dlq\.fifo-not-empty, /m,
    );
    expect(text).toMatch(/^acme-deliver-erp\.fifo\s+0\s+0\s+-\s+-\s+-$/m);
    expect(text).toMatch(/^acme-source-ledger-poll-lag\s+INSUFFICIENT_DATA\s+Insufficient Data/m);
    expect(text).toContain('not found in SQS (expected from the config): acme-deliver-erp-dlq.fifo');
    expect(text).toContain(`not found in CloudWatch (expected from the config): ${missing}`);
  });

  it('uses --stack instead of the config name when given', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'acme-staging' }).resolves({
      Stacks: [{ StackName: 'acme-staging', StackStatus: 'CREATE_COMPLETE', CreationTime: NOW }],
    });
    const status = await read('acme-staging');
    expect(status.stack.name).toBe('acme-staging');
    expect(status.outputs.apiUrl).toBeNull();
  });

  it('an unknown stack: an error naming the stack and the region, problem "stack"', async () => {
    const error = await read('nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsStatusError);
    expect((error as AwsStatusError).problem).toBe('stack');
    expect((error as Error).message).toBe(
      'Stack "nope" not found in eu-west-1: deploy it (`npx cdk deploy`) or pass --stack and --region.',
    );
    expect(sqs.calls()).toHaveLength(0);
  });

  it('expired credentials: an error saying AWS rejected them', async () => {
    cfn.on(DescribeStacksCommand).rejects(
      new CloudFormationServiceException({
        name: 'ExpiredToken',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'The security token included in the request is expired',
      }),
    );
    await expect(read()).rejects.toMatchObject({
      problem: 'credentials',
      message: expect.stringMatching(
        /^AWS rejected the credentials while describing the stack \(ExpiredToken: /,
      ),
    });
  });

  it('any other AWS failure: one line naming the stack, the step and the AWS error', async () => {
    cw.on(DescribeAlarmsCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: cloudwatch:DescribeAlarms'), {
        name: 'AccessDenied',
      }),
    );
    const error = (await read().catch((e: unknown) => e)) as AwsStatusError;
    expect(error.problem).toBe('aws');
    expect(error.message).toBe(
      'Reading stack "acme" in eu-west-1 failed while reading queues and alarms: AccessDenied: User is not authorized to perform: cloudwatch:DescribeAlarms',
    );
  });
});

describe('readAwsStatus without credentials or region', () => {
  // What the default provider chain throws when no provider has credentials.
  const noCredentials = async () => {
    throw Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
  };

  it('missing credentials: an error saying so, before any AWS call', async () => {
    const aws = clients({ credentials: noCredentials });
    const cfn = mockClient(aws.cloudFormation);
    const error = (await readAwsStatus(aws, { config }).catch((e: unknown) => e)) as AwsStatusError;
    expect(error).toBeInstanceOf(AwsStatusError);
    expect(error.problem).toBe('credentials');
    expect(error.message).toMatch(
      /^No AWS credentials found \(Could not load credentials from any providers\)/,
    );
    expect(error.message).not.toContain('\n');
    expect(cfn.calls()).toHaveLength(0);
  });

  it('missing credentials and region: one error naming both', async () => {
    const aws = clients({ region: noRegion, credentials: noCredentials });
    await expect(readAwsStatus(aws, { config })).rejects.toMatchObject({
      problem: 'credentials',
      message: expect.stringMatching(/^No AWS credentials found and no AWS region set: .* pass --region/),
    });
  });

  it('credentials but no region: an error asking for --region', async () => {
    const aws = clients({ region: noRegion });
    await expect(readAwsStatus(aws, { config })).rejects.toMatchObject({
      problem: 'region',
      message: 'No AWS region set: pass --region or set AWS_REGION.',
    });
  });
});
