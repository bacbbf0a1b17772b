import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  HttpApi,
  HttpMethod,
  type HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULT_API_THROTTLE } from '../../functions/core/config-schema.js';
import type { RouteSpec } from '../../functions/core/topology.js';
import { acknowledge } from './nag.js';

/**
 * Default stage throttling when none is given: the config's `api.throttle` default, which the stack
 * passes.
 */
export const DEFAULT_THROTTLE: Required<ThrottleSettings> = { ...DEFAULT_API_THROTTLE };

export interface IngestApiProps {
  /** The webhook routes, from the topology: one `POST /webhooks/{source}` per source. */
  readonly routes: readonly RouteSpec[];

  /** The functions the routes invoke, by topology function key (`RouteSpec.function`). */
  readonly handlers: ReadonlyMap<string, IFunction>;

  /**
   * Name of the HTTP API.
   *
   * @default - the construct id
   */
  readonly apiName?: string;

  /**
   * Throttling of the default stage, applied to every route. Requests above it get 429, which
   * webhook providers retry.
   *
   * @default - burst 100 requests, 50 requests per second ({@link DEFAULT_THROTTLE})
   */
  readonly throttle?: ThrottleSettings;

  /**
   * Throttling of single sources' routes, by source name, replacing the stage throttling for that
   * route (API Gateway applies route settings instead of the stage's default route settings). Every
   * name must have a route; an unknown one throws.
   *
   * @default - every route has the stage throttling
   */
  readonly routeThrottles?: Readonly<Record<string, Required<ThrottleSettings>>>;

  /**
   * Retention of the access log group.
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: RetentionDays;
}

/**
 * The webhook front door: an HTTP API (API Gateway v2) with one `POST` route per topology route,
 * each integrated with its Lambda function (payload format 2.0), on an auto-deployed `$default`
 * stage with default-route throttling, per-route throttling where asked for (the stage's
 * `RouteSettings`, keyed by route key, e.g. `POST /webhooks/stripe`), and JSON access logs in their
 * own log group.
 *
 * Access logs record the request id, route, status, latencies and caller, never headers or bodies
 * (signatures and payloads stay out of the logs, G2).
 */
export class IngestApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroup: LogGroup;
  private readonly paths = new Map<string, string>();
  private readonly routes = new Map<string, { key: string; routes: readonly HttpRoute[] }>();

  constructor(scope: Construct, id: string, props: IngestApiProps) {
    super(scope, id);

    this.api = new HttpApi(this, 'Api', {
      apiName: props.apiName,
      description: 'Switchyard webhooks: POST /webhooks/{source}',
      createDefaultStage: false,
    });

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? RetentionDays.ONE_MONTH,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...DEFAULT_THROTTLE, ...props.throttle },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            responseLatencyMs: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationLatencyMs: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
            sourceIp: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
          }),
        ),
      },
    });

    const integrations = new Map<string, HttpLambdaIntegration>();
    for (const route of props.routes) {
      const handler = props.handlers.get(route.function);
      if (!handler) {
        throw new Error(
          `Route ${route.method} ${route.path} targets function "${route.function}", which the stack does not have`,
        );
      }
      if (this.paths.has(route.source)) {
        throw new Error(`Two routes for source "${route.source}"`);
      }
      let integration = integrations.get(route.function);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${route.function}Integration`, handler);
        integrations.set(route.function, integration);
      }
      const routes: HttpRoute[] = this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
      });
      for (const httpRoute of routes) {
        acknowledge(
          httpRoute,
          'AwsSolutions-APIG4',
          `Webhook providers cannot sign in to API Gateway authorizers; they sign each request instead. The ${route.function} function verifies the ${route.source} signature over the raw body (constant-time compare, replay window, secret rotation) and answers 401 before anything is enqueued (G2).`,
        );
      }
      this.paths.set(route.source, route.path);
      this.routes.set(route.source, {
        key: HttpRouteKey.with(route.path, HttpMethod[route.method]).key,
        routes,
      });
    }

    const routeThrottles = Object.entries(props.routeThrottles ?? {});
    if (routeThrottles.length > 0) {
      const settings: Record<string, { ThrottlingBurstLimit: number; ThrottlingRateLimit: number }> = {};
      for (const [source, throttle] of routeThrottles) {
        const route = this.routes.get(source);
        if (!route) {
          throw new Error(
            `Route throttling for source "${source}", which has no webhook route (routes: ${[...this.paths.keys()].join(', ') || 'none'})`,
          );
        }
        // CloudFormation rejects a stage whose RouteSettings name a route that does not exist yet.
        for (const httpRoute of route.routes) this.stage.node.addDependency(httpRoute);
        settings[route.key] = {
          ThrottlingBurstLimit: throttle.burstLimit,
          ThrottlingRateLimit: throttle.rateLimit,
        };
      }
      // No L2 for route settings in aws-cdk-lib; the L1 property is a JSON map passed through as is.
      (this.stage.node.defaultChild as CfnStage).routeSettings = settings;
    }
  }

  /** The full URL a provider posts `source`'s webhooks to (a token until deploy). */
  urlFor(source: string): string {
    const routePath = this.paths.get(source);
    if (routePath === undefined) {
      throw new Error(
        `No webhook route for source "${source}" (sources: ${[...this.paths.keys()].join(', ')})`,
      );
    }
    return `${this.api.apiEndpoint}${routePath}`;
  }

  /** The sources that have a route, in topology order. */
  get sources(): readonly string[] {
    return [...this.paths.keys()];
  }
}
