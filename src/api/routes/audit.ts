import { Router } from "express";
import { z } from "zod";
import { ROLES } from "../auth";
import { defineRoute, Gate } from "../http";
import { ApiError } from "../errors";
import { page } from "../answers";
import { auditPage } from "../../store/records";

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
      const rows = await auditPage(gate.db, {
        beforeId: before, limit: query.limit + 1, role: query.role ?? null, subject: query.subject?.toLowerCase() ?? null, keyId: query.keyId ?? null,
        route: query.route ?? null, fromTime: query.fromTime ?? null, toTime: query.toTime ?? null,
      });
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
