import { expect } from "chai";
import { startOfBeijingDay } from "../../src/chain/days";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { signConsumption, SignedVoucher } from "../../src/chain/vouchers";
import {
  deployFixture, buy, voucher, voucherArg, amountAt, latestTime, atNextBlock, highS, HALF_N, expectConservation,
  CardStatus, MerchantStatus,
} from "./fixture";

type Platform = Awaited<ReturnType<typeof deployFixture>>;

/** A school card (20 lessons, 3,000 CNY, 100% custody) held by alice. */
async function schoolCardFixture() {
  const f = await deployFixture();
  const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
  return { ...f, cardId };
}

/** The address the escrow recovers from a voucher: what `Custody_InvalidSigner` reports. */
async function recovered(f: Platform, v: SignedVoucher): Promise<string> {
  const digest = await f.escrow.consumptionDigest(v.cardId, v.lessons, v.amount, v.sequence, v.deadline);
  return ethers.recoverAddress(digest, { r: v.r, s: v.s, v: v.v });
}

describe("PrepaidEscrow: consumption", () => {
  describe("consume", () => {
    describe("when the holder signed a valid voucher", () => {
      it("it releases one lesson's share to the merchant and emits LessonsConsumed", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = await voucher(f.escrow, f.alice, f.cardId, 1, 0);
        const before = await f.escrow.cardOf(f.cardId);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
          .to.emit(f.escrow, "LessonsConsumed")
          .withArgs(f.cardId, 1, 15_000n, 0);
        const card = await f.escrow.cardOf(f.cardId);
        expect(card.held).to.equal(285_000n);
        expect(card.unitsLeft).to.equal(19n);
        expect(card.unitsUsed).to.equal(1n);
        // Every other field of the card is untouched by the release.
        expect([card.holder, card.expiryDay, card.status, card.kind, card.named, card.startedAt, card.paidIn, card.direct]).to.deep.equal([
          before.holder, before.expiryDay, before.status, before.kind, before.named, before.startedAt, before.paidIn, before.direct,
        ]);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([285_000n, 15_000n]);
        expect((await f.escrow.merchantOf(f.school)).released).to.equal(15_000n);
        // Nothing leaves custody on consumption: the tokens stay in escrow until payout.
        expect(await f.tokenA.balanceOf(await f.escrow.getAddress())).to.equal(300_000n);
        await expectConservation(f);
      });

      it("it releases several lessons at once and reports the sequence they started at", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 2, 0)));
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 5, 2))))
          .to.emit(f.escrow, "LessonsConsumed")
          .withArgs(f.cardId, 5, 75_000n, 2);
        expect((await f.escrow.cardOf(f.cardId)).unitsUsed).to.equal(7n);
      });

      it("it accepts a voucher at its deadline exactly", async () => {
        const f = await loadFixture(schoolCardFixture);
        const deadline = (await latestTime()) + 100;
        const v = await voucher(f.escrow, f.alice, f.cardId, 1, 0, deadline);
        await time.setNextBlockTimestamp(deadline);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v))).to.emit(f.escrow, "LessonsConsumed");
      });
    });

    describe("when 7 lessons cost 1,000 fen", () => {
      it("it releases 142 then 143 six times: the shares sum to exactly 1,000 and the last lesson takes the remainder", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        const expected = [142n, 143n, 143n, 143n, 143n, 143n, 143n];
        for (let seq = 0; seq < 7; seq++) {
          await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, seq))))
            .to.emit(f.escrow, "LessonsConsumed")
            .withArgs(cardId, 1, expected[seq], seq);
        }
        expect(expected.reduce((a, b) => a + b, 0n)).to.equal(1_000n);
        const card = await f.escrow.cardOf(cardId);
        expect(card.held).to.equal(0n);
        expect(card.unitsLeft).to.equal(0n);
        expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Consumed));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 1_000n]);
        await expectConservation(f);
      });

      it("it releases 428 for 3 lessons then the remaining 572 for the last 4", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 3, 0))))
          .to.emit(f.escrow, "LessonsConsumed")
          .withArgs(cardId, 3, 428n, 0);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 4, 3))))
          .to.emit(f.escrow, "LessonsConsumed")
          .withArgs(cardId, 4, 572n, 3);
      });
    });

    describe("when the caller is not the card's merchant", () => {
      it("it reverts with Custody_NotMerchant, for another merchant, the holder, the bank or anyone", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0));
        for (const caller of [f.gymAcct, f.alice, f.bankA, f.stranger]) {
          await expect(f.escrow.connect(caller).consume(v))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
            .withArgs(f.school, caller.address);
        }
      });
    });

    describe("when the card's merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = await voucher(f.escrow, f.alice, (99n << 32n) | 1n, 1, 0);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(schoolCardFixture);
        const cardId = (BigInt(f.school) << 32n) | 9n;
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard")
          .withArgs(cardId);
      });
    });

    describe("when the merchant is Frozen", () => {
      it("it reverts with Custody_MerchantNotServing", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.school, MerchantStatus.Frozen);
      });
    });

    describe("when the merchant is Restricted", () => {
      it("it still releases (service goes on)", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.eduRegulator).restrict(f.school, true, ethers.ZeroHash);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0)))).to.emit(
          f.escrow,
          "LessonsConsumed",
        );
      });
    });

    describe("when the card is not Active", () => {
      it("it reverts with Custody_CardNotActive while a refund is requested", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.alice).requestRefund(f.cardId);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(f.cardId, CardStatus.RefundRequested);
      });

      it("it reverts with Custody_CardNotActive while disputed", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.alice).requestRefund(f.cardId);
        await f.escrow.connect(f.alice).escalateRefund(f.cardId);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(f.cardId, CardStatus.Disputed);
      });

      it("it reverts with Custody_CardNotActive once refunded", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.alice).refundCoolingOff(f.cardId);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(f.cardId, CardStatus.Refunded);
      });
    });

    describe("when the card is a periodic card", () => {
      it("it reverts with Custody_CardNotActive (periods are released by time, not vouchers)", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
        await expect(f.escrow.connect(f.gymAcct).consume(voucherArg(await voucher(f.escrow, f.bob, cardId, 1, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(cardId, CardStatus.Active);
      });
    });

    describe("when the card has expired", () => {
      it("it reverts with Custody_CardExpired from the start of its expiry day", async () => {
        const f = await loadFixture(schoolCardFixture);
        const expiryDay = (await f.escrow.cardOf(f.cardId)).expiryDay;
        const expiresAt = startOfBeijingDay(expiryDay);
        // Usable until the end of the expiry day's eve...
        await time.setNextBlockTimestamp(expiresAt - 1);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0, expiresAt + 3_600)));
        // ...and not a second later.
        await time.setNextBlockTimestamp(expiresAt);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 1, expiresAt + 3_600))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardExpired")
          .withArgs(f.cardId, expiresAt);
      });
    });

    describe("when the voucher is for zero lessons", () => {
      it("it reverts with Custody_ZeroLessons", async () => {
        const f = await loadFixture(schoolCardFixture);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 0, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ZeroLessons")
          .withArgs(f.cardId);
      });
    });

    describe("when the voucher is past its deadline", () => {
      it("it reverts with Custody_VoucherExpired", async () => {
        const f = await loadFixture(schoolCardFixture);
        const deadline = (await latestTime()) + 60;
        const v = await voucher(f.escrow, f.alice, f.cardId, 1, 0, deadline);
        await time.setNextBlockTimestamp(deadline + 1);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
          .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherExpired")
          .withArgs(f.cardId, deadline, deadline + 1);
      });
    });

    describe("when the voucher's sequence is not the card's", () => {
      it("it reverts with Custody_VoucherSequenceMismatch for a voucher signed ahead", async () => {
        const f = await loadFixture(schoolCardFixture);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 1))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherSequenceMismatch")
          .withArgs(f.cardId, 0, 1);
      });

      it("it reverts with Custody_VoucherSequenceMismatch when a used voucher is replayed", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = voucherArg(await voucher(f.escrow, f.alice, f.cardId, 2, 0));
        await f.escrow.connect(f.schoolAcct).consume(v);
        await expect(f.escrow.connect(f.schoolAcct).consume(v))
          .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherSequenceMismatch")
          .withArgs(f.cardId, 2, 0);
        expect((await f.escrow.cardOf(f.cardId)).unitsUsed).to.equal(2n);
      });
    });

    describe("when the voucher asks more lessons than are left", () => {
      it("it reverts with Custody_InsufficientLessons", async () => {
        const f = await loadFixture(schoolCardFixture);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 21, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InsufficientLessons")
          .withArgs(f.cardId, 21, 20);
      });

      it("it reverts with Custody_InsufficientLessons on a consumed card", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 20, 0)));
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 20))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InsufficientLessons")
          .withArgs(f.cardId, 1, 0);
      });
    });

    describe("when the voucher is not signed by the holder", () => {
      it("it reverts with Custody_InvalidSigner for another person's key", async () => {
        const f = await loadFixture(schoolCardFixture);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.bob, f.cardId, 1, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, f.bob.address, f.alice.address);
      });

      it("it reverts with Custody_InvalidSigner for the merchant's own signature (never the merchant's word alone)", async () => {
        const f = await loadFixture(schoolCardFixture);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.schoolAcct, f.cardId, 1, 0))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, f.schoolAcct.address, f.alice.address);
      });

      it("it reverts with Custody_InvalidSigner when the lesson count (and its amount) was altered after signing", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = { ...(await voucher(f.escrow, f.alice, f.cardId, 1, 0)), lessons: 5, amount: 75_000n };
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, await recovered(f, v), f.alice.address);
      });
    });

    describe("when a voucher is replayed on another card of the same holder", () => {
      it("it reverts with Custody_InvalidSigner (the card id is signed)", async () => {
        const f = await loadFixture(schoolCardFixture);
        const other = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        const v = { ...(await voucher(f.escrow, f.alice, f.cardId, 1, 0)), cardId: other, amount: await amountAt(f.escrow, other, 1, 0) };
        const signer = await recovered(f, v);
        expect(signer).not.to.equal(f.alice.address);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(other, signer, f.alice.address);
      });
    });

    describe("when the voucher was signed for another chain", () => {
      it("it reverts with Custody_InvalidSigner", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = await signConsumption(f.alice, f.chainId + 1n, await f.escrow.getAddress(), {
          cardId: f.cardId, lessons: 1, amount: 15_000n, sequence: 0, deadline: (await latestTime()) + 3_600,
        });
        const signer = await recovered(f, v);
        expect(signer).not.to.equal(f.alice.address);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, signer, f.alice.address);
      });
    });

    describe("when the voucher was signed for another escrow", () => {
      it("it reverts with Custody_InvalidSigner", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = await signConsumption(f.alice, f.chainId, await f.registry.getAddress(), {
          cardId: f.cardId, lessons: 1, amount: 15_000n, sequence: 0, deadline: (await latestTime()) + 3_600,
        });
        const signer = await recovered(f, v);
        expect(signer).not.to.equal(f.alice.address);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, signer, f.alice.address);
      });
    });

    describe("when the signature's s is in the malleable upper half", () => {
      it("it reverts with Custody_InvalidSigner reporting no signer, and the original is still good", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = await voucher(f.escrow, f.alice, f.cardId, 1, 0);
        const twin = highS(v);
        expect(BigInt(twin.vs) & ((1n << 255n) - 1n)).to.be.gt(HALF_N);
        await expect(f.escrow.connect(f.schoolAcct).consume(twin))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, ethers.ZeroAddress, f.alice.address);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v))).to.emit(f.escrow, "LessonsConsumed");
      });
    });

    describe("when the signature's parity bit is flipped", () => {
      it("it reverts with Custody_InvalidSigner reporting the stranger it recovers", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = await voucher(f.escrow, f.alice, f.cardId, 1, 0);
        const flipped = { ...v, v: v.v === 27 ? 28 : 27 };
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(flipped)))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, await recovered(f, flipped), f.alice.address);
      });
    });

    describe("when the merchant is winding down", () => {
      it("it releases until the notice ends, then reverts with Custody_MerchantNotServing", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.schoolAcct).announceExit(f.school);
        const { exitEffectiveAt } = await f.escrow.merchantOf(f.school);
        await time.setNextBlockTimestamp(exitEffectiveAt - 1n);
        await expect(
          f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0, Number(exitEffectiveAt) + 3_600))),
        ).to.emit(f.escrow, "LessonsConsumed");
        await time.setNextBlockTimestamp(exitEffectiveAt);
        await expect(
          f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 1, Number(exitEffectiveAt) + 3_600))),
        )
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.school, MerchantStatus.WindingDown);
      });
    });
  });

  describe("consumeBatch", () => {
    describe("when the vouchers are for several cards of the merchant", () => {
      it("it releases each and emits LessonsConsumed per voucher", async () => {
        const f = await loadFixture(schoolCardFixture);
        const second = await buy(f.escrow, f.bankA, f.school, 2, f.bob.address);
        const tx = f.escrow.connect(f.schoolAcct).consumeBatch([
          voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0)),
          voucherArg(await voucher(f.escrow, f.bob, second, 3, 0)),
        ]);
        await expect(tx).to.emit(f.escrow, "LessonsConsumed").withArgs(f.cardId, 1, 15_000n, 0);
        await expect(tx).to.emit(f.escrow, "LessonsConsumed").withArgs(second, 3, 428n, 0);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([301_000n - 15_428n, 15_428n]);
        await expectConservation(f);
      });
    });

    describe("when one card's vouchers come in sequence order", () => {
      it("it applies them one after the other", async () => {
        const f = await loadFixture(schoolCardFixture);
        const tx = f.escrow.connect(f.schoolAcct).consumeBatch([
          voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0)),
          voucherArg(await voucher(f.escrow, f.alice, f.cardId, 2, 1)),
        ]);
        await expect(tx).to.emit(f.escrow, "LessonsConsumed").withArgs(f.cardId, 2, 30_000n, 1);
        expect((await f.escrow.cardOf(f.cardId)).unitsUsed).to.equal(3n);
      });
    });

    describe("when one card's vouchers come out of order", () => {
      it("it reverts with Custody_VoucherSequenceMismatch and applies none (all or nothing)", async () => {
        const f = await loadFixture(schoolCardFixture);
        const second = await buy(f.escrow, f.bankA, f.school, 2, f.bob.address);
        await expect(
          f.escrow.connect(f.schoolAcct).consumeBatch([
            voucherArg(await voucher(f.escrow, f.bob, second, 1, 0)),
            voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 1)),
            voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0)),
          ]),
        )
          .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherSequenceMismatch")
          .withArgs(f.cardId, 0, 1);
        expect((await f.escrow.cardOf(second)).unitsUsed).to.equal(0n);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([301_000n, 0n]);
      });
    });

    describe("when the same voucher appears twice", () => {
      it("it reverts with Custody_VoucherSequenceMismatch", async () => {
        const f = await loadFixture(schoolCardFixture);
        const v = voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0));
        await expect(f.escrow.connect(f.schoolAcct).consumeBatch([v, v]))
          .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherSequenceMismatch")
          .withArgs(f.cardId, 1, 0);
      });
    });

    describe("when a voucher is for another merchant's card", () => {
      it("it reverts with Custody_NotMerchant", async () => {
        const f = await loadFixture(schoolCardFixture);
        const petCard = await buy(f.escrow, f.bankA, f.pet, 1, f.bob.address);
        await expect(
          f.escrow.connect(f.schoolAcct).consumeBatch([
            voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0)),
            voucherArg(await voucher(f.escrow, f.bob, petCard, 1, 0)),
          ]),
        )
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
          .withArgs(f.pet, f.schoolAcct.address);
      });
    });

    describe("when the caller is not the merchant", () => {
      it("it reverts with Custody_NotMerchant", async () => {
        const f = await loadFixture(schoolCardFixture);
        await expect(f.escrow.connect(f.stranger).consumeBatch([voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0))]))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
          .withArgs(f.school, f.stranger.address);
      });
    });

    describe("when the merchant is Frozen", () => {
      it("it reverts with Custody_MerchantNotServing", async () => {
        const f = await loadFixture(schoolCardFixture);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.connect(f.schoolAcct).consumeBatch([voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0))]))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotServing")
          .withArgs(f.school, MerchantStatus.Frozen);
      });
    });

    describe("when a voucher in the batch is bad", () => {
      it("it reverts with that voucher's error (expired, wrong signer, high-s)", async () => {
        const f = await loadFixture(schoolCardFixture);
        const good = voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 0));
        const wrong = voucherArg(await voucher(f.escrow, f.bob, f.cardId, 1, 1));
        await expect(f.escrow.connect(f.schoolAcct).consumeBatch([good, wrong]))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, f.bob.address, f.alice.address);
        const malleable = highS(await voucher(f.escrow, f.alice, f.cardId, 1, 1));
        await expect(f.escrow.connect(f.schoolAcct).consumeBatch([good, malleable]))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.cardId, ethers.ZeroAddress, f.alice.address);
        const t = await atNextBlock(10);
        const stale = voucherArg(await voucher(f.escrow, f.alice, f.cardId, 1, 1, t - 5));
        await expect(f.escrow.connect(f.schoolAcct).consumeBatch([good, stale]))
          .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherExpired")
          .withArgs(f.cardId, t - 5, t);
      });
    });

    describe("when the batch is empty", () => {
      it("it does nothing", async () => {
        const f = await loadFixture(schoolCardFixture);
        await expect(f.escrow.connect(f.schoolAcct).consumeBatch([])).not.to.emit(f.escrow, "LessonsConsumed");
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([300_000n, 0n]);
      });
    });
  });
});
