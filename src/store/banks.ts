import { Db, Row, queryOne } from "./db";

/** The banks table and the custody figures kept per bank (its merchants' balances, its payouts and refunds). */

type Query = Pick<Db, "query">;

export interface BankRow {
  bank_id: number;
  account: string;
  token: string;
}

export async function bankById(db: Query, bankId: number): Promise<BankRow | undefined> {
  const [b] = await db.query<BankRow & Row>("SELECT * FROM banks WHERE bank_id = $1", [bankId]);
  return b;
}

export async function bankExists(db: Query, bankId: number): Promise<boolean> {
  return (await db.query("SELECT 1 FROM banks WHERE bank_id = $1", [bankId])).length > 0;
}

export interface BankMerchantRow {
  merchant_id: string;
  status: string;
  paid_in: string;
  released: string;
  refunded: string;
  paid_out: string;
}

/** The bank's merchants after `afterId`, by id, `limit` of them. */
export async function bankMerchantsPage(db: Query, bankId: number, afterId: string, limit: number): Promise<BankMerchantRow[]> {
  return db.query<BankMerchantRow & Row>(
    `SELECT merchant_id, status, paid_in, released, refunded, paid_out FROM merchants WHERE bank_id = $1 AND merchant_id > $2
     ORDER BY merchant_id LIMIT ${Number(limit)}`,
    [bankId, afterId],
  );
}

/** What the index says the bank holds in custody and owes its merchants, summed over them. */
export async function bankTotals(db: Query, bankId: number): Promise<{ held: string; payable: string }> {
  return queryOne<{ held: string; payable: string }>(db,
    "SELECT coalesce(sum(paid_in - released - refunded), 0) AS held, coalesce(sum(released - paid_out), 0) AS payable FROM merchants WHERE bank_id = $1",
    [bankId],
  );
}

/** The bank's payouts or refunds after position `afterPos` (block_number * 100000 + log_index), `limit` of them. */
export async function bankMovementsPage(db: Query, bankId: number, kind: "payout" | "refund", afterPos: string, limit: number): Promise<Row[]> {
  const table = kind === "payout" ? "payouts" : "refunds";
  return db.query(
    `SELECT *, block_number * 100000 + log_index AS pos FROM ${table} WHERE bank_id = $1 AND block_number * 100000 + log_index > $2
     ORDER BY pos LIMIT ${Number(limit)}`,
    [bankId, afterPos],
  );
}
