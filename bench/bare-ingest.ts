import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * The bare baseline for ingest: a minimal node:http server that verifies Stripe's signature (the
 * same HMAC-SHA256 over `${t}.${body}`, the same 300 s tolerance) and does one SendMessage. It
 * wraps the event in the same envelope Switchyard's ingest sends, so whatever consumes the queue
 * does the same work for both. Nothing else: no config, no middleware, no logging, no metrics.
 */
export interface BareIngest {
  readonly url: string;
  stop(): Promise<void>;
}

export interface BareIngestOptions {
  readonly secret: string;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly source?: string;
  readonly toleranceSeconds?: number;
  /** Called with each request's handling time (what Lambda would bill for it). */
  readonly onRequest?: (ms: number) => void;
}

const MAX_BODY = 256 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function verify(header: string | undefined, body: Buffer, secret: string, tolerance: number): boolean {
  if (!header) return false;
  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.split('=', 2);
    if (key === 't') timestamp = value;
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/.test(value))
      signatures.push(Buffer.from(value, 'hex'));
  }
  if (!timestamp || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > tolerance) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
  return signatures.some((signature) => timingSafeEqual(signature, expected));
}

export async function startBareIngest(options: BareIngestOptions): Promise<BareIngest> {
  const source = options.source ?? 'stripe';
  const tolerance = options.toleranceSeconds ?? 300;
  const server: Server = createServer((req, res) => {
    const started = performance.now();
    const reply = (status: number, body: string) => {
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      options.onRequest?.(performance.now() - started);
    };
    void (async () => {
      const body = await readBody(req);
      if (!body) return reply(413, '{"error":"body_too_large"}');
      const signature = req.headers['stripe-signature'];
      if (!verify(Array.isArray(signature) ? signature[0] : signature, body, options.secret, tolerance))
        return reply(400, '{"error":"bad_signature"}');
      const text = body.toString('utf8');
      let eventId: unknown;
      try {
        eventId = (JSON.parse(text) as { id?: unknown }).id;
      } catch {
        return reply(400, '{"error":"malformed_body"}');
      }
      if (typeof eventId !== 'string') return reply(400, '{"error":"no_event_id"}');
      await options.sqs.send(
        new SendMessageCommand({
          QueueUrl: options.queueUrl,
          MessageBody: JSON.stringify({
            v: 1,
            source,
            eventId,
            receivedAt: Date.now(),
            headers: {},
            body: text,
          }),
        }),
      );
      reply(202, JSON.stringify({ eventId }));
    })().catch(() => {
      if (!res.headersSent) reply(503, '{"error":"queue_unavailable"}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/${source}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
