import { Db, queryOne } from "../store/db";
import { Refusal } from "../errors";
import { RISK_LEVELS, RiskLevel } from "./levels";

/**
 * A regulator's override of a merchant's risk level, with the reason, recorded. While it is in force (created,
 * not expired) it wins over the computed level, hard rules included, and shows in the rating's explanation.
 * When several are in force the latest one wins. Times are unix seconds.
 */
export interface RiskOverride {
  id: number;
  merchantId: number;
  level: RiskLevel;
  reason: string;
  officer: string;
  createdAt: number;
  /** null: until lifted. */
  expiresAt: number | null;
}

const now = () => Math.floor(Date.now() / 1000);

function fromRow(r: Record<string, unknown>): RiskOverride {
  return {
    id: Number(r.id), merchantId: Number(r.merchant_id), level: r.level as RiskLevel, reason: String(r.reason), officer: String(r.officer),
    createdAt: Number(r.created_at), expiresAt: r.expires_at == null ? null : Number(r.expires_at),
  };
}

/** Records an override. Re-rate the merchant (rateMerchants with merchantIds, then recordRatings) to apply it. */
export async function setOverride(
  db: Pick<Db, "query">,
  o: { merchantId: number; level: RiskLevel; reason: string; officer: string; at?: number; expiresAt?: number | null },
): Promise<RiskOverride> {
  const at = o.at ?? now();
  const problems: { field: string; reason: string }[] = [];
  if (!RISK_LEVELS.includes(o.level)) problems.push({ field: "level", reason: "low, medium or high" });
  if (!o.reason?.trim()) problems.push({ field: "reason", reason: "an override needs its reason" });
  if (!o.officer?.trim()) problems.push({ field: "officer", reason: "who decided it" });
  if (o.expiresAt != null && o.expiresAt <= at) problems.push({ field: "expiresAt", reason: "expiresAt is after the override starts" });
  if (problems.length) throw new Refusal("invalid", "InvalidRequest", "the override is invalid", problems);
  const row = await queryOne(db,
    `INSERT INTO risk_overrides (merchant_id, level, reason, officer, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [o.merchantId, o.level, o.reason.trim(), o.officer.trim(), at, o.expiresAt ?? null],
  );
  return fromRow(row);
}

/** Ends an override in force at `at` (now by default); null when it is unknown or no longer in force. */
export async function liftOverride(db: Pick<Db, "query">, id: number, at: number = now()): Promise<RiskOverride | null> {
  const [row] = await db.query(
    `UPDATE risk_overrides SET expires_at = $2 WHERE id = $1 AND created_at <= $2 AND (expires_at IS NULL OR expires_at > $2) RETURNING *`,
    [id, at],
  );
  return row ? fromRow(row) : null;
}

/** The override in force at `asOf` for each merchant that has one. */
export async function activeOverrides(db: Pick<Db, "query">, asOf: number, merchantIds?: number[]): Promise<Map<number, RiskOverride>> {
  const rows = await db.query(
    `SELECT DISTINCT ON (merchant_id) * FROM risk_overrides
     WHERE created_at <= $1 AND (expires_at IS NULL OR expires_at > $1) ${merchantIds ? "AND merchant_id = ANY($2::bigint[])" : ""}
     ORDER BY merchant_id, created_at DESC, id DESC`,
    [asOf, ...(merchantIds ? [merchantIds] : [])],
  );
  return new Map(rows.map((r) => [Number(r.merchant_id), fromRow(r)]));
}

/** Every override of a merchant, newest first. */
export async function listOverrides(db: Pick<Db, "query">, merchantId: number): Promise<RiskOverride[]> {
  return (await db.query("SELECT * FROM risk_overrides WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC", [merchantId])).map(fromRow);
}
