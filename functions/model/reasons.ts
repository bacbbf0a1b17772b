import type { z } from 'zod';
import type { QuarantineReason } from '../core/errors.js';
import { redactValue } from '../core/redact.js';

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
