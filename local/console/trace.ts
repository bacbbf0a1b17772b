import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { HttpFetch } from '../../functions/core/ports.js';

/**
 * What the local runtime saw of one event, stage by stage: the webhook accepted, each route and
 * deliver attempt with its outcome, each destination call, each redrive. Kept in memory for the
 * most recent events only (like fauxqs' queues, it is gone after a restart). It is the local
 * console's search, not an audit trail: in AWS, the same story is in the logs under the event's
 * correlation id.
 */
export type TraceStep =
  | { readonly at: number; readonly stage: 'ingest'; readonly source: string; readonly status: number }
  | {
      readonly at: number;
      readonly stage: 'route';
      readonly source: string;
      readonly attempt: number;
      readonly outcome: AttemptOutcome;
    }
  | {
      readonly at: number;
      readonly stage: 'deliver';
      readonly flow: string;
      readonly destination: string;
      readonly entity: string;
      readonly id: string;
      readonly source: string;
      readonly version: number;
      readonly attempt: number;
      readonly outcome: AttemptOutcome;
    }
  | {
      readonly at: number;
      readonly stage: 'call';
      readonly method: string;
      readonly host: string;
      /** HTTP status, or 0 when the call failed without one (network error, timeout). */
      readonly status: number;
      readonly ms: number;
    }
  | { readonly at: number; readonly stage: 'redrive'; readonly queue: string };

/** `handled`: the record left its queue (delivered, skipped or quarantined); `retry`: it comes back later. */
export type AttemptOutcome = 'handled' | 'retry' | 'dead-lettered';

type StepInput = TraceStep extends infer S ? (S extends TraceStep ? Omit<S, 'at'> : never) : never;

const MAX_EVENTS = 10_000;
const MAX_STEPS_PER_EVENT = 100;

export class EventTrace {
  private readonly events = new Map<string, TraceStep[]>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly capacity = MAX_EVENTS,
  ) {}

  record(eventId: string, step: StepInput): void {
    if (!eventId) return;
    let steps = this.events.get(eventId);
    if (steps) {
      // Most recently touched last, so the oldest event is the first key.
      this.events.delete(eventId);
    } else {
      steps = [];
      if (this.events.size >= this.capacity) {
        const oldest = this.events.keys().next().value;
        if (oldest !== undefined) this.events.delete(oldest);
      }
    }
    if (steps.length < MAX_STEPS_PER_EVENT) steps.push({ ...step, at: this.now() } as TraceStep);
    this.events.set(eventId, steps);
  }

  get(eventId: string): readonly TraceStep[] | undefined {
    return this.events.get(eventId);
  }

  /** The webhook response: its event id(s), when it was accepted. */
  ingest(source: string, status: number, responseBody: string | undefined): void {
    for (const eventId of eventIdsOf(responseBody)) this.record(eventId, { stage: 'ingest', source, status });
  }

  /**
   * One SQS batch and the handler's answer: a record listed in batchItemFailures (or every record,
   * when the handler threw) is retried, or dead-lettered when this was its last receive.
   */
  batch(
    kind: 'route' | 'deliver',
    event: SQSEvent,
    response: SQSBatchResponse | undefined,
    maxReceiveCount: number,
  ): void {
    const failed = new Set(response ? response.batchItemFailures.map((f) => f.itemIdentifier) : []);
    for (const record of event.Records) {
      const attempt = Number(record.attributes.ApproximateReceiveCount) || 1;
      const didFail = !response || failed.has(record.messageId);
      const outcome: AttemptOutcome = !didFail
        ? 'handled'
        : attempt >= maxReceiveCount
          ? 'dead-lettered'
          : 'retry';
      const body = parse(record.body);
      if (!body || typeof body.eventId !== 'string') continue;
      if (kind === 'route') {
        this.record(body.eventId, { stage: 'route', source: String(body.source), attempt, outcome });
      } else {
        this.record(body.eventId, {
          stage: 'deliver',
          flow: String(body.flow),
          destination: String(body.destination),
          entity: String(body.entity),
          id: String(body.id),
          source: String(body.source),
          version: Number(body.version),
          attempt,
          outcome,
        });
      }
    }
  }

  /**
   * Wraps the handlers' fetch: calls that carry an `X-Switchyard-Event-Id` header (the HTTP
   * destination connector sends it) are recorded with their status and duration, never their body.
   */
  wrapFetch(inner: HttpFetch): HttpFetch {
    return async (input, init) => {
      const eventId = Object.entries(init?.headers ?? {}).find(
        ([name]) => name.toLowerCase() === 'x-switchyard-event-id',
      )?.[1];
      const method = init?.method ?? 'GET';
      const url = new URL(input);
      const started = performance.now();
      let status = 0;
      try {
        const response = await inner(input, init);
        status = response.status;
        return response;
      } finally {
        if (eventId) {
          this.record(eventId, {
            stage: 'call',
            method,
            host: url.host,
            status,
            ms: Math.round(performance.now() - started),
          });
        }
      }
    };
  }
}

function parse(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `{"eventId": ...}` or `{"eventIds": [...]}` from an ingest answer. */
function eventIdsOf(body: string | undefined): string[] {
  const value = body ? parse(body) : undefined;
  if (!value) return [];
  const ids: string[] = [];
  if (typeof value.eventId === 'string') ids.push(value.eventId);
  if (Array.isArray(value.eventIds))
    ids.push(...value.eventIds.filter((id): id is string => typeof id === 'string'));
  return [...new Set(ids)];
}
