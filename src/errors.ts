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

/** A fact the code relies on did not hold: an aggregate query that returned no row, an empty list that cannot be. */
export class InvariantError extends GatewayError {}

/** `value`, or an InvariantError naming `what` when it is missing. */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new InvariantError(`${what} is missing`);
  return value;
}
