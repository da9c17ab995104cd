import { expect } from "chai";
import { Db } from "../../src/store/db";
import { industryModelOf, loadRiskModel, MODEL_V1, rateMerchants, RiskModel } from "../../src/risk/model";
import { liftOverride, setOverride } from "../../src/risk/overrides";
import { engines } from "../support/db";
import { addMerchant, addRiskSignal, buyCard, DAY, NOW } from "./support";

const ago = (days: number) => NOW - days * DAY;
const complaint = (refund = false) => ({ category: refund ? "refund" : "service_quality", refund_related: refund });

/** MODEL_V1 with its numbers pinned, so these tests check the mechanics, not the tuning. */
function testModel(): RiskModel {
  const m = structuredClone(MODEL_V1);
  m.halfLifeDays = { complaint: 30, hotline_ticket: 30, litigation: 90, licence_change: 60 };
  m.refundRelatedFactor = 2;
  m.default.sizeFloorCards = 100;
  m.default.levels = { medium: 1, high: 2 };
  for (const s of Object.keys(m.default.signals) as (keyof RiskModel["default"]["signals"])[]) m.default.signals[s] = { weight: 0.1, threshold: 5, cap: 50 };
  m.default.signals.complaints = { weight: 0.1, threshold: 2, cap: 30 };
  m.default.signals.hotline_tickets = { weight: 0.2, threshold: 1, cap: 30 };
  m.default.signals.litigation = { weight: 1, threshold: 0, cap: 5 };
  m.default.signals.complaint_trend = { weight: 0, threshold: 0, cap: 1 }; // its own tests turn it on
  m.trend = { recentDays: 90, smoothing: 2, minPriorDays: 90 };
  m.litigation = { roles: { defendant: 1, third_party: 0.25, plaintiff: 0 }, caseTypeWeights: { labour: 1.5, contract: 1 }, largeAmountFen: "10000000", largeAmountFactor: 1.5 };
  m.industries = { "1": { signals: { complaints: { weight: 0.5 } }, levels: { high: 1.5 } } };
  return m;
}

for (const engine of engines()) {
  describe(`risk model (${engine.name})`, function () {
    let db: Db;
    const model = testModel();
    const rate = async (id: number, asOf = NOW, m = model) => (await rateMerchants(db, asOf, m, { merchantIds: [id] }))[0];

    beforeEach(async () => {
      db = await engine.open();
    });
    afterEach(async () => db?.close());

    describe("hard rules of the Beijing regulation", function () {
      for (const fact of ["dishonest_debtor", "abnormal_operation", "deregistration"] as const) {
        it(`a merchant listed for ${fact} is at least high, with the rule in the explanation`, async function () {
          await addMerchant(db, 1);
          await addRiskSignal(db, 1, "registry_fact", ago(10), { fact, action: "listed" }, `reg-${fact}`);
          const r = await rate(1);
          expect(r.score).to.equal(0);
          expect(r).to.deep.include({ level: "high", computedLevel: "high" });
          expect(r.explanation).to.have.length(1);
          expect(r.explanation[0]).to.deep.include({ signal: fact, value: 1, contribution: 0 });
          expect(r.explanation[0].rule).to.match(/^at least high: 北京市单用途预付卡管理条例/);
          expect(r.explanation[0].detail).to.deep.include({ recordId: `reg-${fact}`, listedAt: ago(10) });
        });

        it(`a ${fact} listing no longer applies once removed, and not before it was made`, async function () {
          await addMerchant(db, 1);
          await addRiskSignal(db, 1, "registry_fact", ago(20), { fact, action: "listed" });
          await addRiskSignal(db, 1, "registry_fact", ago(5), { fact, action: "removed" });
          expect((await rate(1)).level).to.equal("low");
          expect((await rate(1, ago(10))).level).to.equal("high");
          expect((await rate(1, ago(25))).level).to.equal("low");
        });
      }

      it("a licence change is a signal, not a hard rule", async function () {
        await addMerchant(db, 1);
        await addRiskSignal(db, 1, "registry_fact", ago(1), { fact: "licence_change", action: "listed" });
        const r = await rate(1);
        expect(r.level).to.equal("low");
        expect(r.explanation.map((e) => e.signal)).to.deep.equal([]); // 1 change is under the threshold of 5
        const m = structuredClone(model);
        m.default.signals.licence_changes = { weight: 1, threshold: 0, cap: 2 };
        expect((await rate(1, NOW, m)).explanation[0]).to.deep.include({ signal: "licence_changes", contribution: 0.9885 });
      });
    });

    describe("the explanation", function () {
      it("lists the signals that moved the score with their weights and contributions, largest first", async function () {
        await addMerchant(db, 1);
        for (let i = 0; i < 6; i++) await addRiskSignal(db, 1, "complaint", NOW, complaint());
        for (let i = 0; i < 2; i++) await addRiskSignal(db, 1, "hotline_ticket", NOW, complaint());
        await addRiskSignal(db, 1, "litigation", NOW, { role: "defendant", amount_fen: "100000", case_type: "Labour" });
        await addRiskSignal(db, 1, "litigation", NOW, { role: "plaintiff", amount_fen: "100000", case_type: "contract" }); // not counted
        const r = await rate(1);
        // complaints: 6 per the floor of 100 cards = 60 per 1,000; 0.1 × min(60 − 2, 30) = 3
        // tickets: 20 per 1,000; 0.2 × min(20 − 1, 30) = 3.8; litigation: one labour case as defendant, 1.5; 1 × 1.5
        expect(r.explanation.map((e) => [e.signal, e.value, e.weight, e.threshold, e.contribution])).to.deep.equal([
          ["hotline_tickets", 20, 0.2, 1, 3.8],
          ["complaints", 60, 0.1, 2, 3],
          ["litigation", 1.5, 1, 0, 1.5],
        ]);
        expect(r.explanation[1].detail).to.deep.include({ count: 6, decayed: 6, activeCards: 0, floorCards: 100 });
        expect(r.score).to.equal(8.3);
        expect(r).to.deep.include({ level: "high", computedLevel: "high", modelVersion: MODEL_V1.version, asOf: NOW });
      });

      it("maps the score to levels by the thresholds: low, medium, high", async function () {
        for (const id of [1, 2, 3]) {
          await addMerchant(db, id);
          for (let i = 0; i < id; i++) await addRiskSignal(db, id, "hotline_ticket", NOW, complaint());
        }
        // tickets: 10 per 1,000 each; 0.2 × (10 n − 1) = 1.8, 3.8, 5.8
        const m = structuredClone(model);
        m.default.levels = { medium: 3, high: 5 };
        expect((await rateMerchants(db, NOW, m)).map((r) => [r.merchantId, r.score, r.level])).to.deep.equal([[1, 1.8, "low"], [2, 3.8, "medium"], [3, 5.8, "high"]]);
        expect((await rateMerchants(db, NOW, model)).map((r) => r.level)).to.deep.equal(["medium", "high", "high"]);
        // the cap bounds a signal's contribution: 0.2 × min(50 − 1, 30)
        for (let i = 0; i < 2; i++) await addRiskSignal(db, 3, "hotline_ticket", NOW, complaint());
        expect((await rate(3)).score).to.equal(6);
      });

      it("applies an industry's own weights and thresholds over the default", async function () {
        await addMerchant(db, 1, { industryId: 1 });
        await addMerchant(db, 2, { industryId: 4 });
        for (const id of [1, 2]) for (let i = 0; i < 3; i++) await addRiskSignal(db, id, "complaint", NOW, complaint());
        const [edu, beauty] = await rateMerchants(db, NOW, model);
        expect(industryModelOf(model, 1).signals.complaints).to.deep.equal({ weight: 0.5, threshold: 2, cap: 30 });
        expect(edu.explanation[0]).to.deep.include({ signal: "complaints", weight: 0.5, contribution: 14 });
        expect(edu.level).to.equal("high");
        expect(beauty.explanation[0]).to.deep.include({ signal: "complaints", weight: 0.1, contribution: 2.8 });
      });
    });

    describe("complaint trend", function () {
      it("compares recent complaints and tickets with the merchant's own rate in the year before", async function () {
        await addMerchant(db, 1); // always draws complaints
        await addMerchant(db, 2); // complaints climbing
        for (let i = 0; i < 10; i++) await addRiskSignal(db, 1, "complaint", ago(100 + 30 * i), complaint());
        await addRiskSignal(db, 1, "hotline_ticket", ago(5), complaint());
        await addRiskSignal(db, 2, "complaint", ago(200), complaint());
        for (let i = 0; i < 6; i++) await addRiskSignal(db, 2, i % 2 ? "complaint" : "hotline_ticket", ago(10 * i), complaint());
        const m = structuredClone(model);
        m.default.signals.complaint_trend = { weight: 1, threshold: 1.5, cap: 3 };
        const [steady, climbing] = await rateMerchants(db, NOW, m);
        // (recent + 2) / (prior per 90 days over the 310 days on the platform before the window + 2)
        expect(steady.explanation.find((e) => e.signal === "complaint_trend")).to.equal(undefined); // 3 / (10 × 90/310 + 2) < 1
        const t = climbing.explanation.find((e) => e.signal === "complaint_trend")!;
        expect(t.value).to.be.closeTo(8 / (90 / 310 + 2), 1e-4);
        expect(t.detail).to.deep.equal({ recent: 6, prior: 1, recentDays: 90, priorDays: 310 });
        expect(t.contribution).to.be.closeTo(8 / (90 / 310 + 2) - 1.5, 1e-4);
      });

      it("needs a history: a merchant admitted less than the minimum before the window has no trend", async function () {
        await addMerchant(db, 1, { admittedAt: ago(120) });
        for (let i = 0; i < 6; i++) await addRiskSignal(db, 1, "complaint", ago(i), complaint());
        const m = structuredClone(model);
        m.default.signals.complaint_trend = { weight: 1, threshold: 0, cap: 3 };
        expect((await rate(1, NOW, m)).explanation.map((e) => e.signal)).to.not.include("complaint_trend");
      });
    });

    describe("time decay", function () {
      it("a complaint one half-life old counts half, two half-lives a quarter", async function () {
        await addMerchant(db, 1);
        await addRiskSignal(db, 1, "complaint", NOW, complaint());
        await addRiskSignal(db, 1, "complaint", ago(30), complaint());
        await addRiskSignal(db, 1, "complaint", ago(60), complaint(true)); // refund-related: counts 2
        await addRiskSignal(db, 1, "complaint", NOW + DAY, complaint()); // after asOf
        const r = await rate(1);
        const c = r.explanation.find((e) => e.signal === "complaints")!;
        expect(c.detail).to.deep.include({ count: 3, decayed: 2 }); // 1 + 0.5 + 2 × 0.25
        expect(c.value).to.equal(20);
      });

      it("leaves out signals older than the look-back", async function () {
        await addMerchant(db, 1);
        for (let i = 0; i < 50; i++) await addRiskSignal(db, 1, "hotline_ticket", ago(400), complaint());
        expect((await rate(1)).explanation).to.deep.equal([]);
      });
    });

    describe("size normalisation", function () {
      it("rates per 1,000 active cards, with a floor so a tiny merchant is not over-penalised", async function () {
        await addMerchant(db, 1);
        await addMerchant(db, 2);
        for (let i = 0; i < 400; i++) await buyCard(db, 1, i + 1, ago(100));
        for (let i = 0; i < 10; i++) await buyCard(db, 2, i + 1, ago(100));
        for (const id of [1, 2]) for (let i = 0; i < 8; i++) await addRiskSignal(db, id, "complaint", NOW, complaint());
        const [big, tiny] = await rateMerchants(db, NOW, model);
        expect(big.explanation[0]).to.deep.include({ signal: "complaints", value: 20 }); // 8 per 400 cards
        expect(big.explanation[0].detail).to.deep.include({ activeCards: 400, floorCards: 100 });
        expect(tiny.explanation[0]).to.deep.include({ signal: "complaints", value: 80 }); // 8 per the floor of 100, not per 10 (800)
      });
    });

    describe("regulator overrides", function () {
      it("an override in force wins over the computed level, hard rules included, and leads the explanation", async function () {
        await addMerchant(db, 1);
        await addRiskSignal(db, 1, "registry_fact", ago(10), { fact: "abnormal_operation", action: "listed" });
        const o = await setOverride(db, { merchantId: 1, level: "medium", reason: "listing was a registry error, being corrected", officer: "chaoyang-amr-7", at: ago(2), expiresAt: NOW + 10 * DAY });
        const r = await rate(1);
        expect(r).to.deep.include({ level: "medium", computedLevel: "high" });
        expect(r.explanation.map((e) => e.signal)).to.deep.equal(["regulator_override", "abnormal_operation"]);
        expect(r.explanation[0].rule).to.equal("medium by regulator override: listing was a registry error, being corrected");
        expect(r.explanation[0].detail).to.deep.include({ overrideId: o.id, officer: "chaoyang-amr-7", computedLevel: "high" });
        expect((await rate(1, ago(3))).level).to.equal("high"); // not yet in force
        expect((await rate(1, NOW + 11 * DAY)).level).to.equal("high"); // expired
      });

      it("the latest override in force wins; a lifted one no longer applies", async function () {
        await addMerchant(db, 1);
        await setOverride(db, { merchantId: 1, level: "high", reason: "joint interview ordered", officer: "a", at: ago(5) });
        const later = await setOverride(db, { merchantId: 1, level: "low", reason: "cleared after the interview", officer: "b", at: ago(1) });
        expect((await rate(1)).level).to.equal("low");
        expect(await liftOverride(db, later.id, NOW - 3600)).to.deep.include({ expiresAt: NOW - 3600 });
        expect((await rate(1)).level).to.equal("high");
        expect(await liftOverride(db, later.id, NOW)).to.equal(null);
      });

      it("refuses an override without a reason", async function () {
        const err = await setOverride(db, { merchantId: 1, level: "low", reason: " ", officer: "a" }).catch((e) => e);
        expect(err.kind).to.equal("invalid");
        expect(err.details).to.deep.equal([{ field: "reason", reason: "an override needs its reason" }]);
      });
    });

    describe("the model file", function () {
      it("model-v1.json is valid, with a hard rule for each listed registry fact", function () {
        expect(MODEL_V1.version).to.equal("risk-v1");
        expect(MODEL_V1.hardRules.map((r) => [r.fact, r.atLeast])).to.deep.equal([
          ["dishonest_debtor", "high"], ["abnormal_operation", "high"], ["deregistration", "high"],
        ]);
      });

      it("refuses a model with every problem named", function () {
        const bad = structuredClone(MODEL_V1) as unknown as Record<string, unknown>;
        (bad.default as { signals: Record<string, unknown> }).signals.complaints = { weight: -1, threshold: 0, cap: 1 };
        (bad as { industries: unknown }).industries = { education: {} };
        expect(() => loadRiskModel(bad)).to.throw(/default\.signals\.complaints\.weight: .*; industries\.education/);
      });
    });
  });
}
