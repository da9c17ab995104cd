import { Db } from "../store/db";
import { RegistryFact } from "./ingest";

/**
 * Sums of the stored risk signals per merchant as of a moment: complaints, hotline tickets, litigation and
 * licence changes decayed by age (a signal `halfLife` days old counts half), and the registry lists each merchant
 * is on. Set-based: two queries whatever the number of merchants.
 */

const DAY = 86_400;
/** The complaint trend's prior window: the year before the recent one. */
export const TREND_PRIOR_DAYS = 365;

export interface DecayOptions {
  /** Half-life in days per decayed kind. */
  halfLifeDays: { complaint: number; hotline_ticket: number; litigation: number; licence_change: number };
  /** Signals older than this many half-lives are left out (they would count < 1/2^n). */
  lookbackHalfLives: number;
  /** A complaint or ticket about a refund counts this much. */
  refundRelatedFactor: number;
  /** How much a case counts by the merchant's role in it (a role not listed counts 0). */
  litigationRoles: Record<string, number>;
  /** How much a case counts by its type, lower-case (a type not listed counts 1). */
  caseTypeWeights: Record<string, number>;
  /** The complaint trend compares this many recent days with the TREND_PRIOR_DAYS before them. */
  trendDays: number;
  /** A case at or over this amount counts `largeAmountFactor` times. */
  largeAmountFen: bigint;
  largeAmountFactor: number;
}

export interface DecayedCount {
  /** Records in the look-back. */
  count: number;
  /** The decayed, weighted sum. */
  decayed: number;
}

/** A registry listing in force at the moment asked about. */
export interface RegistryListing {
  fact: Exclude<RegistryFact, "licence_change">;
  recordId: string;
  source: string;
  listedAt: number;
  detail?: string;
}

/** Complaints and hotline tickets in the recent window and in the year before it, not decayed. */
export interface ComplaintTrend {
  recent: number;
  prior: number;
}

export interface ExternalSummary {
  complaints: DecayedCount;
  trend: ComplaintTrend;
  hotlineTickets: DecayedCount;
  litigation: DecayedCount;
  licenceChanges: DecayedCount;
  listings: RegistryListing[];
}

export function emptySummary(): ExternalSummary {
  const z = () => ({ count: 0, decayed: 0 });
  return { complaints: z(), trend: { recent: 0, prior: 0 }, hotlineTickets: z(), litigation: z(), licenceChanges: z(), listings: [] };
}

export async function externalSignals(
  db: Pick<Db, "query">,
  asOf: number,
  o: DecayOptions,
  merchantIds?: number[],
): Promise<Map<number, ExternalSummary>> {
  const out = new Map<number, ExternalSummary>();
  const get = (id: number) => {
    let s = out.get(id);
    if (!s) out.set(id, (s = emptySummary()));
    return s;
  };
  const hl = o.halfLifeDays;
  const lookback = Math.ceil(o.lookbackHalfLives * Math.max(hl.complaint, hl.hotline_ticket, hl.litigation, hl.licence_change) * DAY);
  const only = merchantIds ? "AND merchant_id = ANY($12::bigint[])" : "";
  const decayed = await db.query<{ merchant_id: string; k: string; n: string; d: number | string }>(
    `SELECT merchant_id, k, count(*) AS n, sum(w * exp(-0.6931471805599453 * ($1 - occurred_at) / (86400.0 * hl)))::float8 AS d
     FROM (
       SELECT merchant_id, occurred_at,
         CASE WHEN kind = 'registry_fact' THEN 'licence_change' ELSE kind END AS k,
         CASE kind
           WHEN 'complaint' THEN $3::float8 WHEN 'hotline_ticket' THEN $4::float8 WHEN 'litigation' THEN $5::float8 ELSE $6::float8
         END AS hl,
         CASE
           WHEN kind IN ('complaint', 'hotline_ticket') THEN CASE WHEN (fields->>'refund_related')::boolean THEN $7::float8 ELSE 1 END
           WHEN kind = 'litigation' THEN
             coalesce(($8::jsonb ->> (fields->>'role'))::float8, 0)
             * coalesce(($9::jsonb ->> lower(fields->>'case_type'))::float8, 1)
             * CASE WHEN (fields->>'amount_fen')::numeric >= $10::numeric THEN $11::float8 ELSE 1 END
           ELSE 1
         END AS w
       FROM risk_signals
       WHERE occurred_at <= $1 AND occurred_at > $2 ${only}
         AND (kind <> 'registry_fact' OR fields->>'fact' = 'licence_change')
     ) s
     GROUP BY merchant_id, k`,
    [
      asOf, asOf - lookback, hl.complaint, hl.hotline_ticket, hl.litigation, hl.licence_change, o.refundRelatedFactor,
      JSON.stringify(o.litigationRoles), JSON.stringify(lowerKeys(o.caseTypeWeights)), o.largeAmountFen.toString(), o.largeAmountFactor,
      ...(merchantIds ? [merchantIds] : []),
    ],
  );
  for (const r of decayed) {
    const s = get(Number(r.merchant_id));
    const v = { count: Number(r.n), decayed: Number(r.d) };
    if (r.k === "complaint") s.complaints = v;
    else if (r.k === "hotline_ticket") s.hotlineTickets = v;
    else if (r.k === "litigation") s.litigation = v;
    else s.licenceChanges = v;
  }

  // Complaints and tickets, recent against the year before: a merchant's own trend, apart from its usual level.
  const trendFrom = asOf - o.trendDays * DAY;
  const trend = await db.query<{ merchant_id: string; recent: string; prior: string }>(
    `SELECT merchant_id, count(*) FILTER (WHERE occurred_at > $2) AS recent, count(*) FILTER (WHERE occurred_at <= $2) AS prior
     FROM risk_signals
     WHERE kind IN ('complaint', 'hotline_ticket') AND occurred_at <= $1 AND occurred_at > $3 ${merchantIds ? "AND merchant_id = ANY($4::bigint[])" : ""}
     GROUP BY merchant_id`,
    [asOf, trendFrom, trendFrom - TREND_PRIOR_DAYS * DAY, ...(merchantIds ? [merchantIds] : [])],
  );
  for (const r of trend) get(Number(r.merchant_id)).trend = { recent: Number(r.recent), prior: Number(r.prior) };

  // A listing is in force when the merchant's latest record of that fact (by time, then record id) says listed.
  const listings = await db.query<{ merchant_id: string; fact: string; action: string; record_id: string; source: string; occurred_at: string; detail: string | null }>(
    `SELECT * FROM (
       SELECT DISTINCT ON (merchant_id, fields->>'fact') merchant_id, fields->>'fact' AS fact, fields->>'action' AS action,
              record_id, source, occurred_at, fields->>'detail' AS detail
       FROM risk_signals
       WHERE kind = 'registry_fact' AND occurred_at <= $1 AND fields->>'fact' <> 'licence_change' ${merchantIds ? "AND merchant_id = ANY($2::bigint[])" : ""}
       ORDER BY merchant_id, fields->>'fact', occurred_at DESC, record_id DESC
     ) latest WHERE action = 'listed'`,
    [asOf, ...(merchantIds ? [merchantIds] : [])],
  );
  for (const r of listings) {
    const l: RegistryListing = { fact: r.fact as RegistryListing["fact"], recordId: r.record_id, source: r.source, listedAt: Number(r.occurred_at) };
    if (r.detail) l.detail = r.detail;
    get(Number(r.merchant_id)).listings.push(l);
  }
  return out;
}

function lowerKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));
}
