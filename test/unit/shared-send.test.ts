import { describe, expect, it } from 'vitest';
import type { DeliveryMessage } from '../../functions/core/messages.js';
import { SharedSendDeliveryQueues } from '../../functions/core/shared-send.js';
import { MemoryDeliveryQueues } from '../support/fakes.js';

function message(id: string): DeliveryMessage {
  return {
    v: 1,
    flow: 'customers',
    destination: 'crm',
    entity: 'customer',
    id,
    source: 'stripe',
    sourceId: `cus_${id}`,
    version: 1,
    deleted: false,
    data: { refs: {} },
    eventId: `evt_${id}`,
    receivedAt: 0,
    routedFrom: `m-${id}`,
  };
}

/** Counts the underlying sends. */
class CountingQueues extends MemoryDeliveryQueues {
  calls: string[][] = [];
  override async send(messages: readonly DeliveryMessage[]): Promise<void> {
    this.calls.push(messages.map((m) => m.id));
    await super.send(messages);
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('SharedSendDeliveryQueues', () => {
  it('sends once for the whole batch when every record sends, whatever order they arrive in', async () => {
    const inner = new CountingQueues();
    const shared = new SharedSendDeliveryQueues(inner, 3);
    const record = async (id: string, delayMs: number) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await shared.send([message(id)]);
      shared.leave();
    };
    await Promise.all([record('a', 5), record('b', 0), record('c', 10)]);
    expect(inner.calls).toEqual([['b', 'a', 'c']]);
  });

  it('does not hold a sender back for records that finish without sending, or fail first', async () => {
    const inner = new CountingQueues();
    const shared = new SharedSendDeliveryQueues(inner, 3);
    let sent = false;
    const sending = shared.send([message('a')]).then(() => {
      sent = true;
    });
    await tick();
    expect(sent).toBe(false);
    shared.leave(); // skipped: nothing to deliver
    await tick();
    expect(sent).toBe(false);
    shared.leave(); // failed before its send
    await sending;
    expect(inner.calls).toEqual([['a']]);
  });

  it('lets a record send a second time after the shared send, with the records still running', async () => {
    const inner = new CountingQueues();
    const shared = new SharedSendDeliveryQueues(inner, 2);
    const twice = (async () => {
      await shared.send([message('a1')]);
      await shared.send([message('a2')]);
      shared.leave();
    })();
    const once = (async () => {
      await shared.send([message('b')]);
      await tick();
      shared.leave();
    })();
    await Promise.all([twice, once]);
    expect(inner.calls).toEqual([['a1', 'b'], ['a2']]);
  });

  it('when the shared send fails, sends each record on its own, so only the record whose send fails fails', async () => {
    const inner = new CountingQueues();
    inner.failWhen = (messages) => (messages.some((m) => m.id === 'bad') ? new Error('refused') : undefined);
    const shared = new SharedSendDeliveryQueues(inner, 2);
    const results = await Promise.allSettled([
      shared.send([message('good')]).finally(() => shared.leave()),
      shared.send([message('bad')]).finally(() => shared.leave()),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(inner.calls).toEqual([['good', 'bad'], ['good'], ['bad']]);
    expect(inner.sent.map((m) => m.id)).toEqual(['good']);
  });

  it('resolves an empty send at once, without waiting or sending', async () => {
    const inner = new CountingQueues();
    const shared = new SharedSendDeliveryQueues(inner, 2);
    await shared.send([]);
    expect(inner.calls).toEqual([]);
  });
});
