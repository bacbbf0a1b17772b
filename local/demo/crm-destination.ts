import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { listen } from '../http-server.js';
import { seededRandom } from './random.js';

/** One request the simulated CRM received, as it arrived. */
export interface CrmCall {
  readonly at: number;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: Record<string, unknown>;
  readonly status: number;
  /** Answered from the Idempotency-Key store: a repeated key, nothing written. */
  readonly replayed: boolean;
  /** The Retry-After the CRM answered with, if any. */
  readonly retryAfterSeconds?: number;
}

export interface CrmContact {
  readonly crmId: string;
  readonly id: string;
  readonly version: string;
  readonly deleted: boolean;
  readonly data: Record<string, unknown>;
  /** How many times the contact was written: more than one per version means a duplicate effect. */
  readonly writes: number;
  /** The versions written, in the order they were written. */
  readonly versions: readonly string[];
}

/** How the CRM misbehaves: answer `status` to the next `times` requests (Retry-After optional). */
export interface CrmFault {
  readonly status: number;
  readonly times: number;
  readonly retryAfterSeconds?: number;
  readonly body?: string;
}

/**
 * Flapping: until `restore()`, each request fails with probability `rate`, answering one of
 * `faults` (both choices drawn from a PRNG seeded with `seed`, so a run can be replayed).
 */
export interface CrmFlapping {
  readonly seed: number;
  readonly rate: number;
  readonly faults: readonly { readonly status: number; readonly retryAfterSeconds?: number }[];
}

/** A bug in the CRM that only some records hit: requests whose body `match`es fail until `clearRules()`. */
export interface CrmRule {
  readonly match: (body: Record<string, unknown>) => boolean;
  readonly status: number;
  readonly retryAfterSeconds?: number;
  readonly body?: string;
}

/**
 * The next `times` writes are applied (and their Idempotency-Key answer stored) but the caller never
 * learns it: the CRM answers `status`, or with `hang` it never answers at all.
 */
export type CrmAfterApplyFault =
  | { readonly times: number; readonly status: number; readonly hang?: never }
  | { readonly times: number; readonly hang: true; readonly status?: never };

export interface CrmDestination {
  readonly url: string;
  /** The writes (POSTs) it received; reads are in `reads`. */
  readonly calls: CrmCall[];
  /** The ids read with `GET /api/contacts/{id}` (what `shadow diff` does), in order. */
  readonly reads: string[];
  readonly contacts: Map<string, CrmContact>;
  /** Queue faults; they are consumed in order, one request at a time. */
  fail(fault: CrmFault): void;
  /** An outage: every request answers `status` until `restore()`. */
  outage(status: number): void;
  /** Random failures at a seeded rate until `restore()`. */
  flap(flapping: CrmFlapping): void;
  /** Ends an outage and flapping. */
  restore(): void;
  /** A record-specific failure, until `clearRules()` (the CRM's bug is fixed). */
  failWhen(rule: CrmRule): void;
  clearRules(): void;
  /** Apply the next writes, then fail or hang instead of answering. */
  applyThenFail(fault: CrmAfterApplyFault): void;
  stop(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

/**
 * A CRM-like contacts API speaking Switchyard's HTTP destination wire format: bearer auth,
 * Idempotency-Key honoured the way Stripe does it (a repeated key returns the first answer and
 * changes nothing), and faults on demand to exercise retries and quarantine.
 */
export async function startCrmDestination(
  options: {
    token?: string;
    port?: number /** Answer every request this much later. */;
    delayMs?: number;
  } = {},
): Promise<CrmDestination> {
  const calls: CrmCall[] = [];
  const reads: string[] = [];
  const contacts = new Map<string, CrmContact>();
  const faults: { status: number; left: number; retryAfterSeconds?: number; body?: string }[] = [];
  const answered = new Map<string, { status: number; body: string }>();
  let down: number | undefined;
  let flapping: { random: () => number; rate: number; faults: CrmFlapping['faults'] } | undefined;
  let rules: CrmRule[] = [];
  const afterApply: { left: number; status?: number; hang?: boolean }[] = [];

  const server: Server = createServer((req, res) => {
    void (async () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]),
      );
      let body: Record<string, unknown> = {};
      const reply = (status: number, text: string, extra: Record<string, string> = {}) => {
        const retryAfter = extra['retry-after'];
        calls.push({
          at: Date.now(),
          headers,
          body,
          status,
          replayed: extra['idempotent-replayed'] === 'true',
          ...(retryAfter === undefined ? {} : { retryAfterSeconds: Number(retryAfter) }),
        });
        res.writeHead(status, { 'content-type': 'application/json', ...extra });
        res.end(text);
      };
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      const read = req.method === 'GET' ? /^\/api\/contacts\/([^/?]+)$/.exec(req.url ?? '') : null;
      if (read?.[1] !== undefined) {
        // A read changes nothing, so it is kept apart from the writes in `calls`.
        const id = decodeURIComponent(read[1]);
        reads.push(id);
        res.setHeader('content-type', 'application/json');
        if (options.token && headers.authorization !== `Bearer ${options.token}`)
          return res.writeHead(401).end(JSON.stringify({ error: 'bad token' }));
        const contact = contacts.get(id);
        if (!contact) return res.writeHead(404).end(JSON.stringify({ error: 'no such contact' }));
        return res.writeHead(200).end(
          JSON.stringify({
            entity: 'customer',
            id: contact.id,
            version: contact.version,
            ...(contact.deleted ? { deleted: true } : {}),
            data: contact.data,
            crmId: contact.crmId,
          }),
        );
      }
      try {
        body = await readJson(req);
      } catch {
        return reply(400, JSON.stringify({ error: 'body is not JSON' }));
      }
      if (req.method !== 'POST' || !req.url?.startsWith('/api/contacts')) {
        return reply(404, JSON.stringify({ error: 'not found' }));
      }
      if (options.token && headers.authorization !== `Bearer ${options.token}`) {
        return reply(401, JSON.stringify({ error: 'bad token' }));
      }
      if (down !== undefined) return reply(down, JSON.stringify({ error: `simulated outage (${down})` }));
      const fault = faults[0];
      if (fault) {
        fault.left -= 1;
        if (fault.left <= 0) faults.shift();
        return reply(
          fault.status,
          fault.body ?? JSON.stringify({ error: `simulated ${fault.status}` }),
          fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) },
        );
      }
      if (flapping && flapping.random() < flapping.rate) {
        const pick = flapping.faults[Math.floor(flapping.random() * flapping.faults.length)];
        if (pick) {
          return reply(
            pick.status,
            JSON.stringify({ error: `simulated flapping ${pick.status}` }),
            pick.retryAfterSeconds === undefined ? {} : { 'retry-after': String(pick.retryAfterSeconds) },
          );
        }
      }
      const rule = rules.find((r) => r.match(body));
      if (rule) {
        return reply(
          rule.status,
          rule.body ?? JSON.stringify({ error: `simulated record-specific ${rule.status}` }),
          rule.retryAfterSeconds === undefined ? {} : { 'retry-after': String(rule.retryAfterSeconds) },
        );
      }
      const key = headers['idempotency-key'];
      if (!key) return reply(400, JSON.stringify({ error: 'Idempotency-Key is required' }));
      const previous = answered.get(key);
      if (previous) return reply(previous.status, previous.body, { 'idempotent-replayed': 'true' });
      const id = String(body.id);
      const existing = contacts.get(id);
      const contact: CrmContact = {
        crmId: existing?.crmId ?? `crm_${randomUUID().slice(0, 8)}`,
        id,
        version: String(body.version),
        deleted: body.deleted === true,
        data: (body.data as Record<string, unknown>) ?? {},
        writes: (existing?.writes ?? 0) + 1,
        versions: [...(existing?.versions ?? []), String(body.version)],
      };
      contacts.set(id, contact);
      const text = JSON.stringify({ id: contact.crmId });
      const status = existing ? 200 : 201;
      answered.set(key, { status, body: text });
      const lost = afterApply[0];
      if (lost) {
        lost.left -= 1;
        if (lost.left <= 0) afterApply.shift();
        if (lost.hang) {
          // Applied, and the connection stays open without an answer until the caller gives up.
          calls.push({ at: Date.now(), headers, body, status: 0, replayed: false });
          return;
        }
        return reply(lost.status ?? 502, JSON.stringify({ error: 'simulated failure after the write' }));
      }
      reply(status, text);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const url = await listen(server, '127.0.0.1', options.port ?? 0);
  return {
    url: `${url}/api/contacts`,
    calls,
    reads,
    contacts,
    outage(status) {
      down = status;
    },
    flap(options) {
      if (!(options.rate >= 0 && options.rate <= 1))
        throw new Error(`flap rate must be between 0 and 1, got ${options.rate}`);
      flapping = { random: seededRandom(options.seed), rate: options.rate, faults: options.faults };
    },
    restore() {
      down = undefined;
      flapping = undefined;
    },
    failWhen(rule) {
      rules.push(rule);
    },
    clearRules() {
      rules = [];
    },
    applyThenFail(fault) {
      afterApply.push({
        left: fault.times,
        ...(fault.hang ? { hang: true } : { status: fault.status }),
      });
    },
    fail(fault) {
      faults.push({
        status: fault.status,
        left: fault.times,
        ...(fault.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: fault.retryAfterSeconds }),
        ...(fault.body === undefined ? {} : { body: fault.body }),
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
