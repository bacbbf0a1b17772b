import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ENTITIES } from '../../functions/core/config.js';
import { CONTRACTS, jsonSchemaOf } from '../../functions/model/contracts.js';

describe('docs/contracts', () => {
  it.each(ENTITIES)(
    'holds the current JSON Schema of %s (run `npm run contracts` after changing a schema)',
    async (entity) => {
      const file = new URL(
        `../../docs/contracts/${entity}.v${CONTRACTS[entity].version}.json`,
        import.meta.url,
      );
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(jsonSchemaOf(entity));
    },
  );

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
