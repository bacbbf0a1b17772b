import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { AUDIT_RETENTION_DAYS, type SwitchyardConfigInput } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';
import { buildApp } from '../../lib/app.js';
import { CLOUDWATCH_RETENTION_DAYS } from '../../lib/constructs/log-retention.js';
import repoConfig from '../../switchyard.config.js';

/*
 * The audit trail in AWS is log lines in the functions' log groups (and the operator audit log
 * group for CLI actions): their retention is the audit retention. Templates only: no bundling.
 */

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

function logGroups(input: SwitchyardConfigInput) {
  const built = buildApp(input, { nag: false, context: NO_BUNDLING });
  const template = Template.fromStack(built.stack);
  const groups = template.findResources('AWS::Logs::LogGroup');
  const functions = Object.values(template.findResources('AWS::Lambda::Function')).map(
    (fn) => (fn.Properties as { LoggingConfig: { LogGroup: { Ref: string } } }).LoggingConfig.LogGroup.Ref,
  );
  const retentionOf = (id: string) =>
    (groups[id]?.Properties as { RetentionInDays?: number } | undefined)?.RetentionInDays;
  const operator = Object.values(groups).find(
    (g) =>
      (g.Properties as { LogGroupName?: string }).LogGroupName === `${built.topology.name}-operator-audit`,
  );
  return { functionRetention: functions.map(retentionOf), operator, built };
}

describe('audit retention', () => {
  it('lists the same retention periods as CloudWatch Logs (core cannot import the CDK)', () => {
    expect(AUDIT_RETENTION_DAYS).toEqual(CLOUDWATCH_RETENTION_DAYS);
  });

  it('keeps the functions’ log groups as long as the audit trail when it outlives the logs', () => {
    const { functionRetention, operator } = logGroups({
      ...repoConfig,
      logs: { retentionDays: 7 },
      audit: { retentionDays: 90 },
    });
    expect(functionRetention.length).toBeGreaterThan(0);
    expect(new Set(functionRetention)).toEqual(new Set([90]));
    expect(operator?.Properties).toMatchObject({ RetentionInDays: 90 });
    expect(operator?.DeletionPolicy).toBe('Retain');
  });

  it('keeps the log retention when it is the longer one', () => {
    const { functionRetention } = logGroups({
      ...repoConfig,
      logs: { retentionDays: 365 },
      audit: { retentionDays: 30 },
    });
    expect(new Set(functionRetention)).toEqual(new Set([365]));
  });

  it('refuses an audit retention CloudWatch does not offer, naming the field and the value', () => {
    expect(() =>
      buildApp({ ...repoConfig, audit: { retentionDays: 45 } }, { nag: false, context: NO_BUNDLING }),
    ).toThrow(ConfigError);
    expect(() =>
      buildApp({ ...repoConfig, audit: { retentionDays: 45 } }, { nag: false, context: NO_BUNDLING }),
    ).toThrow(
      /audit\.retentionDays: must be a CloudWatch Logs retention period in days, one of 1, 3, .* \(got 45\)/,
    );
  });
});
