import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import { httpConnector, parseRetryAfter } from '../../functions/connectors/http.js';
import type { DestinationConfig } from '../../functions/core/config.js';
import { type DeliverDeps, deliverMessage } from '../../functions/core/deliver.js';
import { FatalError, TransientError } from '../../functions/core/errors.js';
import { contentHash, idempotencyKey } from '../../functions/core/hashing.js';
import type { DeliveryMessage } from '../../functions/core/messages.js';
import { CRM_TOKEN, CRM_TOKEN_NAME, CRM_URL, ERP_URL, testConfig } from '../support/config.js';
import {
  type FetchBehaviour,
  type FetchCall,
  fakeFetch,
  jsonResponse,
  ManualClock,
  MemoryLog,
  MemorySecretStore,
} from '../support/fakes.js';
import { MemoryStateStore } from '../support/memory-state-store.js';

const V1 = 1_714_564_800;
const config = testConfig();

let state: MemoryStateStore;
let secrets: MemorySecretStore;
let clock: ManualClock;
let log: MemoryLog;

/** The key deliver must send for a message: stable per destination, entity, id, source, version and content. */
function keyOf(destination: string, m: DeliveryMessage = message()): string {
  return idempotencyKey(
    destination,
    m.entity,
    m.id,
    m.source,
    m.version,
    contentHash({ deleted: m.deleted, data: m.data }),
  );
}

function message(overrides: Partial<DeliveryMessage> = {}): DeliveryMessage {
  return {
    v: 1,
    flow: 'customers',
    destination: 'crm',
    entity: 'customer',
    id: 'cust-1',
    source: 'stripe',
    sourceId: 'cus_NffrFeUfNV2Hib',
    version: V1,
    deleted: false,
    data: {
      email: 'jenny.rosen@example.com',
      name: 'Jenny Rosen',
      refs: { stripe: 'cus_NffrFeUfNV2Hib' },
      updatedAt: new Date(V1 * 1000).toISOString(),
    },
    eventId: 'evt_1',
    receivedAt: Date.UTC(2024, 4, 1, 12, 0, 0),
    routedFrom: 'inbound-msg-1',
    ...overrides,
  };
}

function destinationDeps(
  name: 'crm' | 'erp',
  fetch: typeof globalThis.fetch,
  destination: Partial<DestinationConfig> = {},
): DeliverDeps {
  const base = config.destinations[name];
  if (!base) throw new Error(`test config has no destination ${name}`);
  return {
    destinationName: name,
    destination: { ...base, ...destination },
    connector: httpConnector,
    state,
    secrets,
    clock,
    log,
    fetch,
  };
}

/** A CRM that answers each call with the scripted behaviours (the last one repeats). */
function crm(...script: (FetchBehaviour | ((call: FetchCall) => FetchBehaviour))[]) {
  const fake = fakeFetch(...(script.length > 0 ? script : [jsonResponse(201, { id: 'crm-42' })]));
  return { ...fake, deps: destinationDeps('crm', fake.fetch) };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected the delivery to fail');
  return error;
}

beforeEach(() => {
  state = new MemoryStateStore();
  secrets = new MemorySecretStore({ [CRM_TOKEN_NAME]: CRM_TOKEN });
  clock = new ManualClock();
  log = new MemoryLog();
});

describe('deliverMessage', () => {
  describe('wire format (DESIGN.md section 5)', () => {
    it('POSTs the documented JSON body with Content-Type, Idempotency-Key and the bearer token', async () => {
      const { deps, calls } = crm();
      const outcome = await deliverMessage(message(), deps);

      const key = keyOf('crm');
      expect(outcome).toEqual({ kind: 'delivered', idempotencyKey: key });
      expect(calls).toHaveLength(1);
      const [call] = calls;
      expect(call?.url).toBe(CRM_URL);
      expect(call?.method).toBe('POST');
      expect(call?.headers).toMatchObject({
        'Content-Type': 'application/json',
        'Idempotency-Key': key,
        Authorization: `Bearer ${CRM_TOKEN}`,
      });
      const body = JSON.parse(call?.body ?? '') as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual([
        'data',
        'entity',
        'id',
        'schemaVersion',
        'source',
        'version',
      ]);
      expect(body).toEqual({
        entity: 'customer',
        schemaVersion: 1,
        id: 'cust-1',
        version: String(V1),
        source: 'stripe',
        data: message().data,
      });
    });

    it('sends no Authorization header when the destination has no secret', async () => {
      const fake = fakeFetch(jsonResponse(200));
      await deliverMessage(message({ destination: 'erp' }), destinationDeps('erp', fake.fetch));
      expect(fake.calls[0]?.url).toBe(ERP_URL);
      expect(Object.keys(fake.calls[0]?.headers ?? {}).map((h) => h.toLowerCase())).not.toContain(
        'authorization',
      );
      expect(fake.calls[0]?.headers['Idempotency-Key']).toBe(keyOf('erp'));
      expect(secrets.reads).toEqual([]);
    });

    it('reads the bearer token from a JSON secret with a "token" field', async () => {
      secrets.values[CRM_TOKEN_NAME] = { token: 'from-json' };
      const { deps, calls } = crm();
      await deliverMessage(message(), deps);
      expect(calls[0]?.headers.Authorization).toBe('Bearer from-json');
    });

    it('fails if the token secret is neither a string nor an object with a token', async () => {
      secrets.values[CRM_TOKEN_NAME] = ['a', 'b'];
      const { deps, calls } = crm();
      const error = await failure(deliverMessage(message(), deps));
      expect(error.message).toBe(
        `Secret ${CRM_TOKEN_NAME} must be a string or an object with a "token" string`,
      );
      expect(calls).toEqual([]);
    });

    it('marks a deletion of a delivered entity as a tombstone', async () => {
      const { deps, calls } = crm();
      await deliverMessage(message(), deps);
      const outcome = await deliverMessage(
        message({ version: V1 + 1, deleted: true, data: { refs: { stripe: 'cus_NffrFeUfNV2Hib' } } }),
        deps,
      );
      expect(outcome.kind).toBe('delivered');
      expect(JSON.parse(calls[1]?.body ?? '')).toEqual({
        entity: 'customer',
        schemaVersion: 1,
        id: 'cust-1',
        version: String(V1 + 1),
        source: 'stripe',
        deleted: true,
        data: { refs: { stripe: 'cus_NffrFeUfNV2Hib' } },
      });
    });
  });

  describe('mapping and dedupe', () => {
    it('records what the destination now holds after a success', async () => {
      const { deps } = crm();
      await deliverMessage(message(), deps);
      expect(state.mappings.get('customer#cust-1#crm')).toEqual({
        destination: 'crm',
        entity: 'customer',
        id: 'cust-1',
        destinationId: 'crm-42',
        versions: { stripe: V1 },
        contentHash: contentHash({ deleted: false, data: message().data }),
        updatedAt: clock.now(),
        eventId: message().eventId,
      });
    });

    it('skips a duplicate (same version, same content) without calling the destination', async () => {
      const { deps, calls } = crm();
      await deliverMessage(message(), deps);
      expect(await deliverMessage(message({ eventId: 'evt_retry' }), deps)).toEqual({
        kind: 'skipped',
        reason: 'duplicate',
      });
      expect(calls).toHaveLength(1);
    });

    it('skips a duplicate even when the token cannot be read, and fails a send that needs it', async () => {
      const { deps, calls } = crm();
      await deliverMessage(message(), deps);
      // The token is read alongside the mapping; a skip does not depend on it.
      secrets.values[CRM_TOKEN_NAME] = ['not', 'a', 'token'];
      expect(await deliverMessage(message({ eventId: 'evt_retry' }), deps)).toEqual({
        kind: 'skipped',
        reason: 'duplicate',
      });
      const changed = message({ version: V1 + 1, data: { ...message().data, name: 'Jenny R.' } });
      const error = await failure(deliverMessage(changed, deps));
      expect(error.message).toMatch(/must be a string or an object with a "token" string/);
      expect(calls).toHaveLength(1);
    });

    it('skips a stale version that arrives after a newer one', async () => {
      const { deps, calls } = crm();
      await deliverMessage(message({ version: V1 + 60, data: { ...message().data, name: 'Newer' } }), deps);
      expect(await deliverMessage(message({ version: V1 }), deps)).toEqual({
        kind: 'skipped',
        reason: 'stale',
      });
      expect(calls).toHaveLength(1);
      expect(state.mappings.get('customer#cust-1#crm')?.versions).toEqual({ stripe: V1 + 60 });
    });

    it('skips a newer version with unchanged content but records the version', async () => {
      const { deps, calls } = crm();
      await deliverMessage(message({ version: V1 }), deps);
      clock.advance(1000);
      expect(await deliverMessage(message({ version: V1 + 10 }), deps)).toEqual({
        kind: 'skipped',
        reason: 'unchanged',
      });
      expect(calls).toHaveLength(1);
      expect(state.mappings.get('customer#cust-1#crm')).toMatchObject({
        versions: { stripe: V1 + 10 },
        destinationId: 'crm-42',
        updatedAt: clock.now(),
      });
      // So an update older than the recorded version is now stale, even with different content.
      expect(
        await deliverMessage(
          message({ version: V1 + 5, data: { ...message().data, name: 'In between' } }),
          deps,
        ),
      ).toEqual({ kind: 'skipped', reason: 'stale' });
      expect(calls).toHaveLength(1);
    });

    it('skips deleting an entity the destination never received', async () => {
      const { deps, calls } = crm();
      const outcome = await deliverMessage(
        message({ deleted: true, data: { refs: { stripe: 'cus_1' } } }),
        deps,
      );
      expect(outcome).toEqual({ kind: 'skipped', reason: 'never_delivered' });
      expect(calls).toEqual([]);
      expect(state.mappings.size).toBe(0);
    });

    it('keeps the destination id it learned when a later answer names none', async () => {
      const { deps } = crm(jsonResponse(201, { id: 'crm-42' }), new Response(null, { status: 204 }));
      await deliverMessage(message(), deps);
      await deliverMessage(message({ version: V1 + 1, data: { ...message().data, name: 'Jenny R.' } }), deps);
      expect(state.mappings.get('customer#cust-1#crm')).toMatchObject({
        destinationId: 'crm-42',
        versions: { stripe: V1 + 1 },
      });
    });

    it('writes no mapping when the call fails, so the retry is not mistaken for a duplicate', async () => {
      const { deps, calls } = crm(jsonResponse(503), jsonResponse(200));
      await expect(deliverMessage(message(), deps)).rejects.toBeInstanceOf(TransientError);
      expect(state.mappings.size).toBe(0);
      expect((await deliverMessage(message(), deps)).kind).toBe('delivered');
      expect(calls).toHaveLength(2);
    });
  });

  describe('Idempotency-Key', () => {
    it('is the same on every retry of the same message', async () => {
      const { deps, calls } = crm(
        jsonResponse(503),
        new TypeError('fetch failed'),
        jsonResponse(500),
        jsonResponse(200),
      );
      for (let attempt = 1; attempt <= 3; attempt++) {
        await expect(deliverMessage(message(), deps)).rejects.toBeInstanceOf(TransientError);
      }
      const outcome = await deliverMessage(message(), deps);
      const keys = calls.map((c) => c.headers['Idempotency-Key']);
      expect(keys).toHaveLength(4);
      expect(new Set(keys)).toEqual(new Set([keyOf('crm')]));
      expect(outcome).toEqual({ kind: 'delivered', idempotencyKey: keys[0] });
    });

    it('differs for a new version, another canonical id and another destination', async () => {
      const { deps, calls } = crm();
      await deliverMessage(message({ version: V1 }), deps);
      await deliverMessage(message({ version: V1 + 1, data: { ...message().data, name: 'v2' } }), deps);
      await deliverMessage(message({ id: 'cust-2' }), deps);
      const keys = calls.map((c) => c.headers['Idempotency-Key']);
      expect(new Set(keys).size).toBe(3);
      for (const key of keys) expect(key).toMatch(/^sy-[0-9a-f]{40}$/);
      expect(keyOf('erp')).not.toBe(keys[0]);
    });

    it('is the same for the same update on every retry, redrive and replay, whatever the event and routing ids', async () => {
      const { fetch, calls } = fakeFetch(jsonResponse(201, { id: 'crm-42' }));
      // A fresh store each time, as if the mapping were lost, so every delivery really calls.
      const deliverFresh = (m: DeliveryMessage) =>
        deliverMessage(m, { ...destinationDeps('crm', fetch), state: new MemoryStateStore() });
      await deliverFresh(message());
      await deliverFresh(message());
      await deliverFresh(message({ eventId: 'evt_replayed', routedFrom: 'inbound-msg-9', receivedAt: 1 }));
      const keys = calls.map((c) => c.headers['Idempotency-Key']);
      expect(keys).toEqual([keyOf('crm'), keyOf('crm'), keyOf('crm')]);
    });

    const base = message();
    const changes: [string, 'crm' | 'erp', DeliveryMessage][] = [
      ['destination', 'erp', base],
      ['entity', 'crm', message({ entity: 'order' })],
      ['id', 'crm', message({ id: 'cust-2' })],
      ['source', 'crm', message({ source: 'hubspot' })],
      ['version', 'crm', message({ version: V1 + 1 })],
      ['content', 'crm', message({ data: { ...base.data, name: 'Jenny R.' } })],
      ['content (a deletion)', 'crm', message({ deleted: true })],
    ];

    it.each(changes)('differs when only the %s changes (idempotencyKey)', (_, destination, changed) => {
      const key = (d: string, m: DeliveryMessage) =>
        idempotencyKey(
          d,
          m.entity,
          m.id,
          m.source,
          m.version,
          contentHash({ deleted: m.deleted, data: m.data }),
        );
      expect(key('crm', base)).toBe(key('crm', message()));
      expect(key(destination, changed)).not.toBe(key('crm', base));
      expect(key(destination, changed)).toMatch(/^sy-[0-9a-f]{40}$/);
    });

    // A deletion of a record never delivered is skipped (no call), so it is left to the case above.
    it.each(changes.filter(([what]) => !what.includes('deletion')))(
      'differs on the wire when only the %s changes (deliverMessage)',
      async (_, destination, changed) => {
        const sent = async (d: 'crm' | 'erp', m: DeliveryMessage) => {
          const { fetch, calls } = fakeFetch(jsonResponse(201, {}));
          await deliverMessage(m, { ...destinationDeps(d, fetch), state: new MemoryStateStore() });
          expect(calls).toHaveLength(1);
          return calls[0]?.headers['Idempotency-Key'];
        };
        const original = await sent('crm', base);
        expect(await sent('crm', message())).toBe(original);
        expect(await sent(destination, changed)).not.toBe(original);
      },
    );
  });

  describe('error classification by the http connector', () => {
    it.each([500, 502, 503, 504, 408, 429])('retries a %i as a TransientError', async (status) => {
      const { deps } = crm(jsonResponse(status, { error: 'busy' }));
      const error = await failure(deliverMessage(message(), deps));
      expect(error).toBeInstanceOf(TransientError);
      expect(error.message).toBe(`Destination answered ${status}`);
      expect((error as TransientError).details).toEqual({ status });
      expect(state.mappings.size).toBe(0);
    });

    it('honours Retry-After in seconds on a 503', async () => {
      const { deps } = crm(jsonResponse(503, {}, { 'Retry-After': '120' }));
      const error = await failure(deliverMessage(message(), deps));
      expect(error).toBeInstanceOf(TransientError);
      expect((error as TransientError).details).toEqual({ status: 503, retryAfterSeconds: 120 });
    });

    it('honours Retry-After as an HTTP date on a 429', async () => {
      const at = new Date(Date.now() + 30_000).toUTCString();
      const { deps } = crm(jsonResponse(429, {}, { 'Retry-After': at }));
      const error = (await failure(deliverMessage(message(), deps))) as TransientError;
      expect(error).toBeInstanceOf(TransientError);
      expect(error.details.retryAfterSeconds).toBeGreaterThanOrEqual(29);
      expect(error.details.retryAfterSeconds).toBeLessThanOrEqual(31);
    });

    it('ignores an unreadable Retry-After', async () => {
      const { deps } = crm(jsonResponse(503, {}, { 'Retry-After': 'soon-ish' }));
      const error = (await failure(deliverMessage(message(), deps))) as TransientError;
      expect(error.details).toEqual({ status: 503 });
    });

    it('retries a network error as a TransientError that keeps the cause', async () => {
      const cause = new TypeError('fetch failed');
      const { deps } = crm(cause);
      const error = await failure(deliverMessage(message(), deps));
      expect(error).toBeInstanceOf(TransientError);
      expect(error.message).toBe('Destination unreachable');
      expect(error.cause).toBe(cause);
    });

    it('retries a destination that does not answer within the timeout', async () => {
      const fake = fakeFetch('hang');
      const deps = destinationDeps('crm', fake.fetch, { timeoutMs: 25 });
      const started = Date.now();
      const error = await failure(deliverMessage(message(), deps));
      expect(error).toBeInstanceOf(TransientError);
      expect(error.message).toBe('Destination did not answer within 25 ms');
      expect((error.cause as Error).name).toBe('TimeoutError');
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it.each([400, 404, 422, 401, 409])(
      'quarantines a %i as a FatalError with reason destination.rejected',
      async (status) => {
        const { deps, calls } = crm(jsonResponse(status, { error: 'invalid email' }));
        const error = await failure(deliverMessage(message(), deps));
        expect(error).toBeInstanceOf(FatalError);
        expect(error.message).toBe(`Destination rejected the record with ${status}`);
        expect((error as FatalError).reasons).toEqual([
          { rule: 'destination.rejected', message: `HTTP ${status}: {"error":"invalid email"}` },
        ]);
        expect(calls).toHaveLength(1);
        expect(state.mappings.size).toBe(0);
      },
    );

    it('keeps at most 200 characters of a rejection body', async () => {
      const { deps } = crm(new Response('x'.repeat(5000), { status: 400 }));
      const error = (await failure(deliverMessage(message(), deps))) as FatalError;
      expect(error.reasons[0]?.message).toBe(`HTTP 400: ${'x'.repeat(200)}`);
    });

    it.each([301, 302, 303, 307, 308])(
      'quarantines a %i redirect as a FatalError with reason destination.redirected, never following it',
      async (status) => {
        // A real HTTP server on loopback: redirect handling is fetch's, so no fake can show it.
        const seen: { method: string; url: string; body: string }[] = [];
        const server = createServer((req: IncomingMessage, res) => {
          let body = '';
          req.on('data', (chunk: Buffer) => {
            body += chunk.toString('utf8');
          });
          req.on('end', () => {
            seen.push({ method: req.method ?? '', url: req.url ?? '', body });
            if (req.url === '/old') {
              res.writeHead(status, { location: '/new' }).end();
            } else {
              res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
            }
          });
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
          const { port } = server.address() as AddressInfo;
          const deps = destinationDeps('crm', globalThis.fetch, { url: `http://127.0.0.1:${port}/old` });
          const error = await failure(deliverMessage(message(), deps));
          expect(error).toBeInstanceOf(FatalError);
          expect(error.message).toBe(`Destination redirected with ${status}`);
          expect((error as FatalError).reasons).toEqual([
            { rule: 'destination.redirected', message: `HTTP ${status} to /new: configure the final URL` },
          ]);
          expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /old']);
          expect(JSON.parse(seen[0]?.body || '{}')).toMatchObject({ id: 'cust-1' });
          expect(state.mappings.size).toBe(0);
        } finally {
          await new Promise((resolve) => server.close(resolve));
        }
      },
    );

    it.each([301, 302, 307, 308])(
      'asks fetch not to follow a %i and makes exactly one POST, which is not counted delivered',
      async (status) => {
        const redirects: RequestInit['redirect'][] = [];
        const fake = fakeFetch(
          new Response(null, { status, headers: { location: 'https://elsewhere.example/x' } }),
        );
        const recording = ((input: string | URL | Request, init?: RequestInit) => {
          redirects.push(init?.redirect);
          return fake.fetch(input, init);
        }) as typeof fetch;
        const error = await failure(deliverMessage(message(), destinationDeps('crm', recording)));
        expect(error).toBeInstanceOf(FatalError);
        expect((error as FatalError).reasons).toEqual([
          {
            rule: 'destination.redirected',
            message: `HTTP ${status} to https://elsewhere.example/x: configure the final URL`,
          },
        ]);
        expect(fake.calls.map((c) => `${c.method} ${c.url}`)).toEqual([`POST ${CRM_URL}`]);
        expect(redirects).toEqual(['manual']);
        expect(state.mappings.size).toBe(0);
      },
    );

    it.each([200, 201, 202, 204])('counts a %i as delivered', async (status) => {
      const { deps } = crm(status === 204 ? new Response(null, { status }) : new Response('ok', { status }));
      expect((await deliverMessage(message(), deps)).kind).toBe('delivered');
    });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2024, 4, 1, 12, 0, 0);
  it.each([
    [null, undefined],
    ['', undefined],
    ['  7 ', 7],
    ['0', 0],
    ['Wed, 01 May 2024 12:01:30 GMT', 90],
    ['Wed, 01 May 2024 11:00:00 GMT', 0],
    ['later', undefined],
  ])('reads %j as %j', (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });
});

describe('staleness across sources (canonical revisions)', () => {
  it('skips an older snapshot of the record that arrives after a newer one, whichever source triggered each', async () => {
    const { deps, calls } = crm();
    // Shopify's update (revision 3) overtook Stripe's (revision 2) on the way to the destination.
    await deliverMessage(
      message({ source: 'shop', version: 2_000, revision: 3, data: { email: 'new@example.com', refs: {} } }),
      deps,
    );
    const late = await deliverMessage(
      message({ source: 'stripe', version: V1, revision: 2, data: { email: 'old@example.com', refs: {} } }),
      deps,
    );
    expect(late).toEqual({ kind: 'skipped', reason: 'stale' });
    expect(calls).toHaveLength(1);
    expect(state.mappings.get('customer#cust-1#crm')?.revision).toBe(3);
  });
});
