import { Db, Row } from "./db";
import { coalescedLookup } from "./coalesce";

/**
 * Reads of the other indexed tables, one per question the API asks: plans, cards, the voucher queue, disputes,
 * industries, hotline tickets, ledger rows, ratings and the audit log.
 */

type Query = Pick<Db, "query">;

/**
 * Cards by id, the reads of one turn in one statement (every column listed, not *, so the statement can stay
 * prepared: see QueryOptions).
 */
export const cardById = coalescedLookup<Record<string, unknown>>(
  `SELECT card_id, merchant_id, holder, plan_index, kind, status, named, held, units_left, units_used, paid_in, direct,
   released, refunded, started_at, expires_at, updated_block, recovery_to, recovery_effective_at FROM cards WHERE card_id = ANY($1::numeric[])`,
  (row) => String(row.card_id),
);

export async function plansOf(db: Query, merchantId: number): Promise<Row[]> {
  return db.query("SELECT * FROM plans WHERE merchant_id = $1 ORDER BY plan_index", [merchantId]);
}

/** Cards after `afterId` by id, `limit` of them: a holder's, or a merchant's (of one status when given). */
export async function cardsPage(db: Query, f: { afterId: string; limit: number } & ({ holder: string } | { merchantId: number; status?: string })): Promise<Row[]> {
  if ("holder" in f) {
    return db.query(`SELECT * FROM cards WHERE holder = $1 AND card_id > $2 ORDER BY card_id LIMIT ${Number(f.limit)}`, [f.holder, f.afterId]);
  }
  const args: unknown[] = [f.merchantId, f.afterId];
  let sql = "SELECT * FROM cards WHERE merchant_id = $1 AND card_id > $2";
  if (f.status) {
    args.push(f.status);
    sql += " AND status = $3";
  }
  return db.query(`${sql} ORDER BY card_id LIMIT ${Number(f.limit)}`, args);
}

/** The lesson count a card's next voucher starts at, by the vouchers queued or sent for it (null: none). */
/**
 * A card's vouchers accepted and not failed from sequence `used` on (not yet in the card's row): the sequence after
 * the last of them (null: none) and the money they release (null: none).
 */
export async function queuedAhead(db: Query, cardId: string, used: number): Promise<{ next: number | null; pending: string | null }> {
  const [q] = await db.query<{ next: number | null; pending: string | null }>(
    "SELECT max(sequence + lessons) AS next, sum(amount) AS pending FROM voucher_queue WHERE card_id = $1 AND status <> 'failed' AND sequence >= $2",
    [cardId, used],
  );
  return { next: q?.next ?? null, pending: q?.pending ?? null };
}

/** A merchant's name from its profile (null: admitted without one). */
export async function merchantNameOf(db: Query, merchantId: number): Promise<string | null> {
  const [profile] = await db.query<{ name: string }>("SELECT name FROM merchant_profiles WHERE merchant_id = $1", [merchantId]);
  return profile?.name ?? null;
}

/** A merchant's submitted vouchers after `afterId`, `limit` of them (of one status when given). */
export async function queuedVouchersPage(db: Query, f: { merchantId: number; afterId: string; limit: number; status?: string }): Promise<Row[]> {
  const args: unknown[] = [f.merchantId, f.afterId];
  let sql = "SELECT id, card_id, sequence, lessons, status, tx_hash, error FROM voucher_queue WHERE merchant_id = $1 AND id > $2";
  if (f.status) {
    args.push(f.status);
    sql += " AND status = $3";
  }
  return db.query(`${sql} ORDER BY id LIMIT ${Number(f.limit)}`, args);
}

/** Disputes of a status after card `afterId`, `limit` of them (of `industries` only, when given). */
export async function disputesPage(db: Query, f: { status: string; afterId: string; limit: number; industries?: number[] }): Promise<Row[]> {
  const args: unknown[] = [f.status, f.afterId];
  let sql = "SELECT * FROM disputes WHERE status = $1 AND card_id > $2";
  if (f.industries) {
    args.push(f.industries);
    sql += " AND industry_id = ANY($3::int[])";
  }
  return db.query(`${sql} ORDER BY card_id LIMIT ${Number(f.limit)}`, args);
}

export async function industryById(db: Query, industryId: number): Promise<{ industry_id: number; regulator: string | null } | undefined> {
  const [row] = await db.query<{ industry_id: number; regulator: string | null }>("SELECT industry_id, regulator FROM industries WHERE industry_id = $1", [industryId]);
  return row;
}

export async function listIndustries(db: Query): Promise<{ industry_id: number; regulator: string | null; policy: unknown }[]> {
  return db.query<{ industry_id: number; regulator: string | null; policy: unknown }>("SELECT industry_id, regulator, policy FROM industries ORDER BY industry_id");
}

export async function ticketById(db: Query, ticketId: string): Promise<{ ticket_id: string; assignee: string } | undefined> {
  const [row] = await db.query<{ ticket_id: string; assignee: string }>("SELECT ticket_id, assignee FROM hotline_tickets WHERE ticket_id = $1", [ticketId]);
  return row;
}

export async function ledgerRowById(db: Query, id: string | number): Promise<Row | undefined> {
  const [row] = await db.query("SELECT * FROM ledger WHERE id = $1", [id]);
  return row;
}

/** The current ratings after merchant `afterId`, `limit` of them, of a level, an industry and `industries` when given. */
export async function currentRatingsPage(db: Query, f: { afterId: string; limit: number; level: string | null; industryId: number | null; industries: number[] | null }): Promise<Row[]> {
  return db.query(
    `SELECT r.merchant_id, m.industry_id, m.risk_level AS on_chain_level, r.level, r.computed_level, r.score, r.model_version, r.computed_at, r.explanation
     FROM risk_ratings r JOIN merchants m ON m.merchant_id = r.merchant_id
     WHERE r.superseded_at IS NULL AND r.merchant_id > $1 AND ($2::text IS NULL OR r.level = $2) AND ($3::int IS NULL OR m.industry_id = $3)
       AND ($4::int[] IS NULL OR m.industry_id = ANY($4::int[]))
     ORDER BY r.merchant_id LIMIT ${Number(f.limit)}`,
    [f.afterId, f.level, f.industryId, f.industries],
  );
}

export interface AuditRow {
  id: string;
  at: unknown;
  role: string;
  subject: string | null;
  key_id: string | null;
  method: string;
  route: string;
  path: string;
  status: number;
}

export async function insertAuditRow(db: Query, r: { role: string; subject: string | null; keyId: string | null; method: string; route: string; path: string; status: number }): Promise<void> {
  await db.query(
    "INSERT INTO audit_log (role, subject, key_id, method, route, path, status) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [r.role, r.subject, r.keyId, r.method, r.route, r.path, r.status],
  );
}

/** Audit rows before `beforeId` (newest first), `limit` of them, matching every filter given. */
export async function auditPage(db: Query, f: {
  beforeId: string | null; limit: number; role: string | null; subject: string | null; keyId: string | null; route: string | null; fromTime: number | null; toTime: number | null;
}): Promise<AuditRow[]> {
  return db.query<AuditRow & Row>(
    `SELECT id, at, role, subject, key_id, method, route, path, status FROM audit_log
     WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR role = $2) AND ($3::text IS NULL OR subject = $3)
       AND ($4::text IS NULL OR key_id = $4) AND ($5::text IS NULL OR route = $5)
       AND ($6::bigint IS NULL OR at >= to_timestamp($6)) AND ($7::bigint IS NULL OR at <= to_timestamp($7))
     ORDER BY id DESC LIMIT ${Number(f.limit)}`,
    [f.beforeId, f.role, f.subject, f.keyId, f.route, f.fromTime, f.toTime],
  );
}
