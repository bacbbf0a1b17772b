/**
 * The pipeline's typed errors. Each sets `name` (so logs and metrics can group on it) and keeps the
 * original error as `cause`. They are mapped to HTTP answers or queue actions at the edge, never
 * swallowed in the middle.
 */

export class SwitchyardError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config that cannot run. Thrown at synth or start, before anything is deployed or served. */
export class ConfigError extends SwitchyardError {
  constructor(
    readonly issues: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`Invalid Switchyard config:\n  - ${issues.join('\n  - ')}`, options);
  }
}

/** A required environment variable is missing at load. */
export class MissingEnvironmentError extends SwitchyardError {
  constructor(
    readonly variable: string,
    options?: { cause?: unknown },
  ) {
    super(`Environment variable ${variable} is not set`, options);
  }
}

/** Worth retrying: network, timeout, throttling, 408, 429, 5xx. */
export class TransientError extends SwitchyardError {
  constructor(
    message: string,
    readonly details: { retryAfterSeconds?: number; status?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Retrying cannot help: validation failures, other 4xx. The record is quarantined with reasons. */
export class FatalError extends SwitchyardError {
  constructor(
    message: string,
    readonly reasons: readonly QuarantineReason[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One machine-readable reason a record was quarantined. `value` is always redacted. */
export interface QuarantineReason {
  readonly rule: string;
  readonly field?: string;
  readonly message: string;
  readonly value?: string;
}

/** A webhook request the hub refuses; `status` and `code` go to the caller, never the payload. */
export class RejectedRequestError extends SwitchyardError {
  constructor(
    readonly status: 400 | 401 | 404 | 413 | 415,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The durable store for accepted events (the inbound queue) could not take the event. */
export class QueueUnavailableError extends SwitchyardError {}
