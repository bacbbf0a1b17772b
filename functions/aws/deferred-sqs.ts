import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DeliveryQueues, MessageVisibility } from '../core/ports.js';

/**
 * An SQS client, or what builds one from the SQS package once it is loaded (see
 * {@link deferredDeliverySqs}). The package comes in through the adapters' module, so that it is
 * loaded with `require` as the rest of the SDK is: an `import()` of it from a CommonJS bundle would
 * also run Node's export lexer over it.
 */
export type SqsClientSource = SQSClient | ((client: typeof SQSClient) => SQSClient);

/**
 * Deliver's SQS ports (backing off a failed message, requeueing a held one), loading the SQS
 * adapters and client on the first call instead of at load. Deliver calls SQS only on those paths,
 * and loading and building the SQS client is ~11 ms of every cold start otherwise (bench cold
 * section). The adapters module is imported here, not at the top of the bundle, for the same reason:
 * its import of `@aws-sdk/client-sqs` would load the package. A failed load is not kept: the next
 * call tries again.
 */
export function deferredDeliverySqs(
  client: SqsClientSource,
  queueUrl: string,
  destinationName: string,
): { readonly visibility: MessageVisibility; readonly requeue: DeliveryQueues } {
  let loading: Promise<{ visibility: MessageVisibility; requeue: DeliveryQueues }> | undefined;
  const load = () => {
    loading ??= import('./sqs.js')
      .then(({ SQSClient, SqsDeliveryQueues, SqsMessageVisibility }) => {
        const sqs = typeof client === 'function' ? client(SQSClient) : client;
        return {
          visibility: new SqsMessageVisibility(sqs, queueUrl),
          requeue: new SqsDeliveryQueues(sqs, { [destinationName]: queueUrl }),
        };
      })
      .catch((error: unknown) => {
        loading = undefined;
        throw error;
      });
    return loading;
  };
  return {
    visibility: {
      delay: async (receiptHandle, seconds) => (await load()).visibility.delay(receiptHandle, seconds),
    },
    requeue: { send: async (messages) => (await load()).requeue.send(messages) },
  };
}
