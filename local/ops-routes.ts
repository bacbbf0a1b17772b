import type { IncomingMessage, ServerResponse } from 'node:http';
import { nodeHttpFetch } from '../functions/connectors/node-http.js';
import { ENTITIES, type Entity } from '../functions/core/config.js';
import {
  backfillPage,
  type CanonicalReplayFilter,
  type OpsDeps,
  OpsError,
  parseBackfillPageSize,
  qualityReport,
  REPLAY_STATES,
  replayFromCanonical,
  replayQuarantined,
} from '../functions/core/ops.js';
import type { AuditEntry } from '../functions/core/ports.js';
import { ReconcileError, reconcileDocumentName, reconcileFlow } from '../functions/core/reconcile.js';
import { promoteShadow, shadowDiff } from '../functions/core/shadow-ops.js';
import { deriveTopology } from '../functions/core/topology.js';

/**
 * The local hub's operator API under /_switchyard/ops/, what `switchyard quarantine|backfill|quality`
 * call: the same core functions an operator runs against AWS.
 *
 *   GET  /_switchyard/ops/quarantine[?after=]       list (reasons, no payloads)
 *   GET  /_switchyard/ops/quarantine/<key>          one, with its payload
 *   POST /_switchyard/ops/quarantine/<key>/replay   replay it through the current code
 *   POST /_switchyard/ops/backfill/<flow>[?after=&limit=]   one page of a backfill
 *   GET  /_switchyard/ops/quality?entity=&source=   the data quality report
 *   POST /_switchyard/ops/replay/canonical         replay from the canonical store: {filter, dryRun, by?}
 *   POST /_switchyard/ops/redrives                  records a redrive: {queue, moved, by, error?}
 *   GET  /_switchyard/ops/redrives[?limit=]         the recorded redrives, newest first
 *   GET  /_switchyard/ops/shadow/<flow>/diff        what a shadow flow would change at its destinations
 *   POST /_switchyard/ops/shadow/<flow>/promote     send what it recorded, now that it is live
 *   POST /_switchyard/ops/reconcile/<flow>[?since=&until=&repair=1]   reconcile a window (default:
 *        the flow's reconcile.windowHours, else 24 h, up to now), and repair when asked
 *   GET  /_switchyard/ops/reconcile/<flow>          the last stored report
 */
export type OpsRoutes = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;

function send(res: ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
  return true;
}

/** One redrive as `switchyard redrive` records it: who moved how many dead letters back, and when. */
export interface RedriveAudit {
  /** The queue's key in the topology (`inbound`, `deliver-<destination>`). */
  readonly queue: string;
  readonly moved: number;
  readonly by: string;
  /** ISO time the hub recorded it. */
  readonly at: string;
  /** Set when the redrive stopped early. */
  readonly error?: string;
}

/** The document listing the redrive documents' names (OpsStore reads documents by name only). */
const REDRIVE_INDEX = 'redrives#index';
const REDRIVE_INDEX_SIZE = 1000;
const MAX_AUDIT_BODY_BYTES = 4096;

async function readSmallJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_AUDIT_BODY_BYTES) throw new OpsError('The body is too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new OpsError('The body is not JSON');
  }
}

function toAudit(body: unknown, queues: readonly string[], at: string): RedriveAudit {
  const value = (body ?? {}) as Record<string, unknown>;
  const { queue, moved, by, error } = value;
  if (typeof queue !== 'string' || !queues.includes(queue))
    throw new OpsError(`queue must be one of ${queues.join(', ')}`);
  if (typeof moved !== 'number' || !Number.isSafeInteger(moved) || moved < 0)
    throw new OpsError('moved must be a whole number, 0 or more');
  if (typeof by !== 'string' || !/^[\w.@-]{1,64}$/.test(by))
    throw new OpsError('by must name the operator (letters, digits, . _ @ -, at most 64)');
  if (error !== undefined && typeof error !== 'string') throw new OpsError('error must be a string');
  return { queue, moved, by, at, ...(error ? { error: error.slice(0, 500) } : {}) };
}

const OPERATOR = /^[\w.@-]{1,64}$/;

/** The filter of a replay from the canonical store, checked field by field. */
function toReplayRequest(body: unknown): { filter: CanonicalReplayFilter; dryRun: boolean; by?: string } {
  const value = (body ?? {}) as Record<string, unknown>;
  const raw = (value.filter ?? {}) as Record<string, unknown>;
  const filter: Record<string, string | number> = {};
  for (const field of ['source', 'flow', 'destination', 'entity', 'id', 'eventId'] as const) {
    const v = raw[field];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length === 0 || v.length > 256)
      throw new OpsError(`filter.${field} must be a non-empty string`);
    filter[field] = v;
  }
  if (filter.entity !== undefined && !ENTITIES.includes(filter.entity as Entity))
    throw new OpsError(`filter.entity must be one of ${ENTITIES.join(', ')}`);
  for (const field of ['since', 'until'] as const) {
    const v = raw[field];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new OpsError(`filter.${field} must be epoch ms`);
    filter[field] = v;
  }
  if (raw.state !== undefined) {
    if (typeof raw.state !== 'string' || !(REPLAY_STATES as readonly string[]).includes(raw.state))
      throw new OpsError(`filter.state must be one of ${REPLAY_STATES.join(', ')}`);
    filter.state = raw.state;
  }
  if (value.by !== undefined && (typeof value.by !== 'string' || !OPERATOR.test(value.by)))
    throw new OpsError('by must name the operator (letters, digits, . _ @ -, at most 64)');
  return {
    filter: filter as CanonicalReplayFilter,
    dryRun: value.dryRun === true,
    ...(typeof value.by === 'string' ? { by: value.by } : {}),
  };
}

/**
 * @param auditEntries the audit trail's entries, what replay from the canonical store selects by
 *   (without it, that route answers 400)
 */
export function createOpsRoutes(deps: OpsDeps, auditEntries?: () => readonly AuditEntry[]): OpsRoutes {
  const queueKeys = deriveTopology(deps.config).queues.map((q) => q.key);
  // Index updates are read-modify-write: one at a time within this process.
  let indexWrites: Promise<unknown> = Promise.resolve();
  const recordRedrive = (audit: RedriveAudit): Promise<string> => {
    const name = `redrive#${audit.at}#${audit.queue}`;
    const write = indexWrites.then(async () => {
      await deps.ops.putDocument(name, audit);
      const index = (await deps.ops.getDocument<{ names: string[] }>(REDRIVE_INDEX)) ?? { names: [] };
      await deps.ops.putDocument(REDRIVE_INDEX, {
        names: [...index.names.filter((n) => n !== name), name].slice(-REDRIVE_INDEX_SIZE),
      });
      return name;
    });
    indexWrites = write.catch(() => undefined);
    return write;
  };

  const reconcile = (flowName: string, query: URLSearchParams) => {
    const { state, secrets } = deps;
    if (!state || !secrets)
      throw new OpsError('This hub was started without the state and secrets reconcile reads');
    const time = (name: string): number | undefined => {
      const value = query.get(name);
      if (value === null) return undefined;
      const ms = Date.parse(value);
      if (Number.isNaN(ms))
        throw new OpsError(`${name} must be an ISO time, such as 2024-05-01T12:00:00Z (got "${value}")`);
      return ms;
    };
    const flow = deps.config.flows.find((f) => f.name === flowName);
    const until = time('until') ?? deps.clock.now();
    const since = time('since') ?? until - (flow?.reconcile?.windowHours ?? 24) * 3_600_000;
    return reconcileFlow(
      flowName,
      { since, until },
      {
        config: deps.config,
        state,
        ops: deps.ops,
        telemetry: deps.telemetry,
        clock: deps.clock,
        secrets,
        fetch: deps.fetch ?? nodeHttpFetch,
        inbound: deps.inbound,
        deliveryQueues: deps.deliveryQueues,
        ...(deps.audit ? { audit: deps.audit } : {}),
      },
      { repair: query.get('repair') === '1' },
    );
  };

  return async (req, res, path) => {
    if (!path.startsWith('/_switchyard/ops/')) return false;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const rest = path.slice('/_switchyard/ops/'.length).split('/').map(decodeURIComponent);
    try {
      if (rest[0] === 'quarantine' && rest.length === 1 && req.method === 'GET') {
        const page = await deps.ops.listQuarantine(100, url.searchParams.get('after') ?? undefined);
        return send(res, 200, {
          items: page.items.map(({ payload: _payload, ...item }) => item),
          ...(page.next ? { next: page.next } : {}),
        });
      }
      if (rest[0] === 'quarantine' && rest.length === 2 && req.method === 'GET') {
        const item = await deps.ops.getQuarantine(rest[1] ?? '');
        return item
          ? send(res, 200, item)
          : send(res, 404, { error: 'not_found', message: `No quarantined record "${rest[1]}"` });
      }
      if (rest[0] === 'quarantine' && rest.length === 3 && rest[2] === 'replay' && req.method === 'POST') {
        return send(res, 200, await replayQuarantined(rest[1] ?? '', deps));
      }
      if (rest[0] === 'backfill' && rest.length === 2 && req.method === 'POST') {
        const limitParam = url.searchParams.get('limit');
        const limit = limitParam === null ? 100 : parseBackfillPageSize(limitParam);
        const after = url.searchParams.get('after') ?? undefined;
        return send(
          res,
          200,
          await backfillPage(rest[1] ?? '', deps, { limit, ...(after ? { after } : {}) }),
        );
      }
      if (rest[0] === 'backfill-position' && rest.length === 2 && req.method === 'GET') {
        return send(res, 200, (await deps.ops.getDocument(`backfill#${rest[1]}`)) ?? {});
      }
      if (rest[0] === 'quality' && req.method === 'GET') {
        const entity = (url.searchParams.get('entity') ?? 'customer') as Entity;
        if (!ENTITIES.includes(entity))
          return send(res, 400, {
            error: 'bad_entity',
            message: `entity must be one of ${ENTITIES.join(', ')}`,
          });
        const source = url.searchParams.get('source') ?? undefined;
        if (source && !deps.config.sources[source])
          return send(res, 400, { error: 'bad_source', message: `No source named "${source}"` });
        return send(res, 200, await qualityReport(deps, { entity, ...(source ? { source } : {}) }));
      }
      if (rest[0] === 'shadow' && rest.length === 3 && rest[2] === 'diff' && req.method === 'GET') {
        return send(res, 200, await shadowDiff(rest[1] ?? '', deps));
      }
      if (rest[0] === 'shadow' && rest.length === 3 && rest[2] === 'promote' && req.method === 'POST') {
        return send(res, 200, await promoteShadow(rest[1] ?? '', deps));
      }
      if (rest[0] === 'reconcile' && rest.length === 2 && req.method === 'POST') {
        return send(res, 200, await reconcile(rest[1] ?? '', url.searchParams));
      }
      if (rest[0] === 'reconcile' && rest.length === 2 && req.method === 'GET') {
        const report = await deps.ops.getDocument(reconcileDocumentName(rest[1] ?? ''));
        return report
          ? send(res, 200, report)
          : send(res, 404, { error: 'not_found', message: `No reconcile report for flow "${rest[1]}" yet` });
      }
      if (rest[0] === 'replay' && rest[1] === 'canonical' && rest.length === 2 && req.method === 'POST') {
        if (!auditEntries) throw new OpsError('This hub keeps no audit trail to select a replay by');
        const request = toReplayRequest(await readSmallJson(req));
        return send(
          res,
          200,
          await replayFromCanonical(auditEntries(), request.filter, deps, {
            dryRun: request.dryRun,
            ...(request.by ? { by: request.by } : {}),
          }),
        );
      }
      if (rest[0] === 'redrives' && rest.length === 1 && req.method === 'POST') {
        const at = new Date(deps.clock.now()).toISOString();
        const audit = toAudit(await readSmallJson(req), queueKeys, at);
        const name = await recordRedrive(audit);
        return send(res, 200, { name, ...audit });
      }
      if (rest[0] === 'redrives' && rest.length === 1 && req.method === 'GET') {
        const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 100) || 100, 1), 1000);
        const index = (await deps.ops.getDocument<{ names: string[] }>(REDRIVE_INDEX)) ?? { names: [] };
        const items: RedriveAudit[] = [];
        for (const name of index.names.slice(-limit).reverse()) {
          const audit = await deps.ops.getDocument<RedriveAudit>(name);
          if (audit) items.push(audit);
        }
        return send(res, 200, { items });
      }
      return send(res, 404, { error: 'not_found', message: `No operator route ${req.method} ${path}` });
    } catch (error) {
      if (error instanceof OpsError || error instanceof ReconcileError)
        return send(res, 400, { error: 'bad_request', message: error.message });
      throw error;
    }
  };
}
