import type { MetadataJson } from 'libphonenumber-js/core';

/**
 * Where a numbering plan's display formats sit in libphonenumber-js's compressed metadata (v4, the
 * version `metadata.min.json` ships). Only formatting reads them: parsing, `isPossible()` and
 * `.number` (E.164) do not.
 */
const FORMATS_INDEX = 4;

type Plan = unknown[];

/**
 * The metadata with every plan's formats replaced by 0 (the slot must stay: the arrays are
 * positional), which libphonenumber-js reads as "no formats". Throws on another metadata version,
 * whose layout this does not know.
 */
export function withoutFormats(metadata: MetadataJson): MetadataJson {
  const source = metadata as unknown as {
    version: number;
    countries: Record<string, Plan>;
    nonGeographic?: Record<string, Plan>;
  };
  if (source.version !== 4) {
    throw new Error(
      `libphonenumber-js metadata version ${source.version}: expected 4 (the layout known here)`,
    );
  }
  const trim = (plans: Record<string, Plan>) =>
    Object.fromEntries(
      Object.entries(plans).map(([key, plan]) => [key, plan.map((v, i) => (i === FORMATS_INDEX ? 0 : v))]),
    );
  return {
    ...source,
    countries: trim(source.countries),
    ...(source.nonGeographic ? { nonGeographic: trim(source.nonGeographic) } : {}),
  } as unknown as MetadataJson;
}
