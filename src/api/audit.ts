import { Request } from "express";
import { Db } from "../store/db";
import { Principal } from "./auth";
import { insertAuditRow } from "../store/records";

/**
 * Who made each write the API acknowledged, and when: one row per 2xx answer to a POST, PUT or DELETE, written by the
 * gateway (src/api/http.ts) before the answer is sent, so a wrong action can be traced to the key that made it.
 */
export async function recordWrite(db: Db, p: Principal | null, route: { method: string; path: string }, req: Request, status: number) {
  await insertAuditRow(db, {
    role: p?.role ?? "public", subject: p?.subject ?? null, keyId: p?.keyId ?? null, method: route.method.toUpperCase(), route: route.path,
    path: req.originalUrl.replace(/\?[\s\S]*$/, "").slice(0, 500), status,
  });
}
