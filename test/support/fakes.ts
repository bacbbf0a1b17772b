import type { DeliveryMessage, Envelope } from '../../functions/core/messages.js';
import type {
  BreakerState,
  BreakerStore,
  Clock,
  DeliveryQueues,
  Dimensions,
  InboundQueue,
  Log,
  MessageVisibility,
  SecretStore,
  SecretValue,
  Telemetry,
} from '../../functions/core/ports.js';

/** The inbound queue in memory. `hold()` keeps the next sends pending until released. */
export class MemoryInboundQueue implements InboundQueue {
  readonly sent: Envelope[] = [];
  failWith: Error | undefined;
  private gate: Promise<void> | undefined;
  private pending = 0;

  /** Sends wait until the returned function is called. */
  hold(): () => void {
    let release = (): void => undefined;
    this.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.gate = undefined;
      release();
    };
  }

  /** Sends that started and have not resolved yet. */
  get inFlight(): number {
    return this.pending;
  }

  async send(envelopes: readonly Envelope[]): Promise<void> {
    this.pending += 1;
    try {
      if (this.gate) await this.gate;
      if (this.failWith) throw this.failWith;
      this.sent.push(...envelopes.map((envelope) => structuredClone(envelope)));
    } finally {
      this.pending -= 1;
    }
  }
}

/** Secrets by name; a missing name fails as Secrets Manager's ResourceNotFound would. */
export class MemorySecretStore implements SecretStore {
  readonly reads: string[] = [];
  constructor(readonly values: Record<string, SecretValue> = {}) {}

  async get(name: string): Promise<SecretValue> {
    this.reads.push(name);
    const value = this.values[name];
    if (value === undefined) throw new Error(`ResourceNotFoundException: Secrets Manager can't find ${name}`);
    return value;
  }
}

export interface Counted {
  readonly metric: string;
  readonly dimensions: Dimensions;
  readonly value: number;
}

/** Counters and timings in memory, as the local /_switchyard/stats sink keeps them. */
export class MemoryTelemetry implements Telemetry {
  readonly counts: Counted[] = [];
  readonly timings: { metric: string; dimensions: Dimensions; milliseconds: number }[] = [];
  flushes = 0;

  count(metric: string, dimensions: Dimensions, value = 1): void {
    this.counts.push({ metric, dimensions: { ...dimensions }, value });
  }

  timing(metric: string, dimensions: Dimensions, milliseconds: number): void {
    this.timings.push({ metric, dimensions: { ...dimensions }, milliseconds });
  }

  flush(): void {
    this.flushes += 1;
  }

  /** Sum of `metric` over every count whose dimensions include all of `where`. */
  total(metric: string, where: Dimensions = {}): number {
    return this.counts
      .filter((c) => c.metric === metric)
      .filter((c) => Object.entries(where).every(([k, v]) => c.dimensions[k] === v))
      .reduce((sum, c) => sum + c.value, 0);
  }
}

export class MemoryDeliveryQueues implements DeliveryQueues {
  readonly sent: DeliveryMessage[] = [];
  /** Every send fails with this error. */
  failWith: Error | undefined;
  /** A send fails with the error this returns, if any. */
  failWhen: ((messages: readonly DeliveryMessage[]) => Error | undefined) | undefined;

  async send(messages: readonly DeliveryMessage[]): Promise<void> {
    await Promise.resolve();
    if (this.failWith) throw this.failWith;
    const error = this.failWhen?.(messages);
    if (error) throw error;
    this.sent.push(...structuredClone([...messages]));
  }
}

export class RecordingVisibility implements MessageVisibility {
  readonly delays: { receiptHandle: string; seconds: number }[] = [];
  failWith: Error | undefined;

  async delay(receiptHandle: string, seconds: number): Promise<void> {
    this.delays.push({ receiptHandle, seconds });
    if (this.failWith) throw this.failWith;
  }
}

export class ManualClock implements Clock {
  constructor(public current = Date.UTC(2024, 4, 1, 12, 0, 0)) {}
  now(): number {
    return this.current;
  }
  advance(milliseconds: number): void {
    this.current += milliseconds;
  }
}

/** Deterministic ids: `${prefix}-1`, `${prefix}-2`, ... */
/**
 * Canonical ids as route derives them (one per source record, the same on every route of it), but
 * readable: `cust-1`, `cust-2`, ... in the order records are first seen.
 */
export function canonicalIdSequence(
  prefix = 'cust',
): (source: string, entity: string, sourceId: string) => string {
  const next = idSequence(prefix);
  const ids = new Map<string, string>();
  return (source, entity, sourceId) => {
    const key = `${entity}\u0000${source}\u0000${sourceId}`;
    const known = ids.get(key);
    if (known !== undefined) return known;
    const id = next();
    ids.set(key, id);
    return id;
  };
}

export function idSequence(prefix = 'cust'): () => string {
  let n = 0;
  return () => {
    n += 1;
    return `${prefix}-${n}`;
  };
}

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly extra: Record<string, unknown>;
}

/** Core code logs through this slice; tests read what it said. */
export class MemoryLog implements Log {
  readonly entries: LogEntry[] = [];
  debug(message: string, ...extra: Record<string, unknown>[]): void {
    this.entries.push({ level: 'debug', message, extra: Object.assign({}, ...extra) });
  }
  info(message: string, ...extra: Record<string, unknown>[]): void {
    this.entries.push({ level: 'info', message, extra: Object.assign({}, ...extra) });
  }
  warn(message: string, ...extra: Record<string, unknown>[]): void {
    this.entries.push({ level: 'warn', message, extra: Object.assign({}, ...extra) });
  }
  error(message: string, ...extra: Record<string, unknown>[]): void {
    this.entries.push({ level: 'error', message, extra: Object.assign({}, ...extra) });
  }
}

export interface FetchCall {
  readonly url: string;
  readonly method: string;
  /** As the connector passed them. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** What the fake destination does with one call: answer, fail like the network, or never answer. */
export type FetchBehaviour = Response | Error | 'hang';

/**
 * A destination API in memory. Each call takes the next behaviour from the script (the last one
 * repeats). 'hang' waits for the caller's abort signal and rejects with its reason, as fetch does.
 */
export function fakeFetch(...script: (FetchBehaviour | ((call: FetchCall) => FetchBehaviour))[]): {
  fetch: typeof fetch;
  calls: FetchCall[];
} {
  const calls: FetchCall[] = [];
  const fetchImpl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const call: FetchCall = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers: { ...(init?.headers as Record<string, string> | undefined) },
      body: typeof init?.body === 'string' ? init.body : '',
    };
    calls.push(call);
    const step = script[Math.min(calls.length - 1, script.length - 1)];
    if (step === undefined) throw new Error('fakeFetch: no behaviour scripted');
    const behaviour = typeof step === 'function' ? step(call) : step;
    if (behaviour === 'hang') {
      const signal = init?.signal;
      return new Promise<Response>((_, reject) => {
        if (!signal) return;
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    if (behaviour instanceof Error) throw behaviour;
    return behaviour.clone();
  };
  return { fetch: fetchImpl as typeof fetch, calls };
}

/** A JSON response with optional headers. */
export function jsonResponse(
  status: number,
  body: unknown = {},
  headers: Record<string, string> = {},
): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** Circuit breakers in memory, refusing a write that would shorten a pause in effect, as DynamoBreakerStore does. */
export class MemoryBreakerStore implements BreakerStore {
  readonly states = new Map<string, BreakerState>();
  reads = 0;
  writes = 0;
  refused = 0;

  constructor(initial?: Readonly<Record<string, BreakerState>>) {
    for (const [name, state] of Object.entries(initial ?? {})) this.states.set(name, state);
  }

  async getBreaker(destination: string): Promise<BreakerState | undefined> {
    this.reads += 1;
    return this.states.get(destination);
  }

  async putBreaker(destination: string, state: BreakerState, nowMs: number): Promise<boolean> {
    const stored = this.states.get(destination);
    if (stored && stored.openUntil > nowMs && stored.openUntil > state.openUntil) {
      this.refused += 1;
      return false;
    }
    this.writes += 1;
    this.states.set(destination, state);
    return true;
  }
}
