import type * as z from 'zod';
import type { configSchema, declarativeMap } from './config-schema.js';

// Zod-free on purpose: every Lambda imports this module (for its types and constants) and each
// bundles the config pre-validated at synth (functions/runtime.ts), so the schema and zod stay
// out of the bundles. The schema and loadConfig are in config-schema.ts.

/** Webhook source connectors this build ships. A config naming any other fails at synth or start. */
export const WEBHOOK_CONNECTORS = [
  'stripe',
  'shopify',
  'hubspot',
  'github',
  'slack',
  'standard-webhooks',
  'hmac',
] as const;
/** Polled source connectors (for APIs without webhooks). */
export const POLL_CONNECTORS = ['rest-poll'] as const;
export const SOURCE_CONNECTORS = [...WEBHOOK_CONNECTORS, ...POLL_CONNECTORS] as const;
/** Destination connectors this build ships. */
export const DESTINATION_CONNECTORS = ['http', 'hubspot'] as const;
/** Canonical entities a flow can carry. */
export const ENTITIES = ['customer', 'order', 'invoice'] as const;
/** Fields of each canonical entity that can have an owner (refs and updatedAt belong to the hub). */
export const CANONICAL_FIELDS: Record<(typeof ENTITIES)[number], readonly string[]> = {
  customer: ['email', 'name', 'givenName', 'familyName', 'phone', 'address'],
  order: ['customerId', 'customerEmail', 'number', 'currency', 'totalMinor', 'lines', 'status', 'placedAt'],
  invoice: [
    'customerId',
    'number',
    'currency',
    'totalMinor',
    'amountDueMinor',
    'status',
    'issuedAt',
    'dueAt',
  ],
};

/**
 * Fields whose owner, when the config names none for them, is their parent's: the parts of a name
 * belong with the name, so owning `name` keeps another system from changing only its split.
 */
export const OWNED_WITH: Record<(typeof ENTITIES)[number], Readonly<Record<string, string>>> = {
  customer: { givenName: 'name', familyName: 'name' },
  order: {},
  invoice: {},
};

/**
 * An endpoint the hub calls with a credential: https (plain http only to this machine, for local
 * systems and tests), and never a user or password in the URL, where logs and errors would show it.
 */
/**
 * The retention periods CloudWatch Logs accepts, in days. Core imports no CDK, so the list is
 * written out here; test/infra checks it against aws-cdk-lib's RetentionDays.
 */
export const AUDIT_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** A record a mapping function returns: the same shape the built-in connectors produce. */
export interface MappedRecord {
  readonly entity: (typeof ENTITIES)[number];
  readonly id: string;
  readonly version: number;
  readonly deleted?: boolean;
  readonly fields: Readonly<Record<string, unknown>>;
  /** The entity's schema version `fields` are in (default 1). */
  readonly schemaVersion?: number;
}
/** The escape hatch: a TypeScript function from one event to its records. */
export type MapFunction = (
  event: unknown,
  context: { readonly headers: Readonly<Record<string, string>> },
) => readonly MappedRecord[];

/** A declarative mapping from one event to canonical records (see config-schema.ts). */
export type DeclarativeMap = z.output<typeof declarativeMap>;

/** What a user writes in switchyard.config.ts. */
export type SwitchyardConfigInput = z.input<typeof configSchema>;
/** The validated config with every default filled in. */
export type SwitchyardConfig = z.output<typeof configSchema>;
export type SourceConfig = SwitchyardConfig['sources'][string];
export type DestinationConfig = SwitchyardConfig['destinations'][string];
export type FlowConfig = SwitchyardConfig['flows'][number];
export type Entity = (typeof ENTITIES)[number];

/** Identity helper: gives editors the config's types. Validation happens in loadConfig (config-schema.ts). */
export function defineConfig(config: SwitchyardConfigInput): SwitchyardConfigInput {
  return config;
}
