import { openDb } from "../src/store/db";
import { migrate } from "../src/store/migrations";
import { randomBytes } from "node:crypto";

const N = Number(process.env.N ?? 60000), B = 5000;
const h = () => "0x" + randomBytes(32).toString("hex");
function rows(start: number) {
  const out = [];
  const bh = h(); let tx = h();
  for (let i = start; i < start + B; i++) {
    if (i % 500 === 0) tx = h();
    out.push({ block_number: 1000 + Math.floor(i / 500), block_hash: bh, block_time: 1700000000 + i, tx_hash: tx, tx_index: 0, log_index: i % 500,
      contract: "0x5fbdb2315678afecb367f032d93f642f64180aa3", event: "LessonsConsumed", merchant_id: 1 + (i % 20), card_id: String((BigInt(1 + (i % 20)) << 32n) | BigInt(i % 100)),
      holder: "0x" + randomBytes(20).toString("hex"), amount: 600n, args: { cardId: String((1n << 32n) | BigInt(i % 100)), lessons: 1, amount: 600, sequence: i % 100 } });
  }
  return out;
}
const toJson = (r: unknown[]) => JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
const COLS = "block_number bigint, block_hash text, block_time bigint, tx_hash text, tx_index int, log_index int, contract text, event text, merchant_id bigint, card_id numeric, holder text, amount bigint, args jsonb";
const variants: Record<string, (db: any, r: any[]) => Promise<unknown>> = {
  current: (db, r) => db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
     SELECT block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args
     FROM jsonb_to_recordset($1::jsonb) AS x(${COLS}) ORDER BY block_number, log_index ON CONFLICT (tx_hash, log_index) DO NOTHING`, [toJson(r)]),
  json: (db, r) => db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
     SELECT block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args
     FROM json_to_recordset($1::json) AS x(${COLS}) ON CONFLICT (tx_hash, log_index) DO NOTHING`, [JSON.stringify(r.map((x) => ({ ...x, amount: String(x.amount) })))]),
  jsonNoStringifyReplacer: async (db, r) => { const s = JSON.stringify(r.map((x) => ({ ...x, amount: String(x.amount) }))); return db.query(`SELECT count(*) FROM json_to_recordset($1::json) AS x(${COLS})`, [s]); },
  unnest: (db, r) => db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[], $9::bigint[], $10::numeric[], $11::text[], $12::bigint[], $13::jsonb[])
     ON CONFLICT (tx_hash, log_index) DO NOTHING`,
     [r.map((x) => x.block_number), r.map((x) => x.block_hash), r.map((x) => x.block_time), r.map((x) => x.tx_hash), r.map((x) => x.tx_index), r.map((x) => x.log_index), r.map((x) => x.contract), r.map((x) => x.event), r.map((x) => x.merchant_id), r.map((x) => x.card_id), r.map((x) => x.holder), r.map((x) => String(x.amount)), r.map((x) => JSON.stringify(x.args))]),
  parseJsonb: async (db, r) => { const s = toJson(r); return db.query(`SELECT count(*) FROM jsonb_to_recordset($1::jsonb) AS x(${COLS})`, [s]); },
  passOnly: async (db, r) => { const s = toJson(r); return db.query(`SELECT length($1::text)`, [s]); },
  stringifyOnly: async (db, r) => { toJson(r); },
  noConflictNoOrder: (db, r) => db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
     SELECT block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args
     FROM jsonb_to_recordset($1::jsonb) AS x(${COLS})`, [toJson(r)]),
  jsonNoOrderConflict: (db, r) => db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
     SELECT block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args
     FROM json_to_recordset($1::json) AS x(${COLS}) ON CONFLICT (tx_hash, log_index) DO NOTHING`, [JSON.stringify(r.map((x) => ({ ...x, amount: String(x.amount) })))]),
  jsonOrder: (db, r) => db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
     SELECT block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args
     FROM json_to_recordset($1::json) AS x(${COLS}) ORDER BY block_number, log_index ON CONFLICT (tx_hash, log_index) DO NOTHING`, [JSON.stringify(r.map((x) => ({ ...x, amount: String(x.amount) })))]),
  jsonNoConflict: (db, r) => db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
     SELECT block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args
     FROM json_to_recordset($1::json) AS x(${COLS}) ORDER BY block_number, log_index`, [JSON.stringify(r.map((x) => ({ ...x, amount: String(x.amount) })))]),
  compact: (db, r) => {
    const txs = new Map<string, number>(); const txRows: unknown[] = []; const contracts = ["0x5fbdb2315678afecb367f032d93f642f64180aa3"];
    const rows = r.map((x) => { let t = txs.get(x.tx_hash); if (t === undefined) { t = txRows.length; txs.set(x.tx_hash, t); txRows.push({ i: t, h: x.tx_hash, x: x.tx_index, b: x.block_number, bh: x.block_hash, bt: x.block_time }); }
      return { l: x.log_index, t, k: 1, e: x.event, m: x.merchant_id, c: x.card_id, h: x.holder, a: String(x.amount), g: x.args }; });
    return db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
      SELECT t.b, t.bh, t.bt, t.h, t.x, r.l, ($3::text[])[r.k], r.e, r.m, r.c, r.h, r.a, r.g
      FROM json_to_recordset($1::json) AS r(l int, t int, k int, e text, m bigint, c numeric, h text, a bigint, g jsonb)
      JOIN json_to_recordset($2::json) AS t(i int, h text, x int, b bigint, bh text, bt bigint) ON t.i = r.t
      ORDER BY t.b, r.l ON CONFLICT (tx_hash, log_index) DO NOTHING`, [JSON.stringify(rows), JSON.stringify(txRows), contracts]);
  },
  compactNoConflict: (db, r) => {
    const txs = new Map<string, number>(); const txRows: unknown[] = []; const contracts = ["0x5fbdb2315678afecb367f032d93f642f64180aa3"];
    const rows = r.map((x) => { let t = txs.get(x.tx_hash); if (t === undefined) { t = txRows.length; txs.set(x.tx_hash, t); txRows.push({ i: t, h: x.tx_hash, x: x.tx_index, b: x.block_number, bh: x.block_hash, bt: x.block_time }); }
      return { l: x.log_index, t, k: 1, e: x.event, m: x.merchant_id, c: x.card_id, h: x.holder, a: String(x.amount), g: x.args }; });
    return db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
      SELECT t.b, t.bh, t.bt, t.h, t.x, r.l, ($3::text[])[r.k], r.e, r.m, r.c, r.h, r.a, r.g
      FROM json_to_recordset($1::json) AS r(l int, t int, k int, e text, m bigint, c numeric, h text, a bigint, g jsonb)
      JOIN json_to_recordset($2::json) AS t(i int, h text, x int, b bigint, bh text, bt bigint) ON t.i = r.t
      ORDER BY t.b, r.l`, [JSON.stringify(rows), JSON.stringify(txRows), contracts]);
  },
  noIndexes: (db, r) => db.query(`INSERT INTO ledger2 (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args) SELECT block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args
     FROM json_to_recordset($1::json) AS x(${COLS})`, [JSON.stringify(r.map((x) => ({ ...x, amount: String(x.amount) })))]),
};
async function one(name: string): Promise<number> {
  const db = await openDb({ dataDir: ":memory:" });
  await migrate(db);
  const [base, alter] = name.split("+");
  if (alter === "fewIdx") for (const i of ["ledger_holder", "ledger_event", "ledger_time"]) await db.query(`DROP INDEX ${i}`);
  if (alter === "noSecIdx") for (const i of ["ledger_holder", "ledger_event", "ledger_time", "ledger_block", "ledger_merchant", "ledger_card"]) await db.query(`DROP INDEX ${i}`);
  if (alter === "noUnique") await db.query("ALTER TABLE ledger DROP CONSTRAINT ledger_tx_hash_log_index_key");
  name = base;
  await db.query("CREATE TABLE ledger2 (id bigserial, block_number bigint, block_hash text, block_time bigint, tx_hash text, tx_index int, log_index int, contract text, event text, merchant_id bigint, card_id numeric(20,0), holder text, amount bigint, args jsonb)");
  let t = 0;
  for (let i = 0; i < N; i += B) {
    const r = rows(i);
    const c0 = process.cpuUsage();
    await db.transaction((tx) => variants[name](tx, r) as Promise<any>);
    const c = process.cpuUsage(c0);
    t += (c.user + c.system) / 1000;
  }
  await db.close();
  return N / (t / 1000);
}
async function main() {
  const names = (process.env.V ?? Object.keys(variants).join(",")).split(",");
  const best = new Map<string, number[]>();
  for (let round = 0; round < Number(process.env.ROUNDS ?? 3); round++) {
    for (const name of names) {
      const v = await one(name);
      best.set(name, [...(best.get(name) ?? []), Math.round(v)]);
    }
  }
  for (const [k, v] of best) console.log(k.padEnd(22), "best", Math.max(...v), "all", v.join(" "));
}
main();
