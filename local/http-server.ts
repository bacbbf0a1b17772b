import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { WEBHOOK_PATH } from '../functions/handlers/ingest-handler.js';
import type { ConsoleApi } from './console/api.js';
import { handleConsole, operatorRefusal } from './console/http.js';
import type { OpsRoutes } from './ops-routes.js';

export type IngestInvoker = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface HubServerOptions {
  readonly host: string;
  readonly port: number;
  /** Bodies are read up to this many bytes plus one, so the ingest handler can answer 413 itself. */
  readonly maxBodyBytes: number;
  readonly invokeIngest: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
  readonly stats: () => Promise<unknown>;
  readonly isDraining: () => boolean;
  /** The console at `/` and its endpoints (local/console/http.ts); without it they answer 404. */
  readonly console?: ConsoleApi;
  /** `POST /_switchyard/poll/{source}`: one poll now (what `switchyard poll <source>` calls). */
  readonly pollNow?: (source: string) => Promise<unknown>;
  /** The operator API under /_switchyard/ops/ (quarantine, backfill, quality). */
  readonly ops?: OpsRoutes;
  /**
   * Which AWS front door the webhook route stands in for (`api.ingress`): the HTTP API routes POST
   * only and hands over `{source}`; a function URL passes any method and only the raw path, so the
   * ingest handler checks both itself.
   *
   * @default 'http-api'
   */
  readonly ingress?: 'http-api' | 'function-url';
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...SECURITY_HEADERS,
    ...extra,
  });
  res.end(text);
}

/** Reads at most `limit + 1` bytes and discards the rest, so a huge body cannot exhaust memory. */
async function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let kept = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    const room = limit + 1 - kept;
    const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
    chunks.push(piece);
    kept += piece.length;
    // One byte over the limit is enough to answer 413: stop reading, do not wait for the rest.
    if (kept > limit) return { body: Buffer.concat(chunks), truncated: true };
  }
  return { body: Buffer.concat(chunks), truncated: false };
}

/** The request as API Gateway's HTTP API (payload 2.0) hands it to the ingest function. */
export function apiGatewayEvent(
  req: IncomingMessage,
  source: string,
  body: Buffer,
  ingress: 'http-api' | 'function-url' = 'http-api',
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  // API Gateway tells the function how the caller connected; so does the local stand-in.
  headers['x-forwarded-proto'] ??= 'http';
  const url = new URL(req.url ?? '/', 'http://localhost');
  const now = Date.now();
  const routeKey = ingress === 'function-url' ? '$default' : 'POST /webhooks/{source}';
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    ...(ingress === 'function-url' ? {} : { pathParameters: { source } }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'POST',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        // The socket is gone once an oversize body was cut short.
        sourceIp: req.socket?.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    // Base64 always, so the exact bytes (even invalid UTF-8) reach the signature check.
    body: body.toString('base64'),
    isBase64Encoded: true,
  };
}

/** The local front door: the webhook route, health, stats and the console. */
export function createHubServer(options: HubServerOptions): Server {
  return createServer((req, res) => {
    void handle(req, res, options).catch((error: unknown) => {
      if (!res.headersSent) {
        sendJson(res, 500, {
          error: 'internal_error',
          message: 'The local hub failed to handle the request',
        });
      } else {
        res.destroy(error instanceof Error ? error : undefined);
      }
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, options: HubServerOptions): Promise<void> {
  let path: string;
  try {
    path = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    req.resume();
    return sendJson(res, 400, {
      error: 'bad_request_target',
      message: 'The request target is not a valid URL path',
    });
  }
  if (path === '/_switchyard/health') {
    if (options.isDraining()) return sendJson(res, 503, { ok: false, draining: true });
    return sendJson(res, 200, { ok: true });
  }
  if (path === '/_switchyard/stats' && req.method === 'GET') return sendJson(res, 200, await options.stats());
  if (path.startsWith('/_switchyard/ops/') || path.startsWith('/_switchyard/poll/')) {
    const refusal = operatorRefusal(req, options.host);
    if (refusal) {
      req.resume();
      return sendJson(res, refusal.status, refusal.body);
    }
  }
  const poll = /^\/_switchyard\/poll\/([a-z][a-z0-9-]{0,30})$/.exec(path);
  if (poll && req.method === 'POST' && options.pollNow) {
    try {
      return sendJson(res, 200, await options.pollNow(poll[1] ?? ''));
    } catch (error) {
      return sendJson(res, 502, { error: 'poll_failed', message: (error as Error).message });
    }
  }
  if (options.ops && (await options.ops(req, res, path))) return;
  if (options.console && (await handleConsole(req, res, path, options.console, options.host))) return;
  const webhook = WEBHOOK_PATH.exec(path);
  if (webhook) {
    if (req.method !== 'POST' && options.ingress !== 'function-url') {
      return sendJson(
        res,
        405,
        { error: 'method_not_allowed', message: 'Webhooks are POSTed' },
        { allow: 'POST' },
      );
    }
    if (options.isDraining()) {
      req.resume();
      return sendJson(res, 503, { error: 'shutting_down', message: 'The hub is shutting down; retry later' });
    }
    // A declared length over the limit is answered before a byte of the body is read.
    const declared = Number(req.headers['content-length'] ?? 0);
    const { body, truncated } =
      declared > options.maxBodyBytes
        ? { body: Buffer.alloc(options.maxBodyBytes + 1), truncated: true }
        : await readBody(req, options.maxBodyBytes);
    if (truncated) {
      // The rest of the body is never read: close the connection once the answer is out.
      res.setHeader('connection', 'close');
      res.once('finish', () => req.destroy());
    }
    let source: string;
    try {
      source = decodeURIComponent(webhook[1] ?? '');
    } catch {
      req.resume();
      return sendJson(res, 400, {
        error: 'bad_request_target',
        message: 'The source name is not valid percent-encoding',
      });
    }
    const result = await options.invokeIngest(apiGatewayEvent(req, source, body, options.ingress));
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
    res.writeHead(result.statusCode ?? 200, { ...SECURITY_HEADERS, ...headers });
    res.end(result.body ?? '');
    return;
  }
  sendJson(res, 404, { error: 'not_found', message: `Nothing at ${req.method} ${path.slice(0, 100)}` });
}

export async function listen(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return `http://${host}:${address.port}`;
}
