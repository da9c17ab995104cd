/**
 * Read-API benchmark: how fast the gateway answers card balances and ledger pages over a store holding
 * >= 1,000,000 ledger rows.
 *
 *   npm run bench:api        (ts-node --transpile-only bench/api.ts; run `npx hardhat compile` first)
 *   BENCH_DATABASE_URL=postgres://custody:custody@127.0.0.1:5432/postgres npm run bench:api
 *
 * 1. Starts Anvil as a separate process and deploys the district, so the gateway has a real chain to talk to
 *    (its indexer follows that small chain during the run).
 * 2. Builds the store: a fresh database (a new database on the PostgreSQL server at BENCH_DATABASE_URL, dropped
 *    at the end; otherwise, or in addition, a file-backed PGlite under the OS temp dir, removed at the end) is
 *    migrated and filled DIRECTLY WITH SQL (INSERT ... SELECT FROM generate_series, in chunks) with a synthetic
 *    history: BENCH_MERCHANTS (1,000) merchants with a lesson plan each, BENCH_CARDS (100,000) cards bought by
 *    BENCH_HOLDERS (20,000) holders, and their weekly one-lesson consumptions, in chain order (block numbers and
 *    times increase with the ledger id; 2 s blocks). The rows have the shapes the projector writes
 *    (LessonsConsumed args {cardId, lessons, amount, sequence}, CardPurchased args as decoded, ...), and the
 *    cards' and merchants' current state is consistent with the ledger (checked after loading). This is a read
 *    benchmark: writing the rows through the chain would take hours and measure the indexer, not the API.
 * 3. Starts the gateway and issues API keys: consumer keys for BENCH_CONSUMER_KEYS (1,000) holders and one auditor
 *    key. EXPLAIN ANALYZE of each measured statement is printed. On PostgreSQL the gateway runs as it is deployed
 *    with GATEWAY_WORKERS: a separate process tree (src/cluster.ts: a primary with the indexer, queue and writes, and
 *    BENCH_GATEWAY_WORKERS (2) read workers sharing the port; port 0, log level silent), so this process is only the
 *    load generator; its CPU and the gateway processes' (from /proc) are reported apart. BENCH_GATEWAY_WORKERS=0,
 *    and PGlite always, run one gateway inside this process (createGateway) as before.
 * 4. Calibrates: a bare node:http server in this thread, same client, shows what the machine (and whatever else
 *    runs on it) leaves for HTTP at all.
 * 5. Drives load over loopback from a worker thread of this process (BENCH_CLIENT=raw, the default: a minimal
 *    keep-alive HTTP/1.1 client on net.Socket, several times cheaper than node:http, so the load generator takes less
 *    of the 2 cores from the gateway; BENCH_CLIENT=http: node:http with a keep-alive Agent),
 *    BENCH_CONCURRENCY (32) requests in flight, BENCH_WARMUP_S (3) s of warm-up then BENCH_DURATION_S (20) s per
 *    route:
 *      card          GET /v1/cards/:cardId                 random card of a keyed holder, that holder's consumer key
 *      ledger-card   GET /v1/ledger?cardId=..&limit=50      random card, auditor key
 *      ledger-cursor GET /v1/ledger?limit=50&cursor=..      random position in the ledger, auditor key
 *    Then the same route again as an OPEN loop: BENCH_PACED_RATE (2,000, the target) requests/s offered on up to
 *    BENCH_PACED_CONNECTIONS (64) connections, each request due at its scheduled time whatever happened to the ones
 *    before it and its latency counted from then (no coordinated omission: a stall of the gateway delays every
 *    request due during it, where the closed loop only sends fewer). The store gets a CHECKPOINT and an OS sync
 *    before the first route, so the write-back of the freshly loaded rows is not measured. The load generator's
 *    thread runs at nice -10 where allowed (it is given the CPU when a request is due or an answer arrives, as a
 *    client machine of its own would be); the calibration below runs both loops too.
 *    Per route: requests/s, p50/p99/mean/max latency, errors (non-2xx or network), and to explain them: SQL
 *    statements per request (and the most frequent ones), the gateway thread's event-loop utilisation, this
 *    process's CPU time per request (in-process gateway), or the gateway processes' and the load generator's CPU
 *    time per request (separate gateway), the machine's load average. BENCH_PROFILE=dir writes a CPU profile of the
 *    gateway thread per route (in-process gateway) or one per gateway process for the whole run (separate gateway).
 *    BENCH_TRACE_DIR=dir writes every measured request of each run (when due or sent, latency) as CSV.
 * 6. Prints a table and writes bench/results/api.json (or BENCH_RESULTS_FILE): PostgreSQL's figures at the top
 *    level when it ran, every engine under "engines". Exits non-zero when the first engine misses a target.
 *    Everything started (gateway, Anvil, databases, temp dirs) is stopped or removed at the end, on errors too.
 *
 * BENCH_ENGINES=postgres,pglite picks the engines (default: postgres and pglite when BENCH_DATABASE_URL is set,
 * else pglite). Targets: p99 <= 50 ms and >= 2,000 requests/s on every route, no errors (targetsMet: the closed
 * loop; targetsMetAtTargetRate: p99 <= 50 ms in the open loop at 2,000 requests/s, all served, no errors).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { execFileSync, fork } from "node:child_process";
import { performance } from "node:perf_hooks";
import { Session } from "node:inspector";
import { Client } from "pg";
import { AnvilNode, startAnvil } from "../src/chain/anvil";
import { createKeyRing } from "../src/chain/signers";
import { loadConfig } from "../src/config";
import { createLogger } from "../src/logger";
import { createGateway, Gateway } from "../src/gateway";
import { issueApiKey } from "../src/api/auth";
import { Db, openDb } from "../src/store/db";
import { migrate } from "../src/store/migrations";
import { deployDistrict } from "../test/support/chain";
import { dropDatabase } from "../test/support/db";
import { allPids, procStat } from "./proc";
import { custodyClient, ok } from "../src/client";

// ---------------------------------------------------------------- parameters

const env = (name: string, dflt: number) => {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
};
const MERCHANTS = env("BENCH_MERCHANTS", 1_000);
const CARDS = env("BENCH_CARDS", 100_000);
const HOLDERS = env("BENCH_HOLDERS", 20_000);
const TARGET_ROWS = env("BENCH_LEDGER_ROWS", 1_000_000);
const CONSUMER_KEYS = env("BENCH_CONSUMER_KEYS", 1_000);
const CONCURRENCY = env("BENCH_CONCURRENCY", 32);
/**
 * The second measurement of each route: an open loop at this many requests/s (the target rate), latency counted from
 * each request's scheduled start, on up to BENCH_PACED_CONNECTIONS connections.
 */
const PACED_RATE = env("BENCH_PACED_RATE", 2_000);
const PACED_CONNECTIONS = env("BENCH_PACED_CONNECTIONS", 64);
const WARMUP_S = env("BENCH_WARMUP_S", 3);
const DURATION_S = env("BENCH_DURATION_S", 20);
const CHUNK = env("BENCH_CHUNK", 100_000);
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
const CLIENT = (process.env.BENCH_CLIENT ?? "raw") as "http" | "raw";
/**
 * PostgreSQL: the gateway runs as a separate process tree (src/cluster.ts) with this many read workers
 * (GATEWAY_WORKERS); 0 runs it inside this process as one gateway (PGlite always does: it lives in one process).
 */
const GATEWAY_WORKERS = process.env.BENCH_GATEWAY_WORKERS === undefined || process.env.BENCH_GATEWAY_WORKERS === "" ? 2 : Number(process.env.BENCH_GATEWAY_WORKERS);
/** A directory to write a CPU profile of the gateway's thread per route to (for finding per-request costs). */
const PROFILE_DIR = process.env.BENCH_PROFILE || undefined;
/**
 * For working on the gateway: BENCH_KEEP_DATABASE=1 keeps the PostgreSQL database the run built (its name is printed);
 * BENCH_REUSE_DATABASE=<name> measures on such a kept database instead of building one (and keeps it).
 */
const KEEP_DATABASE = process.env.BENCH_KEEP_DATABASE === "1";
const REUSE_DATABASE = process.env.BENCH_REUSE_DATABASE || undefined;
const ENGINES = (process.env.BENCH_ENGINES ?? (DATABASE_URL ? "postgres,pglite" : "pglite"))
  .split(",").map((s) => s.trim()).filter(Boolean) as ("postgres" | "pglite")[];

const TARGET_P99_MS = 50;
const TARGET_RPS = 2_000;

/** Lessons a card has used are uniform in 0..KMAX (mean KMAX/2), enough for >= TARGET_ROWS ledger rows. */
const KMAX = 2 * Math.ceil(Math.max(1, (TARGET_ROWS - CARDS - 2 * MERCHANTS) / CARDS)) + 2;
const UNITS = KMAX; // lessons per card: some cards end fully consumed
const DAY = 86_400;
const NOW = Math.floor(Date.now() / 1000);
const T0 = NOW - 560 * DAY; // first purchase; purchases span a year, lessons are weekly (<= KMAX weeks)
const TG = T0 - 60 * DAY; // "genesis" time: block n is at TG + 2n
const BLOCK_SECONDS = 2;

// ---------------------------------------------------------------- small helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => n.toLocaleString("en-US");
const secs = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);
function log(msg: string) {
  process.stdout.write(`[bench:api] ${msg}\n`);
}

/** Things to undo at the end, newest first; run on success, on error and on SIGINT/SIGTERM. */
const cleanups: { name: string; fn: () => Promise<void> }[] = [];
function onCleanup(name: string, fn: () => Promise<void>) {
  const entry = { name, fn };
  cleanups.push(entry);
  return async () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
    await fn();
  };
}
async function cleanupAll() {
  while (cleanups.length) {
    const c = cleanups.pop()!;
    try {
      await Promise.race([c.fn(), sleep(15_000).then(() => { throw new Error("timed out"); })]);
    } catch (err) {
      log(`cleanup "${c.name}" failed: ${(err as Error).message}`);
    }
  }
}

// ---------------------------------------------------------------- the store

/** SQL that builds the synthetic history. Every value derives from the row's index, so runs are repeatable. */
function hashInt(expr: string) {
  return `(('x' || substr(md5(${expr}), 1, 8))::bit(32)::bigint)`;
}
const addr = (prefix: string, idx: string) => `('0x' || md5('${prefix}-' || ${idx}) || substr(md5('${prefix}+' || ${idx}), 1, 8))`;
const hash32 = (prefix: string, idx: string) => `('0x' || md5('${prefix}-' || ${idx}) || md5('${prefix}+' || ${idx}))`;
const block = (t: string) => `((${t} - ${TG}) / ${BLOCK_SECONDS})`;

async function buildStore(db: Db, escrow: string): Promise<{ ledgerRows: number; maxId: number; loadSeconds: number }> {
  const started = Date.now();
  const q = (sql: string, params?: unknown[]) => db.query(sql, params);
  const lessonTime = (j: string) => `(b.tp + ${j} * ${7 * DAY} + ((b.c * 131 + ${j} * 977) % ${DAY}))`;

  log(`store: ${fmt(MERCHANTS)} merchants, ${fmt(CARDS)} cards, ${fmt(HOLDERS)} holders, 0..${KMAX} lessons used per card (written with SQL, not through the chain)`);
  // merchants (aggregates filled in at the end), one lesson plan each: price per lesson 100..190 CNY
  await q(`INSERT INTO merchants (merchant_id, account, industry_id, bank_id, registry_ref, status, risk_level, exit_effective_at, admitted_at, updated_block)
    SELECT m, ${addr("merchant", "m")}, (m % 5) + 1, 1, ${hash32("registry", "m")}, 'active', 'low', NULL,
      ${TG} + ${DAY} + m * 60, ${block(`${TG} + ${DAY} + m * 60 + 30`)}
    FROM generate_series(1, ${MERCHANTS}) m`);
  await q(`INSERT INTO plans (merchant_id, plan_index, kind, units, period_seconds, validity_days, price, active)
    SELECT m, 1, 'lesson', ${UNITS}, 0, 730, (10000 + (m % 10) * 1000) * ${UNITS}, true FROM generate_series(1, ${MERCHANTS}) m`);

  // the cards, as a staging table: card c belongs to merchant (c % M) + 1, holder (c * 7919 + 13) % H
  await q(`CREATE TABLE bench_cards AS
    SELECT c, m, (m::numeric * 4294967296 + n) AS card_id, ${addr("holder", "h")} AS holder, k, tp, cpl,
      (10000 + (m % 10) * 1000) * ${UNITS} AS price
    FROM (
      SELECT c, m, n, h, ${hashInt("'k' || c")} % ${KMAX + 1} AS k, ${T0} + ${hashInt("'t' || c")} % ${365 * DAY} AS tp,
        (10000 + (m % 10) * 1000) * (CASE (m % 5) + 1 WHEN 1 THEN 10000 WHEN 2 THEN 10000 WHEN 3 THEN 4000 WHEN 4 THEN 3000 ELSE 2000 END) / 10000 AS cpl
      FROM (SELECT c, (c % ${MERCHANTS}) + 1 AS m, (c / ${MERCHANTS}) + 1 AS n, (c::bigint * 7919 + 13) % ${HOLDERS} AS h
            FROM generate_series(0, ${CARDS - 1}) c) s0
    ) s`);
  await q(`CREATE UNIQUE INDEX bench_cards_c ON bench_cards (c)`);

  // every event with its time: admissions, plans, purchases, weekly lessons
  await q(`CREATE TABLE bench_events (t bigint NOT NULL, kind smallint NOT NULL, m int NOT NULL, c int, seq int NOT NULL)`);
  await q(`INSERT INTO bench_events SELECT ${TG} + ${DAY} + m * 60, 0, m, NULL, 0 FROM generate_series(1, ${MERCHANTS}) m`);
  await q(`INSERT INTO bench_events SELECT ${TG} + ${DAY} + m * 60 + 30, 1, m, NULL, 0 FROM generate_series(1, ${MERCHANTS}) m`);
  await q(`INSERT INTO bench_events SELECT tp, 2, m, c, 0 FROM bench_cards`);
  const cardChunk = Math.max(1, Math.floor(CHUNK / Math.max(1, KMAX / 2)));
  for (let a = 0; a < CARDS; a += cardChunk) {
    const b = Math.min(CARDS, a + cardChunk) - 1;
    await q(`INSERT INTO bench_events SELECT ${lessonTime("j")}, 3, b.m, b.c, j - 1
      FROM bench_cards b, generate_series(1, b.k) j WHERE b.c BETWEEN ${a} AND ${b}`);
    process.stdout.write(`\r[bench:api] events staged for cards ${fmt(b + 1)}/${fmt(CARDS)} (${secs(started)} s)   `);
  }
  process.stdout.write("\n");
  // chain order: 2 s blocks, one log per transaction, log index within the block
  await q(`CREATE TABLE bench_ordered AS
    SELECT row_number() OVER (ORDER BY t, kind, m, c, seq) AS rn, ${block("t")} AS blk,
      row_number() OVER (PARTITION BY ${block("t")} ORDER BY t, kind, m, c, seq) - 1 AS li, kind, m, c, seq
    FROM bench_events`);
  await q(`CREATE UNIQUE INDEX bench_ordered_rn ON bench_ordered (rn)`);
  const [{ n: total }] = await q(`SELECT count(*)::int AS n FROM bench_ordered`) as { n: number }[];
  if (total < TARGET_ROWS) throw new Error(`only ${total} events were generated, fewer than BENCH_LEDGER_ROWS=${TARGET_ROWS}`);
  log(`ordered ${fmt(total)} events in chain order (${secs(started)} s); writing the ledger in chunks of ${fmt(CHUNK)}`);

  // Bulk load: the ledger's secondary indexes and unique constraints (as the migrations define them, read back from
  // the catalog) are dropped and rebuilt after the rows are in, which is several times faster than maintaining them
  // row by row. The primary key stays.
  const constraints = await q(`SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
    WHERE conrelid = 'ledger'::regclass AND contype = 'u'`) as { name: string; def: string }[];
  for (const c of constraints) await q(`ALTER TABLE ledger DROP CONSTRAINT ${c.name}`);
  const indexes = await q(`SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i
    WHERE i.tablename = 'ledger' AND i.schemaname = current_schema()
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)`) as { name: string; def: string }[];
  for (const ix of indexes) await q(`DROP INDEX ${ix.name}`);
  const ledgerStarted = Date.now();
  for (let a = 1; a <= total; a += CHUNK) {
    const b = Math.min(total, a + CHUNK - 1);
    await q(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
      SELECT o.blk, ${hash32("block", "o.blk")}, ${TG} + o.blk * ${BLOCK_SECONDS}, ${hash32("tx", "o.blk || '.' || o.li")}, o.li, o.li, $1,
        CASE o.kind WHEN 0 THEN 'MerchantAdmitted' WHEN 1 THEN 'PlanPublished' WHEN 2 THEN 'CardPurchased' ELSE 'LessonsConsumed' END,
        o.m, b.card_id, b.holder,
        CASE o.kind WHEN 2 THEN b.cpl * ${UNITS} WHEN 3 THEN b.cpl END,
        CASE o.kind
          WHEN 0 THEN jsonb_build_object('merchantId', o.m, 'account', ${addr("merchant", "o.m")}, 'industryId', (o.m % 5) + 1, 'bankId', 1,
                        'registryRef', ${hash32("registry", "o.m")})
          WHEN 1 THEN jsonb_build_object('merchantId', o.m, 'planIndex', 1, 'kind', 1, 'units', ${UNITS}, 'periodSeconds', 0, 'validityDays', 730,
                        'price', (10000 + (o.m % 10) * 1000) * ${UNITS})
          WHEN 2 THEN jsonb_build_object('cardId', b.card_id::text, 'merchantId', o.m, 'holder', b.holder, 'planIndex', 1, 'kind', 1,
                        'units', ${UNITS}, 'price', b.price, 'custodied', b.cpl * ${UNITS}, 'direct', b.price - b.cpl * ${UNITS},
                        'startedAt', b.tp, 'expiresAt', b.tp + ${730 * DAY}, 'named', true)
          ELSE jsonb_build_object('cardId', b.card_id::text, 'lessons', 1, 'amount', b.cpl, 'sequence', o.seq)
        END
      FROM bench_ordered o LEFT JOIN bench_cards b ON b.c = o.c
      WHERE o.rn BETWEEN ${a} AND ${b}
      ORDER BY o.rn`, [escrow.toLowerCase()]);
    const rate = Math.round(b / ((Date.now() - ledgerStarted) / 1000));
    process.stdout.write(`\r[bench:api] ledger rows ${fmt(b)}/${fmt(total)} (${fmt(rate)} rows/s, ${secs(started)} s)   `);
  }
  process.stdout.write("\n");
  const ixStarted = Date.now();
  for (const ix of indexes) await q(ix.def);
  for (const c of constraints) await q(`ALTER TABLE ledger ADD CONSTRAINT ${c.name} ${c.def}`);
  log(`rebuilt the ledger's ${indexes.length} indexes and ${constraints.length} unique constraint(s) in ${secs(ixStarted)} s`);

  // current state consistent with the ledger: each card bought for UNITS lessons, k of them used
  await q(`INSERT INTO cards (card_id, merchant_id, holder, plan_index, kind, status, named, held, units_left, units_used, paid_in, direct,
      released, refunded, started_at, expires_at, updated_block)
    SELECT b.card_id, b.m, b.holder, 1, 'lesson', CASE WHEN b.k = ${UNITS} THEN 'consumed' ELSE 'active' END, true,
      (${UNITS} - b.k) * b.cpl, ${UNITS} - b.k, b.k, ${UNITS} * b.cpl, b.price - ${UNITS} * b.cpl, b.k * b.cpl, 0, b.tp, b.tp + ${730 * DAY},
      ${block(`CASE WHEN b.k = 0 THEN b.tp ELSE ${lessonTime("b.k")} END`)}
    FROM bench_cards b`);
  await q(`UPDATE merchants m SET paid_in = s.paid_in, direct = s.direct, released = s.released, card_count = s.n, updated_block = s.ub
    FROM (SELECT merchant_id, sum(paid_in) AS paid_in, sum(direct) AS direct, sum(released) AS released, count(*) AS n, max(updated_block) AS ub
          FROM cards GROUP BY merchant_id) s
    WHERE s.merchant_id = m.merchant_id`);
  await q(`DROP TABLE bench_ordered`);
  await q(`DROP TABLE bench_events`);
  await q(`DROP TABLE bench_cards`);
  log(`cards and merchants written; VACUUM ANALYZE (${secs(started)} s)`);
  await q(`VACUUM ANALYZE`);

  // the index must agree with itself, as a real one would
  const [chk] = await q(`SELECT
      (SELECT count(*) FROM ledger)::bigint AS rows,
      (SELECT max(id) FROM ledger)::bigint AS max_id,
      (SELECT count(*) FROM ledger WHERE event = 'CardPurchased')::bigint AS purchases,
      (SELECT count(*) FROM ledger WHERE event = 'LessonsConsumed')::bigint AS lessons,
      (SELECT coalesce(sum(amount), 0) FROM ledger WHERE event = 'LessonsConsumed')::bigint AS released_ledger,
      (SELECT count(*) FROM cards)::bigint AS cards,
      (SELECT sum(units_used) FROM cards)::bigint AS units_used,
      (SELECT sum(released) FROM cards)::bigint AS released_cards,
      (SELECT sum(released) FROM merchants)::bigint AS released_merchants,
      (SELECT count(*) FROM (SELECT block_number < lag(block_number) OVER (ORDER BY id) AS back FROM ledger) x WHERE back)::bigint AS out_of_order`);
  const c = Object.fromEntries(Object.entries(chk).map(([k, v]) => [k, Number(v)]));
  const problems: string[] = [];
  if (c.purchases !== c.cards) problems.push(`${c.purchases} CardPurchased rows but ${c.cards} cards`);
  if (c.lessons !== c.units_used) problems.push(`${c.lessons} LessonsConsumed rows but cards used ${c.units_used} lessons`);
  if (c.released_ledger !== c.released_cards || c.released_cards !== c.released_merchants) problems.push(`released differs: ledger ${c.released_ledger}, cards ${c.released_cards}, merchants ${c.released_merchants}`);
  if (c.out_of_order !== 0) problems.push(`${c.out_of_order} ledger rows go back in block number`);
  if (problems.length) throw new Error("the synthetic store is inconsistent: " + problems.join("; "));
  const loadSeconds = (Date.now() - started) / 1000;
  log(`store ready: ${fmt(c.rows)} ledger rows (${fmt(c.purchases)} CardPurchased, ${fmt(c.lessons)} LessonsConsumed), ${fmt(c.cards)} cards; consistent; ${loadSeconds.toFixed(1)} s`);
  return { ledgerRows: c.rows, maxId: c.max_id, loadSeconds };
}

/** A kept store's size, as buildStore reports it. */
async function storeFigures(db: Db): Promise<{ ledgerRows: number; maxId: number; loadSeconds: number }> {
  const [r] = await db.query<{ rows: string; max_id: string }>(`SELECT count(*)::bigint AS rows, max(id)::bigint AS max_id FROM ledger`);
  return { ledgerRows: Number(r.rows), maxId: Number(r.max_id), loadSeconds: 0 };
}

/** EXPLAIN ANALYZE of the statements the measured routes run, as the API sends them (same text, bound parameters). */
async function explainQueries(db: Db, maxId: number) {
  // a card with the longest history (1 + KMAX ledger rows)
  const [{ card_id: cardId }] = await db.query<{ card_id: string }>(`SELECT card_id::text AS card_id FROM cards WHERE units_used = ${KMAX} ORDER BY card_id LIMIT 1`);
  const [{ id: keyId }] = await db.query<{ id: string }>(`SELECT id FROM api_keys LIMIT 1`);
  const statements: Record<string, [string, unknown[]]> = {
    "card (cards by card_id)": ["SELECT * FROM cards WHERE card_id = $1", [cardId]],
    "ledger-card (ledger by card_id, first page)": ["SELECT * FROM ledger WHERE card_id = $1 ORDER BY id LIMIT 51", [cardId]],
    "ledger-cursor (ledger after a position)": ["SELECT * FROM ledger WHERE id > $1 ORDER BY id LIMIT 51", [String(Math.floor(maxId / 2))]],
    "api key (by id)": ["SELECT id, key_hash, role, subject, label, revoked_at FROM api_keys WHERE id = $1", [keyId]],
  };
  const out: Record<string, { plan: string; planningMs: number; executionMs: number }> = {};
  for (const [name, [sql, params]] of Object.entries(statements)) {
    await db.query(`EXPLAIN (ANALYZE) ${sql}`, params); // warm
    const rows = await db.query<Record<string, string>>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
    const lines = rows.map((r) => String(Object.values(r)[0]));
    const time = (label: string) => Number(/([\d.]+) ms/.exec(lines.find((l) => l.startsWith(label)) ?? "")?.[1] ?? NaN);
    const plan = lines.filter((l) => /(Scan|Limit|Sort|Join|Loop)/.test(l)).map((l) => l.trim().replace(/\s+\(cost=[^)]*\)/, "").replace(/^->\s*/, "")).join(" / ");
    out[name] = { plan, planningMs: time("Planning"), executionMs: time("Execution") };
    log(`  EXPLAIN ${name}: ${plan}; planning ${out[name].planningMs} ms, execution ${out[name].executionMs} ms`);
  }
  return out;
}

// ---------------------------------------------------------------- the load generator (a worker thread)

/**
 * Plain JS (the worker does not go through ts-node): `concurrency` loops, each with one request in flight on its
 * own keep-alive connection. Client "http": node:http with a keep-alive Agent. Client "raw": a minimal HTTP/1.1
 * client on net.Socket (request line and headers written by hand, responses framed by Content-Length, which every
 * gateway answer has), several times cheaper than node:http, so less of the machine goes to the load generator.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const net = require("node:net");
const { port, concurrency, warmupMs, durationMs, requests, client, rate } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
function httpGet(path, key) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request({ host: "127.0.0.1", port, path, method: "GET", agent, headers: { "x-api-key": key } }, (res) => {
      let bytes = 0;
      res.on("data", (c) => { bytes += c.length; });
      res.on("end", () => resolve({ status: res.statusCode, ms: performance.now() - t0, bytes }));
      res.on("error", (e) => resolve({ status: 0, ms: performance.now() - t0, bytes, err: e.message }));
    });
    req.on("error", (e) => resolve({ status: 0, ms: performance.now() - t0, bytes: 0, err: e.message }));
    req.end();
  });
}
function rawConnection() {
  const sock = net.connect({ host: "127.0.0.1", port });
  sock.setNoDelay(true);
  const c = { sock, pending: null, buf: null, dead: false };
  c.ready = new Promise((res) => { sock.once("connect", res); sock.once("error", (e) => { c.err = e.message; res(); }); });
  const settle = (r) => { const p = c.pending; c.pending = null; if (p) p.resolve({ ...r, ms: performance.now() - p.t0 }); };
  sock.on("data", (chunk) => {
    c.buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk;
    const p = c.pending;
    if (!p) return;
    if (p.need === undefined) {
      const end = c.buf.indexOf("\\r\\n\\r\\n");
      if (end < 0) return;
      const head = c.buf.toString("latin1", 0, end);
      p.status = Number(head.slice(9, 12));
      const m = /\\r\\ncontent-length:[ \\t]*(\\d+)/i.exec(head);
      if (!m) { c.dead = true; sock.destroy(); settle({ status: 0, bytes: 0, err: "response without content-length" }); return; }
      p.need = end + 4 + Number(m[1]);
    }
    if (c.buf.length < p.need) return;
    const bytes = p.need;
    c.buf = c.buf.length > p.need ? c.buf.subarray(p.need) : null;
    settle({ status: p.status, bytes });
  });
  const fail = (e) => { c.dead = true; settle({ status: 0, bytes: 0, err: e ? e.message : "connection closed" }); };
  sock.on("error", fail);
  sock.on("close", () => fail(null));
  return c;
}
function rawGet(c, path, key) {
  if (c.dead) return Promise.resolve({ status: 0, ms: 0, bytes: 0, err: "connection failed: " + (c.err || "closed") });
  return new Promise((resolve) => {
    c.pending = { resolve, t0: performance.now() };
    c.sock.write("GET " + path + " HTTP/1.1\\r\\nhost: 127.0.0.1:" + port + "\\r\\nx-api-key: " + key + "\\r\\n\\r\\n");
  });
}
/**
 * Open loop (rate set): request k is due at start + k / rate whatever happened to the ones before it, and its latency
 * is counted from that moment, so time spent waiting for a free connection (the server falling behind) is charged
 * to the server: no coordinated omission. Up to "concurrency" connections are opened as needed; due requests beyond
 * them wait in order.
 */
async function openLoop(start, measureFrom, end, record) {
  const interval = 1000 / rate;
  const idle = [], backlog = [];
  let open = 0, k = Math.floor(Math.random() * requests.length), outstanding = 0, scheduled = false, finished;
  const done = new Promise((r) => { finished = r; });
  const send = (c, due) => {
    const [path, key] = requests[k++ % requests.length];
    outstanding++;
    const go = client === "raw" ? rawGet(c, path, key) : httpGet(path, key);
    go.then((r) => {
      outstanding--;
      if (due >= measureFrom && due < end) record(r, performance.now() - due, path, due - measureFrom);
      if (c && c.dead) { open--; c = null; }
      const next = backlog.shift();
      if (next !== undefined) { if (c) send(c, next); else connect(next); }
      else if (c) idle.push(c);
      if (scheduled && outstanding === 0 && backlog.length === 0) finished();
    });
  };
  const connect = async (due) => {
    if (client !== "raw") return send(null, due);
    open++;
    outstanding++; // counted from now: the run does not end while a connection is being opened for a due request
    const c = rawConnection();
    await c.ready;
    outstanding--;
    send(c, due);
  };
  let due = start;
  const tick = () => {
    const now = performance.now();
    while (due <= now && due < end) {
      // an idle connection the server closed meanwhile (its keep-alive timeout) is dropped, not used; the oldest
      // idle one is used first, so none stays idle long enough for that to happen under load
      while (idle.length && idle[0].dead) { idle.shift(); open--; }
      if (client !== "raw") send(null, due);
      else if (idle.length) send(idle.shift(), due);
      else if (open < concurrency) void connect(due);
      else backlog.push(due);
      due += interval;
    }
    if (due < end) return void setTimeout(tick, 1);
    scheduled = true;
    if (outstanding === 0 && backlog.length === 0) finished();
  };
  tick();
  await done;
  for (const c of idle) c.sock.end();
}
(async () => {
  // This thread ahead of the gateway and the database in the CPU queue (nice -10, this thread only: the TID of
  // /proc/thread-self), so that a request is sent when it is due and its answer read when it arrives, as from a
  // client machine of its own; where that is not allowed it runs at the usual priority (reported).
  let niced = false;
  try { require("node:os").setPriority(Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop()), -10); niced = true; } catch {}
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let lat = new Float64Array(1 << 16);
  let at = new Float64Array(1 << 16); // when each measured request was due (open loop) or sent, ms from measureFrom
  let n = 0, errors = 0, bytes = 0, next = Math.floor(Math.random() * requests.length), lastDone = measureFrom;
  const statuses = {};
  const errorSamples = [];
  const record = (r, ms, path, sentAt) => {
    if (n === lat.length) {
      const bigger = new Float64Array(lat.length * 2); bigger.set(lat); lat = bigger;
      const biggerAt = new Float64Array(at.length * 2); biggerAt.set(at); at = biggerAt;
    }
    at[n] = sentAt;
    lat[n++] = ms;
    bytes += r.bytes;
    lastDone = performance.now();
    statuses[r.status] = (statuses[r.status] || 0) + 1;
    if (!(r.status >= 200 && r.status < 300)) { errors++; if (errorSamples.length < 5) errorSamples.push({ path, status: r.status, err: r.err }); }
  };
  async function loop() {
    let conn = null;
    for (;;) {
      const t = performance.now();
      if (t >= end) break;
      const [path, key] = requests[next++ % requests.length];
      let r;
      if (client === "raw") {
        if (!conn || conn.dead) { conn = rawConnection(); await conn.ready; }
        r = await rawGet(conn, path, key);
      } else {
        r = await httpGet(path, key);
      }
      if (t < measureFrom) continue;
      record(r, r.ms, path, t - measureFrom);
    }
    if (conn) conn.sock.end();
  }
  if (rate) await openLoop(start, measureFrom, end, record);
  else await Promise.all(Array.from({ length: concurrency }, loop));
  agent.destroy();
  const out = lat.slice(0, n);
  const outAt = at.slice(0, n);
  parentPort.postMessage({ niced, latencies: out, at: outAt, originMs: performance.timeOrigin + measureFrom, errors, bytes, statuses, errorSamples, seconds: (Math.max(lastDone, measureFrom) - measureFrom) / 1000 }, [out.buffer, outAt.buffer]);
})();
`;

interface RouteStats {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  kbPerResponse: number;
  /** Event-loop utilisation of the gateway's thread while measuring (1 = saturated). */
  gatewayThreadBusy?: number;
  /** The machine's 1-minute load average at the end of the route's run (other processes included). */
  loadAverage?: number;
  /** CPU time of this whole process (gateway thread, load-generator thread, pg client) per request; not the database server's. */
  processCpuMsPerRequest?: number;
  /** Gateway in separate processes: their CPU time (primary and read workers, from /proc) per request. */
  gatewayCpuMsPerRequest?: number;
  /** Gateway in separate processes: the read workers' CPU time per request (they answer every measured request). */
  workersCpuMsPerRequest?: number;
  /** PostgreSQL on this machine: its server processes' CPU time for this database per request (from /proc). */
  databaseCpuMsPerRequest?: number;
  /** Gateway in separate processes: this process's (the load generator's) CPU time per request. */
  loadGeneratorCpuMsPerRequest?: number;
  /** SQL statements the gateway sent per request while measuring (the indexer's and queue's few polls included). */
  dbStatementsPerRequest?: number;
  /** The statements sent most while measuring, with their counts. */
  topStatements?: Record<string, number>;
  /** The open-loop run at PACED_RATE requests/s: latency from each request's scheduled start. */
  paced?: PacedStats;
}

interface PacedStats {
  offeredPerSecond: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  requests: number;
  /** SQL statements per request while measuring (PostgreSQL: from the database's commit count). */
  dbStatementsPerRequest?: number;
}

/** A run's figures as the open-loop part of a route's (or the calibration's) figures. */
function pacedOf(st: RouteStats, statements?: number | null): PacedStats {
  return {
    offeredPerSecond: PACED_RATE, requestsPerSecond: st.requestsPerSecond, p50Ms: st.p50Ms, p99Ms: st.p99Ms, maxMs: st.maxMs,
    errors: st.errors, requests: st.requests,
    dbStatementsPerRequest: perRequest(statements, st.requests),
  };
}

/** SQL statements per request over a run (undefined where they were not counted). */
function perRequest(statements: number | null | undefined, requests: number): number | undefined {
  return statements === undefined || statements === null ? undefined : r2(statements / Math.max(1, requests));
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
const r2 = (x: number) => Math.round(x * 100) / 100;
const concat = (parts: Float64Array[]) => {
  const out = new Float64Array(parts.reduce((n, a) => n + a.length, 0));
  let off = 0;
  for (const a of parts) { out.set(a, off); off += a.length; }
  return out;
};

function stats(lat: Float64Array, seconds: number, errors: number, statuses: Record<string, number>, bytes: number): RouteStats {
  const sorted = Float64Array.from(lat).sort();
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    requests: sorted.length,
    requestsPerSecond: Math.round(sorted.length / seconds),
    p50Ms: r2(quantile(sorted, 0.5)),
    p99Ms: r2(quantile(sorted, 0.99)),
    meanMs: r2(sum / Math.max(1, sorted.length)),
    maxMs: r2(sorted[sorted.length - 1] ?? NaN),
    errors,
    statuses,
    seconds: r2(seconds),
    kbPerResponse: r2(bytes / Math.max(1, sorted.length) / 1024),
  };
}

/**
 * BENCH_TRACE_DIR=dir: each measured run's requests as CSV (`<engine>-<route>-closed|open.csv`: when each was sent
 * or, in the open loop, due, ms from the start of the measurement, its latency, and the same moment as epoch ms to
 * line it up with server logs), for seeing whether a tail is spread over the run (queueing) or bunched in stalls.
 */
const TRACE_DIR = process.env.BENCH_TRACE_DIR || undefined;

function writeTrace(name: string, originMs: number, at: Float64Array, latencies: Float64Array): void {
  fs.mkdirSync(TRACE_DIR!, { recursive: true });
  const lines = ["atMs,latencyMs,epochMs"];
  for (let i = 0; i < at.length; i++) lines.push(`${at[i].toFixed(2)},${latencies[i].toFixed(2)},${Math.round(originMs + at[i])}`);
  const file = path.join(TRACE_DIR!, `${name}.csv`);
  fs.writeFileSync(file, lines.join("\n") + "\n");
  log(`  wrote ${file}`);
}

/** Whether the load generator's thread ran at nice -10 (the last run's answer). */
let loadGeneratorNiced = false;

async function drive(
  port: number,
  requests: [string, string][],
  opts: { profileAs?: string; traceAs?: string; warmupS: number; durationS: number; rate?: number; connections?: number } = { warmupS: WARMUP_S, durationS: DURATION_S },
): Promise<{ lat: Float64Array; stats: RouteStats; errorSamples: unknown[] }> {
  let session: Session | null = null;
  const profileAs = opts.profileAs;
  if (profileAs) {
    session = new Session();
    session.connect();
    const post = (m: string, params?: object) => new Promise<unknown>((res, rej) => session!.post(m, params ?? {}, (e, r) => (e ? rej(e) : res(r))));
    const s = session;
    setTimeout(() => { void post("Profiler.enable").then(() => post("Profiler.start")); }, opts.warmupS * 1000).unref();
    onCleanup("profiler", async () => { s.disconnect(); });
  }
  const eluAtStart = { t: opts.warmupS * 1000, elu: null as ReturnType<typeof performance.eventLoopUtilization> | null };
  let cpuAtStart: NodeJS.CpuUsage | null = null;
  const eluTimer = setTimeout(() => { eluAtStart.elu = performance.eventLoopUtilization(); cpuAtStart = process.cpuUsage(); }, eluAtStart.t);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port, concurrency: opts.connections ?? CONCURRENCY, warmupMs: opts.warmupS * 1000, durationMs: opts.durationS * 1000, requests, client: CLIENT, rate: opts.rate },
  });
  const stop = onCleanup("load worker", async () => { await worker.terminate(); });
  try {
    const msg = await new Promise<{ niced: boolean; latencies: Float64Array; at: Float64Array; originMs: number; errors: number; bytes: number; statuses: Record<string, number>; errorSamples: unknown[]; seconds: number }>(
      (resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new Error(`the load worker exited with code ${code}`)));
      },
    );
    const st = stats(msg.latencies, msg.seconds, msg.errors, msg.statuses, msg.bytes);
    if (TRACE_DIR && opts.traceAs) writeTrace(opts.traceAs, msg.originMs, msg.at, msg.latencies);
    loadGeneratorNiced = msg.niced;
    if (eluAtStart.elu) st.gatewayThreadBusy = r2(performance.eventLoopUtilization(eluAtStart.elu).utilization);
    if (cpuAtStart) {
      const cpu = process.cpuUsage(cpuAtStart);
      st.processCpuMsPerRequest = Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, st.requests)) * 1000) / 1000;
    }
    if (session && profileAs) {
      const s = session;
      const { profile } = await new Promise<{ profile: object }>((res, rej) => s.post("Profiler.stop", (e, r) => (e ? rej(e) : res(r as { profile: object }))));
      fs.mkdirSync(PROFILE_DIR!, { recursive: true });
      fs.writeFileSync(path.join(PROFILE_DIR!, `${profileAs}.cpuprofile`), JSON.stringify(profile));
      log(`  wrote ${path.join(PROFILE_DIR!, `${profileAs}.cpuprofile`)}`);
    }
    return { lat: msg.latencies, stats: st, errorSamples: msg.errorSamples };
  } finally {
    clearTimeout(eluTimer);
    await stop();
  }
}

/**
 * What this machine does with no gateway at all: a bare node:http server in this thread answering a fixed
 * card-sized JSON body, driven by the same client. The gateway cannot beat it; it shows how much of the machine
 * the rest (other processes included) leaves.
 */
async function calibrate(): Promise<RouteStats> {
  const http = await import("node:http");
  const body = JSON.stringify({ cardId: "4294967297", merchantId: 1, holder: "0x" + "ab".repeat(20), heldFen: "150000", unitsLeft: 10, pad: "x".repeat(250) });
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const close = onCleanup("calibration server", async () => {
    await new Promise<void>((resolve) => { srv.close(() => resolve()); srv.closeAllConnections(); });
  });
  try {
    const port = (srv.address() as { port: number }).port;
    const r = await drive(port, [["/calibrate", "none"]], { warmupS: 1, durationS: 5 });
    const p = await drive(port, [["/calibrate", "none"]], { warmupS: 1, durationS: 5, rate: PACED_RATE, connections: PACED_CONNECTIONS });
    r.stats.paced = pacedOf(p.stats);
    return r.stats;
  } finally {
    await close();
  }
}

/** CPU time (user + system, ms) of these processes so far, from /proc (0 for one that is gone). */
function cpuMsOf(pids: number[]): number {
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  return pids.reduce((ms, pid) => ms + (procStat(pid)?.ticks ?? 0) * tick, 0);
}

/** The children of `pid` (the cluster's workers), from /proc. */
function childrenOf(pid: number): number[] {
  return allPids().filter((d) => procStat(d)?.ppid === pid).map(Number);
}

/**
 * The gateway as a separate process tree, as it is deployed with GATEWAY_WORKERS: src/cluster.ts with the
 * configuration in its environment (the bench's database, the small real chain, port 0, logs off).
 */
async function startGatewayProcess(rpcUrl: string, databaseUrl: string, deployment: unknown, workers: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-bench-api-gw-"));
  const deploymentFile = path.join(dir, "deployment.json");
  fs.writeFileSync(deploymentFile, JSON.stringify(deployment));
  const child = fork(path.join(__dirname, "..", "src", "cluster.ts"), [], {
    // BENCH_PROFILE: every gateway process (primary and workers) writes a CPU profile of its whole life there on exit
    execArgv: ["-r", require.resolve("ts-node/register/transpile-only"), ...(PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(PROFILE_DIR)}`] : [])],
    env: {
      ...process.env, CHAIN_RPC_URL: rpcUrl, DATABASE_URL: databaseUrl, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent",
      DATA_DIR: dir, DEPLOYMENT_FILE: deploymentFile, KEYSTORE_DIR: path.join(dir, "keystores"), GATEWAY_WORKERS: String(workers),
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.on("message", (m: { listening?: number }) => { if (m?.listening) resolve(m.listening); });
      child.once("exit", (code) => reject(new Error(`the gateway process exited with code ${code} while starting`)));
      setTimeout(() => reject(new Error("the gateway process did not start within 180 s")), 180_000).unref();
    });
    let pids = [child.pid!, ...childrenOf(child.pid!)];
    return { port, stop, pids: () => (pids.length > 1 ? pids : (pids = [child.pid!, ...childrenOf(child.pid!)])) };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The store as the gateway sees it, counting the statements it sends. */
function countStatements(db: Db): { db: Db; count: () => number; top: (since: Map<string, number>) => Record<string, number>; snapshot: () => Map<string, number> } {
  let n = 0;
  const bySql = new Map<string, number>();
  const note = (sql: string) => {
    n++;
    const k = sql.replace(/\s+/g, " ").trim().slice(0, 90);
    bySql.set(k, (bySql.get(k) ?? 0) + 1);
  };
  return {
    count: () => n,
    snapshot: () => new Map(bySql),
    top: (since) => Object.fromEntries([...bySql].map(([k, v]) => [k, v - (since.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).slice(0, 6)),
    db: {
      engine: db.engine,
      query: (sql, params, opts) => { note(sql); return db.query(sql, params, opts); },
      transaction: (fn) => db.transaction((tx) => fn({ query: (sql, params) => { note(sql); return tx.query(sql, params); } })),
      close: () => db.close(),
    },
  };
}

// ---------------------------------------------------------------- one engine

interface EngineResult {
  engine: "postgres" | "pglite";
  database: string;
  ledgerRows: number;
  loadSeconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** All routes' open-loop runs at PACED_RATE together. */
  atTargetRate: { offeredPerSecond: number; p50Ms: number; p99Ms: number; errors: number };
  routes: Record<string, RouteStats>;
  plans: Awaited<ReturnType<typeof explainQueries>>;
  /** The targets on the closed-loop run: p99 <= 50 ms and >= 2,000 requests/s, no errors, every route. */
  met: boolean;
  /** The open-loop runs: p99 <= 50 ms at PACED_RATE requests/s offered, all of it served, no errors, every route. */
  metAtTargetRate: boolean;
}

const ROUTES = {
  card: "GET /v1/cards/:cardId (consumer key of the card's holder)",
  "ledger-card": "GET /v1/ledger?cardId=<card>&limit=50 (auditor key)",
  "ledger-cursor": "GET /v1/ledger?limit=50&cursor=<random position> (auditor key)",
} as const;

async function runEngine(engine: "postgres" | "pglite", node: AnvilNode, district: Awaited<ReturnType<typeof deployDistrict>>): Promise<EngineResult> {
  let db: Db;
  let database: string;
  let databaseUrl: string | undefined;
  const engineCleanups: (() => Promise<void>)[] = [];
  try {
    if (engine === "postgres") {
      if (!DATABASE_URL) throw new Error("BENCH_DATABASE_URL is not set");
      const name = `custody_bench_api_${process.pid}_${Date.now()}`;
      const admin = new Client({ connectionString: DATABASE_URL });
      await admin.connect();
      try {
        if (REUSE_DATABASE && !/^[a-z_][a-z0-9_]*$/.test(REUSE_DATABASE)) throw new Error("BENCH_REUSE_DATABASE is not a database name");
        await admin.query(REUSE_DATABASE ? `CREATE DATABASE ${name} TEMPLATE ${REUSE_DATABASE}` : `CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      engineCleanups.push(onCleanup(`drop database ${name}`, async () => {
        await dropDatabase(DATABASE_URL, name);
        log(`dropped database ${name}`);
      }));
      const u = new URL(DATABASE_URL);
      u.pathname = "/" + name;
      database = `PostgreSQL server ${u.host}, fresh database ${name}`;
      databaseUrl = u.toString();
      db = await openDb({ databaseUrl });
    } else {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-bench-api-"));
      engineCleanups.push(onCleanup(`remove ${dir}`, async () => { fs.rmSync(dir, { recursive: true, force: true }); log(`removed ${dir}`); }));
      database = `PGlite, file-backed under ${dir}`;
      db = await openDb({ dataDir: path.join(dir, "pglite") });
    }
    const dbHolder = { db };
    engineCleanups.push(onCleanup(`close ${engine} store`, async () => { await dbHolder.db.close(); }));
    log(`=== ${engine}: ${database}`);
    await migrate(db);
    const reuse = engine === "postgres" && REUSE_DATABASE;
    const store = reuse ? await storeFigures(db) : await buildStore(db, district.deployment.escrow);
    if (reuse) log(`store copied from the kept database ${REUSE_DATABASE}: ${fmt(store.ledgerRows)} ledger rows`);
    if (engine === "postgres" && KEEP_DATABASE && !reuse) {
      // a copy made before the gateway starts: no chain's index in it, so a later run on another Anvil can use it
      const kept = `custody_bench_api_kept_${Date.now()}`;
      await db.close();
      const admin = new Client({ connectionString: DATABASE_URL });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${kept} TEMPLATE ${new URL(databaseUrl!).pathname.slice(1)}`);
      } finally {
        await admin.end();
      }
      db = dbHolder.db = await openDb({ databaseUrl });
      log(`kept a copy of the store as database ${kept} (BENCH_REUSE_DATABASE=${kept} measures on it; drop it when done)`);
    }

    // the gateway, following the small real chain
    const p = district.provider;
    const keys = createKeyRing({ dir: "/nonexistent", provider: p });
    const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent", DATA_DIR: path.join(os.tmpdir(), "custody-bench-api-unused") });
    const counted = countStatements(db);
    const separate = engine === "postgres" && GATEWAY_WORKERS > 0 ? { workers: GATEWAY_WORKERS, url: databaseUrl! } : null;
    let port: number;
    let gatewayPids: () => number[] = () => [process.pid];
    if (separate) {
      const child = await startGatewayProcess(node.url, separate.url, district.deployment, separate.workers);
      engineCleanups.push(onCleanup(`stop ${engine} gateway process`, child.stop));
      port = child.port;
      gatewayPids = child.pids;
      log(`gateway on 127.0.0.1:${port}: a separate process (indexer, queue, signing, writes) and ${separate.workers} read workers (node:cluster, GATEWAY_WORKERS=${separate.workers})`);
    } else {
      const gw: Gateway = await createGateway(config, createLogger("silent"), { db: counted.db, deployment: district.deployment, keys });
      engineCleanups.push(onCleanup(`stop ${engine} gateway`, async () => { await gw.stop(); }));
      port = (await gw.start()).port;
      for (let i = 0; i < 200 && gw.services.indexer.status.lag !== 0; i++) await sleep(50);
      log(`gateway on 127.0.0.1:${port} in this process; indexer at block ${gw.services.indexer.status.indexedBlock} of the real chain`);
    }

    // keys: the auditor, and consumers for CONSUMER_KEYS holders (their cards are route A's cards)
    const auditor = (await issueApiKey(db, { role: "auditor", subject: null, label: "bench auditor" })).key;
    const holderRows = await db.query<{ holder: string }>(`SELECT DISTINCT holder FROM cards ORDER BY holder LIMIT ${CONSUMER_KEYS}`);
    const consumerKey = new Map<string, string>();
    for (const r of holderRows) consumerKey.set(r.holder, (await issueApiKey(db, { role: "consumer", subject: r.holder, label: `bench ${r.holder}` })).key);
    const keyedCards = await db.query<{ card_id: string; holder: string }>(`SELECT card_id::text AS card_id, holder FROM cards WHERE holder = ANY($1::text[])`, [[...consumerKey.keys()]]);
    const allCards = (await db.query<{ card_id: string }>(`SELECT card_id::text AS card_id FROM cards`)).map((r) => r.card_id);
    log(`issued ${fmt(consumerKey.size)} consumer keys (holding ${fmt(keyedCards.length)} cards) and an auditor key`);
    const plans = await explainQueries(db, store.maxId);
    // The store was just written: its dirty pages go to disk now (a checkpoint, then the OS's own write-back), not in
    // the middle of a measured run, where a checkpoint's writes stalled the database for hundreds of milliseconds.
    const flushed = Date.now();
    try {
      await db.query("CHECKPOINT");
      execFileSync("sync");
      log(`checkpoint and sync before measuring (${secs(flushed)} s)`);
    } catch (err) {
      log(`no checkpoint before measuring: ${(err as Error).message}`);
    }

    // random request lists
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)];
    const N = 200_000;
    const cursorFor = (id: number) => Buffer.from(String(id)).toString("base64url");
    const lists: Record<keyof typeof ROUTES, [string, string][]> = {
      card: Array.from({ length: N }, () => { const c = pick(keyedCards); return [`/v1/cards/${c.card_id}`, consumerKey.get(c.holder)!]; }),
      "ledger-card": Array.from({ length: N }, () => [`/v1/ledger?cardId=${pick(allCards)}&limit=50`, auditor]),
      "ledger-cursor": Array.from({ length: N }, () => [`/v1/ledger?limit=50&cursor=${cursorFor(1 + Math.floor(Math.random() * (store.maxId - 50)))}`, auditor]),
    };

    // one checked request per route, through the typed client: the answers are what the API should say
    const api = (key: string) => custodyClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: key });
    const [mine, ...rest] = keyedCards;
    const other = rest.find((c) => c.holder !== mine?.holder);
    const holderKey = mine && consumerKey.get(mine.holder);
    if (!mine || !other || !holderKey) throw new Error("the bench district has no two holders with keys");
    const card = await ok(api(holderKey).GET("/v1/cards/{cardId}", { params: { path: { cardId: mine.card_id } } }));
    if (!/^\d+$/.test(card.heldFen ?? "") || Number(card.unitsLeft) + Number(card.unitsUsed) !== UNITS) throw new Error(`unexpected card answer ${JSON.stringify(card)}`);
    const page = await ok(api(auditor).GET("/v1/ledger", { params: { query: { cardId: pick(allCards), limit: 50 } } }));
    if (!Array.isArray(page.items) || page.items[0]?.event !== "CardPurchased") throw new Error(`unexpected card ledger page ${JSON.stringify(page).slice(0, 300)}`);
    const page2 = await ok(api(auditor).GET("/v1/ledger", { params: { query: { limit: 50, cursor: cursorFor(1 + Math.floor(Math.random() * (store.maxId - 50))) } } }));
    if (page2.items.length !== 50 || !page2.nextCursor) throw new Error(`unexpected ledger page ${JSON.stringify(page2).slice(0, 300)}`);
    const denied = await api(holderKey).GET("/v1/cards/{cardId}", { params: { path: { cardId: other.card_id } } });
    if (denied.response.status !== 403) throw new Error(`a consumer read another holder's card: ${denied.response.status}`);

    /**
     * PostgreSQL on this machine: the CPU time of the server processes serving this database (from /proc, by pid), so
     * the cost of a request on the database's side shows too; null when the server's processes are not visible here.
     */
    const serverCpu = async (): Promise<Map<number, number> | null> => {
      if (engine !== "postgres") return null;
      const rows = await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database()");
      const m = new Map(rows.map((row) => [Number(row.pid), cpuMsOf([Number(row.pid)])]));
      return [...m.values()].some((v) => v > 0) ? m : null;
    };
    /**
     * PostgreSQL: transactions committed in this database so far (pg_stat_database; a statement sent alone is one).
     * Their change over a run, per request, is how many statements a request took, the batching included; the server
     * publishes these counts about once a second, so over a 20 s run it is a close estimate. null on PGlite.
     */
    const commits = async (): Promise<number | null> => {
      if (engine !== "postgres") return null;
      await db.query("SELECT pg_stat_clear_snapshot()");
      const [row] = await db.query<{ n: string }>("SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()");
      return Number(row.n);
    };
    /** SQL statements the gateway sent so far: counted in this process, or, for the separate gateway, from its commits. */
    const statementsSoFar = async (): Promise<number | null> => (separate ? commits() : counted.count());
    /** Counts statements from the end of a run's warm-up (started now, with the run); the function returned ends it. */
    const countAfterWarmup = (): (() => Promise<number | null>) => {
      let atStart: number | null = null;
      const t = setTimeout(() => void statementsSoFar().then((n) => { atStart = n; }), WARMUP_S * 1000);
      return async () => {
        clearTimeout(t);
        const atEnd = await statementsSoFar();
        return atStart === null || atEnd === null ? null : atEnd - atStart;
      };
    };
    const routes: Record<string, RouteStats> = {};
    const all: Float64Array[] = [];
    const pacedAll: Float64Array[] = [];
    let pacedErrors = 0;
    let totalSeconds = 0, totalErrors = 0, totalBytes = 0;
    const totalStatuses: Record<string, number> = {};
    for (const [name, label] of Object.entries(ROUTES) as [keyof typeof ROUTES, string][]) {
      log(`${engine} ${name}: ${label}; ${WARMUP_S} s warm-up + ${DURATION_S} s at ${CONCURRENCY} in flight`);
      const statements = countAfterWarmup();
      let sqlAtStart = new Map<string, number>();
      let gatewayCpuAtStart = 0;
      let workersCpuAtStart = 0;
      let serverCpuAtStart: Map<number, number> | null = null;
      const t = setTimeout(() => {
        sqlAtStart = counted.snapshot(); gatewayCpuAtStart = cpuMsOf(gatewayPids());
        workersCpuAtStart = cpuMsOf(gatewayPids().slice(1));
        void serverCpu().then((m) => { serverCpuAtStart = m; });
      }, WARMUP_S * 1000);
      const r = await drive(port, lists[name], { profileAs: PROFILE_DIR && !separate ? `${engine}-${name}` : undefined, traceAs: `${engine}-${name}-closed`, warmupS: WARMUP_S, durationS: DURATION_S });
      clearTimeout(t);
      r.stats.dbStatementsPerRequest = perRequest(await statements(), r.stats.requests);
      const serverCpuAtEnd = await serverCpu();
      if (serverCpuAtStart && serverCpuAtEnd) {
        let ms = 0;
        for (const [pid, v] of serverCpuAtEnd) ms += v - ((serverCpuAtStart as Map<number, number>).get(pid) ?? 0);
        r.stats.databaseCpuMsPerRequest = Math.round((ms / Math.max(1, r.stats.requests)) * 1000) / 1000;
      }
      if (separate) {
        // this process only drives the load; the gateway's CPU is its processes' (primary and workers), from /proc
        r.stats.gatewayCpuMsPerRequest = Math.round(((cpuMsOf(gatewayPids()) - gatewayCpuAtStart) / Math.max(1, r.stats.requests)) * 1000) / 1000;
        // the read workers alone: the requests' own cost, without the primary's background work (indexer polls, risk)
        r.stats.workersCpuMsPerRequest = Math.round(((cpuMsOf(gatewayPids().slice(1)) - workersCpuAtStart) / Math.max(1, r.stats.requests)) * 1000) / 1000;
        r.stats.loadGeneratorCpuMsPerRequest = r.stats.processCpuMsPerRequest;
        delete r.stats.processCpuMsPerRequest;
        delete r.stats.gatewayThreadBusy;
      } else {
        r.stats.topStatements = counted.top(sqlAtStart);
      }
      r.stats.loadAverage = r2(os.loadavg()[0]);
      log(`${engine} ${name}: open loop, ${fmt(PACED_RATE)} requests/s offered on up to ${PACED_CONNECTIONS} connections; ${WARMUP_S} s warm-up + ${DURATION_S} s`);
      const pacedStatements = countAfterWarmup();
      const pr = await drive(port, lists[name], { traceAs: `${engine}-${name}-open`, warmupS: WARMUP_S, durationS: DURATION_S, rate: PACED_RATE, connections: PACED_CONNECTIONS });
      r.stats.paced = pacedOf(pr.stats, await pacedStatements());
      log(`  at ${fmt(PACED_RATE)} req/s offered: ${fmt(pr.stats.requestsPerSecond)} req/s served, p50 ${pr.stats.p50Ms} ms, p99 ${pr.stats.p99Ms} ms, max ${pr.stats.maxMs} ms, errors ${pr.stats.errors}, ${r.stats.paced.dbStatementsPerRequest ?? "?"} SQL statements/request`
        + (pr.errorSamples.length ? ` e.g. ${JSON.stringify(pr.errorSamples)}` : ""));
      pacedAll.push(pr.lat);
      pacedErrors += pr.stats.errors;
      routes[name] = r.stats;
      all.push(r.lat);
      totalSeconds += r.stats.seconds;
      totalErrors += r.stats.errors;
      totalBytes += r.stats.kbPerResponse * 1024 * r.stats.requests;
      for (const [k, v] of Object.entries(r.stats.statuses)) totalStatuses[k] = (totalStatuses[k] ?? 0) + v;
      log(`  ${fmt(r.stats.requestsPerSecond)} req/s, p50 ${r.stats.p50Ms} ms, p99 ${r.stats.p99Ms} ms, errors ${r.stats.errors}, `
        + (separate ? `gateway processes' CPU ${r.stats.gatewayCpuMsPerRequest} ms/request (read workers' ${r.stats.workersCpuMsPerRequest}), PostgreSQL's ${r.stats.databaseCpuMsPerRequest ?? "?"}, load generator's ${r.stats.loadGeneratorCpuMsPerRequest}, ${r.stats.dbStatementsPerRequest ?? "?"} SQL statements/request`
          : `${r.stats.dbStatementsPerRequest} SQL statements/request, gateway thread busy ${r.stats.gatewayThreadBusy}, process CPU ${r.stats.processCpuMsPerRequest} ms/request`)
        + `, load average ${os.loadavg()[0].toFixed(1)}`
        + (r.errorSamples.length ? ` e.g. ${JSON.stringify(r.errorSamples)}` : ""));
    }
    const overall = stats(concat(all), totalSeconds, totalErrors, totalStatuses, totalBytes);
    const pacedSorted = concat(pacedAll).sort();
    const met = Object.values(routes).every((r) => r.p99Ms <= TARGET_P99_MS && r.requestsPerSecond >= TARGET_RPS && r.errors === 0);
    const metAtTargetRate = Object.values(routes).every((r) => r.paced!.p99Ms <= TARGET_P99_MS && r.paced!.errors === 0 && r.paced!.requestsPerSecond >= 0.99 * PACED_RATE);
    return {
      engine, database, ledgerRows: store.ledgerRows, loadSeconds: Math.round(store.loadSeconds),
      requestsPerSecond: overall.requestsPerSecond, p50Ms: overall.p50Ms, p99Ms: overall.p99Ms, errors: overall.errors,
      atTargetRate: { offeredPerSecond: PACED_RATE, p50Ms: r2(quantile(pacedSorted, 0.5)), p99Ms: r2(quantile(pacedSorted, 0.99)), errors: pacedErrors },
      routes, plans, met, metAtTargetRate,
    };
  } finally {
    // newest first: the gateway, then the store, then its database or directory
    for (const undo of engineCleanups.reverse()) {
      try {
        await undo();
      } catch (err) {
        log(`cleanup failed: ${(err as Error).message}`);
      }
    }
  }
}

// ---------------------------------------------------------------- main

function table(results: EngineResult[]) {
  const at = `@${fmt(PACED_RATE)}/s`;
  const rows: string[][] = [["engine", "route", "max req/s", "p50 ms", "p99 ms", "mean ms", "errors", `${at} served`, `${at} p50`, `${at} p99`, `${at} max`, `${at} errors`]];
  for (const r of results) {
    for (const [name, s] of Object.entries(r.routes)) {
      const p = s.paced!;
      rows.push([r.engine, name, fmt(s.requestsPerSecond), String(s.p50Ms), String(s.p99Ms), String(s.meanMs), String(s.errors),
        fmt(p.requestsPerSecond), String(p.p50Ms), String(p.p99Ms), String(p.maxMs), String(p.errors)]);
    }
    const a = r.atTargetRate;
    rows.push([r.engine, "overall", fmt(r.requestsPerSecond), String(r.p50Ms), String(r.p99Ms), "", String(r.errors), "", String(a.p50Ms), String(a.p99Ms), "", String(a.errors)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row, j) => row.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ") + (j === 0 ? "\n" + widths.map((w) => "-".repeat(w)).join("  ") : "")).join("\n");
}

async function main() {
  for (const e of ENGINES) if (e !== "postgres" && e !== "pglite") throw new Error(`unknown engine ${e} in BENCH_ENGINES`);
  if (ENGINES.includes("postgres") && !DATABASE_URL) throw new Error("BENCH_ENGINES has postgres but BENCH_DATABASE_URL is not set");
  log(`engines: ${ENGINES.join(", ")}; ${os.cpus().length} CPUs, node ${process.version}`);

  const node = await startAnvil();
  onCleanup("stop anvil", async () => { await node.stop(); });
  const district = await deployDistrict(node.url);
  onCleanup("close chain provider", async () => { district.provider.destroy(); });
  log(`anvil on ${node.url}; district deployed (escrow ${district.deployment.escrow})`);

  const calibration = await calibrate();
  log(`calibration, bare node:http server without the gateway: ${fmt(calibration.requestsPerSecond)} req/s, p50 ${calibration.p50Ms} ms, p99 ${calibration.p99Ms} ms, process CPU ${calibration.processCpuMsPerRequest} ms/request (load average ${os.loadavg()[0].toFixed(1)}); `
    + `at ${fmt(PACED_RATE)} req/s offered: p50 ${calibration.paced!.p50Ms} ms, p99 ${calibration.paced!.p99Ms} ms; load generator thread at nice -10: ${loadGeneratorNiced ? "yes" : "no (not allowed here)"}`);
  const results: EngineResult[] = [];
  for (const engine of ENGINES) results.push(await runEngine(engine, node, district));

  console.log("\n" + table(results) + "\n");
  console.log(`targets per route: p99 <= ${TARGET_P99_MS} ms, >= ${fmt(TARGET_RPS)} requests/s, 0 errors (closed loop, ${CONCURRENCY} in flight)`);
  console.log(`  and at ${fmt(PACED_RATE)} requests/s offered (open loop): p99 <= ${TARGET_P99_MS} ms, all served, 0 errors`);
  for (const r of results) console.log(`  ${r.engine}: ${r.met ? "met" : "MISSED"}; at ${fmt(PACED_RATE)}/s: ${r.metAtTargetRate ? "met" : "MISSED"}`);

  const top = results.find((r) => r.engine === "postgres") ?? results[0];
  const slim = (r: EngineResult) => ({
    ledgerRows: r.ledgerRows, requestsPerSecond: r.requestsPerSecond, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors,
    atTargetRate: r.atTargetRate, engine: r.engine, database: r.database, loadSeconds: r.loadSeconds, targetsMet: r.met, targetsMetAtTargetRate: r.metAtTargetRate,
    routes: Object.fromEntries(Object.entries(r.routes).map(([k, s]) => [k, {
      requestsPerSecond: s.requestsPerSecond, p50Ms: s.p50Ms, p99Ms: s.p99Ms, errors: s.errors,
      meanMs: s.meanMs, maxMs: s.maxMs, requests: s.requests, dbStatementsPerRequest: s.dbStatementsPerRequest, topStatements: s.topStatements, gatewayThreadBusy: s.gatewayThreadBusy, processCpuMsPerRequest: s.processCpuMsPerRequest, gatewayCpuMsPerRequest: s.gatewayCpuMsPerRequest, workersCpuMsPerRequest: s.workersCpuMsPerRequest, databaseCpuMsPerRequest: s.databaseCpuMsPerRequest, loadGeneratorCpuMsPerRequest: s.loadGeneratorCpuMsPerRequest, loadAverage: s.loadAverage, seconds: s.seconds, kbPerResponse: s.kbPerResponse, statuses: s.statuses, paced: s.paced,
    }])),
    plans: r.plans,
  });
  const out = {
    ...slim(top),
    engines: Object.fromEntries(results.map((r) => [r.engine, slim(r)])),
    routeDescriptions: ROUTES,
    targets: {
      p99Ms: `<= ${TARGET_P99_MS}`, requestsPerSecond: `>= ${TARGET_RPS}`, errors: "0", per: "route",
      measured: `targetsMet: the closed-loop run (${CONCURRENCY} requests in flight: requestsPerSecond is the most a route serves, p50Ms/p99Ms its latency then); `
        + `targetsMetAtTargetRate: the open-loop run at ${PACED_RATE} requests/s offered (routes.*.paced, atTargetRate: latency from each request's scheduled start, so a stall delays every request due during it)`,
    },
    setup: {
      data: "synthetic history written directly with SQL (INSERT ... SELECT FROM generate_series), not through the chain; cards and merchants consistent with the ledger",
      merchants: MERCHANTS, cards: CARDS, holders: HOLDERS, lessonsPerCard: `0..${KMAX}`, consumerKeys: CONSUMER_KEYS,
      gateway: ENGINES.includes("postgres") && GATEWAY_WORKERS > 0
        ? `PostgreSQL: a separate process tree (src/cluster.ts), a primary (indexer, queue, writes) and ${GATEWAY_WORKERS} read workers on one port; PGlite: in the benchmark process`
        : "in the benchmark process (createGateway)",
      client: `worker thread of the benchmark process${loadGeneratorNiced ? " at nice -10 (that thread only)" : ""}, ${CLIENT === "http" ? "node:http with a keep-alive Agent" : "minimal keep-alive HTTP/1.1 client on net.Socket"}, ${CONCURRENCY} requests in flight (closed loop), then ${PACED_RATE} requests/s on up to ${PACED_CONNECTIONS} connections (open loop), loopback`,
      calibrationBareNodeHttp: { requestsPerSecond: calibration.requestsPerSecond, p50Ms: calibration.p50Ms, p99Ms: calibration.p99Ms, processCpuMsPerRequest: calibration.processCpuMsPerRequest, paced: calibration.paced, note: "a bare node:http server in the same thread answering a fixed 300-byte JSON, same client: the machine's ceiling for this client" },
      loadAverageAtEnd: os.loadavg().map((x) => r2(x)),
      warmupSeconds: WARMUP_S, durationSecondsPerRoute: DURATION_S,
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, memoryGb: Math.round(os.totalmem() / 2 ** 30) },
      chain: "Anvil (separate process), district deployed; the gateway's indexer follows it during the run",
      measuredAt: new Date().toISOString(),
    },
  };
  const file = path.resolve(process.env.BENCH_RESULTS_FILE || path.join(__dirname, "results", "api.json"));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  log(`wrote ${path.relative(process.cwd(), file)}`);
  if (!results[0].met) process.exitCode = 1;
}

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

main()
  .catch((err) => {
    console.error(`[bench:api] failed: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanupAll();
  });
