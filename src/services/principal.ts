/** The roles an API key (or a consumer's session) has. */
export const ROLES = ["platform_regulator", "industry_regulator", "bank", "merchant", "auditor", "consumer"] as const;
export type Role = (typeof ROLES)[number];

/**
 * Who is calling. `subject` says which one: the bank id for a bank, the merchant id for a merchant, the
 * account address for regulators and consumers; auditors see everything and have none.
 */
export interface Principal {
  keyId: string;
  role: Role;
  subject: string | null;
  label: string;
}
