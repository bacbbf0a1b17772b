import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type CfnElement, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';
import { type BuiltApp, buildApp } from '../../lib/app.js';

/*
 * Encryption at rest with a customer-managed KMS key (issue 7): `encryption.customerManagedKey`
 * creates one key for the hub's data, `encryption.kmsKeyArn` imports an existing one, and every
 * queue, DLQ, the state table and the alarm topic use it. Each function's role gets exactly the key
 * use its queues and the table need, written out here by hand, and nothing on any other key.
 * Templates only: no bundling; cdk-nag runs in every synth.
 */

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

/** Two webhook sources, a polled one, two destinations: every kind of function. */
const base: SwitchyardConfigInput = {
  name: 'enc',
  sources: {
    stripe: { connector: 'stripe', secret: 'enc/stripe-signing' },
    shop: { connector: 'shopify', secret: 'enc/shop-signing' },
    erp: {
      connector: 'rest-poll',
      schedule: 'rate(5 minutes)',
      url: 'https://erp.example.com/api/customers',
      secret: 'enc/erp-token',
      auth: { type: 'bearer' },
      items: 'data',
      map: { entity: 'customer', id: 'id', version: 'updated_at', fields: { email: 'email' } },
    },
  },
  destinations: {
    crm: { connector: 'http', url: 'https://crm.example.com/api/contacts', secret: 'enc/crm-token' },
    erp: { connector: 'http', url: 'https://erp.example.com/api/customers' },
  },
  flows: [
    { name: 'customers-to-crm', entity: 'customer', from: ['stripe', 'shop', 'erp'], to: ['crm'] },
    { name: 'customers-to-erp', entity: 'customer', from: ['stripe'], to: ['erp'] },
  ],
};

/**
 * The key actions each function needs, by hand: producers GenerateDataKey and Decrypt (SQS), a
 * consumer Decrypt (SQS), a table user Decrypt and DescribeKey (DynamoDB). One key for everything,
 * so each role's set is the union of what its queues and the table need.
 */
const EXPECTED_KEY_ACTIONS: Record<string, string[]> = {
  // sends to inbound
  ingest: ['kms:Decrypt', 'kms:GenerateDataKey'],
  // consumes inbound, sends to the delivery queues, reads and writes the table
  route: ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'],
  // consume their own queue (and send back to it: the circuit breaker requeues), read and write the table
  'deliver-crm': ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'],
  'deliver-erp': ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'],
  // sends to inbound, reads and writes the table
  poll: ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'],
};

type Json = Record<string, unknown>;
interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly Resource?: unknown;
  readonly Principal?: unknown;
}
interface Synthesized {
  readonly built: BuiltApp;
  readonly resources: Record<string, { Type: string; Properties?: Json; DeletionPolicy?: string }>;
  readonly outputs: Record<string, unknown>;
  readonly synthError: unknown;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
const getAtt = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function synthesize(input: SwitchyardConfigInput): Synthesized {
  const outdir = mkdtempSync(path.join(tmpdir(), 'switchyard-enc-'));
  outdirs.push(outdir);
  const built = buildApp(input, { outdir, context: NO_BUNDLING });
  let synthError: unknown;
  try {
    built.app.synth();
  } catch (error) {
    synthError = error;
  }
  const template = JSON.parse(readFileSync(path.join(outdir, built.stack.templateFile), 'utf8')) as {
    Resources: Synthesized['resources'];
    Outputs?: Record<string, unknown>;
  };
  return { built, resources: template.Resources, outputs: template.Outputs ?? {}, synthError };
}

let plainApp: Synthesized | undefined;
/** The hub without encryption settings, synthesized once for the tests that compare with it. */
function plain(): Synthesized {
  plainApp ??= synthesize(base);
  return plainApp;
}

function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return element.stack.getLogicalId(element);
}

function ofType(app: Synthesized, type: string): [string, Json][] {
  return Object.entries(app.resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id, resource]) => [id, resource.Properties ?? {}]);
}

/** Every Allow statement of every identity policy attached to the role. */
function roleStatements(app: Synthesized, roleId: string): Statement[] {
  return ofType(app, 'AWS::IAM::Policy')
    .map(([, props]) => props as { Roles: unknown[]; PolicyDocument: { Statement: Statement[] } })
    .filter((props) => props.Roles.some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId })))
    .flatMap((props) => props.PolicyDocument.Statement)
    .filter((statement) => statement.Effect === 'Allow');
}

/** The kms actions a role is allowed, and every resource they are allowed on. */
function keyGrants(app: Synthesized, roleId: string): { actions: string[]; resources: string[] } {
  const statements = roleStatements(app, roleId).filter((s) =>
    asArray(s.Action).some((action) => action.startsWith('kms:')),
  );
  for (const statement of statements) {
    // A statement naming a key names nothing else, so the key use cannot spill onto other resources.
    expect(asArray(statement.Action).every((action) => action.startsWith('kms:'))).toBe(true);
  }
  return {
    actions: [...new Set(statements.flatMap((s) => asArray(s.Action)))].sort(),
    resources: [...new Set(statements.flatMap((s) => asArray(s.Resource).map((r) => JSON.stringify(r))))],
  };
}

function functionRoleId(app: Synthesized, key: string): string {
  const role = app.built.stack.functions.get(key)?.role;
  if (!role) throw new Error(`no function ${key}`);
  return logicalId(role);
}

/** Rule ids acknowledged anywhere in the stack. */
function acknowledgedRules(app: Synthesized): string[] {
  const ids = app.built.stack.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => Object.keys(entry.data as Record<string, string>)),
    );
  return [...new Set(ids)].sort();
}

function warnings(app: Synthesized): string[] {
  return app.built.stack.node
    .findAll()
    .flatMap((construct) =>
      construct.node.metadata
        .filter((entry) => entry.type === 'aws:cdk:warning')
        .map((entry) => String(entry.data)),
    );
}

/** What every queue, the table and the topic must reference as their key. */
function expectEverythingUnder(app: Synthesized, key: unknown): void {
  const queues = ofType(app, 'AWS::SQS::Queue');
  expect(queues).toHaveLength(2 * app.built.stack.lanes.size);
  for (const [id, queue] of queues) {
    expect(queue.KmsMasterKeyId, id).toEqual(key);
    expect(queue.KmsDataKeyReusePeriodSeconds, id).toBe(3600);
    expect(queue.SqsManagedSseEnabled, id).toBeUndefined();
  }
  const tables = ofType(app, 'AWS::DynamoDB::Table');
  expect(tables).toHaveLength(1);
  expect(tables[0]?.[1].SSESpecification).toEqual({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: key });
  const topics = ofType(app, 'AWS::SNS::Topic');
  expect(topics).toHaveLength(1);
  expect(topics[0]?.[1].KmsMasterKeyId).toEqual(key);
}

function expectExactKeyGrants(app: Synthesized, key: unknown): void {
  expect([...app.built.stack.functions.keys()].sort()).toEqual(Object.keys(EXPECTED_KEY_ACTIONS).sort());
  for (const [fn, expected] of Object.entries(EXPECTED_KEY_ACTIONS)) {
    const grants = keyGrants(app, functionRoleId(app, fn));
    expect(grants.actions, fn).toEqual(expected);
    expect(grants.resources, fn).toEqual([JSON.stringify(key)]);
  }
  // Nothing broader anywhere: no kms wildcard, Encrypt or ReEncrypt on any role, and no key use for
  // the roles that are not a function's (EventBridge Scheduler invokes Lambda; it needs no key).
  const functionRoles = new Set([...app.built.stack.functions.keys()].map((fn) => functionRoleId(app, fn)));
  const roles = ofType(app, 'AWS::IAM::Role').map(([id]) => id);
  expect(roles.length).toBeGreaterThan(functionRoles.size);
  for (const role of roles) {
    const { actions } = keyGrants(app, role);
    if (!functionRoles.has(role)) expect(actions, role).toEqual([]);
    for (const action of actions) {
      expect(action, role).not.toMatch(/\*/);
      expect(['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'], `${role}: ${action}`).toContain(
        action,
      );
    }
  }
}

describe('encryption with a customer-managed key (encryption.customerManagedKey)', () => {
  let app: Synthesized;
  let key: string;
  beforeAll(() => {
    app = synthesize({ ...base, encryption: { customerManagedKey: true } });
    const dataKey = app.built.stack.dataKey;
    if (!dataKey) throw new Error('no data key');
    key = logicalId(dataKey);
  });

  it('creates one key, rotated yearly, kept when the stack is deleted, named alias/<hub>-data', () => {
    const keys = ofType(app, 'AWS::KMS::Key');
    expect(keys.map(([id]) => id)).toEqual([key]);
    expect(keys[0]?.[1].EnableKeyRotation).toBe(true);
    expect(app.resources[key]?.DeletionPolicy).toBe('Retain');
    const aliases = ofType(app, 'AWS::KMS::Alias');
    expect(aliases.map(([, alias]) => alias)).toEqual([
      { AliasName: 'alias/enc-data', TargetKeyId: getAtt(key) },
    ]);
    expect(JSON.stringify(app.outputs.DataKeyArn)).toContain(key);
  });

  it('encrypts every queue and DLQ, the state table and the alarm topic with it', () => {
    expectEverythingUnder(app, getAtt(key));
  });

  it('lets CloudWatch use the key for the alarm topic, and administers it only through the account', () => {
    const policy = app.resources[key]?.Properties?.KeyPolicy as { Statement: Statement[] };
    expect(policy.Statement).toHaveLength(2);
    expect(policy.Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      }),
    );
    const admin = policy.Statement.find((s) => s.Action === 'kms:*');
    expect(JSON.stringify(admin?.Principal)).toContain(':root');
  });

  it('grants each function exactly the key use its queues and the table need, on this key only', () => {
    expectExactKeyGrants(app, getAtt(key));
  });

  it('keeps cdk-nag clean without a new acknowledgement', () => {
    expect(app.synthError).toBeUndefined();
    expect(acknowledgedRules(app)).toEqual(acknowledgedRules(plain()));
  });
});

describe('encryption with an existing key (encryption.kmsKeyArn)', () => {
  let app: Synthesized;
  beforeAll(() => {
    app = synthesize({ ...base, encryption: { kmsKeyArn: KEY_ARN } });
  });

  it('creates no key and uses the ARN for every queue and DLQ, the table and the alarm topic', () => {
    expect(ofType(app, 'AWS::KMS::Key')).toEqual([]);
    expect(ofType(app, 'AWS::KMS::Alias')).toEqual([]);
    expectEverythingUnder(app, KEY_ARN);
    expect(app.outputs.DataKeyArn).toMatchObject({ Value: KEY_ARN });
  });

  it('grants each function exactly the key use it needs, on that ARN only', () => {
    expectExactKeyGrants(app, KEY_ARN);
  });

  it("warns at synth that the key's policy must let CloudWatch use it for the alarm topic, and passes cdk-nag", () => {
    expect(app.synthError).toBeUndefined();
    const found = warnings(app).filter((w) => w.includes(KEY_ARN));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/cloudwatch\.amazonaws\.com kms:Decrypt and kms:GenerateDataKey/);
  });
});

describe('encryption by default (no encryption settings)', () => {
  let app: Synthesized;
  beforeAll(() => {
    app = plain();
  });

  it('creates no hub key: SQS-managed queues, the AWS-managed table key, the alarm topic on a key of its own', () => {
    expect(app.built.stack.dataKey).toBeUndefined();
    expect(ofType(app, 'AWS::KMS::Alias')).toEqual([]);
    const topicKey = logicalId(app.built.stack.alarms.key);
    expect(ofType(app, 'AWS::KMS::Key').map(([id]) => id)).toEqual([topicKey]);
    for (const [id, queue] of ofType(app, 'AWS::SQS::Queue')) {
      expect(queue.SqsManagedSseEnabled, id).toBe(true);
      expect(queue.KmsMasterKeyId, id).toBeUndefined();
    }
    expect(ofType(app, 'AWS::DynamoDB::Table')[0]?.[1].SSESpecification).toEqual({ SSEEnabled: true });
    expect(app.outputs.DataKeyArn).toBeUndefined();
  });

  it('grants no role any key use', () => {
    for (const [role] of ofType(app, 'AWS::IAM::Role'))
      expect(keyGrants(app, role).actions, role).toEqual([]);
  });
});

describe('the app fails at synth, naming the field, if', () => {
  it('encryption asks for a new key and names an existing one', () => {
    const attempt = () =>
      buildApp(
        { ...base, encryption: { customerManagedKey: true, kmsKeyArn: KEY_ARN } },
        { nag: false, context: NO_BUNDLING },
      );
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/encryption: choose customerManagedKey or kmsKeyArn, not both/);
  });

  it('encryption.kmsKeyArn is in another region than the stack', () => {
    const attempt = () =>
      buildApp(
        { ...base, encryption: { kmsKeyArn: KEY_ARN } },
        { nag: false, context: NO_BUNDLING, env: { account: '123456789012', region: 'us-east-1' } },
      );
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/encryption\.kmsKeyArn: the key is in eu-west-1, the stack in us-east-1/);
  });
});
