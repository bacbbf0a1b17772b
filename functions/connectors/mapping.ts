import { search } from '@aws-lambda-powertools/jmespath';
import type { DeclarativeMap, MapFunction, MappedRecord } from '../core/config.js';
import { FatalError, type QuarantineReason } from '../core/errors.js';
import type { SourceRecord } from '../core/messages.js';
import { redactValue } from '../core/redact.js';

/**
 * A record version from what the source gives: a number as is, a numeric string as a number, an
 * ISO 8601 date as its epoch milliseconds. Anything else is not a version.
 */
export function toVersion(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '') {
    if (/^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  return undefined;
}

function fromMapped(records: readonly MappedRecord[], where: string): SourceRecord[] {
  return records.map((record, i) => {
    const problems: QuarantineReason[] = [];
    if (typeof record.id !== 'string' || record.id === '') {
      problems.push({
        rule: 'mapping.id',
        field: `${where}[${i}].id`,
        message: 'must be a non-empty string',
        value: redactValue(record.id),
      });
    }
    if (typeof record.version !== 'number' || !Number.isFinite(record.version)) {
      problems.push({
        rule: 'mapping.version',
        field: `${where}[${i}].version`,
        message: 'must be a finite number',
        value: redactValue(record.version),
      });
    }
    if (problems.length > 0)
      throw new FatalError('The mapping function returned an unusable record', problems);
    return {
      entity: record.entity,
      sourceId: record.id,
      version: record.version,
      deleted: record.deleted === true,
      data: record.deleted === true ? {} : { ...record.fields },
      ...(record.schemaVersion === undefined ? {} : { schemaVersion: record.schemaVersion }),
    };
  });
}

/**
 * Applies a source's mapping (declarative JMESPath, or the TypeScript escape hatch) to one event.
 * A mapping that finds no id or version, or points at a missing field, is a FatalError naming the
 * expression: the event is quarantined with the reason rather than routed half-mapped.
 */
export function mapEvent(
  event: unknown,
  map: DeclarativeMap | MapFunction,
  headers: Readonly<Record<string, string>> = {},
): SourceRecord[] {
  if (typeof map === 'function') {
    let records: readonly MappedRecord[];
    try {
      records = map(event, { headers });
    } catch (error) {
      throw new FatalError(
        'The mapping function threw',
        [{ rule: 'mapping.function', message: (error as Error).message }],
        {
          cause: error,
        },
      );
    }
    if (!Array.isArray(records)) {
      throw new FatalError('The mapping function did not return a list', [
        { rule: 'mapping.function', message: 'must return an array of records' },
      ]);
    }
    return fromMapped(records, 'map()');
  }
  const items = map.records === undefined ? [event] : search(map.records, event as never);
  if (!Array.isArray(items)) {
    throw new FatalError(`map.records found no list`, [
      {
        rule: 'mapping.records',
        field: map.records,
        message: 'must point at a list of records',
        value: redactValue(items),
      },
    ]);
  }
  return items.map((item) => {
    const id = search(map.id, item as never);
    const version = toVersion(search(map.version, item as never));
    const reasons: QuarantineReason[] = [];
    if ((typeof id !== 'string' && typeof id !== 'number') || id === '') {
      reasons.push({
        rule: 'mapping.id',
        field: map.id,
        message: 'found no id (a string or number)',
        value: redactValue(id),
      });
    }
    if (version === undefined) {
      reasons.push({
        rule: 'mapping.version',
        field: map.version,
        message: 'found no version (a number or an ISO date)',
      });
    }
    if (reasons.length > 0) throw new FatalError('The mapping found no id or version', reasons);
    const deleted = map.deleted === undefined ? false : search(map.deleted, item as never) === true;
    const data: Record<string, unknown> = {};
    if (!deleted) {
      for (const [field, expression] of Object.entries(map.fields)) {
        const value = search(expression, item as never);
        // JMESPath answers null for a missing path: leave the field out, so a merge keeps what
        // another system set, and a required field that is missing fails validation by name.
        if (value !== null && value !== undefined) data[field] = value;
      }
    }
    return {
      entity: map.entity,
      sourceId: String(id),
      version: version as number,
      deleted,
      data,
      ...(map.schemaVersion === undefined ? {} : { schemaVersion: map.schemaVersion }),
    };
  });
}
