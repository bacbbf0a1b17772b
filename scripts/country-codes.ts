/**
 * `npm run country-codes`: writes functions/model/country-codes.json, the country codes this Node's
 * ICU knows (functions/model/country-codes.ts says why a file). test/unit/normalize.test.ts fails
 * when the file drifts from the running Node's ICU (re-run this after a Node upgrade).
 */
import { writeFile } from 'node:fs/promises';
import { icuCountryCodes } from '../functions/model/country-codes.js';

const codes = icuCountryCodes();
const file = new URL('../functions/model/country-codes.json', import.meta.url);
await writeFile(file, `${JSON.stringify(codes)}\n`);
console.log(`wrote functions/model/country-codes.json (${codes.length} codes, ICU ${process.versions.icu})`);
