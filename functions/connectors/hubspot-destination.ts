import { FatalError, TransientError } from '../core/errors.js';
import type { HttpResponse } from '../core/ports.js';
import { parseRetryAfter, ReadError } from './http.js';
import type { DestinationCall, DestinationConnector, HeldRecord, ReadCall } from './types.js';

interface CanonicalCustomer {
  email?: string;
  name?: string | null;
  phone?: string | null;
  address?: {
    line1?: string | null;
    line2?: string | null;
    city?: string | null;
    region?: string | null;
    postalCode?: string | null;
    country?: string | null;
  } | null;
}

/** HubSpot contact properties from a canonical customer; `null` clears a property, absent leaves it. */
export function hubspotContactProperties(data: Readonly<Record<string, unknown>>): Record<string, string> {
  const customer = data as CanonicalCustomer;
  const properties: Record<string, string> = {};
  const set = (name: string, value: string | null | undefined) => {
    if (value !== undefined) properties[name] = value ?? '';
  };
  set('email', customer.email);
  if (customer.name !== undefined) {
    const [first = '', ...rest] = (customer.name ?? '').trim().split(/\s+/);
    set('firstname', first);
    set('lastname', rest.join(' '));
  }
  set('phone', customer.phone);
  if (customer.address !== undefined) {
    const a = customer.address ?? {};
    set('address', [a.line1, a.line2].filter(Boolean).join(', '));
    set('city', a.city);
    set('state', a.region);
    set('zip', a.postalCode);
    set('country', a.country);
  }
  return properties;
}

interface HubSpotError {
  message?: string;
  category?: string;
  errors?: { message?: string; context?: Record<string, unknown> }[];
}

async function call(
  request: DestinationCall,
  path: string,
  body: unknown,
  method: 'POST' | 'PATCH' = 'POST',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const base = request.destination.url.replace(/\/+$/, '');
  let response: HttpResponse;
  try {
    response = await request.fetch(`${base}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
      },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(request.destination.timeoutMs),
    });
  } catch (error) {
    throw new TransientError('HubSpot unreachable or too slow', {}, { cause: error });
  }
  const text = await response.text().catch(() => '');
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // Keep the status; a non-JSON body only loses the error detail.
  }
  const status = response.status;
  if (status === 429 || status === 408 || status >= 500) {
    const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), Date.now());
    throw new TransientError(`HubSpot answered ${status}`, {
      status,
      // HubSpot's secondly limit resets within a second or so; its daily limit does not, but
      // backoff and the DLQ alarm bound that case.
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
  if (status < 200 || status >= 300 || status === 207) {
    const error = json as HubSpotError;
    const detail =
      error.errors
        ?.map((e) => e.message)
        .filter(Boolean)
        .join('; ') ||
      error.message ||
      text.slice(0, 200);
    throw new FatalError(`HubSpot rejected the contact (${status})`, [
      {
        rule: 'destination.rejected',
        message: `HTTP ${status}${error.category ? ` ${error.category}` : ''}: ${detail}`,
      },
    ]);
  }
  return { status, json };
}

/**
 * HubSpot CRM v3 contacts: upsert by email the first time (`/crm/v3/objects/contacts/batch/upsert`,
 * one contact per call, so one invalid contact never fails its neighbours), update by HubSpot's id
 * after that (so a changed email changes the contact, not creates one), archive on delete. The private-app
 * token comes from the destination's secret. Upsert by email is naturally idempotent, which is what
 * makes a retried call safe here (HubSpot has no Idempotency-Key).
 */
async function deliver(request: DestinationCall): Promise<{ destinationId?: string }> {
  const { message } = request;
  if (message.entity !== 'customer') {
    throw new FatalError(`HubSpot contacts take customers, not ${message.entity}`, [
      { rule: 'destination.unsupported_entity', message: `entity ${message.entity} has no HubSpot mapping` },
    ]);
  }
  if (message.deleted) {
    const id = request.mapping?.destinationId;
    if (!id) return {};
    await call(request, '/crm/v3/objects/contacts/batch/archive', { inputs: [{ id }] });
    return { destinationId: id };
  }
  const properties = hubspotContactProperties(message.data);
  if (!properties.email) {
    throw new FatalError('A HubSpot contact is upserted by email, and this customer has none', [
      {
        rule: 'destination.hubspot.email',
        field: 'email',
        message: 'is required to upsert a HubSpot contact',
      },
    ]);
  }
  // A contact HubSpot already gave us an id for is updated by that id: upserting by email would
  // create a second contact when the email changes.
  const known = request.mapping?.destinationId;
  if (known) {
    await call(request, `/crm/v3/objects/contacts/${encodeURIComponent(known)}`, { properties }, 'PATCH');
    return { destinationId: known };
  }
  const { json } = await call(request, '/crm/v3/objects/contacts/batch/upsert', {
    inputs: [{ idProperty: 'email', id: properties.email, properties }],
  });
  const results = json.results as { id?: string }[] | undefined;
  const id = results?.[0]?.id;
  return id ? { destinationId: String(id) } : {};
}

/**
 * For `shadow diff`: the contact HubSpot holds, by its id when the hub knows it, else by the email
 * the payload would upsert, with only the properties the payload would set (HubSpot always adds a
 * few of its own).
 */
async function read(request: ReadCall): Promise<HeldRecord> {
  const properties = ((request.payload ?? {}) as { properties?: Record<string, string> }).properties ?? {};
  const known = request.mapping?.destinationId;
  const key = known ?? properties.email;
  if (!key) throw new ReadError('no HubSpot id or email to find the contact by');
  const query = new URLSearchParams({
    ...(known ? {} : { idProperty: 'email' }),
    properties: Object.keys(properties).join(','),
  });
  const base = request.destination.url.replace(/\/+$/, '');
  const response = await request.fetch(
    `${base}/crm/v3/objects/contacts/${encodeURIComponent(key)}?${query}`,
    {
      headers: {
        accept: 'application/json',
        ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
      },
      redirect: 'manual',
      signal: AbortSignal.timeout(request.destination.timeoutMs),
    },
  );
  const text = await response.text();
  if (response.status === 404) return { found: false };
  if (response.status < 200 || response.status >= 300)
    throw new ReadError(`HubSpot answered ${response.status} to the contact read`);
  let held: { properties?: Record<string, unknown>; archived?: boolean };
  try {
    held = JSON.parse(text) as typeof held;
  } catch (error) {
    throw new ReadError('HubSpot answered the contact read with a body that is not JSON', { cause: error });
  }
  if (held.archived) return { found: false };
  const wanted = Object.fromEntries(
    Object.keys(properties).map((name) => [name, held.properties?.[name] ?? '']),
  );
  return { found: true, body: { properties: wanted } };
}

export const hubspotDestination: DestinationConnector = {
  name: 'hubspot',
  deliver,
  read,
  // What deliver would send: the archive of the known contact, or the contact's properties.
  payload: ({ message, mapping }) =>
    message.deleted
      ? { archive: mapping?.destinationId ?? null }
      : { properties: hubspotContactProperties(message.data) },
};
