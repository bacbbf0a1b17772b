import { createServer, type Server } from 'node:http';
import { listen } from '../http-server.js';
import type { StripeCustomer } from './stripe-sender.js';

/** A customer as the list API returns it: the webhook's fields plus Stripe's `object` and `created`. */
export type ListedStripeCustomer = StripeCustomer & { readonly object: 'customer'; readonly created: number };

export interface StripeApi {
  /** Base URL, what `sources.<stripe>.api.url` points at. */
  readonly url: string;
  readonly customers: Map<string, ListedStripeCustomer>;
  /** Every list request served: its query. */
  readonly requests: Record<string, string>[];
  add(customer: StripeCustomer, createdSeconds: number): void;
  stop(): Promise<void>;
}

/**
 * A Stripe-like customers list API: `GET /v1/customers?limit&created[gte]&created[lt]&starting_after`,
 * newest first as Stripe lists, `{object: 'list', data, has_more}`, bearer secret key. What
 * reconciliation reads to find the customers whose webhooks never arrived.
 */
export async function startStripeApi(options: { apiKey: string }): Promise<StripeApi> {
  const customers = new Map<string, ListedStripeCustomer>();
  const requests: Record<string, string>[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' || url.pathname !== '/v1/customers')
      return send(404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
    if (req.headers.authorization !== `Bearer ${options.apiKey}`)
      return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    requests.push(query);
    const gte = Number(query['created[gte]'] ?? Number.NEGATIVE_INFINITY);
    const lt = Number(query['created[lt]'] ?? Number.POSITIVE_INFINITY);
    const limit = Math.min(100, Math.max(1, Number(query.limit ?? 10)));
    let ordered = [...customers.values()]
      .filter((c) => c.created >= gte && c.created < lt)
      .sort((a, b) => (a.created === b.created ? (a.id < b.id ? 1 : -1) : b.created - a.created));
    if (query.starting_after) {
      const at = ordered.findIndex((c) => c.id === query.starting_after);
      if (at < 0)
        return send(400, {
          error: { type: 'invalid_request_error', message: 'No such customer: starting_after' },
        });
      ordered = ordered.slice(at + 1);
    }
    send(200, {
      object: 'list',
      url: '/v1/customers',
      data: ordered.slice(0, limit),
      has_more: ordered.length > limit,
    });
  });
  const base = await listen(server, '127.0.0.1', 0);
  return {
    url: base,
    customers,
    requests,
    add: (customer, createdSeconds) =>
      customers.set(customer.id, { object: 'customer', created: createdSeconds, ...customer }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
