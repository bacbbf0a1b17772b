import type { APIGatewayProxyEventV2, Context, SQSEvent, SQSRecord } from 'aws-lambda';

export interface SqsRecordOptions {
  readonly messageId?: string;
  readonly receiptHandle?: string;
  /** ApproximateReceiveCount: 1 on the first receive. */
  readonly receiveCount?: number;
  /** FIFO queues only: the record's MessageGroupId. */
  readonly groupId?: string;
  readonly eventSourceARN?: string;
}

let sequence = 0;

/** One SQS record as Lambda's event source mapping hands it over. */
export function sqsRecord(body: string, options: SqsRecordOptions = {}): SQSRecord {
  sequence += 1;
  const messageId = options.messageId ?? `msg-${sequence}`;
  const fifo = options.groupId !== undefined;
  return {
    messageId,
    receiptHandle: options.receiptHandle ?? `rh-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: '1700000000000',
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1700000000001',
      ...(fifo
        ? {
            MessageGroupId: options.groupId,
            MessageDeduplicationId: `dedup-${messageId}`,
            SequenceNumber: String(sequence).padStart(20, '0'),
          }
        : {}),
    },
    messageAttributes: {},
    md5OfBody: 'not-checked',
    eventSource: 'aws:sqs',
    eventSourceARN:
      options.eventSourceARN ??
      (fifo
        ? 'arn:aws:sqs:eu-west-1:123456789012:test-deliver-crm.fifo'
        : 'arn:aws:sqs:eu-west-1:123456789012:test-inbound'),
    awsRegion: 'eu-west-1',
  };
}

export function sqsEvent(records: readonly SQSRecord[]): SQSEvent {
  return { Records: [...records] };
}

export interface HttpEventOptions {
  readonly source: string;
  readonly body?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  /** Send the body base64-encoded, as API Gateway does for binary payloads. */
  readonly base64?: boolean;
}

/** POST /webhooks/{source} as an HTTP API (payload format 2.0) event. */
export function apiGatewayV2Event(options: HttpEventOptions): APIGatewayProxyEventV2 {
  const path = `/webhooks/${options.source}`;
  const raw = options.body === undefined ? undefined : Buffer.from(options.body);
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{source}',
    rawPath: path,
    rawQueryString: '',
    headers: { ...options.headers },
    pathParameters: { source: options.source },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api-id',
      domainName: 'hooks.example.com',
      domainPrefix: 'hooks',
      http: {
        method: 'POST',
        path,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      },
      requestId: 'request-id',
      routeKey: 'POST /webhooks/{source}',
      stage: '$default',
      time: '14/Nov/2023:22:13:20 +0000',
      timeEpoch: 1_700_000_000_000,
    },
    ...(raw === undefined ? {} : { body: options.base64 ? raw.toString('base64') : raw.toString('utf8') }),
    isBase64Encoded: options.base64 ?? false,
  };
}

export interface FunctionUrlEventOptions extends Omit<HttpEventOptions, 'source'> {
  /** The path as called, e.g. `/webhooks/stripe`: a function URL has no routes and passes any path. */
  readonly path: string;
  readonly method?: string;
}

/**
 * A request to a Lambda function URL: payload format 2.0 like the HTTP API, but routeKey `$default`,
 * no pathParameters and the function URL's own domain.
 */
export function functionUrlEvent(options: FunctionUrlEventOptions): APIGatewayProxyEventV2 {
  const { pathParameters: _none, ...event } = apiGatewayV2Event({ ...options, source: 'unused' });
  const domainName = 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws';
  return {
    ...event,
    routeKey: '$default',
    rawPath: options.path,
    requestContext: {
      ...event.requestContext,
      apiId: 'abcdefghijklmnopqrstuvwxyz012345',
      domainName,
      domainPrefix: 'abcdefghijklmnopqrstuvwxyz012345',
      http: { ...event.requestContext.http, method: options.method ?? 'POST', path: options.path },
      routeKey: '$default',
    },
  };
}

/** A Lambda context, enough for Powertools' injectLambdaContext. */
export function lambdaContext(functionName = 'test-function'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2023/11/14/[$LATEST]abcdef',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
