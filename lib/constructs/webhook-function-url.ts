import { Fn } from 'aws-cdk-lib';
import { type FunctionUrl, FunctionUrlAuthType, type IFunction, InvokeMode } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { RouteSpec } from '../../functions/core/topology.js';

export interface WebhookFunctionUrlProps {
  /** The webhook routes, from the topology: every one must target the same (ingest) function. */
  readonly routes: readonly RouteSpec[];

  /** The function the URL invokes (the ingest function's `live` alias, so CodeDeploy shifts it too). */
  readonly fn: IFunction;
}

/**
 * The cheap webhook front door (`api.ingress: 'function-url'`): a Lambda function URL on the ingest
 * alias, auth type NONE (providers sign each request; the handler verifies the signature before it
 * enqueues anything, G2), buffered responses. There are no routes: the handler reads the source from
 * `/webhooks/<source>` and answers 404 to any other path and 405 to any method but POST.
 *
 * What it does not have, next to {@link IngestApi}: per-route throttling (the ingest function's
 * reserved concurrency is the cap), access logs (the ingest function logs every accept and
 * rejection) and the USD 1.00 per million requests.
 */
export class WebhookFunctionUrl extends Construct {
  readonly url: FunctionUrl;
  private readonly webhookSources: readonly string[];

  constructor(scope: Construct, id: string, props: WebhookFunctionUrlProps) {
    super(scope, id);
    const targets = [...new Set(props.routes.map((route) => route.function))];
    if (targets.length > 1) {
      throw new Error(
        `A function URL fronts one function, but the webhook routes target ${targets.join(', ')}`,
      );
    }
    // Lambda's dual authorization for public URLs (lambda:InvokeFunctionUrl and
    // lambda:InvokeFunction with InvokedViaFunctionUrl) is added by addFunctionUrl for NONE.
    this.url = props.fn.addFunctionUrl({
      authType: FunctionUrlAuthType.NONE,
      invokeMode: InvokeMode.BUFFERED,
    });
    this.webhookSources = props.routes.map((route) => route.source);
  }

  /** The full URL a provider posts `source`'s webhooks to (a token until deploy). */
  urlFor(source: string): string {
    if (!this.webhookSources.includes(source)) {
      throw new Error(`No webhook route for source "${source}" (sources: ${this.webhookSources.join(', ')})`);
    }
    // The function URL ends with a slash.
    return Fn.join('', [this.url.url, `webhooks/${source}`]);
  }

  /** The sources that have a webhook URL, in topology order. */
  get sources(): readonly string[] {
    return this.webhookSources;
  }
}
