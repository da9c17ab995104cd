import { expect } from "chai";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";

/**
 * The store's one interface (src/store/db.ts) behaves the same on both engines: errors keep the database's facts,
 * transactions are all or nothing and are never seen half-done by other statements, values keep their types.
 */
for (const engine of engines()) {
  describe(`store engine: statements, transactions, errors, values (${engine.name})`, function () {
    this.timeout(60_000);
    let db: Db;
    before(async () => {
      db = await engine.open();
      await db.query("CREATE TABLE t (k int PRIMARY KEY, v text)");
    });
    after(async () => { await db.close(); });
    beforeEach(async () => { await db.query("DELETE FROM t"); });

    const count = async () => Number((await db.query<{ n: string | number }>("SELECT count(*) AS n FROM t"))[0].n);

    it("rejects a refused statement with the database's code, constraint and message, and runs the next one", async () => {
      await db.query("INSERT INTO t VALUES (1, 'a')");
      const err = await db.query("INSERT INTO t VALUES (1, 'b')").then(() => null, (e: unknown) => e as Record<string, unknown>);
      expect(err).to.be.instanceOf(Error);
      expect(err!.code).to.equal("23505");
      expect(err!.constraint).to.equal("t_pkey");
      expect(String(err!.message)).to.match(/duplicate key value violates unique constraint "t_pkey"/);
      expect(await count()).to.equal(1);
    });

    it("applies a transaction whole or not at all, and returns its value", async () => {
      const failed = await db.transaction(async (tx) => {
        await tx.query("INSERT INTO t VALUES (1, 'a'), (2, 'b')");
        await tx.query("INSERT INTO t VALUES (2, 'again')"); // refused: the first insert goes too
      }).then(() => null, (e: { code?: string }) => e);
      expect(failed?.code).to.equal("23505");
      expect(await count()).to.equal(0);
      const out = await db.transaction(async (tx) => {
        await tx.query("INSERT INTO t VALUES (1, 'a'), (2, 'b')");
        return (await tx.query<{ n: string | number }>("SELECT count(*) AS n FROM t"))[0].n;
      });
      expect(Number(out)).to.equal(2);
      expect(await count()).to.equal(2);
    });

    it("never shows a statement sent meanwhile the rows of a transaction that then rolls back", async () => {
      let inserted!: () => void;
      const insertedP = new Promise<void>((r) => (inserted = r));
      let proceed!: () => void;
      const proceedP = new Promise<void>((r) => (proceed = r));
      const tx = db.transaction(async (t) => {
        await t.query("INSERT INTO t VALUES (7, 'uncommitted')");
        inserted();
        await proceedP;
        throw new Error("changed my mind");
      }).catch((e: Error) => e.message);
      await insertedP;
      const outside = db.query<{ k: number }>("SELECT k FROM t"); // sent while the transaction holds its row
      proceed();
      expect(await tx).to.equal("changed my mind");
      expect(await outside).to.deep.equal([]);
      expect(await count()).to.equal(0);
    });

    it("keeps values' types across: exact big numbers, JSON, bytes, text, times and nulls", async () => {
      const big = (2n ** 96n + 7n).toString();
      const [row] = await db.query<Record<string, unknown>>(
        `SELECT $1::numeric AS big, $2::jsonb AS doc, $3::bytea AS raw, $4::text AS txt, to_timestamp(1700000000) AS at, NULL::int AS nothing`,
        [big, JSON.stringify({ a: [1, "二", null], b: { c: true } }), Buffer.from([0, 1, 254, 255]), "收费 \t\\ \"q\""]);
      expect(String(row.big)).to.equal(big);
      expect(row.doc).to.deep.equal({ a: [1, "二", null], b: { c: true } });
      expect(row.raw).to.be.instanceOf(Uint8Array);
      expect([...(row.raw as Uint8Array)]).to.deep.equal([0, 1, 254, 255]);
      expect(row.txt).to.equal("收费 \t\\ \"q\"");
      expect(row.at).to.be.instanceOf(Date);
      expect((row.at as Date).getTime()).to.equal(1_700_000_000_000);
      expect(row.nothing).to.equal(null);
    });

    it("answers many statements sent at once, each with its own rows, in any order of completion", async () => {
      await db.query("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g");
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => db.query<{ v: string }>("SELECT v FROM t WHERE k = $1", [i + 1])));
      expect(answers.map((r) => r[0].v)).to.deep.equal(Array.from({ length: 50 }, (_, i) => `v${i + 1}`));
    });
  });
}
