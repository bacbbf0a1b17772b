import { Agent, createServer, type IncomingMessage, request, type Server } from 'node:http';
import { listen } from '../../local/http-server.js';

/** How an injected mapping-write failure looks to the SDK: a DynamoDB 500, or a connection cut mid-request. */
export type MappingFaultMode = 'error' | 'drop';

export interface InjectedFault {
  /** The mapping item's partition key (`<entity>#<canonical id>`). */
  readonly pk: string;
  readonly mode: MappingFaultMode;
  readonly at: number;
}

export interface DynamoFaultProxy {
  /** `http://127.0.0.1:<port>`: give it to the handlers as their DynamoDB endpoint. */
  readonly url: string;
  /** Every request that was failed on purpose, in order. */
  readonly injected: InjectedFault[];
  /**
   * Fails each entity's mapping write (PutItem of `sk = MAP#<destination>`), which the deliver
   * handler makes right after the destination call, on every attempt until the mapping is read
   * again: that read is the next delivery attempt, so exactly the first invocation fails, however
   * many times the SDK retries within it. `modeFor` picks how each entity's writes fail.
   */
  failFirstMappingWrites(options: {
    readonly destination: string;
    readonly modeFor: (pk: string) => MappingFaultMode;
  }): void;
  /** Stops failing anything. */
  heal(): void;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

type WireKey = { pk?: { S?: string }; sk?: { S?: string } };

/**
 * The mapping items a request writes (PutItem) or reads (GetItem, or BatchGetItem: the state store
 * reads keys asked for at the same moment together), by pk.
 */
function mappingRequest(
  target: string | undefined,
  body: Buffer,
  destination: string,
): { kind: 'write' | 'read'; pks: string[] } | undefined {
  let parsed: {
    Item?: WireKey;
    Key?: WireKey;
    RequestItems?: Record<string, { Keys?: WireKey[] }>;
  };
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const mappings = (keys: (WireKey | undefined)[]) =>
    keys.flatMap((key) => (key?.sk?.S === `MAP#${destination}` && key.pk?.S ? [key.pk.S] : []));
  const [kind, pks] =
    target === 'DynamoDB_20120810.PutItem'
      ? (['write', mappings([parsed.Item])] as const)
      : target === 'DynamoDB_20120810.GetItem'
        ? (['read', mappings([parsed.Key])] as const)
        : target === 'DynamoDB_20120810.BatchGetItem'
          ? ([
              'read',
              mappings(Object.values(parsed.RequestItems ?? {}).flatMap((t) => t.Keys ?? [])),
            ] as const)
          : [undefined, []];
  return kind && pks.length > 0 ? { kind, pks } : undefined;
}

/**
 * A real HTTP proxy in front of dynalite: every request the handlers make passes through it
 * unchanged, except the mapping writes it is told to fail. That puts a delivery in the state the
 * issue names: the destination call went out and succeeded, the mapping write did not, and the
 * invocation fails, so SQS hands the message out again.
 */
export async function startDynamoFaultProxy(target: string): Promise<DynamoFaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const injected: InjectedFault[] = [];
  /** Entities whose mapping write has failed and not been read since; then those that are done. */
  const failing = new Set<string>();
  const done = new Set<string>();
  let plan: { destination: string; modeFor: (pk: string) => MappingFaultMode } | undefined;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const mapping = plan
        ? mappingRequest(req.headers['x-amz-target'] as string | undefined, body, plan.destination)
        : undefined;
      if (mapping?.kind === 'read') {
        for (const pk of mapping.pks) if (failing.delete(pk)) done.add(pk);
      }
      const pk = mapping?.kind === 'write' ? mapping.pks[0] : undefined;
      if (plan && pk !== undefined && !done.has(pk)) {
        failing.add(pk);
        const mode = plan.modeFor(pk);
        injected.push({ pk, mode, at: Date.now() });
        if (mode === 'drop') {
          req.socket.destroy();
          return;
        }
        res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
            message: 'Injected by the chaos fault proxy',
          }),
        );
        return;
      }
      const forwarded = request(
        {
          protocol: upstream.protocol,
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
          agent,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', (error) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: upstream failed: ${error.message}`);
      });
      forwarded.end(body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  const url = await listen(server, '127.0.0.1', 0);
  return {
    url,
    injected,
    failFirstMappingWrites(options) {
      plan = { ...options };
    },
    heal() {
      plan = undefined;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
