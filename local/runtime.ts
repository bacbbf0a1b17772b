import type { Server } from 'node:http';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { DynamoOpsStore, DynamoStateStore, documentClient } from '../functions/aws/dynamo-state-store.js';
import { SqsDeliveryQueues, SqsInboundQueue } from '../functions/aws/sqs.js';
import { nodeHttpFetch } from '../functions/connectors/node-http.js';
import type { SwitchyardConfig } from '../functions/core/config.js';
import type { PollResult } from '../functions/core/poll.js';
import { type Clock, type HttpFetch, type SecretStore, systemClock } from '../functions/core/ports.js';
import { deriveTopology, type EnvRef, type FunctionSpec, type Topology } from '../functions/core/topology.js';
import { webhookSource } from '../functions/handlers/ingest-handler.js';
import type { PollEvent } from '../functions/handlers/poll-handler.js';
import type { ReconcileEvent, ReconcileSummary } from '../functions/handlers/reconcile-handler.js';
import {
  deliverHandlerFromEnv,
  type Env,
  ingestHandlerFromEnv,
  pollHandlerFromEnv,
  reconcileHandlerFromEnv,
  routeHandlerFromEnv,
  type SharedDeps,
} from '../functions/wiring.js';
import { LocalAuditTrail } from './audit-file.js';
import { type ConsoleApi, createConsoleApi } from './console/api.js';
import { EventTrace } from './console/trace.js';
import { awsClientConfig, startEmulators } from './emulators.js';
import { createHubServer, listen } from './http-server.js';
import { lambdaContext } from './lambda-context.js';
import { createLogger, type Logger as RuntimeLogger } from './log.js';
import { createOpsRoutes } from './ops-routes.js';
import { provision } from './provision.js';
import { QueueJournal, readJournal } from './queue-journal.js';
import { resendJournaled, saveCounters, seedCounters, takeSavedCounters } from './queue-recovery.js';
import { LocalScheduler } from './scheduler.js';
import { SqsEventSourcePoller } from './sqs-poller.js';
import { type HubStats, LocalTelemetry } from './stats.js';

const LOCAL_UNCAPPED_CONCURRENCY = 2;

export interface StartRuntimeOptions {
  readonly config: SwitchyardConfig;
  readonly secrets: SecretStore;
  /** Where dynalite keeps its LevelDB files (ignored when `inMemory`). */
  readonly dataDir: string;
  readonly inMemory?: boolean;
  /**
   * Journal the queues to the data directory (local/queue-journal.ts). Default true unless
   * `inMemory`; off only for the benchmark's baseline, as the queues then die with the process.
   */
  readonly queueJournal?: boolean;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** Level for the handlers' Powertools logger. */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Long-poll wait of the queue pollers, seconds. */
  readonly pollWaitSeconds?: number;
  /** Outbound HTTP of the handlers (destinations, polled APIs). @default - nodeHttpFetch, as in Lambda */
  readonly fetch?: HttpFetch;
  readonly clock?: Clock;
  readonly log?: RuntimeLogger;
  /**
   * Called with the SDK clients the handlers use (not the pollers' or the stats' own), e.g. to count
   * the AWS calls the pipeline makes per record.
   */
  readonly instrumentHandlerClients?: (clients: { sqs: SQSClient; dynamodb: DynamoDBClient }) => void;
  /**
   * Puts something between the handlers and dynalite: called with dynalite's endpoint, returns the
   * endpoint the handlers' DynamoDB client uses instead (the chaos suite's fault proxy fails mapping
   * writes there). The runtime's own client (provisioning, stats, console) still talks to dynalite.
   */
  readonly handlerDynamodbEndpoint?: (dynaliteEndpoint: string) => string | Promise<string>;
  /** Fire the config's schedules (default true); tests that poll by hand turn it off. */
  readonly schedules?: boolean;
  /** Called after every function invocation with its wall time (what Lambda would bill). */
  readonly onInvocation?: (functionKey: string, durationMs: number, records: number) => void;
}

export interface HubRuntime {
  readonly url: string;
  readonly config: SwitchyardConfig;
  readonly topology: Topology;
  readonly telemetry: LocalTelemetry;
  /** What the console at `/` reads: quarantine, event search, DLQ redrive. */
  readonly console: ConsoleApi;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly queueUrls: Readonly<Record<string, string>>;
  readonly deadLetterUrls: Readonly<Record<string, string>>;
  /** Every stage transition, in `audit.jsonl` in the data directory (memory only when `inMemory`). */
  readonly audit: LocalAuditTrail;
  stats(): Promise<HubStats>;
  /** Runs one poll of a polled source now, through the real poll function. */
  pollNow(source: string): Promise<PollResult>;
  /** Runs the reconcile function for a flow now, as its schedule does (flows with a `reconcile` block). */
  reconcileNow(flow: string): Promise<ReconcileSummary>;
  /** Resolves once nothing is in flight anywhere (or rejects after `timeoutMs`). */
  settle(timeoutMs?: number): Promise<HubStats>;
  /**
   * Stops accepting (503), lets the pollers empty the queues for a while, then stops the pollers and
   * the emulators. What is still queued is in the queue journal (unless in memory: then it is gone).
   */
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
}

/** A function's environment as Lambda would see it, from the topology's references and what was provisioned. */
export function resolveEnv(
  spec: FunctionSpec,
  tableName: string,
  queueUrls: Readonly<Record<string, string>>,
): Record<string, string> {
  const url = (key: string): string => {
    const value = queueUrls[key];
    if (!value) throw new Error(`Topology names queue "${key}", which was not provisioned`);
    return value;
  };
  const resolve = (ref: EnvRef): string => {
    switch (ref.kind) {
      case 'literal':
        return ref.value;
      case 'tableName':
        return tableName;
      case 'queueUrl':
        return url(ref.queue);
      case 'queueUrlMap':
        return JSON.stringify(
          Object.fromEntries(Object.entries(ref.queues).map(([name, key]) => [name, url(key)])),
        );
    }
  };
  return Object.fromEntries(Object.entries(spec.env).map(([name, ref]) => [name, resolve(ref)]));
}

/**
 * Like Lambda's execution environments: each handles one invocation at a time and keeps its own
 * module state (batch processor, logger keys). Concurrent invocations get separate instances,
 * created on demand and reused when warm.
 */
function warmPool<E, R>(
  create: () => (event: E, context: Context) => Promise<R>,
  onInvocation: ((durationMs: number, records: number) => void) | undefined,
) {
  const idle: ((event: E, context: Context) => Promise<R>)[] = [];
  return async (event: E, context: Context): Promise<R> => {
    const instance = idle.pop() ?? create();
    const started = performance.now();
    try {
      return await instance(event, context);
    } finally {
      idle.push(instance);
      const records = (event as { Records?: unknown[] }).Records?.length ?? 1;
      onInvocation?.(performance.now() - started, records);
    }
  };
}

/**
 * The hub on a laptop: dynalite and fauxqs in-process, tables and queues from the same topology
 * the CDK stack builds, the real handlers invoked by pollers that behave like Lambda's SQS event
 * source, and the webhook endpoint on loopback.
 */
export async function startRuntime(options: StartRuntimeOptions): Promise<HubRuntime> {
  const { config } = options;
  const log = options.log ?? createLogger('runtime');
  const topology = deriveTopology(config);
  // fauxqs keeps queues in memory; the journal in the data directory is what survives the process.
  const journaling = !options.inMemory && options.queueJournal !== false;
  const recovered = journaling ? await readJournal(options.dataDir) : undefined;
  const journal = journaling ? new QueueJournal(options.dataDir) : undefined;
  const emulators = await startEmulators({
    dataDir: options.dataDir,
    inMemory: options.inMemory ?? false,
    logger: log,
    ...(journal ? { queueJournal: journal } : {}),
  });
  // The runtime's own clients (provisioning, pollers, stats) are kept apart from the handlers', as
  // in AWS, where the event source mapping and CloudWatch are not the function's calls.
  const sqs = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
  const dynamoClient = new DynamoDBClient(awsClientConfig(emulators.dynamodbEndpoint));
  const handlerSqs = new SQSClient(awsClientConfig(emulators.sqsEndpoint));
  const handlerDynamoClient = new DynamoDBClient(
    awsClientConfig(
      options.handlerDynamodbEndpoint
        ? await options.handlerDynamodbEndpoint(emulators.dynamodbEndpoint)
        : emulators.dynamodbEndpoint,
    ),
  );
  options.instrumentHandlerClients?.({ sqs: handlerSqs, dynamodb: handlerDynamoClient });
  const handlerDynamo = documentClient(handlerDynamoClient);
  const dynamo = documentClient(dynamoClient);
  const provisioned = await provision(topology, { dynamodb: dynamoClient, sqs }, { logger: log });
  const telemetry = new LocalTelemetry();
  const queueUrlByName = new Map(
    topology.queues.flatMap((q) => [
      [q.name, provisioned.queueUrls[q.key] ?? ''],
      [q.deadLetter.name, provisioned.deadLetterUrls[q.key] ?? ''],
    ]),
  );
  if (journal && recovered) {
    // What the journal holds as queued comes back before anything new is accepted; then the file
    // is rewritten with only that (a crash while re-sending leaves the old file to try again).
    const resent = await resendJournaled(sqs, queueUrlByName, recovered.messages, log);
    await journal.open();
    const saved = await takeSavedCounters(options.dataDir);
    if (saved) telemetry.importCounters(saved);
    else if (recovered.found) seedCounters(telemetry, topology, resent);
    if (recovered.found && saved) {
      log.info('restored the queues kept at the last stop', { messages: resent.length });
    } else if (recovered.found) {
      // An unclean stop (SIGKILL, a crash, power loss): say so, and how the counters were rebuilt.
      log.warn('recovered the queues after an unclean stop; the counters start over from them', {
        messages: resent.length,
        tornLastLine: recovered.tornTail,
      });
    }
  }
  // The audit trail (what `switchyard trace` reads) survives restarts; the EventTrace beside it keeps
  // the attempt-level detail (each receive, each destination call) of recent events, in memory.
  const { trail: audit, report: auditReport } = await LocalAuditTrail.open(
    options.inMemory ? undefined : options.dataDir,
    { retentionDays: config.audit.retentionDays, now: (options.clock ?? systemClock).now() },
  );
  if (auditReport.pruned > 0 || auditReport.unreadable > 0)
    log.info('audit trail compacted', { ...auditReport, retentionDays: config.audit.retentionDays });
  // A hub left running for weeks prunes the trail too, not only at start.
  const auditPruning = setInterval(() => {
    void audit.prune((options.clock ?? systemClock).now()).catch((error: unknown) => {
      log.warn('could not prune the audit trail', { error: String(error) });
    });
  }, 6 * 3_600_000);
  auditPruning.unref();
  const trace = new EventTrace();
  const handlerFetch = trace.wrapFetch(options.fetch ?? nodeHttpFetch);
  // A fresh logger per execution environment: its appended keys (correlation id) are per invocation.
  const shared = (): SharedDeps => ({
    config,
    logger: new Logger({ serviceName: config.name, logLevel: options.logLevel ?? 'WARN' }),
    telemetry,
    secrets: options.secrets,
    sqs: handlerSqs,
    dynamo: handlerDynamo,
    ...(options.clock ? { clock: options.clock } : {}),
    fetch: handlerFetch,
    audit,
  });

  const envOf = (spec: FunctionSpec): Env => resolveEnv(spec, provisioned.tableName, provisioned.queueUrls);
  const ingestSpec = topology.functions.find((fn) => fn.kind === 'ingest');
  if (!ingestSpec) throw new Error('The topology has no ingest function');
  const timed = (key: string) =>
    options.onInvocation
      ? (ms: number, records: number) => options.onInvocation?.(key, ms, records)
      : undefined;
  const ingest = warmPool(() => ingestHandlerFromEnv(envOf(ingestSpec), shared()), timed(ingestSpec.key));

  // Polled sources: the poll function, fired by the local scheduler or `switchyard poll <source>`.
  const pollSpec = topology.functions.find((fn) => fn.kind === 'poll');
  const pollFunction = pollSpec
    ? warmPool<PollEvent, PollResult>(
        () => pollHandlerFromEnv(envOf(pollSpec), shared()),
        timed(pollSpec.key),
      )
    : undefined;
  const pollNow = async (source: string): Promise<PollResult> => {
    if (!pollFunction || !pollSpec) throw new Error(`No polled source named "${source}"`);
    return pollFunction({ source }, lambdaContext(`${topology.name}-poll`, pollSpec.timeoutSeconds));
  };
  const scheduler = new LocalScheduler(topology.schedules, (schedule) => pollNow(schedule.source), log);
  // Reconciled flows: the reconcile function, fired by its own local scheduler with `{ flow }`.
  const reconcileSpec = topology.functions.find((fn) => fn.kind === 'reconcile');
  const reconcileFunction = reconcileSpec
    ? warmPool<ReconcileEvent, ReconcileSummary>(
        () => reconcileHandlerFromEnv(envOf(reconcileSpec), shared()),
        timed(reconcileSpec.key),
      )
    : undefined;
  const reconcileNow = async (flow: string): Promise<ReconcileSummary> => {
    if (!reconcileFunction || !reconcileSpec) throw new Error('No flow of this hub has a reconcile block');
    return reconcileFunction(
      { flow },
      lambdaContext(`${topology.name}-reconcile`, reconcileSpec.timeoutSeconds),
    );
  };
  const reconcileScheduler = new LocalScheduler(
    topology.reconciles.map((spec) => ({
      source: spec.flow,
      expression: spec.expression,
      function: spec.function,
    })),
    (schedule) => reconcileNow(schedule.source),
    log,
  );

  const pollers: SqsEventSourcePoller[] = [];
  for (const spec of topology.functions) {
    if (!spec.consumes) continue;
    const queue = topology.queues.find((q) => q.key === spec.consumes?.queue);
    const queueUrl = provisioned.queueUrls[spec.consumes.queue];
    if (!queue || !queueUrl)
      throw new Error(`Function ${spec.key} consumes an unknown queue ${spec.consumes.queue}`);
    const env = envOf(spec);
    const invoke = warmPool<SQSEvent, SQSBatchResponse>(
      () =>
        spec.kind === 'route' ? routeHandlerFromEnv(env, shared()) : deliverHandlerFromEnv(env, shared()),
      timed(spec.key),
    );
    const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
      let response: SQSBatchResponse | undefined;
      try {
        response = await invoke(event, context);
        return response;
      } finally {
        trace.batch(spec.kind === 'route' ? 'route' : 'deliver', event, response, queue.maxReceiveCount);
      }
    };
    pollers.push(
      new SqsEventSourcePoller({
        sqs,
        queueUrl,
        queueArn:
          provisioned.queueArns[spec.consumes.queue] ?? `arn:aws:sqs:us-east-1:000000000000:${queue.name}`,
        functionName: `${topology.name}-${spec.key}`,
        timeoutSeconds: spec.timeoutSeconds,
        batchSize: spec.consumes.batchSize,
        maxBatchingWindowSeconds: spec.consumes.maxBatchingWindowSeconds,
        // Lambda scales an uncapped event source far wider; a laptop does not need more than this.
        maxConcurrency: spec.consumes.maxConcurrency ?? LOCAL_UNCAPPED_CONCURRENCY,
        waitTimeSeconds: options.pollWaitSeconds ?? 1,
        handler,
        logger: log.child({ poller: spec.key }),
      }),
    );
  }

  const depthOf = async (queueUrl: string | undefined): Promise<number> => {
    if (!queueUrl) return 0;
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return (
      Number(Attributes.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  };

  const stats = async (): Promise<HubStats> => {
    const destinations: Record<string, { depth: number; deadLetterDepth: number }> = {};
    for (const queue of topology.queues) {
      if (!queue.destination) continue;
      destinations[queue.destination] = {
        depth: await depthOf(provisioned.queueUrls[queue.key]),
        deadLetterDepth: await depthOf(provisioned.deadLetterUrls[queue.key]),
      };
    }
    return telemetry.snapshot(config, {
      inbound: await depthOf(provisioned.queueUrls.inbound),
      inboundDeadLetter: await depthOf(provisioned.deadLetterUrls.inbound),
      destinations,
    });
  };

  const consoleApi = createConsoleApi({
    config,
    topology,
    dynamo,
    tableName: provisioned.tableName,
    sqs,
    queueUrls: provisioned.queueUrls,
    deadLetterUrls: provisioned.deadLetterUrls,
    trace,
    audit,
    telemetry,
  });

  const stateForOps = new DynamoStateStore(
    handlerDynamo,
    provisioned.tableName,
    config.quarantine.retentionDays * 86_400,
  );
  let draining = false;
  const server: Server = createHubServer({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 3000,
    maxBodyBytes: config.limits.maxBodyBytes,
    ingress: config.api.ingress,
    invokeIngest: async (event) => {
      const result = await ingest(event, lambdaContext(`${topology.name}-ingest`, ingestSpec.timeoutSeconds));
      trace.ingest(webhookSource(event), result.statusCode ?? 200, result.body);
      return result;
    },
    stats,
    isDraining: () => draining,
    console: consoleApi,
    pollNow: (source) => pollNow(source),
    ops: createOpsRoutes(
      {
        config,
        ops: new DynamoOpsStore(handlerDynamo, provisioned.tableName),
        inbound: new SqsInboundQueue(handlerSqs, provisioned.queueUrls.inbound ?? ''),
        deliveryQueues: new SqsDeliveryQueues(
          handlerSqs,
          Object.fromEntries(
            topology.queues.flatMap((q) =>
              q.destination ? [[q.destination, provisioned.queueUrls[q.key] ?? '']] : [],
            ),
          ),
        ),
        telemetry,
        clock: options.clock ?? systemClock,
        secrets: options.secrets,
        mappings: stateForOps,
        canonical: stateForOps,
        state: stateForOps,
        // Not the traced fetch: a diff's reads are no event's destination calls.
        fetch: options.fetch ?? nodeHttpFetch,
        audit,
      },
      () => audit.all(),
    ),
  });
  const url = await listen(server, options.host ?? '127.0.0.1', options.port ?? 3000);
  for (const poller of pollers) poller.start();
  if (options.schedules !== false) {
    scheduler.start();
    reconcileScheduler.start();
  }

  async function settle(timeoutMs = 30_000): Promise<HubStats> {
    const deadline = Date.now() + timeoutMs;
    let quietSince: number | undefined;
    for (;;) {
      const current = await stats();
      const busy = current.totals.inFlight > 0 || pollers.some((p) => p.stats.inFlightBatches > 0);
      if (!busy) {
        quietSince ??= Date.now();
        // Counters are bumped before a message is deleted: wait a moment of calm to read them.
        if (Date.now() - quietSince >= 150) return current;
      } else {
        quietSince = undefined;
      }
      if (Date.now() > deadline) {
        throw new Error(`Hub did not settle within ${timeoutMs} ms: ${JSON.stringify(current.totals)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  let stopped: Promise<void> | undefined;
  return {
    url,
    config,
    topology,
    telemetry,
    console: consoleApi,
    sqs,
    dynamo,
    tableName: provisioned.tableName,
    queueUrls: provisioned.queueUrls,
    deadLetterUrls: provisioned.deadLetterUrls,
    audit,
    stats,
    settle,
    pollNow,
    reconcileNow,
    stop(stopOptions = {}) {
      stopped ??= (async () => {
        // Keep listening while draining, so callers get a clear 503 rather than a refused connection.
        draining = true;
        await scheduler.stop();
        await reconcileScheduler.stop();
        try {
          await settle(stopOptions.drainTimeoutMs ?? 10_000);
        } catch {
          const left = await stats().catch(() => undefined);
          log.warn(
            options.inMemory
              ? 'stopping with messages still queued; this in-memory hub loses them'
              : 'stopping with messages still queued; they are kept in the journal in the data directory and restored at the next start',
            { inFlight: left?.totals.inFlight },
          );
        }
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await Promise.all(pollers.map((poller) => poller.stop()));
        clearInterval(auditPruning);
        await audit.flush();
        if (audit.writeError)
          log.warn('the audit trail could not be written completely', { error: String(audit.writeError) });
        if (journal) {
          // Whatever the drain left (delayed retries, a paused lane, dead letters) is in the journal
          // already; the counters are saved so the next start carries them exactly.
          await journal.close();
          await saveCounters(options.dataDir, telemetry.exportCounters());
        }
        for (const client of [sqs, handlerSqs, dynamoClient, handlerDynamoClient]) client.destroy();
        await emulators.stop();
      })();
      return stopped;
    },
  };
}
