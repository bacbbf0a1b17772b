import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Examples, MetadataJson } from 'libphonenumber-js/core';
import { getCountries, getExampleNumber, parsePhoneNumberFromString } from 'libphonenumber-js/min';
import { describe, expect, it } from 'vitest';
import { normalizePhone } from '../../functions/model/normalize.js';
import { withoutFormats } from '../../functions/model/phone-metadata-trim.js';

const require = createRequire(import.meta.url);
const min = require('libphonenumber-js/metadata.min.json') as MetadataJson;
const examples = require('libphonenumber-js/examples.mobile.json') as Examples;

/** What normalizePhone returned before the trim: the library's own `min` build, formats included. */
function withFullMinMetadata(value: string, country?: string): string | undefined {
  const parsed = parsePhoneNumberFromString(value.trim(), country as never);
  return parsed?.isPossible() ? parsed.number : undefined;
}

describe('phone metadata without formats', () => {
  it('is what scripts/phone-metadata.ts writes from the installed libphonenumber-js (run npm run phone-metadata)', async () => {
    const committed = JSON.parse(
      await readFile(new URL('../../functions/model/phone-metadata.json', import.meta.url), 'utf8'),
    ) as unknown;
    expect(committed).toEqual(withoutFormats(min));
  });

  it('is well under half the size of the min metadata', () => {
    expect(JSON.stringify(withoutFormats(min)).length).toBeLessThan(JSON.stringify(min).length * 0.45);
  });

  it('refuses a metadata layout it does not know', () => {
    expect(() => withoutFormats({ ...min, version: 3 } as unknown as MetadataJson)).toThrow(/version 3/);
  });

  it('normalizes every country example as the full min metadata does: national, national with spaces, international', () => {
    const countries = getCountries();
    expect(countries.length).toBeGreaterThan(200);
    let compared = 0;
    let read = 0;
    for (const country of countries) {
      const example = getExampleNumber(country, examples);
      if (!example) continue;
      const inputs: [string, string | undefined][] = [
        [example.formatNational(), country],
        [example.nationalNumber, country],
        [example.formatInternational(), undefined],
        [example.formatInternational(), 'US'],
        [example.number, undefined],
        [`00${example.countryCallingCode}${example.nationalNumber}`, 'DE'],
        [example.nationalNumber.slice(0, 3), country],
      ];
      for (const [input, defaultCountry] of inputs) {
        expect([input, defaultCountry, normalizePhone(input, defaultCountry)]).toEqual([
          input,
          defaultCountry,
          withFullMinMetadata(input, defaultCountry),
        ]);
        compared += 1;
        if (normalizePhone(input, defaultCountry) !== undefined) read += 1;
      }
    }
    expect(compared).toBeGreaterThan(1400);
    // Most inputs are real numbers: the comparison is not one of undefined against undefined.
    expect(read).toBeGreaterThan(1000);
  });
});
