import { Router } from "express";
import { MONEY_EVENTS } from "../../indexing/ledgerRow";
import { z } from "zod";
import { fenText, list } from "../answers";
import { Principal } from "../auth";
import { Access } from "../access";
import { Gate, defineRoute, wholeNumber } from "../http";
import { Services, industriesOf } from "../../services/context";
import { ApiError } from "../errors";
import { Db } from "../../store/db";
import { MerchantScope, moneyBuckets, moneyByIndustry } from "../../store/stats";

type Auth = Gate;

/** Buckets are cut on Beijing time (UTC+8, no daylight saving), the district's own calendar. */
export const BEIJING_OFFSET = 8 * 3600;
const DAY = 86_400;
/** 1970-01-01 was a Thursday: shifting by three days makes weeks start on Monday. */
const WEEK_SHIFT = 3 * DAY;
const MAX_BUCKETS = 20_000;

const BUCKETS = ["hour", "day", "week", "month"] as const;
type Bucket = (typeof BUCKETS)[number];

export interface MoneyPoint {
  /** The bucket's first second (unix time). */
  start: number;
  paidInFen: string;
  releasedFen: string;
  refundedFen: string;
  paidOutFen: string;
  /** Held in escrow at the end of the bucket: everything paid in so far less everything released and refunded. */
  heldFen: string;
}

/**
 * Which merchants a principal's statistics cover (none given: all). A merchant
 * or industry named in the query was checked against the caller by the access rule.
 */
async function scopeOf(db: Db, p: Principal, q: { industryId?: number; merchantId?: number }): Promise<MerchantScope> {
  const scope: MerchantScope = {};
  if (q.merchantId !== undefined) scope.merchantId = q.merchantId;
  else if (p.role === "merchant") scope.merchantId = Number(p.subject);
  if (q.industryId !== undefined) scope.industryId = q.industryId;
  if (p.role === "industry_regulator") scope.industries = await industriesOf(db, p.subject ?? "");
  if (p.role === "bank") scope.bankId = Number(p.subject);
  return scope;
}

/**
 * Money movements from the ledger, summed per bucket: paid in (custodied part of purchases and renewals), released
 * (lessons, periods, the merchant's share of a decided dispute), refunded, paid out; and what escrow held at the end
 * of each bucket, counted from the first event (so a window that starts later still opens with the right balance).
 */
export async function moneyOverTime(db: Db, scope: MerchantScope, bucket: Bucket, window: { fromTime?: number; toTime?: number }) {
  const size = bucket === "hour" ? 3600 : bucket === "week" ? 7 * DAY : DAY;
  const shift = BEIJING_OFFSET + (bucket === "week" ? WEEK_SHIFT : 0);
  const rows = await moneyBuckets(db, scope, MONEY_EVENTS, size, shift);
  let buckets: Acc[] = rows.map((r) => ({
    start: Number(r.b) * size - shift, end: (Number(r.b) + 1) * size - shift, paidIn: BigInt(r.paid_in), released: BigInt(r.released), refunded: BigInt(r.refunded), paidOut: BigInt(r.paid_out),
  }));
  if (bucket === "month") buckets = byMonth(buckets);
  const first = buckets[0], last = buckets.at(-1);
  if (first && last && bucket !== "month" && (last.start - first.start) / size + 1 > MAX_BUCKETS) {
    throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "query.bucket", reason: `more than ${MAX_BUCKETS} buckets: choose a larger bucket` }]);
  }
  let held = 0n;
  let heldAtEnd = 0n;
  const series: MoneyPoint[] = [];
  const totals = { paidIn: 0n, released: 0n, refunded: 0n, paidOut: 0n };
  const take = (b: Acc) => {
    held += b.paidIn - b.released - b.refunded;
    if (window.fromTime !== undefined && b.end <= window.fromTime) { heldAtEnd = held; return; }
    if (window.toTime !== undefined && b.start > window.toTime) return;
    heldAtEnd = held;
    totals.paidIn += b.paidIn; totals.released += b.released; totals.refunded += b.refunded; totals.paidOut += b.paidOut;
    series.push({
      start: b.start, paidInFen: b.paidIn.toString(), releasedFen: b.released.toString(), refundedFen: b.refunded.toString(),
      paidOutFen: b.paidOut.toString(), heldFen: held.toString(),
    });
  };
  // Buckets where nothing moved are in the series too (as zeros), so a chart's x axis is time, evenly.
  let prev: Acc | null = null;
  for (const b of buckets) {
    while (prev && prev.end < b.start) {
      const start: number = prev.end;
      prev = { start, end: bucket === "month" ? monthAfter(start) : start + size, paidIn: 0n, released: 0n, refunded: 0n, paidOut: 0n };
      take(prev);
    }
    take(b);
    prev = b;
  }
  return {
    series,
    totals: { paidInFen: totals.paidIn.toString(), releasedFen: totals.released.toString(), refundedFen: totals.refunded.toString(), paidOutFen: totals.paidOut.toString(), heldFen: heldAtEnd.toString() },
  };
}

/** One bucket's sums; `start` and `end` in unix seconds, `end` excluded. */
interface Acc { start: number; end: number; paidIn: bigint; released: bigint; refunded: bigint; paidOut: bigint }

/** The start of the Beijing calendar month after the one starting at `start`. */
function monthAfter(start: number): number {
  const local = new Date((start + BEIJING_OFFSET) * 1000);
  return Date.UTC(local.getUTCFullYear(), local.getUTCMonth() + 1, 1) / 1000 - BEIJING_OFFSET;
}

/** Day buckets (Beijing time) folded into calendar months. */
function byMonth(days: Acc[]): Acc[] {
  const out: Acc[] = [];
  for (const d of days) {
    const local = new Date((d.start + BEIJING_OFFSET) * 1000);
    const [y, mo] = [local.getUTCFullYear(), local.getUTCMonth()];
    const start = Date.UTC(y, mo, 1) / 1000 - BEIJING_OFFSET;
    const last = out[out.length - 1];
    if (last && last.start === start) {
      last.paidIn += d.paidIn; last.released += d.released; last.refunded += d.refunded; last.paidOut += d.paidOut;
    } else {
      out.push({ start, end: monthAfter(start), paidIn: d.paidIn, released: d.released, refunded: d.refunded, paidOut: d.paidOut });
    }
  }
  return out;
}

export function statsRoutes(router: Router, s: Services, auth: Auth) {
  const notes = {
    industry_regulator: "without merchantId or industryId: its industries' merchants",
    bank: "without merchantId: the merchants in custody with it",
    merchant: "without merchantId: itself",
  };
  const moneyAccess: Access = {
    roles: { platform_regulator: "any", auditor: "any", industry_regulator: "own", bank: "own", merchant: "own" },
    tenant: { merchant: "query.merchantId", industry: "query.industryId" },
    notes,
  };

  defineRoute(router, {
    method: "get", path: "/v1/stats/money", tag: "stats",
    summary: "Read money paid in, released, refunded and held over time", response: z.object({
      bucket: z.enum(BUCKETS), utcOffsetSeconds: z.number(), industryId: z.number().nullable(), merchantId: z.number().nullable(),
      series: z.array(z.object({ start: z.number(), paidInFen: fenText, releasedFen: fenText, refundedFen: fenText, paidOutFen: fenText, heldFen: fenText })),
      totals: z.object({ paidInFen: fenText, releasedFen: fenText, refundedFen: fenText, paidOutFen: fenText, heldFen: fenText }),
    }),
    responds: "one point per bucket (Beijing time) with the fen that moved in it and what escrow held at its end; scoped to what the caller may see",
    access: moneyAccess,
    query: z.object({
      bucket: z.enum(BUCKETS).default("day"),
      industryId: z.coerce.number().int().min(0).max(65535).optional(),
      merchantId: z.coerce.number().int().min(1).max(2 ** 32 - 1).optional(),
      fromTime: wholeNumber.optional(),
      toTime: wholeNumber.optional(),
    }).strict(),
    handler: async ({ query, principal }) => {
      const scope = await scopeOf(s.db, principal!, query);
      const out = await moneyOverTime(s.db, scope, query.bucket, query);
      return { bucket: query.bucket, utcOffsetSeconds: BEIJING_OFFSET, industryId: query.industryId ?? null, merchantId: query.merchantId ?? null, ...out };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/stats/money/industries", tag: "stats",
    summary: "Read money paid in, released, refunded and held per industry", response: list(z.object({
      industryId: z.number(), merchants: z.number(), paidInFen: fenText, releasedFen: fenText, refundedFen: fenText, paidOutFen: fenText, heldFen: fenText,
    })),
    responds: "the index's current totals per industry, scoped to what the caller may see",
    access: {
      roles: { platform_regulator: "any", auditor: "any", industry_regulator: "scoped", bank: "scoped", merchant: "scoped" },
      notes: { industry_regulator: "its industries' merchants", bank: "the merchants in custody with it", merchant: "itself" },
    },
    handler: async ({ principal }) => {
      const scope = await scopeOf(s.db, principal!, {});
      const rows = await moneyByIndustry(s.db, scope);
      return {
        items: rows.map((r) => ({
          industryId: Number(r.industry_id), merchants: Number(r.merchants), paidInFen: r.paid_in, releasedFen: r.released, refundedFen: r.refunded,
          paidOutFen: r.paid_out, heldFen: (BigInt(r.paid_in) - BigInt(r.released) - BigInt(r.refunded)).toString(),
        })),
      };
    },
  }, auth);
}
