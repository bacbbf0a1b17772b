import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from './log.js';

/**
 * fauxqs keeps queues in memory. On a graceful stop the runtime writes what the queues still hold
 * (ready, delayed and in flight, DLQs included) to the data directory, and on the next start puts it
 * back, so SIGTERM loses nothing. A SIGKILL gives no chance to write: what was queued at that moment
 * is lost locally (in AWS, SQS holds it).
 */

interface SnapshotMessage {
  body: string;
  groupId?: string;
  sentTimestamp: number;
  sequenceNumber?: string;
}

export interface QueueSnapshot {
  /** Queue name -> its messages, oldest first. */
  readonly queues: Record<string, SnapshotMessage[]>;
  /** The local counters at the stop, so the G3 balance carries across the restart. */
  readonly counters: [string, number][];
}

interface InspectedMessage {
  body: string;
  messageGroupId?: string;
  sentTimestamp: number;
  sequenceNumber?: string;
}

const fileOf = (dataDir: string) => join(dataDir, 'queues.json');

/** Reads every queue through fauxqs' inspection endpoint (non-destructive). */
export async function takeSnapshot(
  sqsEndpoint: string,
  queueNames: readonly string[],
  counters: [string, number][],
): Promise<QueueSnapshot> {
  const queues: Record<string, SnapshotMessage[]> = {};
  // By address: fauxqs reads a `sqs.<region>.localhost` Host as an S3 bucket name on this route.
  const base = `http://127.0.0.1:${new URL(sqsEndpoint).port}`;
  for (const name of queueNames) {
    const response = await fetch(`${base}/_fauxqs/queues/${encodeURIComponent(name)}`);
    if (response.status === 404) continue;
    if (!response.ok) throw new Error(`Could not read queue ${name} to save it (HTTP ${response.status})`);
    const inspected = (await response.json()) as {
      messages: {
        ready: InspectedMessage[];
        delayed: InspectedMessage[];
        inflight: { message: InspectedMessage }[];
      };
    };
    const all = [
      ...inspected.messages.ready,
      ...inspected.messages.delayed,
      ...inspected.messages.inflight.map((i) => i.message),
    ];
    const messages = all
      .map((m) => ({
        body: m.body,
        sentTimestamp: m.sentTimestamp,
        ...(m.messageGroupId ? { groupId: m.messageGroupId } : {}),
        ...(m.sequenceNumber ? { sequenceNumber: m.sequenceNumber } : {}),
      }))
      .sort((a, b) =>
        a.sequenceNumber && b.sequenceNumber
          ? BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber)
            ? -1
            : 1
          : a.sentTimestamp - b.sentTimestamp,
      );
    if (messages.length > 0) queues[name] = messages;
  }
  return { queues, counters };
}

export async function saveSnapshot(dataDir: string, snapshot: QueueSnapshot): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await writeFile(fileOf(dataDir), JSON.stringify(snapshot));
}

/** Puts a saved snapshot back (in order, FIFO groups kept) and removes the file; undefined when none. */
export async function restoreSnapshot(
  dataDir: string,
  sqs: SQSClient,
  queueUrlByName: ReadonlyMap<string, string>,
  log: Logger,
): Promise<QueueSnapshot | undefined> {
  let snapshot: QueueSnapshot;
  try {
    snapshot = JSON.parse(await readFile(fileOf(dataDir), 'utf8')) as QueueSnapshot;
  } catch {
    return undefined;
  }
  let restored = 0;
  for (const [name, messages] of Object.entries(snapshot.queues)) {
    const url = queueUrlByName.get(name);
    if (!url) {
      log.warn('a saved queue is no longer in the topology; its messages are not restored', {
        queue: name,
        messages: messages.length,
      });
      continue;
    }
    const stamp = Date.now();
    for (let start = 0; start < messages.length; start += 10) {
      const chunk = messages.slice(start, start + 10);
      const result = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: chunk.map((m, i) => ({
            Id: String(i),
            MessageBody: m.body,
            ...(m.groupId
              ? { MessageGroupId: m.groupId, MessageDeduplicationId: `restored-${stamp}-${start + i}` }
              : {}),
          })),
        }),
      );
      if (result.Failed?.length)
        throw new Error(`${result.Failed.length} saved messages of ${name} could not be restored`);
      restored += chunk.length;
    }
  }
  await rm(fileOf(dataDir), { force: true });
  log.info('restored the queues saved at the last stop', { messages: restored });
  return snapshot;
}
