/**
 * List prices, us-east-1, from ../shared/notes/aws-facts.md (free tiers ignored). USD.
 */
export const PRICES = {
  apiGatewayHttpPerRequest: 1.0 / 1e6,
  lambdaPerRequest: 0.2 / 1e6,
  lambdaPerGbSecondArm: 0.0000133334,
  sqsStandardPerRequest: 0.4 / 1e6,
  sqsFifoPerRequest: 0.5 / 1e6,
  dynamoPerWriteUnit: 0.625 / 1e6,
  dynamoPerReadUnit: 0.125 / 1e6,
  secretsPerCall: 0.05 / 10_000,
} as const;

/** SQS bills every 64 KB of payload as one request. */
export function sqsRequestUnits(payloadBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / (64 * 1024)));
}
