import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { type BuiltApp, buildApp } from '../../lib/app.js';
import repoConfig from '../../switchyard.config.js';

/*
 * `api.ingress: 'function-url'` (issue 8, cost): webhooks come in through a Lambda function URL on
 * the ingest function's live alias instead of an HTTP API, which saves API Gateway's USD 1.00 per
 * million requests. Synthesized with cdk-nag on (a finding nobody acknowledged throws); no bundling.
 */

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

const viaFunctionUrl: SwitchyardConfigInput = {
  ...repoConfig,
  api: { ingress: 'function-url', reservedConcurrency: 20 },
};

type Json = Record<string, unknown>;

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

function synthesize(input: SwitchyardConfigInput): { built: BuiltApp; template: Template; outputs: Json } {
  const outdir = mkdtempSync(path.join(tmpdir(), 'switchyard-furl-'));
  outdirs.push(outdir);
  const built = buildApp(input, { outdir, context: NO_BUNDLING });
  built.app.synth();
  const raw = JSON.parse(readFileSync(path.join(outdir, built.stack.templateFile), 'utf8')) as {
    Outputs?: Json;
  };
  return { built, template: Template.fromStack(built.stack), outputs: raw.Outputs ?? {} };
}

describe("api.ingress: 'function-url'", () => {
  let app: ReturnType<typeof synthesize>;
  beforeAll(() => {
    app = synthesize(viaFunctionUrl);
  });

  it('builds no API Gateway at all', () => {
    app.template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    app.template.resourceCountIs('AWS::ApiGatewayV2::Stage', 0);
    expect(app.built.stack.ingestApi).toBeUndefined();
  });

  it("puts one public function URL on the ingest function's live alias, buffered", () => {
    app.template.resourceCountIs('AWS::Lambda::Url', 1);
    const ingest = app.built.stack.functions.get('ingest');
    if (!ingest) throw new Error('no ingest function');
    const alias = app.built.stack.resolve(
      (ingest.live.node.defaultChild as unknown as { logicalId: string }).logicalId,
    );
    app.template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'NONE',
      InvokeMode: 'BUFFERED',
      Qualifier: 'live',
      TargetFunctionArn: Match.objectLike({
        'Fn::GetAtt': Match.arrayWith([Match.stringLikeRegexp('^IngestFunction')]),
      }),
    });
    expect(alias).toMatch(/^IngestFunctionLive/);
  });

  it('lets anyone invoke the alias through the URL only (both halves of Lambda’s dual authorization)', () => {
    app.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      Principal: '*',
      FunctionUrlAuthType: 'NONE',
    });
    app.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: '*',
      InvokedViaFunctionUrl: true,
    });
    const anyone = Object.values(app.template.findResources('AWS::Lambda::Permission')).filter(
      (permission) => (permission.Properties as Json).Principal === '*',
    );
    for (const permission of anyone) {
      const props = permission.Properties as Json;
      expect(props.FunctionUrlAuthType === 'NONE' || props.InvokedViaFunctionUrl === true).toBe(true);
    }
  });

  it('caps the ingest function with api.reservedConcurrency and leaves the others unreserved', () => {
    app.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Switchyard ingest: ingest',
      ReservedConcurrentExecutions: 20,
    });
    const reserved = Object.values(app.template.findResources('AWS::Lambda::Function')).filter(
      (fn) => (fn.Properties as Json).ReservedConcurrentExecutions !== undefined,
    );
    expect(reserved).toHaveLength(1);
  });

  it('outputs each webhook URL as the function URL plus webhooks/<source>', () => {
    for (const source of ['Stripe', 'Shop']) {
      expect(JSON.stringify(app.outputs[`WebhookUrl${source}`])).toMatch(
        new RegExp(
          `"Fn::Join":\\["",\\[\\{"Fn::GetAtt":\\["IngestFunctionLiveFunctionUrl[A-Za-z0-9]*","FunctionUrl"\\]\\},"webhooks/${source.toLowerCase()}"\\]\\]`,
        ),
      );
    }
    expect(app.outputs.WebhookUrlErp).toBeUndefined();
  });

  it('graphs the function URL requests, throttles and errors on the dashboard', () => {
    const dashboards = Object.values(app.template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards.map((dashboard) => (dashboard.Properties as Json).DashboardBody));
    expect(body).toContain('Webhook function URL requests');
    expect(body).toContain('Throttles');
    expect(body).not.toContain('Webhook API responses');
  });
});

describe('api.ingress validation', () => {
  it.each([
    [
      'fails if api.throttle is set with a function URL',
      { ingress: 'function-url', throttle: { rateLimit: 500 } },
      /api\.throttle: throttles the HTTP API, which api\.ingress 'function-url' does not build.*\(got \{"rateLimit":500\}\)/,
    ],
    [
      'fails if api.routes is set with a function URL',
      { ingress: 'function-url', routes: { stripe: { rateLimit: 5, burstLimit: 5 } } },
      /api\.routes: throttles HTTP API routes, which api\.ingress 'function-url' does not build/,
    ],
    [
      'fails if api.reservedConcurrency is set with the HTTP API',
      { reservedConcurrency: 5 },
      /api\.reservedConcurrency: caps a function URL; with api\.ingress 'http-api' use api\.throttle \(got 5\)/,
    ],
    [
      'fails if api.ingress is neither front door',
      { ingress: 'alb' },
      /api\.ingress: .*"http-api"\|"function-url" \(got "alb"\)/,
    ],
  ])('%s', (_label, api, message) => {
    expect(() =>
      buildApp({ ...repoConfig, api } as SwitchyardConfigInput, { nag: false, context: NO_BUNDLING }),
    ).toThrow(message);
  });
});
