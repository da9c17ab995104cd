import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { beijingDayOf, startOfBeijingDay } from "../../src/chain/days";
import { DEFAULT_POLICY, TRAINING_POLICY, CNY, NO_CAP_FEN } from "../../src/chain/policies";
import { deployFixture, buy, voucher, voucherArg, atNextBlock, expectConservation, EDUCATION, FITNESS, RiskLevel } from "./fixture";

/** Education's medium-risk cap: 10,000 CNY of new card value per 30 days. School plan 1 sells at 3,000 CNY. */
const EDU_CAP = 10_000n * CNY;
const CARD = 3_000n * CNY;

/** The school rated medium risk; returns the Beijing day its sales window starts counting from. */
async function mediumRiskFixture() {
  const f = await deployFixture();
  const windowDay = beijingDayOf(await atNextBlock());
  await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.Medium, ethers.id("3 complaints in 30 days"));
  return { ...f, windowDay };
}

describe("PrepaidEscrow: risk", () => {
  describe("setRiskLevel", () => {
    describe("when the caller is not the risk oracle", () => {
      it("it reverts with Custody_NotRiskOracle, even for regulators", async () => {
        const f = await loadFixture(deployFixture);
        for (const caller of [f.regulator, f.eduRegulator, f.schoolAcct, f.bankA, f.deployer]) {
          await expect(f.escrow.connect(caller).setRiskLevel(f.school, RiskLevel.High, ethers.ZeroHash))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotRiskOracle")
            .withArgs(caller.address);
        }
      });
    });

    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.riskOracle).setRiskLevel(99, RiskLevel.High, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });

    describe("when the risk oracle rates a merchant", () => {
      it("it records the level and emits RiskLevelSet with the explaining reason", async () => {
        const f = await loadFixture(deployFixture);
        const reason = ethers.id("失信被执行人 + 12 hotline tickets");
        await expect(f.escrow.connect(f.riskOracle).setRiskLevel(f.gym, RiskLevel.High, reason))
          .to.emit(f.escrow, "RiskLevelSet")
          .withArgs(f.gym, RiskLevel.Low, RiskLevel.High, reason);
        expect((await f.escrow.merchantOf(f.gym)).risk).to.equal(BigInt(RiskLevel.High));
        await expect(f.escrow.connect(f.riskOracle).setRiskLevel(f.gym, RiskLevel.Low, ethers.ZeroHash))
          .to.emit(f.escrow, "RiskLevelSet")
          .withArgs(f.gym, RiskLevel.High, RiskLevel.Low, ethers.ZeroHash);
      });
    });

    describe("when a merchant becomes medium risk", () => {
      it("it starts counting its sales afresh from today", async () => {
        const f = await loadFixture(mediumRiskFixture);
        const m = await f.escrow.merchantOf(f.school);
        expect(m.windowDay).to.equal(BigInt(f.windowDay));
        expect(m.windowSales).to.equal(0n);
      });

      it("it keeps the running window when rated medium again", async () => {
        const f = await loadFixture(mediumRiskFixture);
        await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await expect(f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.Medium, ethers.ZeroHash))
          .to.emit(f.escrow, "RiskLevelSet")
          .withArgs(f.school, RiskLevel.Medium, RiskLevel.Medium, ethers.ZeroHash);
        const m = await f.escrow.merchantOf(f.school);
        expect(m.windowDay).to.equal(BigInt(f.windowDay));
        expect(m.windowSales).to.equal(CARD);
      });

      it("it restarts the window when rated medium after low or high", async () => {
        const f = await loadFixture(mediumRiskFixture);
        await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.High, ethers.ZeroHash);
        const restart = await atNextBlock(5);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.Medium, ethers.ZeroHash);
        let m = await f.escrow.merchantOf(f.school);
        expect(m.windowDay).to.equal(BigInt(beijingDayOf(restart)));
        expect(m.windowSales).to.equal(0n);
        await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.Low, ethers.ZeroHash);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.Medium, ethers.ZeroHash);
        m = await f.escrow.merchantOf(f.school);
        expect(m.windowSales).to.equal(0n);
      });
    });
  });

  describe("purchase and renew at high risk", () => {
    describe("when the merchant is high risk", () => {
      it("it reverts a purchase with Custody_HighRiskNoSales", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.High, ethers.ZeroHash);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_HighRiskNoSales")
          .withArgs(f.school);
      });

      it("it reverts a renewal with Custody_HighRiskNoSales", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.High, ethers.ZeroHash);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_HighRiskNoSales")
          .withArgs(f.school);
      });

      it("it still serves existing cards, pays out and refunds", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.High, ethers.ZeroHash);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0)))).to.emit(
          f.escrow,
          "LessonsConsumed",
        );
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school)).to.emit(f.escrow, "PaidOut");
        await f.escrow.connect(f.alice).requestRefund(cardId);
        await expect(f.escrow.connect(f.schoolAcct).acceptRefund(cardId)).to.emit(f.escrow, "CardRefunded");
        await expectConservation(f);
      });

      it("it sells again once the risk is lowered", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.High, ethers.ZeroHash);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.Low, ethers.ZeroHash);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.alice.address, true)).to.emit(f.escrow, "CardPurchased");
      });
    });
  });

  describe("purchase and renew at medium risk", () => {
    describe("when sales stay within the 30-day cap", () => {
      it("it sells and counts each card's price in the window", async () => {
        const f = await loadFixture(mediumRiskFixture);
        for (let i = 0; i < 3; i++) await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        expect((await f.escrow.merchantOf(f.school)).windowSales).to.equal(3n * CARD);
      });
    });

    describe("when a purchase would pass the cap", () => {
      it("it reverts with Custody_MediumRiskCapExceeded; a smaller card still fits", async () => {
        const f = await loadFixture(mediumRiskFixture);
        for (let i = 0; i < 3; i++) await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MediumRiskCapExceeded")
          .withArgs(f.school, 3n * CARD, CARD, EDU_CAP);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 2, f.bob.address, true)).to.emit(f.escrow, "CardPurchased");
        expect((await f.escrow.merchantOf(f.school)).windowSales).to.equal(3n * CARD + 1_000n);
      });
    });

    describe("when a renewal would pass the cap", () => {
      it("it counts renewals too and reverts with Custody_MediumRiskCapExceeded", async () => {
        const f = await loadFixture(mediumRiskFixture);
        const first = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await buy(f.escrow, f.bankA, f.school, 1, f.bob.address);
        await buy(f.escrow, f.bankA, f.school, 1, f.carol.address);
        await f.escrow.connect(f.bankA).renew(first, 2);
        expect((await f.escrow.merchantOf(f.school)).windowSales).to.equal(3n * CARD + 1_000n);
        // 9,010 + 3,000 > 10,000: a renewal with the big plan is refused (after 10 lessons, the value cap allows it).
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, first, 10, 0)));
        await expect(f.escrow.connect(f.bankA).renew(first, 1))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MediumRiskCapExceeded")
          .withArgs(f.school, 3n * CARD + 1_000n, CARD, EDU_CAP);
      });
    });

    describe("when the day of the sales leaves the 30 days ending today", () => {
      it("it sells again from 00:00 Beijing time of the 30th day after them", async () => {
        const f = await loadFixture(mediumRiskFixture);
        for (let i = 0; i < 3; i++) await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await time.setNextBlockTimestamp(startOfBeijingDay(f.windowDay + 30) - 1);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MediumRiskCapExceeded")
          .withArgs(f.school, 3n * CARD, CARD, EDU_CAP);
        await time.setNextBlockTimestamp(startOfBeijingDay(f.windowDay + 30));
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true)).to.emit(f.escrow, "CardPurchased");
        const m = await f.escrow.merchantOf(f.school);
        expect(m.windowDay).to.equal(BigInt(f.windowDay + 30));
        expect(m.windowSales).to.equal(CARD);
      });
    });

    describe("when the custody ratio is under 100%", () => {
      it("it caps the card value sold, not the custodied share", async () => {
        const f = await loadFixture(deployFixture);
        await f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, mediumRiskCap30d: 1_000n * CNY });
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.gym, RiskLevel.Medium, ethers.ZeroHash);
        await buy(f.escrow, f.bankB, f.gym, 1, f.alice.address);
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.bob.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MediumRiskCapExceeded")
          .withArgs(f.gym, 900n * CNY, 900n * CNY, 1_000n * CNY);
      });
    });

    describe("when the policies set no medium-risk cap (NO_CAP_FEN, never 0)", () => {
      it("it does not cap sales", async () => {
        const f = await loadFixture(deployFixture);
        await f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, mediumRiskCap30d: NO_CAP_FEN });
        await f.registry.connect(f.eduRegulator).setIndustryPolicy(EDUCATION, { ...TRAINING_POLICY, mediumRiskCap30d: NO_CAP_FEN });
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.Medium, ethers.ZeroHash);
        for (let i = 0; i < 4; i++) await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        expect((await f.escrow.merchantOf(f.school)).windowSales).to.equal(4n * CARD);
      });
    });

    describe("when the merchant is back to low risk", () => {
      it("it sells without a cap", async () => {
        const f = await loadFixture(mediumRiskFixture);
        for (let i = 0; i < 3; i++) await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.riskOracle).setRiskLevel(f.school, RiskLevel.Low, ethers.ZeroHash);
        for (let i = 0; i < 2; i++) await buy(f.escrow, f.bankA, f.school, 1, f.bob.address);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([5n * CARD, 0n]);
        await expectConservation(f);
      });
    });
  });
});
