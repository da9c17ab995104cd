import express, { NextFunction, Request, Response, Router } from "express";
import { z } from "zod";
import { ApiError } from "./errors";
import { Db } from "../store/db";
import { Principal } from "./auth";
import { AccessDecl, PUBLIC, Tenants, checkDeclaration, enforce } from "./access";
import { recordWrite } from "./audit";

/**
 * Routes are declared once, with zod schemas for their params, query and body: the same schemas validate
 * requests and generate the OpenAPI document. Handlers get parsed input and the caller's principal.
 */
export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: "get" | "post" | "put" | "delete";
  path: string; // express style: /v1/cards/:cardId
  summary: string;
  tag: string;
  /**
   * Who may call it and on whose data ("public": no key): enforced here before the query and body are validated,
   * shown in /openapi.json and docs/access.md. A route without one does not register.
   */
  access: AccessDecl;
  params?: P;
  query?: Q;
  body?: B;
  /** Describes a successful response for the docs. */
  responds?: string;
  /**
   * The success answer's JSON body: declared in /openapi.json and, when answers are checked (CUSTODY_CHECK_ANSWERS=1,
   * as the test suite runs), every answer is validated against it before it is sent.
   */
  response?: z.ZodType;
  /** The success statuses (default 200). */
  statuses?: number[];
  /** Streams its own response (CSV, RSS, an event stream): its content type. */
  raw?: boolean;
  produces?: string;
  handler: (ctx: {
    params: z.infer<P>;
    query: z.infer<Q>;
    body: z.infer<B>;
    principal: Principal | null;
    /** The tenants the request names, as the access check found them (a card's row, a merchant's record). */
    tenant: Tenants;
    req: Request;
    res: Response;
  }) => Promise<unknown>;
}

/** What routes are registered with: the caller's principal, and the store the access check and the audit log use. */
export interface Gate {
  authenticate: (req: Request) => Promise<Principal | null>;
  db: Db;
}

export interface RouteDoc {
  method: string;
  path: string;
  summary: string;
  tag: string;
  access: AccessDecl;
  raw?: boolean;
  produces?: string;
  response?: z.ZodType;
  statuses?: number[];
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  responds?: string;
}

export const docs: RouteDoc[] = [];

const empty = z.object({}).strict();

function issuesToDetails(where: string, error: z.ZodError) {
  return error.issues.map((i) => ({
    field: [where, ...i.path.map(String)].join("."),
    reason: i.message,
  }));
}

/** An answer already written as JSON text (a ledger page built by the database): sent as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

const bigintAsString = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

/**
 * JSON with bigint money as decimal strings. Most answers hold no bigint (the views turn money into strings), and
 * JSON.stringify without a replacer is about 1.5 times as fast on a 50-row ledger page: it is tried first; only a value
 * it cannot write (a bigint) sends it through the replacer. The text is the same either way.
 */
export function toJson(body: unknown): string {
  if (body instanceof JsonText) return body.text;
  try {
    return JSON.stringify(body);
  } catch (err) {
    if (err instanceof TypeError) return JSON.stringify(body, bigintAsString);
    throw err;
  }
}

/**
 * Sends JSON. A response its route made cacheable (a Cache-Control that allows storing it: the public pages' data)
 * goes through express's res.send, which adds an ETag and answers a matching If-None-Match with 304. Every other
 * answer (a principal's own data, errors) is written directly: no ETag (a SHA-1 of the whole body on every request,
 * for answers no cache keeps), no content-type re-parsing, one write of headers and body.
 */
export function sendJson(res: Response, status: number, body: unknown) {
  const text = toJson(body);
  const cacheControl = res.getHeader("cache-control");
  if (text === undefined || (typeof cacheControl === "string" && !/no-store|private/i.test(cacheControl))) {
    res.status(status).type("application/json").send(text);
    return;
  }
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(res.req.method === "HEAD" ? undefined : text);
}

export function defineRoute<P extends z.ZodType = typeof empty, Q extends z.ZodType = typeof empty, B extends z.ZodType = typeof empty>(
  router: Router,
  spec: RouteSpec<P, Q, B>,
  gate: Gate,
) {
  checkDeclaration(spec.method, spec.path, spec.access);
  const access = spec.access;
  docs.push({
    method: spec.method, path: spec.path, summary: spec.summary, tag: spec.tag, access, raw: spec.raw, produces: spec.produces, response: spec.response,
    statuses: spec.statuses, params: spec.params, query: spec.query, body: spec.body, responds: spec.responds,
  });
  const check = process.env.CUSTODY_CHECK_ANSWERS === "1" ? answerCheck(spec) : null;
  const hasBody = spec.method !== "get" && spec.method !== "delete";
  router[spec.method](spec.path, async (req: Request, res: Response, next: NextFunction) => {
    try {
      const principal = await gate.authenticate(req);
      const details: { field: string; reason: string }[] = [];
      const parse = (where: string, schema: z.ZodType | undefined, value: unknown) => {
        const s = schema ?? empty;
        const r = s.safeParse(value ?? {});
        if (!r.success) {
          details.push(...issuesToDetails(where, r.error));
          return undefined;
        }
        return r.data;
      };
      // The path first: the access rule reads its ids. The query and the body only once the caller may send them.
      const params = parse("params", spec.params, req.params);
      nulFields("params", req.params, details);
      let tenant: Tenants = {};
      if (access !== PUBLIC) {
        if (!principal) throw new ApiError(401, "Unauthenticated", "send an API key in the X-API-Key header (or Authorization: Bearer)");
        const scope = access.roles[principal.role];
        if (!scope) throw new ApiError(403, "Forbidden", `a ${principal.role} may not ${spec.summary.toLowerCase()}`);
        if (!details.length && (scope === "own" || access.tenant)) {
          tenant = await enforce(gate.db, access, principal, scope, { params: req.params, query: req.query, body: hasBody ? req.body : undefined }, req);
        }
      }
      const query = parse("query", spec.query, req.query);
      const body = hasBody ? parse("body", spec.body, req.body) : {};
      nulFields("query", req.query, details);
      if (hasBody) nulFields("body", req.body, details);
      for (const u of tenant.unreadable ?? []) if (!details.some((d) => d.field === u.field)) details.push(u);
      if (details.length) throw new ApiError(400, "InvalidRequest", "the request has invalid fields", details);
      const out = await spec.handler({ params, query, body, principal, tenant, req, res } as never);
      if (spec.raw) {
        if (hasBody && res.statusCode < 300) await recordWrite(gate.db, principal, spec, req, res.statusCode);
        return;
      }
      const status = spec.method === "post" ? (out as { __status?: number })?.__status ?? 200 : 200;
      check?.(status, stripStatus(out));
      // A write is acknowledged only once who made it is in the store.
      if (hasBody) await recordWrite(gate.db, principal, spec, req, status);
      sendJson(res, status, stripStatus(out));
    } catch (err) {
      next(err);
    }
  });
}

/**
 * Checks an answer against the route's declaration (status and body schema), as a client generated from
 * /openapi.json would read it: a difference is the gateway's bug, thrown (a 500 the test sees) rather than sent.
 */
function answerCheck(spec: { method: string; path: string; response?: z.ZodType; statuses?: number[] }) {
  const where = `${spec.method.toUpperCase()} ${spec.path}`;
  return (status: number, body: unknown) => {
    if (!(spec.statuses ?? [200]).includes(status)) throw new Error(`${where} answered ${status}, not one of its declared statuses ${(spec.statuses ?? [200]).join(", ")}`);
    if (!spec.response) throw new Error(`${where} declares no answer schema`);
    const text = toJson(body);
    const sent = text === undefined ? undefined : JSON.parse(text);
    const r = spec.response.safeParse(sent);
    if (!r.success) throw new Error(`${where}: the answer does not match its declared schema: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    // A strict object schema drops the fields it does not declare: the document would not show them.
    const extra = undeclared(sent, r.data, "");
    if (extra) throw new Error(`${where}: the answer has ${extra}, which its declared schema does not`);
  };
}

/** The first field of `sent` that `kept` (what the schema let through) lacks, as a path. */
function undeclared(sent: unknown, kept: unknown, at: string): string | null {
  if (Array.isArray(sent) && Array.isArray(kept)) {
    for (let i = 0; i < sent.length; i++) {
      const f = undeclared(sent[i], kept[i], `${at}[${i}]`);
      if (f) return f;
    }
  } else if (sent && typeof sent === "object" && kept && typeof kept === "object") {
    for (const [k, v] of Object.entries(sent)) {
      if (!(k in kept)) return `${at}.${k}`;
      const f = undeclared(v, (kept as Record<string, unknown>)[k], `${at}.${k}`);
      if (f) return f;
    }
  }
  return null;
}

/** PostgreSQL's text and jsonb cannot hold a NUL character: a string with one is the client's 400, wherever it is. */
function nulFields(where: string, value: unknown, out: { field: string; reason: string }[], depth = 0) {
  if (typeof value === "string") {
    if (value.includes("\u0000")) out.push({ field: where, reason: "contains a NUL character (\\u0000), which no field may hold" });
  } else if (value && typeof value === "object" && depth < 64) {
    for (const [k, v] of Object.entries(value)) nulFields(`${where}.${k}`, v, out, depth + 1);
  }
}

function stripStatus(out: unknown) {
  if (out && typeof out === "object" && "__status" in out) {
    const { __status: _s, ...rest } = out as Record<string, unknown>;
    return rest;
  }
  return out;
}

/** Marks a POST's answer as 201/202. */
export function withStatus<T extends object>(status: number, body: T): T {
  return Object.assign(body, { __status: status });
}

// ---------------------------------------------------------------- common schemas

/** Money in fen: a non-negative whole number, as a JSON number or a string of digits. */
export const fen = z
  .union([z.number(), z.string()])
  .refine((v) => (typeof v === "number" ? Number.isSafeInteger(v) && v >= 0 : /^\d{1,18}$/.test(v)), {
    message: "money is a whole, non-negative number of fen (no fractions, no floats)",
  })
  .transform((v) => BigInt(v));

export const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address is 0x and 40 hex digits").transform((s) => s.toLowerCase());
export const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "0x and 64 hex digits");
/** A block number, unix time or id to continue after: whole, non-negative, and exact as a JS number (so within bigint). */
export const wholeNumber = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const idParam = (name: string) => z.coerce.number({ message: `${name} is a whole number` }).int().min(1).max(2 ** 32 - 1);
export const cardIdParam = z
  .string()
  .regex(/^\d{1,20}$/, "a card id is a decimal number")
  // zod runs a refinement even when the regex failed: test the digits again before BigInt, which throws on others
  .refine((s) => /^\d{1,20}$/.test(s) && BigInt(s) < 2n ** 64n && BigInt(s) >> 32n > 0n, "not a card id (merchant id << 32 | number)")
  .transform((s) => BigInt(s));
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "a cursor from a previous page's nextCursor").optional(),
};

export function encodeCursor(v: string | number | bigint): string {
  return Buffer.from(String(v)).toString("base64url");
}

/**
 * A keyset page from rows read in key order with `LIMIT limit + 1`: the first `limit` rows, and the cursor after the
 * last of them when the extra row shows there are more (null on the last page).
 */
export function keysetPage<R>(rows: R[], limit: number, keyOf: (row: R) => unknown): { page: R[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(String(keyOf(last))) : null };
}

/** The largest value of PostgreSQL's bigint (the store's ids) and of a uint64 (the escrow's card ids, numeric(20,0)). */
export const BIGINT_MAX = 9_223_372_036_854_775_807n;
export const UINT64_MAX = 18_446_744_073_709_551_615n;

/**
 * A cursor this API gave out: base64url of a decimal key at most `max` (a bigint id unless said otherwise). A larger
 * one is no cursor of ours, and the database would refuse it as out of range: the client's 400, not a 500.
 */
export function decodeCursor(c: string | undefined, max: bigint = BIGINT_MAX): string | null {
  if (!c) return null;
  const s = Buffer.from(c, "base64url").toString();
  if (!/^\d{1,20}$/.test(s) || BigInt(s) > max) throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "query.cursor", reason: "not a cursor this API gave out" }]);
  return s;
}

/**
 * A cursor that carries a text key (a ticket number, a registration number): base64url of it, as given out. Anything
 * else (bytes that are not UTF-8, control characters such as NUL, which PostgreSQL refuses in text) is the client's 400.
 */
export function decodeTextCursor(c: string | undefined, maxLength = 64): string | null {
  if (!c) return null;
  const s = Buffer.from(c, "base64url").toString();
  // eslint-disable-next-line no-control-regex -- a cursor is printable text: control characters mark a forged one
  if (s.length === 0 || s.length > maxLength || /[\u0000-\u001f\u007f\ufffd]/.test(s) || Buffer.from(s).toString("base64url") !== c) {
    throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "query.cursor", reason: "not a cursor this API gave out" }]);
  }
  return s;
}

export function bodyParsers(limit: string) {
  const json = express.json({ limit, strict: true });
  const text = express.text({ type: ["text/csv", "text/plain"], limit });
  // A request without a body (no Content-Length, no Transfer-Encoding: every GET in practice) skips the parsers,
  // which would find that out themselves after more work; one with a body is parsed (or refused) as before.
  const ifBody = (parser: express.RequestHandler): express.RequestHandler => (req, res, next) =>
    req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined ? next() : parser(req, res, next);
  return [ifBody(json), ifBody(text)];
}
