import { Db, DbTx } from "./db";

/**
 * The ledger's query indexes (by block, merchant, card, holder, event, time), as migration 1 creates them. An index
 * built from scratch over the whole table (one sort) costs a fraction of maintaining it row by row while millions of
 * rows are loaded, so the first full sync of an empty index may defer them: drop them, load, then build them once the
 * range reaching the chain's head is committed. The ledger's uniqueness on (tx hash, log index) and its primary key
 * are never deferred.
 *
 * A migration that changes one of these indexes must change this list too, and say IF EXISTS / IF NOT EXISTS: it
 * may run while they are deferred (test/gateway/indexer.test.ts compares the built indexes with a freshly migrated
 * store's).
 */
export const LEDGER_QUERY_INDEXES: readonly { name: string; columns: string }[] = [
  { name: "ledger_block", columns: "(block_number, log_index)" },
  { name: "ledger_merchant", columns: "(merchant_id, id)" },
  { name: "ledger_card", columns: "(card_id, id)" },
  { name: "ledger_holder", columns: "(holder, id)" },
  { name: "ledger_event", columns: "(event, id)" },
  { name: "ledger_time", columns: "(block_time, id)" },
];

/** The meta key that records, durably, that the query indexes are dropped until the first sync reaches the head. */
export const DEFERRED_KEY = "ledger_indexes_deferred";

export async function ledgerIndexesDeferred(db: Pick<Db, "query">): Promise<boolean> {
  const rows = await db.query("SELECT 1 FROM meta WHERE key = $1", [DEFERRED_KEY]);
  return rows.length > 0;
}

/** Drops the query indexes and records that they are deferred, in one transaction. */
export async function deferLedgerIndexes(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    for (const i of LEDGER_QUERY_INDEXES) await tx.query(`DROP INDEX IF EXISTS ${i.name}`);
    await tx.query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [DEFERRED_KEY, new Date().toISOString()]);
  });
}

/**
 * Builds whichever query indexes are missing, then clears the record. On a PostgreSQL server the indexes are built on
 * two connections at once, each index by its backend alone (no parallel workers): on two cores that took 1.2 s for
 * the six over 200,000 rows against 1.8 s one after the other with PostgreSQL's own parallel build (its workers'
 * start-up and merge cost more than they gained at this size). PGlite has one connection: one after the other.
 * Each index commits on its own; a crash midway leaves the record, and the next start builds the rest.
 */
export async function buildLedgerIndexes(db: Db): Promise<void> {
  const build = (tx: DbTx, i: { name: string; columns: string }) => tx.query(`CREATE INDEX IF NOT EXISTS ${i.name} ON ledger ${i.columns}`);
  if (db.engine === "postgres") {
    // Two lanes taking the next index from one queue, so that neither waits while the other has several left.
    const queue = [...LEDGER_QUERY_INDEXES];
    const lane = async () => {
      for (let i = queue.shift(); i; i = queue.shift()) {
        const index = i;
        await db.transaction(async (tx) => {
          await tx.query("SET LOCAL max_parallel_maintenance_workers = 0");
          await build(tx, index);
        });
      }
    };
    // Both lanes end before a failure is reported, so a retry never races a build still running.
    const failed = (await Promise.allSettled([lane(), lane()])).find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  } else {
    for (const i of LEDGER_QUERY_INDEXES) await build(db, i);
  }
  await db.query("DELETE FROM meta WHERE key = $1", [DEFERRED_KEY]);
}
