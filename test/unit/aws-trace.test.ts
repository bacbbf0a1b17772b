import { CloudFormationClient, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import {
  CloudWatchLogsClient,
  GetQueryResultsCommand,
  StartQueryCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsTraceError, auditQuery, traceAws } from '../../local/aws-trace.js';
import { formatEntries } from '../../local/commands/trace.js';

const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const NOW = Date.UTC(2026, 4, 1, 12, 0, 0);

const row = (fields: Record<string, string>) =>
  Object.entries(fields).map(([name, value]) => ({ field: `audit.${name}`, value }));

/** The Logs Insights adapter of `trace --aws`: which log groups, which query, how rows become entries. */
describe('trace --aws (Logs Insights over the stack’s log groups)', () => {
  const cfn = mockClient(CloudFormationClient);
  const logs = mockClient(CloudWatchLogsClient);
  const clients = {
    cloudFormation: new CloudFormationClient({ region, credentials }),
    logs: new CloudWatchLogsClient({ region, credentials }),
  };
  beforeEach(() => {
    cfn.reset();
    logs.reset();
    cfn
      .on(ListStackResourcesCommand)
      .resolvesOnce({
        StackResourceSummaries: [
          {
            ResourceType: 'AWS::Logs::LogGroup',
            PhysicalResourceId: 'acme-RouteLogs',
            LogicalResourceId: 'a',
            ResourceStatus: 'CREATE_COMPLETE',
            LastUpdatedTimestamp: new Date(),
          },
          {
            ResourceType: 'AWS::SQS::Queue',
            PhysicalResourceId: 'q',
            LogicalResourceId: 'b',
            ResourceStatus: 'CREATE_COMPLETE',
            LastUpdatedTimestamp: new Date(),
          },
        ],
        NextToken: 'p2',
      })
      .resolves({
        StackResourceSummaries: [
          {
            ResourceType: 'AWS::Logs::LogGroup',
            PhysicalResourceId: 'acme-operator-audit',
            LogicalResourceId: 'c',
            ResourceStatus: 'CREATE_COMPLETE',
            LastUpdatedTimestamp: new Date(),
          },
        ],
      });
    logs.on(StartQueryCommand).resolves({ queryId: 'q-1' });
  });

  it('queries every log group of the stack for the id as event, canonical or system:externalId, and reads the rows back', async () => {
    logs
      .on(GetQueryResultsCommand)
      .resolvesOnce({ status: 'Running' })
      .resolves({
        status: 'Complete',
        results: [
          row({
            eventId: 'evt_1',
            at: '2026-05-01T11:00:00.000Z',
            stage: 'ingest',
            outcome: 'accepted',
            source: 'stripe',
          }),
          row({
            eventId: 'evt_1',
            at: '2026-05-01T11:00:01.000Z',
            stage: 'deliver',
            outcome: 'skipped',
            flow: 'customers',
            destination: 'crm',
            entity: 'customer',
            id: 'cust-1',
            version: '7',
            reason: 'duplicate',
          }),
        ],
      });
    const entries = await traceAws(clients, {
      stackName: 'acme',
      id: 'stripe:cus_1',
      now: () => NOW,
      sleep: async () => {},
    });
    const start = logs.commandCalls(StartQueryCommand)[0]?.args[0].input;
    expect(start?.logGroupNames).toEqual(['acme-RouteLogs', 'acme-operator-audit']);
    expect(start?.endTime).toBe(NOW / 1000);
    expect(start?.startTime).toBe(NOW / 1000 - 30 * 86_400);
    expect(start?.queryString).toContain('filter message = "audit"');
    expect(start?.queryString).toContain('concat(audit.source, ":", audit.sourceId) = "stripe:cus_1"');
    expect(entries).toEqual([
      { eventId: 'evt_1', at: NOW - 3_600_000, stage: 'ingest', outcome: 'accepted', source: 'stripe' },
      {
        eventId: 'evt_1',
        at: NOW - 3_599_000,
        stage: 'deliver',
        outcome: 'skipped',
        flow: 'customers',
        destination: 'crm',
        entity: 'customer',
        id: 'cust-1',
        version: 7,
        reason: 'duplicate',
      },
    ]);
    expect(formatEntries('stripe:cus_1', entries)).toBe(
      [
        'stripe:cus_1: 1 event(s) in the audit trail',
        'event evt_1',
        '  2026-05-01T11:00:00.000Z  ingest   accepted from stripe',
        '  2026-05-01T11:00:01.000Z  deliver  skipped customers -> crm customer cust-1 v7: duplicate',
      ].join('\n'),
    );
  });

  it('refuses an id that could break out of the query, and reports a failed query', async () => {
    expect(() => auditQuery('evt" or 1=1')).toThrow(AwsTraceError);
    logs.on(GetQueryResultsCommand).resolves({ status: 'Failed' });
    await expect(
      traceAws(clients, { stackName: 'acme', id: 'evt_1', sleep: async () => {} }),
    ).rejects.toThrow('The Logs Insights query ended Failed');
  });
});
