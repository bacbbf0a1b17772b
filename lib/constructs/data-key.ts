import { Arn, ArnFormat, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { SwitchyardConfig } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';

/**
 * The hub's data key, from the config's `encryption` block:
 *
 * - `customerManagedKey: true`: one customer-managed KMS key (`alias/<hub>-data`), rotated yearly
 *   and kept (RETAIN) when the stack is deleted: the state table is kept too, and its data is only
 *   readable with this key. Its key policy is KMS's default (the account administers the key and
 *   IAM policies decide who may use it); the functions' roles get exactly the key use they need.
 * - `kmsKeyArn`: that existing key, imported (`Key.fromKeyArn`). Its key policy is not this stack's
 *   to change: it must let the account's IAM policies grant its use, and let CloudWatch use it for
 *   the alarm topic (see Alarms).
 * - neither: `undefined`; queues use SQS-managed keys, the table the AWS-managed key and the alarm
 *   topic a key of its own.
 *
 * Both at once is a ConfigError, and so is a key in another region than the stack's (when the stack
 * has one): SQS, DynamoDB and SNS only use keys of their own region.
 */
export function dataKey(
  scope: Construct,
  hubName: string,
  encryption: SwitchyardConfig['encryption'],
): IKey | undefined {
  const { customerManagedKey, kmsKeyArn } = encryption;
  if (customerManagedKey && kmsKeyArn) {
    throw new ConfigError([
      'encryption: customerManagedKey creates a key and kmsKeyArn names an existing one; set one of them',
    ]);
  }
  if (kmsKeyArn) {
    const region = Arn.split(kmsKeyArn, ArnFormat.SLASH_RESOURCE_NAME).region;
    const stackRegion = Stack.of(scope).region;
    if (!Token.isUnresolved(stackRegion) && region !== stackRegion) {
      throw new ConfigError([
        `encryption.kmsKeyArn: the key is in ${region}, the stack in ${stackRegion}; queues, the table and the alarm topic need a key of their own region`,
      ]);
    }
    return Key.fromKeyArn(scope, 'DataKey', kmsKeyArn);
  }
  if (!customerManagedKey) return undefined;
  return new Key(scope, 'DataKey', {
    alias: `alias/${hubName}-data`,
    description: `Switchyard hub "${hubName}": encrypts its queues, state table and alarm topic`,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}
