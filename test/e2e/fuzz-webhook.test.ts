import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRIPE_SECRET, startTestHub, type TestHub } from '../support/hub.js';

/*
 * Property-based fuzzing of the front door: POST /webhooks/{source} of the real local runtime
 * (dynalite, fauxqs, the real ingest/route/deliver handlers) over real HTTP, with a simulated CRM
 * behind it. Every case goes over the wire, through local/http-server.ts and the ingest handler;
 * none calls acceptWebhook directly.
 *
 * Invariants checked on every case:
 * - the answer is never a 5xx, not even a 503: the queue and the secret are up, and the queue now
 *   carries any character (functions/aws/sqs.ts escapes what SQS refuses);
 * - a 202 only for a request carrying a v1 signature made with the hub's secret over these exact
 *   bytes with a timestamp in the window ("validly signed", known by construction);
 * - error answers are JSON {error, message}, served with nosniff and no-store, and never echo the
 *   secret, the signature or the payload.
 * And at the end: the hub's accepted count equals the number of 202s, every call the CRM received
 * traces back to a validly signed event, G3 balances, Object.prototype is untouched, the server is
 * healthy, and the process RSS grew less than a stated bound.
 */

const SECRET = STRIPE_SECRET;
const LIMIT = 256 * 1024;
const WEBHOOK = '/webhooks/stripe';
/**
 * What RSS may grow over the whole file: 10 000+ requests, ~0.6 GiB of oversize bodies streamed in
 * (more than the bound, so a server that kept them would fail), while dynalite and fauxqs hold the
 * accepted events in memory. RSS keeps V8's high-water mark, so the heap is also checked after a GC.
 */
const RSS_BOUND_BYTES = 512 * 1024 * 1024;
/** What the heap may retain (after a full GC) over the whole file. */
const HEAP_BOUND_BYTES = 64 * 1024 * 1024;
/** What RSS may grow while one oversize body (up to 32 MiB) streams in. */
const RSS_BOUND_PER_OVERSIZE_BYTES = 40 * 1024 * 1024;

const nowSeconds = () => Math.floor(Date.now() / 1000);
const v1 = (body: Buffer, t: number | string, secret = SECRET) =>
  createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');

/** A body streamed in pieces: `size` bytes of `chunk` repeated, with optional pauses between writes. */
interface StreamedBody {
  readonly size: number;
  readonly chunk: Buffer;
  readonly chunked: boolean;
}
interface Case {
  readonly path: string;
  /** Lower-case names; an array value sends the header once per element. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer | StreamedBody;
  /** Pauses (ms) between the pieces of a body sent slowly. */
  readonly trickle?: readonly number[];
  /** Carries a v1 made with the hub's secret over exactly these bytes, timestamp in the window. */
  readonly validlySigned: boolean;
}
interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
let hub: TestHub;
let base: URL;

const ledger = {
  cases: 0,
  accepted: 0,
  statuses: new Map<number, number>(),
  /** Stripe customer ids of validly signed events (the only ones the CRM may ever hear about). */
  signedCustomers: new Set<string>(),
};

function bodyLength(body: Buffer | StreamedBody): number {
  return Buffer.isBuffer(body) ? body.length : body.size;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function writeBody(req: http.ClientRequest, c: Case): Promise<void> {
  const write = (piece: Buffer) =>
    new Promise<void>((resolve, reject) => {
      // Honour backpressure: the client must not be what holds the megabytes.
      if (req.write(piece)) resolve();
      else req.once('drain', resolve);
      req.once('error', reject);
    });
  if (Buffer.isBuffer(c.body)) {
    const pauses = c.trickle ?? [];
    if (pauses.length === 0) return void req.end(c.body);
    const step = Math.ceil(c.body.length / (pauses.length + 1));
    for (let i = 0; i <= pauses.length; i++) {
      await write(c.body.subarray(i * step, (i + 1) * step));
      const pause = pauses[i];
      if (pause !== undefined) await sleep(pause);
    }
    return void req.end();
  }
  let left = c.body.size;
  while (left > 0) {
    const piece = left >= c.body.chunk.length ? c.body.chunk : c.body.chunk.subarray(0, left);
    await write(piece);
    left -= piece.length;
  }
  req.end();
}

function send(c: Case): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const headers: Record<string, string | string[] | number> = {};
    for (const [name, value] of Object.entries(c.headers)) {
      headers[name] = typeof value === 'string' ? value : [...value];
    }
    const streamedChunked = !Buffer.isBuffer(c.body) && c.body.chunked;
    if (!streamedChunked) headers['content-length'] = bodyLength(c.body);
    const req = http.request(
      { agent, host: base.hostname, port: base.port, path: c.path, method: 'POST', headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    writeBody(req, c).catch(reject);
  });
}

function fail(c: Case, answer: Answer, why: string): never {
  const shown = Buffer.isBuffer(c.body)
    ? c.body.subarray(0, 300).toString('latin1')
    : `(${c.body.size} bytes streamed)`;
  throw new Error(
    `${why}\n  path: ${c.path}\n  headers: ${JSON.stringify(c.headers).slice(0, 600)}\n  body: ${JSON.stringify(shown)}\n  answer: ${answer.status} ${answer.text.slice(0, 300)}`,
  );
}

/** The invariants every answer of the webhook route must keep. Returns the parsed body. */
function checkAnswer(c: Case, answer: Answer): Record<string, unknown> {
  ledger.cases += 1;
  ledger.statuses.set(answer.status, (ledger.statuses.get(answer.status) ?? 0) + 1);
  if (answer.status >= 500) fail(c, answer, 'a 5xx although the queue and the secret are up');
  if (answer.status === 202) {
    ledger.accepted += 1;
    if (!c.validlySigned) fail(c, answer, 'accepted (202) without a valid signature');
  }
  if (!String(answer.headers['content-type']).startsWith('application/json'))
    fail(c, answer, 'not served as JSON');
  if (answer.headers['x-content-type-options'] !== 'nosniff') fail(c, answer, 'no nosniff header');
  if (answer.headers['cache-control'] !== 'no-store') fail(c, answer, 'no cache-control: no-store');
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(answer.text) as Record<string, unknown>;
  } catch {
    fail(c, answer, 'answer body is not JSON');
  }
  if (answer.status !== 202 && (typeof parsed.error !== 'string' || typeof parsed.message !== 'string'))
    fail(c, answer, 'error body is not {error, message}');
  if (answer.text.includes(SECRET)) fail(c, answer, 'the answer echoes the signing secret');
  for (const value of [c.headers['stripe-signature']].flat()) {
    if (typeof value === 'string' && value.length >= 16 && answer.text.includes(value))
      fail(c, answer, 'the answer echoes the signature header');
  }
  // A 202 names the event id by design; an error never repeats the payload.
  if (answer.status !== 202 && Buffer.isBuffer(c.body) && c.body.length >= 24) {
    const middle = c.body.subarray(4, 24).toString('utf8');
    if (!middle.includes('\uFFFD') && answer.text.includes(middle))
      fail(c, answer, 'the answer echoes the payload');
  }
  return parsed;
}

/** What ingest accepts as an event id: 1-255 printable ASCII characters, no space (else 400 bad_event_id). */
const USABLE_EVENT_ID = /^[\x21-\x7e]{1,255}$/;

/** What ingest must answer for a validly signed, in-limit body: 202 iff it is UTF-8 JSON with a usable id. */
function expectedForSigned(body: Buffer): 202 | 400 | 413 {
  if (body.length > LIMIT) return 413;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    return 400;
  }
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' && USABLE_EVENT_ID.test(id) ? 202 : 400;
}

/** A UTF-8 JSON body whose id is a string of 1-255 characters that are not all printable ASCII. */
function hasUnprintableEventId(body: Buffer): boolean {
  try {
    const value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as {
      id?: unknown;
    } | null;
    const id = value?.id;
    return typeof id === 'string' && id.length >= 1 && id.length <= 255 && !USABLE_EVENT_ID.test(id);
  } catch {
    return false;
  }
}

function noteSignedCustomer(body: Buffer): void {
  try {
    const id = (JSON.parse(new TextDecoder().decode(body)) as { data?: { object?: { id?: unknown } } })?.data
      ?.object?.id;
    if (typeof id === 'string') ledger.signedCustomers.add(id);
  } catch {
    // Not JSON: it cannot reach the CRM.
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const HEX = [...'0123456789abcdef'];
const hex = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...HEX), minLength, maxLength });
/** What Node's HTTP client lets through in a header value: tab, printable ASCII, 0x80-0xff. */
const headerValue = (maxLength = 120) =>
  fc.string({
    unit: fc
      .oneof(fc.constant(9), fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
      .map((code) => String.fromCharCode(code)),
    maxLength,
  });
const FRAMING = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'host',
  'expect',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'stripe-signature',
]);
const headerName = fc.stringMatching(/^[a-z][a-z0-9!#$%&'*+.^_`|~-]{0,24}$/).filter((n) => !FRAMING.has(n));
const extraHeaders = fc.dictionary(headerName, headerValue(80), { maxKeys: 6 });
const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json; charset=utf-16',
    '*/*',
    '',
  ),
  { nil: undefined },
);

const INVALID_UTF8 = [
  [0xc0, 0xaf], // overlong '/'
  [0xe0, 0x80, 0xaf], // overlong
  [0xed, 0xa0, 0x80], // UTF-16 surrogate half
  [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
  [0xff],
  [0xfe, 0xff],
  [0x80], // lone continuation byte
  [0xe2, 0x82], // truncated sequence
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
];

const eventId = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^evt_[A-Za-z0-9]{8,24}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  {
    // Around the edges of printable ASCII: 0x1f, space and DEL are refused, 0x21-0x7e accepted.
    weight: 1,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0x1f, max: 0x7f }).map((code) => String.fromCharCode(code)),
      minLength: 1,
      maxLength: 40,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'x'.repeat(255),
      'x'.repeat(256),
      '__proto__',
      'constructor',
      '\u0000',
      'evt 1',
      'evt_\u007f',
      'évt_1',
      'evt_☃',
      'evt_🎉',
      '!~',
    ),
  },
);

const jsonScalar = fc.oneof(
  fc.constantFrom(
    '1e999',
    '-1e999',
    '1e-999',
    '-0',
    '9007199254740993',
    '123456789012345678901234567890',
    '0.1e1',
    'true',
    'null',
    '""',
  ),
  fc
    .string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 4000 })
    .map((digits) => digits),
  fc.double().map((n) => JSON.stringify(n)),
);

/** Adversarial JSON texts, mostly shaped like a Stripe event so they get past the cheap checks. */
const hostileJsonText: fc.Arbitrary<string> = fc.oneof(
  // Deeply nested arrays and objects (up to ~240 KB).
  fc
    .record({ depth: fc.integer({ min: 1, max: 40_000 }), kind: fc.constantFrom('[', '{'), id: eventId })
    .map(({ depth, kind, id }) => {
      const inner =
        kind === '['
          ? `${'['.repeat(depth)}${']'.repeat(depth)}`
          : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      return `{"id":${JSON.stringify(id)},"nested":${inner}}`;
    }),
  fc.integer({ min: 1, max: 100_000 }).map((depth) => '['.repeat(depth)), // unbalanced
  // Huge and odd numbers, where an id, a timestamp or a version is expected.
  fc
    .record({ id: eventId, created: jsonScalar, amount: jsonScalar })
    .map(
      ({ id, created, amount }) =>
        `{"id":${JSON.stringify(id)},"type":"invoice.paid","created":${created},"data":{"object":{"amount":${amount}}}}`,
    ),
  fc.record({ digits: jsonScalar }).map(({ digits }) => `{"id":${digits}}`),
  // Duplicate keys: JSON.parse keeps the last one, as Stripe's SDK does.
  fc
    .tuple(eventId, eventId)
    .map(([a, b]) => `{"id":${JSON.stringify(a)},"type":"customer.created","id":${JSON.stringify(b)}}`),
  // Prototype pollution attempts.
  fc
    .tuple(eventId, fc.constantFrom('__proto__', 'constructor', 'prototype'))
    .map(
      ([id, key]) =>
        `{"${key}":{"polluted":"yes","prototype":{"polluted":"yes"}},"id":${JSON.stringify(id)},"type":"invoice.paid","data":{"object":{"__proto__":{"id":"cus_evil","polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}}}`,
    ),
  // Anything JSON.
  fc.json({ maxDepth: 5 }),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify({ id: 'evt_jsonvalue', value })),
  // Not JSON at all.
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('', ' ', 'null', '[]', '{}', '"evt_1"', '{"id":null}', '{"id":1}', '{"id":"evt_1"', 'NaN'),
);

/** Bytes: adversarial JSON, the same with invalid UTF-8 spliced in, random bytes, a BOM, UTF-16. */
const hostileBody: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: hostileJsonText.map((text) => Buffer.from(text, 'utf8')) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(hostileJsonText, fc.nat(), fc.constantFrom(...INVALID_UTF8))
      .map(([text, at, bytes]) => {
        const raw = Buffer.from(text, 'utf8');
        const i = raw.length === 0 ? 0 : at % raw.length;
        return Buffer.concat([raw.subarray(0, i), Buffer.from(bytes), raw.subarray(i)]);
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(eventId, fc.constantFrom(...INVALID_UTF8))
      .map(([id, bytes]) =>
        Buffer.concat([
          Buffer.from(`{"id":${JSON.stringify(`${id}x`)},"n":"`),
          Buffer.from(bytes),
          Buffer.from('"}'),
        ]),
      ),
  },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)) },
  {
    weight: 1,
    arbitrary: hostileJsonText.map((text) =>
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]),
    ),
  },
  { weight: 1, arbitrary: hostileJsonText.map((text) => Buffer.from(text, 'utf16le')) },
);

/** A Stripe-Signature that is not valid for this body (known by construction). */
function forgedSignature(body: Buffer): fc.Arbitrary<string | readonly string[] | undefined> {
  const t = nowSeconds();
  const good = v1(body, t);
  return fc.oneof(
    fc.constant(undefined),
    fc.constant(''),
    headerValue(200),
    hex(64, 64).map((sig) => `t=${t},v1=${sig}`), // right length, wrong value
    hex(0, 200).map((sig) => `t=${t},v1=${sig}`), // any length
    hex(1, 1).map((digit) => `t=${t},v1=${good}${digit}`), // the right MAC plus a hex digit (odd length)
    hex(1, 1).map((digit) => `t=${t},v1=${digit}${good}`), // a hex digit plus the right MAC
    fc.constant(`t=${t},v1=${good.slice(0, -1)}`), // the right MAC less its last digit
    fc.constant(`t=0${t},v1=${good}`), // t sent with a leading zero, MAC over t without it
    fc.constant(`t=${t},v1=${good.toUpperCase()}`), // upper-case hex: Stripe's SDK rejects it too
    fc.constant(`t=${t},v0=${good}`), // another scheme only
    fc.constant(`t=${t}, v1=${good}`), // a space inside: Stripe's SDK rejects it too
    fc.constant(`T=${t},V1=${good}`),
    fc.constant(`t=${t};v1=${good}`),
    fc.constant(`v1=${good}`), // no timestamp
    fc.constant(`t=${t}`), // no signature
    fc.constant(`t=${t},v1=${v1(body, t, 'whsec_somebody_else')}`), // another secret
    fc.constant(`t=${t},v1=${v1(Buffer.concat([body, Buffer.from(' ')]), t)}`), // another body
    fc.integer({ min: 301, max: 10_000_000 }).map((age) => `t=${t - age},v1=${v1(body, t - age)}`), // stale
    fc.integer({ min: 301, max: 10_000_000 }).map((ahead) => `t=${t + ahead},v1=${v1(body, t + ahead)}`), // future
    fc.constantFrom('t=99999999999999999999,v1=00', 't=-1,v1=00', 't=1e3,v1=00', 't=,v1=', '=,=,='),
    fc
      .array(hex(64, 64), { minLength: 2, maxLength: 400 })
      .map((sigs) => `t=${t},${sigs.map((s) => `v1=${s}`).join(',')}`),
    fc.tuple(hex(64, 64), hex(64, 64)).map(([a, b]) => [`t=${t},v1=${a}`, `t=${t},v1=${b}`] as const), // doubled, both wrong
  );
}

/** Every name Object.prototype has: each is an unknown source like any other (404), not a member. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
/** Source segments that are not valid percent-encoding (decodeURIComponent throws). */
const MALFORMED_SOURCES = [
  '%ZZ',
  '%E0%A4%A',
  '%',
  'stripe%',
  '%C0%AF',
  '%ED%A0%80',
  '%FF',
  '%F4%90%80%80',
  '%%73',
];

/** Paths that must reach the ingest handler as source "stripe" (or as an unknown source). */
const webhookPath = fc.oneof(
  { weight: 12, arbitrary: fc.constant(WEBHOOK) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(`${WEBHOOK}/`, '/webhooks/%73tripe', `${WEBHOOK}?a=1&b=%ZZ`, `${WEBHOOK}#x`),
  },
  {
    weight: 1,
    // Unknown sources: printable, percent-encoded.
    arbitrary: fc
      .stringMatching(/^[A-Za-z0-9._~-]{1,80}$/)
      .filter((s) => s !== 'stripe' && s !== '.' && s !== '..')
      .map((s) => `/webhooks/${encodeURIComponent(s)}`),
  },
  {
    weight: 1,
    // Object.prototype names, as they are and fully percent-encoded: unknown sources too.
    arbitrary: fc
      .tuple(fc.constantFrom(...PROTOTYPE_NAMES), fc.boolean(), fc.boolean())
      .map(
        ([name, encoded, slash]) =>
          `/webhooks/${encoded ? [...name].map((ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`).join('') : name}${slash ? '/' : ''}`,
      ),
  },
  {
    weight: 1,
    // Not valid percent-encoding: 400 bad_request_target.
    arbitrary: fc.constantFrom(...MALFORMED_SOURCES).map((s) => `/webhooks/${s}`),
  },
);
const isStripePath = (path: string) => /^\/webhooks\/(stripe|%73tripe)\/?(\?.*)?(#.*)?$/.test(path);
const isMalformedSourcePath = (path: string) => {
  const segment = /^\/webhooks\/([^/?#]+)/.exec(path)?.[1] ?? '';
  try {
    decodeURIComponent(segment);
    return false;
  } catch {
    return true;
  }
};

/**
 * Any text a person's name or address may hold: accents, CJK, symbols, combining marks, emoji and
 * other characters outside the BMP, the noncharacters U+FFFE/U+FFFF, even a lone surrogate (JSON
 * carries it as an escape). SQS refuses some of them as they are; the queue writer escapes them.
 */
const personText = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(
      {
        weight: 8,
        arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
      },
      {
        weight: 2,
        arbitrary: fc.integer({ min: 0xa0, max: 0xd7ff }).map((code) => String.fromCharCode(code)),
      },
      {
        weight: 2,
        arbitrary: fc.integer({ min: 0xe000, max: 0xffff }).map((code) => String.fromCharCode(code)),
      },
      {
        weight: 2,
        arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((code) => String.fromCodePoint(code)),
      },
      { weight: 1, arbitrary: fc.constantFrom('🎉', '👩‍👩‍👧', '\uFFFE', '\uFFFF', '\uD800', '\uDFFF') },
    ),
    maxLength,
  });

/** A realistic customer, with the personal data Stripe sends. */
const customer = fc.record({
  id: fc.stringMatching(/^cus_[A-Za-z0-9]{14}$/),
  email: fc.oneof(
    { weight: 4, arbitrary: fc.emailAddress() },
    fc.string({ maxLength: 30 }),
    fc.constant(null),
  ),
  name: fc.option(personText(60), { nil: null }),
  phone: fc.option(fc.stringMatching(/^\+[1-9][0-9]{6,14}$/), { nil: null }),
  address: fc.option(
    fc.record({
      line1: fc.option(personText(40), { nil: null }),
      line2: fc.constant(null),
      city: fc.option(fc.string({ maxLength: 30 }), { nil: null }),
      state: fc.option(fc.string({ maxLength: 3 }), { nil: null }),
      postal_code: fc.option(fc.stringMatching(/^[A-Z0-9 ]{3,9}$/), { nil: null }),
      country: fc.option(fc.constantFrom('US', 'GB', 'DE', 'FR', 'NL', 'xx', 'USA'), { nil: null }),
    }),
    { nil: null },
  ),
});

const customerEvent = fc.record({
  id: fc.stringMatching(/^evt_[A-Za-z0-9]{24}$/),
  type: fc.constantFrom('customer.created', 'customer.updated', 'customer.deleted'),
  created: fc.integer({ min: 1_500_000_000, max: 2_000_000_000 }),
  customer,
  pretty: fc.boolean(),
});
type CustomerEvent = typeof customerEvent extends fc.Arbitrary<infer T> ? T : never;
function customerEventBody(e: CustomerEvent): Buffer {
  const payload = {
    id: e.id,
    object: 'event',
    api_version: '2024-06-20',
    created: e.created,
    type: e.type,
    livemode: false,
    pending_webhooks: 1,
    data: { object: { object: 'customer', created: e.created, metadata: {}, ...e.customer } },
  };
  return Buffer.from(e.pretty ? JSON.stringify(payload, null, 2) : JSON.stringify(payload));
}

const validHeader = (body: Buffer) => {
  const t = nowSeconds();
  return `t=${t},v1=${v1(body, t)}`;
};

/** Writes raw bytes on a fresh connection; returns what came back before the server closed (or `waitMs`). */
function rawExchange(bytes: Buffer, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', done);
    socket.on('error', done);
    socket.write(bytes);
  });
}

/** Status codes of every response in a raw exchange (pipelined requests get one each). */
function statusesIn(raw: string): number[] {
  return [...raw.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

/** A request as bytes, for what Node's HTTP client refuses to send: CR/LF/NUL in values, smuggling, bad framing. */
function rawRequest(
  kind: number,
  forged: string,
  body: string,
  junk: string,
  n: number,
): { bytes: Buffer; waitMs: number } {
  const b = Buffer.from(body, 'utf8');
  const head = (lines: string[], eol = '\r\n') => `${lines.join(eol)}${eol}${eol}`;
  const post = (extra: string[], target = WEBHOOK) => [
    `POST ${target} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    ...extra,
  ];
  const valid = `t=${nowSeconds()},v1=${v1(b, nowSeconds())}`;
  const chunkedBody = `${b.length.toString(16)}\r\n${body}\r\n0\r\n`;
  const variants: (() => string | Buffer)[] = [
    // Header injection: CR/LF inside a value.
    () =>
      head([
        ...post([
          `X-Note: ${junk}\r\nStripe-Signature: ${forged}`,
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    () =>
      head([
        ...post([
          `Stripe-Signature: ${forged}\r\n\r\nPOST /webhooks/stripe HTTP/1.1`,
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    () =>
      head([
        ...post([
          `Stripe-Signature: ${forged}\rX-Injected: 1`,
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    () =>
      head([
        ...post([
          `Stripe-Signature: ${forged}\nX-Injected: 1`,
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    () =>
      head([
        ...post([
          `Stripe-Signature: ${forged}\u0000${junk}`,
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    // Bare LF line endings, obs-fold, a space before the colon, a name with a space.
    () =>
      head(post([`Stripe-Signature: ${forged}`, `Content-Length: ${b.length}`, 'Connection: close']), '\n') +
      body,
    () =>
      head([
        ...post([
          `Stripe-Signature: ${forged}`,
          ` ${junk}`,
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    () =>
      head([...post([`Stripe-Signature : ${forged}`, `Content-Length: ${b.length}`, 'Connection: close'])]) +
      body,
    () =>
      head([...post([`Stripe Signature: ${forged}`, `Content-Length: ${b.length}`, 'Connection: close'])]) +
      body,
    // Smuggling: Content-Length with Transfer-Encoding, two lengths, odd encodings.
    () =>
      head([
        ...post([
          `Stripe-Signature: ${forged}`,
          `Content-Length: ${b.length}`,
          'Transfer-Encoding: chunked',
          'Connection: close',
        ]),
      ]) +
      chunkedBody +
      '\r\n',
    () =>
      head([
        ...post([
          `Stripe-Signature: ${forged}`,
          `Content-Length: ${b.length}`,
          `Content-Length: ${b.length + 1}`,
          'Connection: close',
        ]),
      ]) + body,
    () =>
      head([
        ...post([`Stripe-Signature: ${forged}`, 'Transfer-Encoding: chunked, identity', 'Connection: close']),
      ]) +
      chunkedBody +
      '\r\n',
    () =>
      head([...post([`Stripe-Signature: ${forged}`, 'Transfer-Encoding: xchunked', 'Connection: close'])]) +
      chunkedBody +
      '\r\n',
    () =>
      head([...post([`Stripe-Signature: ${forged}`, 'Transfer-Encoding: chunked', 'Connection: close'])]) +
      `${['zz', '-1', 'ffffffffffffffffff', '1;ext="x"'][n % 4]}\r\n${body}\r\n0\r\n\r\n`,
    // A valid signature, but in a chunked trailer rather than a header: must not count.
    () =>
      head([...post(['Transfer-Encoding: chunked', 'Trailer: Stripe-Signature', 'Connection: close'])]) +
      `${b.length.toString(16)}\r\n${body}\r\n0\r\nStripe-Signature: ${valid}\r\n\r\n`,
    // Request lines: absolute form, lower-case method, other methods, HTTP/1.0, HTTP/2 preface.
    () =>
      head([
        `POST http://evil.example${WEBHOOK} HTTP/1.1`,
        'Host: evil.example',
        `Stripe-Signature: ${forged}`,
        `Content-Length: ${b.length}`,
        'Connection: close',
      ]) + body,
    () =>
      head([`post ${WEBHOOK} HTTP/1.1`, 'Host: x', `Content-Length: ${b.length}`, 'Connection: close']) +
      body,
    () =>
      head([
        `${['GET', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'][n % 5]} ${WEBHOOK} HTTP/1.1`,
        'Host: x',
        `Stripe-Signature: ${valid}`,
        `Content-Length: ${b.length}`,
        'Connection: close',
      ]) + body,
    () =>
      head([`POST ${WEBHOOK} HTTP/1.0`, `Stripe-Signature: ${forged}`, `Content-Length: ${b.length}`]) + body,
    () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    // Oversized headers: one huge value, thousands of headers.
    () =>
      head([
        ...post([
          `Stripe-Signature: t=1,${'v1=00,'.repeat(4000)}`,
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    () =>
      head([
        ...post([
          ...Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${i}`),
          `Stripe-Signature: ${forged}`,
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    // 8-bit bytes in the signature; Expect: 100-continue; pipelined requests.
    () =>
      Buffer.concat([
        Buffer.from(
          head(
            post([`Stripe-Signature: t=1,v1=${junk}`, `Content-Length: ${b.length}`, 'Connection: close']),
          ),
          'latin1',
        ),
        b,
      ]),
    () =>
      head([
        ...post([
          `Stripe-Signature: ${forged}`,
          'Expect: 100-continue',
          `Content-Length: ${b.length}`,
          'Connection: close',
        ]),
      ]) + body,
    () =>
      head(post([`Stripe-Signature: ${forged}`, `Content-Length: ${b.length}`])) +
      body +
      head(post([`Stripe-Signature: ${forged}`, `Content-Length: ${b.length}`, 'Connection: close'])) +
      body,
    // Random bytes.
    () => Buffer.from(junk, 'latin1'),
  ];
  const stalls: (() => string)[] = [
    // A body shorter than its Content-Length, then silence: the server waits; nothing may be accepted.
    () => head([...post([`Stripe-Signature: ${valid}`, `Content-Length: ${b.length + 10}`])]) + body,
    () =>
      head([...post([`Stripe-Signature: ${valid}`, 'Transfer-Encoding: chunked'])]) +
      `${b.length.toString(16)}\r\n${body}\r\n`,
  ];
  if (n % 40 === 0) {
    const stall = stalls[n % stalls.length] as () => string;
    return { bytes: Buffer.from(stall(), 'utf8'), waitMs: 150 };
  }
  const make = variants[kind % variants.length] as () => string | Buffer;
  const made = make();
  return { bytes: Buffer.isBuffer(made) ? made : Buffer.from(made, 'utf8'), waitMs: 2000 };
}

async function rss(): Promise<number> {
  return process.memoryUsage.rss();
}

// A real collection before each heap reading, so heap growth means retained objects, not garbage.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
function heapAfterGc(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}
/** What the heap may retain after 5 500 refused requests (the reject path must keep nothing). */
const HEAP_BOUND_REJECT_PATH_BYTES = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------

describe('fuzzing POST /webhooks/{source} on the local runtime (real HTTP, real handlers)', () => {
  let prototypeKeys: string[];
  let rssAtStart = 0;
  let heapAtStart = 0;
  let heapAfterRejects = 0;
  let positives = 0;

  beforeAll(async () => {
    hub = await startTestHub();
    base = new URL(hub.runtime.url);
    prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
    // Warm up (JIT, sockets, the secret cache) before taking the memory baseline.
    for (let i = 0; i < 200; i++) {
      await send({
        path: WEBHOOK,
        headers: { 'stripe-signature': 't=1,v1=00' },
        body: Buffer.from('{}'),
        validlySigned: false,
      });
    }
    rssAtStart = await rss();
    heapAtStart = heapAfterGc();
  });
  afterAll(async () => {
    agent.destroy();
    await hub?.stop();
  });

  it('answers hostile unsigned requests 4xx (404 for an unknown source, 413 over the limit), never 202', async () => {
    const unsigned = hostileBody.chain((body) =>
      fc.record({
        path: webhookPath,
        body: fc.constant(body),
        signature: forgedSignature(body),
        contentType,
        extra: extraHeaders,
      }),
    );
    await fc.assert(
      fc.asyncProperty(unsigned, async ({ path, body, signature, contentType: type, extra }) => {
        const headers: Record<string, string | readonly string[]> = { ...extra };
        if (type !== undefined) headers['content-type'] = type;
        if (signature !== undefined) headers['stripe-signature'] = signature;
        const c: Case = { path, headers, body, validlySigned: false };
        const answer = await send(c);
        const parsed = checkAnswer(c, answer);
        if (isMalformedSourcePath(path)) {
          if (answer.status !== 400 || parsed.error !== 'bad_request_target')
            fail(c, answer, 'a source that is not valid percent-encoding must get 400 bad_request_target');
        } else if (!isStripePath(path)) {
          if (answer.status !== 404 || parsed.error !== 'unknown_source')
            fail(c, answer, 'an unknown source must get 404 unknown_source');
        } else if (body.length > LIMIT) {
          if (answer.status !== 413)
            fail(c, answer, 'a body over the limit must get 413 before anything else');
        } else if (![400, 401, 415].includes(answer.status)) {
          fail(c, answer, 'an unsigned request must get 400, 401 or 415');
        }
      }),
      { numRuns: 5500 },
    );
    heapAfterRejects = heapAfterGc();
    expect(heapAfterRejects - heapAtStart).toBeLessThan(HEAP_BOUND_REJECT_PATH_BYTES);
  });

  it('tells a valid signature from every mangling of it: only the signature-preserving variants are accepted', async () => {
    type Variant = { header: string | readonly string[]; preserves: boolean; body?: Buffer };
    const mangled = fc
      .record({ e: customerEvent, decoy: hex(64, 64), which: fc.nat(), pos: fc.nat() })
      .map(({ e, decoy, which, pos }): { body: Buffer; variant: Variant } => {
        const body = customerEventBody(e);
        const t = nowSeconds();
        const sig = v1(body, t);
        const i = pos % sig.length;
        const flipped = `${sig.slice(0, i)}${HEX[(HEX.indexOf(sig[i] ?? '0') + 1 + (pos % 15)) % 16]}${sig.slice(i + 1)}`;
        const variants: Variant[] = [
          // Preserving: every v1 is tried, other schemes and parts without '=' are ignored.
          { header: `t=${t},v1=${sig}`, preserves: true },
          { header: `v1=${sig},t=${t}`, preserves: true },
          { header: `t=${t},v1=${decoy},v1=${sig}`, preserves: true },
          { header: `t=${t},v1=${sig},v0=${decoy}`, preserves: true },
          { header: `t=${t},foo=bar,garbage,v1=${sig}`, preserves: true },
          { header: [`t=${t},v1=${sig}`, `t=${t},v1=${decoy}`], preserves: true }, // doubled: joined with ", "
          // t is signed as sent: a sender that signed "0<t>" is verified over "0<t>" (as Stripe's SDK does).
          { header: `t=0${t},v1=${v1(body, `0${t}`)}`, preserves: true },
          // Breaking.
          { header: `t=${t},v1=${flipped}`, preserves: false },
          { header: `t=${t},v1=${sig.slice(0, 1 + (pos % 63))}`, preserves: false },
          // The right MAC plus one hex digit: two digits a byte or nothing, as Stripe's SDK requires.
          { header: `t=${t},v1=${sig}${HEX[pos % 16]}`, preserves: false },
          { header: `t=${t},v1=${HEX[pos % 16]}${sig}`, preserves: false },
          { header: `t=${t},v1=${sig}00`, preserves: false },
          // The MAC is over the t text as sent: a leading zero the sender did not sign breaks it.
          { header: `t=0${t},v1=${sig}`, preserves: false },
          { header: `t=${t},v1=${v1(body, `0${t}`)}`, preserves: false },
          { header: `t=${t + 1},v1=${sig}`, preserves: false },
          { header: `t=${t - 1},v1=${sig}`, preserves: false },
          { header: `t=${t},v0=${sig}`, preserves: false },
          { header: `t=${t},v2=${sig}`, preserves: false },
          {
            header: `t=${t},v1=${sig.replace(/[a-f]/, (ch) => ch.toUpperCase())}`,
            preserves: /[a-f]/.test(sig) === false,
          },
          { header: `t=${t},v1=${v1(body, t, `${SECRET}x`)}`, preserves: false },
          { header: `t=${t},v1=${v1(body, t, SECRET.slice(0, -1))}`, preserves: false },
          { header: `t=${t},v1=${sig}`, preserves: false, body: Buffer.concat([body, Buffer.from('\n')]) },
          {
            header: `t=${t},v1=${sig}`,
            preserves: false,
            body: Buffer.from(body.toString('utf8').replace('"customer', '"Customer')),
          },
        ];
        const variant = variants[which % variants.length] as Variant;
        return { body: variant.body ?? body, variant };
      });
    await fc.assert(
      fc.asyncProperty(mangled, async ({ body, variant }) => {
        const c: Case = {
          path: WEBHOOK,
          headers: { 'content-type': 'application/json', 'stripe-signature': variant.header },
          body,
          validlySigned: variant.preserves !== false,
        };
        if (variant.preserves !== false) noteSignedCustomer(body);
        const answer = await send(c);
        checkAnswer(c, answer);
        if (variant.preserves) {
          if (answer.status !== 202) fail(c, answer, 'a validly signed customer event must get 202');
        } else if (answer.status !== 401) {
          fail(c, answer, 'a mangled signature must get 401');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('answers validly signed hostile bodies 202 only when they are UTF-8 JSON with an event id, else 400', async () => {
    await fc.assert(
      fc.asyncProperty(hostileBody, contentType, async (body, type) => {
        const c: Case = {
          path: WEBHOOK,
          headers: {
            'stripe-signature': validHeader(body),
            ...(type === undefined ? {} : { 'content-type': type }),
          },
          body,
          validlySigned: true,
        };
        noteSignedCustomer(body);
        const answer = await send(c);
        const parsed = checkAnswer(c, answer);
        const expected = expectedForSigned(body);
        // A content-type check may come first (issue 7): 415 is allowed for anything but JSON.
        const typeRefused = answer.status === 415 && !String(type).startsWith('application/json');
        if (answer.status !== expected && !typeRefused) fail(c, answer, `expected ${expected}`);
        if (answer.status === 400 && hasUnprintableEventId(body) && parsed.error !== 'bad_event_id')
          fail(c, answer, 'an id that is not printable ASCII must be refused as bad_event_id');
        if (
          answer.status === 202 &&
          parsed.eventId !== (JSON.parse(new TextDecoder().decode(body)) as { id: string }).id
        )
          fail(c, answer, 'eventId is not the body id');
      }),
      { numRuns: 600 },
    );
  });

  it('accepts every correctly signed random customer event (202 with its event id)', async () => {
    await fc.assert(
      fc.asyncProperty(
        customerEvent,
        fc.stringMatching(/^[a-z]{1,12}(\.[a-z]{1,12})?$/),
        async (e, local) => {
          // One customer per case with a plain address, so most of these also reach the CRM.
          positives += 1;
          const body = customerEventBody({
            ...e,
            customer: {
              ...e.customer,
              id: `cus_fuzz${String(positives).padStart(10, '0')}`,
              email: `${local}@example.com`,
            },
          });
          const c: Case = {
            path: WEBHOOK,
            headers: {
              'content-type': 'application/json; charset=utf-8',
              'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
              'stripe-signature': validHeader(body),
            },
            body,
            validlySigned: true,
          };
          noteSignedCustomer(body);
          const answer = await send(c);
          const parsed = checkAnswer(c, answer);
          if (answer.status !== 202 || parsed.eventId !== e.id)
            fail(c, answer, 'expected 202 with the event id');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('gives a body trickled in slow pieces the same answer as one sent at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        customerEvent,
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
        async (e, signed, trickle) => {
          const body = customerEventBody(e);
          const header = signed ? validHeader(body) : `t=${nowSeconds()},v1=${'0'.repeat(64)}`;
          if (signed) noteSignedCustomer(body);
          const c: Case = {
            path: WEBHOOK,
            headers: { 'content-type': 'application/json', 'stripe-signature': header },
            body,
            trickle,
            validlySigned: signed,
          };
          const answer = await send(c);
          checkAnswer(c, answer);
          if (answer.status !== (signed ? 202 : 401)) fail(c, answer, `expected ${signed ? 202 : 401}`);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('answers 413 to any body over the limit, signed or not, without buffering it', async () => {
    const chunk = randomBytes(64 * 1024);
    let worst = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(LIMIT + 1, LIMIT + 2, LIMIT + 64 * 1024, 2 * LIMIT),
          fc.integer({ min: LIMIT + 1, max: 32 * 1024 * 1024 }),
        ),
        fc.boolean(),
        fc.boolean(),
        async (size, chunked, signed) => {
          let header = `t=${nowSeconds()},v1=${'1'.repeat(64)}`;
          if (signed) {
            // Sign the exact bytes that will be streamed, without holding them.
            const t = nowSeconds();
            const mac = createHmac('sha256', SECRET).update(`${t}.`);
            for (let left = size; left > 0; left -= chunk.length)
              mac.update(left >= chunk.length ? chunk : chunk.subarray(0, left));
            header = `t=${t},v1=${mac.digest('hex')}`;
          }
          const c: Case = {
            path: WEBHOOK,
            headers: { 'content-type': 'application/json', 'stripe-signature': header },
            body: { size, chunk, chunked },
            validlySigned: signed,
          };
          const before = await rss();
          let peak = before;
          const sampler = setInterval(() => {
            peak = Math.max(peak, process.memoryUsage.rss());
          }, 5);
          const answer = await send(c).finally(() => clearInterval(sampler));
          peak = Math.max(peak, await rss());
          worst = Math.max(worst, peak - before);
          checkAnswer(c, answer);
          if (answer.status !== 413) fail(c, answer, 'expected 413');
          if (peak - before > RSS_BOUND_PER_OVERSIZE_BYTES)
            fail(
              c,
              answer,
              `RSS grew ${Math.round((peak - before) / 2 ** 20)} MiB while one body streamed in`,
            );
        },
      ),
      { numRuns: 40 },
    );
    console.log(`oversize bodies: worst RSS growth during one upload ${Math.round(worst / 2 ** 20)} MiB`);
  });
  it('survives raw hostile HTTP (header injection, smuggling, bad framing, huge headers, stalls): never 202, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.nat(),
        hex(64, 64),
        fc.oneof(
          hostileJsonText,
          customerEvent.map((e) => customerEventBody(e).toString('utf8')),
        ),
        headerValue(60),
        async (kind, n, sig, body, junk) => {
          const { bytes, waitMs } = rawRequest(kind, `t=${nowSeconds()},v1=${sig}`, body, junk, n);
          const raw = await rawExchange(bytes, waitMs);
          ledger.cases += 1;
          for (const status of statusesIn(raw)) {
            ledger.statuses.set(status, (ledger.statuses.get(status) ?? 0) + 1);
            const shown = `request: ${JSON.stringify(bytes.subarray(0, 400).toString('latin1'))}\nresponse: ${JSON.stringify(raw.slice(0, 400))}`;
            expect(status, `accepted without a valid signature header\n${shown}`).not.toBe(202);
            expect(status >= 500, `a 5xx\n${shown}`).toBe(false);
          }
        },
      ),
      { numRuns: 500 },
    );
    const health = await fetch(`${hub.runtime.url}/_switchyard/health`);
    expect(health.status).toBe(200);
  });

  it('answers a source that is not valid percent-encoding, or an invalid request target, 400 bad_request_target, and an Object.prototype name as the source 404 unknown_source; never 202, never a 5xx, server up', async () => {
    // local/http-server.ts guards the URL parse and the decoding of the source; functions/core/ingest.ts
    // looks sources up with Object.hasOwn, so no Object.prototype member passes for a source.
    const expectations: (readonly [source: string, status: number, error: string])[] = [
      ...MALFORMED_SOURCES.map((source) => [source, 400, 'bad_request_target'] as const),
      ...PROTOTYPE_NAMES.map((source) => [source, 404, 'unknown_source'] as const),
      ['%5F%5Fproto%5F%5F', 404, 'unknown_source'],
      ['%63onstructor', 404, 'unknown_source'],
    ];
    for (const [source, status, error] of expectations) {
      const body = Buffer.from('{"id":"evt_source_check"}');
      const c: Case = {
        path: `/webhooks/${source}`,
        headers: { 'content-type': 'application/json', 'stripe-signature': validHeader(body) },
        body,
        validlySigned: false,
      };
      const answer = await send(c);
      const parsed = checkAnswer(c, answer);
      expect({ status: answer.status, error: parsed.error }, `${source}: ${answer.text}`).toEqual({
        status,
        error,
      });
    }
    for (const target of [`http://[${WEBHOOK}`, `http://x:99999${WEBHOOK}`, `http://[::1${WEBHOOK}`]) {
      const raw = await rawExchange(
        Buffer.from(`POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`),
        2000,
      );
      ledger.cases += 1;
      for (const status of statusesIn(raw))
        ledger.statuses.set(status, (ledger.statuses.get(status) ?? 0) + 1);
      expect(statusesIn(raw), `${target}: ${raw}`).toEqual([400]);
      expect(raw).toContain('"error":"bad_request_target"');
      expect(raw).toMatch(/\r\nx-content-type-options: nosniff\r\n/i);
      expect(raw).toMatch(/\r\ncache-control: no-store\r\n/i);
      expect(raw).not.toContain('at ');
    }
    const health = await fetch(`${hub.runtime.url}/_switchyard/health`);
    expect(health.status).toBe(200);
  });

  it('accepts (202) and delivers a signed event whose text SQS cannot carry as is (emoji, U+FFFE/U+FFFF, lone surrogates), intact', async () => {
    // functions/aws/sqs.ts writes every surrogate and U+FFFE/U+FFFF as a \uXXXX escape (sqsSafeJson).
    const before = await hub.runtime.settle(60_000);
    const names = [
      'Zoë 🎉',
      '🎉',
      'Nonchar \uFFFF',
      'Nonchar \uFFFE',
      'Lone high \uD800',
      'Lone low \uDFFF',
      'Pair then lone \uD83C\uDF89\uD83C',
      '\uDBFF\uDFFF max',
      'escape \\u00e9 "quoted"',
    ];
    const sent: CustomerEvent[] = [];
    for (const name of names) {
      const e: CustomerEvent = {
        id: `evt_${randomBytes(12).toString('hex')}`,
        type: 'customer.created',
        created: nowSeconds(),
        pretty: false,
        customer: {
          id: `cus_${randomBytes(7).toString('hex')}`,
          email: `zoe.${randomBytes(4).toString('hex')}@example.com`,
          name,
          phone: null,
          address: null,
        },
      };
      const body = customerEventBody(e);
      noteSignedCustomer(body);
      const c: Case = {
        path: WEBHOOK,
        headers: { 'content-type': 'application/json', 'stripe-signature': validHeader(body) },
        body,
        validlySigned: true,
      };
      const answer = await send(c);
      const parsed = checkAnswer(c, answer);
      expect({ status: answer.status, eventId: parsed.eventId }, answer.text).toEqual({
        status: 202,
        eventId: e.id,
      });
      sent.push(e);
    }
    const after = await hub.runtime.settle(90_000);
    expect(after.totals.delivered - before.totals.delivered).toBe(sent.length);
    expect(after.totals.quarantined + after.totals.deadLettered).toBe(
      before.totals.quarantined + before.totals.deadLettered,
    );
    for (const e of sent) {
      const calls = hub.crm.calls.filter(
        (call) => (call.body.data as { refs?: { stripe?: string } })?.refs?.stripe === e.customer.id,
      );
      expect(
        calls.map((call) => ({ status: call.status, name: (call.body.data as { name?: unknown }).name })),
        JSON.stringify(e.customer.name),
      ).toEqual([{ status: 201, name: e.customer.name }]);
    }
  });

  it('never delivers a signed event the pipeline cannot map: an out-of-range created or an over-long object id is quarantined at once, an event id that is not printable ASCII refused 400', async () => {
    const before = await hub.runtime.settle(60_000);
    const poisonCustomer = (created: number, customerId: string, n: number): CustomerEvent => ({
      id: `evt_${randomBytes(8).toString('hex')}`,
      type: 'customer.created',
      created,
      pretty: false,
      customer: { id: customerId, email: `p${n}@example.com`, name: null, phone: null, address: null },
    });
    const poisonInvoice = (created: number, invoiceId: string) => {
      const id = `evt_${randomBytes(8).toString('hex')}`;
      const body = Buffer.from(
        JSON.stringify({
          id,
          object: 'event',
          type: 'invoice.paid',
          created,
          data: {
            object: {
              id: invoiceId,
              object: 'invoice',
              customer: 'cus_x',
              currency: 'eur',
              total: 1,
              created,
            },
          },
        }),
      );
      return { id, body };
    };
    // Signed and accepted, then quarantined by route at once, never retried to the DLQ.
    const quarantined = [
      ...[
        poisonCustomer(1e20, 'cus_poison_created', 1),
        poisonCustomer(-1e20, 'cus_poison_created_negative', 2),
        poisonCustomer(8.64e12 + 1, 'cus_poison_created_edge', 3),
        poisonCustomer(nowSeconds(), `cus_${'x'.repeat(4996)}`, 4),
        poisonCustomer(nowSeconds(), `cus_${'y'.repeat(252)}`, 5), // 256 characters
      ].map((e) => ({
        id: e.id,
        body: customerEventBody(e),
        customerId: e.customer.id as string | undefined,
        rule: 'stripe.event.range',
      })),
      // Invoices (no flow takes them here) are mapped all the same, and refused as malformed.
      { ...poisonInvoice(1e20, 'in_poison_created'), customerId: undefined, rule: 'stripe.event.shape' },
      {
        ...poisonInvoice(nowSeconds(), `in_${'z'.repeat(253)}`), // 256 characters
        customerId: undefined,
        rule: 'stripe.event.shape',
      },
    ];
    let accepted = 0;
    for (const { body } of quarantined) {
      const c: Case = {
        path: WEBHOOK,
        headers: { 'content-type': 'application/json', 'stripe-signature': validHeader(body) },
        body,
        validlySigned: true,
      };
      const answer = await send(c);
      checkAnswer(c, answer);
      expect(answer.status, answer.text).toBe(202);
      accepted += 1;
    }
    // Refused at the door: the id travels in a header (X-Switchyard-Event-Id) and in keys downstream.
    for (const [n, eventId] of [
      `evt_☃_${randomBytes(8).toString('hex')}`,
      '\u0000',
      `evt_${randomBytes(4).toString('hex')}\u0000`,
      'evt 1',
      'evt_\u007f',
      'evt_\t1',
      'evt_é',
      'evt_🎉',
    ].entries()) {
      const body = customerEventBody(poisonCustomer(nowSeconds(), `cus_poison_event_id_${n}`, 10 + n));
      const withId = Buffer.from(
        body.toString('utf8').replace(/^\{"id":"[^"]*"/, `{"id":${JSON.stringify(eventId)}`),
      );
      const c: Case = {
        path: WEBHOOK,
        headers: { 'content-type': 'application/json', 'stripe-signature': validHeader(withId) },
        body: withId,
        validlySigned: true,
      };
      const answer = await send(c);
      const parsed = checkAnswer(c, answer);
      expect({ status: answer.status, error: parsed.error }, JSON.stringify(eventId)).toEqual({
        status: 400,
        error: 'bad_event_id',
      });
    }
    const after = await hub.runtime.settle(90_000);
    expect(after.sources.stripe?.accepted).toBe((before.sources.stripe?.accepted ?? 0) + accepted);
    expect(after.totals.quarantined - before.totals.quarantined).toBe(quarantined.length);
    expect(after.totals.deadLettered).toBe(before.totals.deadLettered);
    expect(after.totals.delivered).toBe(before.totals.delivered);
    for (const { id, customerId, rule } of quarantined) {
      const found = await hub.runtime.console.findEvent(id);
      expect(
        found.quarantine.map((q) => ({ stage: q.stage, rules: q.reasons.map((r) => r.rule) })),
        `${id} (${customerId ?? 'invoice'})`,
      ).toEqual([{ stage: 'route', rules: [rule] }]);
    }
    const poisoned = new Set(quarantined.map((p) => p.customerId).filter((id) => id !== undefined));
    expect(
      hub.crm.calls.filter((call) =>
        poisoned.has(String((call.body.data as { refs?: { stripe?: string } })?.refs?.stripe)),
      ),
    ).toEqual([]);
  });

  it('after every case: accepted equals the 202s, the CRM heard only of validly signed customers, G3 balances, no prototype polluted, memory bounded', async () => {
    const stats = await hub.runtime.settle(90_000);
    expect(stats.sources.stripe?.accepted).toBe(ledger.accepted);
    expect(stats.totals.inFlight).toBe(0);
    expect(stats.balanced).toBe(true);
    for (const call of hub.crm.calls) {
      const ref = (call.body.data as { refs?: { stripe?: unknown } } | undefined)?.refs?.stripe;
      expect(ledger.signedCustomers.has(String(ref)), `CRM call for ${String(ref)}`).toBe(true);
    }
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(await (await fetch(`${hub.runtime.url}/_switchyard/health`)).json()).toEqual({ ok: true });
    const grown = (await rss()) - rssAtStart;
    const heapGrown = heapAfterGc() - heapAtStart;
    console.log(
      `fuzz: ${ledger.cases} cases over HTTP, ${ledger.accepted} accepted, statuses ${JSON.stringify(Object.fromEntries([...ledger.statuses].sort(([a], [b]) => a - b)))}, CRM calls ${hub.crm.calls.length}, RSS grew ${Math.round(grown / 2 ** 20)} MiB, heap after GC grew ${Math.round((heapAfterRejects - heapAtStart) / 2 ** 20)} MiB over the refused requests and ${Math.round(heapGrown / 2 ** 20)} MiB in all`,
    );
    expect(ledger.cases).toBeGreaterThanOrEqual(10_000);
    expect(grown).toBeLessThan(RSS_BOUND_BYTES);
    expect(heapGrown).toBeLessThan(HEAP_BOUND_BYTES);
    expect(hub.crm.calls.length, 'the positive cases reach the CRM').toBeGreaterThan(50);
  });
});
