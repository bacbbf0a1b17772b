/** Region codes ICU names that are not countries (unions, groupings, private use). */
const NOT_COUNTRIES = new Set(['EU', 'EZ', 'UN', 'QO', 'XA', 'XB', 'ZZ']);

/**
 * The ISO 3166-1 alpha-2 codes this Node's ICU names as current countries, in order. Deprecated and
 * reserved codes are left out: they canonicalize to another (UK -> GB, DD -> DE, FX -> FR).
 * scripts/country-codes.ts writes them to country-codes.json for the Lambda functions, because
 * loading ICU's region names costs a cold start ~17 ms and most records carry a code, not a name.
 */
export function icuCountryCodes(names = regionNames()): string[] {
  const codes: string[] = [];
  for (let a = 65; a <= 90; a++) {
    for (let b = 65; b <= 90; b++) {
      const code = String.fromCharCode(a, b);
      const name = names.of(code)?.toUpperCase();
      if (!name || name === code || name === 'UNKNOWN REGION' || NOT_COUNTRIES.has(code)) continue;
      if (Intl.getCanonicalLocales(`und-${code}`)[0] !== `und-${code}`) continue;
      codes.push(code);
    }
  }
  return codes;
}

export function regionNames(): Intl.DisplayNames {
  return new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
}
