import type { SwitchyardConfig } from './config.js';

/**
 * The hub's resources, derived from the config by one pure function. The CDK stack and the local
 * runtime both build from this, so what runs on a laptop is what deploys.
 */
export interface Topology {
  readonly name: string;
  readonly table: TableSpec;
  readonly queues: readonly QueueSpec[];
  readonly functions: readonly FunctionSpec[];
  readonly routes: readonly RouteSpec[];
  readonly schedules: readonly ScheduleSpec[];
  /** One per flow with a `reconcile` block: the reconcile function, fired with `{ flow }`. */
  readonly reconciles: readonly ReconcileScheduleSpec[];
  readonly secrets: readonly SecretSpec[];
}

export interface TableSpec {
  readonly name: string;
  readonly partitionKey: 'pk';
  readonly sortKey: 'sk';
  /** Epoch-seconds attribute DynamoDB TTL deletes on (quarantine and audit items). */
  readonly ttlAttribute: 'expiresAt';
}

export interface QueueSpec {
  /** Stable key used by functions and env refs: `inbound` or `deliver-<destination>`. */
  readonly key: string;
  readonly name: string;
  readonly fifo: boolean;
  readonly visibilityTimeoutSeconds: number;
  readonly retentionSeconds: number;
  readonly maxReceiveCount: number;
  readonly deadLetter: { readonly name: string; readonly retentionSeconds: number };
  /** Key of the function consuming this queue. */
  readonly consumer: string;
  readonly destination?: string;
}

/** A value a function reads from its environment, resolved by whoever builds the function. */
export type EnvRef =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'tableName' }
  | { readonly kind: 'queueUrl'; readonly queue: string }
  | { readonly kind: 'queueUrlMap'; readonly queues: Readonly<Record<string, string>> };

export type FunctionKind = 'ingest' | 'route' | 'deliver' | 'poll' | 'reconcile';

export interface FunctionSpec {
  readonly key: string;
  readonly kind: FunctionKind;
  /** Handler module relative to the project root; exports `handler`. */
  readonly entry: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly env: Readonly<Record<string, EnvRef>>;
  /** Secret names this function may read. */
  readonly secrets: readonly string[];
  readonly consumes?: {
    readonly queue: string;
    readonly batchSize: number;
    readonly maxBatchingWindowSeconds: number;
    readonly maxConcurrency?: number;
  };
  readonly sendsTo: readonly string[];
  readonly table: 'none' | 'read-write';
}

export interface RouteSpec {
  readonly source: string;
  readonly method: 'POST';
  readonly path: string;
  readonly function: string;
}

export interface ScheduleSpec {
  readonly source: string;
  readonly expression: string;
  readonly function: string;
}

export interface ReconcileScheduleSpec {
  readonly flow: string;
  readonly expression: string;
  readonly windowHours: number;
  readonly repair: boolean;
  readonly function: string;
}

export interface SecretSpec {
  readonly name: string;
  readonly usedBy: readonly string[];
}

export const INGEST_TIMEOUT_SECONDS = 10;
export const ROUTE_TIMEOUT_SECONDS = 30;
export const DELIVER_TIMEOUT_SECONDS = 60;
/** A poll reads up to maxPages pages; its lease outlives this timeout, so two polls never overlap. */
export const POLL_TIMEOUT_SECONDS = 300;
/** Listing a source's window and looking each record up takes a while; well inside Lambda's 900 s. */
export const RECONCILE_TIMEOUT_SECONDS = 600;
/** AWS asks for a visibility timeout of at least 6x the consuming function's timeout. */
const VISIBILITY_FACTOR = 6;
const FOURTEEN_DAYS = 14 * 24 * 3600;
const FOUR_DAYS = 4 * 24 * 3600;
/** The inbound queue retries route failures this often before the DLQ. */
export const INBOUND_MAX_RECEIVE_COUNT = 5;

export function deliveryQueueKey(destination: string): string {
  return `deliver-${destination}`;
}

/** What the deploy adds to the config: the stage's secrets prefix (lib/stages.ts). */
export interface TopologyOptions {
  /**
   * Put before every secret name the functions read, and granted under that full name, so each
   * stage reads its own secrets (`prod/acme/stripe-webhook`).
   *
   * @default - none: the names are the config's (the unstaged hub, the local runtime)
   */
  readonly secretsPrefix?: string;
}

/** The environment variable carrying the secrets prefix to the functions (absent: no prefix). */
export const SECRETS_PREFIX_ENV = 'SWITCHYARD_SECRETS_PREFIX';

export function deriveTopology(config: SwitchyardConfig, options: TopologyOptions = {}): Topology {
  const name = config.name;
  const common: Record<string, EnvRef> = {
    POWERTOOLS_SERVICE_NAME: { kind: 'literal', value: name },
    POWERTOOLS_METRICS_NAMESPACE: { kind: 'literal', value: 'Switchyard' },
    POWERTOOLS_LOG_LEVEL: { kind: 'literal', value: config.logs.level },
  };

  const destinationsInFlows = [...new Set(config.flows.flatMap((flow) => flow.to))];
  const webhookSecrets = Object.values(config.sources).flatMap((source) =>
    source.connector === 'rest-poll' ? [] : [source.secret],
  );
  const polled = Object.entries(config.sources).flatMap(([name, source]) =>
    source.connector === 'rest-poll' ? [{ name, source }] : [],
  );

  const queues: QueueSpec[] = [
    {
      key: 'inbound',
      name: `${name}-inbound`,
      fifo: false,
      visibilityTimeoutSeconds: ROUTE_TIMEOUT_SECONDS * VISIBILITY_FACTOR,
      retentionSeconds: FOUR_DAYS,
      maxReceiveCount: INBOUND_MAX_RECEIVE_COUNT,
      deadLetter: { name: `${name}-inbound-dlq`, retentionSeconds: FOURTEEN_DAYS },
      consumer: 'route',
    },
    ...destinationsInFlows.map((destination): QueueSpec => {
      const settings = config.destinations[destination];
      return {
        key: deliveryQueueKey(destination),
        name: `${name}-deliver-${destination}.fifo`,
        fifo: true,
        visibilityTimeoutSeconds: DELIVER_TIMEOUT_SECONDS * VISIBILITY_FACTOR,
        retentionSeconds: FOURTEEN_DAYS,
        maxReceiveCount: settings?.retry.maxReceiveCount ?? 8,
        deadLetter: { name: `${name}-deliver-${destination}-dlq.fifo`, retentionSeconds: FOURTEEN_DAYS },
        consumer: deliveryQueueKey(destination),
        destination,
      };
    }),
  ];

  const functions: FunctionSpec[] = [
    {
      key: 'ingest',
      kind: 'ingest',
      entry: 'functions/ingest.ts',
      timeoutSeconds: INGEST_TIMEOUT_SECONDS,
      memoryMb: 512,
      env: { ...common, INBOUND_QUEUE_URL: { kind: 'queueUrl', queue: 'inbound' } },
      secrets: [...new Set(webhookSecrets)],
      sendsTo: ['inbound'],
      table: 'none',
    },
    {
      key: 'route',
      kind: 'route',
      entry: 'functions/route.ts',
      timeoutSeconds: ROUTE_TIMEOUT_SECONDS,
      memoryMb: 512,
      env: {
        ...common,
        STATE_TABLE_NAME: { kind: 'tableName' },
        SOURCE_QUEUE_URL: { kind: 'queueUrl', queue: 'inbound' },
        MAX_RECEIVE_COUNT: { kind: 'literal', value: String(INBOUND_MAX_RECEIVE_COUNT) },
        DESTINATION_QUEUE_URLS: {
          kind: 'queueUrlMap',
          queues: Object.fromEntries(destinationsInFlows.map((d) => [d, deliveryQueueKey(d)])),
        },
      },
      secrets: [],
      consumes: { queue: 'inbound', batchSize: 10, maxBatchingWindowSeconds: 0 },
      sendsTo: destinationsInFlows.map(deliveryQueueKey),
      table: 'read-write',
    },
    ...destinationsInFlows.map((destination): FunctionSpec => {
      const settings = config.destinations[destination];
      const key = deliveryQueueKey(destination);
      return {
        key,
        kind: 'deliver',
        entry: 'functions/deliver.ts',
        timeoutSeconds: DELIVER_TIMEOUT_SECONDS,
        memoryMb: 512,
        env: {
          ...common,
          STATE_TABLE_NAME: { kind: 'tableName' },
          SOURCE_QUEUE_URL: { kind: 'queueUrl', queue: key },
          MAX_RECEIVE_COUNT: { kind: 'literal', value: String(settings?.retry.maxReceiveCount ?? 8) },
          DESTINATION_NAME: { kind: 'literal', value: destination },
        },
        secrets: settings?.secret ? [settings.secret] : [],
        consumes: {
          queue: key,
          batchSize: 10,
          maxBatchingWindowSeconds: 0,
          maxConcurrency: settings?.maxConcurrency ?? 5,
        },
        // Its own queue only: an open circuit breaker puts a waiting record back there.
        sendsTo: [key],
        table: 'read-write',
      };
    }),
  ];

  // Polled sources have no webhook endpoint: nothing to receive, and nothing to attack.
  const routes: RouteSpec[] = Object.keys(config.sources)
    .filter((source) => config.sources[source]?.connector !== 'rest-poll')
    .map((source) => ({
      source,
      method: 'POST',
      path: `/webhooks/${source}`,
      function: 'ingest',
    }));

  const schedules: ScheduleSpec[] = polled.map(({ name: source, source: settings }) => ({
    source,
    expression: settings.schedule,
    function: 'poll',
  }));
  if (polled.length > 0) {
    functions.push({
      key: 'poll',
      kind: 'poll',
      entry: 'functions/poll.ts',
      timeoutSeconds: POLL_TIMEOUT_SECONDS,
      memoryMb: 512,
      env: {
        ...common,
        STATE_TABLE_NAME: { kind: 'tableName' },
        INBOUND_QUEUE_URL: { kind: 'queueUrl', queue: 'inbound' },
      },
      secrets: [...new Set(polled.flatMap(({ source }) => (source.secret ? [source.secret] : [])))],
      sendsTo: ['inbound'],
      table: 'read-write',
    });
  }

  const reconciled = config.flows.flatMap((flow) =>
    flow.reconcile ? [{ flow, settings: flow.reconcile }] : [],
  );
  const reconciles: ReconcileScheduleSpec[] = reconciled.map(({ flow, settings }) => ({
    flow: flow.name,
    expression: settings.schedule,
    windowHours: settings.windowHours,
    repair: settings.repair,
    function: 'reconcile',
  }));
  if (reconciled.length > 0) {
    // Only what listing the flows' sources needs: a rest-poll source's credential, Stripe's API key.
    const listSecrets = reconciled.flatMap(({ flow }) =>
      flow.from.flatMap((name) => {
        const source = config.sources[name];
        if (source?.connector === 'rest-poll') return source.secret ? [source.secret] : [];
        if (source?.connector === 'stripe') return source.api ? [source.api.secret] : [];
        return [];
      }),
    );
    // A repair sends: to the inbound queue (missing at the hub) and to the flow's lanes.
    const repairing = reconciled.filter(({ settings }) => settings.repair);
    const repairLanes = [...new Set(repairing.flatMap(({ flow }) => flow.to))];
    functions.push({
      key: 'reconcile',
      kind: 'reconcile',
      entry: 'functions/reconcile.ts',
      timeoutSeconds: RECONCILE_TIMEOUT_SECONDS,
      memoryMb: 512,
      env: {
        ...common,
        STATE_TABLE_NAME: { kind: 'tableName' },
        ...(repairing.length > 0
          ? {
              INBOUND_QUEUE_URL: { kind: 'queueUrl', queue: 'inbound' } as const,
              DESTINATION_QUEUE_URLS: {
                kind: 'queueUrlMap',
                queues: Object.fromEntries(repairLanes.map((d) => [d, deliveryQueueKey(d)])),
              } as const,
            }
          : {}),
      },
      secrets: [...new Set(listSecrets)],
      sendsTo: repairing.length > 0 ? ['inbound', ...repairLanes.map(deliveryQueueKey)] : [],
      // Reads xrefs, canonical records and mappings; writes the report document.
      table: 'read-write',
    });
  }

  const prefix = options.secretsPrefix ?? '';
  if (prefix !== '') {
    functions.forEach((fn, i) => {
      functions[i] = {
        ...fn,
        secrets: fn.secrets.map((secret) => `${prefix}${secret}`),
        env: { ...fn.env, [SECRETS_PREFIX_ENV]: { kind: 'literal', value: prefix } },
      };
    });
  }

  const secretUse = new Map<string, string[]>();
  for (const fn of functions) {
    for (const secret of fn.secrets) secretUse.set(secret, [...(secretUse.get(secret) ?? []), fn.key]);
  }

  return {
    name,
    table: { name: `${name}-state`, partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' },
    queues,
    functions,
    routes,
    schedules,
    reconciles,
    secrets: [...secretUse].map(([secretName, usedBy]) => ({ name: secretName, usedBy })),
  };
}
