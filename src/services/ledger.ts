import { Db } from "../store/db";
import { ledgerView } from "./views";

export interface LedgerFilter {
  merchantId?: number;
  cardId?: bigint;
  holder?: string;
  event?: string;
  fromBlock?: number;
  toBlock?: number;
  fromTime?: number;
  toTime?: number;
  /** Only these merchants (a bank's, an industry's); undefined: all. */
  merchantScope?: number[];
}

function where(f: LedgerFilter, afterId: string | null) {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    clauses.push(sql.replace("?", `$${params.length}`));
  };
  if (afterId) add("id > ?", afterId);
  if (f.merchantId !== undefined) add("merchant_id = ?", f.merchantId);
  if (f.cardId !== undefined) add("card_id = ?", f.cardId.toString());
  if (f.holder) add("holder = ?", f.holder.toLowerCase());
  if (f.event) add("event = ?", f.event);
  if (f.fromBlock !== undefined) add("block_number >= ?", f.fromBlock);
  if (f.toBlock !== undefined) add("block_number <= ?", f.toBlock);
  if (f.fromTime !== undefined) add("block_time >= ?", f.fromTime);
  if (f.toTime !== undefined) add("block_time <= ?", f.toTime);
  if (f.merchantScope) add("merchant_id = ANY(?::bigint[])", f.merchantScope);
  return { sql: clauses.length ? "WHERE " + clauses.join(" AND ") : "", params };
}

/** One page of the ledger in chain order, with the id to continue after. */
export async function ledgerPage(db: Db, f: LedgerFilter, afterId: string | null, limit: number) {
  const w = where(f, afterId);
  const rows = await db.query(`SELECT * FROM ledger ${w.sql} ORDER BY id LIMIT ${Number(limit) + 1}`, w.params);
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  return { items: page.map(ledgerView), nextId: more ? String(page[page.length - 1].id) : null };
}

/** The whole filtered ledger, in chunks, for streaming. */
export async function* ledgerChunks(db: Db, f: LedgerFilter, chunk = 2000) {
  let after: string | null = null;
  for (;;) {
    const { items, nextId } = await ledgerPage(db, f, after, chunk);
    if (items.length) yield items;
    if (!nextId) return;
    after = nextId;
  }
}
