import { expect } from "chai";
import { Client } from "pg";
import { Db, openDb } from "../../src/store/db";
import { migrate, MIGRATIONS } from "../../src/store/migrations";
import { dropDatabase, engines } from "../support/db";

const ALL = MIGRATIONS.map((m) => m.version);

for (const engine of engines()) {
  describe(`migrations (${engine.name})`, function () {
    this.timeout(120_000);
    let db: Db;
    before(async () => { db = await engine.open(); });
    after(async () => { await db?.close(); });

    it("records every migration once, and a second run applies nothing", async () => {
      const rows = await db.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
      expect(rows.map((r) => Number(r.version))).to.deep.equal(ALL);
      expect(await migrate(db)).to.deep.equal([]);
    });

    it("runs a migration's text as written: a semicolon in a string or a comment splits nothing", async () => {
      await db.transaction(async (tx) => {
        await tx.exec!(`CREATE TABLE script_check (x text); -- a comment; with a semicolon
          INSERT INTO script_check VALUES ('a;
b'); INSERT INTO script_check VALUES ('-- not a comment')`);
      });
      const rows = await db.query<{ x: string }>("SELECT x FROM script_check ORDER BY x");
      expect(rows.map((r) => r.x)).to.deep.equal(["-- not a comment", "a;\nb"]);
    });

    it("migration 25 gives stored ledger rows the amounts of the one definition (a dispute decision: its released share; a refund request: none)", async () => {
      const insert = (event: string, amount: number, args: object, n: number) => db.query(
        `INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
         VALUES (1, $1, 1, $2, 0, 0, '0xescrow', $3, 1, '4294967297', '0xholder', $4, $5::jsonb)`,
        ["0x" + "0".repeat(64), "0x" + String(n).padStart(64, "0"), event, amount, JSON.stringify(args)]);
      // rows as an index built before it wrote them: the decision with the refunded share, the request with the sum asked
      await insert("DisputeResolved", 700, { cardId: "4294967297", refunded: 700, released: 300, by: "0xregulator" }, 1);
      await insert("RefundRequested", 1000, { cardId: "4294967297", holder: "0xholder", amount: 1000 }, 2);
      await insert("CardRefunded", 700, { cardId: "4294967297", merchantId: 1, holder: "0xholder", amount: 700, reason: 2 }, 3);
      await db.query("DELETE FROM schema_migrations WHERE version = 25");
      expect(await migrate(db)).to.deep.equal([25]);
      const rows = await db.query<{ event: string; amount: string | null }>("SELECT event, amount::text FROM ledger WHERE merchant_id = 1 ORDER BY tx_hash");
      expect(rows).to.deep.equal([{ event: "DisputeResolved", amount: "300" }, { event: "RefundRequested", amount: null }, { event: "CardRefunded", amount: "700" }]);
    });
  });
}

const url = process.env.TEST_DATABASE_URL;
(url ? describe : describe.skip)("migrations on one PostgreSQL server from two gateways starting at once", function () {
  this.timeout(120_000);
  const name = `custody_migrate_${process.pid}_${Date.now()}`;
  const handles: Db[] = [];
  before(async () => {
    const admin = new Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
  });
  after(async () => {
    for (const h of handles) await h.close().catch(() => undefined);
    await dropDatabase(url!, name);
  });

  it("apply each migration once, under the advisory lock, whichever comes first", async () => {
    const u = new URL(url!);
    u.pathname = "/" + name;
    // two pools, as two processes would have: each migrate() runs on connections of its own
    for (let i = 0; i < 3; i++) handles.push(await openDb({ databaseUrl: u.toString() }));
    const runs = await Promise.all(handles.map((h) => migrate(h)));
    const applied = runs.flat().sort((a, b) => a - b);
    expect(applied).to.deep.equal(ALL); // every version by exactly one of them, none twice, no error
    const rows = await handles[0].query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
    expect(rows.map((r) => Number(r.version))).to.deep.equal(ALL);
  });
});
