import { expect } from "chai";
import { endOfPeriod, startOfBeijingDay } from "../../src/chain/days";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { DEFAULT_POLICY } from "../../src/chain/policies";
import {
  deployFixture, buy, buyStarted, voucher, voucherArg, expectConservation,
  EDUCATION, FITNESS, PET_CARE, LESSON, PERIODIC, DAY, CardStatus, RefundReason,
} from "./fixture";

/** A school card (20 lessons for 3,000 CNY, 100% custody) held by alice, one lesson used: 2,850 CNY held. */
async function usedCardFixture() {
  const f = await deployFixture();
  const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
  await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0)));
  return { ...f, cardId };
}

/** As {usedCardFixture}, with alice's refund request pending. */
async function requestedFixture() {
  const f = await usedCardFixture();
  await f.escrow.connect(f.alice).requestRefund(f.cardId);
  return f;
}

/** As {requestedFixture}, with the school having refused: the card is in dispute. */
async function disputedFixture() {
  const f = await requestedFixture();
  await f.escrow.connect(f.schoolAcct).rejectRefund(f.cardId, ethers.id("lessons were booked"));
  return f;
}

describe("PrepaidEscrow: refunds", () => {
  describe("refundCoolingOff", () => {
    describe("when the card is unused and within the cooling-off days", () => {
      it("it refunds everything escrowed, burns it and emits CardRefunded", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        const escrowAddress = await f.escrow.getAddress();
        const tx = f.escrow.connect(f.alice).refundCoolingOff(cardId);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(cardId, f.school, f.alice.address, 300_000n, RefundReason.CoolingOff);
        await expect(tx).to.emit(f.tokenA, "Transfer").withArgs(escrowAddress, ethers.ZeroAddress, 300_000n);
        const card = await f.escrow.cardOf(cardId);
        expect(card.held).to.equal(0n);
        expect(card.unitsLeft).to.equal(0n);
        expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Refunded));
        expect((await f.escrow.merchantOf(f.school)).refunded).to.equal(300_000n);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 0n]);
        expect(await f.tokenA.totalSupply()).to.equal(0n);
        await expectConservation(f);
      });

      it("it refunds the custodied share of a partly custodied card (the direct share was the merchant's already)", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
          .to.emit(f.escrow, "CardRefunded")
          .withArgs(cardId, f.gym, f.alice.address, 20_000n, RefundReason.CoolingOff);
      });

      it("it refunds up to the last second of the 7th day", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        const startedAt = Number((await f.escrow.cardOf(cardId)).startedAt);
        await time.setNextBlockTimestamp(startedAt + 7 * DAY - 1);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId)).to.emit(f.escrow, "CardRefunded");
      });

      it("it refunds even when the merchant has been frozen since", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
          .to.emit(f.escrow, "CardRefunded")
          .withArgs(cardId, f.school, f.alice.address, 300_000n, RefundReason.CoolingOff);
      });
    });

    describe("when the cooling-off days are over", () => {
      it("it reverts with Custody_CoolingOffOver", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        const startedAt = Number((await f.escrow.cardOf(cardId)).startedAt);
        await time.setNextBlockTimestamp(endOfPeriod(startedAt, 7));
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CoolingOffOver")
          .withArgs(cardId, endOfPeriod(startedAt, 7));
      });

      it("it keeps the cooling-off days in force at purchase, not today's policy", async () => {
        const f = await loadFixture(deployFixture);
        await f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, coolingOffDays: 10 });
        const longCoolingOff = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address);
        expect((await f.escrow.cardOf(longCoolingOff)).coolingOffDays).to.equal(10n);
        // Back to the district's 7 days: the card sold with 10 keeps them.
        await f.registry.connect(f.sportsRegulator).clearIndustryPolicy(FITNESS);
        await time.increase(8 * DAY);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(longCoolingOff)).to.emit(f.escrow, "CardRefunded");
      });
    });

    describe("when the card has been used", () => {
      it("it reverts with Custody_CardAlreadyUsed", async () => {
        const f = await loadFixture(usedCardFixture);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardAlreadyUsed")
          .withArgs(f.cardId, 1);
      });
    });

    describe("when periods of a time-based card have elapsed, released or not", () => {
      it("it reverts with Custody_CardAlreadyUsed (time served is service used)", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.gymAcct).publishPlan(f.gym, PERIODIC, 30, DAY, 0, 3_000n); // daily passes
        const cardId = await buyStarted(f.escrow, f.bankB, f.gym, 3, f.alice); // checked in at once
        await time.increase(3 * DAY + 60);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardAlreadyUsed")
          .withArgs(cardId, 3);
        expect((await f.escrow.cardOf(cardId)).held).to.equal(1_200n);
      });

      it("it refunds in full before the first period ends", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.gymAcct).publishPlan(f.gym, PERIODIC, 30, DAY, 0, 3_000n);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 3, f.alice.address);
        await time.increase(DAY / 2);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
          .to.emit(f.escrow, "CardRefunded")
          .withArgs(cardId, f.gym, f.alice.address, 1_200n, RefundReason.CoolingOff);
      });
    });

    describe("when the caller is not the holder", () => {
      it("it reverts with Custody_NotHolder, for the merchant, its bank or anyone", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        for (const caller of [f.schoolAcct, f.bankA, f.bob]) {
          await expect(f.escrow.connect(caller).refundCoolingOff(cardId))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotHolder")
            .withArgs(cardId, caller.address);
        }
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = (BigInt(f.school) << 32n) | 1n;
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard").withArgs(cardId);
      });
    });

    describe("when the card is not Active", () => {
      it("it reverts with Custody_CardNotActive (refund requested, refunded)", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.alice).requestRefund(cardId);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(cardId, CardStatus.RefundRequested);
        await f.escrow.connect(f.schoolAcct).acceptRefund(cardId);
        await expect(f.escrow.connect(f.alice).refundCoolingOff(cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(cardId, CardStatus.Refunded);
      });
    });
  });

  describe("requestRefund", () => {
    describe("when the card is active with money held", () => {
      it("it records the request, moves no money, and emits RefundRequested", async () => {
        const f = await loadFixture(usedCardFixture);
        await expect(f.escrow.connect(f.alice).requestRefund(f.cardId))
          .to.emit(f.escrow, "RefundRequested")
          .withArgs(f.cardId, f.alice.address, 285_000n);
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.RefundRequested));
        expect((await f.escrow.cardOf(f.cardId)).held).to.equal(285_000n);
        expect(await f.tokenA.totalSupply()).to.equal(300_000n);
      });
    });

    describe("when the card has expired", () => {
      it("it refunds what is left at once with reason Expired", async () => {
        const f = await loadFixture(usedCardFixture);
        await time.increaseTo(startOfBeijingDay((await f.escrow.cardOf(f.cardId)).expiryDay));
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Expired));
        const tx = f.escrow.connect(f.alice).requestRefund(f.cardId);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(f.cardId, f.school, f.alice.address, 285_000n, RefundReason.Expired);
        await expect(tx).not.to.emit(f.escrow, "RefundRequested");
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Refunded));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 15_000n]);
        await expectConservation(f);
      });
    });

    describe("when less than one lesson's share is left", () => {
      it("it refunds at once with reason SmallBalance", async () => {
        const f = await loadFixture(deployFixture);
        // 7 lessons for 1,000 fen, all used; then topped up with 1 lesson for 10 fen: 10 fen < 1,010 / 8 a lesson.
        await f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 1, 0, 90, 10n);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 7, 0)));
        await f.escrow.connect(f.bankA).renew(cardId, 3);
        await expect(f.escrow.connect(f.alice).requestRefund(cardId))
          .to.emit(f.escrow, "CardRefunded")
          .withArgs(cardId, f.school, f.alice.address, 10n, RefundReason.SmallBalance);
        await expectConservation(f);
      });
    });

    describe("when the card is a time-based card with elapsed periods not yet released", () => {
      it("it first releases the periods served to the merchant, then records the request for the rest", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
        await time.increase(40 * DAY);
        const tx = f.escrow.connect(f.bob).requestRefund(cardId);
        await expect(tx).to.emit(f.escrow, "PeriodsReleased").withArgs(cardId, 1, 12_000n);
        await expect(tx).to.emit(f.escrow, "RefundRequested").withArgs(cardId, f.bob.address, 24_000n);
        // Payable: the month served, and the direct share whose cooling-off has ended.
        expect(await f.escrow.balancesOf(f.gym)).to.deep.equal([24_000n, 12_000n + 54_000n]);
      });

      it("it reverts with Custody_CardNotActive (Consumed) once every period was served, even if never released", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
        await time.increase(100 * DAY);
        expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Expired));
        await expect(f.escrow.connect(f.bob).requestRefund(cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(cardId, CardStatus.Consumed);
        // The served money is still the merchant's to release.
        await expect(f.escrow.releasePeriodic(cardId)).to.emit(f.escrow, "PeriodsReleased").withArgs(cardId, 3, 36_000n);
      });

      it("it releases nothing when the merchant is frozen (a frozen merchant is not paid for time)", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
        await time.increase(40 * DAY);
        await f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.ZeroHash);
        const tx = f.escrow.connect(f.bob).requestRefund(cardId);
        await expect(tx).not.to.emit(f.escrow, "PeriodsReleased");
        await expect(tx).to.emit(f.escrow, "RefundRequested").withArgs(cardId, f.bob.address, 36_000n);
      });
    });

    describe("when the caller is not the holder", () => {
      it("it reverts with Custody_NotHolder", async () => {
        const f = await loadFixture(usedCardFixture);
        for (const caller of [f.schoolAcct, f.bob]) {
          await expect(f.escrow.connect(caller).requestRefund(f.cardId))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotHolder")
            .withArgs(f.cardId, caller.address);
        }
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(usedCardFixture);
        const cardId = f.cardId + 1n;
        await expect(f.escrow.connect(f.alice).requestRefund(cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard").withArgs(cardId);
      });
    });

    describe("when the card is not Active or holds nothing", () => {
      it("it reverts with Custody_CardNotActive and the card's status", async () => {
        const f = await loadFixture(usedCardFixture);
        await f.escrow.connect(f.alice).requestRefund(f.cardId);
        await expect(f.escrow.connect(f.alice).requestRefund(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(f.cardId, CardStatus.RefundRequested);
        await f.escrow.connect(f.alice).escalateRefund(f.cardId);
        await expect(f.escrow.connect(f.alice).requestRefund(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(f.cardId, CardStatus.Disputed);
        await f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 1n);
        await expect(f.escrow.connect(f.alice).requestRefund(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(f.cardId, CardStatus.Refunded);
      });

      it("it reverts with Custody_CardNotActive (Consumed) for a used-up card", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 7, 0)));
        await expect(f.escrow.connect(f.alice).requestRefund(cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(cardId, CardStatus.Consumed);
      });

      it("it reverts with Custody_CardNotActive for a card with nothing left in custody", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.pet, 1, f.alice.address);
        await f.escrow.connect(f.petAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 5, 0)));
        await expect(f.escrow.connect(f.alice).requestRefund(cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(cardId, CardStatus.Consumed);
      });
    });
  });

  describe("cancelRefundRequest", () => {
    describe("when a request is pending", () => {
      it("it reactivates the card, emits RefundRequestCancelled, and lessons can be consumed again", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.alice).cancelRefundRequest(f.cardId)).to.emit(f.escrow, "RefundRequestCancelled").withArgs(f.cardId);
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Active));
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 1)))).to.emit(
          f.escrow,
          "LessonsConsumed",
        );
      });
    });

    describe("when no request is pending", () => {
      it("it reverts with Custody_NoRefundRequest", async () => {
        const f = await loadFixture(usedCardFixture);
        await expect(f.escrow.connect(f.alice).cancelRefundRequest(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NoRefundRequest")
          .withArgs(f.cardId, CardStatus.Active);
      });

      it("it reverts with Custody_NoRefundRequest once the request is a dispute", async () => {
        const f = await loadFixture(disputedFixture);
        await expect(f.escrow.connect(f.alice).cancelRefundRequest(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NoRefundRequest")
          .withArgs(f.cardId, CardStatus.Disputed);
      });
    });

    describe("when the caller is not the holder", () => {
      it("it reverts with Custody_NotHolder", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.schoolAcct).cancelRefundRequest(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotHolder")
          .withArgs(f.cardId, f.schoolAcct.address);
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.alice).cancelRefundRequest(f.cardId + 1n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard")
          .withArgs(f.cardId + 1n);
      });
    });
  });

  describe("escalateRefund", () => {
    describe("when a request is pending", () => {
      it("it opens a dispute and emits DisputeOpened with no reason", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.alice).escalateRefund(f.cardId))
          .to.emit(f.escrow, "DisputeOpened")
          .withArgs(f.cardId, f.school, f.alice.address, ethers.ZeroHash);
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Disputed));
      });
    });

    describe("when no request is pending", () => {
      it("it reverts with Custody_NoRefundRequest", async () => {
        const f = await loadFixture(usedCardFixture);
        await expect(f.escrow.connect(f.alice).escalateRefund(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NoRefundRequest")
          .withArgs(f.cardId, CardStatus.Active);
      });

      it("it reverts with Custody_NoRefundRequest when already disputed", async () => {
        const f = await loadFixture(disputedFixture);
        await expect(f.escrow.connect(f.alice).escalateRefund(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NoRefundRequest")
          .withArgs(f.cardId, CardStatus.Disputed);
      });
    });

    describe("when the caller is not the holder", () => {
      it("it reverts with Custody_NotHolder", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.bob).escalateRefund(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotHolder")
          .withArgs(f.cardId, f.bob.address);
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.alice).escalateRefund(f.cardId + 1n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard")
          .withArgs(f.cardId + 1n);
      });
    });
  });

  describe("acceptRefund", () => {
    describe("when a request is pending", () => {
      it("it refunds the whole balance held, burns it and emits CardRefunded", async () => {
        const f = await loadFixture(requestedFixture);
        const tx = f.escrow.connect(f.schoolAcct).acceptRefund(f.cardId);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(f.cardId, f.school, f.alice.address, 285_000n, RefundReason.Accepted);
        await expect(tx).to.emit(f.tokenA, "Transfer").withArgs(await f.escrow.getAddress(), ethers.ZeroAddress, 285_000n);
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Refunded));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 15_000n]);
        expect(await f.tokenA.totalSupply()).to.equal(15_000n);
        await expectConservation(f);
      });
    });

    describe("when no request is pending", () => {
      it("it reverts with Custody_NoRefundRequest", async () => {
        const f = await loadFixture(usedCardFixture);
        await expect(f.escrow.connect(f.schoolAcct).acceptRefund(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NoRefundRequest")
          .withArgs(f.cardId, CardStatus.Active);
      });

      it("it reverts with Custody_NoRefundRequest once the regulator has the dispute", async () => {
        const f = await loadFixture(disputedFixture);
        await expect(f.escrow.connect(f.schoolAcct).acceptRefund(f.cardId))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NoRefundRequest")
          .withArgs(f.cardId, CardStatus.Disputed);
      });
    });

    describe("when the caller is not the card's merchant", () => {
      it("it reverts with Custody_NotMerchant, for another merchant, the holder, the bank", async () => {
        const f = await loadFixture(requestedFixture);
        for (const caller of [f.gymAcct, f.alice, f.bankA]) {
          await expect(f.escrow.connect(caller).acceptRefund(f.cardId))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
            .withArgs(f.school, caller.address);
        }
      });
    });

    describe("when the card or its merchant is unknown", () => {
      it("it reverts with Custody_UnknownCard or Custody_UnknownMerchant", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.schoolAcct).acceptRefund(f.cardId + 1n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard")
          .withArgs(f.cardId + 1n);
        await expect(f.escrow.connect(f.schoolAcct).acceptRefund((99n << 32n) | 1n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });
  });

  describe("rejectRefund", () => {
    describe("when a request is pending", () => {
      it("it hands the request to the regulator as a dispute and emits DisputeOpened with the reason", async () => {
        const f = await loadFixture(requestedFixture);
        const reason = ethers.id("lessons were booked");
        await expect(f.escrow.connect(f.schoolAcct).rejectRefund(f.cardId, reason))
          .to.emit(f.escrow, "DisputeOpened")
          .withArgs(f.cardId, f.school, f.schoolAcct.address, reason);
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Disputed));
        expect((await f.escrow.cardOf(f.cardId)).held).to.equal(285_000n);
      });
    });

    describe("when no request is pending", () => {
      it("it reverts with Custody_NoRefundRequest", async () => {
        const f = await loadFixture(usedCardFixture);
        await expect(f.escrow.connect(f.schoolAcct).rejectRefund(f.cardId, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NoRefundRequest")
          .withArgs(f.cardId, CardStatus.Active);
      });
    });

    describe("when the caller is not the card's merchant", () => {
      it("it reverts with Custody_NotMerchant", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.eduRegulator).rejectRefund(f.cardId, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
          .withArgs(f.school, f.eduRegulator.address);
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(requestedFixture);
        await expect(f.escrow.connect(f.schoolAcct).rejectRefund(f.cardId + 1n, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard")
          .withArgs(f.cardId + 1n);
      });
    });
  });

  describe("resolveDispute", () => {
    describe("when the regulator denies the refund (zero)", () => {
      it("it reactivates the card, moves no money, and emits DisputeResolved(0, 0)", async () => {
        const f = await loadFixture(disputedFixture);
        const tx = f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 0n);
        await expect(tx).to.emit(f.escrow, "DisputeResolved").withArgs(f.cardId, 0n, 0n, f.eduRegulator.address);
        await expect(tx).not.to.emit(f.escrow, "CardRefunded");
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Active));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([285_000n, 15_000n]);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 1)))).to.emit(
          f.escrow,
          "LessonsConsumed",
        );
      });
    });

    describe("when the regulator grants part of the balance", () => {
      it("it refunds that part, releases the rest to the merchant and closes the card", async () => {
        const f = await loadFixture(disputedFixture);
        const escrowAddress = await f.escrow.getAddress();
        const tx = f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 100_000n);
        await expect(tx).to.emit(f.escrow, "DisputeResolved").withArgs(f.cardId, 100_000n, 185_000n, f.eduRegulator.address);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(f.cardId, f.school, f.alice.address, 100_000n, RefundReason.Dispute);
        await expect(tx).to.emit(f.tokenA, "Transfer").withArgs(escrowAddress, ethers.ZeroAddress, 100_000n);
        const card = await f.escrow.cardOf(f.cardId);
        expect(card.held).to.equal(0n);
        expect(card.unitsLeft).to.equal(0n);
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Refunded));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 200_000n]);
        const m = await f.escrow.merchantOf(f.school);
        expect(m.refunded).to.equal(100_000n);
        expect(m.released).to.equal(200_000n);
        await expectConservation(f);
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school)).to.emit(f.escrow, "PaidOut").withArgs(f.school, 1, 200_000n, f.schoolAcct.address);
        await expectConservation(f);
      });
    });

    describe("when the regulator grants the whole balance", () => {
      it("it refunds everything and releases nothing", async () => {
        const f = await loadFixture(disputedFixture);
        await expect(f.escrow.connect(f.regulator).resolveDispute(f.cardId, 285_000n))
          .to.emit(f.escrow, "DisputeResolved")
          .withArgs(f.cardId, 285_000n, 0n, f.regulator.address);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 15_000n]);
        await expectConservation(f);
      });
    });

    describe("when the merchant is frozen", () => {
      const freeze = (f: Awaited<ReturnType<typeof disputedFixture>>) => f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.id("collapse"));

      it("a decision releasing any of the balance to it reverts with Custody_ReleaseWhileFrozen, and nothing moves", async () => {
        const f = await loadFixture(disputedFixture);
        await freeze(f);
        const before = await f.escrow.merchantOf(f.school);
        for (const [refund, released] of [[100_000n, 185_000n], [284_999n, 1n]]) {
          await expect(f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, refund))
            .to.be.revertedWithCustomError(f.escrow, "Custody_ReleaseWhileFrozen")
            .withArgs(f.cardId, f.school, released);
        }
        const card = await f.escrow.cardOf(f.cardId);
        expect([card.status, card.held]).to.deep.equal([BigInt(CardStatus.Disputed), 285_000n]);
        expect(await f.escrow.cardStatus(f.cardId)).to.equal(BigInt(CardStatus.Claimable)); // its holder can take it all back
        const after = await f.escrow.merchantOf(f.school);
        expect([after.released, after.refunded, after.paidOut]).to.deep.equal([before.released, before.refunded, before.paidOut]);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([285_000n, 15_000n]);
        await expectConservation(f);
      });

      it("a decision refunding the whole balance goes through: all of it back to the holder, nothing released", async () => {
        const f = await loadFixture(disputedFixture);
        await freeze(f);
        const tx = f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 285_000n);
        await expect(tx).to.emit(f.escrow, "DisputeResolved").withArgs(f.cardId, 285_000n, 0n, f.eduRegulator.address);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(f.cardId, f.school, f.alice.address, 285_000n, RefundReason.Dispute);
        expect((await f.escrow.merchantOf(f.school)).released).to.equal(15_000n);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 15_000n]);
        await expectConservation(f);
      });

      it("a denial moves nothing and leaves the balance on the card, which its holder then claims", async () => {
        const f = await loadFixture(disputedFixture);
        await freeze(f);
        await expect(f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 0n))
          .to.emit(f.escrow, "DisputeResolved")
          .withArgs(f.cardId, 0n, 0n, f.eduRegulator.address);
        await expect(f.escrow.connect(f.alice).claim(f.cardId))
          .to.emit(f.escrow, "CardRefunded")
          .withArgs(f.cardId, f.school, f.alice.address, 285_000n, RefundReason.Frozen);
        expect((await f.escrow.merchantOf(f.school)).released).to.equal(15_000n);
        await expectConservation(f);
      });

      it("once the freeze is lifted, a partial decision releases the rest to the merchant as usual", async () => {
        const f = await loadFixture(disputedFixture);
        await freeze(f);
        await f.escrow.connect(f.eduRegulator).unfreeze(f.school, ethers.id("cleared"));
        await expect(f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 100_000n))
          .to.emit(f.escrow, "DisputeResolved")
          .withArgs(f.cardId, 100_000n, 185_000n, f.eduRegulator.address);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 200_000n]);
        await expectConservation(f);
      });
    });

    describe("when the refund exceeds the balance held", () => {
      it("it reverts with Custody_RefundExceedsHeld", async () => {
        const f = await loadFixture(disputedFixture);
        await expect(f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 285_001n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_RefundExceedsHeld")
          .withArgs(f.cardId, 285_001n, 285_000n);
      });
    });

    describe("when the card is not in dispute", () => {
      it("it reverts with Custody_NotInDispute (active, requested, resolved)", async () => {
        const f = await loadFixture(usedCardFixture);
        await expect(f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 0n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotInDispute")
          .withArgs(f.cardId, CardStatus.Active);
        await f.escrow.connect(f.alice).requestRefund(f.cardId);
        await expect(f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 0n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotInDispute")
          .withArgs(f.cardId, CardStatus.RefundRequested);
        await f.escrow.connect(f.alice).escalateRefund(f.cardId);
        await f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 5n);
        await expect(f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId, 0n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotInDispute")
          .withArgs(f.cardId, CardStatus.Refunded);
      });
    });

    describe("when the caller does not regulate the merchant's industry", () => {
      it("it reverts with Custody_NotRegulatorOf, for another industry's regulator, the merchant, the bank, the holder", async () => {
        const f = await loadFixture(disputedFixture);
        for (const caller of [f.sportsRegulator, f.schoolAcct, f.bankA, f.alice, f.riskOracle]) {
          await expect(f.escrow.connect(caller).resolveDispute(f.cardId, 0n))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
            .withArgs(EDUCATION, caller.address);
        }
      });
    });

    describe("when the industry has no regulator of its own", () => {
      it("only a platform regulator decides", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.pet, 1, f.carol.address);
        await f.escrow.connect(f.petAcct).consume(voucherArg(await voucher(f.escrow, f.carol, cardId, 1, 0)));
        await f.escrow.connect(f.carol).requestRefund(cardId);
        await f.escrow.connect(f.carol).escalateRefund(cardId);
        await expect(f.escrow.connect(f.eduRegulator).resolveDispute(cardId, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
          .withArgs(PET_CARE, f.eduRegulator.address);
        await expect(f.escrow.connect(f.regulator).resolveDispute(cardId, 1_000n))
          .to.emit(f.escrow, "DisputeResolved")
          .withArgs(cardId, 1_000n, 8_600n, f.regulator.address);
      });
    });

    describe("when the card or its merchant is unknown", () => {
      it("it reverts with Custody_UnknownCard or Custody_UnknownMerchant", async () => {
        const f = await loadFixture(disputedFixture);
        await expect(f.escrow.connect(f.eduRegulator).resolveDispute(f.cardId + 1n, 0n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard")
          .withArgs(f.cardId + 1n);
        await expect(f.escrow.connect(f.regulator).resolveDispute((99n << 32n) | 1n, 0n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });
  });
});
