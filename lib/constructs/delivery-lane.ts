import { Duration } from 'aws-cdk-lib';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueSpec } from '../../functions/core/topology.js';
import { acknowledge } from './nag.js';

/** What a producer does with a queue: send, and look the queue up. */
export const SEND_ACTIONS: readonly string[] = [
  'sqs:SendMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
];

/**
 * What a producer needs on the key of a KMS-encrypted queue, and no more (the two actions the SQS
 * documentation lists for producers): `kms:GenerateDataKey` for a data key to encrypt with, and
 * `kms:Decrypt`, which SQS calls for the producer on an encrypted data key it reuses. CDK's
 * `grantSendMessages` grants `kms:Encrypt`, `kms:ReEncrypt*` and `kms:GenerateDataKey*` as well.
 * (A consumer needs `kms:Decrypt` only, which is what the SQS event source grants.)
 */
export const SEND_KEY_ACTIONS: readonly string[] = ['kms:GenerateDataKey', 'kms:Decrypt'];

/**
 * How long SQS reuses a data key before asking KMS for a new one (1 minute to 24 hours, SQS's
 * default 5 minutes). An hour keeps the KMS calls (and their cost) to a few dozen a day per
 * producer and consumer, however busy the queue; a data key never leaves SQS and only protects
 * messages of the queue it was made for.
 */
export const DATA_KEY_REUSE = Duration.hours(1);

export interface DeliveryLaneProps {
  /** The queue to build, from the topology: names, FIFO, timeouts, retention and maxReceiveCount. */
  readonly spec: QueueSpec;

  /**
   * Encrypt both queues with this KMS key (SSE-KMS, data keys reused for {@link DATA_KEY_REUSE}).
   *
   * @default - SQS-managed keys (SSE-SQS)
   */
  readonly encryptionKey?: IKey;
}

/**
 * One lane of the pipeline: a queue and its dead-letter queue, built from a topology
 * {@link QueueSpec}. The inbound lane is a standard queue; each destination's lane is FIFO (and so
 * is its DLQ, as SQS requires).
 *
 * Both queues:
 * - are encrypted with SQS-managed keys (SSE-SQS: no KMS key to pay for or to grant), or, given
 *   `encryptionKey`, with that KMS key; producers are then granted exactly
 *   {@link SEND_KEY_ACTIONS} on it through {@link DeliveryLane.grantSend}, consumers `kms:Decrypt`
 *   through the event source, and the DLQ is under the same key;
 * - have a resource policy that denies every request not made over TLS (`enforceSSL`).
 *
 * The queue moves a message to the DLQ after `spec.maxReceiveCount` receives (SQS redrive).
 * Messages that reach the DLQ are terminal (G3 "dead-lettered") until an operator redrives them.
 */
export class DeliveryLane extends Construct {
  /** The topology spec the lane was built from. */
  readonly spec: QueueSpec;
  /** The queue the consumer reads. */
  readonly queue: Queue;
  /** Where messages go after `spec.maxReceiveCount` failed receives. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: DeliveryLaneProps) {
    super(scope, id);
    const { spec } = props;
    this.spec = spec;
    const encryption = props.encryptionKey
      ? {
          encryption: QueueEncryption.KMS,
          encryptionMasterKey: props.encryptionKey,
          dataKeyReuse: DATA_KEY_REUSE,
        }
      : { encryption: QueueEncryption.SQS_MANAGED };

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: spec.deadLetter.name,
      fifo: spec.fifo ? true : undefined,
      retentionPeriod: Duration.seconds(spec.deadLetter.retentionSeconds),
      ...encryption,
      enforceSSL: true,
    });
    acknowledge(
      this.deadLetterQueue,
      'Serverless-SQSRedrivePolicy',
      `This queue is the dead-letter queue of ${spec.name}: what lands here is terminal until an operator redrives it, so it has no DLQ of its own. Its depth is alarmed.`,
    );

    this.queue = new Queue(this, 'Queue', {
      queueName: spec.name,
      fifo: spec.fifo ? true : undefined,
      visibilityTimeout: Duration.seconds(spec.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(spec.retentionSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: spec.maxReceiveCount },
      ...encryption,
      enforceSSL: true,
    });
  }

  /**
   * Lets `grantee` send to the queue: {@link SEND_ACTIONS} on the queue and, when it is
   * KMS-encrypted, {@link SEND_KEY_ACTIONS} on its key (nothing on the key otherwise).
   */
  grantSend(grantee: IGrantable): Grant {
    return this.queue.grants.actions(grantee, [...SEND_ACTIONS], { keyActions: [...SEND_KEY_ACTIONS] });
  }
}
