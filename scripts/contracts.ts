/**
 * `npm run contracts`: writes docs/contracts/<entity>.v<version>.json from the zod schemas, so the
 * contract is readable without the code. test/unit/contracts.test.ts fails when they drift.
 */
import { writeFile } from 'node:fs/promises';
import { ENTITIES } from '../functions/core/config.js';
import { CONTRACTS, jsonSchemaOf } from '../functions/model/contracts.js';

for (const entity of ENTITIES) {
  const file = new URL(`../docs/contracts/${entity}.v${CONTRACTS[entity].version}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(jsonSchemaOf(entity), null, 2)}\n`);
  console.log(`wrote docs/contracts/${entity}.v${CONTRACTS[entity].version}.json`);
}
