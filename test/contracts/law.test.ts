/**
 * The law as it stands in 2025, tried as a regulator would: each scenario is named with the rule's own words and
 * checks what the contracts do against it. Sources: 法释〔2025〕4号 (Supreme People's Court, in force 2025-05-01),
 * 京商秩字〔2023〕18号 (Beijing), 教监管函〔2021〕2号 (education).
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import fc from "fast-check";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { BeijingTimeHarness__factory, CustodyRegistry__factory } from "../../typechain-types";
import { beijingDayOf, dayStartingAtOrAfter, endOfPeriod, startOfBeijingDay } from "../../src/chain/days";
import { CNY, DEFAULT_POLICY, NO_CAP_FEN, NO_CAP_U16, TRAINING_POLICY } from "../../src/chain/policies";
import { signCheckIn } from "../../src/chain/vouchers";
import { atNextBlock, buy, CardStatus, DAY, deployFixture, EDUCATION, expectConservation, FITNESS, voucher, voucherArg } from "./fixture";

/** Unix seconds of a Beijing wall-clock time (UTC+8). */
function beijing(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  return Date.UTC(year, month - 1, day, hour, minute, second) / 1000 - 8 * 3_600;
}

/** PolicyField as the registry's errors number it. */
const Field = {
  CustodyBps: 0, CoolingOffDays: 1, ExitNoticeDays: 2, MaxLessons: 3, MaxValidityDays: 4, MaxCardValue: 5, MaxAnonymousValue: 6,
  MediumRiskCap30d: 7, FilingThreshold: 8,
} as const;

describe("the law as it stands in 2025", () => {
  describe("“1+N”: the district's policy bounds every industry's (item 3)", () => {
    it("至少40%的预收资金纳入存管: no industry may hold less than 40% of a payment in custody", async () => {
      const f = await loadFixture(deployFixture);
      await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, custodyBps: 3_000 }))
        .to.be.revertedWithCustomError(f.registry, "Registry_PolicyCrossesDistrict")
        .withArgs(FITNESS, Field.CustodyBps, 3_000, 4_000);
      // Stricter is always allowed.
      await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, custodyBps: 6_000 }))
        .to.emit(f.registry, "IndustryPolicySet");
    });

    it("校外培训预收费须全部纳入监管: education's regulator cannot lower its custody below 100%", async () => {
      const f = await loadFixture(deployFixture);
      for (const custodyBps of [0, 4_000, 9_999]) {
        await expect(f.registry.connect(f.eduRegulator).setIndustryPolicy(EDUCATION, { ...TRAINING_POLICY, custodyBps }))
          .to.be.revertedWithCustomError(f.registry, "Registry_PolicyCrossesDistrict")
          .withArgs(EDUCATION, Field.CustodyBps, custodyBps, 10_000);
      }
      // Without a policy of its own, education still holds everything: the floor applies to the district's default too.
      await f.registry.connect(f.eduRegulator).clearIndustryPolicy(EDUCATION);
      expect((await f.registry.policyOf(EDUCATION)).custodyBps).to.equal(10_000n);
      const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      const card = await f.escrow.cardOf(cardId);
      expect([card.paidIn, card.direct]).to.deep.equal([3_000n * CNY, 0n]);
      await expectConservation(f);
    });

    it("only the market regulation bureau sets an industry's custody floor, and at most 100%", async () => {
      const f = await loadFixture(deployFixture);
      await expect(f.registry.connect(f.eduRegulator).setIndustryCustodyFloor(EDUCATION, 4_000))
        .to.be.revertedWithCustomError(f.registry, "Registry_NotPlatformRegulator")
        .withArgs(f.eduRegulator.address);
      await expect(f.registry.connect(f.regulator).setIndustryCustodyFloor(EDUCATION, 10_001))
        .to.be.revertedWithCustomError(f.registry, "Registry_InvalidPolicy")
        .withArgs(10_001);
      await expect(f.registry.connect(f.regulator).setIndustryCustodyFloor(99, 10_000))
        .to.be.revertedWithCustomError(f.registry, "Registry_UnknownIndustry")
        .withArgs(99);
      await expect(f.registry.connect(f.regulator).setIndustryCustodyFloor(FITNESS, 8_000))
        .to.emit(f.registry, "IndustryCustodyFloorSet")
        .withArgs(FITNESS, 8_000);
      expect((await f.registry.industryOf(FITNESS)).custodyFloorBps).to.equal(8_000n);
      expect((await f.registry.policyOf(FITNESS)).custodyBps).to.equal(8_000n);
    });

    it("七日内退还本金: no industry may give fewer than the district's 7 cooling-off days", async () => {
      const f = await loadFixture(deployFixture);
      await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, coolingOffDays: 6 }))
        .to.be.revertedWithCustomError(f.registry, "Registry_PolicyCrossesDistrict")
        .withArgs(FITNESS, Field.CoolingOffDays, 6, 7);
    });

    it("停业前30日公告: no industry may give less than 30 days' notice of closing", async () => {
      const f = await loadFixture(deployFixture);
      await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, exitNoticeDays: 0 }))
        .to.be.revertedWithCustomError(f.registry, "Registry_PolicyCrossesDistrict")
        .withArgs(FITNESS, Field.ExitNoticeDays, 0, 30);
    });

    it("行业限额不得高于全区: an industry's caps are no higher than the district's", async () => {
      const f = await loadFixture(deployFixture);
      const cases: [Partial<typeof DEFAULT_POLICY>, number, bigint | number, bigint | number][] = [
        [{ maxCardValue: 5_001n * CNY }, Field.MaxCardValue, 5_001n * CNY, 5_000n * CNY],
        [{ maxAnonymousValue: NO_CAP_FEN }, Field.MaxAnonymousValue, NO_CAP_FEN, 1_000n * CNY],
        [{ mediumRiskCap30d: 20_001n * CNY }, Field.MediumRiskCap30d, 20_001n * CNY, 20_000n * CNY],
      ];
      for (const [change, field, value, limit] of cases) {
        await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, ...change }))
          .to.be.revertedWithCustomError(f.registry, "Registry_PolicyCrossesDistrict")
          .withArgs(FITNESS, field, value, limit);
      }
      // With a district lesson cap of 100, an industry may not go to "no cap".
      await f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, maxLessons: 100, maxValidityDays: 365 });
      await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, maxLessons: NO_CAP_U16, maxValidityDays: 365 }))
        .to.be.revertedWithCustomError(f.registry, "Registry_PolicyCrossesDistrict")
        .withArgs(FITNESS, Field.MaxLessons, NO_CAP_U16, 100);
      await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, maxLessons: 100, maxValidityDays: 400 }))
        .to.be.revertedWithCustomError(f.registry, "Registry_PolicyCrossesDistrict")
        .withArgs(FITNESS, Field.MaxValidityDays, 400, 365);
    });

    it("不设上限须明示: “no cap” is the field's largest value, and a cap of 0 is refused, naming the field", async () => {
      const f = await loadFixture(deployFixture);
      const zeros: [Partial<typeof DEFAULT_POLICY>, number][] = [
        [{ maxLessons: 0 }, Field.MaxLessons],
        [{ maxValidityDays: 0 }, Field.MaxValidityDays],
        [{ maxCardValue: 0n }, Field.MaxCardValue],
        [{ maxAnonymousValue: 0n }, Field.MaxAnonymousValue],
        [{ mediumRiskCap30d: 0n }, Field.MediumRiskCap30d],
      ];
      for (const [change, field] of zeros) {
        await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, ...change }))
          .to.be.revertedWithCustomError(f.registry, "Registry_ZeroCap")
          .withArgs(field);
        await expect(f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, ...change }))
          .to.be.revertedWithCustomError(f.registry, "Registry_ZeroCap")
          .withArgs(field);
      }
      // The district's default has no lesson or validity cap, written out: a gym sells 65,535 visits without expiry.
      expect((await f.registry.policyOf(FITNESS)).maxLessons).to.equal(BigInt(NO_CAP_U16));
      await expect(f.escrow.connect(f.gymAcct).publishPlan(f.gym, 1, 65_535, 0, 0, 1_000n)).to.emit(f.escrow, "PlanPublished");
    });

    it("全区政策不得低于法定标准: the district's own policy cannot go below the law", async () => {
      const f = await loadFixture(deployFixture);
      const below: [Partial<typeof DEFAULT_POLICY>, number, number, number][] = [
        [{ custodyBps: 3_999 }, Field.CustodyBps, 3_999, 4_000],
        [{ coolingOffDays: 6 }, Field.CoolingOffDays, 6, 7],
        [{ exitNoticeDays: 29 }, Field.ExitNoticeDays, 29, 30],
      ];
      for (const [change, field, value, minimum] of below) {
        await expect(f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, ...change }))
          .to.be.revertedWithCustomError(f.registry, "Registry_PolicyBelowLaw")
          .withArgs(field, value, minimum);
      }
      const [deployer, regulator] = await ethers.getSigners();
      const factory = new CustodyRegistry__factory(deployer);
      await expect(factory.deploy(deployer.address, regulator.address, { ...DEFAULT_POLICY, custodyBps: 2_000 }))
        .to.be.revertedWithCustomError(factory, "Registry_PolicyBelowLaw")
        .withArgs(Field.CustodyBps, 2_000, 4_000);
    });

    it("a stricter district binds every industry at once, including those with a policy of their own", async () => {
      const f = await loadFixture(deployFixture);
      await f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, custodyBps: 5_000 });
      await f.registry.connect(f.regulator).setDefaultPolicy({
        ...DEFAULT_POLICY, custodyBps: 6_000, coolingOffDays: 10, exitNoticeDays: 45, maxCardValue: 2_000n * CNY, mediumRiskCap30d: 5_000n * CNY,
      });
      const p = await f.registry.policyOf(FITNESS);
      expect([p.custodyBps, p.coolingOffDays, p.exitNoticeDays, p.maxCardValue, p.mediumRiskCap30d])
        .to.deep.equal([6_000n, 10n, 45n, 2_000n * CNY, 5_000n * CNY]);
      // Education keeps what is stricter of its own: 100% custody, 60 lessons, 92 days.
      const e = await f.registry.policyOf(EDUCATION);
      expect([e.custodyBps, e.coolingOffDays, e.maxLessons, e.maxValidityDays, e.maxCardValue])
        .to.deep.equal([10_000n, 10n, 60n, 92n, 2_000n * CNY]);
      // A gym card sold now follows the district's 60% and 10 days.
      const cardId = await buy(f.escrow, f.bankB, f.gym, 2, f.bob.address, true);
      const card = await f.escrow.cardOf(cardId);
      expect([card.paidIn, card.direct, card.coolingOffDays]).to.deep.equal([30_000n, 20_000n, 10n]);
    });
  });

  describe("days are Beijing calendar days (item 2)", () => {
    describe("the BeijingTime library, at its edges", () => {
      async function harness() {
        const [deployer] = await ethers.getSigners();
        return new BeijingTimeHarness__factory(deployer).deploy();
      }

      it("a Beijing day starts at 16:00 UTC the day before: 15:59:59 UTC is still yesterday in Beijing", async () => {
        const h = await loadFixture(harness);
        const midnight = beijing(2027, 3, 1); // 2027-02-28 16:00:00 UTC
        expect(midnight).to.equal(Date.UTC(2027, 1, 28, 16) / 1000);
        expect(await h.dayOf(midnight - 1)).to.equal(BigInt(beijingDayOf(midnight) - 1));
        expect(await h.dayOf(midnight)).to.equal(BigInt(beijingDayOf(midnight)));
        expect(await h.startOf(beijingDayOf(midnight))).to.equal(BigInt(midnight));
        expect(await h.dayStartingAtOrAfter(midnight)).to.equal(BigInt(beijingDayOf(midnight)));
        expect(await h.dayStartingAtOrAfter(midnight + 1)).to.equal(BigInt(beijingDayOf(midnight) + 1));
      });

      it("开始的当日不计入: a period of n days ends at 24:00 of the n-th day after the event's day, whatever its hour", async () => {
        const h = await loadFixture(harness);
        const end = beijing(2027, 3, 9); // 24:00 on 8 March
        for (const at of [beijing(2027, 3, 1), beijing(2027, 3, 1, 10), beijing(2027, 3, 1, 23, 59, 59)]) {
          expect(await h.endOfPeriod(at, 7)).to.equal(BigInt(end));
        }
        expect(await h.endOfPeriod(beijing(2027, 3, 1) - 1, 7)).to.equal(BigInt(end - DAY)); // 23:59:59 on 28 February
        expect(await h.endOfPeriod(beijing(2027, 3, 1, 12), 0)).to.equal(BigInt(beijing(2027, 3, 2))); // the day itself
      });

      it("agrees with the gateway's src/chain/days.ts on random times and lengths", async () => {
        const h = await loadFixture(harness);
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 0, max: 400 }), async (t, n) => {
            expect(await h.dayOf(t)).to.equal(BigInt(beijingDayOf(t)));
            expect(await h.endOfPeriod(t, n)).to.equal(BigInt(endOfPeriod(t, n)));
            expect(await h.dayStartingAtOrAfter(t)).to.equal(BigInt(dayStartingAtOrAfter(t)));
          }),
          { numRuns: 100 },
        );
      });
    });

    it("七日冷静期至第七日二十四时止: a card bought at 23:59 on 1 March is refundable in full until 24:00 on 8 March", async () => {
      const f = await loadFixture(deployFixture);
      await time.setNextBlockTimestamp(beijing(2027, 3, 1, 23, 59));
      const cardId = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address);
      const snapshot = await ethers.provider.send("evm_snapshot", []);
      await time.setNextBlockTimestamp(beijing(2027, 3, 8, 23, 59, 59));
      await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId)).to.emit(f.escrow, "CardRefunded");
      await ethers.provider.send("evm_revert", [snapshot]);
      await time.setNextBlockTimestamp(beijing(2027, 3, 9));
      await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
        .to.be.revertedWithCustomError(f.escrow, "Custody_CoolingOffOver")
        .withArgs(cardId, beijing(2027, 3, 9));
    });

    it("有效期92日: a 92-day card bought at 10:00 is usable until 24:00 of its 92nd day, not 08:00 of the 93rd", async () => {
      const f = await loadFixture(deployFixture);
      await f.escrow.connect(f.schoolAcct).publishPlan(f.school, 1, 20, 0, 92, 3_000n * CNY); // plan 3
      const bought = beijing(2027, 3, 1, 10);
      await time.setNextBlockTimestamp(bought);
      const cardId = await buy(f.escrow, f.bankA, f.school, 3, f.alice.address);
      const lastDayEnds = beijing(2027, 6, 2); // 1 March + 92 days = 1 June; 24:00 on 1 June
      expect(startOfBeijingDay((await f.escrow.cardOf(cardId)).expiryDay)).to.equal(lastDayEnds);
      await time.setNextBlockTimestamp(beijing(2027, 6, 1, 23, 59, 59));
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0, lastDayEnds + 3_600)));
      await time.setNextBlockTimestamp(lastDayEnds);
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 1, lastDayEnds + 3_600))))
        .to.be.revertedWithCustomError(f.escrow, "Custody_CardExpired")
        .withArgs(cardId, lastDayEnds);
      expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Expired));
    });

    it("停业前三十日公告: notice given at 15:00 on 1 March runs to 24:00 on 31 March, and service goes on until then", async () => {
      const f = await loadFixture(deployFixture);
      const cardId = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address); // 10 visits, no expiry
      await time.setNextBlockTimestamp(beijing(2027, 3, 1, 15));
      await expect(f.escrow.connect(f.gymAcct).announceExit(f.gym))
        .to.emit(f.escrow, "ExitAnnounced")
        .withArgs(f.gym, beijing(2027, 4, 1), f.gymAcct.address);
      await time.setNextBlockTimestamp(beijing(2027, 3, 31, 23, 59, 59));
      await f.escrow.connect(f.gymAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0, beijing(2027, 4, 2))));
      await time.setNextBlockTimestamp(beijing(2027, 4, 1));
      await expect(f.escrow.claim(cardId)).to.emit(f.escrow, "CardRefunded");
      await expectConservation(f);
    });
  });

  describe("medium risk: controlled growth (item 4)", () => {
    /** Education's cap is 10,000 CNY in 30 days; the school's plan 1 is a 3,000 CNY card. */
    const CARD = 3_000n * CNY;
    const CAP = 10_000n * CNY;

    it("中风险控增量: no more than the cap sold in any 30 consecutive days, across what used to be a window's edge", async () => {
      const f = await loadFixture(deployFixture);
      const rated = beijing(2027, 3, 1, 9);
      await time.setNextBlockTimestamp(rated);
      await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, 1, ethers.id("3 complaints in 30 days"));
      // Three cards on day 28 after the rating...
      await time.setNextBlockTimestamp(beijing(2027, 3, 29, 20));
      for (let i = 0; i < 3; i++) await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      // ...and on day 31 (a fixed window would have restarted): those three are still within the last 30 days.
      await time.setNextBlockTimestamp(beijing(2027, 4, 1, 10));
      await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true))
        .to.be.revertedWithCustomError(f.escrow, "Custody_MediumRiskCapExceeded")
        .withArgs(f.school, 3n * CARD, CARD, CAP);
      // 24:00 of the 29th day after the sales (27 April): the last day they count.
      await time.setNextBlockTimestamp(beijing(2027, 4, 27, 23, 59, 59));
      await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true))
        .to.be.revertedWithCustomError(f.escrow, "Custody_MediumRiskCapExceeded");
      await time.setNextBlockTimestamp(beijing(2027, 4, 28));
      await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true)).to.emit(f.escrow, "CardPurchased");
      expect((await f.escrow.merchantOf(f.school)).windowSales).to.equal(CARD);
    });

    it("续费同样计入: renewals count, and each day's sales leave the window on their own day", async () => {
      const f = await loadFixture(deployFixture);
      const start = beijing(2027, 3, 1, 9);
      await time.setNextBlockTimestamp(start);
      await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, 1, ethers.ZeroHash);
      // One 3,000 CNY card on each of 1, 2 and 3 March, and a 10 CNY top-up on 4 March: 9,010 CNY.
      const cards: bigint[] = [];
      for (let d = 0; d < 3; d++) {
        await time.setNextBlockTimestamp(start + d * DAY + 60);
        cards.push(await buy(f.escrow, f.bankA, f.school, 1, f.alice.address));
      }
      await time.setNextBlockTimestamp(start + 3 * DAY + 60);
      await f.escrow.connect(f.bankA).renew(cards[0], 2);
      expect((await f.escrow.merchantOf(f.school)).windowSales).to.equal(3n * CARD + 1_000n);
      // On 31 March the 1 March card has left the window: 6,010 + 3,000 fits.
      await time.setNextBlockTimestamp(beijing(2027, 3, 31, 8));
      await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true)).to.emit(f.escrow, "CardPurchased");
      expect((await f.escrow.merchantOf(f.school)).windowSales).to.equal(3n * CARD + 1_000n);
      // A second one the same day does not: 9,010 + 3,000 > 10,000.
      await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.carol.address, true))
        .to.be.revertedWithCustomError(f.escrow, "Custody_MediumRiskCapExceeded")
        .withArgs(f.school, 3n * CARD + 1_000n, CARD, CAP);
      await expectConservation(f);
    });
  });

  describe("cooling-off returns the whole prepayment (item 1)", () => {
    /** A gym lesson plan of 1,000.01 CNY at the district's 40%: 40,001 fen custodied, 60,000 fen direct. */
    async function gymLessons() {
      const f = await deployFixture();
      await f.escrow.connect(f.gymAcct).publishPlan(f.gym, 1, 10, 0, 0, 100_001n); // plan 3
      return f;
    }

    it("七日内退还本金: in a 40%-custody industry the cooling-off gives back all 100,001 fen, not just the 40% in custody", async () => {
      const f = await loadFixture(gymLessons);
      const escrow = await f.escrow.getAddress();
      const cardId = await buy(f.escrow, f.bankB, f.gym, 3, f.alice.address);
      expect(await f.tokenB.balanceOf(escrow)).to.equal(100_001n);
      expect((await f.escrow.cardOf(cardId)).pendingDirect).to.equal(60_000n);
      expect(await f.escrow.balancesOf(f.gym)).to.deep.equal([100_001n, 0n]);
      const tx = f.escrow.connect(f.alice).refundCoolingOff(cardId);
      await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(cardId, f.gym, f.alice.address, 40_001n, 0);
      await expect(tx).to.emit(f.escrow, "DirectShareReturned").withArgs(cardId, f.gym, f.alice.address, 60_000n);
      expect(await f.tokenB.balanceOf(escrow)).to.equal(0n);
      const m = await f.escrow.merchantOf(f.gym);
      expect([m.paidIn, m.refunded, m.released]).to.deep.equal([100_001n, 100_001n, 0n]);
      await expectConservation(f);
    });

    it("冷静期满后直付部分归经营者: the direct share becomes the merchant's when the cooling-off ends, and is paid out with the rest", async () => {
      const f = await loadFixture(gymLessons);
      const bought = beijing(2028, 3, 1, 12);
      await time.setNextBlockTimestamp(bought);
      const cardId = await buy(f.escrow, f.bankB, f.gym, 3, f.alice.address);
      await time.setNextBlockTimestamp(beijing(2028, 3, 8, 23, 59, 59));
      await expect(f.escrow.releaseDirect([cardId])).not.to.emit(f.escrow, "DirectShareReleased");
      await time.setNextBlockTimestamp(beijing(2028, 3, 9));
      await expect(f.escrow.connect(f.stranger).releaseDirect([cardId]))
        .to.emit(f.escrow, "DirectShareReleased").withArgs(cardId, f.gym, 60_000n);
      expect(await f.escrow.balancesOf(f.gym)).to.deep.equal([40_001n, 60_000n]);
      await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
        .to.be.revertedWithCustomError(f.escrow, "Custody_CoolingOffOver").withArgs(cardId, beijing(2028, 3, 9));
      await expect(f.escrow.connect(f.gymAcct).payOut(f.gym)).to.emit(f.escrow, "PaidOut").withArgs(f.gym, 2, 60_000n, f.gymAcct.address);
      await expectConservation(f);
    });

    it("续费享有独立冷静期: a renewal has its own cooling-off on what it adds; the card goes on with the rest", async () => {
      const f = await loadFixture(gymLessons);
      const cardId = await buy(f.escrow, f.bankB, f.gym, 3, f.alice.address);
      await f.escrow.connect(f.gymAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 2, 0)));
      await time.increase(10 * DAY); // the purchase's cooling-off is over, and it was used
      await f.escrow.connect(f.bankB).renew(cardId, 2); // 10 visits for 500 CNY: 20,000 custodied, 30,000 direct
      const card = await f.escrow.cardOf(cardId);
      expect([card.coolingOffUnits, card.pendingDirect]).to.deep.equal([10n, 30_000n]);
      // The purchase's direct share was settled by the renewal; the renewal's waits.
      expect((await f.escrow.merchantOf(f.gym)).released).to.equal(8_000n + 60_000n);
      const held = card.held; // 32,001 left of the purchase + 20,000
      const refunded = (held * 10n) / 18n;
      const tx = f.escrow.connect(f.alice).refundCoolingOff(cardId);
      await expect(tx).to.emit(f.escrow, "RenewalRefunded").withArgs(cardId, f.gym, f.alice.address, 10, refunded);
      await expect(tx).to.emit(f.escrow, "DirectShareReturned").withArgs(cardId, f.gym, f.alice.address, 30_000n);
      const after = await f.escrow.cardOf(cardId);
      expect([after.unitsLeft, after.held, after.status, after.pendingDirect]).to.deep.equal([8n, held - refunded, BigInt(CardStatus.Active), 0n]);
      // A second cooling-off refund finds none open.
      await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_CoolingOffOver");
      await f.escrow.connect(f.gymAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 8, 2)));
      expect((await f.escrow.cardOf(cardId)).held).to.equal(0n);
      await expectConservation(f);
    });

    it("未使用不丧失冷静期: a time-based card never used keeps its cooling-off; its periods start only when it ends", async () => {
      const f = await loadFixture(deployFixture);
      const bought = beijing(2028, 3, 1, 18);
      await time.setNextBlockTimestamp(bought);
      const cardId = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address); // 3 months for 900 CNY
      expect((await f.escrow.cardOf(cardId)).startedAt).to.equal(BigInt(beijing(2028, 3, 9)));
      await time.setNextBlockTimestamp(beijing(2028, 3, 8, 22));
      const tx = f.escrow.connect(f.bob).refundCoolingOff(cardId);
      await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(cardId, f.gym, f.bob.address, 36_000n, 0);
      await expect(tx).to.emit(f.escrow, "DirectShareReturned").withArgs(cardId, f.gym, f.bob.address, 54_000n);
      await expectConservation(f);
    });

    it("首次签到即开始计期: the holder's first signed check-in starts the periods, and ends the cooling-off refund", async () => {
      const f = await loadFixture(deployFixture);
      const { chainId } = await ethers.provider.getNetwork();
      await time.setNextBlockTimestamp(beijing(2028, 3, 1, 18));
      const cardId = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
      const escrow = await f.escrow.getAddress();
      const deadline = beijing(2028, 3, 4);
      const forged = await signCheckIn(f.alice, chainId, escrow, { cardId, deadline });
      await expect(f.escrow.connect(f.gymAcct).checkIn(...forged))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner").withArgs(cardId, f.alice.address, f.bob.address);
      const signed = await signCheckIn(f.bob, chainId, escrow, { cardId, deadline });
      const at = beijing(2028, 3, 3, 19);
      await time.setNextBlockTimestamp(at);
      await expect(f.escrow.connect(f.gymAcct).checkIn(...signed))
        .to.emit(f.escrow, "PeriodsStarted").withArgs(cardId, at, startOfBeijingDay(dayStartingAtOrAfter(at + 90 * DAY)));
      await expect(f.escrow.connect(f.gymAcct).checkIn(...signed))
        .to.be.revertedWithCustomError(f.escrow, "Custody_PeriodsAlreadyStarted").withArgs(cardId, at);
      await expect(f.escrow.connect(f.bob).refundCoolingOff(cardId))
        .to.be.revertedWithCustomError(f.escrow, "Custody_CardAlreadyUsed").withArgs(cardId, 0);
      await time.setNextBlockTimestamp(at + 30 * DAY);
      await expect(f.escrow.releasePeriodic(cardId)).to.emit(f.escrow, "PeriodsReleased").withArgs(cardId, 1, 12_000n);
      await expectConservation(f);
    });

    it("经营者冻结时冷静期内的直付部分随余额退回: a claim on a frozen merchant returns a direct share still in cooling-off", async () => {
      const f = await loadFixture(gymLessons);
      const cardId = await buy(f.escrow, f.bankB, f.gym, 3, f.alice.address);
      await f.escrow.connect(f.gymAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0)));
      await f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.id("collapse"));
      const tx = f.escrow.claim(cardId);
      await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(cardId, f.gym, f.alice.address, 40_001n - 4_000n, 5);
      await expect(tx).to.emit(f.escrow, "DirectShareReturned").withArgs(cardId, f.gym, f.alice.address, 60_000n);
      await expectConservation(f);
    });
  });

  describe("transfer by notice (item 5)", () => {
    it("通知经营者即可转让: the holder transfers the card; lessons, balance and rights move; the merchant cannot block it", async () => {
      const f = await loadFixture(deployFixture);
      const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 2, 0)));
      // A restricted, even frozen, merchant has no say.
      await f.escrow.connect(f.eduRegulator).restrict(f.school, true, ethers.ZeroHash);
      const before = await f.escrow.cardOf(cardId);
      await expect(f.escrow.connect(f.alice).transferCard(cardId, f.bob.address))
        .to.emit(f.escrow, "CardTransferred").withArgs(cardId, f.alice.address, f.bob.address);
      const after = await f.escrow.cardOf(cardId);
      expect(after.holder).to.equal(f.bob.address);
      expect([after.held, after.unitsLeft, after.unitsUsed, after.expiryDay, after.coolingOffEndDay])
        .to.deep.equal([before.held, before.unitsLeft, before.unitsUsed, before.expiryDay, before.coolingOffEndDay]);
      // The new holder confirms lessons; the old one no longer can.
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 2))))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner").withArgs(cardId, f.alice.address, f.bob.address);
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.bob, cardId, 1, 2)))).to.emit(f.escrow, "LessonsConsumed");
      // Only the holder transfers: not the merchant, not the old holder.
      await expect(f.escrow.connect(f.schoolAcct).transferCard(cardId, f.schoolAcct.address))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotHolder").withArgs(cardId, f.schoolAcct.address);
      await expect(f.escrow.connect(f.alice).transferCard(cardId, f.alice.address))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotHolder").withArgs(cardId, f.alice.address);
      await expect(f.escrow.connect(f.bob).transferCard(cardId, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidTransfer").withArgs(cardId, ethers.ZeroAddress);
      await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
      await expect(f.escrow.connect(f.bob).transferCard(cardId, f.carol.address)).to.emit(f.escrow, "CardTransferred");
      // A claim pays the holder of the day.
      await expect(f.escrow.claim(cardId)).to.emit(f.escrow, "CardRefunded").withArgs(cardId, f.school, f.carol.address, 255_000n, 5);
      await expectConservation(f);
    });

    it("转让不重新起算冷静期: a transfer never restarts the cooling-off; the new holder has what is left of it", async () => {
      const f = await loadFixture(deployFixture);
      await time.setNextBlockTimestamp(beijing(2029, 3, 1, 12));
      const cardId = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address);
      await time.setNextBlockTimestamp(beijing(2029, 3, 7, 12));
      await f.escrow.connect(f.alice).transferCard(cardId, f.bob.address);
      const snapshot = await ethers.provider.send("evm_snapshot", []);
      await time.setNextBlockTimestamp(beijing(2029, 3, 8, 23));
      await expect(f.escrow.connect(f.bob).refundCoolingOff(cardId))
        .to.emit(f.escrow, "DirectShareReturned").withArgs(cardId, f.gym, f.bob.address, 30_000n);
      await ethers.provider.send("evm_revert", [snapshot]);
      await time.setNextBlockTimestamp(beijing(2029, 3, 9));
      await expect(f.escrow.connect(f.bob).refundCoolingOff(cardId))
        .to.be.revertedWithCustomError(f.escrow, "Custody_CoolingOffOver").withArgs(cardId, beijing(2029, 3, 9));
    });
  });

  describe("merchant breach (item 7)", () => {
    it("经营者迁址、转让或不能履行: the regulator records the breach; every holder may take the unused balance back at once", async () => {
      const f = await loadFixture(deployFixture);
      const gone = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      const stays = await buy(f.escrow, f.bankA, f.school, 1, f.bob.address);
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, gone, 4, 0)));
      await time.increase(10 * DAY);
      // Without a breach on record, the merchant's acceptance is needed.
      await expect(f.escrow.connect(f.alice).cancelForBreach(gone))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NoBreachRecorded").withArgs(f.school);
      // Only the merchant's regulator records it.
      await expect(f.escrow.connect(f.sportsRegulator).recordBreach(f.school, ethers.id("moved to Tongzhou")))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf").withArgs(EDUCATION, f.sportsRegulator.address);
      const reason = ethers.id("moved to Tongzhou: 35 km");
      await expect(f.escrow.connect(f.eduRegulator).recordBreach(f.school, reason))
        .to.emit(f.escrow, "BreachRecorded").withArgs(f.school, f.eduRegulator.address, reason);
      await expect(f.escrow.connect(f.eduRegulator).recordBreach(f.school, reason))
        .to.be.revertedWithCustomError(f.escrow, "Custody_BreachRecordUnchanged");
      // The holder cancels without the merchant: 16 lessons' worth back at once.
      await expect(f.escrow.connect(f.bob).cancelForBreach(gone))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotHolder").withArgs(gone, f.bob.address);
      await expect(f.escrow.connect(f.alice).cancelForBreach(gone))
        .to.emit(f.escrow, "CardRefunded").withArgs(gone, f.school, f.alice.address, 240_000n, 7);
      // Those who stay go on being served.
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.bob, stays, 1, 0)))).to.emit(f.escrow, "LessonsConsumed");
      expect((await f.escrow.merchantOf(f.school)).status).to.equal(1n);
      // A cleared record ends the right to cancel; what was cancelled stands.
      await expect(f.escrow.connect(f.eduRegulator).clearBreach(f.school, ethers.id("moved back")))
        .to.emit(f.escrow, "BreachCleared");
      await expect(f.escrow.connect(f.bob).cancelForBreach(stays)).to.be.revertedWithCustomError(f.escrow, "Custody_NoBreachRecorded");
      await expectConservation(f);
    });

    it("违约解除时冷静期内的直付部分一并退还: a cancellation returns a direct share still in its cooling-off", async () => {
      const f = await loadFixture(deployFixture);
      const cardId = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address); // 10 visits, 500 CNY at 40%
      await f.escrow.connect(f.gymAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0)));
      await f.escrow.connect(f.sportsRegulator).recordBreach(f.gym, ethers.id("handed to another operator"));
      const tx = f.escrow.connect(f.alice).cancelForBreach(cardId);
      await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(cardId, f.gym, f.alice.address, 18_000n, 7);
      await expect(tx).to.emit(f.escrow, "DirectShareReturned").withArgs(cardId, f.gym, f.alice.address, 30_000n);
      await expectConservation(f);
    });
  });

  describe("a lost key (item 6)", () => {
    it("挂失补办: the custodian bank moves the card to a new key after 7 days; until then the old key can cancel it", async () => {
      const f = await loadFixture(deployFixture);
      const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0)));
      const before = await f.escrow.cardOf(cardId);
      // Only the bank that holds the card's money (and knows who paid) starts it.
      for (const who of [f.stranger, f.bankB, f.schoolAcct]) {
        await expect(f.escrow.connect(who).startKeyRecovery(cardId, f.bob.address))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotCustodianOf").withArgs(f.school, who.address);
      }
      await expect(f.escrow.connect(f.bankA).startKeyRecovery(cardId, f.alice.address))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidTransfer").withArgs(cardId, f.alice.address);
      const at = await atNextBlock();
      const effectiveAt = endOfPeriod(at, 7);
      await expect(f.escrow.connect(f.bankA).startKeyRecovery(cardId, f.bob.address))
        .to.emit(f.escrow, "KeyRecoveryStarted").withArgs(cardId, f.alice.address, f.bob.address, f.bankA.address, effectiveAt);
      expect(await f.escrow.keyRecoveryOf(cardId)).to.deep.equal([f.bob.address, BigInt(effectiveAt)]);
      await expect(f.escrow.connect(f.bankA).startKeyRecovery(cardId, f.carol.address))
        .to.be.revertedWithCustomError(f.escrow, "Custody_KeyRecoveryPending").withArgs(cardId, effectiveAt);
      await expect(f.escrow.completeKeyRecovery(cardId))
        .to.be.revertedWithCustomError(f.escrow, "Custody_KeyRecoveryWaiting").withArgs(cardId, effectiveAt);
      // The old key is not lost after all: its holder cancels (nobody else but the bank may).
      await expect(f.escrow.connect(f.carol).cancelKeyRecovery(cardId))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotHolderOrCustodian").withArgs(cardId, f.carol.address);
      await expect(f.escrow.connect(f.alice).cancelKeyRecovery(cardId))
        .to.emit(f.escrow, "KeyRecoveryCancelled").withArgs(cardId, f.bob.address, f.alice.address);
      await expect(f.escrow.completeKeyRecovery(cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_NoKeyRecovery").withArgs(cardId);
      // Started again and left alone: after 24:00 Beijing time of the seventh day anyone completes it.
      await f.escrow.connect(f.bankA).startKeyRecovery(cardId, f.bob.address);
      const [, again] = await f.escrow.keyRecoveryOf(cardId);
      await time.increaseTo(Number(again) - 2); // the next block is one second before it takes effect
      await expect(f.escrow.completeKeyRecovery(cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_KeyRecoveryWaiting");
      await expect(f.escrow.connect(f.stranger).completeKeyRecovery(cardId))
        .to.emit(f.escrow, "KeyRecoveryCompleted").withArgs(cardId, f.alice.address, f.bob.address, f.stranger.address);
      // Lessons, balance and rights moved, the cooling-off as it was; the lost key signs nothing any more.
      const after = await f.escrow.cardOf(cardId);
      expect(after.holder).to.equal(f.bob.address);
      expect([after.held, after.unitsLeft, after.unitsUsed, after.coolingOffEndDay])
        .to.deep.equal([before.held, before.unitsLeft, before.unitsUsed, before.coolingOffEndDay]);
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 1))))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner");
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.bob, cardId, 1, 1)))).to.emit(f.escrow, "LessonsConsumed");
      expect((await f.escrow.keyRecoveryOf(cardId)).effectiveAt).to.equal(0n);
      await expectConservation(f);
    });

    it("持卡人仍持有密钥时可阻止: the bank may withdraw a recovery, and the holder's own transfer ends one under way", async () => {
      const f = await loadFixture(deployFixture);
      const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      await f.escrow.connect(f.bankA).startKeyRecovery(cardId, f.bob.address);
      await expect(f.escrow.connect(f.bankA).cancelKeyRecovery(cardId))
        .to.emit(f.escrow, "KeyRecoveryCancelled").withArgs(cardId, f.bob.address, f.bankA.address);
      await f.escrow.connect(f.bankA).startKeyRecovery(cardId, f.bob.address);
      await expect(f.escrow.connect(f.alice).transferCard(cardId, f.carol.address))
        .to.emit(f.escrow, "KeyRecoveryCancelled").withArgs(cardId, f.bob.address, f.alice.address);
      await time.increase(8 * DAY);
      await expect(f.escrow.completeKeyRecovery(cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_NoKeyRecovery");
      expect((await f.escrow.cardOf(cardId)).holder).to.equal(f.carol.address);
    });
  });

  describe("nothing stays stuck (item 9)", () => {
    it("冻结前已结算资金依监管决定退还持卡人: the regulator's decision shares it pro rata, and the last claim takes the rest", async () => {
      const f = await loadFixture(deployFixture);
      const a = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      const b = await buy(f.escrow, f.bankA, f.school, 1, f.bob.address);
      const c = await buy(f.escrow, f.bankA, f.school, 1, f.carol.address);
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, a, 4, 0)));
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.bob, b, 2, 0)));
      const reason = ethers.id("京市监 2026-118: collapse; released money to the holders");
      await expect(f.escrow.connect(f.eduRegulator).decideFrozenPayable(f.school, true, reason))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotFrozen").withArgs(f.school, 1);
      await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.id("collapse"));
      // 90,000 fen released before the freeze: the merchant cannot take it, and without a decision it would stay.
      await expect(f.escrow.connect(f.schoolAcct).payOut(f.school)).to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing");
      await expect(f.escrow.connect(f.sportsRegulator).decideFrozenPayable(f.school, true, reason))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf").withArgs(EDUCATION, f.sportsRegulator.address);
      await expect(f.escrow.connect(f.eduRegulator).decideFrozenPayable(f.school, true, reason))
        .to.emit(f.escrow, "FrozenPayableDecided").withArgs(f.school, true, 90_000n, f.eduRegulator.address, reason);
      expect(await f.escrow.balancesOf(f.school)).to.deep.equal([900_000n, 0n]);
      expect(await f.escrow.holderPoolOf(f.school)).to.equal(90_000n);
      await expectConservation(f);
      // The decision stands: the merchant is not unfrozen while holders still have a share to claim.
      await expect(f.escrow.connect(f.eduRegulator).unfreeze(f.school, ethers.id("reopened")))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange");
      // 240,000 + 270,000 + 300,000 fen held: each claim takes its card's share of what is left.
      let tx = f.escrow.claim(a);
      await expect(tx).to.emit(f.escrow, "FrozenPayableShared").withArgs(a, f.school, 26_666n);
      await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(a, f.school, f.alice.address, 266_666n, 5);
      tx = f.escrow.claim(b);
      await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(b, f.school, f.bob.address, 300_000n, 5);
      await expectConservation(f);
      tx = f.escrow.claim(c);
      await expect(tx).to.emit(f.escrow, "FrozenPayableShared").withArgs(c, f.school, 33_334n);
      await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(c, f.school, f.carol.address, 333_334n, 5);
      // Everything paid in went back to the holders, to the fen: nothing is left stuck, the merchant can be closed.
      expect(await f.escrow.holderPoolOf(f.school)).to.equal(0n);
      expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 0n]);
      await expect(f.escrow.connect(f.eduRegulator).close(f.school)).to.emit(f.escrow, "MerchantStatusChanged");
      await expectConservation(f);
    });

    it("经审查后支付经营者: the regulator's decision pays a frozen merchant's released money out to it", async () => {
      const f = await loadFixture(deployFixture);
      const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 2, 0)));
      await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.id("investigation"));
      const reason = ethers.id("reviewed: lessons were given");
      const tx = f.escrow.connect(f.eduRegulator).decideFrozenPayable(f.school, false, reason);
      await expect(tx).to.emit(f.escrow, "FrozenPayableDecided").withArgs(f.school, false, 30_000n, f.eduRegulator.address, reason);
      await expect(tx).to.emit(f.escrow, "PaidOut").withArgs(f.school, 1, 30_000n, f.eduRegulator.address);
      expect(await f.escrow.balancesOf(f.school)).to.deep.equal([270_000n, 0n]);
      await expect(f.escrow.connect(f.eduRegulator).decideFrozenPayable(f.school, false, reason))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NothingToPayOut").withArgs(f.school);
      await expectConservation(f);
    });

    it("变更收款账户须经主管部门确认: the merchant proposes, its regulator (or the bureau) confirms", async () => {
      const f = await loadFixture(deployFixture);
      const first = ethers.id("ICBC 6222 0200 0000 0001");
      const second = ethers.id("BOC 6217 0000 0000 0002");
      await expect(f.escrow.connect(f.stranger).proposePayoutAccount(f.school, first))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.stranger.address);
      await expect(f.escrow.connect(f.eduRegulator).confirmPayoutAccount(f.school, first))
        .to.be.revertedWithCustomError(f.escrow, "Custody_PayoutAccountNotProposed").withArgs(f.school, first, ethers.ZeroHash);
      await expect(f.escrow.connect(f.schoolAcct).proposePayoutAccount(f.school, first))
        .to.emit(f.escrow, "PayoutAccountProposed").withArgs(f.school, first);
      await expect(f.escrow.connect(f.sportsRegulator).confirmPayoutAccount(f.school, first))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf").withArgs(EDUCATION, f.sportsRegulator.address);
      await expect(f.escrow.connect(f.eduRegulator).confirmPayoutAccount(f.school, second))
        .to.be.revertedWithCustomError(f.escrow, "Custody_PayoutAccountNotProposed").withArgs(f.school, second, first);
      await expect(f.escrow.connect(f.eduRegulator).confirmPayoutAccount(f.school, first))
        .to.emit(f.escrow, "PayoutAccountConfirmed").withArgs(f.school, first, f.eduRegulator.address);
      expect(await f.escrow.payoutAccountOf(f.school)).to.deep.equal([first, ethers.ZeroHash]);
      // A later change: proposed, not yet in force until the bureau confirms it.
      await f.escrow.connect(f.schoolAcct).proposePayoutAccount(f.school, second);
      expect(await f.escrow.payoutAccountOf(f.school)).to.deep.equal([first, second]);
      await expect(f.escrow.connect(f.regulator).confirmPayoutAccount(f.school, second)).to.emit(f.escrow, "PayoutAccountConfirmed");
      expect(await f.escrow.payoutAccountOf(f.school)).to.deep.equal([second, ethers.ZeroHash]);
    });
  });

  describe("filing threshold (item 10)", () => {
    it("预收资金余额达到50万元应当备案: the district's threshold is at most 500,000 CNY, never 0, and bounds every industry's", async () => {
      const f = await loadFixture(deployFixture);
      expect((await f.registry.policyOf(FITNESS)).filingThreshold).to.equal(50_000_000n);
      await expect(f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, filingThreshold: 50_000_001n }))
        .to.be.revertedWithCustomError(f.registry, "Registry_PolicyAboveLaw").withArgs(Field.FilingThreshold, 50_000_001n, 50_000_000n);
      await expect(f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, filingThreshold: 0n }))
        .to.be.revertedWithCustomError(f.registry, "Registry_ZeroCap").withArgs(Field.FilingThreshold);
      await f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, filingThreshold: 1_000_000n });
      await expect(f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, filingThreshold: 2_000_000n }))
        .to.be.revertedWithCustomError(f.registry, "Registry_PolicyCrossesDistrict").withArgs(FITNESS, Field.FilingThreshold, 2_000_000n, 1_000_000n);
      // Education's own policy says 500,000 CNY: the stricter district's binds it at once.
      expect((await f.registry.policyOf(EDUCATION)).filingThreshold).to.equal(1_000_000n);
    });

    it("达到备案标准时提示监管: a sale that takes the merchant's prepaid balance to the threshold is marked, once, and again after it fell under", async () => {
      const f = await loadFixture(deployFixture);
      await f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, filingThreshold: 1_000_000n }); // 10,000 CNY
      const cards: bigint[] = [];
      for (let i = 0; i < 3; i++) cards.push(await buy(f.escrow, f.bankA, f.school, 1, f.alice.address)); // 900,000 fen
      await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true))
        .to.emit(f.escrow, "FilingThresholdReached").withArgs(f.school, 1_200_000n, 1_000_000n);
      await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true)).not.to.emit(f.escrow, "FilingThresholdReached");
      // Two cards refunded in their cooling-off: 900,000 fen, under the threshold again; a renewal reaching it is marked.
      await f.escrow.connect(f.alice).refundCoolingOff(cards[0]);
      await f.escrow.connect(f.alice).refundCoolingOff(cards[1]);
      await expect(f.escrow.connect(f.bankA).renew(cards[2], 2)).not.to.emit(f.escrow, "FilingThresholdReached"); // 901,000
      await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.carol.address, true))
        .to.emit(f.escrow, "FilingThresholdReached").withArgs(f.school, 1_201_000n, 1_000_000n);
      await expectConservation(f);
    });
  });
});
