import { Db } from "../store/db";

/**
 * What the chain itself says about a merchant's risk, computed from the index for every merchant at once, as
 * of a moment (so a bench or an investigation can replay history): two windows end at `asOf`, the recent one
 * (30 days) and the baseline before it (90 days), and each merchant is compared with its own baseline.
 *
 *   sales surge              card sales and renewals (value) in the recent window against the baseline's
 *                            monthly average: the cash grab before a collapse
 *   consumption divergence   sales rising while consumption (released lessons and periods) falls
 *   refund requests, disputes  opened in the recent window, per 1,000 active cards
 *   payout drain             paid out in the recent window against the custodied money its sales brought in
 *
 * Approximations, because the index keeps cards' current state, not their history: a card is active at `asOf`
 * when it had started, had not expired (by its current expiry, renewals included) and had not been refunded by
 * then; a card whose lessons were all used before it expired still counts.
 */

const DAY = 86_400;

/** Raw figures of one merchant over the two windows. Money in fen. */
export interface ChainActivity {
  merchantId: number;
  industryId: number;
  /** When the merchant was admitted, unix seconds. */
  admittedAt: number;
  activeCards: number;
  /** Days of the baseline window in which the merchant was on the platform (0..baselineDays). */
  baselineDaysCovered: number;
  salesRecentCount: number;
  salesBaselineCount: number;
  /** Card price (custodied + paid directly) of purchases and renewals. */
  salesRecentFen: bigint;
  salesBaselineFen: bigint;
  /** The custodied part of those sales. */
  custodiedRecentFen: bigint;
  custodiedBaselineFen: bigint;
  /** Released by lessons consumed and periods elapsed. */
  consumedRecentFen: bigint;
  consumedBaselineFen: bigint;
  refundRequestsRecent: number;
  disputesRecent: number;
  paidOutRecentFen: bigint;
}

export interface ChainWindows {
  recentDays: number;
  baselineDays: number;
}

export const DEFAULT_WINDOWS: ChainWindows = { recentDays: 30, baselineDays: 90 };

/** The signals derived from a merchant's activity; null where the merchant's history cannot say (too new, no sales). */
export interface ChainSignals {
  /** Recent sales over the baseline's average for a window of the same length (1 = as usual). */
  salesSurge: number | null;
  /** Recent consumption over its baseline average (1 = as usual). */
  consumptionRatio: number | null;
  /** min(sales rise, consumption fall): both must move; 0 when either does not. */
  consumptionDivergence: number | null;
  refundRequestsPer1000: number;
  disputesPer1000: number;
  /** Paid out in the recent window over the custodied money of its sales (about 1 for a steady merchant). */
  payoutDrain: number | null;
}

export interface DeriveOptions extends ChainWindows {
  /** Size normalisation: rates per 1,000 active cards use at least this many cards. */
  sizeFloorCards: number;
  /** Ratios are smoothed by this many average cards on both sides, so a tiny merchant's 1 → 3 is no surge. */
  smoothingCards: number;
  /** A baseline covering fewer days than this is no baseline (default 30). */
  minBaselineDays?: number;
}

/** Pure: turns a merchant's raw activity into its chain signals. */
export function deriveChainSignals(a: ChainActivity, o: DeriveOptions): ChainSignals {
  const per1000 = (n: number) => (n * 1000) / Math.max(a.activeCards, o.sizeFloorCards, 1);
  const count = a.salesRecentCount + a.salesBaselineCount;
  const avgPrice = count ? Number(a.salesRecentFen + a.salesBaselineFen) / count : 0;
  const avgCustodied = count ? Number(a.custodiedRecentFen + a.custodiedBaselineFen) / count : 0;
  const hasBaseline = a.baselineDaysCovered >= (o.minBaselineDays ?? 30) && count > 0;
  const scale = hasBaseline ? o.recentDays / a.baselineDaysCovered : 0;
  const ratio = (recent: bigint, baseline: bigint, k: number) => (Number(recent) + k) / (Number(baseline) * scale + k);

  const salesSurge = hasBaseline && avgPrice > 0 ? ratio(a.salesRecentFen, a.salesBaselineFen, o.smoothingCards * avgPrice) : null;
  const consumptionRatio =
    hasBaseline && avgCustodied > 0 ? ratio(a.consumedRecentFen, a.consumedBaselineFen, o.smoothingCards * avgCustodied) : null;
  const consumptionDivergence =
    salesSurge === null || consumptionRatio === null ? null : Math.min(Math.max(salesSurge - 1, 0), Math.max(1 - consumptionRatio, 0));
  const payoutDrain = avgCustodied > 0 ? Number(a.paidOutRecentFen) / (Number(a.custodiedRecentFen) + o.smoothingCards * avgCustodied) : null;
  return {
    salesSurge,
    consumptionRatio,
    consumptionDivergence,
    refundRequestsPer1000: per1000(a.refundRequestsRecent),
    disputesPer1000: per1000(a.disputesRecent),
    payoutDrain,
  };
}

/**
 * The raw activity of every merchant admitted by `asOf` (or of `merchantIds`), from the ledger, cards and
 * refunds tables: three set-based queries, whatever the number of merchants.
 */
export async function chainActivity(
  db: Pick<Db, "query">,
  asOf: number,
  windows: ChainWindows = DEFAULT_WINDOWS,
  merchantIds?: number[],
): Promise<Map<number, ChainActivity>> {
  const recentFrom = asOf - windows.recentDays * DAY;
  const baselineFrom = recentFrom - windows.baselineDays * DAY;
  const only = merchantIds ? "AND merchant_id = ANY($4::bigint[])" : "";
  const ids = merchantIds ? [merchantIds] : [];

  const merchants = await db.query<{ merchant_id: string; industry_id: number; admitted_at: string }>(
    `SELECT merchant_id, industry_id, admitted_at FROM merchants WHERE admitted_at <= $1 ${merchantIds ? "AND merchant_id = ANY($2::bigint[])" : ""}`,
    [asOf, ...ids],
  );
  const out = new Map<number, ChainActivity>();
  for (const m of merchants) {
    const admitted = Number(m.admitted_at);
    out.set(Number(m.merchant_id), {
      merchantId: Number(m.merchant_id),
      industryId: Number(m.industry_id),
      admittedAt: admitted,
      activeCards: 0,
      baselineDaysCovered: Math.max(0, Math.min(windows.baselineDays, (recentFrom - Math.max(admitted, baselineFrom)) / DAY)),
      salesRecentCount: 0, salesBaselineCount: 0, salesRecentFen: 0n, salesBaselineFen: 0n,
      custodiedRecentFen: 0n, custodiedBaselineFen: 0n, consumedRecentFen: 0n, consumedBaselineFen: 0n,
      refundRequestsRecent: 0, disputesRecent: 0, paidOutRecentFen: 0n,
    });
  }
  if (!out.size) return out;

  // One pass over the ledger rows of both windows; ledger_time (block_time, id) bounds the scan.
  type FlowRow = Record<"merchant_id" | "sales_n_r" | "sales_n_b" | "sales_r" | "sales_b" | "cust_r" | "cust_b" | "cons_r" | "cons_b" | "refund_req_r" | "disputes_r" | "paid_out_r", string>;
  const flows = await db.query<FlowRow>(
    `WITH w AS (
       SELECT merchant_id, event, amount, block_time > $2 AS recent,
              CASE WHEN event IN ('CardPurchased', 'CardRenewed')
                   THEN coalesce((args->>'price')::bigint, amount + coalesce((args->>'direct')::bigint, 0)) END AS price
       FROM ledger
       WHERE block_time > $1 AND block_time <= $3 ${only}
         AND event IN ('CardPurchased', 'CardRenewed', 'LessonsConsumed', 'PeriodsReleased', 'RefundRequested', 'DisputeOpened', 'PaidOut')
     )
     SELECT merchant_id,
       count(price) FILTER (WHERE recent) AS sales_n_r,
       count(price) FILTER (WHERE NOT recent) AS sales_n_b,
       coalesce(sum(price) FILTER (WHERE recent), 0)::text AS sales_r,
       coalesce(sum(price) FILTER (WHERE NOT recent), 0)::text AS sales_b,
       coalesce(sum(amount) FILTER (WHERE price IS NOT NULL AND recent), 0)::text AS cust_r,
       coalesce(sum(amount) FILTER (WHERE price IS NOT NULL AND NOT recent), 0)::text AS cust_b,
       coalesce(sum(amount) FILTER (WHERE event IN ('LessonsConsumed', 'PeriodsReleased') AND recent), 0)::text AS cons_r,
       coalesce(sum(amount) FILTER (WHERE event IN ('LessonsConsumed', 'PeriodsReleased') AND NOT recent), 0)::text AS cons_b,
       count(*) FILTER (WHERE event = 'RefundRequested' AND recent) AS refund_req_r,
       count(*) FILTER (WHERE event = 'DisputeOpened' AND recent) AS disputes_r,
       coalesce(sum(amount) FILTER (WHERE event = 'PaidOut' AND recent), 0)::text AS paid_out_r
     FROM w GROUP BY merchant_id`,
    [baselineFrom, recentFrom, asOf, ...ids],
  );
  for (const r of flows) {
    const a = out.get(Number(r.merchant_id));
    if (!a) continue;
    a.salesRecentCount = Number(r.sales_n_r);
    a.salesBaselineCount = Number(r.sales_n_b);
    a.salesRecentFen = BigInt(r.sales_r);
    a.salesBaselineFen = BigInt(r.sales_b);
    a.custodiedRecentFen = BigInt(r.cust_r);
    a.custodiedBaselineFen = BigInt(r.cust_b);
    a.consumedRecentFen = BigInt(r.cons_r);
    a.consumedBaselineFen = BigInt(r.cons_b);
    a.refundRequestsRecent = Number(r.refund_req_r);
    a.disputesRecent = Number(r.disputes_r);
    a.paidOutRecentFen = BigInt(r.paid_out_r);
  }

  const active = await db.query<{ merchant_id: string; n: string }>(
    `SELECT c.merchant_id, count(*) AS n FROM cards c
     WHERE c.started_at <= $1 AND c.expires_at > $1 ${merchantIds ? "AND c.merchant_id = ANY($2::bigint[])" : ""}
       AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.card_id = c.card_id AND r.block_time <= $1)
     GROUP BY c.merchant_id`,
    [asOf, ...ids],
  );
  for (const r of active) {
    const a = out.get(Number(r.merchant_id));
    if (a) a.activeCards = Number(r.n);
  }
  return out;
}

/** Convenience: every merchant's activity and derived signals as of `asOf`. */
export async function chainSignals(
  db: Pick<Db, "query">,
  asOf: number,
  opts: DeriveOptions & { merchantIds?: number[] },
): Promise<Map<number, { activity: ChainActivity; signals: ChainSignals }>> {
  const acts = await chainActivity(db, asOf, opts, opts.merchantIds);
  const out = new Map<number, { activity: ChainActivity; signals: ChainSignals }>();
  for (const [id, a] of acts) out.set(id, { activity: a, signals: deriveChainSignals(a, opts) });
  return out;
}
