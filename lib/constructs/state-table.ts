import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { TableSpec } from '../../functions/core/topology.js';

/**
 * The item reads and writes the hub's functions make (get, put, update, delete, query and scan, the
 * batch and condition-check forms) and DescribeTable: CDK's read-write set without the stream
 * reads, as the table has no stream.
 */
export const READ_WRITE_ACTIONS: readonly string[] = [
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:Query',
  'dynamodb:Scan',
  'dynamodb:UpdateItem',
];

/**
 * What a reader or writer of a table under a customer-managed key needs on the key: DynamoDB
 * decrypts the table key with the caller's permission (and caches it for a few minutes), then the
 * table key, not KMS, encrypts and decrypts items, so writers need no `kms:Encrypt` or
 * `kms:GenerateDataKey`; `kms:DescribeKey` is the read-only metadata call of CDK's read set. CDK's
 * `grantReadWriteData` adds `kms:Encrypt`, `kms:ReEncrypt*` and `kms:GenerateDataKey*`.
 */
export const TABLE_KEY_ACTIONS: readonly string[] = ['kms:Decrypt', 'kms:DescribeKey'];

export interface StateTableProps {
  /** The table to build, from the topology: name, keys and TTL attribute. */
  readonly spec: TableSpec;

  /**
   * Whether DynamoDB refuses to delete the table, whoever asks.
   *
   * @default true - the table holds cross-references, mappings and applied versions; losing it
   *   breaks exactly-once delivery (G4) and ordering (G5)
   */
  readonly deletionProtection?: boolean;

  /**
   * Encrypt the table with this customer-managed KMS key.
   *
   * @default - the AWS-managed key (`alias/aws/dynamodb`)
   */
  readonly encryptionKey?: IKey;
}

/**
 * The hub's one DynamoDB table (`AWS::DynamoDB::Table`), built from the topology {@link TableSpec}:
 * string partition key `pk` and sort key `sk`, on-demand billing, point-in-time recovery,
 * TTL on `spec.ttlAttribute`, encryption with the AWS-managed key or the customer-managed
 * `encryptionKey`, and kept (RETAIN) when the stack is deleted. Grant access with
 * {@link StateTable.grantReadWriteData}, which grants exactly what the functions use.
 */
export class StateTable extends Construct {
  readonly spec: TableSpec;
  readonly table: Table;

  constructor(scope: Construct, id: string, props: StateTableProps) {
    super(scope, id);
    const { spec } = props;
    this.spec = spec;
    this.table = new Table(this, 'Table', {
      tableName: spec.name,
      partitionKey: { name: spec.partitionKey, type: AttributeType.STRING },
      sortKey: { name: spec.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: spec.ttlAttribute,
      ...(props.encryptionKey
        ? { encryption: TableEncryption.CUSTOMER_MANAGED, encryptionKey: props.encryptionKey }
        : { encryption: TableEncryption.AWS_MANAGED }),
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /**
   * Lets `grantee` read and write items: {@link READ_WRITE_ACTIONS} on the table and, under a
   * customer-managed key, {@link TABLE_KEY_ACTIONS} on that key.
   */
  grantReadWriteData(grantee: IGrantable): Grant {
    const grant = this.table.grants.actions(grantee, ...READ_WRITE_ACTIONS);
    const key = this.table.encryptionKey;
    return key ? grant.combine(key.grant(grantee, ...TABLE_KEY_ACTIONS)) : grant;
  }
}
