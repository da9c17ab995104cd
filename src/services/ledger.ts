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

/**
 * A ledger row as the API's JSON, written by the database (row_to_json of these columns): the same fields, names,
 * order and types as `ledgerView` (ids and money as decimal strings, numbers as numbers, null where the row has none),
 * `args` as stored (jsonb's own text, so with a space after ':' and ','). `l` is a ledger row.
 * test/gateway/ledger-json.test.ts checks it against `ledgerView` for every kind of row, on both engines.
 */
const ROW_AS_API = `SELECT l.id::text AS "id", l.block_number AS "blockNumber", l.block_hash AS "blockHash", l.block_time AS "blockTime",
  l.tx_hash AS "txHash", l.log_index AS "logIndex", l.contract AS "contract", l.event AS "event", l.merchant_id AS "merchantId",
  l.card_id::text AS "cardId", l.holder AS "holder", l.amount::text AS "amountFen", l.args AS "args"`;

/**
 * One page of the ledger as the API answers it, `{"items":[...],"nextCursor":...}`, its items' text written by the
 * database in one row: the gateway neither parses thirteen columns per row nor builds and stringifies view objects,
 * which was most of its CPU for a 50-row page. One more row than the page is read to know whether another follows.
 * The statement's text depends only on which filters are set (the page size is a parameter): it is prepared once per
 * connection.
 */
export async function ledgerPageJson(db: Db, f: LedgerFilter, afterId: string | null, limit: number, cursorOf: (id: string) => string): Promise<string> {
  const w = where(f, afterId);
  const n = w.params.push(Number(limit)), n1 = w.params.push(Number(limit) + 1);
  const [page] = await db.query<{ items: string | null; rows: number; last: string | null }>(
    `SELECT string_agg(j, ',' ORDER BY id) FILTER (WHERE rn <= $${n}) AS items, count(*)::int AS rows, max(id) FILTER (WHERE rn <= $${n})::text AS last
     FROM (SELECT l.id, row_number() OVER (ORDER BY l.id) AS rn, row_to_json(x)::text AS j
           FROM (SELECT * FROM ledger ${w.sql} ORDER BY id LIMIT $${n1}) l CROSS JOIN LATERAL (${ROW_AS_API}) x) page`,
    w.params, { prepared: true });
  const next = page.rows > limit && page.last ? JSON.stringify(cursorOf(page.last)) : "null";
  return `{"items":[${page.items ?? ""}],"nextCursor":${next}}`;
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
