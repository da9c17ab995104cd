/**
 * Beijing's defaults for the "1+N" policy: one district policy and the industries' own ones.
 * Money in fen. Sources: 北京市单用途预付卡管理条例 (2022) and the national rules it builds on.
 */
export interface PolicyInput {
  custodyBps: number;
  coolingOffDays: number;
  exitNoticeDays: number;
  maxLessons: number;
  maxValidityDays: number;
  maxCardValue: bigint;
  maxAnonymousValue: bigint;
  mediumRiskCap30d: bigint;
  /** A merchant's prepaid balance (all unused prepaid money of its cards) at which it files with its regulator, fen. */
  filingThreshold: bigint;
}

export const CNY = 100n; // fen per yuan

/** "No cap" for the lesson and validity caps: the largest uint16. A cap is never 0 (the registry refuses it). */
export const NO_CAP_U16 = 65_535;
/** "No cap" for the money caps: the largest uint48 (fen). */
export const NO_CAP_FEN = 2n ** 48n - 1n;

/**
 * The law's floors for the district's policy (the registry refuses a district policy below them): custody >= 40%
 * (京商秩字〔2023〕18号), cooling-off >= 7 days (法释〔2025〕4号), exit notice >= 30 days (京商秩字〔2023〕18号).
 */
export const LAW_FLOORS = { custodyBps: 4000, coolingOffDays: 7, exitNoticeDays: 30 } as const;

/** Beijing's filing threshold: a merchant files once its prepaid balance reaches 500,000 CNY; the most the district may set. */
export const FILING_THRESHOLD_FEN = 500_000n * CNY;

/** The district's default ("1"): 40% custody, 7 cooling-off days, 30 days' exit notice, named 5,000 / anonymous 1,000 CNY. */
export const DEFAULT_POLICY: PolicyInput = {
  custodyBps: 4000,
  coolingOffDays: 7,
  exitNoticeDays: 30,
  maxLessons: NO_CAP_U16,
  maxValidityDays: NO_CAP_U16,
  maxCardValue: 5_000n * CNY,
  maxAnonymousValue: 1_000n * CNY,
  mediumRiskCap30d: 20_000n * CNY,
  filingThreshold: FILING_THRESHOLD_FEN,
};

/** Training and youth sports: 100% custody, at most 60 lessons, 3 months and 5,000 CNY a card. */
export const TRAINING_POLICY: PolicyInput = {
  ...DEFAULT_POLICY,
  custodyBps: 10_000,
  maxLessons: 60,
  maxValidityDays: 92,
  mediumRiskCap30d: 10_000n * CNY,
};

export interface IndustryDefinition {
  id: number;
  code: string;
  name: string;
  /** The responsible industry regulator; null: none designated (tickets go to the market regulation bureau). */
  regulator: string | null;
  policy: PolicyInput | null;
  /** The industry's custody floor set by the platform regulator, basis points (100% for education, 教监管函〔2021〕2号). */
  custodyFloorBps?: number;
}

/**
 * The industries a district starts with. Ids are stable codes shared by chain and gateway. No industry may hold less than
 * the district's 40% in custody; education and youth sports hold everything.
 */
export const BEIJING_INDUSTRIES: IndustryDefinition[] = [
  { id: 1, code: "education", name: "Education and training (教育培训)", regulator: "education-commission", policy: TRAINING_POLICY, custodyFloorBps: 10_000 },
  { id: 2, code: "youth-sports", name: "Youth sports training (青少年体育培训)", regulator: "sports-bureau", policy: TRAINING_POLICY, custodyFloorBps: 10_000 },
  { id: 3, code: "fitness", name: "Fitness (健身)", regulator: "sports-bureau", policy: { ...DEFAULT_POLICY, custodyBps: 4000 } },
  { id: 4, code: "beauty", name: "Beauty and hairdressing (美容美发)", regulator: "commerce-bureau", policy: { ...DEFAULT_POLICY, custodyBps: 4000 } },
  { id: 5, code: "car-wash", name: "Car wash (洗车)", regulator: "commerce-bureau", policy: { ...DEFAULT_POLICY, custodyBps: 4000 } },
  { id: 6, code: "retail", name: "Retail shopping cards (购物卡)", regulator: "commerce-bureau", policy: { ...DEFAULT_POLICY, custodyBps: 4000 } },
  { id: 7, code: "pet-care", name: "Pet care (宠物服务)", regulator: null, policy: null },
];

/** The policy's money caps, in fen. */
const MONEY_FIELDS = ["maxCardValue", "maxAnonymousValue", "mediumRiskCap30d", "filingThreshold"] as const;

/**
 * A policy as the API answers it: the money caps as decimal strings of fen, like every amount the API gives, the
 * other fields (basis points, days, lessons) as numbers. `stored` is the policy as the index keeps it (the event's
 * decoded tuple, JSON); null stays null (an industry on the district's default).
 */
export function policyAnswer(stored: unknown): Record<string, string | number> | null {
  if (stored === null || stored === undefined) return null;
  const p = (typeof stored === "string" ? JSON.parse(stored) : stored) as Record<string, string | number>;
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(p)) out[k] = (MONEY_FIELDS as readonly string[]).includes(k) ? BigInt(v).toString() : Number(v);
  return out;
}
