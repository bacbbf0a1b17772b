/**
 * `npm run phone-metadata`: writes functions/model/phone-metadata.json, libphonenumber-js's `min`
 * metadata without the display formats. The hub only reads numbers into E.164 and never formats
 * them for display, and the formats are 60% of the metadata: dropping them keeps every country
 * while cutting ~50 KB from the route bundle. test/unit/phone-metadata.test.ts fails when the file
 * drifts from the installed libphonenumber-js (re-run this after upgrading it).
 */
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { MetadataJson } from 'libphonenumber-js/core';
import { withoutFormats } from '../functions/model/phone-metadata-trim.js';

const require = createRequire(import.meta.url);
const min = require('libphonenumber-js/metadata.min.json') as MetadataJson;
const file = new URL('../functions/model/phone-metadata.json', import.meta.url);
await writeFile(file, `${JSON.stringify(withoutFormats(min))}\n`);
console.log(
  `wrote functions/model/phone-metadata.json (libphonenumber-js metadata ${min.version}, no formats)`,
);
