import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag finding on one construct (and its children), with the reason written
 * down where the finding is accepted.
 *
 * cdk-nag 3 reads acknowledgements recorded through CDK's own `Validations.of(...).acknowledge`
 * (the v2 `NagSuppressions` API is gone). Each call acknowledges exactly one rule id or one finding
 * id such as `AwsSolutions-IAM5[Resource::arn:...]`; there is no prefix matching, so an
 * acknowledgement cannot silently cover a finding it was not written for.
 */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}
