import { Db, queryOne } from "../store/db";
import { RISK_LEVELS, RiskLevel } from "./levels";
import { ratingHistory } from "./ratings";

/** Read models over the ratings: the levels of the district day by day, and a merchant's credit profile for banks. */

const DAY = 86_400;
const BEIJING = 8 * 3600;

/** The Beijing calendar date of a unix time, and back (a date's start in Beijing time). */
export const beijingDate = (t: number) => new Date((t + BEIJING) * 1000).toISOString().slice(0, 10);
export const beijingDayStart = (date: string) => Date.parse(`${date}T00:00:00+08:00`) / 1000;

/**
 * For each Beijing day from `from` to `to` (dates, at most 366 days), how many merchants were at each level at
 * the end of the day, by the rating in force then. Only `industries` when given.
 */
export async function levelsOverTime(
  db: Pick<Db, "query">,
  opts: { from: string; to: string; industryId?: number; industries?: number[] | null },
): Promise<{ date: string; low: number; medium: number; high: number }[]> {
  const start = beijingDayStart(opts.from);
  const end = beijingDayStart(opts.to);
  const rows = await db.query<{ day_end: string; level: RiskLevel; n: string }>(
    `SELECT d.day_end, r.level, count(*) AS n
     FROM generate_series($1::bigint + 86400, $2::bigint + 86400, 86400) AS d(day_end)
     JOIN risk_ratings r ON r.computed_at < d.day_end AND (r.superseded_at IS NULL OR r.superseded_at >= d.day_end)
     JOIN merchants m ON m.merchant_id = r.merchant_id
     WHERE ($3::int IS NULL OR m.industry_id = $3) AND ($4::int[] IS NULL OR m.industry_id = ANY($4::int[]))
     GROUP BY d.day_end, r.level`,
    [start, end, opts.industryId ?? null, opts.industries ?? null],
  );
  const byDay = new Map<number, { low: number; medium: number; high: number }>();
  for (let t = start; t <= end; t += DAY) byDay.set(t + DAY, { low: 0, medium: 0, high: 0 });
  for (const r of rows) {
    const day = byDay.get(Number(r.day_end));
    if (day && RISK_LEVELS.includes(r.level)) day[r.level] = Number(r.n);
  }
  return [...byDay.entries()].map(([dayEnd, c]) => ({ date: beijingDate(dayEnd - DAY), ...c }));
}

// ---------------------------------------------------------------- credit profile

interface Period {
  from: number;
  to: number;
}

const ratio = (a: number | bigint, b: number | bigint) => (Number(b) > 0 ? Math.round((Number(a) / Number(b)) * 10_000) / 10_000 : null);

/**
 * A merchant's custody record, for a bank deciding on a loan: how long it has been on the platform, what it sold,
 * how much of it was delivered, refunds, disputes, complaints and its risk level over time. Each figure says
 * the period it covers: the whole time on the platform, or the last 12 months. Money in fen as decimal strings.
 */
export async function creditProfile(db: Pick<Db, "query">, merchantId: number, now: number = Math.floor(Date.now() / 1000)) {
  type MerchantRow = Record<"admitted_at" | "bank_id" | "industry_id" | "status" | "released" | "paid_in" | "risk_level", string>;
  const [m] = await db.query<MerchantRow>("SELECT * FROM merchants WHERE merchant_id = $1", [merchantId]);
  if (!m) return null;
  const admittedAt = Number(m.admitted_at);
  const lifetime: Period = { from: admittedAt, to: now };
  const year: Period = { from: Math.max(admittedAt, now - 365 * DAY), to: now };

  type Flows = Record<"cards_all" | "renewals_all" | "sales_all" | "cards_y" | "renewals_y" | "sales_y" | "custodied_y" | "released_y" | "refund_requests_y" | "refund_requests_all", string>;
  const flows = await queryOne<Flows>(db,
    `SELECT
       count(*) FILTER (WHERE event = 'CardPurchased') AS cards_all,
       count(*) FILTER (WHERE event = 'CardRenewed') AS renewals_all,
       coalesce(sum(coalesce((args->>'price')::bigint, amount)) FILTER (WHERE event IN ('CardPurchased', 'CardRenewed')), 0)::text AS sales_all,
       count(*) FILTER (WHERE event = 'CardPurchased' AND block_time > $2) AS cards_y,
       count(*) FILTER (WHERE event = 'CardRenewed' AND block_time > $2) AS renewals_y,
       coalesce(sum(coalesce((args->>'price')::bigint, amount)) FILTER (WHERE event IN ('CardPurchased', 'CardRenewed') AND block_time > $2), 0)::text AS sales_y,
       coalesce(sum(amount) FILTER (WHERE event IN ('CardPurchased', 'CardRenewed') AND block_time > $2), 0)::text AS custodied_y,
       coalesce(sum(amount) FILTER (WHERE event IN ('LessonsConsumed', 'PeriodsReleased') AND block_time > $2), 0)::text AS released_y,
       count(*) FILTER (WHERE event = 'RefundRequested' AND block_time > $2) AS refund_requests_y,
       count(*) FILTER (WHERE event = 'RefundRequested') AS refund_requests_all
     FROM ledger WHERE merchant_id = $1 AND block_time <= $3`,
    [merchantId, year.from, now],
  );
  const refunds = await queryOne<Record<"n_all" | "amount_all" | "n_y" | "amount_y", string>>(db,
    `SELECT count(*) AS n_all, coalesce(sum(amount), 0)::text AS amount_all,
            count(*) FILTER (WHERE block_time > $2) AS n_y, coalesce(sum(amount) FILTER (WHERE block_time > $2), 0)::text AS amount_y
     FROM refunds WHERE merchant_id = $1`,
    [merchantId, year.from],
  );
  const disputes = await queryOne<Record<"n_all" | "n_y" | "decided_for_holder", string>>(db,
    `SELECT count(*) AS n_all, count(*) FILTER (WHERE opened_at > $2) AS n_y,
            count(*) FILTER (WHERE status <> 'open' AND refunded > 0) AS decided_for_holder
     FROM disputes WHERE merchant_id = $1`,
    [merchantId, year.from],
  );
  const complaints = await queryOne<Record<"complaints" | "tickets" | "refund_related", string>>(db,
    `SELECT count(*) FILTER (WHERE kind = 'complaint') AS complaints, count(*) FILTER (WHERE kind = 'hotline_ticket') AS tickets,
            count(*) FILTER (WHERE kind IN ('complaint', 'hotline_ticket') AND (fields->>'refund_related')::boolean) AS refund_related
     FROM risk_signals WHERE merchant_id = $1 AND occurred_at > $2 AND occurred_at <= $3`,
    [merchantId, year.from, now],
  );
  const active = await queryOne<{ n: string }>(db,
    `SELECT count(*) AS n FROM cards WHERE merchant_id = $1 AND status = 'active' AND expires_at > $2`,
    [merchantId, now],
  );
  const cardsSold = Number(flows.cards_all);
  const cardsYear = Number(flows.cards_y);
  const complaintCount = Number(complaints.complaints) + Number(complaints.tickets);
  const [rating] = await db.query<Record<string, unknown>>("SELECT level, score, computed_at, model_version FROM risk_ratings WHERE merchant_id = $1 AND superseded_at IS NULL", [merchantId]);
  const onChain = await db.query<Record<string, unknown>>("SELECT from_level, to_level, reason, block_time, tx_hash FROM risk_history WHERE merchant_id = $1 ORDER BY block_time, log_index", [merchantId]);
  const changes = await ratingHistory(db, merchantId, { changesOnly: true, limit: 100 });

  return {
    merchantId,
    bankId: Number(m.bank_id),
    industryId: Number(m.industry_id),
    status: m.status,
    asOf: now,
    monthsOnPlatform: { value: Math.floor(((now - admittedAt) / DAY / 30.4375) * 10) / 10, period: lifetime, admittedAt },
    cardSales: {
      lifetime: { cards: cardsSold, renewals: Number(flows.renewals_all), valueFen: flows.sales_all, period: lifetime },
      last12Months: { cards: cardsYear, renewals: Number(flows.renewals_y), valueFen: flows.sales_y, period: year },
    },
    consumptionRate: {
      lifetime: { value: ratio(BigInt(m.released), BigInt(m.paid_in)), releasedFen: String(m.released), custodiedFen: String(m.paid_in), period: lifetime },
      last12Months: { value: ratio(BigInt(flows.released_y), BigInt(flows.custodied_y)), releasedFen: flows.released_y, custodiedFen: flows.custodied_y, period: year },
      meaning: "money released by delivered lessons and elapsed periods over money taken into custody",
    },
    refundRate: {
      lifetime: { value: ratio(Number(refunds.n_all), cardsSold), refunds: Number(refunds.n_all), refundedFen: refunds.amount_all, valueShare: ratio(BigInt(refunds.amount_all), BigInt(m.paid_in)), requests: Number(flows.refund_requests_all), period: lifetime },
      last12Months: { value: ratio(Number(refunds.n_y), cardsYear), refunds: Number(refunds.n_y), refundedFen: refunds.amount_y, requests: Number(flows.refund_requests_y), period: year },
      meaning: "refunded cards over cards sold",
    },
    disputeRate: {
      lifetime: { value: ratio(Number(disputes.n_all), cardsSold), disputes: Number(disputes.n_all), decidedForHolder: Number(disputes.decided_for_holder), period: lifetime },
      last12Months: { value: ratio(Number(disputes.n_y), cardsYear), disputes: Number(disputes.n_y), period: year },
      meaning: "disputes opened over cards sold",
    },
    complaintRate: {
      last12Months: {
        per1000Cards: cardsYear + Number(active.n) > 0 ? Math.round((complaintCount * 1000 * 100) / Math.max(cardsYear, Number(active.n), 1)) / 100 : null,
        complaints: Number(complaints.complaints), hotlineTickets: Number(complaints.tickets), refundRelated: Number(complaints.refund_related),
        activeCards: Number(active.n), period: year,
      },
      meaning: "complaints and 12345 tickets per 1,000 cards (cards sold in the period, or active now if more)",
    },
    risk: {
      onChainLevel: m.risk_level,
      rating: rating
        ? { level: rating.level, score: Number(rating.score), modelVersion: rating.model_version, computedAt: Number(rating.computed_at) }
        : null,
      history: {
        onChain: onChain.map((r) => ({ from: r.from_level, to: r.to_level, reason: r.reason, at: Number(r.block_time), txHash: r.tx_hash })),
        ratingChanges: changes.map((c) => ({ level: c.level, computedLevel: c.computedLevel, score: c.score, at: c.computedAt })),
        period: lifetime,
      },
    },
  };
}
