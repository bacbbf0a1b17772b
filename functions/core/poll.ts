import { search } from '@aws-lambda-powertools/jmespath';
import { parseRetryAfter } from '../connectors/http.js';
import { toVersion } from '../connectors/mapping.js';
import type { SourceConfig, SwitchyardConfig } from './config.js';
import { FatalError, TransientError } from './errors.js';
import { contentHash } from './hashing.js';
import { acceptedEntries } from './ingest.js';
import type { Envelope } from './messages.js';
import type {
  AuditTrail,
  Clock,
  HttpFetch,
  HttpResponse,
  InboundQueue,
  Log,
  PollStateStore,
  SecretStore,
  Telemetry,
} from './ports.js';
import { readToken } from './secret-values.js';

export type RestPollSource = Extract<SourceConfig, { connector: 'rest-poll' }>;

export interface PollDeps {
  readonly config: SwitchyardConfig;
  readonly state: PollStateStore;
  readonly queue: InboundQueue;
  readonly secrets: SecretStore;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  readonly log: Log;
  readonly fetch: HttpFetch;
  /** Who holds the lease: unique per invocation. */
  readonly owner: string;
  /** How long a lease lasts; longer than the poll function's timeout. */
  readonly leaseMs: number;
  /** Where each queued envelope is recorded as accepted. */
  readonly audit?: AuditTrail;
  /** How long one poll may spend reading pages before it enqueues what it has (default 2 minutes). */
  readonly pagingBudgetMs?: number;
}

export type PollResult =
  | { readonly kind: 'leased' }
  | {
      readonly kind: 'polled';
      readonly pages: number;
      readonly enqueued: number;
      readonly cursor: number | undefined;
      readonly morePages: boolean;
    };

const PAGE_TIMEOUT_MS = 30_000;
/** Well inside the poll function's 300 s, leaving time to enqueue and write the cursor. */
const DEFAULT_PAGING_BUDGET_MS = 120_000;

/** `Link: <https://...>; rel="next"` */
export function nextFromLinkHeader(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (match?.[1]) return match[1];
  }
  return undefined;
}

/** What reading a source's API needs: shared by the poll and by reconciliation's listing. */
export type SourceApiDeps = Pick<PollDeps, 'fetch' | 'clock' | 'secrets'>;

export async function authHeaders(
  source: RestPollSource,
  deps: Pick<PollDeps, 'secrets'>,
): Promise<Record<string, string>> {
  if (!source.auth || !source.secret) return {};
  const token = await readToken(deps.secrets, source.secret);
  return source.auth.type === 'bearer'
    ? { authorization: `Bearer ${token}` }
    : { [source.auth.header]: token };
}

export async function fetchPage(
  url: string,
  headers: Record<string, string>,
  deps: SourceApiDeps,
): Promise<{ body: unknown; next?: string }> {
  let response: HttpResponse;
  try {
    response = await deps.fetch(url, {
      headers: { accept: 'application/json', ...headers },
      signal: AbortSignal.timeout(PAGE_TIMEOUT_MS),
    });
  } catch (error) {
    throw new TransientError('The source API is unreachable', {}, { cause: error });
  }
  const text = await response.text();
  if (response.status === 429 || response.status === 408 || response.status >= 500) {
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), deps.clock.now());
    throw new TransientError(`The source API answered ${response.status}`, {
      status: response.status,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
  if (response.status < 200 || response.status >= 300) {
    throw new FatalError(`The source API answered ${response.status}`, [
      { rule: 'poll.response.status', message: `HTTP ${response.status}: ${text.slice(0, 200)}` },
    ]);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new FatalError(
      'The source API answered something that is not JSON',
      [{ rule: 'poll.response.json', message: 'a page must be JSON' }],
      { cause: error },
    );
  }
  const linkNext = nextFromLinkHeader(response.headers.get('link'));
  return { body, ...(linkNext ? { next: linkNext } : {}) };
}

/**
 * Reads a rest-poll source's pages from `first`, with its auth, its `items` and `nextLink` rules,
 * until the last page, `maxPages` or the time budget; `morePages` says whether it stopped early.
 */
export async function readPages(
  source: RestPollSource,
  first: URL,
  deps: SourceApiDeps & {
    readonly started: number;
    readonly budgetMs: number;
    /** The auth headers, when the caller has read them already (pollSource reads them with the cursor). */
    readonly headers?: Record<string, string>;
  },
): Promise<{ items: unknown[]; pages: number; morePages: boolean }> {
  const headers = deps.headers ?? (await authHeaders(source, deps));
  const items: unknown[] = [];
  let url: string | undefined = first.toString();
  let pages = 0;
  // Paging stops at the page limit or the time budget; the next run continues from the cursor.
  while (url && pages < source.maxPages && deps.clock.now() - deps.started < deps.budgetMs) {
    const page = await fetchPage(url, headers, deps);
    pages++;
    const found = search(source.items, page.body as never);
    if (!Array.isArray(found)) {
      throw new FatalError(`Page ${pages} has no list at "${source.items}"`, [
        {
          rule: 'poll.response.shape',
          field: source.items,
          message: 'items must find a list in every page',
        },
      ]);
    }
    items.push(...found);
    const bodyNext = source.nextLink ? search(source.nextLink, page.body as never) : undefined;
    const next = typeof bodyNext === 'string' && bodyNext !== '' ? bodyNext : page.next;
    const nextUrl: URL | undefined = next ? new URL(next, url) : undefined;
    // The API token goes to the API's own origin only, whatever a page says is next.
    if (nextUrl && nextUrl.origin !== first.origin) {
      throw new FatalError(`Page ${pages} points its next page at another origin`, [
        {
          rule: 'poll.response.next',
          field: source.nextLink ?? 'Link',
          message: `next must stay on ${first.origin}`,
        },
      ]);
    }
    url = nextUrl?.toString();
  }
  return { items, pages, morePages: url !== undefined };
}

/**
 * One poll of a REST source (DESIGN.md section 2, step 2): take the lease, read from the cursor
 * minus the lookback (late rows and equal timestamps at a page boundary are re-read, and the
 * delivery mapping absorbs what was already delivered), read every page first and check its shape,
 * enqueue all of it, and only then advance the cursor with a write conditional on its old value. A
 * crash anywhere before the cursor write re-reads the same rows next time: nothing is lost, and
 * nothing is applied twice downstream.
 */
export async function pollSource(sourceName: string, deps: PollDeps): Promise<PollResult> {
  const source = Object.hasOwn(deps.config.sources, sourceName) ? deps.config.sources[sourceName] : undefined;
  if (source?.connector !== 'rest-poll') {
    throw new FatalError(`No polled source named "${sourceName}"`, [
      { rule: 'poll.source.unknown', message: 'not a rest-poll source' },
    ]);
  }
  const dims = { source: sourceName };
  const started = deps.clock.now();
  // The token is read while the lease is taken, and the cursor comes back from the lease's own write.
  // A poll that loses the lease wasted a secret read (cached in a warm container).
  const token = authHeaders(source, deps);
  // Awaited below once the lease is ours; a poll that loses the lease does not wait for it.
  token.catch(() => undefined);
  const lease = await deps.state.acquireLease(sourceName, deps.owner, started + deps.leaseMs, started);
  if (!lease) {
    deps.log.info('Another poll holds the lease; skipping', dims);
    deps.telemetry.count('pollSkipped', { ...dims, reason: 'leased' });
    return { kind: 'leased' };
  }
  let released = false;
  try {
    const { cursor } = lease;
    const headers = await token;
    const from = cursor ?? (source.initialCursor ? Date.parse(source.initialCursor) : 0);
    const since = new Date(Math.max(0, from - source.lookbackSeconds * 1000)).toISOString();
    const first = new URL(source.url);
    first.searchParams.set(source.cursorParam, since);
    const { items, pages, morePages } = await readPages(source, first, {
      ...deps,
      headers,
      started,
      budgetMs: deps.pagingBudgetMs ?? DEFAULT_PAGING_BUDGET_MS,
    });

    // Check every item before enqueueing any: a page of the wrong shape enqueues nothing. A row the
    // mapping cannot read is enqueued anyway and quarantined with its reason by route, so one bad
    // row never stops the source.
    let newest = cursor;
    const envelopes: Envelope[] = items.map((item) => {
      const at = toVersion((item as Record<string, unknown> | null)?.[source.cursorField]);
      // A row without a usable cursor value cannot move the cursor; it still goes through, and route
      // quarantines it with reasons if its mapping cannot read it.
      if (at !== undefined) newest = Math.max(newest ?? at, at);
      return {
        v: 1,
        source: sourceName,
        // The same row version always gets the same id, so a re-read is recognisable in the trace.
        eventId: `${sourceName}-${contentHash(item).slice(0, 32)}`,
        receivedAt: deps.clock.now(),
        headers: {},
        body: JSON.stringify(item),
      };
    });
    for (let start = 0; start < envelopes.length; start += 10) {
      const chunk = envelopes.slice(start, start + 10);
      await deps.queue.send(chunk);
      // Counted as soon as they are queued: whatever happens to this poll now, they are in the hub (G3).
      deps.telemetry.count('received', dims, chunk.length);
      deps.telemetry.count('accepted', dims, chunk.length);
      deps.audit?.record(acceptedEntries(chunk, 'poll'));
    }
    // The cursor advance and the release in one write, conditional on both the lease and the cursor
    // being as this poll left them: a poll whose lease ran out and was taken meanwhile moves no
    // cursor (the taker read the same one, so rows are re-read and absorbed downstream, never skipped).
    released = true;
    const outcome = await deps.state.releaseLease(
      sourceName,
      deps.owner,
      newest !== undefined && newest !== cursor ? { expected: cursor, next: newest } : undefined,
    );
    if (outcome === 'conflict') deps.log.warn('The cursor moved under this poll; leaving it', dims);
    deps.telemetry.count('polled', dims);
    deps.telemetry.timing('pollLag', dims, newest === undefined ? 0 : deps.clock.now() - newest);
    deps.log.info('Polled', { ...dims, pages, enqueued: envelopes.length, cursor: newest });
    return {
      kind: 'polled',
      pages,
      enqueued: envelopes.length,
      cursor: newest,
      morePages,
    };
  } finally {
    if (!released) await deps.state.releaseLease(sourceName, deps.owner);
  }
}
