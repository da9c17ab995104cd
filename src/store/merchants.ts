import { Db, Row } from "./db";

/** The merchants table, with the profiles and industries read beside it. */

type Query = Pick<Db, "query">;

export async function merchantExists(db: Query, merchantId: number): Promise<boolean> {
  return (await db.query("SELECT 1 FROM merchants WHERE merchant_id = $1", [merchantId])).length > 0;
}

/** A merchant with what access checks need: its bank, its industry and that industry's regulator. */
export interface MerchantFacts {
  merchant_id: string;
  account: string;
  industry_id: number;
  bank_id: number;
  status: string;
  risk_level: string;
  industry_regulator: string | null;
  [k: string]: unknown;
}

export async function merchantFactsById(db: Query, merchantId: number): Promise<MerchantFacts | undefined> {
  const [m] = await db.query<MerchantFacts>(
    "SELECT m.*, i.regulator AS industry_regulator FROM merchants m LEFT JOIN industries i ON i.industry_id = m.industry_id WHERE m.merchant_id = $1",
    [merchantId],
  );
  return m;
}

/** The same facts for many merchants: merchant_id, bank_id, industry_id and industry_regulator only. */
export async function merchantFactsByIds(db: Query, merchantIds: number[]): Promise<MerchantFacts[]> {
  return db.query<MerchantFacts>(
    "SELECT m.merchant_id, m.bank_id, m.industry_id, i.regulator AS industry_regulator FROM merchants m LEFT JOIN industries i ON i.industry_id = m.industry_id WHERE m.merchant_id = ANY($1::bigint[])",
    [merchantIds],
  );
}

/** The ids of the merchants of `industries`, or of bank `bankId`. */
export async function merchantIdsWhere(db: Query, where: { industries: number[] } | { bankId: number }): Promise<number[]> {
  const rows = "industries" in where
    ? await db.query<{ merchant_id: string }>("SELECT merchant_id FROM merchants WHERE industry_id = ANY($1::int[])", [where.industries])
    : await db.query<{ merchant_id: string }>("SELECT merchant_id FROM merchants WHERE bank_id = $1", [where.bankId]);
  return rows.map((r) => Number(r.merchant_id));
}

/** Merchants after `afterId` by id, `limit` of them, matching every filter given. */
export async function merchantsPage(db: Query, f: {
  afterId: string; limit: number; status?: string; industryId?: number; riskLevel?: string; industries?: number[]; bankId?: number;
}): Promise<Row[]> {
  const args: unknown[] = [f.afterId];
  const where = ["merchant_id > $1"];
  const add = (sql: string, v: unknown) => {
    args.push(v);
    where.push(sql.replace("?", `$${args.length}`));
  };
  if (f.status) add("status = ?", f.status);
  if (f.industryId !== undefined) add("industry_id = ?", f.industryId);
  if (f.riskLevel) add("risk_level = ?", f.riskLevel);
  if (f.industries) add("industry_id = ANY(?::int[])", f.industries);
  if (f.bankId !== undefined) add("bank_id = ?", f.bankId);
  return db.query(`SELECT * FROM merchants WHERE ${where.join(" AND ")} ORDER BY merchant_id LIMIT ${Number(f.limit)}`, args);
}

/** A merchant's on-chain risk level changes, oldest first (`newestFirst`: the last 100, newest first). */
export async function riskHistoryOf(db: Query, merchantId: number, opts: { newestFirst?: boolean } = {}): Promise<Row[]> {
  return opts.newestFirst
    ? db.query("SELECT from_level, to_level, reason, block_time, tx_hash FROM risk_history WHERE merchant_id = $1 ORDER BY block_time DESC, log_index DESC LIMIT 100", [merchantId])
    : db.query("SELECT from_level, to_level, reason, block_time FROM risk_history WHERE merchant_id = $1 ORDER BY block_time", [merchantId]);
}

export interface ProfileRow {
  merchant_id: string;
  name: string | null;
  district: string | null;
  registration_number: string | null;
}

/** The profiles (name, district, registration number) of `merchantIds`, by id. */
export async function profilesOf(db: Query, merchantIds: number[]): Promise<ProfileRow[]> {
  return db.query<ProfileRow & Row>(
    "SELECT merchant_id, name, district, registration_number FROM merchant_profiles WHERE merchant_id = ANY($1::bigint[]) ORDER BY merchant_id", [merchantIds]);
}

/** What the public look-up shows of a merchant: its facts, profile, policy and rated level. */
const PUBLIC_MERCHANT_SQL = `
SELECT m.merchant_id, m.industry_id, m.bank_id, m.status, m.risk_level, m.admitted_at, m.breach_recorded_at,
       p.name, p.registration_number, p.district, i.policy AS industry_policy, d.policy AS default_policy, r.level AS rated_level
FROM merchants m
LEFT JOIN merchant_profiles p ON p.merchant_id = m.merchant_id
LEFT JOIN industries i ON i.industry_id = m.industry_id
LEFT JOIN industries d ON d.industry_id = 0
LEFT JOIN risk_ratings r ON r.merchant_id = m.merchant_id AND r.superseded_at IS NULL`;

export async function publicMerchantById(db: Query, merchantId: number): Promise<Row | undefined> {
  const [row] = await db.query(`${PUBLIC_MERCHANT_SQL} WHERE m.merchant_id = $1`, [merchantId]);
  return row;
}

/**
 * The public look-up's search: merchants after `afterId` by id, `limit` of them. `q` matches a name (part of it), a
 * registration number or its on-chain reference (`qRef`); `registrationNumber` one of the last two.
 */
export async function searchPublicMerchants(db: Query, f: {
  afterId: string; limit: number; q?: { text: string; ref: string }; registrationNumber?: { text: string; ref: string };
  district?: string; industryId?: number; status?: string;
}): Promise<Row[]> {
  const args: unknown[] = [f.afterId];
  const where = ["m.merchant_id > $1"];
  const add = (sql: string, ...v: unknown[]) => {
    let out = sql;
    for (const x of v) {
      args.push(x);
      out = out.replace("?", `$${args.length}`);
    }
    where.push(out);
  };
  if (f.q) {
    const like = `%${f.q.text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    add("(lower(p.name) LIKE ? OR p.registration_number = ? OR m.registry_ref = ?)", like, f.q.text, f.q.ref);
  }
  if (f.registrationNumber) add("(p.registration_number = ? OR m.registry_ref = ?)", f.registrationNumber.text, f.registrationNumber.ref);
  if (f.district) add("lower(p.district) = ?", f.district.toLowerCase());
  if (f.industryId !== undefined) add("m.industry_id = ?", f.industryId);
  if (f.status) add("m.status = ?", f.status);
  return db.query(`${PUBLIC_MERCHANT_SQL} WHERE ${where.join(" AND ")} ORDER BY m.merchant_id LIMIT ${Number(f.limit)}`, args);
}
