import http from 'node:http';
import https from 'node:https';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { HttpFetch, HttpResponse } from '../core/ports.js';

/** Larger answers are refused: the hub keeps a short prefix of a destination's body, a page's items. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

// Kept alive across invocations, as fetch's pool would be: a warm function reuses its connection.
// An idle one is closed after 4 s (undici's default), before most servers close it from their side.
const KEEP_ALIVE = { keepAlive: true, timeout: 4_000 } as const;
const agents = { 'http:': new http.Agent(KEEP_ALIVE), 'https:': new https.Agent(KEEP_ALIVE) } as const;

function decoded(body: Buffer, encoding: string | undefined): Buffer {
  switch (encoding?.trim().toLowerCase()) {
    case undefined:
    case '':
    case 'identity':
      return body;
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      throw new Error(`The response is encoded as "${encoding}", which the hub cannot read`);
  }
}

/**
 * {@link HttpFetch} on node:http(s): the request and the whole body under the one signal, no
 * redirects followed, the body read before the promise resolves (every caller reads it, and so the
 * connection goes back to the pool). Errors are fetch's kinds: an aborted call rejects with the
 * `AbortError` Node raises (its cause is the signal's reason, a `TimeoutError` for a timeout), any
 * other failure with the socket's error.
 */
export const nodeHttpFetch: HttpFetch = (url, init = {}) =>
  new Promise<HttpResponse>((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(
        new TypeError(`Only http and https URLs can be called (got ${target.protocol} in ${target.origin})`),
      );
      return;
    }
    if (target.username !== '' || target.password !== '') {
      // As fetch does (and the config already refuses them): never sent, never quoted.
      reject(new TypeError(`A URL with credentials cannot be called (${target.origin})`));
      return;
    }
    const transport = target.protocol === 'https:' ? https : http;
    const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8');
    const request = transport.request(
      target,
      {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        agent: agents[target.protocol],
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            response.destroy(
              new Error(`The response from ${target.origin} is over ${MAX_RESPONSE_BYTES} bytes`),
            );
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () => {
          let text: string;
          try {
            text = decoded(Buffer.concat(chunks), header(response.headers['content-encoding'])).toString(
              'utf8',
            );
          } catch (error) {
            reject(error);
            return;
          }
          const headers = response.headers;
          resolve({
            status: response.statusCode ?? 0,
            headers: { get: (name) => header(headers[name.toLowerCase()]) ?? null },
            text: async () => text,
          });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
