import { Db, DbTx } from "../store/db";
import { Refusal } from "../errors";
import { RiskLevel, levelRank } from "./levels";
import { ExplanationItem, MerchantRating } from "./model";

/**
 * The ratings' history: every rating recorded, the current one per merchant (superseded_at is null), and the
 * changes of level that must go on chain and to the regulators.
 */

export interface StoredRating {
  merchantId: number;
  level: RiskLevel;
  computedLevel: RiskLevel;
  score: number;
  modelVersion: string;
  explanation: ExplanationItem[];
  computedAt: number;
  /** When a later rating replaced it; null for the current one. */
  supersededAt: number | null;
}

export interface LevelChange {
  merchantId: number;
  /** The previous recorded level; for a merchant's first rating, the level the chain has (merchants.risk_level). */
  from: RiskLevel;
  to: RiskLevel;
  /** The level rose (alert the regulators). */
  rose: boolean;
  /** The level the chain has now, per the index: push `to` through the risk oracle when it differs. */
  onChainLevel: RiskLevel;
  score: number;
  explanation: ExplanationItem[];
  computedAt: number;
}

function fromRow(r: Record<string, unknown>): StoredRating {
  return {
    merchantId: Number(r.merchant_id), level: r.level as RiskLevel, computedLevel: r.computed_level as RiskLevel, score: Number(r.score),
    modelVersion: String(r.model_version), explanation: r.explanation as ExplanationItem[], computedAt: Number(r.computed_at),
    supersededAt: r.superseded_at == null ? null : Number(r.superseded_at),
  };
}

/**
 * Stores ratings (from rateMerchants) in one transaction and returns the merchants whose level changed against
 * their previous rating. Ratings go forward in time: recording one older than a merchant's current rating is
 * refused (409); recording one at the same moment again replaces it, and a change is then reported against the
 * replaced rating.
 */
export async function recordRatings(
  db: Db,
  ratings: MerchantRating[],
  opts: {
    /** Runs in the same transaction, with the changes (alerts and their outbox go in with the ratings or not at all). */
    onChanges?: (tx: DbTx, changes: LevelChange[]) => Promise<void>;
  } = {},
): Promise<{ recorded: number; changes: LevelChange[] }> {
  if (!ratings.length) return { recorded: 0, changes: [] };
  const ids = ratings.map((r) => r.merchantId);
  if (new Set(ids).size !== ids.length) throw new Refusal("invalid", "InvalidRequest", "one rating per merchant at a time");
  return db.transaction(async (tx) => {
    const prev = new Map<number, { level: RiskLevel; computedAt: number | null; onChain: RiskLevel }>();
    const rows = await tx.query<{ merchant_id: string; risk_level: string | null; level: string | null; computed_at: string | null }>(
      `SELECT x.id AS merchant_id, m.risk_level, r.level, r.computed_at
       FROM unnest($1::bigint[]) AS x(id)
       LEFT JOIN merchants m ON m.merchant_id = x.id
       LEFT JOIN risk_ratings r ON r.merchant_id = x.id AND r.superseded_at IS NULL`,
      [ids],
    );
    for (const r of rows) {
      const onChain = (r.risk_level ?? "low") as RiskLevel;
      prev.set(Number(r.merchant_id), { level: (r.level ?? onChain) as RiskLevel, computedAt: r.computed_at == null ? null : Number(r.computed_at), onChain });
    }
    const late = ratings.filter((r) => {
      const p = prev.get(r.merchantId);
      return p?.computedAt != null && p.computedAt > r.asOf;
    });
    if (late.length) {
      throw new Refusal("conflict", "RatingOutOfOrder", `${late.length} rating(s) are older than the merchant's current rating`, late.slice(0, 20).map((r) => ({
        field: `merchant ${r.merchantId}`, reason: `rated as of ${r.asOf}, current rating as of ${prev.get(r.merchantId)!.computedAt}`,
      })));
    }
    const json = JSON.stringify(ratings.map((r) => ({
      merchant_id: r.merchantId, level: r.level, computed_level: r.computedLevel, score: r.score, model_version: r.modelVersion,
      explanation: r.explanation, computed_at: r.asOf,
    })));
    await tx.query(
      `UPDATE risk_ratings r SET superseded_at = x.computed_at
       FROM jsonb_to_recordset($1::jsonb) AS x(merchant_id bigint, computed_at bigint)
       WHERE r.merchant_id = x.merchant_id AND r.superseded_at IS NULL AND r.computed_at < x.computed_at`,
      [json],
    );
    await tx.query(
      `INSERT INTO risk_ratings (merchant_id, level, computed_level, score, model_version, explanation, computed_at)
       SELECT merchant_id, level, computed_level, score, model_version, explanation, computed_at
       FROM jsonb_to_recordset($1::jsonb) AS x(merchant_id bigint, level text, computed_level text, score numeric, model_version text,
         explanation jsonb, computed_at bigint)
       ON CONFLICT (merchant_id, computed_at) DO UPDATE SET level = EXCLUDED.level, computed_level = EXCLUDED.computed_level,
         score = EXCLUDED.score, model_version = EXCLUDED.model_version, explanation = EXCLUDED.explanation`,
      [json],
    );
    const changes: LevelChange[] = [];
    for (const r of ratings) {
      const p = prev.get(r.merchantId)!;
      if (p.level === r.level) continue;
      changes.push({
        merchantId: r.merchantId, from: p.level, to: r.level, rose: levelRank(r.level) > levelRank(p.level), onChainLevel: p.onChain,
        score: r.score, explanation: r.explanation, computedAt: r.asOf,
      });
    }
    if (opts.onChanges && changes.length) await opts.onChanges(tx, changes);
    return { recorded: ratings.length, changes };
  });
}

/** The current rating of each merchant (or of `merchantIds`), optionally only those at `level`. */
export async function latestRatings(db: Pick<Db, "query">, opts: { merchantIds?: number[]; level?: RiskLevel } = {}): Promise<StoredRating[]> {
  const rows = await db.query(
    `SELECT * FROM risk_ratings WHERE superseded_at IS NULL
       AND ($1::bigint[] IS NULL OR merchant_id = ANY($1::bigint[])) AND ($2::text IS NULL OR level = $2)
     ORDER BY merchant_id`,
    [opts.merchantIds ?? null, opts.level ?? null],
  );
  return rows.map(fromRow);
}

/**
 * A merchant's ratings, newest first. `changesOnly`: only the ratings whose level differs from the one before
 * (the first rating included), which is when and why the level changed.
 */
export async function ratingHistory(
  db: Pick<Db, "query">,
  merchantId: number,
  opts: { from?: number; to?: number; changesOnly?: boolean; limit?: number } = {},
): Promise<StoredRating[]> {
  const rows = await db.query(
    `SELECT * FROM (
       SELECT r.*, lag(level) OVER (ORDER BY computed_at) AS previous_level FROM risk_ratings r WHERE merchant_id = $1
     ) h
     WHERE ($2::bigint IS NULL OR computed_at >= $2) AND ($3::bigint IS NULL OR computed_at <= $3)
       AND (NOT $4::boolean OR previous_level IS NULL OR previous_level <> level)
     ORDER BY computed_at DESC LIMIT $5`,
    [merchantId, opts.from ?? null, opts.to ?? null, opts.changesOnly ?? false, opts.limit ?? 100],
  );
  return rows.map(fromRow);
}

/**
 * Merchants whose current rating differs from the level the chain has (per the index): what the risk oracle
 * still has to push, e.g. after a failed or not yet indexed transaction.
 */
export async function pendingChainUpdates(db: Pick<Db, "query">): Promise<{ merchantId: number; level: RiskLevel; onChainLevel: RiskLevel; computedAt: number }[]> {
  const rows = await db.query<{ merchant_id: string; level: RiskLevel; risk_level: RiskLevel; computed_at: string }>(
    `SELECT r.merchant_id, r.level, m.risk_level, r.computed_at FROM risk_ratings r JOIN merchants m ON m.merchant_id = r.merchant_id
     WHERE r.superseded_at IS NULL AND r.level <> m.risk_level ORDER BY r.merchant_id`,
  );
  return rows.map((r) => ({ merchantId: Number(r.merchant_id), level: r.level, onChainLevel: r.risk_level, computedAt: Number(r.computed_at) }));
}
