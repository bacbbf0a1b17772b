import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it, vi } from 'vitest';
import { deferredDeliverySqs } from '../../functions/aws/deferred-sqs.js';
import type { DeliveryMessage } from '../../functions/core/messages.js';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/000000000000/switchyard-deliver-crm.fifo';
const clientConfig = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

function message(): DeliveryMessage {
  return {
    v: 1,
    flow: 'customers-to-crm',
    destination: 'crm',
    entity: 'customer',
    id: 'c-1',
    source: 'stripe',
    sourceId: 'cus_1',
    version: 7,
    deleted: false,
    data: { email: 'a@example.com' },
    eventId: 'evt_1',
    receivedAt: 1_714_564_800_000,
    routedFrom: 'inbound-1',
  };
}

/** A factory as deliver's entry passes it, returning a client whose calls are recorded. */
function mockedFactory() {
  const mocks: ReturnType<typeof mockClient>[] = [];
  const build = vi.fn((Client: typeof SQSClient) => {
    const client = new Client(clientConfig);
    mocks.push(
      mockClient(client)
        .on(ChangeMessageVisibilityCommand)
        .resolves({})
        .on(SendMessageBatchCommand)
        .resolves({}),
    );
    return client;
  });
  return { build, mocks };
}

describe('deferredDeliverySqs', () => {
  it('builds no client until the first SQS call, then one client for both ports', async () => {
    const { build, mocks } = mockedFactory();
    const ports = deferredDeliverySqs(build, QUEUE_URL, 'crm');
    expect(build).not.toHaveBeenCalled();

    await ports.visibility.delay('rh-1', 30);
    await ports.requeue.send([message()]);

    expect(build).toHaveBeenCalledTimes(1);
    expect(build.mock.calls[0]?.[0]).toBe(SQSClient);
    const mock = mocks[0];
    if (!mock) throw new Error('no client was built');
    expect(mock.commandCalls(ChangeMessageVisibilityCommand)[0]?.args[0].input).toEqual({
      QueueUrl: QUEUE_URL,
      ReceiptHandle: 'rh-1',
      VisibilityTimeout: 30,
    });
    const sent = mock.commandCalls(SendMessageBatchCommand)[0]?.args[0].input;
    expect(sent?.QueueUrl).toBe(QUEUE_URL);
    expect(sent?.Entries?.[0]?.MessageGroupId).toBe('customer#c-1');
  });

  it('shares one load between calls made before it finishes', async () => {
    const { build } = mockedFactory();
    const ports = deferredDeliverySqs(build, QUEUE_URL, 'crm');
    await Promise.all([
      ports.visibility.delay('rh-1', 5),
      ports.visibility.delay('rh-2', 5),
      ports.requeue.send([message()]),
    ]);
    expect(build).toHaveBeenCalledTimes(1);
  });

  it('fails the call if the client cannot be built, and builds it again on the next call', async () => {
    const { build } = mockedFactory();
    const failing = vi.fn((Client: typeof SQSClient) => {
      if (failing.mock.calls.length === 1) throw new Error('Region is missing');
      return build(Client);
    });
    const ports = deferredDeliverySqs(failing, QUEUE_URL, 'crm');

    await expect(ports.visibility.delay('rh-1', 5)).rejects.toThrow('Region is missing');
    await expect(ports.visibility.delay('rh-1', 5)).resolves.toBeUndefined();
    expect(failing).toHaveBeenCalledTimes(2);
  });

  it('uses a client it is given as it is', async () => {
    const client = new SQSClient(clientConfig);
    const mock = mockClient(client).on(ChangeMessageVisibilityCommand).resolves({});
    await deferredDeliverySqs(client, QUEUE_URL, 'crm').visibility.delay('rh-9', 12.2);
    expect(mock.commandCalls(ChangeMessageVisibilityCommand)[0]?.args[0].input).toMatchObject({
      ReceiptHandle: 'rh-9',
      VisibilityTimeout: 13,
    });
  });
});
