import { expect } from "chai";
import { Db } from "../../src/store/db";
import { chainActivity, chainSignals, deriveChainSignals } from "../../src/risk/chainSignals";
import { engines } from "../support/db";
import { addMerchant, buyCard, consume, DAY, NOW, openDispute, payOut, refundCard, renewCard, requestRefund } from "./support";

const OPTS = { recentDays: 30, baselineDays: 90, sizeFloorCards: 100, smoothingCards: 3 };
const ago = (days: number) => NOW - days * DAY;

for (const engine of engines()) {
  describe(`chain signals from the index (${engine.name})`, function () {
    let db: Db;

    before(async () => {
      db = await engine.open();
      let seq = 0;
      // 1: steady. 2 cards a month at 1,000 CNY, 300 CNY consumed a month, in both windows.
      await addMerchant(db, 1);
      for (const d of [110, 100, 80, 70, 50, 40, 20, 10]) await buyCard(db, 1, ++seq, ago(d));
      for (const d of [100, 70, 40, 15]) await consume(db, 1, "4294967297", ago(d), 30_000);
      // 2: the cash grab. 1 card a month before (3 in the 90-day baseline), then 9 cards and a renewal in 30 days; consumption stops;
      //    payouts twice the custodied money the recent sales brought in (with smoothing).
      await addMerchant(db, 2);
      seq = 0;
      const first = await buyCard(db, 2, ++seq, ago(100));
      for (const d of [70, 40]) await buyCard(db, 2, ++seq, ago(d));
      for (let i = 0; i < 9; i++) await buyCard(db, 2, ++seq, ago(25 - i));
      await renewCard(db, 2, first, ago(5));
      for (const d of [110, 100, 90, 70, 60, 40]) await consume(db, 2, first, ago(d), 50_000);
      await payOut(db, 2, ago(3), 2_600_000);
      await payOut(db, 2, ago(45), 999_999); // before the recent window
      // 3: a small merchant with refund requests and a dispute: 12 cards, one refunded, one expired.
      await addMerchant(db, 3);
      seq = 0;
      const cards3: string[] = [];
      for (let i = 0; i < 12; i++) cards3.push(await buyCard(db, 3, ++seq, ago(200), { validityDays: i === 11 ? 100 : 365 }));
      await requestRefund(db, 3, cards3[0], ago(10));
      await requestRefund(db, 3, cards3[1], ago(2));
      await requestRefund(db, 3, cards3[2], ago(40)); // before the window
      await requestRefund(db, 3, cards3[3], NOW + DAY); // after asOf
      await openDispute(db, 3, cards3[1], ago(1));
      await refundCard(db, 3, cards3[0], ago(5));
      await refundCard(db, 3, cards3[4], NOW + DAY); // refunded after asOf: still active then
      await buyCard(db, 3, ++seq, NOW + 2 * DAY); // bought after asOf
      // 4: a larger merchant: 150 active cards, 3 refund requests.
      await addMerchant(db, 4);
      seq = 0;
      const cards4: string[] = [];
      for (let i = 0; i < 150; i++) cards4.push(await buyCard(db, 4, ++seq, ago(200)));
      for (let i = 0; i < 3; i++) await requestRefund(db, 4, cards4[i], ago(5));
      // 5: admitted 50 days ago: 20 days of baseline, too few to compare with.
      await addMerchant(db, 5, { admittedAt: ago(50) });
      await buyCard(db, 5, 1, ago(40));
      await buyCard(db, 5, 2, ago(10));
      // 6: admitted after asOf.
      await addMerchant(db, 6, { admittedAt: NOW + DAY });
    });
    after(async () => db?.close());

    it("rates only merchants admitted by asOf, or those asked for", async function () {
      expect([...(await chainActivity(db, NOW)).keys()].sort()).to.deep.equal([1, 2, 3, 4, 5]);
      expect([...(await chainActivity(db, NOW, undefined, [2, 3])).keys()].sort()).to.deep.equal([2, 3]);
    });

    it("a steady merchant: no surge, no divergence, payouts as usual", async function () {
      const s = (await chainSignals(db, NOW, OPTS)).get(1)!;
      expect(s.activity).to.deep.include({ salesRecentCount: 2, salesBaselineCount: 6, salesRecentFen: 200_000n, salesBaselineFen: 600_000n, baselineDaysCovered: 90 });
      expect(s.signals.salesSurge).to.be.closeTo(1, 1e-9);
      expect(s.signals.consumptionRatio).to.be.closeTo(1, 1e-9);
      expect(s.signals.consumptionDivergence).to.equal(0);
      expect(s.signals.payoutDrain).to.equal(0);
    });

    it("the cash grab: sales and renewals surge against the merchant's own baseline while consumption falls", async function () {
      const s = (await chainSignals(db, NOW, OPTS)).get(2)!;
      expect(s.activity).to.deep.include({ salesRecentCount: 10, salesBaselineCount: 3, salesRecentFen: 1_000_000n, consumedRecentFen: 0n, consumedBaselineFen: 300_000n });
      // (recent + 3 average cards) / (baseline per 30 days + 3 average cards)
      expect(s.signals.salesSurge).to.be.closeTo((1_000_000 + 300_000) / (100_000 + 300_000), 1e-9);
      expect(s.signals.consumptionRatio).to.be.closeTo(300_000 / (100_000 + 300_000), 1e-9);
      expect(s.signals.consumptionDivergence).to.be.closeTo(0.25, 1e-9); // min(sales rise, consumption fall)
    });

    it("payouts drained right after sales: paid out in 30 days against the custodied money of those days' sales", async function () {
      const s = (await chainSignals(db, NOW, OPTS)).get(2)!;
      expect(s.activity.paidOutRecentFen).to.equal(2_600_000n);
      expect(s.signals.payoutDrain).to.be.closeTo(2_600_000 / (1_000_000 + 300_000), 1e-9);
    });

    it("refund requests and disputes per 1,000 active cards, with the size floor", async function () {
      const m = await chainSignals(db, NOW, OPTS);
      const small = m.get(3)!;
      // 12 cards: one refunded before asOf, one expired; the one refunded after asOf still counts
      expect(small.activity).to.deep.include({ activeCards: 10, refundRequestsRecent: 2, disputesRecent: 1 });
      expect(small.signals.refundRequestsPer1000).to.equal(20); // 2 per the floor of 100 cards, not per 10
      expect(small.signals.disputesPer1000).to.equal(10);
      const large = m.get(4)!;
      expect(large.activity.activeCards).to.equal(150);
      expect(large.signals.refundRequestsPer1000).to.equal(20); // 3 per 150 cards
    });

    it("replays history: as of an earlier moment, later events do not exist", async function () {
      const before = (await chainSignals(db, ago(30), OPTS)).get(2)!;
      expect(before.activity.salesRecentCount).to.equal(1);
      expect(before.activity.paidOutRecentFen).to.equal(999_999n);
      expect(before.signals.salesSurge).to.be.lessThan(1.2);
      const small = (await chainActivity(db, NOW + 3 * DAY)).get(3)!;
      expect(small.activeCards).to.equal(10); // one more refunded, one more bought
      expect(small.refundRequestsRecent).to.equal(3);
    });

    it("a merchant too new for a baseline has no surge or divergence, but still has rates", async function () {
      const s = (await chainSignals(db, NOW, OPTS)).get(5)!;
      expect(s.activity.baselineDaysCovered).to.equal(20);
      expect(s.signals.salesSurge).to.equal(null);
      expect(s.signals.consumptionDivergence).to.equal(null);
      expect(s.signals.refundRequestsPer1000).to.equal(0);
    });

    it("derives the same signals from raw activity without the database", async function () {
      const a = (await chainActivity(db, NOW)).get(2)!;
      expect(deriveChainSignals(a, OPTS)).to.deep.equal((await chainSignals(db, NOW, OPTS)).get(2)!.signals);
      expect(deriveChainSignals({ ...a, activeCards: 0, refundRequestsRecent: 1 }, { ...OPTS, sizeFloorCards: 50 }).refundRequestsPer1000).to.equal(20);
    });
  });
}
