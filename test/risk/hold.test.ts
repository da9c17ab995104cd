import { expect } from "chai";
import { Db } from "../../src/store/db";
import { MODEL_V1, rateMerchants, RiskModel, scoreLevelOf } from "../../src/risk/model";
import { recordRatings } from "../../src/risk/ratings";
import { engines } from "../support/db";
import { addMerchant, addRiskSignal, DAY, NOW } from "./support";

const ago = (days: number) => NOW - days * DAY;

/** Only hotline tickets count: one ticket fresh is 10 per 1,000 cards, (10 − 1) × 0.2 = 1.8; bars 1 and 2. */
function holdModel(hold?: { high: number; medium: number }): RiskModel {
  const m = structuredClone(MODEL_V1);
  m.halfLifeDays = { complaint: 30, hotline_ticket: 30, litigation: 90, licence_change: 60 };
  m.default.sizeFloorCards = 100;
  m.default.levels = { medium: 1, high: 2 };
  for (const s of Object.keys(m.default.signals) as (keyof RiskModel["default"]["signals"])[]) m.default.signals[s] = { weight: 0, threshold: 0, cap: 1 };
  m.default.signals.hotline_tickets = { weight: 0.2, threshold: 1, cap: 100 };
  m.industries = {};
  m.hold = hold;
  return m;
}

for (const engine of engines()) {
  describe(`risk model: the level hold, hysteresis (${engine.name})`, function () {
    let db: Db;
    beforeEach(async () => {
      db = await engine.open();
      await addMerchant(db, 1);
      for (let i = 0; i < 2; i++) await addRiskSignal(db, 1, "hotline_ticket", ago(60), { category: "refund", refund_related: false });
    });
    afterEach(async () => db?.close());

    const rateAt = async (model: RiskModel, asOf: number) => {
      const ratings = await rateMerchants(db, asOf, model);
      await recordRatings(db, ratings);
      return ratings[0];
    };

    it("keeps a merchant at high while its score stays near the bar, then lets it down a level at a time", async () => {
      const model = holdModel({ high: 0.5, medium: 0.5 });
      const first = await rateAt(model, ago(60)); // two fresh tickets: 20 per 1,000, score 3.8
      expect(first).to.deep.include({ level: "high", score: 3.8 });
      const held = await rateAt(model, ago(30)); // halved: 10 per 1,000, score 1.8 < 2, but >= 0.5 × 2
      expect(held).to.deep.include({ level: "high", score: 1.8 });
      expect(held.explanation[0]).to.deep.include({ signal: "level_hold", value: 1.8 });
      expect(held.explanation[0].detail).to.deep.include({ heldLevel: "high", previousLevel: "high", previousAt: ago(60) });
      expect(scoreLevelOf(model, held)).to.equal("high");
      const lower = await rateAt(model, ago(0)); // 5 per 1,000, score 0.8: under the high hold, over the medium one
      expect(lower.level).to.equal("medium");
      expect(lower.explanation[0].detail).to.deep.include({ heldLevel: "medium", previousLevel: "high" });
    });

    it("without a previous rating, or without a hold, the score alone decides", async () => {
      expect((await rateAt(holdModel({ high: 0.5, medium: 0.5 }), ago(30))).level).to.equal("medium");
      const db2 = db;
      await db2.query("DELETE FROM risk_ratings");
      await rateAt(holdModel(), ago(60));
      const r = await rateAt(holdModel(), ago(30));
      expect(r.level).to.equal("medium");
      expect(r.explanation.map((e) => e.signal)).to.deep.equal(["hotline_tickets"]);
    });

    it("a hard-rule high is not held once the listing is removed", async () => {
      await addRiskSignal(db, 1, "registry_fact", ago(200), { fact: "abnormal_operation", action: "listed" });
      await addRiskSignal(db, 1, "registry_fact", ago(100), { fact: "abnormal_operation", action: "removed" });
      const model = holdModel({ high: 0.5, medium: 0.5 });
      expect((await rateAt(model, ago(150))).level).to.equal("high");
      expect((await rateAt(model, ago(90))).level).to.equal("low");
    });
  });
}
