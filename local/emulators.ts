import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { type BuildAppOptions, buildApp, interceptLocalhostDns } from 'fauxqs';
import { observedSqsStore, type QueueObserver } from './fauxqs-store.js';
import { createLogger, type Logger } from './log.js';

/**
 * The two embedded emulators the local runtime runs on: dynalite (DynamoDB on LevelDB) and fauxqs
 * (SQS, in memory), both in this process, both bound to 127.0.0.1 on free ports.
 *
 * Queue URLs: fauxqs names every queue `http://sqs.<region>.localhost:<port>/000000000000/<name>` and
 * looks queues up by that exact string. SDK v3 SQS clients that are not given an explicit `endpoint`
 * (the handler modules: they get theirs from AWS_ENDPOINT_URL_SQS) send each request to the queue
 * URL's host, and glibc does not resolve `*.localhost`. So the SQS endpoint handed out here is that
 * same `sqs.us-east-1.localhost:<port>` origin, and while emulators run, `dns.lookup` answers
 * 127.0.0.1 for `*.localhost` names in this process (fauxqs' own `interceptLocalhostDns`, which is
 * what RFC 6761 asks of `.localhost` anyway). Outside the process, any client with an explicit
 * endpoint of `http://127.0.0.1:<port>` works too: to fauxqs the queue URL is only a lookup key.
 */

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';
/** Dummy static credentials: the emulators accept any signature, but the SDK insists on signing. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export interface EmulatorOptions {
  /** Root of the runtime's data; dynalite's LevelDB lives in `${dataDir}/dynamodb`. */
  dataDir: string;
  /** Keep DynamoDB in memory instead (nothing survives stop()). fauxqs is always in memory. */
  inMemory?: boolean;
  logger?: Logger;
  /**
   * Told of every change to what the queues hold (see local/fauxqs-store.ts); fauxqs answers no
   * request before `sync()` resolves, so a client only hears of a change once it is durable.
   */
  queueJournal?: QueueObserver & { sync(): Promise<void> };
}

export interface Emulators {
  /** `http://127.0.0.1:<port>` */
  readonly dynamodbEndpoint: string;
  /** `http://sqs.us-east-1.localhost:<port>`: the origin fauxqs puts in queue URLs (see above). */
  readonly sqsEndpoint: string;
  readonly region: string;
  /** Closes both servers, their connections and LevelDB. Idempotent. */
  stop(): Promise<void>;
}

export interface LocalAwsClientConfig {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** Config for an SDK v3 client pointed at one emulator: `new SQSClient(awsClientConfig(e.sqsEndpoint))`. */
export function awsClientConfig(endpoint: string): LocalAwsClientConfig {
  return { region: LOCAL_REGION, endpoint, credentials: { ...LOCAL_CREDENTIALS } };
}

const ENV_KEYS = [
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_SQS',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
] as const;

/**
 * Points SDK clients that configure themselves from the environment (the handler modules) at the
 * emulators: endpoint URLs, region and dummy credentials. Also removes what would defeat that (a
 * session token or profile from the developer's shell, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
 * Returns a function that restores the previous values. Clients read the environment when they are
 * constructed, so call this before importing or invoking handler modules that build clients.
 */
export function setLocalAwsEnv(
  endpoints: Pick<Emulators, 'dynamodbEndpoint' | 'sqsEndpoint'>,
  env: NodeJS.ProcessEnv = process.env,
): () => void {
  const previous = new Map(ENV_KEYS.map((key) => [key, env[key]] as const));
  for (const key of ['AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS'] as const) {
    delete env[key];
  }
  env.AWS_ENDPOINT_URL_DYNAMODB = endpoints.dynamodbEndpoint;
  env.AWS_ENDPOINT_URL_SQS = endpoints.sqsEndpoint;
  env.AWS_REGION = LOCAL_REGION;
  env.AWS_DEFAULT_REGION = LOCAL_REGION;
  env.AWS_ACCESS_KEY_ID = LOCAL_CREDENTIALS.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = LOCAL_CREDENTIALS.secretAccessKey;
  return () => {
    for (const [key, value] of previous) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
  };
}

/** dynalite ships no types; this is the part of its API used here. */
type DynaliteFactory = (options: {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as DynaliteFactory;

export async function startEmulators(options: EmulatorOptions): Promise<Emulators> {
  const log = options.logger ?? createLogger('emulators');
  const dynamoPath = options.inMemory ? undefined : join(options.dataDir, 'dynamodb');
  if (dynamoPath) {
    await mkdir(dynamoPath, { recursive: true });
    await assertLevelDbAvailable(dynamoPath);
  }

  const dynamo = dynalite({
    ...(dynamoPath ? { path: dynamoPath } : {}),
    // Tables would otherwise sit in CREATING (and reject item writes) for 500 ms.
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  let dynamoListening = false;
  let sqs: ReturnType<typeof buildApp> | undefined;
  let restoreDns: (() => void) | undefined;

  const closeAll = async () => {
    const results = await Promise.allSettled([
      dynamoListening ? closeDynalite(dynamo) : Promise.resolve(),
      sqs ? sqs.close() : Promise.resolve(),
    ]);
    restoreDns?.();
    restoreDns = undefined;
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failures.length > 0) throw new AggregateError(failures, 'emulators did not stop cleanly');
  };

  try {
    const dynamoPort = await listen(dynamo);
    dynamoListening = true;
    const dynamodbEndpoint = `http://127.0.0.1:${dynamoPort}`;
    await probeDynalite(dynamodbEndpoint);

    // buildApp rather than startFauxqs: startFauxqs always listens on 0.0.0.0 (every interface).
    const journal = options.queueJournal;
    sqs = buildApp({
      logger: false,
      defaultRegion: LOCAL_REGION,
      // fauxqs creates the SNS and S3 stores it is not given; only the SQS store is observed.
      ...(journal
        ? { stores: { sqsStore: await observedSqsStore(journal) } as unknown as BuildAppOptions['stores'] }
        : {}),
    });
    if (journal) {
      sqs.addHook('onSend', async (_request, _reply, payload) => {
        await journal.sync();
        return payload;
      });
    }
    await sqs.listen({ port: 0, host: '127.0.0.1' });
    const sqsPort = (sqs.server.address() as AddressInfo).port;
    const sqsEndpoint = `http://sqs.${LOCAL_REGION}.localhost:${sqsPort}`;
    restoreDns = acquireLocalhostDns();

    log.info('emulators started', {
      dynamodbEndpoint,
      sqsEndpoint,
      dynamodb: dynamoPath ?? 'in-memory',
    });

    let stopping: Promise<void> | undefined;
    return {
      dynamodbEndpoint,
      sqsEndpoint,
      region: LOCAL_REGION,
      stop() {
        stopping ??= closeAll().then(() => log.info('emulators stopped'));
        return stopping;
      },
    };
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * dynalite's close waits for every HTTP connection to end before closing LevelDB, and a keep-alive
 * socket that turns idle after close() was called would hold it open forever. So idle sockets are
 * swept until the server has closed, and after a grace period all of them are cut.
 */
function closeDynalite(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 25);
    const cut = setTimeout(() => server.closeAllConnections(), 5_000);
    server.close((error) => {
      clearInterval(sweep);
      clearTimeout(cut);
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * dynalite opens LevelDB lazily, and when it cannot (another process, or another emulator in this
 * one, holds the directory's LOCK) its first request throws inside an HTTP handler: an uncaught
 * exception that kills the process. Opening the store once here turns that into a plain error.
 */
async function assertLevelDbAvailable(path: string): Promise<void> {
  const requireFromDynalite = createRequire(require.resolve('dynalite'));
  const { Level } = requireFromDynalite('level') as {
    Level: new (location: string) => { open(): Promise<void>; close(): Promise<void> };
  };
  const db = new Level(path);
  try {
    await db.open();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    const hint =
      cause?.code === 'LEVEL_LOCKED'
        ? 'another switchyard process (or emulator in this one) is using it; stop it or use another data dir'
        : 'the store may be damaged; delete the directory to start over';
    throw new Error(`cannot open the DynamoDB store at ${path}: ${hint}`, { cause: error });
  }
  await db.close();
}

async function probeDynalite(endpoint: string): Promise<void> {
  const client = new DynamoDBClient({ ...awsClientConfig(endpoint), maxAttempts: 1 });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }));
  } finally {
    client.destroy();
  }
}

// One process-wide `*.localhost` DNS override, shared by every running emulator set.
let dnsUsers = 0;
let restoreLookup: (() => void) | undefined;

function acquireLocalhostDns(): () => void {
  if (dnsUsers === 0) restoreLookup = interceptLocalhostDns('localhost');
  dnsUsers += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    dnsUsers -= 1;
    if (dnsUsers === 0) {
      restoreLookup?.();
      restoreLookup = undefined;
    }
  };
}
