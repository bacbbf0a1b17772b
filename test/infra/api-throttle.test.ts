import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SwitchyardConfigInput } from '../../functions/core/config.js';
import { ConfigError } from '../../functions/core/errors.js';
import { type BuiltApp, buildApp } from '../../lib/app.js';
import repoConfig from '../../switchyard.config.js';

/*
 * The webhook API's throttling comes from the config (issue 7, the front door): `api.throttle` is
 * the `$default` stage's default route throttling, `api.routes[source]` the throttling of
 * `POST /webhooks/<source>` alone (the stage's RouteSettings). Templates only: no bundling.
 */

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

function build(input: SwitchyardConfigInput): { built: BuiltApp; template: Template } {
  const built = buildApp(input, { nag: false, context: NO_BUNDLING });
  return { built, template: Template.fromStack(built.stack) };
}

function stageProps(template: Template): Record<string, unknown> {
  const stages = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'));
  expect(stages).toHaveLength(1);
  return stages[0]?.Properties as Record<string, unknown>;
}

/** The repo's hub (webhook sources stripe and shop, polled erp) with throttling set in the config. */
const throttled: SwitchyardConfigInput = {
  ...repoConfig,
  api: {
    throttle: { rateLimit: 20, burstLimit: 40 },
    routes: { stripe: { rateLimit: 200, burstLimit: 400 } },
  },
};

describe('webhook API throttling from config.api', () => {
  let defaults: Template;
  let custom: Template;
  beforeAll(() => {
    defaults = build(repoConfig).template;
    custom = build(throttled).template;
  });

  it('throttles the stage at the config defaults (50 requests/s, burst 100) and sets no route override', () => {
    const stage = stageProps(defaults);
    expect(stage.DefaultRouteSettings).toEqual({ ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 });
    expect(stage.RouteSettings).toBeUndefined();
  });

  it('takes the stage throttling from api.throttle', () => {
    expect(stageProps(custom).DefaultRouteSettings).toEqual({
      ThrottlingBurstLimit: 40,
      ThrottlingRateLimit: 20,
    });
  });

  it('throttles POST /webhooks/<source> by api.routes[source], leaving the other routes on the stage throttling', () => {
    expect(stageProps(custom).RouteSettings).toEqual({
      'POST /webhooks/stripe': { ThrottlingBurstLimit: 400, ThrottlingRateLimit: 200 },
    });
    // The key is a route the API has.
    custom.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhooks/stripe' });
  });

  it('creates the stage after the throttled route (CloudFormation rejects route settings for a route not there yet)', () => {
    const [stage] = Object.values(custom.findResources('AWS::ApiGatewayV2::Stage'));
    const routes = custom.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { RouteKey: 'POST /webhooks/stripe' },
    });
    const routeIds = Object.keys(routes);
    expect(routeIds).toHaveLength(1);
    expect(stage?.DependsOn).toEqual(expect.arrayContaining(routeIds));
  });

  it('fails at synth, naming the field, when api.routes names a source without a webhook route', () => {
    for (const [source, reason] of [
      ['erp', 'a polled source'],
      ['paypal', 'no such source'],
    ] as const) {
      const input = { ...repoConfig, api: { routes: { [source]: { rateLimit: 1, burstLimit: 1 } } } };
      const attempt = () => buildApp(input, { nag: false, context: NO_BUNDLING });
      expect(attempt, reason).toThrow(ConfigError);
      expect(attempt, reason).toThrow(
        new RegExp(
          `api\\.routes\\.${source}: no webhook route for "${source}" \\(webhook sources: stripe, shop\\)`,
        ),
      );
    }
  });
});
