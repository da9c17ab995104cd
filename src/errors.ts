/**
 * The gateway's error tree. The sync loop backs off and retries a RetryableError, stops on a FatalError; a
 * Refusal is a service's or the chain's "no" (the caller's mistake or a rule), which the API answers with the
 * status of its kind (src/api/errors.ts, the one place layers' errors become HTTP); anything else is a logged 500.
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

/** What kind of "no" a refusal is: invalid input, an unknown or forbidden caller, a missing thing, a broken rule... */
export type RefusalKind = "invalid" | "unauthenticated" | "forbidden" | "not_found" | "conflict" | "too_large" | "unprocessable" | "unavailable";

/** A refusal with a stable `code` (a contract's custom error name, or the gateway's own), a message and details. */
export class Refusal extends GatewayError {
  constructor(
    readonly kind: RefusalKind,
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
