import type { IncomingMessage, ServerResponse } from 'node:http';
import { ENTITIES, type Entity } from '../functions/core/config.js';
import {
  backfillPage,
  type OpsDeps,
  OpsError,
  qualityReport,
  replayQuarantined,
} from '../functions/core/ops.js';

/**
 * The local hub's operator API under /_switchyard/ops/, what `switchyard quarantine|backfill|quality`
 * call: the same core functions an operator runs against AWS.
 *
 *   GET  /_switchyard/ops/quarantine[?after=]       list (reasons, no payloads)
 *   GET  /_switchyard/ops/quarantine/<key>          one, with its payload
 *   POST /_switchyard/ops/quarantine/<key>/replay   replay it through the current code
 *   POST /_switchyard/ops/backfill/<flow>[?after=&limit=]   one page of a backfill
 *   GET  /_switchyard/ops/quality?entity=&source=   the data quality report
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

export function createOpsRoutes(deps: OpsDeps): OpsRoutes {
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
        const limit = Number(url.searchParams.get('limit') ?? 100);
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
      return send(res, 404, { error: 'not_found', message: `No operator route ${req.method} ${path}` });
    } catch (error) {
      if (error instanceof OpsError) return send(res, 400, { error: 'bad_request', message: error.message });
      throw error;
    }
  };
}
