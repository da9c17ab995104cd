/**
 * The law as it stands in 2025, tried as a regulator would: each scenario is named with the rule's own words and
 * checks what the contracts do against it. Sources: 法释〔2025〕4号 (Supreme People's Court, in force 2025-05-01),
 * 京商秩字〔2023〕18号 (Beijing), 教监管函〔2021〕2号 (education).
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { CustodyRegistry__factory } from "../../typechain-types";
import { CNY, DEFAULT_POLICY, NO_CAP_FEN, NO_CAP_U16, TRAINING_POLICY } from "../../src/chain/policies";
import { buy, deployFixture, EDUCATION, expectConservation, FITNESS } from "./fixture";

/** PolicyField as the registry's errors number it. */
const Field = {
  CustodyBps: 0, CoolingOffDays: 1, ExitNoticeDays: 2, MaxLessons: 3, MaxValidityDays: 4, MaxCardValue: 5, MaxAnonymousValue: 6,
  MediumRiskCap30d: 7,
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
});
