/**
 * Scores replayed risk ratings against the merchants' fates (shared by bench/risk.ts and bench/risk-tune.ts).
 *
 * Days are simulation days (bench/risk-city.ts); the period runs from firstDay to SIM_DAYS.
 *
 * - recall: collapses from day firstDay + 30 to the period's end rated high at least once 30 to 90 days before
 *   the collapse;
 * - precision: of all high ratings (one per merchant per replay step) given up to 90 days before the period
 *   ends, to merchants still operating (not collapsed, not exited), the share followed by the merchant's collapse
 *   within 90 days; also per escalation (each rise to high) and per merchant.
 */
import { RiskLevel } from "../src/risk/levels";
import { MerchantTruth, SIM_DAYS } from "./risk-city";

export const WARN_MIN = 30;
export const WARN_MAX = 90;

export interface StepRating {
  merchantId: number;
  level: RiskLevel;
  /** High only because of a hard rule (the score alone was below high). */
  ruleOnly: boolean;
}

export interface Evaluation {
  recall: number;
  precision: number;
  collapses: number;
  collapsesEvaluated: number;
  collapsesCaught: number;
  highRatingsJudged: number;
  trueHighRatings: number;
  falseHighRatingsFromHardRulesOnly: number;
  /** Precision of the high ratings the score gave (hard-rule-only highs left out). */
  precisionOfScoreHighs: number;
  scoreHighRatingsJudged: number;
  precisionPerEscalation: number;
  escalationsJudged: number;
  precisionPerMerchant: number;
  merchantsRatedHigh: number;
  recallMediumOrHigh: number;
  recallSuddenCollapses: number;
  recallOtherCollapses: number;
  suddenCollapsesEvaluated: number;
  ratingsOfOperatingMerchants: number;
}

/** The merchant is on the platform and trading on `day`: admitted, not collapsed, not exited. */
export function operating(m: MerchantTruth, day: number): boolean {
  return m.admittedDay <= day && (m.collapseDay === null || day < m.collapseDay) && (m.exitDay === null || day < m.exitDay);
}

export function evaluate(truthList: MerchantTruth[], steps: { day: number; ratings: StepRating[] }[], firstDay: number): Evaluation {
  const truth = new Map(truthList.map((m) => [m.merchantId, m]));
  const warned = new Map<number, { high: boolean; medium: boolean }>();
  const previous = new Map<number, RiskLevel>();
  const highs: { merchantId: number; day: number; escalation: boolean; ruleOnly: boolean }[] = [];
  let ratingsGiven = 0;
  for (const { day, ratings } of [...steps].sort((a, b) => a.day - b.day)) {
    for (const r of ratings) {
      const m = truth.get(r.merchantId)!;
      const prev = previous.get(r.merchantId);
      previous.set(r.merchantId, r.level);
      if (!operating(m, day)) continue;
      ratingsGiven++;
      if (m.collapseDay !== null && m.collapseDay - day >= WARN_MIN && m.collapseDay - day <= WARN_MAX) {
        const w = warned.get(m.merchantId) ?? { high: false, medium: false };
        if (r.level === "high") w.high = true;
        if (r.level !== "low") w.medium = true;
        warned.set(m.merchantId, w);
      }
      if (r.level === "high") highs.push({ merchantId: r.merchantId, day, escalation: prev !== "high", ruleOnly: r.ruleOnly });
    }
  }
  const horizon = SIM_DAYS - 1 - WARN_MAX;
  const judged = highs.filter((h) => h.day <= horizon);
  const isTrue = (h: { merchantId: number; day: number }) => {
    const c = truth.get(h.merchantId)!.collapseDay;
    return c !== null && c > h.day && c - h.day <= WARN_MAX;
  };
  const trueHighs = judged.filter(isTrue).length;
  const escalations = judged.filter((h) => h.escalation);
  const byMerchant = new Map<number, boolean>();
  for (const h of judged) byMerchant.set(h.merchantId, (byMerchant.get(h.merchantId) ?? false) || isTrue(h));

  const collapses = truthList.filter((m) => m.collapseDay !== null && m.collapseDay < SIM_DAYS);
  const evaluated = collapses.filter((m) => m.collapseDay! >= firstDay + WARN_MIN);
  const caught = (m: MerchantTruth) => warned.get(m.merchantId)?.high ?? false;
  const sudden = evaluated.filter((m) => m.traits.includes("collapse:sudden"));
  const other = evaluated.filter((m) => !m.traits.includes("collapse:sudden"));
  const share = (xs: unknown[], of: unknown[]) => (of.length ? xs.length / of.length : 0);
  return {
    recall: share(evaluated.filter(caught), evaluated),
    precision: share(judged.filter(isTrue), judged),
    collapses: collapses.length,
    collapsesEvaluated: evaluated.length,
    collapsesCaught: evaluated.filter(caught).length,
    highRatingsJudged: judged.length,
    trueHighRatings: trueHighs,
    falseHighRatingsFromHardRulesOnly: judged.filter((h) => h.ruleOnly && !isTrue(h)).length,
    precisionOfScoreHighs: share(judged.filter((h) => !h.ruleOnly && isTrue(h)), judged.filter((h) => !h.ruleOnly)),
    scoreHighRatingsJudged: judged.filter((h) => !h.ruleOnly).length,
    precisionPerEscalation: share(escalations.filter(isTrue), escalations),
    escalationsJudged: escalations.length,
    precisionPerMerchant: share([...byMerchant.values()].filter(Boolean), [...byMerchant.values()]),
    merchantsRatedHigh: byMerchant.size,
    recallMediumOrHigh: share(evaluated.filter((m) => warned.get(m.merchantId)?.medium), evaluated),
    recallSuddenCollapses: share(sudden.filter(caught), sudden),
    recallOtherCollapses: share(other.filter(caught), other),
    suddenCollapsesEvaluated: sudden.length,
    ratingsOfOperatingMerchants: ratingsGiven,
  };
}
