/*
 * The customer's conversions between schema versions. Pure and free of zod and the normalizers, so
 * a function that only converts (reconcile's repairs, operators' replays) does not bundle them.
 */

/** After a comma these are suffixes ("Martin Luther King, Jr.") or company forms ("Acme, Inc."), not a given name. */
const NOT_A_GIVEN_NAME = /^(jr|sr|ii|iii|iv|v|phd|md|esq|inc|ltd|llc|gmbh|ag|co|corp|plc|s\.?a|b\.?v)\.?$/i;

const nonBlank = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

/**
 * v1 to v2. Lossless: `name` is kept as it was, so a downgrade gives the v1 record back. The split is
 * filled only when the name says it unambiguously, in the "Family, Given" form ERPs and billing
 * exports use; any other name leaves both parts out (unknown, not cleared), because a guessed family
 * name at a CRM is worse than none. A partial update keeps its partiality: no `name`, no parts.
 */
export function upgradeCustomerV1(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  if (!nonBlank(data.name)) return out;
  const parts = data.name.split(',');
  const [family, given] = parts.map((part) => part.trim());
  if (parts.length === 2 && nonBlank(family) && nonBlank(given) && !NOT_A_GIVEN_NAME.test(given)) {
    out.givenName = given;
    out.familyName = family;
  }
  return out;
}

/**
 * v2 to v1. Lossy: `givenName` and `familyName` are dropped (a v1 consumer's contract has no place
 * for them). When the record has no display name but has parts, `name` becomes "Given Family" (the
 * order most v1 consumers expect); a record that cleared both parts and has no name gets `null`.
 * Only fields the v2 record carried appear, so a partial update stays partial.
 */
export function downgradeCustomerV2(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { givenName, familyName, ...rest } = data;
  const out: Record<string, unknown> = { ...rest };
  if (out.name === undefined || out.name === null) {
    const parts = [givenName, familyName].filter(nonBlank).map((part) => part.trim());
    if (parts.length > 0) out.name = parts.join(' ');
    else if (out.name === undefined && (givenName === null || familyName === null)) out.name = null;
  }
  return out;
}

/**
 * The split belongs to a name: when an update changes the display name without saying the parts
 * (a v1 source), the parts the hub held describe the old name and are cleared, so a v2 consumer
 * never sees "Ada King" filed as given "Ada", family "Lovelace".
 */
export function mergeCustomer(
  current: Readonly<Record<string, unknown>>,
  update: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...current, ...update };
  const saysParts = 'givenName' in update || 'familyName' in update;
  if ('name' in update && !saysParts && update.name !== current.name) {
    if (current.givenName !== undefined) merged.givenName = null;
    if (current.familyName !== undefined) merged.familyName = null;
  }
  return merged;
}
