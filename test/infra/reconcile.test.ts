import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { type BuiltApp, buildApp } from '../../lib/app.js';
import { buildInventory } from '../../local/commands/inventory.js';
import { secretReferences } from '../../local/commands/secrets.js';

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

/** A webhook source with a list API, a polled one, one that cannot list; two reconciled flows. */
const input: SwitchyardConfigInput = {
  name: 'recon',
  sources: {
    stripe: {
      connector: 'stripe',
      secret: 'recon/stripe-webhook',
      api: { secret: 'recon/stripe-api' },
    },
    shop: { connector: 'shopify', secret: 'recon/shopify-webhook' },
    erp: {
      connector: 'rest-poll',
      schedule: 'rate(5 minutes)',
      url: 'https://erp.example.com/api/customers',
      secret: 'recon/erp-api',
      auth: { type: 'bearer' },
      items: 'data',
      map: { entity: 'customer', id: 'id', version: 'updated_at', fields: { email: 'email' } },
    },
  },
  destinations: {
    crm: { connector: 'http', url: 'https://crm.example.com/contacts', secret: 'recon/crm-token' },
    books: { connector: 'http', url: 'https://books.example.com/customers' },
  },
  flows: [
    {
      name: 'customers-to-crm',
      entity: 'customer',
      from: ['stripe', 'shop'],
      to: ['crm'],
      reconcile: { schedule: 'rate(1 hour)', windowHours: 24, repair: true },
    },
    {
      name: 'erp-to-books',
      entity: 'customer',
      from: ['erp'],
      to: ['books'],
      reconcile: { schedule: 'cron(0 3 * * ? *)', windowHours: 48 },
    },
  ],
};

type Statement = { Effect: string; Action: string | string[]; Resource?: unknown };
const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const idOf = (construct: IConstruct) =>
  Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);

describe('reconcile function in the stack', () => {
  let built: BuiltApp;
  let template: Template;
  let synthError: unknown;
  let outdir: string;
  beforeAll(() => {
    outdir = mkdtempSync(path.join(tmpdir(), 'switchyard-reconcile-'));
    built = buildApp(input, { outdir, context: NO_BUNDLING });
    try {
      built.app.synth();
    } catch (error) {
      synthError = error;
    }
    template = Template.fromJSON(
      JSON.parse(readFileSync(path.join(outdir, built.stack.templateFile), 'utf8')),
    );
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const fn = (key: string) => {
    const found = built.stack.functions.get(key);
    if (!found) throw new Error(`no function ${key}`);
    return found;
  };

  it('schedules each reconciled flow, sending the reconcile function\'s live alias {"flow": ...}', () => {
    const alias = idOf(fn('reconcile').live);
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule')).filter((s) =>
      JSON.stringify(s).includes('"flow'),
    );
    expect(
      schedules.map((s) => [
        s.Properties.ScheduleExpression,
        s.Properties.Target.Input,
        s.Properties.Target.Arn,
      ]),
    ).toEqual([
      ['rate(1 hour)', JSON.stringify({ flow: 'customers-to-crm' }), { Ref: alias }],
      ['cron(0 3 * * ? *)', JSON.stringify({ flow: 'erp-to-books' }), { Ref: alias }],
    ]);
    for (const schedule of schedules)
      expect(schedule.Properties.Target.RetryPolicy).toEqual({
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 300,
      });
  });

  it("lets each schedule's role invoke exactly the reconcile alias", () => {
    const alias = idOf(fn('reconcile').live);
    const invokes = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter(
        (s) => JSON.stringify(s).includes(alias) && asArray(s.Action).includes('lambda:InvokeFunction'),
      );
    expect(invokes).toEqual([
      { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { Ref: alias } },
      { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { Ref: alias } },
    ]);
  });

  it('grants the reconcile function the table, the listing secrets, and the queues of the flow that repairs only', () => {
    const spec = built.topology.functions.find((f) => f.key === 'reconcile');
    // erp-to-books does not repair: its lane is not among the queues.
    expect(spec?.sendsTo).toEqual(['inbound', 'deliver-crm']);
    // Listing secrets only: not the webhook signing secrets, nor the destinations' tokens.
    expect(spec?.secrets).toEqual(['recon/stripe-api', 'recon/erp-api']);
    const role = idOf(fn('reconcile').role as unknown as IConstruct);
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(role))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
    const text = JSON.stringify(statements);
    expect(text).toContain('sqs:SendMessage');
    expect(text).toContain(idOf(built.stack.lanes.get('inbound')?.queue as unknown as IConstruct));
    expect(text).toContain(idOf(built.stack.lanes.get('deliver-crm')?.queue as unknown as IConstruct));
    expect(text).not.toContain(idOf(built.stack.lanes.get('deliver-books')?.queue as unknown as IConstruct));
    expect(text).toContain('dynamodb:PutItem');
    expect(text).toContain('secretsmanager:GetSecretValue');
    expect(text).not.toContain('stripe-webhook');
    expect(text).not.toContain('crm-token');
    for (const statement of statements) expect(JSON.stringify(statement.Resource ?? '')).not.toBe('"*"');
  });

  it('alarms on drift per reconciled flow, over a period as long as its schedule', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) =>
      String(a.Properties.AlarmName).endsWith('-reconcile-drift'),
    );
    expect(
      alarms.map((a) => [
        a.Properties.AlarmName,
        a.Properties.MetricName,
        a.Properties.Statistic,
        a.Properties.Period,
        a.Properties.Threshold,
        a.Properties.ComparisonOperator,
        a.Properties.Dimensions,
      ]),
    ).toEqual([
      [
        'recon-flow-customers-to-crm-reconcile-drift',
        'reconcileDrift',
        'Maximum',
        3600,
        0,
        'GreaterThanThreshold',
        [
          { Name: 'flow', Value: 'customers-to-crm' },
          { Name: 'service', Value: 'recon' },
        ],
      ],
      [
        'recon-flow-erp-to-books-reconcile-drift',
        'reconcileDrift',
        'Maximum',
        86400,
        0,
        'GreaterThanThreshold',
        [
          { Name: 'flow', Value: 'erp-to-books' },
          { Name: 'service', Value: 'recon' },
        ],
      ],
    ]);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toHaveLength(1);
  });

  it('lists the drift alarms and the reconcile error rate in the inventory, and the Stripe API key among the secrets', () => {
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) =>
      String(a.Properties.AlarmName),
    );
    const hubAlarms = buildInventory(built.config, built.topology).hubAlarms;
    for (const name of names.filter(
      (n) => n.endsWith('-reconcile-drift') || n === 'recon-reconcile-error-rate',
    ))
      expect(hubAlarms).toContain(name);
    expect(hubAlarms.filter((n) => n.endsWith('-reconcile-drift'))).toHaveLength(2);
    expect(secretReferences(built.config)).toContainEqual({
      name: 'recon/stripe-api',
      role: 'api-credential',
      usedBy: ['source stripe (list API)'],
    });
  });

  it('stays cdk-nag clean with both packs', () => {
    const findings = [new AwsSolutionsChecks(), new ServerlessChecks()].flatMap((pack) =>
      pack
        .validateScope(built.stack)
        .violations.map(
          (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
        ),
    );
    expect(findings).toEqual([]);
    expect(synthError).toBeUndefined();
  });

  it('adds no reconcile function or schedule when no flow reconciles', () => {
    const plain = buildApp(
      { ...input, flows: input.flows.map(({ reconcile: _r, ...flow }) => flow) },
      { context: NO_BUNDLING, nag: false },
    );
    expect(plain.stack.functions.has('reconcile')).toBe(false);
    expect(plain.topology.reconciles).toEqual([]);
  });
});
