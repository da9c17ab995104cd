import { expect } from "chai";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";

/** Migration 24: the hex identifiers the indexer writes in bulk compare bytewise on every engine, whatever its locale. */
const BYTEWISE: [string, string][] = [
  ["ledger", "block_hash"], ["ledger", "tx_hash"], ["ledger", "contract"], ["ledger", "event"], ["ledger", "holder"],
  ["cards", "holder"], ["merchants", "account"], ["payouts", "tx_hash"], ["refunds", "tx_hash"], ["refunds", "holder"],
  ["risk_history", "tx_hash"], ["blocks", "hash"], ["blocks", "parent_hash"],
];

for (const engine of engines()) {
  describe(`store collations (${engine.name})`, function () {
    this.timeout(60_000);
    let db: Db;
    before(async () => { db = await engine.open(); });
    after(async () => { await db.close(); });

    it("declares addresses, hashes and event names COLLATE \"C\"", async () => {
      const rows = await db.query<{ table_name: string; column_name: string; collation_name: string | null }>(
        `SELECT table_name, column_name, collation_name FROM information_schema.columns
         WHERE table_schema = 'public' AND (table_name, column_name) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
        [BYTEWISE.map((c) => c[0]), BYTEWISE.map((c) => c[1])]);
      expect(rows.map((r) => `${r.table_name}.${r.column_name}`).sort()).to.deep.equal(BYTEWISE.map((c) => c.join(".")).sort());
      for (const r of rows) expect(r.collation_name, `${r.table_name}.${r.column_name}`).to.equal("C");
    });

    it("orders them bytewise and still compares them with default-collation text", async () => {
      await db.query(`INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, holder, args)
        SELECT 1, '0x' || repeat('0', 64), 1, '0x' || lpad(n::text, 64, '0'), 0, 0, '0xabc', e, h, '{}'::jsonb
        FROM (VALUES (1, 'cardPurchased', '0xb'), (2, 'CardRenewed', '0xA'), (3, 'Zed', '0xa')) v(n, e, h)`);
      const byHolder = await db.query<{ holder: string }>("SELECT holder FROM ledger ORDER BY holder");
      expect(byHolder.map((r) => r.holder)).to.deep.equal(["0xA", "0xa", "0xb"]);
      const byEvent = await db.query<{ event: string }>("SELECT event FROM ledger ORDER BY event");
      expect(byEvent.map((r) => r.event)).to.deep.equal(["CardRenewed", "Zed", "cardPurchased"]);
      // a default-collation column on the other side (consumer_sessions.address) and a parameter: no collation conflict
      await db.query("INSERT INTO consumer_sessions (id, token_hash, address, expires_at) VALUES ('s1', 'h', '0xa', 0)");
      const joined = await db.query<{ holder: string }>(
        "SELECT l.holder FROM ledger l JOIN consumer_sessions s ON s.address = l.holder WHERE l.holder = $1 AND l.holder < s.address || 'z'", ["0xa"]);
      expect(joined.map((r) => r.holder)).to.deep.equal(["0xa"]);
    });
  });
}
