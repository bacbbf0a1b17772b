import { CommandError } from '../command-error.js';

/** What a command says when nothing answers at the hub's URL. */
export function noHubAt(base: string, cause: unknown): CommandError {
  return new CommandError(`No hub answers at ${base} (start it with \`switchyard dev\`)`, { cause });
}

/** Calls the running local hub's operator API; a hub that does not answer is a clear error. */
export async function callHub<T>(base: string, method: 'GET' | 'POST', path: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, { method });
  } catch (error) {
    throw noHubAt(base, error);
  }
  const body = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new CommandError(body.message ?? `The hub answered ${response.status}`);
  return body;
}

/** Every quarantined record the hub lists (reasons, no payloads), across all pages. */
export async function listAllQuarantined<T>(base: string): Promise<T[]> {
  const items: T[] = [];
  let after: string | undefined;
  do {
    const page = await callHub<{ items: T[]; next?: string }>(
      base,
      'GET',
      `/_switchyard/ops/quarantine${after ? `?after=${encodeURIComponent(after)}` : ''}`,
    );
    items.push(...page.items);
    after = page.next;
  } while (after);
  return items;
}

/** POSTs JSON to the running hub (callHub sends no body); a hub that does not answer is a clear error. */
export async function postJson<T>(base: string, path: string, body: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (error) {
    throw noHubAt(base, error);
  }
  const answer = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new CommandError(answer.message ?? `The hub answered ${response.status}`);
  return answer;
}
