import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ConsoleApi, UnknownQueueError } from './api.js';

/**
 * The console's routes on the local hub's HTTP server:
 *
 *   GET  /                              the page (static HTML, JS and CSS from local/console/)
 *   GET  /_switchyard/console           the hub's flows, sources and queues
 *   GET  /_switchyard/quarantine        quarantined records with their reasons (never payloads)
 *   GET  /_switchyard/events/{eventId}  what the hub knows of one event
 *   GET  /_switchyard/entities/{key}    every event that touched an entity (canonical id or system:externalId)
 *   POST /_switchyard/redrive/{queue}   moves a queue's dead letters back to it; body `{"by": name}` optional
 *
 * Every answer carries a strict Content-Security-Policy (`default-src 'self'`, no inline script or
 * style, no framing). The page is for the machine it runs on: requests whose Host is not a loopback
 * name are refused (DNS rebinding), and the redrive POST must be JSON from the page's own origin, so
 * another site open in the same browser cannot trigger it (a cross-site JSON POST needs a CORS
 * preflight this server never grants).
 */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

const STATIC: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/console/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

const CONSOLE_DIR = new URL('./', import.meta.url);
const EVENT_PATH = /^\/_switchyard\/events\/([^/]{1,256})$/;
const ENTITY_PATH = /^\/_switchyard\/entities\/([^/]{1,512})$/;
const REDRIVE_PATH = /^\/_switchyard\/redrive\/([a-z][a-z0-9-]{0,80})$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    ...CONSOLE_HEADERS,
    ...extra,
  });
  res.end(body);
}

/** A small JSON body, or undefined (none, too large, not JSON): the redrive's optional `by`. */
async function readSmall(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= 4096) chunks.push(chunk);
  }
  if (size === 0 || size > 4096) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  send(res, status, 'application/json', JSON.stringify(body), extra);
}

/** The Host header's name part, lower-cased: `127.0.0.1:3000` -> `127.0.0.1`, `[::1]:3000` -> `[::1]`. */
function hostName(host: string | undefined): string {
  if (!host) return '';
  const value = host.trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1);
  return value.split(':')[0] ?? '';
}

/**
 * Why a request to an operator route must be refused, if it must: a Host that is not this machine
 * (DNS rebinding would let another site read the answers), or a state-changing request another
 * site's page sent (a browser names its origin; the CLI and scripts on this machine send none).
 */
export function operatorRefusal(
  req: IncomingMessage,
  listenHost: string,
): { status: number; body: { error: string; message: string } } | undefined {
  const host = hostName(req.headers.host);
  if (!LOOPBACK.has(host) && host !== hostName(listenHost)) {
    return {
      status: 421,
      body: { error: 'misdirected', message: 'The operator API answers on its loopback address only' },
    };
  }
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const origin = req.headers.origin;
  const fetchSite = req.headers['sec-fetch-site'];
  const sameOrigin =
    (origin === undefined || origin === `http://${req.headers.host}`) &&
    (fetchSite === undefined || fetchSite === 'same-origin' || fetchSite === 'none');
  return sameOrigin
    ? undefined
    : {
        status: 403,
        body: {
          error: 'forbidden',
          message: 'Operator actions come from this machine, not from another site',
        },
      };
}

export function isConsolePath(path: string): boolean {
  return (
    path in STATIC ||
    path === '/_switchyard/console' ||
    path === '/_switchyard/quarantine' ||
    EVENT_PATH.test(path) ||
    ENTITY_PATH.test(path) ||
    REDRIVE_PATH.test(path)
  );
}

/**
 * Answers a console request. Returns false, without answering, when `path` is not one of its routes.
 *
 * @param listenHost the host the server listens on; requests naming it are accepted too
 */
export async function handleConsole(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  api: ConsoleApi,
  listenHost: string,
): Promise<boolean> {
  if (!isConsolePath(path)) return false;
  const host = hostName(req.headers.host);
  if (!LOOPBACK.has(host) && host !== hostName(listenHost)) {
    json(res, 421, { error: 'misdirected', message: 'The console answers on its loopback address only' });
    return true;
  }

  const page = STATIC[path];
  if (page) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'method_not_allowed', message: 'GET only' }, { allow: 'GET' });
      return true;
    }
    send(res, 200, page.type, await readFile(new URL(page.file, CONSOLE_DIR)));
    return true;
  }

  const redrive = REDRIVE_PATH.exec(path);
  if (redrive) {
    if (req.method !== 'POST') {
      json(res, 405, { error: 'method_not_allowed', message: 'Redrive is a POST' }, { allow: 'POST' });
      return true;
    }
    const body = await readSmall(req);
    const origin = req.headers.origin;
    const fetchSite = req.headers['sec-fetch-site'];
    const sameOrigin =
      (origin === undefined || origin === `http://${req.headers.host}`) &&
      (fetchSite === undefined || fetchSite === 'same-origin' || fetchSite === 'none');
    if (!sameOrigin || !/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      json(res, 403, {
        error: 'forbidden',
        message: 'Redrive takes a JSON POST from the console page (or a script on this machine)',
      });
      return true;
    }
    try {
      // Who redrove, for the audit trail: a name only, as `switchyard redrive --by` checks it.
      const by = (body as { by?: unknown } | undefined)?.by;
      json(
        res,
        200,
        await api.redrive(
          redrive[1] ?? '',
          typeof by === 'string' && /^[\w.@-]{1,64}$/.test(by) ? by : undefined,
        ),
      );
    } catch (error) {
      if (error instanceof UnknownQueueError)
        json(res, 404, { error: 'unknown_queue', message: error.message });
      else throw error;
    }
    return true;
  }

  if (req.method !== 'GET') {
    json(res, 405, { error: 'method_not_allowed', message: 'GET only' }, { allow: 'GET' });
    return true;
  }
  if (path === '/_switchyard/console') {
    json(res, 200, api.info());
    return true;
  }
  if (path === '/_switchyard/quarantine') {
    json(res, 200, await api.quarantine());
    return true;
  }
  const entity = ENTITY_PATH.exec(path);
  if (entity) {
    let key: string;
    try {
      key = decodeURIComponent(entity[1] ?? '');
    } catch {
      json(res, 400, { error: 'bad_entity_id', message: 'The entity id is not valid percent-encoding' });
      return true;
    }
    json(res, 200, api.findEntity(key));
    return true;
  }
  const event = EVENT_PATH.exec(path);
  let eventId: string;
  try {
    eventId = decodeURIComponent(event?.[1] ?? '');
  } catch {
    json(res, 400, { error: 'bad_event_id', message: 'The event id is not valid percent-encoding' });
    return true;
  }
  json(res, 200, await api.findEvent(eventId));
  return true;
}
