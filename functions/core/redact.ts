/**
 * One redaction policy for values that end up in logs, quarantine reasons or error bodies: enough
 * left to recognise the shape of the problem, nothing that identifies a person or opens a system.
 */
export function redactValue(value: unknown): string {
  if (value === undefined) return '(missing)';
  if (value === null) return '(null)';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text.length === 0) return '(empty)';
  const at = text.indexOf('@');
  if (at > 0) return `${text[0]}***@***${text.length - at > 4 ? text.slice(-4) : ''}`;
  if (text.length <= 2) return '*'.repeat(text.length);
  return `${text[0]}***(${text.length} chars)`;
}
