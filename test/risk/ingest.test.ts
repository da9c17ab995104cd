import { expect } from "chai";
import { Db } from "../../src/store/db";
import { Refusal } from "../../src/errors";
import { addSignal, importSignalFile, ImportProgress, parseSignalFile } from "../../src/risk/ingest";
import { engines } from "../support/db";
import { addMerchant, NOW } from "./support";

const HEADER = "recordId,kind,source,merchantId,occurredAt,category,refundRelated,fact,action,detail,role,amountFen,caseType";

const GOOD_CSV = [
  HEADER,
  "c-1,complaint,dianping,1,1735689600,refund,true,,,,,,",
  "t-1,hotline_ticket,12345,1,2025-01-02,service_quality,false,,,,,,",
  'r-1,registry_fact,gsxt,2,1735689600,,,abnormal_operation,listed,"unreachable at the registered address, Chaoyang",,,',
  "l-1,litigation,court,2,2025-01-03T10:00:00+08:00,,,,,,defendant,12345600,labour",
].join("\n");

const GOOD_JSONL = [
  `{"recordId":"c-2","kind":"complaint","source":"12315","merchantId":1,"occurredAt":1735689600,"category":"refund","refundRelated":true}`,
  ``,
  `{"recordId":"r-2","kind":"registry_fact","source":"court","merchantId":"2","occurredAt":"2025-03-01","fact":"dishonest_debtor","action":"listed"}`,
  `{"recordId":"l-2","kind":"litigation","source":"court","merchantId":2,"occurredAt":1735689600,"role":"plaintiff","amountFen":"900000000000","caseType":"contract"}`,
].join("\n");

for (const engine of engines()) {
  describe(`risk signal ingestion (${engine.name})`, function () {
    let db: Db;
    const count = async (table: string) => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0].n);

    beforeEach(async () => {
      db = await engine.open();
      await addMerchant(db, 1);
      await addMerchant(db, 2);
    });
    afterEach(async () => db?.close());

    describe("a good file", function () {
      it("applies a CSV file, every kind, with the kind's fields stored snake_case", async function () {
        const r = await importSignalFile(db, GOOD_CSV, { format: "csv", now: NOW });
        expect(r).to.deep.include({ status: "applied", rows: 4, inserted: 4, duplicates: 0 });
        const rows = await db.query<{ record_id: string; kind: string; merchant_id: string; occurred_at: string; fields: Record<string, unknown> }>(
          "SELECT record_id, kind, merchant_id, occurred_at, fields FROM risk_signals ORDER BY record_id",
        );
        const byId = Object.fromEntries(rows.map((x) => [x.record_id, x]));
        expect(byId["c-1"].fields).to.deep.equal({ category: "refund", refund_related: true });
        expect(Number(byId["t-1"].occurred_at)).to.equal(Date.UTC(2025, 0, 1, 16) / 1000); // 2025-01-02 in Beijing
        expect(byId["r-1"].fields).to.deep.equal({ fact: "abnormal_operation", action: "listed", detail: "unreachable at the registered address, Chaoyang" });
        expect(byId["l-1"].fields).to.deep.equal({ role: "defendant", amount_fen: "12345600", case_type: "labour" });
        expect(Number(byId["l-1"].occurred_at)).to.equal(Date.UTC(2025, 0, 3, 2) / 1000);
        const [imp] = await db.query("SELECT * FROM risk_imports");
        expect(imp).to.deep.include({ id: (r as { importId: string }).importId, format: "csv", rows: 4, inserted: 4, duplicates: 0, status: "applied" });
        expect((await db.query("SELECT DISTINCT import_id FROM risk_signals")).map((x) => x.import_id)).to.deep.equal([imp.id]);
      });

      it("applies a JSON Lines file (blank lines skipped, ids and money as strings or numbers)", async function () {
        const r = await importSignalFile(db, GOOD_JSONL, { format: "jsonl", now: NOW });
        expect(r).to.deep.include({ status: "applied", rows: 3, inserted: 3, duplicates: 0 });
        const [l] = await db.query<{ fields: Record<string, unknown> }>("SELECT fields FROM risk_signals WHERE record_id = 'l-2'");
        expect(l.fields.amount_fen).to.equal("900000000000");
      });
    });

    describe("a file with bad rows", function () {
      const BAD_CSV = [
        HEADER,
        "c-1,complaint,dianping,1,1735689600,refund,true,,,,,,", // 2: good
        "x-1,rumour,weibo,1,1735689600,refund,true,,,,,,", // 3: unknown kind
        "c-2,complaint,dianping,1,1735689600,refund,maybe,,,,,,", // 4: refundRelated not a boolean
        "l-1,litigation,court,2,1735689600,,,,,,defendant,12.5,labour", // 5: money with a fraction
        "c-3,complaint,dianping,99,1735689600,refund,true,,,,,,", // 6: merchant not on the platform
        "r-1,registry_fact,gsxt,2,1735689600,refund,,abnormal_operation,listed,,,,", // 7: a complaint's field on a registry fact
        "r-2,registry_fact,gsxt,2,yesterday,,,on_fire,listed,,,,", // 8: bad date and fact
        "c-4,complaint,dianping,1,1735689600,refund,true", // 9: too few cells
        "t-1,hotline_ticket,12345,1,1735689600,refund,false,,,,,,", // 10: good
      ].join("\n");

      it("rejects the whole file, lists every bad row with its line and reason, and applies nothing", async function () {
        const r = await importSignalFile(db, BAD_CSV, { format: "csv", now: NOW });
        expect(r.status).to.equal("rejected");
        if (r.status !== "rejected") return;
        expect(r.rows).to.equal(9);
        expect(r.badRows.map((b) => b.line)).to.deep.equal([3, 4, 5, 6, 7, 8, 9]);
        const reasons = Object.fromEntries(r.badRows.map((b) => [b.line, b.problems.map((p) => `${p.field}: ${p.reason}`).join("; ")]));
        expect(reasons[3]).to.match(/^kind: /);
        expect(reasons[4]).to.match(/refundRelated is true or false/);
        expect(reasons[5]).to.match(/amountFen is a whole, non-negative number of fen/);
        expect(reasons[6]).to.match(/merchant 99 is not on the platform/);
        expect(reasons[7]).to.match(/^category: not a field of a registry_fact record/);
        expect(reasons[8]).to.match(/occurredAt/).and.to.match(/fact is one of/);
        expect(reasons[9]).to.match(/7 cells, the header has 13/);
        expect(r.badRows.find((b) => b.line === 5)!.recordId).to.equal("l-1");
        expect(await count("risk_signals")).to.equal(0);
        expect(await count("risk_imports")).to.equal(0);
      });

      it("numbers lines from the start of a record when a quoted field spans lines", async function () {
        const csv = [HEADER, 'r-1,registry_fact,gsxt,2,1735689600,,,licence_change,listed,"two\nlines",,,', "c-1,complaint,x,1,soon,refund,true,,,,,,"].join("\n");
        const r = await importSignalFile(db, csv, { format: "csv", now: NOW });
        expect(r.status === "rejected" && r.badRows.map((b) => b.line)).to.deep.equal([4]);
      });

      it("lists a JSON line that is not JSON, or not an object, by its line", async function () {
        const text = [GOOD_JSONL, "{not json", "[1,2]", `{"recordId":"c-9","kind":"complaint","source":"x","merchantId":1,"occurredAt":99999999999,"category":"x","refundRelated":false}`].join("\n");
        const r = await importSignalFile(db, text, { format: "jsonl", now: NOW });
        expect(r.status).to.equal("rejected");
        if (r.status !== "rejected") return;
        expect(r.badRows.map((b) => [b.line, b.problems[0].reason.slice(0, 20)])).to.deep.equal([
          [5, "not JSON: Expected p"],
          [6, "each line is one JSO"],
          [7, "occurredAt is in the"],
        ]);
        expect(await count("risk_signals")).to.equal(0);
      });

      it("rejects a header with missing or unknown columns", async function () {
        const r = await importSignalFile(db, "recordId,kind,source,merchant,occurredAt\nc-1,complaint,x,1,1735689600", { format: "csv", now: NOW });
        expect(r.status === "rejected" && r.badRows).to.deep.equal([
          { line: 1, problems: [{ field: "header", reason: "missing column(s) merchantId" }, { field: "header", reason: `unknown column(s) merchant; the columns are ${HEADER.split(",").join(", ")}` }] },
        ]);
      });

      it("flags a record id repeated with different content, and counts an identical repeat as a duplicate", async function () {
        const row = "c-1,complaint,dianping,1,1735689600,refund,true,,,,,,";
        const conflicting = await importSignalFile(db, [HEADER, row, row.replace("true", "false")].join("\n"), { format: "csv", now: NOW });
        expect(conflicting.status === "rejected" && conflicting.badRows[0].problems[0].reason).to.equal("recordId c-1 is also on line 2 with different content");
        const identical = await importSignalFile(db, [HEADER, row, row].join("\n"), { format: "csv", now: NOW });
        expect(identical).to.deep.include({ status: "applied", rows: 2, inserted: 1, duplicates: 1 });
      });
    });

    describe("idempotency", function () {
      it("re-sending the same file changes nothing", async function () {
        const first = await importSignalFile(db, GOOD_CSV, { format: "csv", now: NOW });
        const before = await db.query("SELECT * FROM risk_signals ORDER BY record_id");
        const again = await importSignalFile(db, GOOD_CSV, { format: "csv", now: NOW });
        expect(again).to.deep.equal({ ...first, inserted: 0, duplicates: 4 });
        expect(await db.query("SELECT * FROM risk_signals ORDER BY record_id")).to.deep.equal(before);
        expect(await db.query("SELECT id, rows, inserted, duplicates FROM risk_imports")).to.deep.equal([{ id: (first as { importId: string }).importId, rows: 4, inserted: 4, duplicates: 0 }]);
      });

      it("a file overlapping an earlier one inserts only the new records", async function () {
        await importSignalFile(db, GOOD_CSV, { format: "csv", now: NOW });
        const overlap = [HEADER, ...GOOD_CSV.split("\n").slice(1, 3), "c-5,complaint,dianping,1,1735689600,price,false,,,,,,"].join("\n");
        const r = await importSignalFile(db, overlap, { format: "csv", now: NOW });
        expect(r).to.deep.include({ status: "applied", rows: 3, inserted: 1, duplicates: 2 });
        expect(await count("risk_signals")).to.equal(5);
      });
    });

    it("reports progress every N rows while validating and while applying", async function () {
      const rows = Array.from({ length: 5 }, (_v, i) => `c-${i},complaint,dianping,1,1735689600,refund,true,,,,,,`);
      const seen: ImportProgress[] = [];
      await importSignalFile(db, [HEADER, ...rows].join("\n"), { format: "csv", now: NOW, progressEvery: 2, chunkRows: 2, onProgress: (p) => seen.push(p) });
      expect(seen.map((p) => `${p.phase} ${p.done}/${p.total}`)).to.deep.equal([
        "validating 2/5", "validating 4/5", "validating 5/5", "applying 2/5", "applying 4/5", "applying 5/5",
      ]);
    });

    describe("one record (the API's path)", function () {
      const ticket = { recordId: "t-9", kind: "hotline_ticket", source: "12345", merchantId: 1, occurredAt: 1735689600, category: "refund", refundRelated: true };

      it("stores it once: a second send is a duplicate", async function () {
        expect((await addSignal(db, ticket, { now: NOW })).status).to.equal("inserted");
        expect((await addSignal(db, ticket, { now: NOW })).status).to.equal("duplicate");
        expect(await count("risk_signals")).to.equal(1);
      });

      it("refuses an invalid record with the same reasons as a file's row", async function () {
        const err = await addSignal(db, { ...ticket, refundRelated: undefined, merchantId: 0 }, { now: NOW }).catch((e) => e);
        expect(err).to.be.instanceOf(Refusal);
        expect(err.kind).to.equal("invalid");
        expect(err.details.map((d: { field: string }) => d.field).sort()).to.deep.equal(["merchantId", "refundRelated"]);
        const unknown = await addSignal(db, { ...ticket, merchantId: 7 }, { now: NOW }).catch((e) => e);
        expect(unknown.details).to.deep.equal([{ field: "merchantId", reason: "merchant 7 is not on the platform" }]);
        expect(await count("risk_signals")).to.equal(0);
      });
    });

    it("parses without the database (parseSignalFile)", function () {
      const p = parseSignalFile(GOOD_CSV, "csv", { now: NOW });
      expect(p.rows).to.equal(4);
      expect(p.badRows).to.deep.equal([]);
      expect(p.signals.map((s) => s.line)).to.deep.equal([2, 3, 4, 5]);
      expect(p.signals[3].signal).to.deep.include({ kind: "litigation", amountFen: 12_345_600n });
    });
  });
}
