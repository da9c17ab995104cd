import { Refusal, RefusalKind } from "../errors";

/**
 * The HTTP status of each kind of refusal: the one place where the errors of the layers below the API (services, the
 * risk engine, the chain) become statuses. They know nothing of HTTP.
 */
export const STATUS_OF_KIND: Record<RefusalKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unprocessable: 422,
  unavailable: 503,
};

const KIND_OF_STATUS = new Map(Object.entries(STATUS_OF_KIND).map(([kind, status]) => [status, kind as RefusalKind]));

/** A refusal the API itself makes, answered as `status` with `{ error: { code, message, details } }`. */
export class ApiError extends Refusal {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    details?: unknown,
  ) {
    super(KIND_OF_STATUS.get(status) ?? "invalid", code, message, details);
  }
}

/** The API's answer for a refusal from any layer: its status from its kind. */
export function apiErrorOf(err: Refusal): ApiError {
  return err instanceof ApiError ? err : new ApiError(STATUS_OF_KIND[err.kind], err.code, err.message, err.details);
}
