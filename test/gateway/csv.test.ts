import { expect } from "chai";
import { readCsv } from "../../src/csv";
import { parseStatementCsv } from "../../src/services/reconciliation";
import { parseOnboardingFile } from "../../src/services/onboarding";
import { parseSignalFile } from "../../src/risk/ingest";
import { Refusal } from "../../src/errors";

const BOM = "\ufeff";

/** Fields that break a parser splitting on commas or lines: commas, doubled quotes, line breaks, Chinese text. */
const TRICKY = ['朝阳区, 三里屯', '他说"退卡"', "第一行\n第二行", "plain"];
const quote = (f: string) => `"${f.replace(/"/g, '""')}"`;

describe("CSV (one reader for statements, onboarding and risk signals)", function () {
  describe("readCsv", function () {
    for (const [name, prefix] of [["without a byte-order mark", ""], ["with a UTF-8 byte-order mark", BOM]] as const) {
      for (const [ends, eol] of [["LF", "\n"], ["CRLF", "\r\n"]] as const) {
        it(`reads quoted commas, quotes, line breaks and Chinese text, ${name}, ${ends} line ends`, function () {
          const text = prefix + ["名称,备注,n", TRICKY.map(quote).join(","), "中文,末,2"].join(eol) + eol;
          const { records, problem } = readCsv(text);
          expect(problem).to.equal(undefined);
          expect(records.map((r) => r.cells)).to.deep.equal([["名称", "备注", "n"], TRICKY, ["中文", "末", "2"]]);
          expect(records.map((r) => r.line)).to.deep.equal([1, 2, 4]); // the quoted line break moves the next record down
          expect(records[0].cells[0].charCodeAt(0)).to.not.equal(0xfeff);
        });
      }
    }

    it("leaves blank lines and all-blank rows out, and numbers records by the line they start on", function () {
      const { records } = readCsv("a,b\n\n  \n,,\n1,2\n");
      expect(records).to.deep.equal([{ line: 1, cells: ["a", "b"] }, { line: 5, cells: ["1", "2"] }]);
    });

    it("names the line of a malformed quote and reads nothing after it", function () {
      expect(readCsv('a,b\n1,2\n3,"unclosed\n4,5\n')).to.deep.equal({
        records: [{ line: 1, cells: ["a", "b"] }, { line: 2, cells: ["1", "2"] }], problem: { line: 3, reason: "a quoted field is not closed" },
      });
      expect(readCsv('a,b\n1,"x"y\n2,3').problem).to.deep.include({ line: 2 });
      expect(readCsv('a,b\n1,2\n1,a"b\n').problem).to.deep.include({ line: 3 });
    });
  });

  describe("a bank's statement", function () {
    const tx = "0x" + "ab".repeat(32);
    it("keeps a reference holding a comma, a quote and Chinese text, with or without a byte-order mark", function () {
      for (const prefix of ["", BOM]) {
        const st = parseStatementCsv(prefix + ["ref,direction,amountFen,txHash,cardId,merchantId", `"流水, 2025-01-02 ""甲""",in,1500,${tx},4294967297,1`, "closing,,1500"].join("\r\n"));
        expect(st.closingBalanceFen).to.equal(1500n);
        expect(st.lines).to.deep.equal([{ ref: '流水, 2025-01-02 "甲"', direction: "in", amountFen: 1500n, txHash: tx, cardId: "4294967297", merchantId: 1 }]);
      }
    });
    it("names the line of a bad field and of a malformed quote in a 400", function () {
      try {
        parseStatementCsv('ref,direction,amountFen\nx,sideways,1\n"y,in,2\n');
        expect.fail("accepted");
      } catch (err) {
        expect(err).to.be.instanceOf(Refusal);
        expect((err as Refusal).kind).to.equal("invalid");
        expect(((err as Refusal).details as { field: string }[]).map((d) => d.field)).to.include.members(["line 2.direction", "line 3"]);
      }
    });
  });

  describe("an onboarding import", function () {
    it("keeps names and notes holding commas, quotes and line breaks, with or without a byte-order mark", function () {
      for (const prefix of ["", BOM]) {
        const csv = prefix + [
          "registration_number,name,district,industry_id,required,started_on,note",
          `91110105MA01,${quote("北京某某教育科技有限公司, 朝阳分校")},朝阳区,1,true,2025-01-02,${quote('备注: "优先"\n第二行')}`,
        ].join("\n");
        const { format, rows } = parseOnboardingFile(csv);
        expect(format).to.equal("csv");
        expect(rows).to.have.length(1);
        expect(rows[0]).to.deep.include({ registrationNumber: "91110105MA01", name: "北京某某教育科技有限公司, 朝阳分校", district: "朝阳区", industryId: 1, note: '备注: "优先"\n第二行' });
      }
    });
  });

  describe("a risk signal file", function () {
    const HEADER = "recordId,kind,source,merchantId,occurredAt,category,refundRelated,fact,action,detail,role,amountFen,caseType";
    it("keeps a detail holding a comma, quotes, a line break and Chinese text, with or without a byte-order mark", function () {
      for (const prefix of ["", BOM]) {
        const detail = '注册地址无法联系, "失联"\n朝阳区';
        const csv = prefix + [HEADER, `r-1,registry_fact,gsxt,2,1735689600,,,abnormal_operation,listed,${quote(detail)},,,`, "c-1,complaint,12315,1,1735689600,退款,true,,,,,,"].join("\r\n");
        const p = parseSignalFile(csv, "csv", { now: 1_800_000_000 });
        expect(p.badRows).to.deep.equal([]);
        expect(p.signals.map((s) => s.line)).to.deep.equal([2, 4]);
        expect(p.signals[0].signal).to.deep.include({ kind: "registry_fact", detail });
        expect(p.signals[1].signal).to.deep.include({ kind: "complaint", category: "退款" });
      }
    });
  });
});
