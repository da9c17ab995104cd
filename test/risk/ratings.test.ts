import { expect } from "chai";
import { Db } from "../../src/store/db";
import { MODEL_V1, rateMerchants } from "../../src/risk/model";
import { latestRatings, pendingChainUpdates, ratingHistory, recordRatings } from "../../src/risk/ratings";
import { setOverride } from "../../src/risk/overrides";
import { engines } from "../support/db";
import { addMerchant, addRiskSignal, DAY, NOW } from "./support";

const ago = (days: number) => NOW - days * DAY;

for (const engine of engines()) {
  describe(`risk ratings: history and level changes (${engine.name})`, function () {
    let db: Db;
    const rateAndRecord = async (asOf: number, merchantIds?: number[]) => recordRatings(db, await rateMerchants(db, asOf, MODEL_V1, { merchantIds }));

    beforeEach(async () => {
      db = await engine.open();
      await addMerchant(db, 1);
      await addMerchant(db, 2);
      await addMerchant(db, 3, { riskLevel: "medium" }); // the chain already has it at medium
    });
    afterEach(async () => db?.close());

    it("reports the merchants whose level changed, from → to, against the previous rating", async function () {
      await addRiskSignal(db, 1, "registry_fact", ago(40), { fact: "dishonest_debtor", action: "listed" });
      const first = await rateAndRecord(ago(30));
      expect(first.recorded).to.equal(3);
      // a first rating is compared with the level the chain has
      expect(first.changes.map((c) => [c.merchantId, c.from, c.to, c.rose, c.onChainLevel])).to.deep.equal([
        [1, "low", "high", true, "low"],
        [3, "medium", "low", false, "medium"],
      ]);
      expect(first.changes[0].explanation[0].signal).to.equal("dishonest_debtor");

      expect((await rateAndRecord(ago(20))).changes).to.deep.equal([]);

      await addRiskSignal(db, 1, "registry_fact", ago(15), { fact: "dishonest_debtor", action: "removed" });
      await addRiskSignal(db, 2, "registry_fact", ago(15), { fact: "deregistration", action: "listed" });
      const third = await rateAndRecord(ago(10));
      expect(third.changes.map((c) => [c.merchantId, c.from, c.to, c.rose])).to.deep.equal([[1, "high", "low", false], [2, "low", "high", true]]);
    });

    it("keeps the history: every rating, and when and why the level changed", async function () {
      await addRiskSignal(db, 1, "registry_fact", ago(25), { fact: "abnormal_operation", action: "listed" });
      await addRiskSignal(db, 1, "registry_fact", ago(8), { fact: "abnormal_operation", action: "removed" });
      for (const d of [30, 20, 10, 5]) await rateAndRecord(ago(d));
      const all = await ratingHistory(db, 1);
      expect(all.map((r) => [r.computedAt, r.level])).to.deep.equal([[ago(5), "low"], [ago(10), "high"], [ago(20), "high"], [ago(30), "low"]]);
      expect(all.map((r) => r.supersededAt)).to.deep.equal([null, ago(5), ago(10), ago(20)]);
      const changes = await ratingHistory(db, 1, { changesOnly: true });
      expect(changes.map((r) => [r.computedAt, r.level])).to.deep.equal([[ago(5), "low"], [ago(20), "high"], [ago(30), "low"]]);
      expect(changes[1].explanation[0]).to.deep.include({ signal: "abnormal_operation" });
      expect(changes[1]).to.deep.include({ modelVersion: MODEL_V1.version, computedLevel: "high" });
      expect((await ratingHistory(db, 1, { from: ago(20), to: ago(10) })).length).to.equal(2);
    });

    it("an override is recorded in the rating and reported as a change when it moves the level", async function () {
      await rateAndRecord(ago(10));
      await setOverride(db, { merchantId: 2, level: "high", reason: "joint interview: unpaid rent, staff leaving", officer: "chaoyang-amr-3", at: ago(5) });
      const r = await rateAndRecord(ago(4), [2]);
      expect(r.changes.map((c) => [c.merchantId, c.from, c.to, c.rose])).to.deep.equal([[2, "low", "high", true]]);
      const [latest] = await latestRatings(db, { merchantIds: [2] });
      expect(latest).to.deep.include({ level: "high", computedLevel: "low", computedAt: ago(4) });
      expect(latest.explanation[0]).to.deep.include({ signal: "regulator_override" });
    });

    it("lists the current ratings, and those the chain does not have yet", async function () {
      await addRiskSignal(db, 2, "registry_fact", ago(15), { fact: "deregistration", action: "listed" });
      await rateAndRecord(ago(10));
      expect((await latestRatings(db)).map((r) => [r.merchantId, r.level])).to.deep.equal([[1, "low"], [2, "high"], [3, "low"]]);
      expect((await latestRatings(db, { level: "high" })).map((r) => r.merchantId)).to.deep.equal([2]);
      expect(await pendingChainUpdates(db)).to.deep.equal([
        { merchantId: 2, level: "high", onChainLevel: "low", computedAt: ago(10) },
        { merchantId: 3, level: "low", onChainLevel: "medium", computedAt: ago(10) },
      ]);
      await db.query("UPDATE merchants SET risk_level = 'high' WHERE merchant_id = 2"); // the push was indexed
      expect((await pendingChainUpdates(db)).map((p) => p.merchantId)).to.deep.equal([3]);
    });

    it("goes forward in time: an older rating is refused, the same moment again replaces the rating", async function () {
      await rateAndRecord(ago(10));
      const err = await rateAndRecord(ago(20)).catch((e) => e);
      expect(err).to.include({ kind: "conflict", code: "RatingOutOfOrder" });
      await addRiskSignal(db, 1, "registry_fact", ago(12), { fact: "dishonest_debtor", action: "listed" });
      const again = await rateAndRecord(ago(10), [1]);
      expect(again.changes.map((c) => [c.merchantId, c.from, c.to])).to.deep.equal([[1, "low", "high"]]);
      expect((await ratingHistory(db, 1)).map((r) => [r.computedAt, r.level])).to.deep.equal([[ago(10), "high"]]);
    });
  });
}
