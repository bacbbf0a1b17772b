import { createServer, type IncomingMessage, type Server } from 'node:http';
import { listen } from '../http-server.js';

export interface HubSpotContact {
  readonly id: string;
  properties: Record<string, string>;
  archived: boolean;
  writes: number;
}

export interface HubSpotApi {
  /** Base URL, like https://api.hubapi.com */
  readonly url: string;
  readonly contacts: Map<string, HubSpotContact>;
  readonly calls: { path: string; status: number; body: unknown }[];
  /** The next `times` calls answer 429 (HubSpot's secondly limit), with Retry-After when given. */
  rateLimit(times: number, retryAfterSeconds?: number): void;
  stop(): Promise<void>;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
}

/**
 * A HubSpot-like CRM v3 contacts API: batch upsert by email (200, 207 multi-status when some inputs
 * are invalid, 400 when all are), batch archive, bearer auth, and the 429 rate-limit answer.
 */
export async function startHubSpotApi(options: { token: string }): Promise<HubSpotApi> {
  const contacts = new Map<string, HubSpotContact>();
  const calls: HubSpotApi['calls'] = [];
  let limited = 0;
  let retryAfter: number | undefined;
  let nextId = 1000;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const body = await readJson(req).catch(() => undefined);
      const reply = (status: number, json: unknown, headers: Record<string, string> = {}) => {
        calls.push({ path, status, body });
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(json));
      };
      if (req.headers.authorization !== `Bearer ${options.token}`) {
        return reply(401, {
          status: 'error',
          message: 'Authentication credentials not found.',
          category: 'INVALID_AUTHENTICATION',
        });
      }
      if (limited > 0) {
        limited -= 1;
        return reply(
          429,
          {
            status: 'error',
            message: 'You have reached your secondly limit.',
            errorType: 'RATE_LIMIT',
            policyName: 'SECONDLY',
          },
          retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) },
        );
      }
      const inputs = (body?.inputs ?? []) as {
        id?: string;
        idProperty?: string;
        properties?: Record<string, string>;
      }[];
      if (req.method === 'POST' && path === '/crm/v3/objects/contacts/batch/upsert') {
        const results: unknown[] = [];
        const errors: unknown[] = [];
        for (const input of inputs) {
          const email = input.id ?? '';
          if (input.idProperty !== 'email' || !EMAIL.test(email)) {
            errors.push({
              status: 'error',
              category: 'VALIDATION_ERROR',
              message: `Property values were not valid: email "${email}"`,
              context: { id: [email] },
            });
            continue;
          }
          const existing = contacts.get(email);
          const contact: HubSpotContact = existing ?? {
            id: String(nextId++),
            properties: {},
            archived: false,
            writes: 0,
          };
          contact.properties = { ...contact.properties, ...input.properties };
          contact.archived = false;
          contact.writes += 1;
          contacts.set(email, contact);
          results.push({ id: contact.id, properties: contact.properties, new: !existing });
        }
        if (errors.length > 0 && results.length === 0) {
          return reply(400, {
            status: 'error',
            category: 'VALIDATION_ERROR',
            message: 'Property values were not valid',
            errors,
          });
        }
        return reply(errors.length > 0 ? 207 : 200, {
          status: 'COMPLETE',
          results,
          ...(errors.length > 0 ? { errors, numErrors: errors.length } : {}),
        });
      }
      const read = /^\/crm\/v3\/objects\/contacts\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && read?.[1] !== undefined) {
        // By id, or by email with ?idProperty=email; only the properties asked for, as HubSpot does.
        const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
        const key = decodeURIComponent(read[1]);
        const found =
          query.get('idProperty') === 'email'
            ? contacts.get(key)
            : [...contacts.values()].find((c) => c.id === key);
        if (!found || found.archived)
          return reply(404, { status: 'error', category: 'OBJECT_NOT_FOUND', message: `No contact ${key}` });
        const asked = (query.get('properties') ?? '').split(',').filter(Boolean);
        return reply(200, {
          id: found.id,
          properties: {
            ...Object.fromEntries(asked.map((name) => [name, found.properties[name] ?? null])),
            hs_object_id: found.id,
          },
          archived: false,
        });
      }
      const byId = /^\/crm\/v3\/objects\/contacts\/(\w+)$/.exec(path);
      if (req.method === 'PATCH' && byId) {
        const contact = [...contacts.entries()].find(([, c]) => c.id === byId[1]);
        if (!contact)
          return reply(404, {
            status: 'error',
            category: 'OBJECT_NOT_FOUND',
            message: `No contact ${byId[1]}`,
          });
        const [oldEmail, found] = contact;
        const properties = (body?.properties ?? {}) as Record<string, string>;
        const email = properties.email ?? oldEmail;
        if (!EMAIL.test(email))
          return reply(400, {
            status: 'error',
            category: 'VALIDATION_ERROR',
            message: `Property values were not valid: email "${email}"`,
          });
        found.properties = { ...found.properties, ...properties };
        found.writes += 1;
        contacts.delete(oldEmail);
        contacts.set(email, found);
        return reply(200, { id: found.id, properties: found.properties });
      }
      if (req.method === 'POST' && path === '/crm/v3/objects/contacts/batch/archive') {
        for (const input of inputs) {
          for (const contact of contacts.values()) if (contact.id === input.id) contact.archived = true;
        }
        return reply(204, {});
      }
      reply(404, { status: 'error', message: `No route ${req.method} ${path}` });
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const url = await listen(server, '127.0.0.1', 0);
  return {
    url,
    contacts,
    calls,
    rateLimit(times, seconds) {
      limited = times;
      retryAfter = seconds;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
