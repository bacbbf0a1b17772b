import { Duration } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueSpec } from '../../functions/core/topology.js';
import { acknowledge } from './nag.js';

export interface DeliveryLaneProps {
  /** The queue to build, from the topology: names, FIFO, timeouts, retention and maxReceiveCount. */
  readonly spec: QueueSpec;
}

/**
 * One lane of the pipeline: a queue and its dead-letter queue, built from a topology
 * {@link QueueSpec}. The inbound lane is a standard queue; each destination's lane is FIFO (and so
 * is its DLQ, as SQS requires).
 *
 * Both queues:
 * - are encrypted with SQS-managed keys (SSE-SQS: no KMS key to pay for or to grant, and no
 *   `kms:*` wildcard actions in the grants CDK generates for KMS-encrypted queues);
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

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      queueName: spec.deadLetter.name,
      fifo: spec.fifo ? true : undefined,
      retentionPeriod: Duration.seconds(spec.deadLetter.retentionSeconds),
      encryption: QueueEncryption.SQS_MANAGED,
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
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
  }
}
