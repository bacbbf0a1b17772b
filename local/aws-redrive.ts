import {
  type CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  ResourceAlreadyExistsException,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import type { SwitchyardConfig } from '../functions/core/config.js';
import type { AuditEntry } from '../functions/core/ports.js';
import { deriveTopology } from '../functions/core/topology.js';
import { queueKeyFor } from './commands/redrive.js';

/**
 * `switchyard redrive <queue|destination> --aws`: SQS moves the DLQ's messages back itself
 * (StartMessageMoveTask), and ListMessageMoveTasks reports its progress. SQS has no count limit
 * for a move, only a rate (MaxNumberOfMessagesPerSecond): so `--limit N` is refused with --aws, and
 * `--rate N` caps the messages per second instead. Who started it, what and when is written to the
 * hub's operator audit log group (`<hub>-operator-audit`, made by the stack), in the
 * same `audit` line format the functions use.
 */

export class AwsRedriveError extends Error {
  override readonly name = 'AwsRedriveError';
}

export interface AwsRedriveOptions {
  readonly config: SwitchyardConfig;
  /** The deployed hub's name (`<name>` or `<name>-<stage>`): queue names derive from it. */
  readonly stackName?: string;
  readonly target: string;
  /** MaxNumberOfMessagesPerSecond; SQS picks (up to 500/s) when absent. */
  readonly ratePerSecond?: number;
  readonly by: string;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly pollIntervalMs?: number;
  /** Give up watching (the task goes on in SQS) after this long. */
  readonly timeoutMs?: number;
  readonly onProgress?: (moved: number, toMove: number) => void;
  /** Where the who/what/when record goes (default: nowhere; the CLI writes it to CloudWatch Logs). */
  readonly recordAudit?: (entry: AuditEntry) => Promise<void>;
}

export interface AwsRedriveResult {
  readonly queue: string;
  readonly deadLetter: string;
  readonly taskHandle: string;
  /** RUNNING when the watch timed out; COMPLETED, FAILED or CANCELLED otherwise. */
  readonly status: string;
  readonly moved: number;
  readonly toMove: number;
  readonly by: string;
  readonly at: string;
  readonly failureReason?: string;
}

const DONE = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'CANCELLING']);

async function queueArn(sqs: SQSClient, name: string): Promise<{ url: string; arn: string; depth: number }> {
  let url: string | undefined;
  try {
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (error) {
    throw new AwsRedriveError(`No queue "${name}" in SQS: is the stack deployed in this region?`, {
      cause: error,
    });
  }
  if (!url) throw new AwsRedriveError(`SQS returned no URL for "${name}"`);
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages'],
    }),
  );
  if (!Attributes.QueueArn) throw new AwsRedriveError(`SQS returned no ARN for "${name}"`);
  return { url, arn: Attributes.QueueArn, depth: Number(Attributes.ApproximateNumberOfMessages ?? 0) };
}

export async function redriveAws(sqs: SQSClient, options: AwsRedriveOptions): Promise<AwsRedriveResult> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  if (
    options.ratePerSecond !== undefined &&
    !(Number.isInteger(options.ratePerSecond) && options.ratePerSecond >= 1 && options.ratePerSecond <= 500)
  )
    throw new AwsRedriveError(`--rate takes messages per second, 1 to 500 (got ${options.ratePerSecond})`);
  const topology = deriveTopology({ ...options.config, name: options.stackName ?? options.config.name });
  const spec = queueKeyFor(
    {
      queues: topology.queues.map((q) => ({
        key: q.key,
        name: q.name,
        deadLetter: q.deadLetter.name,
        fifo: q.fifo,
        ...(q.destination ? { destination: q.destination } : {}),
      })),
    },
    options.target,
  );
  const source = await queueArn(sqs, spec.deadLetter);
  const destination = await queueArn(sqs, spec.name);
  const started = await sqs.send(
    new StartMessageMoveTaskCommand({
      SourceArn: source.arn,
      DestinationArn: destination.arn,
      ...(options.ratePerSecond !== undefined ? { MaxNumberOfMessagesPerSecond: options.ratePerSecond } : {}),
    }),
  );
  const taskHandle = started.TaskHandle ?? '';
  const at = new Date(now()).toISOString();
  let status = 'RUNNING';
  let moved = 0;
  let toMove = source.depth;
  let failureReason: string | undefined;
  const deadline = now() + (options.timeoutMs ?? 15 * 60_000);
  for (;;) {
    const { Results = [] } = await sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: source.arn, MaxResults: 10 }),
    );
    const task = Results.find((r) => r.TaskHandle === taskHandle) ?? Results[0];
    if (task) {
      status = task.Status ?? status;
      moved = task.ApproximateNumberOfMessagesMoved ?? moved;
      toMove = task.ApproximateNumberOfMessagesToMove ?? toMove;
      failureReason = task.FailureReason;
    }
    options.onProgress?.(moved, toMove);
    if (DONE.has(status) || now() >= deadline) break;
    await sleep(options.pollIntervalMs ?? 2000);
  }
  const result: AwsRedriveResult = {
    queue: spec.name,
    deadLetter: spec.deadLetter,
    taskHandle,
    status,
    moved,
    toMove,
    by: options.by,
    at,
    ...(failureReason ? { failureReason } : {}),
  };
  // One entry for the task: SQS does not say which messages it moved, so it is not per event.
  await options.recordAudit?.({
    eventId: `redrive:${taskHandle}`,
    at: Date.parse(at),
    stage: 'redrive',
    outcome: 'redriven',
    ...(spec.destination ? { destination: spec.destination } : {}),
    reason: `${status}: ${moved} of ${toMove} message(s) from ${spec.deadLetter} to ${spec.name}${failureReason ? ` (${failureReason})` : ''}`,
    by: options.by,
  });
  return result;
}

/** The stack's operator audit log group, for a hub name: what lib/switchyard-stack.ts creates. */
export const operatorAuditLogGroup = (hub: string) => `${hub}-operator-audit`;

/** Writes one audit line (the functions' format) to the operator audit log group. */
export function cloudWatchAuditWriter(logs: CloudWatchLogsClient, hub: string) {
  const logGroupName = operatorAuditLogGroup(hub);
  const logStreamName = 'switchyard-cli';
  return async (entry: AuditEntry): Promise<void> => {
    try {
      await logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
    } catch (error) {
      if (!(error instanceof ResourceAlreadyExistsException)) throw error;
    }
    await logs.send(
      new PutLogEventsCommand({
        logGroupName,
        logStreamName,
        logEvents: [
          {
            timestamp: entry.at,
            message: JSON.stringify({
              level: 'INFO',
              message: 'audit',
              timestamp: new Date(entry.at).toISOString(),
              audit: { ...entry, at: new Date(entry.at).toISOString() },
            }),
          },
        ],
      }),
    );
  };
}
