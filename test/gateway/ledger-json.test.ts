import { expect } from "chai";
import { Db } from "../../src/store/db";
import { ledgerPage, ledgerPageJson, LedgerFilter } from "../../src/services/ledger";
import { encodeCursor, decodeCursor } from "../../src/api/http";
import { engines } from "../support/db";

/**
 * The ledger pages the API sends are written by the database (ledgerPageJson); the CSV export and the other readers
 * use ledgerView on the rows. Both must say the same thing for every row: same fields, same values, same types,
 * same order of fields, same pages and cursors.
 */

const HASH = (n: number) => "0x" + n.toString(16).padStart(64, "0");
const ADDR = (n: number) => "0x" + n.toString(16).padStart(40, "0");

/** Rows of every shape the projector writes, and values a JSON writer must escape. */
async function fill(db: Db) {
  const rows: unknown[][] = [];
  for (let i = 1; i <= 23; i++) {
    const kind = i % 4;
    rows.push([
      1000 + i, HASH(i), 1_700_000_000 + 2 * i, HASH(10_000 + i), 0, i % 3,
      "0x5fbdb2315678afecb367f032d93f642f64180aa3",
      kind === 0 ? "MerchantAdmitted" : kind === 1 ? "CardPurchased" : kind === 2 ? "LessonsConsumed" : "PolicySet",
      kind === 3 ? null : (i % 2) + 1,
      kind === 3 || kind === 0 ? null : (BigInt((i % 2) + 1) << 32n | BigInt(i)).toString(),
      kind === 1 ? ADDR(i) : null,
      kind === 3 ? null : kind === 2 ? "9007199254740993" : String(i * 100),
      JSON.stringify(
        kind === 3
          ? { industryId: 3, note: 'quote " backslash \\ newline \n tab \t unicode 预付卡 \u0001', nested: { list: [1, 2.5, null, true], empty: {} } }
          : { cardId: String(i), lessons: i, amount: "12345678901234567890", flag: i % 2 === 0 },
      ),
    ]);
  }
  // an event name and holder no indexer writes, to show the database escapes them (hashes and contracts are hex:
  // decodeLog refuses a log whose hashes are not, the contract is one of the two followed addresses)
  rows.push([2000, HASH(99), 1_700_001_000, HASH(99_999), 0, 0, "0xabc", 'Odd"Event\\', 1, "4294967297", "line\nbreak", "1", "{}"]);
  for (const r of rows) {
    await db.query(
      `INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)`,
      r,
    );
  }
}

/** Every page of a filter, by both paths, following each path's own cursors. */
async function bothWays(db: Db, f: LedgerFilter, limit: number) {
  const viaViews: unknown[][] = [];
  const viaDatabase: unknown[][] = [];
  const texts: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await ledgerPage(db, f, after, limit);
    viaViews.push(JSON.parse(JSON.stringify(page.items)));
    if (!page.nextId) break;
    after = page.nextId;
  }
  after = null;
  for (;;) {
    const text = await ledgerPageJson(db, f, after, limit, encodeCursor);
    texts.push(text);
    const page = JSON.parse(text) as { items: unknown[]; nextCursor: string | null };
    expect(Object.keys(page)).to.deep.equal(["items", "nextCursor"]);
    viaDatabase.push(page.items);
    if (!page.nextCursor) break;
    after = decodeCursor(page.nextCursor);
  }
  return { viaViews, viaDatabase, texts };
}

for (const engine of engines()) {
  describe(`ledger pages written by the database (${engine.name})`, function () {
    this.timeout(60_000);
    let db: Db;
    before(async () => {
      db = await engine.open();
      await fill(db);
    });
    after(async () => {
      await db?.close();
    });

    it("equal the views of the same rows: fields, values, types and field order", async () => {
      const { viaViews, viaDatabase } = await bothWays(db, {}, 500);
      expect(viaDatabase).to.have.length(1);
      expect(viaDatabase[0]).to.have.length(24);
      expect(viaDatabase).to.deep.equal(viaViews);
      for (let i = 0; i < viaViews[0].length; i++) {
        expect(Object.keys(viaDatabase[0][i] as object)).to.deep.equal(Object.keys(viaViews[0][i] as object));
      }
      const odd = (viaDatabase[0] as { event: string; holder: string; amountFen: string | null; args: { amount?: string } }[]).find((r) => r.event === 'Odd"Event\\')!;
      expect(odd.holder).to.equal("line\nbreak");
      // a 64-bit amount stays exact: a decimal string, never through a float
      expect((viaDatabase[0] as { amountFen: string | null }[]).some((r) => r.amountFen === "9007199254740993")).to.equal(true);
    });

    it("page the same way: page sizes, cursors, the last page, filters and scopes", async () => {
      const filters: LedgerFilter[] = [
        {}, { merchantId: 1 }, { cardId: (2n << 32n) | 5n }, { holder: ADDR(5) }, { event: "LessonsConsumed" },
        { fromBlock: 1005, toBlock: 1017 }, { fromTime: 1_700_000_010, toTime: 1_700_000_030 }, { merchantScope: [2] }, { merchantScope: [] },
        { merchantId: 1, event: "CardPurchased", merchantScope: [1, 2] },
      ];
      for (const f of filters) {
        for (const limit of [1, 3, 6, 24, 50]) {
          const { viaViews, viaDatabase } = await bothWays(db, f, limit);
          expect(viaDatabase, `${JSON.stringify(f, (_k, v) => (typeof v === "bigint" ? String(v) : v))} limit ${limit}`).to.deep.equal(viaViews);
        }
      }
      // 24 rows in pages of 6: four full pages, the last without a cursor; an empty filter: one empty page
      const six = await bothWays(db, {}, 6);
      expect(six.viaDatabase.map((p) => p.length)).to.deep.equal([6, 6, 6, 6]);
      expect(JSON.parse(six.texts[3]).nextCursor).to.equal(null);
      const none = await bothWays(db, { merchantScope: [] }, 10);
      expect(none.texts).to.deep.equal(['{"items":[],"nextCursor":null}']);
    });

    it("asked for at once, are read together and come out as each alone", async () => {
      // every filter at a few positions and page sizes, twice each: pages with the same filters set share a statement
      const asks: { f: LedgerFilter; after: string | null; limit: number }[] = [];
      const ids = (await db.query<{ id: string }>("SELECT id::text AS id FROM ledger ORDER BY id")).map((r) => r.id);
      for (const f of [{}, { merchantId: 1 }, { merchantId: 2 }, { cardId: (2n << 32n) | 5n }, { holder: ADDR(5).toUpperCase() }, { event: "LessonsConsumed" },
        { event: "CardPurchased" }, { fromBlock: 1005, toBlock: 1017 }, { fromTime: 1_700_000_010, toTime: 1_700_000_030 }, { merchantScope: [2] }] as LedgerFilter[]) {
        for (const after of [null, ids[3], ids[11], ids[ids.length - 1]]) for (const limit of [1, 4, 50]) asks.push({ f, after, limit }, { f, after, limit });
      }
      const alone: string[] = [];
      for (const a of asks) alone.push(await ledgerPageJson(db, a.f, a.after, a.limit, encodeCursor));
      const together = await Promise.all(asks.map((a) => ledgerPageJson(db, a.f, a.after, a.limit, encodeCursor)));
      expect(together).to.deep.equal(alone);
      expect(alone.filter((t) => JSON.parse(t).items.length > 0).length).to.be.greaterThan(asks.length / 2);
    });

    it("read together, a page the database refuses fails alone", async () => {
      // an id past bigint's range (the API refuses such a cursor before it gets here): the statement fails, each page
      // is read again on its own, and only that one is refused
      const [good, bad, good2] = await Promise.allSettled([
        ledgerPageJson(db, {}, "1", 2, encodeCursor),
        ledgerPageJson(db, {}, "99999999999999999999", 2, encodeCursor),
        ledgerPageJson(db, {}, "5", 2, encodeCursor),
      ]);
      expect(good.status).to.equal("fulfilled");
      expect(good2.status).to.equal("fulfilled");
      expect(bad.status).to.equal("rejected");
      expect(JSON.parse((good as PromiseFulfilledResult<string>).value).items).to.have.length(2);
    });
  });
}
