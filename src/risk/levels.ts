/** Risk levels, in rising order; the same names as the contract's RiskLevel and the index's merchants.risk_level. */
export const RISK_LEVELS = ["low", "medium", "high"] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export const levelRank = (l: RiskLevel): number => RISK_LEVELS.indexOf(l);
export const maxLevel = (a: RiskLevel, b: RiskLevel): RiskLevel => (levelRank(a) >= levelRank(b) ? a : b);
