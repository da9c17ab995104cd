import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { deployFixture, buy, buyStarted, expectConservation, DAY, PERIODIC, CardStatus, MerchantStatus } from "./fixture";

const MONTH = 30 * DAY;

/**
 * A gym membership (3 monthly periods for 900 CNY, 40% custody: 360 CNY held) held by bob, who checked in at once:
 * its periods run from then. The 540 CNY direct share waits in escrow for the 7-day cooling-off, then is the gym's.
 */
async function membershipFixture() {
  const f = await deployFixture();
  const cardId = await buyStarted(f.escrow, f.bankB, f.gym, 1, f.bob);
  const startedAt = Number((await f.escrow.cardOf(cardId)).startedAt);
  return { ...f, cardId, startedAt };
}

describe("PrepaidEscrow: periodic release", () => {
  describe("releasePeriodic", () => {
    describe("when no whole period has elapsed", () => {
      it("it reverts with Custody_NothingToRelease", async () => {
        const f = await loadFixture(membershipFixture);
        await time.setNextBlockTimestamp(f.startedAt + MONTH - 1);
        await expect(f.escrow.connect(f.stranger).releasePeriodic(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NothingToRelease")
          .withArgs(f.cardId);
      });
    });

    describe("when one period has elapsed", () => {
      it("it releases one third, whoever triggers it, and emits PeriodsReleased", async () => {
        const f = await loadFixture(membershipFixture);
        await time.setNextBlockTimestamp(f.startedAt + MONTH);
        await expect(f.escrow.connect(f.stranger).releasePeriodic(f.cardId))
          .to.emit(f.escrow, "PeriodsReleased")
          .withArgs(f.cardId, 1, 12_000n);
        const card = await f.escrow.cardOf(f.cardId);
        expect(card.held).to.equal(24_000n);
        expect(card.unitsLeft).to.equal(2n);
        expect(card.unitsUsed).to.equal(1n);
        // Payable: the period, and the 540 CNY direct share whose cooling-off is over.
        expect(await f.escrow.balancesOf(f.gym)).to.deep.equal([24_000n, 12_000n + 54_000n]);
        await expectConservation(f);
      });

      it("it releases nothing more until the next whole period", async () => {
        const f = await loadFixture(membershipFixture);
        await time.increaseTo(f.startedAt + MONTH);
        await f.escrow.releasePeriodic(f.cardId);
        await time.setNextBlockTimestamp(f.startedAt + 2 * MONTH - 1);
        await expect(f.escrow.releasePeriodic(f.cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_NothingToRelease").withArgs(f.cardId);
        await time.setNextBlockTimestamp(f.startedAt + 2 * MONTH);
        await expect(f.escrow.releasePeriodic(f.cardId)).to.emit(f.escrow, "PeriodsReleased").withArgs(f.cardId, 1, 12_000n);
      });
    });

    describe("when several periods have elapsed since the last release", () => {
      it("it releases them all at once", async () => {
        const f = await loadFixture(membershipFixture);
        await time.increase(2 * MONTH + 5 * DAY);
        await expect(f.escrow.releasePeriodic(f.cardId)).to.emit(f.escrow, "PeriodsReleased").withArgs(f.cardId, 2, 24_000n);
      });
    });

    describe("when the card's time is over", () => {
      it("it releases the rest, never more than the card holds, and the card is consumed", async () => {
        const f = await loadFixture(membershipFixture);
        await time.increase(MONTH + 1);
        await f.escrow.releasePeriodic(f.cardId);
        await time.increase(365 * DAY);
        await expect(f.escrow.releasePeriodic(f.cardId)).to.emit(f.escrow, "PeriodsReleased").withArgs(f.cardId, 2, 24_000n);
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Consumed));
        expect(await f.escrow.balancesOf(f.gym)).to.deep.equal([0n, 36_000n + 54_000n]);
        await expect(f.escrow.releasePeriodic(f.cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_NothingToRelease").withArgs(f.cardId);
        await expectConservation(f);
      });
    });

    describe("when the held amount does not divide by the periods", () => {
      it("it rounds each period down and the last takes the remainder", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.gymAcct).publishPlan(f.gym, PERIODIC, 3, 7 * DAY, 0, 1_001n); // 401 fen held
        const cardId = await buy(f.escrow, f.bankB, f.gym, 3, f.bob.address);
        const startedAt = Number((await f.escrow.cardOf(cardId)).startedAt);
        const expected = [133n, 134n, 134n];
        for (let i = 0; i < 3; i++) {
          await time.setNextBlockTimestamp(startedAt + (i + 1) * 7 * DAY);
          await expect(f.escrow.releasePeriodic(cardId)).to.emit(f.escrow, "PeriodsReleased").withArgs(cardId, 1, expected[i]);
        }
        expect(await f.escrow.balancesOf(f.gym)).to.deep.equal([0n, 401n + 600n]);
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(membershipFixture);
        const cardId = (BigInt(f.gym) << 32n) | 5n;
        await expect(f.escrow.releasePeriodic(cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard").withArgs(cardId);
      });
    });

    describe("when the card is a lesson card", () => {
      it("it reverts with Custody_CardNotActive (lessons need vouchers)", async () => {
        const f = await loadFixture(membershipFixture);
        const lessonCard = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address);
        await time.increase(MONTH);
        await expect(f.escrow.releasePeriodic(lessonCard))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(lessonCard, CardStatus.Active);
      });
    });

    describe("when the card awaits a refund decision", () => {
      it("it reverts with Custody_CardNotActive", async () => {
        const f = await loadFixture(membershipFixture);
        await time.increase(10 * DAY);
        await f.escrow.connect(f.bob).requestRefund(f.cardId);
        await time.increase(MONTH);
        await expect(f.escrow.releasePeriodic(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(f.cardId, CardStatus.RefundRequested);
      });
    });

    describe("when the merchant is Frozen", () => {
      it("it reverts with Custody_MerchantNotServing", async () => {
        const f = await loadFixture(membershipFixture);
        await time.increase(MONTH);
        await f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.ZeroHash);
        await expect(f.escrow.releasePeriodic(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.gym, MerchantStatus.Frozen);
      });
    });

    describe("when the merchant is Restricted", () => {
      it("it still releases", async () => {
        const f = await loadFixture(membershipFixture);
        await f.escrow.connect(f.sportsRegulator).restrict(f.gym, true, ethers.ZeroHash);
        await time.increase(MONTH);
        await expect(f.escrow.releasePeriodic(f.cardId)).to.emit(f.escrow, "PeriodsReleased").withArgs(f.cardId, 1, 12_000n);
      });
    });

    describe("when the merchant is winding down", () => {
      it("it releases during the notice and reverts with Custody_MerchantNotServing after it", async () => {
        const f = await loadFixture(membershipFixture);
        await f.escrow.connect(f.gymAcct).announceExit(f.gym);
        const { exitEffectiveAt } = await f.escrow.merchantOf(f.gym);
        await time.setNextBlockTimestamp(f.startedAt + MONTH);
        await expect(f.escrow.releasePeriodic(f.cardId)).to.emit(f.escrow, "PeriodsReleased");
        await time.increaseTo(exitEffectiveAt + BigInt(MONTH));
        await expect(f.escrow.releasePeriodic(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.gym, MerchantStatus.WindingDown);
      });
    });
  });

  describe("releasePeriodicBatch", () => {
    describe("when some cards are due and some are not", () => {
      it("it releases the due cards and skips the others", async () => {
        const f = await loadFixture(membershipFixture);
        await time.increase(MONTH);
        const fresh = await buy(f.escrow, f.bankB, f.gym, 1, f.alice.address);
        const tx = f.escrow.connect(f.stranger).releasePeriodicBatch([fresh, f.cardId]);
        await expect(tx).to.emit(f.escrow, "PeriodsReleased").withArgs(f.cardId, 1, 12_000n);
        const receipt = await (await tx).wait();
        const released = receipt!.logs.map((l) => f.escrow.interface.parseLog(l)).filter((e) => e?.name === "PeriodsReleased");
        expect(released.map((e) => e!.args.cardId)).to.deep.equal([f.cardId]);
        expect((await f.escrow.cardOf(fresh)).unitsUsed).to.equal(0n);
        // Held: the fresh card's 360 CNY and its 540 CNY direct share still in cooling-off.
        expect(await f.escrow.balancesOf(f.gym)).to.deep.equal([24_000n + 36_000n + 54_000n, 12_000n + 54_000n]);
        await expectConservation(f);
      });
    });

    describe("when nothing is due", () => {
      it("it does nothing (and does not revert)", async () => {
        const f = await loadFixture(membershipFixture);
        await expect(f.escrow.releasePeriodicBatch([f.cardId])).not.to.emit(f.escrow, "PeriodsReleased");
        await expect(f.escrow.releasePeriodicBatch([])).not.to.emit(f.escrow, "PeriodsReleased");
      });
    });

    describe("when a card cannot be released at all", () => {
      it("it reverts with that card's error (unknown card, lesson card, frozen merchant)", async () => {
        const f = await loadFixture(membershipFixture);
        await time.increase(MONTH);
        const unknown = (BigInt(f.gym) << 32n) | 9n;
        await expect(f.escrow.releasePeriodicBatch([f.cardId, unknown])).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard").withArgs(unknown);
        const lessonCard = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address);
        await expect(f.escrow.releasePeriodicBatch([f.cardId, lessonCard]))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(lessonCard, CardStatus.Active);
        await f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.ZeroHash);
        await expect(f.escrow.releasePeriodicBatch([f.cardId]))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.gym, MerchantStatus.Frozen);
      });
    });
  });
});
