/**
 * The load generator's thread (see load.ts): posts signed Stripe webhooks with a fixed number in
 * flight and times each one, so the client's work does not share the event loop it measures.
 */
import { parentPort } from 'node:worker_threads';
import { stripeSignatureHeader } from '../local/demo/stripe-sender.js';

export interface LoadJob {
  readonly id: number;
  readonly url: string;
  readonly secret: string;
  readonly payloads: readonly string[];
  readonly concurrency: number;
  /** Also return each payload's send time (epoch ms), by payload index. */
  readonly recordSentAt?: boolean;
}

export interface LoadResult {
  readonly id: number;
  /** Milliseconds from request start to the end of the response body, of 202 answers only. */
  readonly acceptedMs: number[];
  /** HTTP status (or 'error') -> count. */
  readonly statuses: Record<string, number>;
  readonly seconds: number;
  readonly sentAt?: number[];
}

async function post(url: string, payload: string, secret: string): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'stripe-signature': stripeSignatureHeader(payload, secret, Math.floor(Date.now() / 1000)),
    },
    body: payload,
  });
  await response.arrayBuffer();
  return response.status;
}

async function run(job: LoadJob): Promise<LoadResult> {
  const acceptedMs: number[] = [];
  const statuses: Record<string, number> = {};
  const sentAt: number[] | undefined = job.recordSentAt ? [] : undefined;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      for (;;) {
        const index = next++;
        const payload = job.payloads[index];
        if (payload === undefined) return;
        if (sentAt) sentAt[index] = Date.now();
        const t0 = performance.now();
        let status: string;
        try {
          status = String(await post(job.url, payload, job.secret));
        } catch {
          status = 'error';
        }
        if (status === '202') acceptedMs.push(performance.now() - t0);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  return {
    id: job.id,
    acceptedMs,
    statuses,
    seconds: (performance.now() - started) / 1000,
    ...(sentAt ? { sentAt } : {}),
  };
}

parentPort?.on('message', (job: LoadJob) => {
  void run(job).then((result) => parentPort?.postMessage(result));
});
