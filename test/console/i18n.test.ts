import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { langOf, messageFor } from "../../src/api/messages";
import { usccProblem, usccCheckCharacter } from "../../src/web-public/shared/uscc";

/**
 * The words people read: both catalogues hold the same keys with the same placeholders, every key the pages use
 * exists, dates are Beijing time and money is ¥ from fen whatever the machine's zone; the API words a contract's
 * refusal in the caller's language; the 统一社会信用代码 check (GB 32100-2015) takes real codes and refuses wrong ones.
 */
const ROOT = path.join(__dirname, "..", "..", "src");
// The pages are browser ES modules in a CommonJS project: loaded with the real import(), not ts-node's require.
const load = new Function("p", "return import(p)") as (p: string) => Promise<Record<string, unknown>>;

describe("words for people (zh-CN first, English one switch away)", () => {
  let zh: Record<string, string>, en: Record<string, string>;
  before(async () => {
    zh = (await load(path.join(ROOT, "web-public/shared/i18n/zh-CN.js"))).default as Record<string, string>;
    en = (await load(path.join(ROOT, "web-public/shared/i18n/en.js"))).default as Record<string, string>;
  });

  it("gives both languages the same keys and the same {placeholders}", () => {
    expect(Object.keys(zh).sort()).to.deep.equal(Object.keys(en).sort());
    const holes = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
    for (const k of Object.keys(zh)) expect(holes(en[k]), k).to.deep.equal(holes(zh[k]));
    expect(Object.keys(zh).length).to.be.greaterThan(400);
  });

  it("has every key the three pages ask for, and Chinese text in the Chinese catalogue", () => {
    const files: string[] = [];
    const walk = (d: string) => { for (const f of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, f.name); if (f.isDirectory()) { if (f.name !== "i18n") walk(p); } else if (/\.(js|html)$/.test(f.name) && f.name !== "i18n.js") files.push(p); } };
    walk(path.join(ROOT, "console/public"));
    walk(path.join(ROOT, "web-public"));
    const used = new Set<string>();
    for (const f of files) {
      const text = fs.readFileSync(f, "utf8");
      for (const m of text.matchAll(/\bt(?:Or)?\("([\w.-]+)"/g)) used.add(m[1]);
      for (const m of text.matchAll(/data-i18n(?:-[a-z-]+)?="([\w.-]+)"/g)) used.add(m[1]);
    }
    expect(used.size).to.be.greaterThan(300);
    const missing = [...used].filter((k) => !(k in zh));
    expect(missing).to.deep.equal([]);
    for (const k of ["signin.title", "nav.merchants", "state.frozen", "reconcile.ok", "public.heading", "me.sign"]) expect(zh[k], k).to.match(/[\u4e00-\u9fff]/);
  });

  it("shows dates in Beijing time and money as ¥ from integer fen, whatever the machine's zone", async () => {
    const i18n = await load(path.join(ROOT, "web-public/shared/i18n.js"));
    const when = i18n.when as (s: number) => string, day = i18n.day as (s: number) => string, yuan = i18n.yuan as (f: string) => string;
    // 2026-12-07 16:30 UTC is 2026-12-08 00:30 in Beijing: the next calendar day there.
    const sec = Date.UTC(2026, 11, 7, 16, 30) / 1000;
    expect(when(sec)).to.equal("2026-12-08 00:30");
    expect(day(sec)).to.equal("2026-12-08");
    expect(yuan("123456")).to.equal("¥1,234.56");
    expect(yuan("90071992547409931")).to.equal("¥900,719,925,474,099.31");
    expect(yuan("-5")).to.equal("-¥0.05");
    expect((i18n.t as (k: string, p?: object) => string)("public.percentOfCard", { n: 40 })).to.equal("每张卡的 40%");
  });

  it("words a contract's refusal in the language the request asks for, and keeps the route's message without the header", () => {
    expect(langOf("zh-CN,zh;q=0.9,en;q=0.8")).to.equal("zh-CN");
    expect(langOf("en-GB,en;q=0.9")).to.equal("en");
    expect(langOf("fr-FR, en;q=0.5, zh;q=0.9")).to.equal("zh-CN");
    expect(langOf(undefined)).to.equal(null);
    expect(messageFor("zh-CN", "Custody_LessonCapExceeded", { lessons: 61, cap: 60 }, "x")).to.equal("超出课时上限：61 > 60");
    expect(messageFor("en", "Custody_LessonCapExceeded", { lessons: 61, cap: 60 }, "x")).to.equal("lesson cap exceeded: 61 > 60");
    expect(messageFor("zh-CN", "Custody_CardValueCapExceeded", { value: 600000, cap: 500000 }, "x")).to.equal("超出单卡金额上限：¥6,000.00 > ¥5,000.00");
    // enum arguments in words, not numbers ("status":3)
    expect(messageFor("zh-CN", "Custody_MerchantNotSelling", { merchantId: 7, status: 3 }, "x")).to.equal("商户 7 当前不能售卡（已冻结）");
    expect(messageFor("en", "Custody_CardNotActive", { cardId: "4294967297", status: 4 }, "x")).to.equal("card 4294967297 is not active (refunded)");
    expect(messageFor("zh-CN", "Custody_VoucherExpired", { cardId: 1, deadline: Date.UTC(2026, 0, 1, 4) / 1000, timestamp: Date.UTC(2026, 0, 1, 5) / 1000 }, "x"))
      .to.equal("消费凭证已过期：截止 2026-01-01 12:00，现在 2026-01-01 13:00");
    expect(messageFor("en", "InvalidRequest", [], "the request has invalid fields")).to.equal("the request has invalid fields");
    expect(messageFor("zh-CN", "SomethingNew", {}, "fallback")).to.equal("fallback");
  });
});

describe("统一社会信用代码 check character (GB 32100-2015)", () => {
  // Codes printed on real business licences (banks and companies anyone can look up).
  const REAL = ["91100000100003962T", "91110000101174712L", "91330100799655058B", "9144030071526726XG", "91110108551385082Q", "914403001922038216"];
  it("accepts real codes", () => {
    for (const c of REAL) expect(usccProblem(c), c).to.equal(null);
  });
  it("refuses each real code with any other check character", () => {
    const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
    for (const c of REAL) {
      for (const x of alphabet) if (x !== c[17]) expect(usccProblem(c.slice(0, 17) + x), c.slice(0, 17) + x).to.equal("check");
      expect(usccCheckCharacter(c.slice(0, 17))).to.equal(c[17]);
    }
  });
  it("names what is wrong: length, characters outside the alphabet (I O Z S V, lower case)", () => {
    expect(usccProblem("91110105MA01")).to.equal("length");
    expect(usccProblem("")).to.equal("length");
    expect(usccProblem(911100001011747)).to.equal("length");
    expect(usccProblem("91110000101174712I")).to.equal("characters");
    expect(usccProblem("9144030071526726xg")).to.equal("characters");
    expect(usccProblem("9111000010117471OL")).to.equal("characters");
  });
});
