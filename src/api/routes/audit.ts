import { Router } from "express";
import { z } from "zod";
import { ROLES } from "../auth";
import { defineRoute, Gate } from "../http";
import { ApiError } from "../../errors";
import { page } from "../answers";

const cursorOf = (id: string) => Buffer.from(id).toString("base64url");

export function auditRoutes(router: Router, gate: Gate) {
  defineRoute(router, {
    method: "get", path: "/v1/audit-log", tag: "system", summary: "Read who made each acknowledged write, newest first",
    responds: "one row per 2xx answer to a POST or PUT: when, the caller's role, subject and API key id (or consumer session), the operation and its path",
    access: { roles: { platform_regulator: "any", auditor: "any" } },
    response: page(z.object({
      id: z.string(), at: z.string(), role: z.string(), subject: z.string().nullable(), keyId: z.string().nullable(),
      method: z.string(), route: z.string(), path: z.string(), status: z.number(),
    })),
    query: z.object({
      role: z.enum([...ROLES, "public"]).optional(),
      subject: z.string().min(1).max(64).optional(),
      keyId: z.string().min(1).max(40).optional(),
      route: z.string().min(1).max(200).optional(),
      fromTime: z.coerce.number().int().min(0).max(2 ** 40).optional(),
      toTime: z.coerce.number().int().min(0).max(2 ** 40).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "a cursor from a previous page's nextCursor").optional(),
    }).strict(),
    handler: async ({ query }) => {
      let before: string | null = null;
      if (query.cursor) {
        before = Buffer.from(query.cursor, "base64url").toString();
        if (!/^\d{1,18}$/.test(before)) {
          throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "query.cursor", reason: "not a cursor this API gave out" }]);
        }
      }
      const rows = await gate.db.query<{ id: string; at: unknown; role: string; subject: string | null; key_id: string | null; method: string; route: string; path: string; status: number }>(
        `SELECT id, at, role, subject, key_id, method, route, path, status FROM audit_log
         WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR role = $2) AND ($3::text IS NULL OR subject = $3)
           AND ($4::text IS NULL OR key_id = $4) AND ($5::text IS NULL OR route = $5)
           AND ($6::bigint IS NULL OR at >= to_timestamp($6)) AND ($7::bigint IS NULL OR at <= to_timestamp($7))
         ORDER BY id DESC LIMIT ${query.limit + 1}`,
        [before, query.role ?? null, query.subject?.toLowerCase() ?? null, query.keyId ?? null, query.route ?? null, query.fromTime ?? null, query.toTime ?? null],
      );
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: page.map((r) => ({
          id: String(r.id), at: new Date(r.at as string).toISOString(), role: r.role, subject: r.subject, keyId: r.key_id,
          method: r.method, route: r.route, path: r.path, status: Number(r.status),
        })),
        nextCursor: rows.length > query.limit && last ? cursorOf(String(last.id)) : null,
      };
    },
  }, gate);
}
