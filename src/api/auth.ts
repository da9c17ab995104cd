import crypto from "node:crypto";
import { Request } from "express";
import { Db } from "../store/db";
import { ApiKeyRow, apiKeyById, apiKeysByIds, insertApiKey, markApiKeyRevoked } from "../store/apiKeys";
import { ApiError } from "./errors";
import { ROLES, Role, Principal } from "../services/principal";

export { ROLES };
export type { Role, Principal };

const hash = (secret: string) => crypto.createHash("sha256").update(secret).digest("hex");

/** Issues a key; the secret is returned once and only its hash is stored. */
export async function issueApiKey(db: Pick<Db, "query">, opts: { role: Role; subject: string | null; label: string }) {
  const id = crypto.randomBytes(6).toString("hex");
  const secret = crypto.randomBytes(24).toString("base64url");
  const key = `ck_${id}_${secret}`;
  await insertApiKey(db, { id, keyHash: hash(key), role: opts.role, subject: opts.subject, label: opts.label });
  return { id, key };
}

export async function revokeApiKey(db: Pick<Db, "query">, id: string): Promise<boolean> {
  return markApiKeyRevoked(db, id);
}

const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);

function principalOf(row: ApiKeyRow | undefined, keyHash: string): Principal | null {
  if (!row || row.revoked_at || !isRole(row.role)) return null;
  const ok = crypto.timingSafeEqual(Buffer.from(row.key_hash, "hex"), Buffer.from(keyHash, "hex"));
  return ok ? { keyId: row.id, role: row.role, subject: row.subject, label: row.label } : null;
}

/**
 * Checks API keys. An answer is reused for at most `ttlMs` (5 s) after it was read from the store, so a revoked
 * key stops working within that time. Keys in use are re-read together, one query for all of them every 0.6 TTL,
 * instead of one query per key and TTL; a key whose answer is older than the TTL is read on its own, as before.
 * At most `maxEntries` keys are remembered (the oldest are dropped first).
 */
export function createAuthenticator(db: Db, opts: { ttlMs?: number; maxEntries?: number } = {}) {
  const ttlMs = opts.ttlMs ?? 5_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  /** `at`: when the store was read for this answer (before the query was sent); `usedAt`: last request with it. */
  interface Entry { principal: Principal | null; id: string; keyHash: string; at: number; usedAt: number }
  const cache = new Map<string, Entry>();
  let lastRefresh = Date.now();
  let refreshing = false;

  function remember(header: string, entry: Entry) {
    cache.delete(header);
    cache.set(header, entry);
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
  }

  /** Re-reads every key used lately in one query; forgets keys nobody used for a few TTLs. */
  async function refresh() {
    const started = Date.now();
    const live: [string, Entry][] = [];
    for (const [header, e] of cache) {
      if (started - e.usedAt >= 4 * ttlMs || (!e.principal && started - e.at >= ttlMs)) cache.delete(header);
      else if (e.principal) live.push([header, e]);
    }
    if (!live.length) return;
    const ids = [...new Set(live.map(([, e]) => e.id))];
    const rows = await apiKeysByIds(db, ids);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const [header, e] of live) {
      if (cache.get(header) !== e) continue; // read again on its own meanwhile
      e.principal = principalOf(byId.get(e.id), e.keyHash);
      e.at = started;
    }
  }

  return async function authenticate(req: Request): Promise<Principal | null> {
    const header = req.header("x-api-key") ?? req.header("authorization")?.replace(/^Bearer\s+/i, "");
    if (!header) return null;
    const keyId = /^ck_([0-9a-f]{12})_[A-Za-z0-9_-]{32}$/.exec(header)?.[1];
    if (!keyId) throw new ApiError(401, "InvalidApiKey", "the API key is malformed");
    const now = Date.now();
    if (!refreshing && now - lastRefresh >= ttlMs * 0.6) {
      refreshing = true;
      lastRefresh = now;
      refresh().catch(() => undefined).finally(() => { refreshing = false; });
    }
    const cached = cache.get(header);
    if (cached && now - cached.at < ttlMs) {
      cached.usedAt = now;
      if (!cached.principal) throw new ApiError(401, "InvalidApiKey", "unknown or revoked API key");
      return cached.principal;
    }
    const keyHash = hash(header);
    const principal = principalOf(await apiKeyById(db, keyId), keyHash);
    remember(header, { principal, id: keyId, keyHash, at: now, usedAt: now });
    if (!principal) throw new ApiError(401, "InvalidApiKey", "unknown or revoked API key");
    return principal;
  };
}
