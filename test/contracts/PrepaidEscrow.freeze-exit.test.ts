import { expect } from "chai";
import { endOfPeriod } from "../../src/chain/days";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { DEFAULT_POLICY } from "../../src/chain/policies";
import {
  deployFixture, buy, voucher, voucherArg, atNextBlock, expectConservation,
  EDUCATION, FITNESS, PET_CARE, DAY, CardStatus, MerchantStatus, RefundReason,
} from "./fixture";

/**
 * The school has sold two cards: alice's (20 lessons for 3,000 CNY, one used: 2,850 CNY held) and bob's
 * (7 lessons for 1,000 fen, unused). 150 CNY released and not paid out.
 */
async function schoolCardsFixture() {
  const f = await deployFixture();
  const aliceCard = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
  const bobCard = await buy(f.escrow, f.bankA, f.school, 2, f.bob.address);
  await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, aliceCard, 1, 0)));
  return { ...f, aliceCard, bobCard };
}

async function frozenFixture() {
  const f = await schoolCardsFixture();
  await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.id("collapse"));
  return f;
}

async function windingDownFixture() {
  const f = await schoolCardsFixture();
  await f.escrow.connect(f.schoolAcct).announceExit(f.school);
  const exitEffectiveAt = Number((await f.escrow.merchantOf(f.school)).exitEffectiveAt);
  return { ...f, exitEffectiveAt };
}

describe("PrepaidEscrow: freeze and exit", () => {
  describe("freeze", () => {
    describe("when the merchant's industry regulator freezes it", () => {
      it("it makes it Frozen and emits MerchantStatusChanged with the decision", async () => {
        const f = await loadFixture(schoolCardsFixture);
        const reason = ethers.id("暴雷: shop closed, owner unreachable");
        await expect(f.escrow.connect(f.eduRegulator).freeze(f.school, reason))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.Active, MerchantStatus.Frozen, f.eduRegulator.address, reason);
        expect((await f.escrow.merchantOf(f.school)).status).to.equal(BigInt(MerchantStatus.Frozen));
      });

      it("it freezes a Restricted or winding-down merchant too", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await f.escrow.connect(f.sportsRegulator).restrict(f.gym, true, ethers.ZeroHash);
        await expect(f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.ZeroHash))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.gym, MerchantStatus.Restricted, MerchantStatus.Frozen, f.sportsRegulator.address, ethers.ZeroHash);
        await f.escrow.connect(f.schoolAcct).announceExit(f.school);
        await expect(f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.WindingDown, MerchantStatus.Frozen, f.eduRegulator.address, ethers.ZeroHash);
      });
    });

    describe("when a platform regulator freezes a merchant of an industry without a regulator", () => {
      it("it freezes it", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await expect(f.escrow.connect(f.regulator).freeze(f.pet, ethers.ZeroHash))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.pet, MerchantStatus.Active, MerchantStatus.Frozen, f.regulator.address, ethers.ZeroHash);
      });
    });

    describe("when the caller does not regulate the merchant's industry", () => {
      it("it reverts with Custody_NotRegulatorOf (another industry's regulator, the bank, the merchant, the risk oracle)", async () => {
        const f = await loadFixture(schoolCardsFixture);
        for (const caller of [f.sportsRegulator, f.bankA, f.schoolAcct, f.riskOracle, f.alice]) {
          await expect(f.escrow.connect(caller).freeze(f.school, ethers.ZeroHash))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
            .withArgs(EDUCATION, caller.address);
        }
        await expect(f.escrow.connect(f.eduRegulator).freeze(f.pet, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
          .withArgs(PET_CARE, f.eduRegulator.address);
      });
    });

    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await expect(f.escrow.connect(f.regulator).freeze(99, ethers.ZeroHash)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant").withArgs(99);
      });
    });

    describe("when the merchant is already Frozen", () => {
      it("it reverts with Custody_InvalidStatusChange", async () => {
        const f = await loadFixture(frozenFixture);
        await expect(f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.Frozen, MerchantStatus.Frozen);
      });
    });

    describe("when the merchant has exited", () => {
      it("it reverts with Custody_InvalidStatusChange", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.regulator).freeze(f.pet, ethers.ZeroHash);
        await f.escrow.connect(f.regulator).close(f.pet);
        await expect(f.escrow.connect(f.regulator).freeze(f.pet, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.pet, MerchantStatus.Exited, MerchantStatus.Frozen);
      });
    });

    describe("while the merchant is Frozen", () => {
      it("it sells nothing, releases nothing, pays out nothing, and its cards are Claimable", async () => {
        const f = await loadFixture(frozenFixture);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.carol.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.Frozen);
        await expect(f.escrow.connect(f.bankA).renew(f.aliceCard, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.Frozen);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.aliceCard, 1, 1))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.school, MerchantStatus.Frozen);
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.school, MerchantStatus.Frozen);
        expect(await f.escrow.cardStatus(f.aliceCard)).to.equal(BigInt(CardStatus.Claimable));
        expect(await f.escrow.cardStatus(f.bobCard)).to.equal(BigInt(CardStatus.Claimable));
        // Other merchants are untouched.
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.carol.address, true)).to.emit(f.escrow, "CardPurchased");
      });
    });
  });

  describe("unfreeze", () => {
    describe("when the merchant is Frozen", () => {
      it("it makes it Active again, and sales and consumption resume on the cards not claimed", async () => {
        const f = await loadFixture(frozenFixture);
        await f.escrow.claim(f.bobCard);
        const reason = ethers.id("rescued by new owner");
        await expect(f.escrow.connect(f.eduRegulator).unfreeze(f.school, reason))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.Frozen, MerchantStatus.Active, f.eduRegulator.address, reason);
        expect(await f.escrow.cardStatus(f.aliceCard)).to.equal(BigInt(CardStatus.Active));
        expect(await f.escrow.cardStatus(f.bobCard)).to.equal(BigInt(CardStatus.Refunded));
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.aliceCard, 1, 1)))).to.emit(
          f.escrow,
          "LessonsConsumed",
        );
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.carol.address, true)).to.emit(f.escrow, "CardPurchased");
        await expectConservation(f);
      });
    });

    describe("when the merchant was Restricted or winding down before the freeze", () => {
      it("it returns to that status: a restriction and an exit under way survive a freeze", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await f.escrow.connect(f.eduRegulator).restrict(f.school, true, ethers.ZeroHash);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.connect(f.eduRegulator).unfreeze(f.school, ethers.ZeroHash))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.Frozen, MerchantStatus.Restricted, f.eduRegulator.address, ethers.ZeroHash);
        await f.escrow.connect(f.eduRegulator).windDown(f.school, ethers.ZeroHash);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.connect(f.eduRegulator).unfreeze(f.school, ethers.ZeroHash))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.Frozen, MerchantStatus.WindingDown, f.eduRegulator.address, ethers.ZeroHash);
      });
    });

    describe("when the merchant is not Frozen", () => {
      it("it reverts with Custody_InvalidStatusChange", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await expect(f.escrow.connect(f.eduRegulator).unfreeze(f.school, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.Active, MerchantStatus.Active);
      });
    });

    describe("when the caller does not regulate the merchant's industry", () => {
      it("it reverts with Custody_NotRegulatorOf", async () => {
        const f = await loadFixture(frozenFixture);
        await expect(f.escrow.connect(f.sportsRegulator).unfreeze(f.school, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
          .withArgs(EDUCATION, f.sportsRegulator.address);
      });
    });

    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(frozenFixture);
        await expect(f.escrow.connect(f.regulator).unfreeze(99, ethers.ZeroHash)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant").withArgs(99);
      });
    });
  });

  describe("claim", () => {
    describe("when the merchant is Frozen", () => {
      it("anyone may trigger it, the money goes only to the holder, and it emits CardRefunded with reason Frozen", async () => {
        const f = await loadFixture(frozenFixture);
        const escrowAddress = await f.escrow.getAddress();
        const tx = f.escrow.connect(f.stranger).claim(f.aliceCard);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(f.aliceCard, f.school, f.alice.address, 285_000n, RefundReason.Frozen);
        await expect(tx).to.emit(f.tokenA, "Transfer").withArgs(escrowAddress, ethers.ZeroAddress, 285_000n);
        expect(await f.tokenA.balanceOf(f.stranger.address)).to.equal(0n);
        expect(await f.escrow.cardStatus(f.aliceCard)).to.equal(BigInt(CardStatus.Refunded));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([1_000n, 15_000n]);
        await expectConservation(f);
      });

      it("it refunds a card whose refund request or dispute was pending", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await f.escrow.connect(f.alice).requestRefund(f.aliceCard);
        await f.escrow.connect(f.bob).requestRefund(f.bobCard);
        await f.escrow.connect(f.bob).escalateRefund(f.bobCard);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.connect(f.alice).claim(f.aliceCard))
          .to.emit(f.escrow, "CardRefunded")
          .withArgs(f.aliceCard, f.school, f.alice.address, 285_000n, RefundReason.Frozen);
        await expect(f.escrow.connect(f.bob).claim(f.bobCard))
          .to.emit(f.escrow, "CardRefunded")
          .withArgs(f.bobCard, f.school, f.bob.address, 1_000n, RefundReason.Frozen);
      });

      it("it refunds everything a frozen time-based card holds (a frozen merchant releases nothing)", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
        await time.increase(40 * DAY);
        await f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.ZeroHash);
        await expect(f.escrow.claim(cardId)).to.emit(f.escrow, "CardRefunded").withArgs(cardId, f.gym, f.bob.address, 36_000n, RefundReason.Frozen);
      });

      it("it reverts with Custody_NotClaimable once the card was claimed", async () => {
        const f = await loadFixture(frozenFixture);
        await f.escrow.claim(f.aliceCard);
        await expect(f.escrow.claim(f.aliceCard))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotClaimable")
          .withArgs(f.aliceCard, MerchantStatus.Frozen);
      });

      it("it reverts with Custody_NotClaimable for a consumed card (nothing held)", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.bob, f.bobCard, 7, 0)));
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.claim(f.bobCard))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotClaimable")
          .withArgs(f.bobCard, MerchantStatus.Frozen);
      });
    });

    describe("when the merchant is Active", () => {
      it("it reverts with Custody_NotClaimable", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await expect(f.escrow.connect(f.alice).claim(f.aliceCard))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotClaimable")
          .withArgs(f.aliceCard, MerchantStatus.Active);
      });
    });

    describe("when the merchant's exit notice is still running", () => {
      it("it reverts with Custody_NotClaimable", async () => {
        const f = await loadFixture(windingDownFixture);
        await time.setNextBlockTimestamp(f.exitEffectiveAt - 1);
        await expect(f.escrow.connect(f.alice).claim(f.aliceCard))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotClaimable")
          .withArgs(f.aliceCard, MerchantStatus.WindingDown);
      });
    });

    describe("when the merchant's exit notice has ended", () => {
      it("it refunds with reason Exit", async () => {
        const f = await loadFixture(windingDownFixture);
        await time.setNextBlockTimestamp(f.exitEffectiveAt);
        await expect(f.escrow.connect(f.stranger).claim(f.aliceCard))
          .to.emit(f.escrow, "CardRefunded")
          .withArgs(f.aliceCard, f.school, f.alice.address, 285_000n, RefundReason.Exit);
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(frozenFixture);
        const cardId = (BigInt(f.school) << 32n) | 9n;
        await expect(f.escrow.claim(cardId)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard").withArgs(cardId);
      });
    });
  });

  describe("claimBatch", () => {
    describe("when some cards are claimable and some are not", () => {
      it("it refunds the claimable ones and skips the rest without reverting", async () => {
        const f = await loadFixture(schoolCardsFixture);
        const consumed = await buy(f.escrow, f.bankA, f.school, 2, f.carol.address);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.carol, consumed, 7, 0)));
        const gymCard = await buy(f.escrow, f.bankB, f.gym, 1, f.carol.address);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await f.escrow.claim(f.bobCard);
        const unknown = (BigInt(f.school) << 32n) | 99n;
        const tx = f.escrow.connect(f.stranger).claimBatch([f.bobCard, consumed, unknown, gymCard, f.aliceCard]);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(f.aliceCard, f.school, f.alice.address, 285_000n, RefundReason.Frozen);
        const receipt = await (await tx).wait();
        const refunded = receipt!.logs.map((l) => f.escrow.interface.parseLog(l)).filter((e) => e?.name === "CardRefunded");
        expect(refunded.map((e) => e!.args.cardId)).to.deep.equal([f.aliceCard]);
        expect(await f.escrow.cardStatus(gymCard)).to.equal(BigInt(CardStatus.Active));
        await expectConservation(f);
      });
    });

    describe("when the exit notice has ended", () => {
      it("it refunds every card with reason Exit", async () => {
        const f = await loadFixture(windingDownFixture);
        await time.increaseTo(f.exitEffectiveAt);
        const tx = f.escrow.claimBatch([f.aliceCard, f.bobCard]);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(f.aliceCard, f.school, f.alice.address, 285_000n, RefundReason.Exit);
        await expect(tx).to.emit(f.escrow, "CardRefunded").withArgs(f.bobCard, f.school, f.bob.address, 1_000n, RefundReason.Exit);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 15_000n]);
      });
    });

    describe("when the list is empty", () => {
      it("it does nothing", async () => {
        const f = await loadFixture(frozenFixture);
        await expect(f.escrow.claimBatch([])).not.to.emit(f.escrow, "CardRefunded");
      });
    });
  });

  describe("announceExit", () => {
    describe("when the merchant announces its exit", () => {
      it("it stops sales, sets the notice end from the policy and emits MerchantStatusChanged and ExitAnnounced", async () => {
        const f = await loadFixture(schoolCardsFixture);
        const t = await atNextBlock();
        const tx = f.escrow.connect(f.schoolAcct).announceExit(f.school);
        await expect(tx)
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.Active, MerchantStatus.WindingDown, f.schoolAcct.address, ethers.ZeroHash);
        await expect(tx).to.emit(f.escrow, "ExitAnnounced").withArgs(f.school, endOfPeriod(t, 30), f.schoolAcct.address);
        const m = await f.escrow.merchantOf(f.school);
        expect(m.status).to.equal(BigInt(MerchantStatus.WindingDown));
        expect(m.exitEffectiveAt).to.equal(BigInt(endOfPeriod(t, 30)));
      });

      it("it uses the industry's exit notice", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, exitNoticeDays: 45 });
        const t = await atNextBlock();
        await expect(f.escrow.connect(f.gymAcct).announceExit(f.gym)).to.emit(f.escrow, "ExitAnnounced").withArgs(f.gym, endOfPeriod(t, 45), f.gymAcct.address);
      });

      it("it accepts a Restricted merchant's exit", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await f.escrow.connect(f.eduRegulator).restrict(f.school, true, ethers.ZeroHash);
        await expect(f.escrow.connect(f.schoolAcct).announceExit(f.school))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.Restricted, MerchantStatus.WindingDown, f.schoolAcct.address, ethers.ZeroHash);
      });
    });

    describe("when the caller is not the merchant", () => {
      it("it reverts with Custody_NotMerchant, even for its regulator", async () => {
        const f = await loadFixture(schoolCardsFixture);
        for (const caller of [f.eduRegulator, f.gymAcct, f.bankA]) {
          await expect(f.escrow.connect(caller).announceExit(f.school))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
            .withArgs(f.school, caller.address);
        }
      });
    });

    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await expect(f.escrow.connect(f.schoolAcct).announceExit(99)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant").withArgs(99);
      });
    });

    describe("when the merchant is Frozen or already leaving", () => {
      it("it reverts with Custody_InvalidStatusChange", async () => {
        const f = await loadFixture(windingDownFixture);
        await expect(f.escrow.connect(f.schoolAcct).announceExit(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.WindingDown, MerchantStatus.WindingDown);
        await f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.ZeroHash);
        await expect(f.escrow.connect(f.gymAcct).announceExit(f.gym))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.gym, MerchantStatus.Frozen, MerchantStatus.WindingDown);
      });
    });
  });

  describe("windDown", () => {
    describe("when the merchant's regulator orders it", () => {
      it("it winds the merchant down as if it had announced its exit", async () => {
        const f = await loadFixture(schoolCardsFixture);
        const reason = ethers.id("deregistered");
        const t = await atNextBlock();
        const tx = f.escrow.connect(f.eduRegulator).windDown(f.school, reason);
        await expect(tx)
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.Active, MerchantStatus.WindingDown, f.eduRegulator.address, reason);
        await expect(tx).to.emit(f.escrow, "ExitAnnounced").withArgs(f.school, endOfPeriod(t, 30), f.eduRegulator.address);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.carol.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.WindingDown);
      });
    });

    describe("when the caller does not regulate the merchant's industry", () => {
      it("it reverts with Custody_NotRegulatorOf, even for the merchant itself", async () => {
        const f = await loadFixture(schoolCardsFixture);
        for (const caller of [f.sportsRegulator, f.schoolAcct]) {
          await expect(f.escrow.connect(caller).windDown(f.school, ethers.ZeroHash))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
            .withArgs(EDUCATION, caller.address);
        }
      });
    });

    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await expect(f.escrow.connect(f.regulator).windDown(99, ethers.ZeroHash)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant").withArgs(99);
      });
    });

    describe("when the merchant is Frozen", () => {
      it("it reverts with Custody_InvalidStatusChange", async () => {
        const f = await loadFixture(frozenFixture);
        await expect(f.escrow.connect(f.eduRegulator).windDown(f.school, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.Frozen, MerchantStatus.WindingDown);
      });
    });
  });

  describe("close", () => {
    describe("when the exit notice is still running", () => {
      it("it reverts with Custody_ExitNoticeRunning", async () => {
        const f = await loadFixture(windingDownFixture);
        await expect(f.escrow.connect(f.schoolAcct).close(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ExitNoticeRunning")
          .withArgs(f.school, f.exitEffectiveAt);
      });
    });

    describe("when the merchant is Active or Restricted", () => {
      it("it reverts with Custody_InvalidStatusChange", async () => {
        const f = await loadFixture(schoolCardsFixture);
        await expect(f.escrow.connect(f.schoolAcct).close(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.Active, MerchantStatus.Exited);
        await f.escrow.connect(f.eduRegulator).restrict(f.school, true, ethers.ZeroHash);
        await expect(f.escrow.connect(f.eduRegulator).close(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.Restricted, MerchantStatus.Exited);
      });
    });

    describe("when the notice has ended but cards still hold money", () => {
      it("it reverts with Custody_MerchantStillHolds", async () => {
        const f = await loadFixture(windingDownFixture);
        await time.increaseTo(f.exitEffectiveAt);
        await expect(f.escrow.connect(f.schoolAcct).close(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantStillHolds")
          .withArgs(f.school, 286_000n, 15_000n);
      });
    });

    describe("when every card was claimed but released money is unpaid", () => {
      it("it reverts with Custody_MerchantStillHolds", async () => {
        const f = await loadFixture(windingDownFixture);
        await time.increaseTo(f.exitEffectiveAt);
        await f.escrow.claimBatch([f.aliceCard, f.bobCard]);
        await expect(f.escrow.connect(f.schoolAcct).close(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantStillHolds")
          .withArgs(f.school, 0n, 15_000n);
      });
    });

    describe("when the caller is neither the merchant nor its regulator", () => {
      it("it reverts with Custody_NotMerchant", async () => {
        const f = await loadFixture(windingDownFixture);
        for (const caller of [f.sportsRegulator, f.bankA, f.alice]) {
          await expect(f.escrow.connect(caller).close(f.school))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
            .withArgs(f.school, caller.address);
        }
      });
    });

    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(windingDownFixture);
        await expect(f.escrow.connect(f.regulator).close(99)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant").withArgs(99);
      });
    });

    describe("when a Frozen merchant holds nothing and owes nothing", () => {
      it("its regulator closes it", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.ZeroHash);
        await expect(f.escrow.connect(f.sportsRegulator).close(f.gym))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.gym, MerchantStatus.Frozen, MerchantStatus.Exited, f.sportsRegulator.address, ethers.ZeroHash);
      });
    });

    describe("when a Frozen merchant's cards are claimed but it has released money unpaid", () => {
      it("it reverts with Custody_MerchantStillHolds (the payable stays frozen with it)", async () => {
        const f = await loadFixture(frozenFixture);
        await f.escrow.claimBatch([f.aliceCard, f.bobCard]);
        await expect(f.escrow.connect(f.eduRegulator).close(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantStillHolds")
          .withArgs(f.school, 0n, 15_000n);
      });
    });

    describe("when the whole exit has run its course", () => {
      it("it serves until the notice ends, refunds the rest, pays the merchant, then closes it", async () => {
        const f = await loadFixture(windingDownFixture);
        // Service goes on during the notice.
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.bob, f.bobCard, 7, 0)));
        await time.increaseTo(f.exitEffectiveAt);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.aliceCard, 1, 1))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.school, MerchantStatus.WindingDown);
        expect(await f.escrow.cardStatus(f.aliceCard)).to.equal(BigInt(CardStatus.Claimable));
        expect(await f.escrow.cardStatus(f.bobCard)).to.equal(BigInt(CardStatus.Consumed));
        await f.escrow.claim(f.aliceCard);
        await f.escrow.connect(f.bankA).payOut(f.school);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 0n]);
        await expectConservation(f);
        await expect(f.escrow.connect(f.schoolAcct).close(f.school))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.WindingDown, MerchantStatus.Exited, f.schoolAcct.address, ethers.ZeroHash);
        // Exited is final.
        await expect(f.escrow.connect(f.schoolAcct).close(f.school))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.Exited, MerchantStatus.Exited);
        await expect(f.escrow.connect(f.eduRegulator).unfreeze(f.school, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.Exited, MerchantStatus.Active);
        await expect(f.escrow.connect(f.eduRegulator).windDown(f.school, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.school, MerchantStatus.Exited, MerchantStatus.WindingDown);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.carol.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.Exited);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.aliceCard, 1, 1))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.school, MerchantStatus.Exited);
        expect(await f.escrow.cardStatus(f.aliceCard)).to.equal(BigInt(CardStatus.Refunded));
      });

      it("the industry regulator may close it too", async () => {
        const f = await loadFixture(windingDownFixture);
        await time.increaseTo(f.exitEffectiveAt);
        await f.escrow.claimBatch([f.aliceCard, f.bobCard]);
        await f.escrow.connect(f.schoolAcct).payOut(f.school);
        await expect(f.escrow.connect(f.eduRegulator).close(f.school))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.school, MerchantStatus.WindingDown, MerchantStatus.Exited, f.eduRegulator.address, ethers.ZeroHash);
      });
    });
  });
});
