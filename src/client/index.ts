import createClient, { Client } from "openapi-fetch";
import type { paths } from "./schema";

/**
 * The typed client of the gateway's HTTP API, as an integrator would use it: openapi-fetch over the types that
 * openapi-typescript generates from /openapi.json (src/client/schema.ts, `npm run client:schema`). Paths,
 * parameters, bodies and answers are checked by the compiler; `ok()` turns any answer but a 2xx into one error type.
 *
 *   const api = custodyClient({ baseUrl: "http://127.0.0.1:8080", apiKey });
 *   const merchant = await ok(api.GET("/v1/merchants/{merchantId}", { params: { path: { merchantId: 7 } } }));
 */
export type { paths, components, operations } from "./schema";

export type CustodyClient = Client<paths>;

export interface CustodyClientOptions {
  /** The gateway's root URL (the paths start with /v1/ or /health). */
  baseUrl: string;
  /** Sent as `x-api-key`; without it only the public routes answer. */
  apiKey?: string;
  /** More headers on every request (Accept-Language, a test's own). */
  headers?: Record<string, string>;
  /** Sends a request (globalThis.fetch unless given: a caller's own transport, retries, a test's recorder). */
  fetch?: (request: Request) => Promise<Response>;
}

/** A client of the gateway at `baseUrl`, sending `apiKey` with every request. */
export function custodyClient(opts: CustodyClientOptions): CustodyClient {
  return createClient<paths>({
    baseUrl: opts.baseUrl.replace(/\/+$/, ""),
    headers: { ...(opts.apiKey ? { "x-api-key": opts.apiKey } : {}), ...opts.headers },
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
}

/**
 * Any answer but a 2xx, with the API's error body (`{ error: { code, message, details } }`); status 0 and code
 * "GatewayUnreachable" when no answer came at all.
 */
export class CustodyApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "CustodyApiError";
  }
}

interface Answer<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

/** The body of a 2xx answer; a CustodyApiError carrying the status, code and message of any other. */
export async function ok<D>(call: Promise<Answer<D>>): Promise<D> {
  let answer: Answer<D>;
  try {
    answer = await call;
  } catch (err) {
    throw new CustodyApiError(0, "GatewayUnreachable", `the gateway did not answer: ${(err as Error).message}`, undefined);
  }
  if (answer.response.ok && answer.error === undefined) return answer.data as D;
  throw errorOf(answer.response.status, answer.error);
}

/** The CustodyApiError for an answer with `status` and `body` (the API's error shape, or anything else a proxy sent). */
export function errorOf(status: number, body: unknown): CustodyApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (e && typeof e.code === "string" && typeof e.message === "string") return new CustodyApiError(status, e.code, e.message, e.details);
  const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
  return new CustodyApiError(status, `HTTP${status}`, text.slice(0, 300) || `HTTP ${status} without an error body`);
}
