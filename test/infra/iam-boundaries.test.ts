import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { type BuiltApp, buildApp } from '../../lib/app.js';

/*
 * IAM boundaries (issue 7, G9), checked on the synthesized template of a hub with two webhook
 * sources and two destinations, each with its own secret. The expectations are written out here
 * by hand, not derived from the topology the stack is built from, so a topology or stack change
 * that widens a grant fails this file.
 *
 * Every identity-policy statement of every role is reduced to (action, resource) pairs, with each
 * resource named by what it is: a queue by its topology key, a secret by its name, the state table,
 * the function's own log group.
 */

const SIGNING = { stripe: 'iam/stripe-signing', 'stripe-eu': 'iam/stripe-eu-signing' } as const;
const TOKENS = { crm: 'iam/crm-token', erp: 'iam/erp-token' } as const;

const config: SwitchyardConfigInput = {
  name: 'iam',
  sources: {
    stripe: { connector: 'stripe', secret: SIGNING.stripe },
    'stripe-eu': { connector: 'stripe', secret: SIGNING['stripe-eu'] },
  },
  destinations: {
    crm: { connector: 'http', url: 'https://crm.example.com/api/contacts', secret: TOKENS.crm },
    erp: { connector: 'http', url: 'https://erp.example.com/api/customers', secret: TOKENS.erp },
  },
  flows: [
    { name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'stripe-eu'], to: ['crm'] },
    { name: 'customers-to-erp', entity: 'customer', from: ['stripe'], to: ['erp'] },
  ],
};

type Json = Record<string, unknown>;
interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly NotAction?: unknown;
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Principal?: unknown;
  readonly NotPrincipal?: unknown;
  readonly Condition?: unknown;
}
interface Grant {
  readonly action: string;
  readonly resource: string;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

let built: BuiltApp;
let resources: Record<string, Json>;
let outdir: string;

function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return element.stack.getLogicalId(element);
}

/** Names a policy resource by what it is, or returns the raw JSON when it is nothing known. */
function nameResource(resource: unknown, ownLogGroup: string): string {
  const text = JSON.stringify(resource);
  if (resource === '*') return '*';
  const secret = /:secret:([^"]+)-\?{6}"/.exec(text);
  if (secret) return `secret:${secret[1]}`;
  for (const [key, lane] of built.stack.lanes) {
    if (text === JSON.stringify({ 'Fn::GetAtt': [logicalId(lane.queue), 'Arn'] })) return `queue:${key}`;
    if (text === JSON.stringify({ 'Fn::GetAtt': [logicalId(lane.deadLetterQueue), 'Arn'] }))
      return `dlq:${key}`;
  }
  const table = logicalId(built.stack.table.table);
  if (text === JSON.stringify({ 'Fn::GetAtt': [table, 'Arn'] })) return 'table';
  if (text === JSON.stringify({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [table, 'Arn'] }, '/index/*']] }))
    return 'table/index/*';
  if (text === JSON.stringify({ 'Fn::GetAtt': [ownLogGroup, 'Arn'] })) return 'logs:own';
  return `raw:${text}`;
}

/** Every Allow of every identity policy attached to the role, as (action, named resource) pairs. */
function grantsOf(roleId: string, ownLogGroup = ''): Grant[] {
  const grants: Grant[] = [];
  const add = (statement: Statement) => {
    expect(statement.NotAction, `${roleId}: NotAction`).toBeUndefined();
    expect(statement.NotResource, `${roleId}: NotResource`).toBeUndefined();
    if (statement.Effect !== 'Allow') return;
    for (const action of asArray(statement.Action))
      for (const resource of asArray(statement.Resource as unknown))
        grants.push({ action, resource: nameResource(resource, ownLogGroup) });
  };
  for (const policy of Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy')) {
    const props = policy.Properties as { Roles: unknown[]; PolicyDocument: { Statement: Statement[] } };
    if (props.Roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId })))
      for (const statement of props.PolicyDocument.Statement) add(statement);
  }
  const inline = ((resources[roleId]?.Properties as Json | undefined)?.Policies ?? []) as Json[];
  for (const policy of inline)
    for (const statement of (policy.PolicyDocument as { Statement: Statement[] }).Statement) add(statement);
  return grants;
}

function functionGrants(key: string): Grant[] {
  const fn = built.stack.functions.get(key);
  if (!fn?.role) throw new Error(`no function ${key}`);
  return grantsOf(logicalId(fn.role), logicalId(fn.logGroup));
}

/** `service:Action on resource`, sorted and unique: easy to compare and to read in a failure. */
const lines = (grants: readonly Grant[]) =>
  [...new Set(grants.map((g) => `${g.action} on ${g.resource}`))].sort();
const onResource = (grants: readonly Grant[], resource: string) =>
  [...new Set(grants.filter((g) => g.resource === resource).map((g) => g.action))].sort();
const resourcesOf = (grants: readonly Grant[], service: string) =>
  [...new Set(grants.filter((g) => g.action.startsWith(`${service}:`)).map((g) => g.resource))].sort();

const SEND = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
const CONSUME = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];
const READ_SECRET = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];
const WRITE_LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];

beforeAll(() => {
  outdir = mkdtempSync(path.join(tmpdir(), 'switchyard-iam-'));
  built = buildApp(config, { outdir });
  built.app.synth();
  const template = JSON.parse(readFileSync(path.join(outdir, built.stack.templateFile), 'utf8')) as {
    Resources: Record<string, Json>;
  };
  resources = template.Resources;
});
afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('IAM boundaries of a hub with two sources and two destinations, each with its own secret', () => {
  it('builds the functions this file expects', () => {
    expect([...built.stack.functions.keys()].sort()).toEqual([
      'deliver-crm',
      'deliver-erp',
      'ingest',
      'route',
    ]);
  });

  it('names no action with a wildcard and no resource "*", in any role', () => {
    const roles = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::IAM::Role');
    expect(roles.length).toBeGreaterThanOrEqual(4);
    for (const [id] of roles) {
      for (const grant of grantsOf(id)) {
        expect(grant.action, `${id}: ${grant.action} on ${grant.resource}`).not.toMatch(/\*/);
        expect(grant.resource, `${id}: ${grant.action}`).not.toBe('*');
      }
    }
  });

  it('gives every function role its own trust (Lambda only), no managed policy and no IAM, STS, KMS or Lambda actions', () => {
    for (const [key, fn] of built.stack.functions) {
      const role = resources[logicalId(fn.role as IConstruct)]?.Properties as Json;
      expect(role.ManagedPolicyArns, key).toBeUndefined();
      expect(JSON.stringify(role.AssumeRolePolicyDocument), key).toBe(
        JSON.stringify({
          Statement: [
            { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
          ],
          Version: '2012-10-17',
        }),
      );
      const services = new Set(functionGrants(key).map((g) => g.action.split(':')[0]));
      for (const forbidden of ['iam', 'sts', 'kms', 'lambda', 's3', 'sns', 'events', 'scheduler'])
        expect(services.has(forbidden), `${key} has ${forbidden}:*`).toBe(false);
    }
  });

  it('lets ingest send to the inbound queue and read the two signing secrets, and nothing else', () => {
    expect(lines(functionGrants('ingest'))).toEqual(
      lines([
        ...SEND.map((action) => ({ action, resource: 'queue:inbound' })),
        ...READ_SECRET.map((action) => ({ action, resource: `secret:${SIGNING.stripe}` })),
        ...READ_SECRET.map((action) => ({ action, resource: `secret:${SIGNING['stripe-eu']}` })),
        ...WRITE_LOGS.map((action) => ({ action, resource: 'logs:own' })),
      ]),
    );
  });

  it('lets route consume inbound, send to both delivery queues and use the table, with no secret at all', () => {
    const grants = functionGrants('route');
    expect(onResource(grants, 'queue:inbound')).toEqual(CONSUME);
    expect(onResource(grants, 'queue:deliver-crm')).toEqual(SEND);
    expect(onResource(grants, 'queue:deliver-erp')).toEqual(SEND);
    expect(resourcesOf(grants, 'sqs')).toEqual(['queue:deliver-crm', 'queue:deliver-erp', 'queue:inbound']);
    expect(resourcesOf(grants, 'secretsmanager')).toEqual([]);
    expect(resourcesOf(grants, 'dynamodb')).toContain('table');
    // Nothing beyond queues, the table and its own logs.
    for (const grant of grants)
      expect(grant.resource, `${grant.action}`).toMatch(
        /^(queue:(inbound|deliver-crm|deliver-erp)|table|table\/index\/\*|logs:own)$/,
      );
  });

  for (const [destination, other] of [
    ['crm', 'erp'],
    ['erp', 'crm'],
  ] as const) {
    it(`lets deliver-${destination} consume only its own queue and read only its own token, never ${other}'s`, () => {
      const grants = functionGrants(`deliver-${destination}`);
      // Consume, and send back to its own queue (an open circuit breaker requeues a waiting record).
      expect(onResource(grants, `queue:deliver-${destination}`)).toEqual(
        [...new Set([...CONSUME, ...SEND])].sort(),
      );
      expect(resourcesOf(grants, 'sqs')).toEqual([`queue:deliver-${destination}`]);
      expect(grants.filter((g) => g.action === 'sqs:SendMessage').map((g) => g.resource)).toEqual([
        `queue:deliver-${destination}`,
      ]);
      expect(resourcesOf(grants, 'secretsmanager')).toEqual([`secret:${TOKENS[destination]}`]);
      expect(onResource(grants, `secret:${TOKENS[destination]}`)).toEqual(READ_SECRET);
      const text = JSON.stringify(grants);
      expect(text).not.toContain(TOKENS[other]);
      for (const signing of Object.values(SIGNING)) expect(text).not.toContain(signing);
      for (const grant of grants)
        expect(grant.resource, grant.action).toMatch(
          new RegExp(
            `^(queue:deliver-${destination}|secret:${TOKENS[destination]}|table|table/index/\\*|logs:own)$`,
          ),
        );
    });
  }

  it('lets only ingest read a signing secret and only deliver-<d> read d’s token', () => {
    const readers = new Map<string, string[]>();
    for (const key of built.stack.functions.keys())
      for (const grant of functionGrants(key))
        if (grant.action === 'secretsmanager:GetSecretValue')
          readers.set(grant.resource, [...new Set([...(readers.get(grant.resource) ?? []), key])]);
    expect(Object.fromEntries(readers)).toEqual({
      [`secret:${SIGNING.stripe}`]: ['ingest'],
      [`secret:${SIGNING['stripe-eu']}`]: ['ingest'],
      [`secret:${TOKENS.crm}`]: ['deliver-crm'],
      [`secret:${TOKENS.erp}`]: ['deliver-erp'],
    });
  });

  it('grants no dead-letter queue to any function (an operator redrives, not the pipeline)', () => {
    for (const key of built.stack.functions.keys())
      expect(
        functionGrants(key).filter((g) => g.resource.startsWith('dlq:')),
        key,
      ).toEqual([]);
  });

  it("lets API Gateway invoke the ingest function's live alias only, from this API only", () => {
    const permissions = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::Permission');
    expect(permissions.length).toBeGreaterThan(0);
    const ingest = built.stack.functions.get('ingest');
    if (!ingest) throw new Error('no ingest function');
    const api = logicalId(required(built.stack.ingestApi, 'the HTTP API').api);
    for (const permission of permissions) {
      const props = permission.Properties as Json;
      expect(props.Principal).toBe('apigateway.amazonaws.com');
      expect(props.FunctionName).toEqual({ Ref: logicalId(ingest.live) });
      expect(JSON.stringify(props.SourceArn)).toContain(api);
    }
  });

  it('allows nobody anything through a queue policy: they only deny requests without TLS', () => {
    const policies = Object.values(resources).filter((r) => r.Type === 'AWS::SQS::QueuePolicy');
    expect(policies.length).toBe(2 * built.stack.lanes.size);
    for (const policy of policies) {
      for (const statement of (policy.Properties as { PolicyDocument: { Statement: Statement[] } })
        .PolicyDocument.Statement) {
        expect(statement.Effect).toBe('Deny');
        expect(JSON.stringify(statement.Condition)).toContain('"aws:SecureTransport":"false"');
      }
    }
  });

  it('keeps secrets out of every function environment and never turns on event logging', () => {
    for (const [key, fn] of built.stack.functions) {
      const props = resources[logicalId(fn)]?.Properties as { Environment?: { Variables?: Json } };
      const variables = props.Environment?.Variables ?? {};
      expect(variables.POWERTOOLS_LOGGER_LOG_EVENT, key).toBeUndefined();
      for (const [name, value] of Object.entries(variables)) {
        expect(name, key).not.toMatch(/SECRET|TOKEN|PASSWORD|KEY$/i);
        expect(JSON.stringify(value), `${key}.${name}`).not.toMatch(/whsec_|Bearer /);
      }
    }
    expect(JSON.stringify(resources)).not.toMatch(/SecretString|resolve:secretsmanager/);
  });
});

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the stack has no ${what}`);
  return value;
}
