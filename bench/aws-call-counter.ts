import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sqsRequestUnits } from './aws-prices.js';

export interface CallCounts {
  /** `${service}.${operation}` -> calls */
  calls: Record<string, number>;
  /** SQS billed requests (64 KB chunks), by queue type. */
  sqsRequests: { standard: number; fifo: number };
  dynamo: { readUnits: number; writeUnits: number };
}

/**
 * Counts the AWS calls a client makes, with an SDK middleware: operations by name, SQS billed
 * requests by queue type, and DynamoDB capacity as the service reports it (ReturnConsumedCapacity).
 */
export class AwsCallCounter {
  readonly counts: CallCounts = {
    calls: {},
    sqsRequests: { standard: 0, fifo: 0 },
    dynamo: { readUnits: 0, writeUnits: 0 },
  };

  reset(): void {
    this.counts.calls = {};
    this.counts.sqsRequests = { standard: 0, fifo: 0 };
    this.counts.dynamo = { readUnits: 0, writeUnits: 0 };
  }

  instrument(clients: { sqs: SQSClient; dynamodb: DynamoDBClient }): void {
    clients.sqs.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as {
          QueueUrl?: string;
          MessageBody?: string;
          Entries?: { MessageBody?: string }[];
        };
        const operation = String(context.commandName).replace(/Command$/, '');
        this.counts.calls[`SQS.${operation}`] = (this.counts.calls[`SQS.${operation}`] ?? 0) + 1;
        const bytes =
          (input.MessageBody?.length ?? 0) +
          (input.Entries ?? []).reduce((n, e) => n + (e.MessageBody?.length ?? 0), 0);
        const kind = input.QueueUrl?.endsWith('.fifo') ? 'fifo' : 'standard';
        this.counts.sqsRequests[kind] += sqsRequestUnits(bytes);
        return next(args);
      },
      { step: 'initialize', name: 'switchyardBenchSqsCounter' },
    );
    clients.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const operation = String(context.commandName).replace(/Command$/, '');
        this.counts.calls[`DynamoDB.${operation}`] = (this.counts.calls[`DynamoDB.${operation}`] ?? 0) + 1;
        (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
        const writes = /Put|Update|Delete|Write/.test(operation);
        try {
          const result = await next(args);
          // One object for single-item calls, one per table for the batch calls (BatchGetItem bills
          // each item as GetItem does, and dynalite adds them up the same way).
          const consumed = (
            result.output as {
              ConsumedCapacity?: { CapacityUnits?: number } | readonly { CapacityUnits?: number }[];
            }
          ).ConsumedCapacity;
          const units = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
            (sum: number, c: { CapacityUnits?: number }) => sum + (c.CapacityUnits ?? 0),
            0,
          );
          if (writes) this.counts.dynamo.writeUnits += units;
          else this.counts.dynamo.readUnits += units;
          return result;
        } catch (error) {
          // A failed conditional write still costs at least one write unit.
          if (writes && (error as Error).name === 'ConditionalCheckFailedException')
            this.counts.dynamo.writeUnits += 1;
          throw error;
        }
      },
      { step: 'initialize', name: 'switchyardBenchDynamoCounter' },
    );
  }
}
