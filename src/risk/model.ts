import { z } from "zod";
import { Db } from "../store/db";
import { chainActivity, ChainActivity, ChainSignals, deriveChainSignals } from "./chainSignals";
import { emptySummary, ExternalSummary, externalSignals, TREND_PRIOR_DAYS } from "./externalSignals";
import { REGISTRY_FACTS } from "./ingest";
import { RISK_LEVELS, RiskLevel, levelRank, maxLevel } from "./levels";
import { activeOverrides, RiskOverride } from "./overrides";
import modelV1Json from "./model-v1.json";

/**
 * The risk model: a transparent, additive score over a merchant's signals, configured per industry in a
 * versioned JSON file (model-v1.json). Each signal s with value v contributes
 *
 *     weight_s × min(max(v − threshold_s, 0), cap_s)
 *
 * and the score is the sum. The level is high at or over `levels.high`, medium at or over `levels.medium`.
 * Hard rules from the Beijing regulation then lift it: a merchant listed as a dishonest judgment debtor, on the
 * abnormal-operation list, or deregistering is at least high. A regulator's override in force wins over both.
 *
 * Rates are normalised by size, per 1,000 active cards with a floor (`sizeFloorCards`), so one complaint at a
 * ten-card shop does not weigh like ten at a hundred-card one; complaints, tickets, litigation and licence
 * changes decay with age (half-life in days).
 */

/** The scored signals; the explanation names them this way. */
export const MODEL_SIGNALS = [
  "complaints",
  "complaint_trend",
  "hotline_tickets",
  "litigation",
  "licence_changes",
  "sales_surge",
  "consumption_divergence",
  "refund_requests",
  "disputes",
  "payout_drain",
] as const;
export type ModelSignal = (typeof MODEL_SIGNALS)[number];

const HARD_RULE_FACTS = REGISTRY_FACTS.filter((f) => f !== "licence_change") as ["abnormal_operation", "dishonest_debtor", "deregistration"];

const positive = z.number().positive();
const nonNegative = z.number().min(0);
const signalParams = z.strictObject({ weight: nonNegative, threshold: nonNegative, cap: positive });
const levels = z
  .strictObject({ medium: nonNegative, high: nonNegative })
  .refine((l) => l.high >= l.medium, "levels.high is at least levels.medium");
const industryModel = z.strictObject({
  sizeFloorCards: z.number().int().min(1),
  levels,
  signals: z.strictObject(Object.fromEntries(MODEL_SIGNALS.map((s) => [s, signalParams])) as Record<ModelSignal, typeof signalParams>),
});
const partialParams = signalParams.partial().optional();
const industryOverride = z.strictObject({
  sizeFloorCards: z.number().int().min(1).optional(),
  levels: z.strictObject({ medium: nonNegative.optional(), high: nonNegative.optional() }).optional(),
  signals: z.strictObject(Object.fromEntries(MODEL_SIGNALS.map((s) => [s, partialParams])) as Record<ModelSignal, typeof partialParams>).partial().optional(),
});

export const riskModelSchema = z.strictObject({
  version: z.string().min(1),
  description: z.string(),
  windows: z.strictObject({ recentDays: z.number().int().min(1), baselineDays: z.number().int().min(1) }),
  halfLifeDays: z.strictObject({ complaint: positive, hotline_ticket: positive, litigation: positive, licence_change: positive }),
  lookbackHalfLives: positive,
  smoothingCards: nonNegative,
  refundRelatedFactor: nonNegative,
  /** complaint_trend: complaints and tickets in this many days against the merchant's own rate in the year before. */
  trend: z.strictObject({ recentDays: z.number().int().min(1), smoothing: positive, minPriorDays: z.number().int().min(1) }),
  litigation: z.strictObject({
    roles: z.record(z.string(), nonNegative),
    caseTypeWeights: z.record(z.string(), nonNegative),
    largeAmountFen: z.string().regex(/^\d{1,18}$/, "fen as a decimal string"),
    largeAmountFactor: nonNegative,
  }),
  hardRules: z.array(z.strictObject({ fact: z.enum(HARD_RULE_FACTS), atLeast: z.enum(RISK_LEVELS), basis: z.string().min(1) })),
  /**
   * Hysteresis: a merchant the score put at high (medium) stays there while its score is at least this share of
   * the high (medium) bar, so a level does not flap with every week's noise. 1: no hold. Optional (no hold).
   */
  hold: z.strictObject({ high: z.number().min(0).max(1), medium: z.number().min(0).max(1) }).optional(),
  default: industryModel,
  /** Keyed by industry id (as in src/chain/policies.ts); each overrides parts of the default. */
  industries: z.record(z.string().regex(/^\d+$/, "an industry id"), industryOverride),
});

export type RiskModel = z.infer<typeof riskModelSchema>;
export type IndustryModel = z.infer<typeof industryModel>;
export type SignalParams = z.infer<typeof signalParams>;

/** Validates a model configuration (a parsed model-*.json); throws with every problem listed. */
export function loadRiskModel(json: unknown): RiskModel {
  const r = riskModelSchema.safeParse(json);
  if (!r.success) {
    throw new Error(`invalid risk model: ${r.error.issues.map((i) => `${i.path.join(".") || "model"}: ${i.message}`).join("; ")}`);
  }
  return r.data;
}

/** The model the gateway runs: src/risk/model-v1.json. */
export const MODEL_V1: RiskModel = loadRiskModel(modelV1Json);

/** The default with the industry's overrides applied. */
export function industryModelOf(model: RiskModel, industryId: number): IndustryModel {
  const o = model.industries[String(industryId)];
  if (!o) return model.default;
  const signals = { ...model.default.signals };
  for (const s of MODEL_SIGNALS) {
    const p = o.signals?.[s] as Partial<SignalParams> | undefined;
    if (p) signals[s] = { ...signals[s], ...p };
  }
  return {
    sizeFloorCards: o.sizeFloorCards ?? model.default.sizeFloorCards,
    levels: { ...model.default.levels, ...o.levels },
    signals,
  };
}

// ---------------------------------------------------------------- ratings

/** One line of a rating's explanation. */
export interface ExplanationItem {
  /** A model signal, a registry fact of a hard rule, "level_hold" (hysteresis), or "regulator_override". */
  signal: ModelSignal | "abnormal_operation" | "dishonest_debtor" | "deregistration" | "level_hold" | "regulator_override";
  value: number;
  weight: number;
  threshold?: number;
  contribution: number;
  /** For a hard rule or an override: what it does and on what basis. */
  rule?: string;
  /** The figures behind the value (counts, active cards, the record that listed the merchant...). */
  detail?: Record<string, number | string | null>;
}

export interface MerchantRating {
  merchantId: number;
  industryId: number;
  /** The level in force: the override's when one is in force, else `computedLevel`. */
  level: RiskLevel;
  /** From the score and the hard rules. */
  computedLevel: RiskLevel;
  score: number;
  /**
   * Why: the override first, then hard rules, then contributing signals by contribution, largest first.
   * Signals that contributed nothing are left out.
   */
  explanation: ExplanationItem[];
  modelVersion: string;
  /** The moment rated, unix seconds. */
  asOf: number;
}

/** Everything known about one merchant at the moment rated: the model's input. */
export interface MerchantFacts {
  merchantId: number;
  industryId: number;
  activity: ChainActivity;
  chain: ChainSignals;
  external: ExternalSummary;
  override?: RiskOverride;
  /** The level the score (with the hold) gave at the merchant's previous rating, for the hold. */
  previous?: { scoreLevel: RiskLevel; computedAt: number };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/** Pure: rates one merchant from its facts. */
export function scoreMerchant(model: RiskModel, f: MerchantFacts, asOf: number): MerchantRating {
  const im = industryModelOf(model, f.industryId);
  const cards = Math.max(f.activity.activeCards, im.sizeFloorCards);
  const per1000 = (x: number) => (x * 1000) / cards;
  const size = { activeCards: f.activity.activeCards, floorCards: im.sizeFloorCards };
  const ext = f.external;
  // The chain's per-1,000 rates are recomputed with this industry's floor.
  const values: Record<ModelSignal, { value: number | null; detail?: ExplanationItem["detail"] }> = {
    complaints: { value: per1000(ext.complaints.decayed), detail: { count: ext.complaints.count, decayed: round(ext.complaints.decayed), ...size } },
    complaint_trend: complaintTrend(model, f, asOf),
    hotline_tickets: { value: per1000(ext.hotlineTickets.decayed), detail: { count: ext.hotlineTickets.count, decayed: round(ext.hotlineTickets.decayed), ...size } },
    litigation: { value: ext.litigation.decayed, detail: { count: ext.litigation.count } },
    licence_changes: { value: ext.licenceChanges.decayed, detail: { count: ext.licenceChanges.count } },
    sales_surge: {
      value: f.chain.salesSurge,
      detail: { salesRecentFen: f.activity.salesRecentFen.toString(), salesBaselineFen: f.activity.salesBaselineFen.toString(), baselineDays: round(f.activity.baselineDaysCovered) },
    },
    consumption_divergence: {
      value: f.chain.consumptionDivergence,
      detail: { salesSurge: nullable(f.chain.salesSurge), consumptionRatio: nullable(f.chain.consumptionRatio) },
    },
    refund_requests: { value: per1000(f.activity.refundRequestsRecent), detail: { count: f.activity.refundRequestsRecent, ...size } },
    disputes: { value: per1000(f.activity.disputesRecent), detail: { count: f.activity.disputesRecent, ...size } },
    payout_drain: {
      value: f.chain.payoutDrain,
      detail: { paidOutRecentFen: f.activity.paidOutRecentFen.toString(), custodiedRecentFen: f.activity.custodiedRecentFen.toString() },
    },
  };

  const items: ExplanationItem[] = [];
  let score = 0;
  for (const s of MODEL_SIGNALS) {
    const v = values[s].value;
    if (v === null || !Number.isFinite(v)) continue;
    const p = im.signals[s];
    const contribution = p.weight * Math.min(Math.max(v - p.threshold, 0), p.cap);
    if (contribution <= 0) continue;
    score += contribution;
    items.push({ signal: s, value: round(v), weight: p.weight, threshold: p.threshold, contribution: round(contribution), detail: values[s].detail });
  }
  items.sort((a, b) => b.contribution - a.contribution || a.signal.localeCompare(b.signal));

  let computed: RiskLevel = score >= im.levels.high ? "high" : score >= im.levels.medium ? "medium" : "low";
  const rules: ExplanationItem[] = [];
  const holds: ExplanationItem[] = [];
  const prev = f.previous?.scoreLevel;
  if (model.hold && prev && levelRank(prev) > levelRank(computed)) {
    // hysteresis: held at the previous level while the score stays near its bar
    const held: RiskLevel | null =
      prev === "high" && score >= model.hold.high * im.levels.high ? "high"
        : score >= model.hold.medium * im.levels.medium ? "medium" : null;
    if (held && levelRank(held) > levelRank(computed)) {
      const bar = held === "high" ? im.levels.high : im.levels.medium;
      const share = held === "high" ? model.hold.high : model.hold.medium;
      computed = held;
      holds.push({
        signal: "level_hold", value: round(score), weight: 0, contribution: 0,
        rule: `stays ${held}: it was ${prev} and the score is still at least ${share} of the ${held} bar (${bar})`,
        detail: { heldLevel: held, previousLevel: prev, previousAt: f.previous!.computedAt, bar: round(share * bar) },
      });
    }
  }
  for (const rule of model.hardRules) {
    const listing = ext.listings.find((l) => l.fact === rule.fact);
    if (!listing) continue;
    computed = maxLevel(computed, rule.atLeast);
    rules.push({
      signal: rule.fact, value: 1, weight: 0, contribution: 0, rule: `at least ${rule.atLeast}: ${rule.basis}`,
      detail: { recordId: listing.recordId, source: listing.source, listedAt: listing.listedAt, ...(listing.detail ? { detail: listing.detail } : {}) },
    });
  }
  const explanation = [...rules, ...holds, ...items];
  let level = computed;
  if (f.override) {
    level = f.override.level;
    explanation.unshift({
      signal: "regulator_override", value: levelRank(f.override.level), weight: 0, contribution: 0,
      rule: `${f.override.level} by regulator override: ${f.override.reason}`,
      detail: { overrideId: f.override.id, officer: f.override.officer, createdAt: f.override.createdAt, expiresAt: f.override.expiresAt, computedLevel: computed },
    });
  }
  return { merchantId: f.merchantId, industryId: f.industryId, level, computedLevel: computed, score: round(score), explanation, modelVersion: model.version, asOf };
}

/**
 * The level a rating's score gave, with the hold but without hard rules or overrides: what the hold of the next
 * rating starts from.
 */
export function scoreLevelOf(model: RiskModel, r: { industryId: number; score: number; explanation: ExplanationItem[] }): RiskLevel {
  const hold = r.explanation.find((e) => e.signal === "level_hold");
  if (hold?.detail?.heldLevel) return hold.detail.heldLevel as RiskLevel;
  const im = industryModelOf(model, r.industryId);
  return r.score >= im.levels.high ? "high" : r.score >= im.levels.medium ? "medium" : "low";
}

/** The score level of each merchant's rating in force just before `asOf` (for the hold). */
async function previousScoreLevels(db: Pick<Db, "query">, model: RiskModel, asOf: number, industries: Map<number, number>, merchantIds?: number[]) {
  const rows = await db.query<{ merchant_id: string; score: string; explanation: ExplanationItem[]; computed_at: string }>(
    `SELECT merchant_id, score, explanation, computed_at FROM risk_ratings
     WHERE computed_at < $1 AND (superseded_at IS NULL OR superseded_at >= $1) ${merchantIds ? "AND merchant_id = ANY($2::bigint[])" : ""}`,
    [asOf, ...(merchantIds ? [merchantIds] : [])],
  );
  const out = new Map<number, { scoreLevel: RiskLevel; computedAt: number }>();
  for (const r of rows) {
    const id = Number(r.merchant_id);
    const industryId = industries.get(id);
    if (industryId === undefined) continue;
    out.set(id, { scoreLevel: scoreLevelOf(model, { industryId, score: Number(r.score), explanation: r.explanation }), computedAt: Number(r.computed_at) });
  }
  return out;
}

/**
 * Complaints and tickets in the recent window over the merchant's own rate in the year before, per window of the
 * same length, smoothed by `trend.smoothing` complaints on both sides: 1 is as usual. A shop that always draws
 * complaints is not trending; one whose complaints climb is. null without enough history.
 */
function complaintTrend(model: RiskModel, f: MerchantFacts, asOf: number): { value: number | null; detail?: ExplanationItem["detail"] } {
  const recentFrom = asOf - model.trend.recentDays * 86_400;
  const priorDays = Math.min(TREND_PRIOR_DAYS, (recentFrom - f.activity.admittedAt) / 86_400);
  if (priorDays < model.trend.minPriorDays) return { value: null };
  const { recent, prior } = f.external.trend;
  const k = model.trend.smoothing;
  return {
    value: (recent + k) / ((prior * model.trend.recentDays) / priorDays + k),
    detail: { recent, prior, recentDays: model.trend.recentDays, priorDays: round(priorDays) },
  };
}

function nullable(x: number | null): number | null {
  return x === null ? null : round(x);
}

/**
 * Gathers the facts of every merchant admitted by `asOf` (or of `merchantIds`) from the index and the risk
 * tables, as they stood at `asOf`: a handful of set-based queries, whatever the number of merchants.
 */
export async function gatherFacts(db: Pick<Db, "query">, asOf: number, model: RiskModel = MODEL_V1, merchantIds?: number[]): Promise<MerchantFacts[]> {
  const activity = await chainActivity(db, asOf, model.windows, merchantIds);
  const external = await externalSignals(
    db,
    asOf,
    {
      halfLifeDays: model.halfLifeDays,
      lookbackHalfLives: model.lookbackHalfLives,
      refundRelatedFactor: model.refundRelatedFactor,
      litigationRoles: model.litigation.roles,
      caseTypeWeights: model.litigation.caseTypeWeights,
      largeAmountFen: BigInt(model.litigation.largeAmountFen),
      largeAmountFactor: model.litigation.largeAmountFactor,
      trendDays: model.trend.recentDays,
    },
    merchantIds,
  );
  const overrides = await activeOverrides(db, asOf, merchantIds);
  const previous = model.hold
    ? await previousScoreLevels(db, model, asOf, new Map([...activity].map(([id, a]) => [id, a.industryId])), merchantIds)
    : new Map<number, { scoreLevel: RiskLevel; computedAt: number }>();
  const out: MerchantFacts[] = [];
  for (const [id, a] of activity) {
    const im = industryModelOf(model, a.industryId);
    out.push({
      merchantId: id,
      industryId: a.industryId,
      activity: a,
      chain: deriveChainSignals(a, { ...model.windows, sizeFloorCards: im.sizeFloorCards, smoothingCards: model.smoothingCards }),
      external: external.get(id) ?? emptySummary(),
      override: overrides.get(id),
      previous: previous.get(id),
    });
  }
  return out.sort((a, b) => a.merchantId - b.merchantId);
}

/**
 * Rates every merchant admitted by `asOf` (unix seconds), or only `opts.merchantIds`, with `model`.
 * Reads only; store the result with recordRatings.
 */
export async function rateMerchants(
  db: Pick<Db, "query">,
  asOf: number,
  model: RiskModel = MODEL_V1,
  opts: { merchantIds?: number[] } = {},
): Promise<MerchantRating[]> {
  const facts = await gatherFacts(db, asOf, model, opts.merchantIds);
  return facts.map((f) => scoreMerchant(model, f, asOf));
}
