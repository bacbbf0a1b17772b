import { Worker } from 'node:worker_threads';
import type { LoadJob, LoadResult } from './load-worker.js';

export type { LoadResult };

/**
 * A closed-loop HTTP load generator on its own thread: `concurrency` requests in flight, each
 * signed when sent. The hub and the emulators keep the main thread to themselves, as the ingest
 * function would in AWS; the client costs the measured side nothing but the machine's second core.
 */
export class LoadGenerator {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (result: LoadResult) => void; reject: (error: unknown) => void }
  >();

  private constructor(private readonly worker: Worker) {
    worker.on('message', (result: LoadResult) => {
      this.waiting.get(result.id)?.resolve(result);
      this.waiting.delete(result.id);
    });
    worker.on('error', (error) => {
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    });
  }

  static start(): LoadGenerator {
    const entry = new URL('./load-worker.ts', import.meta.url).href;
    // The worker is TypeScript too: tsx's loader is registered in it before the entry is imported.
    const worker = new Worker(
      `(async () => { const { register } = await import('tsx/esm/api'); register(); await import(${JSON.stringify(entry)}); })();`,
      { eval: true },
    );
    return new LoadGenerator(worker);
  }

  run(job: Omit<LoadJob, 'id'>): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...job, id });
    });
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
