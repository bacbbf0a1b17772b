/**
 * What the call floors share (see route.ts): the hello world's logger and handler shape, env read
 * once, and an HTTP call on node:http (what the hub's connectors use, without their code).
 */
import { request } from 'node:http';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';

export const logger = new Logger({ serviceName: 'call-floor' });

export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

export function httpCall(
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: payload === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          'idempotency-key': `floor-${Date.now()}-${Math.random()}`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
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
