import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { acceptWebhook, type IngestDeps } from '../core/ingest.js';
import { describe } from './sqs-failure.js';

export interface IngestHandlerDeps extends IngestDeps {
  readonly logger: Logger;
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

function lowerCaseHeaders(headers: APIGatewayProxyEventV2['headers'] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {}))
    if (value !== undefined) out[name.toLowerCase()] = value;
  return out;
}

/**
 * The URL as the provider called it, which HubSpot signs: scheme from X-Forwarded-Proto (API Gateway
 * and the local server set it), host from Host, then the raw path and query.
 */
export function callerUrl(event: APIGatewayProxyEventV2, headers: Record<string, string>): string {
  const scheme = headers['x-forwarded-proto']?.split(',')[0]?.trim() || 'https';
  const host = headers.host ?? event.requestContext.domainName;
  return `${scheme}://${host}${event.rawPath}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`;
}

/** `/webhooks/<source>`, the one path webhooks are posted to (also the local front door's route). */
export const WEBHOOK_PATH = /^\/webhooks\/([^/]+)\/?$/;

/**
 * The source a webhook is for: the HTTP API route's `{source}`, or, behind a function URL (which has
 * no routes and hands over every path), read from `/webhooks/<source>`. Any other path gives '',
 * which no source is, so it is answered 404.
 */
export function webhookSource(event: APIGatewayProxyEventV2): string {
  const fromRoute = event.pathParameters?.source;
  if (fromRoute !== undefined) return fromRoute;
  const match = WEBHOOK_PATH.exec(event.rawPath ?? '');
  if (!match?.[1]) return '';
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return '';
  }
}

/**
 * POST /webhooks/{source} in the payload format 2.0 that both the HTTP API and a Lambda function URL
 * send (api.ingress).
 */
export function createIngestHandler(deps: IngestHandlerDeps) {
  const { logger } = deps;
  const acceptWebhookRequest = async (
    event: APIGatewayProxyEventV2,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const source = webhookSource(event);
    const rawBody =
      event.body === undefined
        ? Buffer.alloc(0)
        : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
    const headers = lowerCaseHeaders(event.headers);
    try {
      const result = await acceptWebhook(
        {
          source,
          method: event.requestContext.http.method,
          url: callerUrl(event, headers),
          headers,
          rawBody,
        },
        deps,
      );
      if (result.envelopes) {
        for (const envelope of result.envelopes) {
          logger.info('Webhook accepted', { source, correlationId: envelope.eventId, bytes: rawBody.length });
        }
      } else {
        // Never the body or the signature: only what was wrong.
        logger.warn('Webhook rejected', {
          source: source.slice(0, 64),
          status: result.status,
          error: result.body.error,
        });
      }
      return {
        statusCode: result.status,
        headers: result.status === 405 ? { ...JSON_HEADERS, allow: 'POST' } : JSON_HEADERS,
        body: JSON.stringify(result.body),
      };
    } catch (error) {
      logger.error('Webhook failed', { source: source.slice(0, 64), error: describe(error) });
      return {
        statusCode: 500,
        headers: JSON_HEADERS,
        body: JSON.stringify({
          error: 'internal_error',
          message: 'The hub could not take the event; retry later',
        }),
      };
    } finally {
      deps.telemetry.flush();
    }
  };
  return middy(acceptWebhookRequest).use(injectLambdaContext(logger, { resetKeys: true }));
}
