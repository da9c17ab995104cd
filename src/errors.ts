/**
 * The gateway's error tree. The sync loop backs off and retries a RetryableError, stops on a FatalError;
 * the API turns an ApiError into its status and JSON body, and anything else into a logged 500.
 */
export class GatewayError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Worth trying again: an RPC timeout, a dropped connection, a node that is behind, a rate limit. */
export class RetryableError extends GatewayError {}

/** Trying again will not help: bad configuration, a different chain, data that cannot be decoded. */
export class FatalError extends GatewayError {}

/** A client's mistake or a refusal, answered as `status` with `{ error: { code, message, details } }`. */
export class ApiError extends GatewayError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}
