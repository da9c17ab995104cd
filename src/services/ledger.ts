import { Db } from "../store/db";
import { perTurn, Waiting } from "../store/coalesce";
import { ledgerView } from "./views";
import { required } from "../errors";

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

/**
 * The filters a page may have, in the order they appear in a statement, each with its SQL condition (`?` for the
 * value) and the type its value takes in a batch (an array of it): the single and the batched statement of a page are
 * both written from this list.
 */
const FILTERS: { key: keyof LedgerFilter | "afterId"; sql: string; type: string; value: (v: never) => unknown }[] = [
  { key: "afterId", sql: "id > ?", type: "bigint", value: (v: string) => v },
  { key: "merchantId", sql: "merchant_id = ?", type: "bigint", value: (v: number) => v },
  { key: "cardId", sql: "card_id = ?", type: "numeric", value: (v: bigint) => v.toString() },
  { key: "holder", sql: "holder = ?", type: "text", value: (v: string) => v.toLowerCase() },
  { key: "event", sql: "event = ?", type: "text", value: (v: string) => v },
  { key: "fromBlock", sql: "block_number >= ?", type: "bigint", value: (v: number) => v },
  { key: "toBlock", sql: "block_number <= ?", type: "bigint", value: (v: number) => v },
  { key: "fromTime", sql: "block_time >= ?", type: "bigint", value: (v: number) => v },
  { key: "toTime", sql: "block_time <= ?", type: "bigint", value: (v: number) => v },
];

/** A filter that is set: its condition, its value's SQL type and its value. */
type SetFilter = { sql: string; type: string; v: unknown };

/** The filters `f` (and a cursor) set, with their values. */
function filtersOf(f: LedgerFilter, afterId: string | null) {
  const set: SetFilter[] = [];
  const all = { ...f, afterId: afterId || undefined } as Record<string, unknown>;
  for (const x of FILTERS) {
    const v = all[x.key];
    if (v !== undefined && v !== "" && v !== null) set.push({ sql: x.sql, type: x.type, v: x.value(v as never) });
  }
  return set;
}

/** The conditions with their values as $1, $2, ... */
const numbered = (set: SetFilter[]) => set.map((x, i) => x.sql.replace("?", `$${i + 1}`));

function where(f: LedgerFilter, afterId: string | null) {
  const set = filtersOf(f, afterId);
  const params = set.map((x) => x.v);
  const clauses = numbered(set);
  if (f.merchantScope) {
    params.push(f.merchantScope);
    clauses.push(`merchant_id = ANY($${params.length}::bigint[])`);
  }
  return { sql: clauses.length ? "WHERE " + clauses.join(" AND ") : "", clauses, params };
}

/** One page of the ledger in chain order, with the id to continue after. */
export async function ledgerPage(db: Db, f: LedgerFilter, afterId: string | null, limit: number) {
  const w = where(f, afterId);
  const rows = await db.query(`SELECT * FROM ledger ${w.sql} ORDER BY id LIMIT ${Number(limit) + 1}`, w.params);
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { items: page.map(ledgerView), nextId: more && last ? String(last.id) : null };
}

/**
 * A ledger row as the API's JSON text, written by the database: the same fields, names, order and types as
 * `ledgerView` (ids and money as decimal strings, numbers as numbers, null where the row has none), `args` as stored
 * (jsonb's own text, so with a space after ':' and ','), the event name and holder escaped by to_json. The hashes
 * and the contract are put in quotes as they are: 32 bytes of hex (decodeLog refuses a log whose hashes are not) and
 * one of the two followed addresses. `||` rather than concat(), and two to_json() calls rather than five: about a
 * third less of the database's CPU for a 50-row page (pgbench on 1.1 M rows: 0.56 -> 0.36 ms a page).
 * test/gateway/ledger-json.test.ts checks it against `ledgerView` for every kind of row, on both engines.
 */
const ROW_JSON = `'{"id":"' || id || '","blockNumber":' || block_number || ',"blockHash":"' || block_hash || '","blockTime":' || block_time ||
  ',"txHash":"' || tx_hash || '","logIndex":' || log_index || ',"contract":"' || contract || '","event":' || to_json(event) ||
  ',"merchantId":' || coalesce(merchant_id::text, 'null') || ',"cardId":' || coalesce('"' || card_id || '"', 'null') ||
  ',"holder":' || coalesce(to_json(holder)::text, 'null') || ',"amountFen":' || coalesce('"' || amount || '"', 'null') ||
  ',"args":' || args::text || '}'`;

/**
 * A page read by the database into one row: how many rows it found (limit + 1 when there is more), the first `limit`
 * items' JSON joined by commas, and the last of those items' id. One value per page rather than a row per item: the
 * client library parses one field instead of ~150 (bench on 200,000 rows, 25 pages a statement: the gateway's CPU
 * 0.06-0.10 -> 0.03-0.04 ms a page on PostgreSQL; on PGlite, whose protocol parser runs in JavaScript on the one
 * thread, 0.51-0.70 -> 0.30-0.38 ms a page in all).
 */
type PageRow = { n: string | number; items: string | null; last: string | number | bigint | null };

/** The aggregate of a page's rows `s` (id, j, r: the row's number in the page), the page size written in or as $n. */
const pageAggregate = (limit: string) =>
  `count(*) AS n, string_agg(s.j, ',' ORDER BY s.id) FILTER (WHERE s.r <= ${limit}) AS items, max(s.id) FILTER (WHERE s.r <= ${limit}) AS last`;

/** The rows of one page, numbered: `lim` is the page size plus one (to know whether there is more). */
const pageRows = (clauses: string[], lim: string) =>
  `SELECT id, ${ROW_JSON} AS j, row_number() OVER (ORDER BY id) AS r FROM ledger ${clauses.length ? "WHERE " + clauses.join(" AND ") : ""} ORDER BY id LIMIT ${lim}`;

/** `{"items":[...],"nextCursor":...}` from a page's aggregate row. */
function pageText(row: PageRow | undefined, limit: number, cursorOf: (id: string) => string) {
  const more = row !== undefined && Number(row.n) > limit;
  const next = more ? JSON.stringify(cursorOf(String(row.last))) : "null";
  return `{"items":[${row?.items ?? ""}],"nextCursor":${next}}`;
}

interface PendingPage extends Waiting<string> {
  /** The filters set; the same conditions for every page of a group, each page with its own values. */
  set: SetFilter[];
  limit: number;
  cursorOf: (id: string) => string;
}

/**
 * One page of the ledger as the API answers it, `{"items":[...],"nextCursor":...}`, each item's text written by the
 * database (ROW_JSON): the gateway neither parses thirteen columns per row nor builds and stringifies view objects,
 * which was most of its CPU for a 50-row page (bench:api: 1.36 -> 0.79 ms of the gateway's CPU a page).
 *
 * Pages asked for in the same turn of the event loop with the same filters set and the same size (say, many auditors'
 * cursor pages, or many cards' first pages) are read by ONE statement (perTurn): the pages' values go in as arrays
 * and a LATERAL subquery reads each page with the same index scan as alone (`unnest(...) CROSS JOIN LATERAL (...
 * ORDER BY id LIMIT n)`); bench:api, 50-row pages on PostgreSQL: per-card 1,636-1,815 -> 1,978-2,170 pages/s, by
 * cursor 1,470-1,475 -> 1,773-1,805, the server's CPU 0.57-0.69 -> 0.39-0.42 ms a page. A page asked for alone is
 * read as before. Pages whose reader has a merchant scope (a bank, an industry regulator) are read on their own. A
 * statement's text depends only on which filters are set (and, for pages read together, their size), so each is
 * prepared once per connection.
 */
export function ledgerPageJson(db: Db, f: LedgerFilter, afterId: string | null, limit: number, cursorOf: (id: string) => string): Promise<string> {
  if (f.merchantScope) return singlePage(db, f, afterId, limit, cursorOf);
  const set = filtersOf(f, afterId);
  const shape = set.map((x) => x.sql).join(" AND ") + " LIMIT " + Number(limit);
  return new Promise<string>((resolve, reject) => askPage(db, shape, { set, limit: Number(limit), cursorOf, resolve, reject }));
}

/** The statement reading one page, its conditions' values $1.. and the page size plus one last. */
const pageSql = (clauses: string[]) => {
  const lim = `$${clauses.length + 1}`;
  return `SELECT ${pageAggregate(`${lim} - 1`)} FROM (${pageRows(clauses, lim)}) s`;
};

async function readOne(db: Db, p: PendingPage) {
  const [row] = await db.query<PageRow>(pageSql(numbered(p.set)), [...p.set.map((x) => x.v), p.limit + 1], { prepared: true });
  p.resolve(pageText(row, p.limit, p.cursorOf));
}

/**
 * Pages of the same filters and size in one statement, a row each. The page size is written into the statement, not
 * passed: with `LIMIT q.lim` the planner of a prepared (generic) plan guesses a tenth of the table per page, and that
 * cost estimate (~130,000) is past jit_above_cost, so PostgreSQL compiled the statement with LLVM on every execution
 * (8-80 ms for 16 pages that take 2 ms to read). With a constant it estimates ~150.
 */
async function readMany(db: Db, pages: PendingPage[]) {
  const [first] = pages;
  if (!first) return;
  const { set, limit } = first;
  const clauses = set.map((x, i) => x.sql.replace("?", `q.p${i}`));
  const arrays = set.map((x, i) => `, $${i + 2}::${x.type}[]`).join("");
  const rows = await db.query<PageRow & { k: number }>(
    `SELECT q.k, l.n, l.items, l.last FROM unnest($1::int[]${arrays}) AS q(k${set.map((_, i) => `, p${i}`).join("")})
     CROSS JOIN LATERAL (SELECT ${pageAggregate(String(limit))} FROM (${pageRows(clauses, String(limit + 1))}) s) l`,
    [pages.map((_, k) => k), ...set.map((_, i) => pages.map((p) => required(p.set[i], "a filter every page of a group has").v))],
    { prepared: true });
  const byPage: (PageRow | undefined)[] = pages.map(() => undefined);
  for (const r of rows) byPage[Number(r.k)] = r;
  pages.forEach((p, k) => p.resolve(pageText(byPage[k], p.limit, p.cursorOf)));
}

const askPage = perTurn<PendingPage, string>({ one: readOne, many: readMany, maxPerStatement: 64 });

/** A page read on its own (a reader with a merchant scope). */
async function singlePage(db: Db, f: LedgerFilter, afterId: string | null, limit: number, cursorOf: (id: string) => string) {
  const w = where(f, afterId);
  const [row] = await db.query<PageRow>(pageSql(w.clauses), [...w.params, Number(limit) + 1], { prepared: true });
  return pageText(row, limit, cursorOf);
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
