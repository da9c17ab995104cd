import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { deployFixture, buy, buyStarted, voucher, voucherArg, expectConservation, DAY, MerchantStatus } from "./fixture";

/** The school sold alice 20 lessons for 3,000 CNY and delivered 3 (450 CNY released, not paid out yet). */
async function releasedFixture() {
  const f = await deployFixture();
  const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
  await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 3, 0)));
  return { ...f, cardId };
}

describe("PrepaidEscrow: payout", () => {
  describe("payOut", () => {
    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(releasedFixture);
        await expect(f.escrow.connect(f.schoolAcct).payOut(99)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant").withArgs(99);
      });
    });

    describe("when the caller is neither the merchant nor its custodian bank", () => {
      it("it reverts with Custody_NotMerchant, for another bank, another merchant, a regulator, the holder", async () => {
        const f = await loadFixture(releasedFixture);
        for (const caller of [f.bankB, f.gymAcct, f.regulator, f.alice]) {
          await expect(f.escrow.connect(caller).payOut(f.school))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
            .withArgs(f.school, caller.address);
        }
      });
    });

    describe("when nothing has been released", () => {
      it("it reverts with Custody_NothingToPayOut", async () => {
        const f = await loadFixture(releasedFixture);
        await expect(f.escrow.connect(f.gymAcct).payOut(f.gym)).to.be.revertedWithCustomError(f.escrow, "Custody_NothingToPayOut").withArgs(f.gym);
      });
    });

    describe("when the merchant asks for its released money", () => {
      it("it burns exactly the released amount, emits PaidOut, and returns the amount", async () => {
        const f = await loadFixture(releasedFixture);
        const escrowAddress = await f.escrow.getAddress();
        expect(await f.escrow.connect(f.schoolAcct).payOut.staticCall(f.school)).to.equal(45_000n);
        const tx = f.escrow.connect(f.schoolAcct).payOut(f.school);
        await expect(tx).to.emit(f.escrow, "PaidOut").withArgs(f.school, 1, 45_000n, f.schoolAcct.address);
        await expect(tx).to.emit(f.tokenA, "Transfer").withArgs(escrowAddress, ethers.ZeroAddress, 45_000n);
        expect(await f.tokenA.balanceOf(escrowAddress)).to.equal(255_000n);
        expect(await f.tokenA.totalSupply()).to.equal(255_000n);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([255_000n, 0n]);
        const m = await f.escrow.merchantOf(f.school);
        expect(m.paidOut).to.equal(45_000n);
        expect(m.released).to.equal(45_000n);
        await expectConservation(f);
      });

      it("it reverts with Custody_NothingToPayOut when asked again with nothing new released", async () => {
        const f = await loadFixture(releasedFixture);
        await f.escrow.connect(f.schoolAcct).payOut(f.school);
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NothingToPayOut")
          .withArgs(f.school);
      });

      it("it pays only what was released since the last payout", async () => {
        const f = await loadFixture(releasedFixture);
        await f.escrow.connect(f.schoolAcct).payOut(f.school);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 3)));
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school)).to.emit(f.escrow, "PaidOut").withArgs(f.school, 1, 15_000n, f.schoolAcct.address);
      });
    });

    describe("when the custodian bank pays out", () => {
      it("it pays the merchant the same way", async () => {
        const f = await loadFixture(releasedFixture);
        await expect(f.escrow.connect(f.bankA).payOut(f.school)).to.emit(f.escrow, "PaidOut").withArgs(f.school, 1, 45_000n, f.bankA.address);
      });
    });

    describe("when merchants of both banks are paid out", () => {
      it("each burns its own bank's token and money is conserved per bank", async () => {
        const f = await loadFixture(releasedFixture);
        const gymCard = await buyStarted(f.escrow, f.bankB, f.gym, 1, f.bob);
        await time.increase(30 * DAY);
        await f.escrow.releasePeriodic(gymCard);
        // A month served, and the direct share whose cooling-off ended.
        await expect(f.escrow.connect(f.bankB).payOut(f.gym))
          .to.emit(f.tokenB, "Transfer")
          .withArgs(await f.escrow.getAddress(), ethers.ZeroAddress, 12_000n + 54_000n);
        expect(await f.tokenB.totalSupply()).to.equal(24_000n);
        expect(await f.tokenA.totalSupply()).to.equal(300_000n);
        await expectConservation(f);
      });
    });

    describe("when the merchant is Frozen", () => {
      it("it reverts with Custody_MerchantNotServing, for the merchant and its bank", async () => {
        const f = await loadFixture(releasedFixture);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        for (const caller of [f.schoolAcct, f.bankA]) {
          await expect(f.escrow.connect(caller).payOut(f.school))
            .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
            .withArgs(f.school, MerchantStatus.Frozen);
        }
      });

      it("it pays out again once unfrozen", async () => {
        const f = await loadFixture(releasedFixture);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await f.escrow.connect(f.eduRegulator).unfreeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school)).to.emit(f.escrow, "PaidOut");
      });
    });

    describe("when the merchant is Restricted", () => {
      it("it still pays out (released money is the merchant's)", async () => {
        const f = await loadFixture(releasedFixture);
        await f.escrow.connect(f.eduRegulator).restrict(f.school, true, ethers.ZeroHash);
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school)).to.emit(f.escrow, "PaidOut");
      });
    });

    describe("when the merchant's exit notice has ended", () => {
      it("it still pays out the money released before", async () => {
        const f = await loadFixture(releasedFixture);
        await f.escrow.connect(f.schoolAcct).announceExit(f.school);
        await time.increase(31 * DAY);
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school)).to.emit(f.escrow, "PaidOut").withArgs(f.school, 1, 45_000n, f.schoolAcct.address);
      });
    });
  });
});
