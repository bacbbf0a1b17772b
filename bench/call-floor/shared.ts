/**
 * What the call floors share (see route.ts): the hello world's logger and handler shape, env read
 * once, and an HTTP call through the hub's outbound client.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { nodeHttpFetch } from '../../functions/connectors/node-http.js';

export const logger = new Logger({ serviceName: 'call-floor' });

export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/**
 * An HTTP call through the hub's own outbound client (functions/connectors/node-http.ts), as the
 * SDK calls go through the SDK's: the floor is the calls with the clients the function uses.
 */
export async function httpCall(
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  const response = await nodeHttpFetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'idempotency-key': `floor-${randomUUID()}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.text() };
}

/** A handler that logs as hello world does and fails loudly if a call did not do its work. */
export function floorHandler(
  calls: (event: { n?: number }) => Promise<void>,
): (event: { n?: number }, context: Context) => Promise<{ statusCode: number }> {
  return async (event, context) => {
    logger.addContext(context);
    await calls(event);
    logger.info('Calls done');
    return { statusCode: 200 };
  };
}
