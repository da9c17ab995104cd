import { Client } from "pg";
import { Db, openDb } from "../../src/store/db";
import { migrate } from "../../src/store/migrations";

// Every answer a gateway of the tests sends is checked against its route's declared status and schema (the ones
// /openapi.json shows): a difference fails the request with a 500, which the test then sees.
process.env.CUSTODY_CHECK_ANSWERS ??= "1";

/**
 * The database engines the store's tests run against: embedded PGlite always, and a PostgreSQL server when
 * TEST_DATABASE_URL is set (CI sets it; .ci/run installs and starts PostgreSQL from Debian's packages).
 */
export interface EngineFactory {
  name: string;
  /** A fresh, migrated, empty database. */
  open(): Promise<Db>;
}

let counter = 0;

export function engines(): EngineFactory[] {
  const list: EngineFactory[] = [
    { name: "pglite", open: async () => { const db = await openDb({ dataDir: ":memory:" }); await migrate(db); return db; } },
  ];
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    list.push({
      name: "postgres",
      open: async () => {
        const name = `custody_test_${process.pid}_${Date.now()}_${counter++}`;
        const admin = new Client({ connectionString: url });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${name}`);
        await admin.end();
        const u = new URL(url);
        u.pathname = "/" + name;
        const db = await openDb({ databaseUrl: u.toString() });
        await migrate(db);
        // Closing it drops it: a test run would otherwise leave ~70 databases (~9 MB each) on the server every time.
        return { ...db, close: async () => {
          await db.close();
          await dropDatabase(url, name);
        } };
      },
    });
  }
  return list;
}

/** Drops database `name` on the server at `url` (a test's, or the API bench's); connections still open to it are ended (FORCE). */
export async function dropDatabase(url: string, name: string): Promise<void> {
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Every current-state table, sorted, with the ledger: two indexes of one chain must dump equal. */
export async function dumpIndex(db: Db): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const tables: Record<string, string> = {
    ledger: "SELECT block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args FROM ledger ORDER BY block_number, log_index",
    merchants: "SELECT * FROM merchants ORDER BY merchant_id",
    cards: "SELECT * FROM cards ORDER BY card_id",
    plans: "SELECT * FROM plans ORDER BY merchant_id, plan_index",
    banks: "SELECT * FROM banks ORDER BY bank_id",
    industries: "SELECT industry_id, regulator, policy FROM industries ORDER BY industry_id",
    payouts: "SELECT * FROM payouts ORDER BY block_number, log_index",
    refunds: "SELECT * FROM refunds ORDER BY block_number, log_index",
    disputes: "SELECT * FROM disputes ORDER BY card_id",
    risk_history: "SELECT * FROM risk_history ORDER BY tx_hash, log_index",
  };
  for (const [name, sql] of Object.entries(tables)) {
    out[name] = (await db.query(sql)).map((r) => JSON.parse(JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? v.toString() : v))));
  }
  return out;
}
