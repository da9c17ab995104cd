import crypto from "node:crypto";
import { Request } from "express";
import { Db } from "../store/db";
import { ApiError } from "../errors";

export const ROLES = ["platform_regulator", "industry_regulator", "bank", "merchant", "auditor", "consumer"] as const;
export type Role = (typeof ROLES)[number];

/**
 * Who is calling. `subject` says which one: the bank id for a bank, the merchant id for a merchant, the
 * account address for regulators and consumers; auditors see everything and have none.
 */
export interface Principal {
  keyId: string;
  role: Role;
  subject: string | null;
  label: string;
}

const hash = (secret: string) => crypto.createHash("sha256").update(secret).digest("hex");

/** Issues a key; the secret is returned once and only its hash is stored. */
export async function issueApiKey(db: Pick<Db, "query">, opts: { role: Role; subject: string | null; label: string }) {
  const id = crypto.randomBytes(6).toString("hex");
  const secret = crypto.randomBytes(24).toString("base64url");
  const key = `ck_${id}_${secret}`;
  await db.query("INSERT INTO api_keys (id, key_hash, role, subject, label) VALUES ($1, $2, $3, $4, $5)", [id, hash(key), opts.role, opts.subject, opts.label]);
  return { id, key };
}

export async function revokeApiKey(db: Pick<Db, "query">, id: string): Promise<boolean> {
  const rows = await db.query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id", [id]);
  return rows.length > 0;
}

export function createAuthenticator(db: Db) {
  const cache = new Map<string, { principal: Principal | null; at: number }>();
  return async function authenticate(req: Request): Promise<Principal | null> {
    const header = req.header("x-api-key") ?? req.header("authorization")?.replace(/^Bearer\s+/i, "");
    if (!header) return null;
    const m = /^ck_([0-9a-f]{12})_[A-Za-z0-9_-]{32}$/.exec(header);
    if (!m) throw new ApiError(401, "InvalidApiKey", "the API key is malformed");
    const cached = cache.get(header);
    if (cached && Date.now() - cached.at < 5_000) {
      if (!cached.principal) throw new ApiError(401, "InvalidApiKey", "unknown or revoked API key");
      return cached.principal;
    }
    const rows = await db.query<{ id: string; key_hash: string; role: Role; subject: string | null; label: string; revoked_at: unknown }>(
      "SELECT id, key_hash, role, subject, label, revoked_at FROM api_keys WHERE id = $1",
      [m[1]],
    );
    const row = rows[0];
    const ok = row && !row.revoked_at && crypto.timingSafeEqual(Buffer.from(row.key_hash, "hex"), Buffer.from(hash(header), "hex"));
    const principal = ok ? { keyId: row.id, role: row.role, subject: row.subject, label: row.label } : null;
    cache.set(header, { principal, at: Date.now() });
    if (!principal) throw new ApiError(401, "InvalidApiKey", "unknown or revoked API key");
    return principal;
  };
}
