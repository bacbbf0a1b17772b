import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltApp, buildApp } from '../../lib/app.js';
import repoConfig from '../../switchyard.config.js';

/** Polled sources in AWS: one EventBridge Scheduler schedule each, invoking the poll function. */
describe('rest-poll sources in the stack (switchyard.config.ts has one: erp)', () => {
  let built: BuiltApp;
  let template: Template;
  let outdir: string;
  beforeAll(() => {
    outdir = mkdtempSync(path.join(tmpdir(), 'switchyard-poll-'));
    built = buildApp(repoConfig, { outdir });
    template = Template.fromStack(built.stack);
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const functionOf = (key: string) => {
    const fn = built.stack.functions.get(key);
    if (!fn) throw new Error(`no function ${key}`);
    return fn;
  };
  const logicalIdOf = (key: string) => {
    const fn = functionOf(key);
    return Stack.of(fn).getLogicalId(fn.node.defaultChild as CfnElement);
  };
  /** The `live` alias of the function (its Ref is the alias ARN). */
  const aliasIdOf = (key: string) => {
    const alias = functionOf(key).live;
    return Stack.of(alias).getLogicalId(alias.node.defaultChild as CfnElement);
  };

  it('schedules the erp poll with its expression and sends the poll function\'s live alias {"source": "erp"}', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Target: {
        Arn: { Ref: aliasIdOf('poll') },
        Input: JSON.stringify({ source: 'erp' }),
        RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 300 },
      },
    });
  });

  it("lets Scheduler's role invoke the poll function's live alias and nothing else (no version wildcard)", () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy).includes('lambda:InvokeFunction'),
    );
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties?.PolicyDocument.Statement).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        Effect: 'Allow',
        Resource: { Ref: aliasIdOf('poll') },
      },
    ]);
  });

  it('gives the poll function the erp API secret, the state table and the inbound queue, and no async retries', () => {
    const pollPolicy = JSON.stringify(
      Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
        JSON.stringify(policy.Properties?.Roles ?? []).includes('PollFunction'),
      ),
    );
    expect(pollPolicy).toContain(':secret:switchyard/erp-api-??????');
    expect(pollPolicy).not.toContain('switchyard/stripe-webhook');
    expect(pollPolicy).toContain('sqs:SendMessage');
    expect(pollPolicy).toContain('dynamodb:PutItem');
    expect(pollPolicy).not.toContain('sqs:ReceiveMessage');
    // On the alias Scheduler invokes (the qualifier is the alias name, from its ARN).
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 1);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalIdOf('poll') },
      Qualifier: { 'Fn::Select': [7, { 'Fn::Split': [':', { Ref: aliasIdOf('poll') }] }] },
      MaximumRetryAttempts: 0,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 300,
      Environment: {
        Variables: Match.objectLike({
          STATE_TABLE_NAME: Match.anyValue(),
          INBOUND_QUEUE_URL: Match.anyValue(),
        }),
      },
    });
  });

  it('serves no webhook route for the polled source', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties?.RouteKey,
    );
    expect(routes.sort()).toEqual(['POST /webhooks/shop', 'POST /webhooks/stripe']);
  });
});
