import { expect } from "chai";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { coalescedLookup } from "../../src/store/coalesce";

/** Migration 24: the hex identifiers the indexer writes in bulk compare bytewise on every engine, whatever its locale. */
const BYTEWISE: [string, string][] = [
  ["ledger", "block_hash"], ["ledger", "tx_hash"], ["ledger", "contract"], ["ledger", "event"], ["ledger", "holder"],
  ["cards", "holder"], ["merchants", "account"], ["payouts", "tx_hash"], ["refunds", "tx_hash"], ["refunds", "holder"],
  ["risk_history", "tx_hash"], ["blocks", "hash"], ["blocks", "parent_hash"],
];

for (const engine of engines()) {
  describe(`store: collations, coalesced reads (${engine.name})`, function () {
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

    it("reads by key coalesced: lookups of one turn share a statement and each gets its own row", async () => {
      for (let i = 1; i <= 5; i++) {
        await db.query(`INSERT INTO cards (card_id, merchant_id, holder, plan_index, kind, status, named, held, units_left, units_used, paid_in, direct,
          released, refunded, started_at, expires_at, updated_block) VALUES ($1, 1, $2, 0, 'lesson', 'active', true, 100, 1, 0, 100, 0, 0, 0, 0, 0, 1)`,
          [((1n << 32n) | BigInt(i)).toString(), "0x" + String(i).repeat(40)]);
      }
      const big = ((0xffffffffn << 32n) | 7n).toString(); // past 2^53: must come back exact, as a string key
      await db.query(`INSERT INTO cards (card_id, merchant_id, holder, plan_index, kind, status, named, held, units_left, units_used, paid_in, direct,
        released, refunded, started_at, expires_at, updated_block) VALUES ($1, 1, '0xbig', 0, 'lesson', 'active', true, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1)`, [big]);
      let statements = 0;
      const counted: Db = { ...db, engine: db.engine, query: (sql, params, opts) => { statements++; return db.query(sql, params, opts); } };
      const byId = coalescedLookup<{ card_id: string; holder: string }>("SELECT card_id, holder FROM cards WHERE card_id = ANY($1::numeric[])", (r) => String(r.card_id));
      const keys = [1, 2, 2, 3, 99, 5].map((i) => ((1n << 32n) | BigInt(i)).toString()).concat(big);
      const together = await Promise.all(keys.map((k) => byId(counted, k)));
      expect(statements).to.equal(1);
      expect(together.map((r) => r?.holder ?? null)).to.deep.equal(["0x" + "1".repeat(40), "0x" + "2".repeat(40), "0x" + "2".repeat(40), "0x" + "3".repeat(40), null, "0x" + "5".repeat(40), "0xbig"]);
      const alone = [];
      for (const k of keys) alone.push(await byId(counted, k));
      expect(statements).to.equal(1 + keys.length);
      expect(alone).to.deep.equal(together);
      // a key the database refuses (not a number) fails its own caller only
      const [ok, bad] = await Promise.allSettled([byId(counted, keys[0]), byId(counted, "not-a-number")]);
      expect(ok.status).to.equal("fulfilled");
      expect(bad.status).to.equal("rejected");
    });
  });
}
