import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_RESPONSE_BYTES, nodeHttpFetch } from '../../functions/connectors/node-http.js';

let server: Server | undefined;
const sockets = new Set<unknown>();

/** A real HTTP server on loopback answering with `handler`; its URL. */
async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<string> {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  const running = server;
  server = undefined;
  sockets.clear();
  if (!running) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

describe('nodeHttpFetch', () => {
  it('sends the method, headers and body, and answers status, headers and text', async () => {
    let seen: { method?: string; headers?: IncomingMessage['headers']; body?: string } = {};
    const url = await serve((req, res, body) => {
      seen = { method: req.method, headers: req.headers, body };
      res.writeHead(201, { 'content-type': 'application/json', 'x-request-id': 'r-1' });
      res.end('{"id":"crm-42"}');
    });
    const response = await nodeHttpFetch(`${url}/api/contacts?x=1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k-1' },
      body: '{"name":"Zoë"}',
    });
    expect(seen.method).toBe('POST');
    expect(seen.headers?.['idempotency-key']).toBe('k-1');
    expect(seen.headers?.['content-length']).toBe(String(Buffer.byteLength('{"name":"Zoë"}')));
    expect(seen.body).toBe('{"name":"Zoë"}');
    expect(response.status).toBe(201);
    expect(response.headers.get('X-Request-Id')).toBe('r-1');
    expect(response.headers.get('retry-after')).toBeNull();
    expect(await response.text()).toBe('{"id":"crm-42"}');
  });

  it('does not follow a redirect: the 302 and its location are the answer', async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      calls += 1;
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
    });
    const response = await nodeHttpFetch(`${url}/api`, { method: 'POST', body: '{}', redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/elsewhere');
    expect(calls).toBe(1);
  });

  it('reuses one kept-alive connection for calls one after another', async () => {
    const url = await serve((_req, res) => res.end('ok'));
    for (let i = 0; i < 3; i++) expect(await (await nodeHttpFetch(url)).text()).toBe('ok');
    expect(sockets.size).toBe(1);
  });

  it('reads a gzip-encoded body', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync('{"items":[1,2,3]}'));
    });
    expect(await (await nodeHttpFetch(url)).text()).toBe('{"items":[1,2,3]}');
  });

  it('fails if the server never answers within the signal, as an AbortError', async () => {
    const url = await serve(() => {
      // Never answers.
    });
    const error = await nodeHttpFetch(url, { signal: AbortSignal.timeout(100) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AbortError' });
  });

  it('fails if the body stops coming within the signal (the timeout covers the body too)', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200);
      res.write('{"items":[');
    });
    const error = await nodeHttpFetch(url, { signal: AbortSignal.timeout(150) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'AbortError' });
  });

  it('fails if nothing listens, with the socket error', async () => {
    const url = await serve((_req, res) => res.end());
    const stopped = server;
    server = undefined;
    await new Promise((resolve) => stopped?.close(resolve));
    await expect(nodeHttpFetch(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it(`fails if the answer is over ${MAX_RESPONSE_BYTES} bytes, naming the origin`, async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(1024 * 1024, 'a');
      for (let i = 0; i <= MAX_RESPONSE_BYTES / chunk.length; i++) res.write(chunk);
      res.end();
    });
    await expect(nodeHttpFetch(url)).rejects.toThrow(`The response from ${new URL(url).origin} is over`);
  });

  it('fails if the body has an encoding it cannot read, naming it', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'zstd' });
      res.end('x');
    });
    await expect(nodeHttpFetch(url)).rejects.toThrow('The response is encoded as "zstd"');
  });

  it('fails if the URL carries credentials, without sending or quoting them (as fetch does)', async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      calls += 1;
      res.end();
    });
    const error = await nodeHttpFetch(url.replace('http://', 'http://user:s3cr3t-pw@')).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(String(error)).toContain('A URL with credentials cannot be called');
    expect(String(error)).not.toContain('s3cr3t-pw');
    expect(calls).toBe(0);
  });

  it('fails if the URL is not http or https, naming the protocol', async () => {
    await expect(nodeHttpFetch('file:///etc/passwd')).rejects.toThrow(
      'Only http and https URLs can be called (got file:',
    );
  });
});
