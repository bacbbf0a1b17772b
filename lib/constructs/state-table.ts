import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import type { TableSpec } from '../../functions/core/topology.js';

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
}

/**
 * The hub's one DynamoDB table (`AWS::DynamoDB::Table`), built from the topology {@link TableSpec}:
 * string partition key `pk` and sort key `sk`, on-demand billing, point-in-time recovery,
 * TTL on `spec.ttlAttribute`, encryption with the AWS-managed key, and kept (RETAIN) when the
 * stack is deleted.
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
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
