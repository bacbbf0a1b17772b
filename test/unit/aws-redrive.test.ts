import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  ResourceAlreadyExistsException,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  QueueDoesNotExist,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../functions/core/ports.js';
import { AwsRedriveError, cloudWatchAuditWriter, redriveAws } from '../../local/aws-redrive.js';
import { testConfig } from '../support/config.js';

const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const NOW = Date.UTC(2026, 4, 1, 12, 0, 0);
const arn = (name: string) => `arn:aws:sqs:${region}:123456789012:${name}`;
const url = (name: string) => `https://sqs.${region}.amazonaws.com/123456789012/${name}`;

/** The SQS adapter of `redrive --aws`: queue resolution, the move task, its progress and the record. */
describe('redrive --aws (StartMessageMoveTask)', () => {
  const sqsMock = mockClient(SQSClient);
  const sqs = new SQSClient({ region, credentials });
  const config = testConfig();

  beforeEach(() => {
    sqsMock.reset();
    sqsMock
      .on(GetQueueUrlCommand)
      .callsFake((input: { QueueName: string }) => ({ QueueUrl: url(input.QueueName) }));
    sqsMock.on(GetQueueAttributesCommand).callsFake((input: { QueueUrl: string }) => {
      const name = input.QueueUrl.split('/').at(-1) ?? '';
      return {
        Attributes: { QueueArn: arn(name), ApproximateNumberOfMessages: name.includes('dlq') ? '3' : '0' },
      };
    });
    sqsMock.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'task-1' });
  });

  it('moves a destination’s DLQ back to its queue, follows the progress, and records who, what and when', async () => {
    sqsMock
      .on(ListMessageMoveTasksCommand)
      .resolvesOnce({
        Results: [
          {
            TaskHandle: 'task-1',
            Status: 'RUNNING',
            ApproximateNumberOfMessagesMoved: 1,
            ApproximateNumberOfMessagesToMove: 3,
          },
        ],
      })
      .resolves({
        Results: [
          {
            TaskHandle: 'task-1',
            Status: 'COMPLETED',
            ApproximateNumberOfMessagesMoved: 3,
            ApproximateNumberOfMessagesToMove: 3,
          },
        ],
      });
    const progress: [number, number][] = [];
    const recorded: AuditEntry[] = [];
    const result = await redriveAws(sqs, {
      config,
      target: 'crm',
      by: 'alice',
      ratePerSecond: 10,
      now: () => NOW,
      sleep: async () => {},
      onProgress: (moved, toMove) => progress.push([moved, toMove]),
      recordAudit: async (e) => {
        recorded.push(e);
      },
    });
    const start = sqsMock.commandCalls(StartMessageMoveTaskCommand);
    expect(start).toHaveLength(1);
    const queue = 'acme-deliver-crm';
    expect(start[0]?.args[0].input).toEqual({
      SourceArn: arn(`${queue}-dlq.fifo`),
      DestinationArn: arn(`${queue}.fifo`),
      MaxNumberOfMessagesPerSecond: 10,
    });
    expect(sqsMock.commandCalls(ListMessageMoveTasksCommand)[0]?.args[0].input).toEqual({
      SourceArn: arn(`${queue}-dlq.fifo`),
      MaxResults: 10,
    });
    expect(progress).toEqual([
      [1, 3],
      [3, 3],
    ]);
    expect(result).toEqual({
      queue: `${queue}.fifo`,
      deadLetter: `${queue}-dlq.fifo`,
      taskHandle: 'task-1',
      status: 'COMPLETED',
      moved: 3,
      toMove: 3,
      by: 'alice',
      at: new Date(NOW).toISOString(),
    });
    expect(recorded).toEqual([
      {
        eventId: 'redrive:task-1',
        at: NOW,
        stage: 'redrive',
        outcome: 'redriven',
        destination: 'crm',
        reason: `COMPLETED: 3 of 3 message(s) from ${queue}-dlq.fifo to ${queue}.fifo`,
        by: 'alice',
      },
    ]);
  });

  it('leaves the rate to SQS when none is given, and reports a failed task with its reason', async () => {
    sqsMock.on(ListMessageMoveTasksCommand).resolves({
      Results: [
        {
          TaskHandle: 'task-1',
          Status: 'FAILED',
          ApproximateNumberOfMessagesMoved: 1,
          FailureReason: 'AccessDenied',
        },
      ],
    });
    const result = await redriveAws(sqs, { config, target: 'inbound', by: 'bob', sleep: async () => {} });
    expect(sqsMock.commandCalls(StartMessageMoveTaskCommand)[0]?.args[0].input).toEqual({
      SourceArn: arn('acme-inbound-dlq'),
      DestinationArn: arn('acme-inbound'),
    });
    expect(result).toMatchObject({ status: 'FAILED', moved: 1, toMove: 3, failureReason: 'AccessDenied' });
  });

  it('names a missing queue, an unknown target and a bad rate, and starts nothing', async () => {
    await expect(redriveAws(sqs, { config, target: 'nowhere', by: 'x' })).rejects.toThrow(
      'No queue or destination "nowhere"',
    );
    await expect(redriveAws(sqs, { config, target: 'crm', by: 'x', ratePerSecond: 501 })).rejects.toThrow(
      AwsRedriveError,
    );
    sqsMock.on(GetQueueUrlCommand).rejects(new QueueDoesNotExist({ message: 'no', $metadata: {} }));
    await expect(redriveAws(sqs, { config, target: 'crm', by: 'x', stackName: 'acme-prod' })).rejects.toThrow(
      'No queue "acme-prod-deliver-crm-dlq.fifo" in SQS',
    );
    expect(sqsMock.commandCalls(StartMessageMoveTaskCommand)).toHaveLength(0);
  });
});

describe('the operator audit log writer', () => {
  const logsMock = mockClient(CloudWatchLogsClient);
  beforeEach(() => logsMock.reset());

  it('writes one `audit` line to <hub>-operator-audit, creating the stream once', async () => {
    logsMock
      .on(CreateLogStreamCommand)
      .rejects(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {} }));
    logsMock.on(PutLogEventsCommand).resolves({});
    const write = cloudWatchAuditWriter(new CloudWatchLogsClient({ region, credentials }), 'acme');
    await write({ eventId: 'redrive:t', at: NOW, stage: 'redrive', outcome: 'redriven', by: 'alice' });
    const put = logsMock.commandCalls(PutLogEventsCommand)[0]?.args[0].input;
    expect(put?.logGroupName).toBe('acme-operator-audit');
    expect(put?.logStreamName).toBe('switchyard-cli');
    expect(put?.logEvents?.[0]?.timestamp).toBe(NOW);
    expect(JSON.parse(put?.logEvents?.[0]?.message ?? '{}')).toMatchObject({
      message: 'audit',
      audit: { eventId: 'redrive:t', outcome: 'redriven', by: 'alice', at: new Date(NOW).toISOString() },
    });
  });
});
