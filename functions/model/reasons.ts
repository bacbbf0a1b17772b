import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import type { QuarantineReason } from '../core/errors.js';
import { redactValue } from '../core/redact.js';

// zod/mini (a third of classic zod's size in a bundle) has no messages of its own: it would say
// "Invalid input" where classic zod names the limit, and the quarantine reasons must name it.
z.config(en());

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** zod issues as named, machine-readable quarantine reasons, with the offending value redacted. */
export function issuesToReasons(
  entity: string,
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
): QuarantineReason[] {
  return issues.map((issue) => {
    const field = issue.path.map(String).join('.');
    const value = valueAt(data, issue.path);
    const missing = value === undefined || value === null;
    return {
      rule: `${entity}.${field.replace(/\.\d+(?=\.|$)/g, '[]') || 'record'}.${missing ? 'required' : 'format'}`,
      field,
      message: missing ? 'is required' : issue.message,
      value: redactValue(value),
    };
  });
}

/** What validating a canonical record gives: its normalized data, or named reasons. */
export type ValidationResult =
  | { readonly ok: true; readonly data: Record<string, unknown> }
  | { readonly ok: false; readonly reasons: readonly QuarantineReason[] };

/**
 * Normalizes, then validates against the entity's schema. The valid output keeps only what the
 * source said (undefined fields dropped), so merging cannot erase another system's value.
 */
export function validateWith(
  entity: string,
  schema: z.ZodMiniType,
  normalize: (data: Readonly<Record<string, unknown>>) => Record<string, unknown>,
  data: Readonly<Record<string, unknown>>,
): ValidationResult {
  const normalized = normalize(data);
  const parsed = z.safeParse(schema, normalized);
  if (parsed.success)
    return { ok: true, data: JSON.parse(JSON.stringify(parsed.data)) as Record<string, unknown> };
  return { ok: false, reasons: issuesToReasons(entity, parsed.error.issues, normalized) };
}
