import { type CloudFormationClient, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import {
  type CloudWatchLogsClient,
  GetQueryResultsCommand,
  StartQueryCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import type { AuditEntry } from '../functions/core/ports.js';

/**
 * `switchyard trace <id> --aws`: the audit lines (`"message":"audit"`, written by LogAuditTrail)
 * of a deployed stack, found with one Logs Insights query over the stack's log groups (every
 * function's, and the operator audit group). The id matches an event id, a canonical id, or a
 * `system:externalId`. The search reaches back `days` (default: the audit retention, 30).
 */

export class AwsTraceError extends Error {
  override readonly name = 'AwsTraceError';
}

export interface AwsTraceOptions {
  readonly stackName: string;
  readonly id: string;
  readonly days?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly timeoutMs?: number;
}

const FIELDS = [
  'eventId',
  'at',
  'stage',
  'outcome',
  'source',
  'flow',
  'destination',
  'entity',
  'id',
  'sourceId',
  'version',
  'reason',
  'by',
] as const;

/** Ids travel in headers and keys: printable ASCII without quotes or backslashes is all they need. */
const SAFE_ID = /^[\x21\x23-\x5b\x5d-\x7e]{1,512}$/;

export function auditQuery(id: string): string {
  if (!SAFE_ID.test(id))
    throw new AwsTraceError('The id must be printable ASCII without spaces, quotes or backslashes');
  return [
    `fields ${FIELDS.map((f) => `audit.${f}`).join(', ')}`,
    `| filter message = "audit" and (audit.eventId = "${id}" or audit.id = "${id}" or concat(audit.source, ":", audit.sourceId) = "${id}")`,
    '| sort audit.at asc',
    '| limit 10000',
  ].join('\n');
}

export async function stackLogGroups(
  cloudFormation: CloudFormationClient,
  stackName: string,
): Promise<string[]> {
  const names: string[] = [];
  let next: string | undefined;
  do {
    const page = await cloudFormation.send(
      new ListStackResourcesCommand({ StackName: stackName, NextToken: next }),
    );
    for (const resource of page.StackResourceSummaries ?? [])
      if (resource.ResourceType === 'AWS::Logs::LogGroup' && resource.PhysicalResourceId)
        names.push(resource.PhysicalResourceId);
    next = page.NextToken;
  } while (next);
  return names;
}

export async function traceAws(
  clients: { readonly cloudFormation: CloudFormationClient; readonly logs: CloudWatchLogsClient },
  options: AwsTraceOptions,
): Promise<AuditEntry[]> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const queryString = auditQuery(options.id);
  const logGroupNames = await stackLogGroups(clients.cloudFormation, options.stackName);
  if (logGroupNames.length === 0) throw new AwsTraceError(`Stack "${options.stackName}" has no log groups`);
  const end = Math.ceil(now() / 1000);
  const { queryId } = await clients.logs.send(
    new StartQueryCommand({
      // Logs Insights takes at most 50 log groups per query; a hub has far fewer functions.
      logGroupNames: logGroupNames.slice(0, 50),
      startTime: end - (options.days ?? 30) * 86_400,
      endTime: end,
      queryString,
    }),
  );
  if (!queryId) throw new AwsTraceError('Logs Insights returned no query id');
  const deadline = now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const answer = await clients.logs.send(new GetQueryResultsCommand({ queryId }));
    if (answer.status === 'Complete') return (answer.results ?? []).map(toEntry);
    if (answer.status !== 'Running' && answer.status !== 'Scheduled')
      throw new AwsTraceError(`The Logs Insights query ended ${answer.status ?? 'without a status'}`);
    if (now() > deadline) throw new AwsTraceError('The Logs Insights query did not finish in time');
    await sleep(1000);
  }
}

function toEntry(row: readonly { field?: string; value?: string }[]): AuditEntry {
  const value = (name: string) => row.find((f) => f.field === `audit.${name}`)?.value;
  const entry: Record<string, unknown> = {};
  for (const name of FIELDS) {
    const v = value(name);
    if (v === undefined || v === '') continue;
    entry[name] = name === 'at' ? Date.parse(v) : name === 'version' ? Number(v) : v;
  }
  return entry as unknown as AuditEntry;
}
