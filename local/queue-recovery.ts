import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Topology } from '../functions/core/topology.js';
import type { Logger } from './log.js';
import type { JournaledMessage } from './queue-journal.js';
import type { LocalTelemetry } from './stats.js';

/**
 * What a start does with the queue journal (local/queue-journal.ts) and the counters: re-sends
 * the messages the journal holds as queued, and brings the G3 counters back.
 *
 * Counters: a graceful stop writes them to `counters.json`, which the next start reads (and
 * removes), so they carry across exactly. After a SIGKILL there is no such file: the counters start
 * over from what the journal held, each re-sent message counted as accepted where it waits (an
 * inbound message by its source, a delivery message by its flow and destination, a DLQ message as
 * accepted and dead-lettered). G3 then balances over everything the runtime has seen since the
 * restart, including the redeliveries a crash causes (a record delivered just before the kill
 * whose delete was not journaled comes back, counted as accepted, and ends as skipped: duplicate).
 */

export const COUNTERS_FILE = 'counters.json';

const MAX_BATCH = 10;

export class QueueRecoveryError extends Error {
  override readonly name = 'QueueRecoveryError';
}

/** Re-sends `messages` (oldest first, FIFO groups and deduplication ids kept) to their queues. */
export async function resendJournaled(
  sqs: SQSClient,
  queueUrlByName: ReadonlyMap<string, string>,
  messages: readonly JournaledMessage[],
  log: Logger,
): Promise<JournaledMessage[]> {
  const byQueue = new Map<string, JournaledMessage[]>();
  for (const message of messages) {
    const list = byQueue.get(message.queue) ?? [];
    list.push(message);
    byQueue.set(message.queue, list);
  }
  const resent: JournaledMessage[] = [];
  for (const [name, list] of byQueue) {
    const url = queueUrlByName.get(name);
    if (!url) {
      log.warn('a journaled queue is no longer in the topology; its messages are not restored', {
        queue: name,
        messages: list.length,
      });
      continue;
    }
    // Two live messages can share a deduplication id only if sent more than the window apart; the
    // fresh queue would drop the second, so it gets its message id appended.
    const dedupIds = new Set<string>();
    for (let start = 0; start < list.length; start += MAX_BATCH) {
      const chunk = list.slice(start, start + MAX_BATCH);
      const result = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: chunk.map((m, i) => {
            let dedupId = m.dedupId;
            if (dedupId !== undefined) {
              if (dedupIds.has(dedupId)) dedupId = `${dedupId.slice(0, 90)}-${m.id.slice(0, 36)}`;
              dedupIds.add(dedupId);
            }
            return {
              Id: String(i),
              MessageBody: m.body,
              ...(m.attributes
                ? {
                    MessageAttributes: Object.fromEntries(
                      Object.entries(m.attributes).map(([key, a]) => [
                        key,
                        {
                          DataType: a.DataType,
                          ...(a.StringValue !== undefined ? { StringValue: a.StringValue } : {}),
                          ...(a.BinaryValue !== undefined
                            ? { BinaryValue: Buffer.from(a.BinaryValue, 'base64') }
                            : {}),
                        },
                      ]),
                    ),
                  }
                : {}),
              ...(m.groupId !== undefined ? { MessageGroupId: m.groupId } : {}),
              ...(dedupId !== undefined ? { MessageDeduplicationId: dedupId } : {}),
            };
          }),
        }),
      );
      if (result.Failed?.length) {
        throw new QueueRecoveryError(
          `${result.Failed.length} journaled messages of ${name} could not be re-sent: ${result.Failed.map((f) => f.Message ?? f.Code).join('; ')}`,
        );
      }
      resent.push(...chunk);
    }
  }
  return resent;
}

/**
 * After an unclean stop: counts each re-sent message as accepted where it waits, so G3 balances
 * from the restart on (see above).
 */
export function seedCounters(
  telemetry: LocalTelemetry,
  topology: Topology,
  messages: readonly JournaledMessage[],
): void {
  const queues = new Map(
    topology.queues.flatMap((q) => [
      [q.name, { queue: q, deadLetter: false }],
      [q.deadLetter.name, { queue: q, deadLetter: true }],
    ]),
  );
  for (const message of messages) {
    const where = queues.get(message.queue);
    if (!where) continue;
    let body: { source?: unknown; flow?: unknown; destination?: unknown };
    try {
      body = JSON.parse(message.body) as typeof body;
    } catch {
      // Not a hub message (route quarantines it as unreadable, counted then): nothing to seed.
      continue;
    }
    if (where.queue.key === 'inbound' && typeof body.source === 'string') {
      telemetry.count('accepted', { source: body.source });
      if (where.deadLetter) telemetry.count('deadLettered', { source: body.source });
    } else if (where.queue.destination && typeof body.flow === 'string') {
      const lane = { flow: body.flow, destination: where.queue.destination };
      telemetry.count('routed', lane);
      if (where.deadLetter) telemetry.count('deadLettered', lane);
    }
  }
}

/** Writes the counters for the next start (atomically: temp file, fdatasync, rename). */
export async function saveCounters(dataDir: string, counters: [string, number][]): Promise<void> {
  const path = join(dataDir, COUNTERS_FILE);
  const handle = await open(`${path}.tmp`, 'w');
  try {
    await handle.write(JSON.stringify({ counters }));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(`${path}.tmp`, path);
}

/**
 * The counters the last graceful stop saved, removed once read (a later crash must not bring them
 * back a second time); undefined after an unclean stop or on a first start.
 */
export async function takeSavedCounters(dataDir: string): Promise<[string, number][] | undefined> {
  const path = join(dataDir, COUNTERS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new QueueRecoveryError(`cannot read the saved counters ${path}`, { cause: error });
  }
  let counters: [string, number][];
  try {
    counters = (JSON.parse(text) as { counters: [string, number][] }).counters;
    if (!Array.isArray(counters)) throw new TypeError('counters is not a list');
  } catch (error) {
    throw new QueueRecoveryError(`the saved counters ${path} are not valid JSON counters`, { cause: error });
  }
  await rm(path, { force: true });
  return counters;
}
