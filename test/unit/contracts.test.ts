import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ENTITIES } from '../../functions/core/config.js';
import { jsonSchemaOf, schemaVersions } from '../../functions/model/contracts.js';

const everyVersion = ENTITIES.flatMap((entity) =>
  schemaVersions(entity).map((version) => [entity, version] as const),
);

describe('docs/contracts', () => {
  it.each(everyVersion)(
    'holds the JSON Schema of %s v%i (run `npm run contracts` after changing a schema)',
    async (entity, version) => {
      const file = new URL(`../../docs/contracts/${entity}.v${version}.json`, import.meta.url);
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(jsonSchemaOf(entity, version));
    },
  );

  it('shows every version and nothing else (customer has v1 and v2)', async () => {
    const files = (await readdir(new URL('../../docs/contracts/', import.meta.url)))
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files).toEqual(everyVersion.map(([entity, version]) => `${entity}.v${version}.json`).sort());
    expect(files).toEqual(expect.arrayContaining(['customer.v1.json', 'customer.v2.json']));
  });

  it('v2 of customer adds givenName and familyName; v1 still forbids them', () => {
    const v1 = jsonSchemaOf('customer', 1);
    const v2 = jsonSchemaOf('customer', 2);
    expect(Object.keys(v2.properties as object)).toEqual(
      expect.arrayContaining(['name', 'givenName', 'familyName']),
    );
    expect(Object.keys(v1.properties as object)).not.toContain('givenName');
    expect(v1.additionalProperties).toBe(false);
  });

  it('documents the fields destinations rely on (DESIGN.md section 5 minimums)', () => {
    const properties = (entity: (typeof ENTITIES)[number]) =>
      Object.keys((jsonSchemaOf(entity).properties ?? {}) as object);
    expect(properties('customer')).toEqual(
      expect.arrayContaining(['email', 'name', 'phone', 'address', 'refs', 'updatedAt']),
    );
    expect(properties('order')).toEqual(
      expect.arrayContaining([
        'customerId',
        'number',
        'currency',
        'totalMinor',
        'lines',
        'status',
        'placedAt',
        'updatedAt',
      ]),
    );
    expect(properties('invoice')).toEqual(
      expect.arrayContaining(['customerId', 'currency', 'totalMinor', 'status', 'issuedAt']),
    );
  });
});
