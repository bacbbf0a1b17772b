import { createServer, type Server } from 'node:http';
import { listen } from '../http-server.js';

export interface ErpRow {
  id: string;
  email: string;
  name: string;
  /** ISO 8601; the API's cursor field. */
  updated_at: string;
}

export interface ErpApi {
  readonly url: string;
  readonly rows: Map<string, ErpRow>;
  /** Every request the API served: its query, and how many rows it returned. */
  readonly requests: { query: Record<string, string>; returned: number; status: number }[];
  upsert(row: ErpRow): void;
  /** Called before each page is served (to change rows mid-poll). */
  onPage?: (page: number) => void;
  /** The next `times` requests answer `status` (with Retry-After when given). */
  fail(status: number, times: number, retryAfterSeconds?: number): void;
  /** The next page answers this body instead (a shape the poller must refuse). */
  malform(body: unknown): void;
  stop(): Promise<void>;
}

/**
 * An ERP-like customers API without webhooks: `GET /api/customers?updated_since=ISO&limit=N`,
 * ordered by (updated_at, id), keyset pagination with a `next` link in the body (and a `Link`
 * header), bearer auth. Rows can change while a poll is paging through them.
 */
export async function startErpApi(options: { token?: string; pageSize?: number } = {}): Promise<ErpApi> {
  const rows = new Map<string, ErpRow>();
  const requests: ErpApi['requests'] = [];
  const faults: { status: number; left: number; retryAfterSeconds?: number }[] = [];
  let malformed: unknown;
  let page = 0;
  const api: ErpApi = {
    url: '',
    rows,
    requests,
    upsert: (row) => rows.set(row.id, { ...row }),
    fail: (status, times, retryAfterSeconds) =>
      faults.push({ status, left: times, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) }),
    malform: (body) => {
      malformed = body;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}, returned = 0) => {
      requests.push({ query, returned, status });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/api/customers') return send(404, { error: 'not found' });
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`)
      return send(401, { error: 'unauthorized' });
    const fault = faults[0];
    if (fault) {
      fault.left -= 1;
      if (fault.left <= 0) faults.shift();
      return send(
        fault.status,
        { error: 'busy' },
        fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) },
      );
    }
    if (malformed !== undefined) {
      const body = malformed;
      malformed = undefined;
      return send(200, body);
    }
    page += 1;
    api.onPage?.(page);
    const since = query.updated_since ?? '1970-01-01T00:00:00.000Z';
    const limit = Number(query.limit ?? options.pageSize ?? 10);
    const afterTs = query.after_ts;
    const afterId = query.after_id ?? '';
    const ordered = [...rows.values()]
      .filter((row) => row.updated_at >= since)
      .filter(
        (row) => !afterTs || row.updated_at > afterTs || (row.updated_at === afterTs && row.id > afterId),
      )
      .sort((a, b) =>
        a.updated_at === b.updated_at ? (a.id < b.id ? -1 : 1) : a.updated_at < b.updated_at ? -1 : 1,
      );
    const data = ordered.slice(0, limit);
    const last = data.at(-1);
    let next: string | null = null;
    if (last && ordered.length > limit) {
      const nextUrl = new URL(url.toString());
      nextUrl.searchParams.set('after_ts', last.updated_at);
      nextUrl.searchParams.set('after_id', last.id);
      nextUrl.searchParams.set('limit', String(limit));
      next = `${nextUrl.pathname}${nextUrl.search}`;
    }
    send(200, { data, next }, next ? { link: `<${next}>; rel="next"` } : {}, data.length);
  });
  const base = await listen(server, '127.0.0.1', 0);
  (api as { url: string }).url = `${base}/api/customers?limit=${options.pageSize ?? 10}`;
  return api;
}
