import type { CallCounts } from './aws-call-counter.js';
import { PRICES } from './aws-prices.js';
import { round } from './util.js';

/** Lambda memory both designs are modeled at (the topology gives every function 512 MB). */
export const MEMORY_GB = 0.5;

export interface InvocationTally {
  count: number;
  /** Sum of per-invocation wall times, each rounded up to the millisecond as Lambda bills. */
  billedMs: number;
}

/** What one design used to process `records` events, as measured (calls) and modeled (ESM polling). */
export interface PipelineUsage {
  readonly records: number;
  /** Webhooks through API Gateway (HTTP API). */
  readonly apiRequests: number;
  readonly invocations: Readonly<Record<string, InvocationTally>>;
  /** Functions fed by an SQS event source mapping, and the kind of queue each one reads. */
  readonly eventSources: Readonly<Record<string, 'standard' | 'fifo'>>;
  readonly counts: CallCounts;
}

export interface CostBreakdown {
  apiGateway: number;
  lambdaRequests: number;
  lambdaCompute: number;
  sqs: number;
  dynamodb: number;
  total: number;
}

export interface UsagePerRecord {
  awsCalls: Record<string, number>;
  dynamodbUnits: { read: number; write: number };
  /** Billed SQS requests (64 KB chunks), the handlers' own plus the modeled event source polling. */
  sqsBilledRequests: { standard: number; fifo: number };
  lambdaInvocations: Record<string, number>;
  usdPerMillion: CostBreakdown;
}

/**
 * Per-record usage and the modeled USD per million events (bench/aws-prices.ts). Event source
 * mappings are modeled as one ReceiveMessage and one DeleteMessageBatch per invocation (idle long
 * polls excluded); Lambda compute from local wall time at {@link MEMORY_GB} GB arm64.
 */
export function perRecord(usage: PipelineUsage): UsagePerRecord {
  const n = usage.records;
  const per = (x: number) => (n > 0 ? x / n : Number.NaN);
  const esm = { standard: 0, fifo: 0 };
  for (const [fn, kind] of Object.entries(usage.eventSources))
    esm[kind] += 2 * (usage.invocations[fn]?.count ?? 0);
  const sqsStandard = usage.counts.sqsRequests.standard + esm.standard;
  const sqsFifo = usage.counts.sqsRequests.fifo + esm.fifo;
  const invocations = Object.values(usage.invocations);
  const lambdaCount = invocations.reduce((a, i) => a + i.count, 0);
  const gbSeconds = invocations.reduce((a, i) => a + (i.billedMs / 1000) * MEMORY_GB, 0);
  const million = 1e6;
  const cost = {
    apiGateway: per(usage.apiRequests) * PRICES.apiGatewayHttpPerRequest * million,
    lambdaRequests: per(lambdaCount) * PRICES.lambdaPerRequest * million,
    lambdaCompute: per(gbSeconds) * PRICES.lambdaPerGbSecondArm * million,
    sqs: per(sqsStandard * PRICES.sqsStandardPerRequest + sqsFifo * PRICES.sqsFifoPerRequest) * million,
    dynamodb:
      per(
        usage.counts.dynamo.writeUnits * PRICES.dynamoPerWriteUnit +
          usage.counts.dynamo.readUnits * PRICES.dynamoPerReadUnit,
      ) * million,
  };
  const total = Object.values(cost).reduce((a, b) => a + b, 0);
  const calls: Record<string, number> = {};
  for (const [k, v] of Object.entries(usage.counts.calls).sort(([a], [b]) => a.localeCompare(b)))
    calls[k] = round(per(v), 3);
  for (const fn of Object.keys(usage.eventSources)) {
    const batches = usage.invocations[fn]?.count ?? 0;
    if (batches > 0) calls[`SQS.Receive+DeleteBatch (${fn} ESM, modeled)`] = round(per(2 * batches), 3);
  }
  return {
    awsCalls: calls,
    dynamodbUnits: {
      read: round(per(usage.counts.dynamo.readUnits), 3),
      write: round(per(usage.counts.dynamo.writeUnits), 3),
    },
    sqsBilledRequests: { standard: round(per(sqsStandard), 3), fifo: round(per(sqsFifo), 3) },
    lambdaInvocations: Object.fromEntries(
      Object.entries(usage.invocations).map(([k, v]) => [k, round(per(v.count), 3)]),
    ),
    usdPerMillion: {
      apiGateway: round(cost.apiGateway),
      lambdaRequests: round(cost.lambdaRequests),
      lambdaCompute: round(cost.lambdaCompute),
      sqs: round(cost.sqs),
      dynamodb: round(cost.dynamodb),
      total: round(total),
    },
  };
}

/** Invocation tallies keyed by function, fed by startRuntime's onInvocation (or a baseline's own timer). */
export class InvocationLog {
  readonly byFunction: Record<string, InvocationTally> = {};
  /** Records handed to each function (a batch counts its records). */
  readonly records: Record<string, number> = {};

  add(fn: string, ms: number, records = 1): void {
    const entry = this.byFunction[fn] ?? { count: 0, billedMs: 0 };
    entry.count += 1;
    entry.billedMs += Math.ceil(ms);
    this.byFunction[fn] = entry;
    this.records[fn] = (this.records[fn] ?? 0) + records;
  }

  reset(): void {
    for (const key of Object.keys(this.byFunction)) delete this.byFunction[key];
    for (const key of Object.keys(this.records)) delete this.records[key];
  }

  snapshot(): Record<string, InvocationTally> {
    return Object.fromEntries(Object.entries(this.byFunction).map(([k, v]) => [k, { ...v }]));
  }
}

export const COST_NOTES = [
  'Prices from shared/notes/aws-facts.md via bench/aws-prices.ts (us-east-1 list, no free tier).',
  `Lambda compute from local wall time per invocation at ${MEMORY_GB * 1024} MB arm64; real Lambda timings differ.`,
  'DynamoDB units as dynalite reports them (ReturnConsumedCapacity, from item sizes); a failed conditional write counts 1 WCU.',
  'Event source mapping polling modeled as one ReceiveMessage and one DeleteMessageBatch per batch; idle long polls excluded.',
  'Secrets Manager: cached per container, ~0 per event; CloudWatch Logs/EMF ingestion not modeled (for either design).',
  "The api.ingress 'function-url' rows price the same measured Switchyard run without the API Gateway request (a function URL invocation is billed as a Lambda request only); the baseline keeps API Gateway.",
];
