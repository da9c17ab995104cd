import { Request } from "express";
import { Db } from "../store/db";
import { Principal } from "./auth";

/**
 * Who made each write the API acknowledged, and when: one row per 2xx answer to a POST, PUT or DELETE, written by the
 * gateway (src/api/http.ts) before the answer is sent, so a wrong action can be traced to the key that made it.
 */
export async function recordWrite(db: Db, p: Principal | null, route: { method: string; path: string }, req: Request, status: number) {
  await db.query(
    "INSERT INTO audit_log (role, subject, key_id, method, route, path, status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [p?.role ?? "public", p?.subject ?? null, p?.keyId ?? null, route.method.toUpperCase(), route.path, req.originalUrl.replace(/\?[\s\S]*$/, "").slice(0, 500), status],
  );
}
