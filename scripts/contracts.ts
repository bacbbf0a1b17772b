/**
 * `npm run contracts`: writes docs/contracts/<entity>.v<version>.json for every schema version of
 * every entity from the zod schemas, so each contract is readable without the code.
 * test/unit/contracts.test.ts fails when they drift.
 */
import { writeFile } from 'node:fs/promises';
import { ENTITIES } from '../functions/core/config.js';
import { jsonSchemaOf, schemaVersions } from '../functions/model/contracts.js';

for (const entity of ENTITIES) {
  for (const version of schemaVersions(entity)) {
    const file = new URL(`../docs/contracts/${entity}.v${version}.json`, import.meta.url);
    await writeFile(file, `${JSON.stringify(jsonSchemaOf(entity, version), null, 2)}\n`);
    console.log(`wrote docs/contracts/${entity}.v${version}.json`);
  }
}
