import { search } from '@aws-lambda-powertools/jmespath';
import * as z from 'zod';
import { isSchemaVersion, schemaVersions } from '../model/versions.js';
import {
  AUDIT_RETENTION_DAYS,
  CANONICAL_FIELDS,
  DESTINATION_CONNECTORS,
  ENTITIES,
  type Entity,
  type MapFunction,
  SOURCE_CONNECTORS,
  type SwitchyardConfig,
} from './config.js';
import { ConfigError } from './errors.js';
import { redactValue } from './redact.js';

/** The HTTP API's stage throttling when the config sets none: generous for webhooks, protects ingest. */
export const DEFAULT_API_THROTTLE = { rateLimit: 50, burstLimit: 100 } as const;

const endpointUrl = z
  .url({ protocol: /^https?$/ })
  .refine((value) => {
    const url = URL.canParse(value) ? new URL(value) : undefined;
    // Other schemes are already refused by the URL check above.
    return url?.protocol !== 'http:' || ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  }, 'must be https (plain http only to localhost)')
  .refine((value) => {
    const url = URL.canParse(value) ? new URL(value) : undefined;
    return !url || (url.username === '' && url.password === '');
  }, 'must not carry a user or password (put credentials in the secret)');

const resourceName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be lower-case letters, digits and dashes, starting with a letter');

const secretName = z
  .string()
  .regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'must be a Secrets Manager name (letters, digits, /_+=.@-)');

/** A JMESPath expression, compiled at load so a typo fails at synth rather than on the first event. */
const jmesPath = z
  .string()
  .min(1)
  .superRefine((expression, ctx) => {
    try {
      search(expression, {});
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: `is not a valid JMESPath expression (${(error as Error).message})`,
      });
    }
  });

/**
 * A declarative mapping from one event (or one polled item) to canonical records, in JMESPath:
 * `{ entity: 'customer', id: 'data.id', version: 'data.updated', fields: { email: 'data.email' } }`.
 */
export const declarativeMap = z.strictObject({
  entity: z.enum(ENTITIES),
  /** Where the records are in the event, when it carries several (default: the event is one record). */
  records: jmesPath.optional(),
  id: jmesPath,
  /** A number, or an ISO 8601 date (ordered by its epoch milliseconds). */
  version: jmesPath,
  deleted: jmesPath.optional(),
  fields: z.record(z.string(), jmesPath),
  /** The entity's schema version the fields are in (docs/contracts); default 1. */
  schemaVersion: z.number().int().optional(),
});

const mapSchema = z.union([
  declarativeMap,
  z.custom<MapFunction>((value) => typeof value === 'function', 'must be a mapping object or a function'),
]);

/** An EventBridge Scheduler expression, checked here so a typo fails at synth, not at deploy. */
const scheduleExpression = z
  .string()
  .regex(
    /^(rate\(\s*[1-9]\d*\s+(minute|minutes|hour|hours|day|days)\s*\)|cron\(\s*\S+(\s+\S+){5}\s*\))$/,
    "must be 'rate(N minutes|hours|days)' or a 6-field 'cron(...)'",
  );

const tolerance = z.number().int().min(1).max(3600).default(300);

/** Secrets Manager name of the signing secret(s): a string, a JSON list [current, previous], or {current, previous}. */
const signing = { secret: secretName, toleranceSeconds: tolerance };

const sourceSchema = z.discriminatedUnion(
  'connector',
  [
    z.strictObject({
      connector: z.literal('stripe'),
      ...signing,
      /**
       * Stripe's REST API, for reconciliation to list customers (`GET /v1/customers`): a restricted
       * key with read access to customers. `url` is overridable for a local Stripe-like API.
       */
      api: z
        .strictObject({ secret: secretName, url: endpointUrl.default('https://api.stripe.com') })
        .optional(),
    }),
    z.strictObject({ connector: z.literal('shopify'), secret: secretName }),
    z.strictObject({ connector: z.literal('hubspot'), ...signing }),
    z.strictObject({ connector: z.literal('github'), secret: secretName, map: mapSchema }),
    z.strictObject({ connector: z.literal('slack'), ...signing, map: mapSchema }),
    z.strictObject({
      connector: z.literal('standard-webhooks'),
      ...signing,
      /** Header prefix: `webhook-*` (Standard Webhooks) or `svix-*` (Svix). */
      headerPrefix: z.enum(['webhook', 'svix']).default('webhook'),
      map: mapSchema,
    }),
    z.strictObject({
      connector: z.literal('hmac'),
      ...signing,
      /** Header carrying the signature. */
      header: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'),
      algorithm: z.enum(['sha1', 'sha256', 'sha512']).default('sha256'),
      encoding: z.enum(['hex', 'base64']).default('hex'),
      /** Text before the signature in the header, e.g. `sha256=`. */
      prefix: z.string().default(''),
      /** What is signed: `{body}`, `{timestamp}`, `{method}` and `{url}` are replaced. */
      signedPayload: z.string().includes('{body}', { message: 'must include {body}' }).default('{body}'),
      timestampHeader: z
        .string()
        .regex(/^[A-Za-z0-9-]+$/, 'must be a header name')
        .optional(),
      timestampUnit: z.enum(['s', 'ms']).default('s'),
      /** Where the event id is: a header name, or a JMESPath into the body. */
      eventId: z.union([
        z.strictObject({ header: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name') }),
        z.strictObject({ path: jmesPath }),
      ]),
      map: mapSchema,
    }),
    z.strictObject({
      connector: z.literal('rest-poll'),
      /** EventBridge Scheduler expression. */
      schedule: scheduleExpression,
      url: endpointUrl,
      /** Secrets Manager name of the API credential, if the API needs one. */
      secret: secretName.optional(),
      auth: z
        .union([
          z.strictObject({ type: z.literal('bearer') }),
          z.strictObject({ type: z.literal('api-key'), header: z.string().default('x-api-key') }),
        ])
        .optional(),
      /** Query parameter that asks for records updated since the cursor. */
      cursorParam: z.string().min(1).default('updated_since'),
      /** Record field holding its update time (ISO 8601 or epoch milliseconds); it is the cursor. */
      cursorField: z.string().min(1).default('updated_at'),
      /** Where the records are in a page. */
      items: jmesPath.default('@'),
      /** Where the next page's URL is in the body; without it, the `Link: <...>; rel="next"` header. */
      nextLink: jmesPath.optional(),
      /** Re-read this much before the cursor on every poll: late rows and equal timestamps are never missed. */
      lookbackSeconds: z.number().int().min(0).max(86_400).default(300),
      /** Cursor for the first poll (ISO 8601); default: the epoch, i.e. everything. */
      initialCursor: z.iso.datetime().optional(),
      /** Most pages one poll reads; the rest waits for the next poll. */
      maxPages: z.number().int().min(1).max(10_000).default(100),
      map: mapSchema,
    }),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown connector (known: ${SOURCE_CONNECTORS.join(', ')})`
        : undefined,
  },
);

const retrySchema = z.strictObject({
  /** Receives before a message moves to the DLQ (SQS maxReceiveCount). */
  maxReceiveCount: z.number().int().min(1).max(1000).default(8),
  baseDelaySeconds: z.number().min(0).max(900).default(2),
  maxDelaySeconds: z.number().min(0).max(43_200).default(300),
});

const destinationSchema = z.strictObject({
  connector: z.enum(DESTINATION_CONNECTORS),
  /** http: the endpoint records are POSTed to. hubspot: the API base URL (https://api.hubapi.com). */
  url: endpointUrl,
  /** Secrets Manager name of the bearer token, if the destination needs one. */
  secret: secretName.optional(),
  /** Most deliver invocations running at once (SQS event source maximumConcurrency). */
  maxConcurrency: z.number().int().min(2).max(1000).default(5),
  /** Milliseconds to wait for the destination before the call counts as a transient failure. */
  timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
  retry: retrySchema.prefault({}),
  /**
   * After `failureThreshold` transient failures in a row the lane pauses: records wait in the queue
   * (never the DLQ) and one call probes after `openSeconds` (doubling up to `maxOpenSeconds`).
   */
  circuitBreaker: z
    .strictObject({
      enabled: z.boolean().default(true),
      failureThreshold: z.number().int().min(1).max(1000).default(5),
      openSeconds: z.number().int().min(1).max(3600).default(30),
      maxOpenSeconds: z.number().int().min(1).max(43_200).default(600),
    })
    .prefault({}),
  /**
   * The schema version of each entity this destination consumes (docs/contracts), e.g.
   * `{ customer: 2 }`; route converts every record to it. Default 1 for every entity, so configs
   * written before versioned contracts keep receiving what they did.
   */
  consumes: z.partialRecord(z.enum(ENTITIES), z.number().int()).default({}),
});

/** A pilot entry: a canonical id, or `system:externalId` (matched against the record's refs). */
const pilotId = z
  .string()
  .regex(/^[^\s:]+(:[^\s]+)?$/, "must be a canonical id or 'system:externalId', without spaces");

const flowSchema = z.strictObject({
  name: resourceName,
  entity: z.enum(ENTITIES),
  from: z.array(resourceName).min(1),
  to: z.array(resourceName).min(1),
  /**
   * `shadow`: the whole pipeline runs, but deliver records what it would have sent instead of
   * calling the destination (see `switchyard shadow diff|promote`).
   */
  mode: z.enum(['live', 'shadow']).default('live'),
  /**
   * Live for a sample only; the other records take the shadow path. `percent`: by a stable hash of
   * the canonical id (see functions/core/shadow.ts); `ids`: canonical ids or `system:externalId`.
   */
  pilot: z
    .union(
      [
        z.strictObject({ percent: z.number().int().min(1).max(100) }),
        z.strictObject({ ids: z.array(pilotId).min(1).max(1000) }),
      ],
      {
        error: () =>
          "must be { percent: a whole number 1..100 } or { ids: [canonical id or 'system:externalId', ...] }",
      },
    )
    .optional(),
  /**
   * Compare, on a schedule, what the flow's sources list (where they have a list API) with what the
   * hub accepted and each destination holds, over the last `windowHours`; `repair` re-sends what is
   * missing on each run (otherwise only `switchyard reconcile --repair` does).
   */
  reconcile: z
    .strictObject({
      schedule: scheduleExpression,
      windowHours: z
        .number()
        .int()
        .min(1)
        .max(24 * 90)
        .default(24),
      repair: z.boolean().default(false),
    })
    .optional(),
});

export const configSchema = z.strictObject({
  name: resourceName,
  sources: z
    .record(resourceName, sourceSchema)
    .refine((s) => Object.keys(s).length > 0, 'needs at least one source'),
  destinations: z.record(resourceName, destinationSchema),
  flows: z.array(flowSchema),
  ownership: z.partialRecord(z.enum(ENTITIES), z.record(z.string(), resourceName)).default({}),
  /** How records of different systems are found to be one entity. */
  identity: z
    .strictObject({
      /**
       * Customers with the same phone and name under different emails: `report` them as possible
       * duplicates for a person to decide (a claim on the phone and name, one write unit per new
       * customer), or `off` (no claim, no report: for a book where people share lines, or to save the
       * write). Never merged either way.
       */
      lookalikes: z.enum(['report', 'off']).default('report'),
    })
    .prefault({}),
  alarms: z
    .strictObject({
      email: z.email().optional(),
      latencyP99Seconds: z.number().positive().default(60),
      oldestMessageAgeSeconds: z.number().int().positive().default(900),
      /** Percent of a function's invocations that may fail (Lambda Errors / Invocations) over 5 minutes. */
      errorRatePercent: z.number().positive().max(100).default(5),
      /** Percent of a lane's or a source's routed events that may be quarantined over 15 minutes. */
      quarantineRatePercent: z.number().positive().max(100).default(5),
      /** Width, in standard deviations, of the expected band for accepted events per source. */
      volumeAnomalyStdDevs: z.number().positive().max(10).default(3),
    })
    .prefault({}),
  /** The webhook front door in AWS. */
  api: z
    .strictObject({
      /**
       * What takes the webhooks: `http-api` (API Gateway HTTP API: a route per source, throttled per
       * route, access logs; USD 1.00 per million requests) or `function-url` (a Lambda function URL on
       * the ingest function's live alias: no per-request charge and no API Gateway throttling; cap it
       * with `reservedConcurrency`).
       */
      ingress: z.enum(['http-api', 'function-url']).default('http-api'),
      /**
       * `function-url` only: the ingest function's reserved concurrency, which is then its throttle
       * (Lambda allows 10 requests per second per unit and answers 429 above it; providers retry).
       * Unset, ingest shares the account's unreserved concurrency.
       */
      reservedConcurrency: z.number().int().min(1).max(1000).optional(),
      /** HTTP API only: stage-wide throttling, requests per second and burst. */
      throttle: z
        .strictObject({
          rateLimit: z.number().int().min(1).max(10_000).default(DEFAULT_API_THROTTLE.rateLimit),
          burstLimit: z.number().int().min(1).max(5_000).default(DEFAULT_API_THROTTLE.burstLimit),
        })
        .prefault({}),
      /** Per-source throttling of its route, when one provider needs more (or less) room than the rest. */
      routes: z
        .record(
          z.string(),
          z.strictObject({
            rateLimit: z.number().int().min(1).max(10_000),
            burstLimit: z.number().int().min(1).max(5_000),
          }),
        )
        .default({}),
    })
    .superRefine((api, ctx) => {
      const functionUrl = api.ingress === 'function-url';
      const throttled =
        api.throttle.rateLimit !== DEFAULT_API_THROTTLE.rateLimit ||
        api.throttle.burstLimit !== DEFAULT_API_THROTTLE.burstLimit;
      // Settings of the other front door would be silently ignored: say so instead.
      if (functionUrl && throttled) {
        ctx.addIssue({
          code: 'custom',
          path: ['throttle'],
          message: `throttles the HTTP API, which api.ingress 'function-url' does not build; cap ingest with api.reservedConcurrency instead`,
        });
      }
      if (functionUrl && Object.keys(api.routes).length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes'],
          message: `throttles HTTP API routes, which api.ingress 'function-url' does not build`,
        });
      }
      if (!functionUrl && api.reservedConcurrency !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['reservedConcurrency'],
          message: `caps a function URL; with api.ingress 'http-api' use api.throttle`,
        });
      }
    })
    .prefault({}),
  /**
   * Encryption at rest. Default: SQS-managed SSE for the queues, the AWS-managed DynamoDB key for
   * the table, and a KMS key of the stack's own for the alarm topic (SNS has no managed key that
   * CloudWatch may use). With a customer-managed key, queues, the table and the alarm topic use it,
   * and every function that reads or writes them is granted exactly the key use it needs.
   */
  encryption: z
    .strictObject({
      /** Create one customer-managed KMS key (with rotation) for the hub's data. */
      customerManagedKey: z.boolean().default(false),
      /** Or use an existing key, by ARN. */
      kmsKeyArn: z
        .string()
        .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/, 'must be a KMS key ARN')
        .optional(),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest webhook body accepted, in bytes (413 above it). SQS caps a message at 1 MiB. */
      maxBodyBytes: z
        .number()
        .int()
        .min(1024)
        .max(768 * 1024)
        .default(256 * 1024),
    })
    .prefault({}),
  logs: z
    .strictObject({
      level: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
      retentionDays: z.number().int().positive().default(30),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /**
       * Days every event's stage transitions are kept (`switchyard trace`). In AWS they are log lines
       * in the functions' log groups, which keep at least this long, so it must be a CloudWatch Logs
       * retention period; locally the audit file is pruned to it.
       */
      retentionDays: z
        .number()
        .int()
        .refine((days) => AUDIT_RETENTION_DAYS.includes(days), {
          message: `must be a CloudWatch Logs retention period in days, one of ${AUDIT_RETENTION_DAYS.join(', ')}`,
        })
        .default(30),
    })
    .prefault({}),
  quarantine: z
    .strictObject({
      /** Days a quarantined record is kept for inspection and replay before DynamoDB TTL removes it. */
      retentionDays: z.number().int().min(1).max(365).default(14),
    })
    .prefault({}),
  validation: z
    .strictObject({
      /**
       * Rules to stop enforcing, by name (e.g. `customer.email.format`): a record failing only these
       * passes with its value as received. Relax a rule, then replay the quarantine.
       */
      disabledRules: z
        .array(
          z
            .string()
            .regex(
              /^[a-z]+\.[A-Za-z0-9.[\]]+\.(required|format)$/,
              'must be a rule name like customer.email.format',
            ),
        )
        .default([]),
    })
    .prefault({}),
  /** Seconds a secret value is cached in memory; a rotated value is picked up within this time. */
  secretsCacheSeconds: z.number().int().min(0).max(3600).default(300),
});

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value: unknown = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function show(value: unknown): string {
  if (value === undefined) return 'missing';
  // A URL's user and password are credentials: the message shows the URL without them.
  const text = JSON.stringify(value)
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@"]+@/gi, '$1***@')
    // Nor its query: API keys travel there too.
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s?"]*)\?[^\s"]*/gi, '$1?***');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
    .join('')
    .replace(/^\./, '');
}

/**
 * Validates a config and fills its defaults. Throws {@link ConfigError} naming every bad field and
 * its value, so a mistake fails `cdk synth` or `switchyard dev` instead of a deployed hub.
 */
export function loadConfig(input: unknown): SwitchyardConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const where = fieldPath(issue.path) || '(root)';
        if (issue.code === 'invalid_key') {
          // The key itself is wrong: say why, and show the key rather than its value.
          const reason = issue.issues[0]?.message ?? issue.message;
          return `${where}: the name ${reason} (got ${show(issue.path.at(-1))})`;
        }
        // A value pasted into a `secret` field may be the secret itself: never echo it.
        const secretField = String(issue.path.at(-1) ?? '')
          .toLowerCase()
          .includes('secret');
        const value =
          issue.code === 'unrecognized_keys'
            ? show(issue.keys)
            : secretField
              ? redactValue(valueAt(input, issue.path))
              : show(valueAt(input, issue.path));
        return `${where}: ${issue.message} (got ${value})`;
      }),
    );
  }
  const config = parsed.data;
  const problems: string[] = [];
  const flowNames = new Set<string>();
  config.flows.forEach((flow, i) => {
    if (flowNames.has(flow.name)) problems.push(`flows[${i}].name: duplicate flow name (got "${flow.name}")`);
    flowNames.add(flow.name);
    flow.from.forEach((source, j) => {
      if (!(source in config.sources)) {
        problems.push(
          `flows[${i}].from[${j}]: no source named "${source}" (sources: ${Object.keys(config.sources).join(', ')})`,
        );
      }
    });
    if (flow.mode === 'shadow' && flow.pilot) {
      problems.push(
        `flows[${i}].pilot: a shadow flow sends nothing, so it has no pilot; set mode 'live' with the pilot (got mode "shadow" and pilot ${JSON.stringify(flow.pilot)})`,
      );
    }
    flow.to.forEach((destination, j) => {
      if (!(destination in config.destinations)) {
        problems.push(
          `flows[${i}].to[${j}]: no destination named "${destination}" (destinations: ${Object.keys(config.destinations).join(', ') || 'none'})`,
        );
      }
    });
  });
  for (const [entity, fields] of Object.entries(config.ownership)) {
    const known = CANONICAL_FIELDS[entity as Entity];
    for (const [field, owner] of Object.entries(fields ?? {})) {
      if (!known.includes(field)) {
        problems.push(`ownership.${entity}.${field}: not a ${entity} field (fields: ${known.join(', ')})`);
      }
      if (!(owner in config.sources)) {
        problems.push(`ownership.${entity}.${field}: owner "${owner}" is not a source`);
      }
    }
  }
  for (const [name, source] of Object.entries(config.sources)) {
    if (
      source.connector === 'hmac' &&
      source.signedPayload.includes('{timestamp}') &&
      !source.timestampHeader
    ) {
      problems.push(
        `sources.${name}.signedPayload: uses {timestamp} but no timestampHeader says where it is`,
      );
    }
  }
  config.flows.forEach((flow, i) => {
    flow.to.forEach((destination, j) => {
      if (config.destinations[destination]?.connector === 'hubspot' && flow.entity !== 'customer') {
        problems.push(
          `flows[${i}].to[${j}]: the hubspot destination takes customers (contacts), not ${flow.entity}`,
        );
      }
    });
  });
  // One lane per (entity, source, destination): the delivery mapping is per destination, so a second
  // flow carrying the same records there would only race the first.
  const laneOwners = new Map<string, string>();
  config.flows.forEach((flow, i) => {
    for (const source of flow.from) {
      for (const destination of flow.to) {
        const lane = `${flow.entity} from ${source} to ${destination}`;
        const owner = laneOwners.get(lane);
        if (owner !== undefined) problems.push(`flows[${i}]: ${lane} is already carried by ${owner}`);
        else laneOwners.set(lane, `flows[${i}] (${flow.name})`);
      }
    }
  });
  for (const name of Object.keys(config.api.routes)) {
    const connector = Object.hasOwn(config.sources, name) ? config.sources[name]?.connector : undefined;
    if (connector === undefined || connector === 'rest-poll') {
      const webhookSources = Object.entries(config.sources)
        .filter(([, source]) => source.connector !== 'rest-poll')
        .map(([source]) => source);
      problems.push(
        `api.routes.${name}: no webhook route for "${name}" (webhook sources: ${webhookSources.join(', ')})`,
      );
    }
  }
  if (config.encryption.customerManagedKey && config.encryption.kmsKeyArn) {
    problems.push('encryption: choose customerManagedKey or kmsKeyArn, not both');
  }
  for (const [name, destination] of Object.entries(config.destinations)) {
    for (const [entity, version] of Object.entries(destination.consumes)) {
      if (!isSchemaVersion(entity as Entity, version)) {
        problems.push(
          `destinations.${name}.consumes.${entity}: ${entity} has no schema version ${show(version)} (versions: ${schemaVersions(entity as Entity).join(', ')})`,
        );
      }
    }
  }
  for (const [name, source] of Object.entries(config.sources)) {
    const map = 'map' in source ? source.map : undefined;
    if (map && typeof map !== 'function' && !isSchemaVersion(map.entity, map.schemaVersion ?? 1)) {
      problems.push(
        `sources.${name}.map.schemaVersion: ${map.entity} has no schema version ${show(map.schemaVersion)} (versions: ${schemaVersions(map.entity).join(', ')})`,
      );
    }
  }
  for (const [name, destination] of Object.entries(config.destinations)) {
    if (destination.retry.maxDelaySeconds < destination.retry.baseDelaySeconds) {
      problems.push(
        `destinations.${name}.retry.maxDelaySeconds: must be at least baseDelaySeconds (got ${destination.retry.maxDelaySeconds} < ${destination.retry.baseDelaySeconds})`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
