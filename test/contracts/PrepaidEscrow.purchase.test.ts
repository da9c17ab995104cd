import { expect } from "chai";
import { dayStartingAtOrAfter, endOfPeriod, lessonExpiryDay, startOfBeijingDay } from "../../src/chain/days";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { DEFAULT_POLICY, TRAINING_POLICY, CNY, NO_CAP_FEN } from "../../src/chain/policies";
import {
  deployFixture, buy, buyStarted, voucher, voucherArg, atNextBlock, expectConservation,
  EDUCATION, FITNESS, LESSON, PERIODIC, DAY, CardStatus, MerchantStatus, PlanKind,
} from "./fixture";

// A card's balance is stored in 32 bits (StoredCard.held): its value is capped at 2^32 - 1 fen.
const CARD_VALUE_MAX = 2n ** 32n - 1n;

describe("PrepaidEscrow: plans and sales", () => {
  describe("publishPlan", () => {
    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(99, LESSON, 10, 0, 30, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });

    describe("when the caller is not the merchant", () => {
      it("it reverts with Custody_NotMerchant, for another merchant, its bank or its regulator", async () => {
        const f = await loadFixture(deployFixture);
        for (const caller of [f.gymAcct, f.bankA, f.eduRegulator, f.stranger]) {
          await expect(f.escrow.connect(caller).publishPlan(f.school, LESSON, 10, 0, 30, 1_000n))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
            .withArgs(f.school, caller.address);
        }
      });
    });

    describe("when the merchant is Frozen", () => {
      it("it reverts with Custody_MerchantNotSelling", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.ZeroHash);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 10, 0, 30, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.Frozen);
      });
    });

    describe("when the merchant is winding down", () => {
      it("it reverts with Custody_MerchantNotSelling", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.schoolAcct).announceExit(f.school);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 10, 0, 30, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.WindingDown);
      });
    });

    describe("when the plan is malformed", () => {
      const cases: [string, number, number, number, bigint][] = [
        ["the kind is None", PlanKind.None, 10, 0, 1_000n],
        ["it has no units", LESSON, 0, 0, 1_000n],
        ["it is free", LESSON, 10, 0, 0n],
        ["a periodic plan has no period", PERIODIC, 3, 0, 1_000n],
        ["a lesson plan has a period", LESSON, 10, 3_600, 1_000n],
      ];
      for (const [name, kind, units, period, price] of cases) {
        it(`it reverts with Custody_InvalidPlan when ${name}`, async () => {
          const f = await loadFixture(deployFixture);
          await expect(f.escrow.connect(f.gymAcct).publishPlan(f.gym, kind, units, period, 30, price))
            .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidPlan")
            .withArgs(kind, units, period, price);
        });
      }
    });

    describe("when the plan breaks the industry's caps", () => {
      it("it reverts with Custody_CardValueCapExceeded over the named-card value", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 10, 0, 30, 5_000n * CNY + 1n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardValueCapExceeded")
          .withArgs(5_000n * CNY + 1n, 5_000n * CNY);
      });

      it("it reverts with Custody_LessonCapExceeded over 60 lessons in training", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 61, 0, 30, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_LessonCapExceeded")
          .withArgs(61, 60);
      });

      it("it reverts with Custody_ValidityCapExceeded for a training lesson plan without expiry", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 10, 0, 0, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ValidityCapExceeded")
          .withArgs(0, 92);
      });

      it("it reverts with Custody_ValidityCapExceeded for a training lesson plan over 92 days", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 10, 0, 93, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ValidityCapExceeded")
          .withArgs(93, 92);
      });

      it("it reverts with Custody_ValidityCapExceeded for a periodic plan lasting over 92 days, counting part days as days", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, PERIODIC, 4, 30 * DAY, 0, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ValidityCapExceeded")
          .withArgs(120, 92);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, PERIODIC, 1, 92 * DAY + 1, 0, 1_000n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ValidityCapExceeded")
          .withArgs(93, 92);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, PERIODIC, 1, 92 * DAY, 0, 1_000n)).to.emit(f.escrow, "PlanPublished");
      });

      it("it reverts with Custody_CardValueCapExceeded when the value does not fit a card, even without a cap", async () => {
        const f = await loadFixture(deployFixture);
        // Pet care has no policy of its own: the district's applies, here without card value caps.
        await f.registry.connect(f.regulator).setDefaultPolicy({ ...DEFAULT_POLICY, maxCardValue: NO_CAP_FEN, maxAnonymousValue: NO_CAP_FEN });
        await expect(f.escrow.connect(f.petAcct).publishPlan(f.pet, LESSON, 10, 0, 0, CARD_VALUE_MAX + 1n))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardValueCapExceeded")
          .withArgs(CARD_VALUE_MAX + 1n, CARD_VALUE_MAX);
        await expect(f.escrow.connect(f.petAcct).publishPlan(f.pet, LESSON, 10, 0, 0, CARD_VALUE_MAX)).to.emit(f.escrow, "PlanPublished");
      });
    });

    describe("when the industry has no lesson or validity caps", () => {
      it("it accepts a plan of any length", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.gymAcct).publishPlan(f.gym, LESSON, 65_535, 0, 0, 1_000n))
          .to.emit(f.escrow, "PlanPublished")
          .withArgs(f.gym, 3, LESSON, 65_535, 0, 0, 1_000n);
        await expect(f.escrow.connect(f.gymAcct).publishPlan(f.gym, PERIODIC, 24, 30 * DAY, 0, 1_000n))
          .to.emit(f.escrow, "PlanPublished")
          .withArgs(f.gym, 4, PERIODIC, 24, 30 * DAY, 0, 1_000n);
      });
    });

    describe("when the plan is valid", () => {
      it("it stores it active under the next index and emits PlanPublished", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 12, 0, 60, 2_400n * CNY))
          .to.emit(f.escrow, "PlanPublished")
          .withArgs(f.school, 3, LESSON, 12, 0, 60, 2_400n * CNY);
        const plan = await f.escrow.planOf(f.school, 3);
        expect([plan.kind, plan.active, plan.units, plan.periodSeconds, plan.validityDays, plan.price]).to.deep.equal([
          BigInt(LESSON), true, 12n, 0n, 60n, 2_400n * CNY,
        ]);
        expect((await f.escrow.merchantOf(f.school)).planCount).to.equal(3n);
      });

      it("it ignores the validity days of a periodic plan (it lasts its periods)", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.gymAcct).publishPlan(f.gym, PERIODIC, 12, 7 * DAY, 365, 1_000n))
          .to.emit(f.escrow, "PlanPublished")
          .withArgs(f.gym, 3, PERIODIC, 12, 7 * DAY, 0, 1_000n);
        expect((await f.escrow.planOf(f.gym, 3)).validityDays).to.equal(0n);
      });

      it("it accepts a Restricted merchant's plan", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.sportsRegulator).restrict(f.gym, true, ethers.ZeroHash);
        await expect(f.escrow.connect(f.gymAcct).publishPlan(f.gym, LESSON, 5, 0, 0, 1_000n)).to.emit(f.escrow, "PlanPublished");
      });
    });
  });

  describe("setPlanActive", () => {
    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.schoolAcct).setPlanActive(99, 1, false))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });

    describe("when the caller is not the merchant", () => {
      it("it reverts with Custody_NotMerchant", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.gymAcct).setPlanActive(f.school, 1, false))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
          .withArgs(f.school, f.gymAcct.address);
      });
    });

    describe("when the plan is unknown", () => {
      it("it reverts with Custody_UnknownPlan", async () => {
        const f = await loadFixture(deployFixture);
        for (const planIndex of [0, 3]) {
          await expect(f.escrow.connect(f.schoolAcct).setPlanActive(f.school, planIndex, false))
            .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownPlan")
            .withArgs(f.school, planIndex);
        }
      });
    });

    describe("when the merchant stops selling a plan", () => {
      it("it emits PlanActiveSet, stops sales of it, and leaves cards already sold alone", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await expect(f.escrow.connect(f.schoolAcct).setPlanActive(f.school, 1, false))
          .to.emit(f.escrow, "PlanActiveSet")
          .withArgs(f.school, 1, false);
        expect((await f.escrow.planOf(f.school, 1)).active).to.equal(false);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_PlanInactive")
          .withArgs(f.school, 1);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0)))).to.emit(
          f.escrow,
          "LessonsConsumed",
        );
      });
    });

    describe("when the merchant sells a plan again", () => {
      it("it emits PlanActiveSet and sales resume", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.schoolAcct).setPlanActive(f.school, 1, false);
        await expect(f.escrow.connect(f.schoolAcct).setPlanActive(f.school, 1, true))
          .to.emit(f.escrow, "PlanActiveSet")
          .withArgs(f.school, 1, true);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true)).to.emit(f.escrow, "CardPurchased");
      });
    });
  });

  describe("purchase", () => {
    describe("when the holder is the zero address", () => {
      it("it reverts with Custody_ZeroAddress", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, ethers.ZeroAddress, true)).to.be.revertedWithCustomError(
          f.escrow,
          "Custody_ZeroAddress",
        );
      });
    });

    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.bankA).purchase(99, 1, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });

    describe("when the caller is not the merchant's custodian bank", () => {
      it("it reverts with Custody_NotCustodianOf, for another bank, the merchant, a regulator or anyone", async () => {
        const f = await loadFixture(deployFixture);
        for (const caller of [f.bankB, f.schoolAcct, f.regulator, f.alice]) {
          await expect(f.escrow.connect(caller).purchase(f.school, 1, f.alice.address, true))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotCustodianOf")
            .withArgs(f.school, caller.address);
        }
      });
    });

    describe("when the plan is unknown", () => {
      it("it reverts with Custody_UnknownPlan", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 9, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownPlan")
          .withArgs(f.school, 9);
      });
    });

    describe("when the plan is inactive", () => {
      it("it reverts with Custody_PlanInactive", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.gymAcct).setPlanActive(f.gym, 2, false);
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 2, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_PlanInactive")
          .withArgs(f.gym, 2);
      });
    });

    describe("when the merchant is not Active", () => {
      it("it reverts with Custody_MerchantNotSelling while Frozen", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.sportsRegulator).freeze(f.gym, ethers.ZeroHash);
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.gym, MerchantStatus.Frozen);
      });

      it("it reverts with Custody_MerchantNotSelling while winding down", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.gymAcct).announceExit(f.gym);
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.gym, MerchantStatus.WindingDown);
      });
    });

    describe("when the card breaks the policy's caps", () => {
      it("it reverts with Custody_CardValueCapExceeded for an anonymous card over 1,000 CNY", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.alice.address, false))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardValueCapExceeded")
          .withArgs(3_000n * CNY, 1_000n * CNY);
      });

      it("it reverts with Custody_CardValueCapExceeded for a named card over the industry's cap set after the plan", async () => {
        const f = await loadFixture(deployFixture);
        await f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, maxCardValue: 800n * CNY });
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardValueCapExceeded")
          .withArgs(900n * CNY, 800n * CNY);
      });

      it("it reverts with Custody_LessonCapExceeded when the industry lowered its lesson cap", async () => {
        const f = await loadFixture(deployFixture);
        await f.registry.connect(f.eduRegulator).setIndustryPolicy(EDUCATION, { ...TRAINING_POLICY, maxLessons: 10 });
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_LessonCapExceeded")
          .withArgs(20, 10);
      });

      it("it reverts with Custody_ValidityCapExceeded when the industry lowered its validity cap (lesson plan)", async () => {
        const f = await loadFixture(deployFixture);
        await f.registry.connect(f.eduRegulator).setIndustryPolicy(EDUCATION, { ...TRAINING_POLICY, maxValidityDays: 60 });
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ValidityCapExceeded")
          .withArgs(90, 60);
      });

      it("it reverts with Custody_ValidityCapExceeded when the industry lowered its validity cap (periodic plan)", async () => {
        const f = await loadFixture(deployFixture);
        await f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, maxValidityDays: 60 });
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.alice.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ValidityCapExceeded")
          .withArgs(90, 60);
      });
    });

    describe("when the anonymous card is within 1,000 CNY", () => {
      it("it sells it", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.alice.address, false)).to.emit(f.escrow, "CardPurchased");
      });
    });

    describe("when custody is 100% (education)", () => {
      it("it escrows the whole price, mints it into escrow and emits CardPurchased", async () => {
        const f = await loadFixture(deployFixture);
        const escrowAddress = await f.escrow.getAddress();
        const t = await atNextBlock();
        const expiresAt = endOfPeriod(t, 90);
        const cardId = (BigInt(f.school) << 32n) | 1n;
        const tx = f.escrow.connect(f.bankA).purchase(f.school, 1, f.alice.address, true);
        await expect(tx)
          .to.emit(f.escrow, "CardPurchased")
          .withArgs(cardId, f.school, f.alice.address, 1, LESSON, 20, 300_000n, 300_000n, 0n, t, expiresAt, true);
        await expect(tx).to.emit(f.tokenA, "Transfer").withArgs(ethers.ZeroAddress, escrowAddress, 300_000n);
        const card = await f.escrow.cardOf(cardId);
        expect(card.holder).to.equal(f.alice.address);
        expect(card.held).to.equal(300_000n);
        expect(card.unitsLeft).to.equal(20n);
        expect(card.unitsUsed).to.equal(0n);
        expect(card.expiryDay).to.equal(BigInt(lessonExpiryDay(t, 90)));
        expect(card.status).to.equal(BigInt(CardStatus.Active));
        expect(card.kind).to.equal(BigInt(LESSON));
        expect(card.named).to.equal(true);
        expect(card.coolingOffDays).to.equal(7n);
        expect(card.planIndex).to.equal(1n);
        expect(card.startedAt).to.equal(BigInt(t));
        expect(card.paidIn).to.equal(300_000n);
        expect(card.direct).to.equal(0n);
        expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Active));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([300_000n, 0n]);
        expect((await f.escrow.merchantOf(f.school)).cardCount).to.equal(1n);
        expect(await f.tokenA.balanceOf(escrowAddress)).to.equal(300_000n);
      });
    });

    describe("when custody is 40% (fitness default)", () => {
      it("it escrows 40%, holds the rest back until the cooling-off ends, and starts the periods then", async () => {
        const f = await loadFixture(deployFixture);
        const t = await atNextBlock();
        const cardId = (BigInt(f.gym) << 32n) | 1n;
        const periodsStart = endOfPeriod(t, 7);
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.bob.address, false))
          .to.emit(f.escrow, "CardPurchased")
          .withArgs(cardId, f.gym, f.bob.address, 1, PERIODIC, 3, 90_000n, 36_000n, 54_000n, periodsStart, startOfBeijingDay(dayStartingAtOrAfter(periodsStart + 90 * DAY)), false);
        const card = await f.escrow.cardOf(cardId);
        expect(card.periodSeconds).to.equal(BigInt(30 * DAY));
        expect(card.kind).to.equal(BigInt(PERIODIC));
        expect(card.named).to.equal(false);
        expect(card.paidIn).to.equal(36_000n);
        expect(card.direct).to.equal(54_000n);
        expect(card.pendingDirect).to.equal(54_000n);
        expect(await f.tokenB.balanceOf(await f.escrow.getAddress())).to.equal(90_000n);
        expect(await f.tokenA.totalSupply()).to.equal(0n);
      });

      it("it rounds the custodied share up to the fen", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.gymAcct).publishPlan(f.gym, LESSON, 3, 0, 0, 1_001n);
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 3, f.bob.address, true))
          .to.emit(f.escrow, "CardPurchased")
          .withArgs((BigInt(f.gym) << 32n) | 1n, f.gym, f.bob.address, 3, LESSON, 3, 1_001n, 401n, 600n, (v: bigint) => v > 0n, 0, true);
      });
    });

    describe("when the industry's policy changes after the plan was published", () => {
      it("it applies the policy in force at purchase (custody ratio and cooling-off days)", async () => {
        const f = await loadFixture(deployFixture);
        await f.registry.connect(f.sportsRegulator).setIndustryPolicy(FITNESS, { ...DEFAULT_POLICY, custodyBps: 6_000, coolingOffDays: 10 });
        const cardId = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
        const card = await f.escrow.cardOf(cardId);
        expect(card.paidIn).to.equal(54_000n);
        expect(card.direct).to.equal(36_000n);
        expect(card.coolingOffDays).to.equal(10n);
      });
    });

    describe("when the plan has no expiry", () => {
      it("it opens a card that never expires", async () => {
        const f = await loadFixture(deployFixture);
        const t = await atNextBlock();
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 2, f.carol.address, true))
          .to.emit(f.escrow, "CardPurchased")
          .withArgs((BigInt(f.gym) << 32n) | 1n, f.gym, f.carol.address, 2, LESSON, 10, 50_000n, 20_000n, 30_000n, t, 0, true);
        const cardId = (BigInt(f.gym) << 32n) | 1n;
        expect((await f.escrow.cardOf(cardId)).expiryDay).to.equal(0n);
        await time.increase(3_650 * DAY);
        expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Active));
      });
    });

    describe("when several cards are sold", () => {
      it("it numbers them per merchant (merchantId << 32 | n) and conserves money per bank", async () => {
        const f = await loadFixture(deployFixture);
        const a = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        const b = await buy(f.escrow, f.bankA, f.school, 2, f.bob.address);
        const c = await buy(f.escrow, f.bankB, f.gym, 1, f.alice.address);
        const d = await buy(f.escrow, f.bankA, f.pet, 1, f.carol.address);
        expect([a, b, c, d]).to.deep.equal([(1n << 32n) | 1n, (1n << 32n) | 2n, (2n << 32n) | 1n, (3n << 32n) | 1n]);
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([301_000n, 0n]);
        // Pet care and the gym at 40%: the direct shares wait in escrow through the cooling-off.
        expect(await f.escrow.balancesOf(f.pet)).to.deep.equal([30_000n, 0n]);
        expect(await f.tokenA.balanceOf(await f.escrow.getAddress())).to.equal(331_000n);
        expect(await f.tokenB.balanceOf(await f.escrow.getAddress())).to.equal(90_000n);
        await expectConservation(f);
      });
    });
  });

  describe("renew", () => {
    describe("when the card's merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.bankA).renew((99n << 32n) | 1n, 1))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });

    describe("when the caller is not the merchant's custodian bank", () => {
      it("it reverts with Custody_NotCustodianOf", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        for (const caller of [f.bankB, f.alice, f.schoolAcct]) {
          await expect(f.escrow.connect(caller).renew(cardId, 2))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotCustodianOf")
            .withArgs(f.school, caller.address);
        }
      });
    });

    describe("when the card is unknown", () => {
      it("it reverts with Custody_UnknownCard", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = (BigInt(f.school) << 32n) | 7n;
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2)).to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard").withArgs(cardId);
      });
    });

    describe("when the card is not Active", () => {
      it("it reverts with Custody_CardNotActive for a refund-requested card", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await f.escrow.connect(f.alice).requestRefund(cardId);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(cardId, CardStatus.RefundRequested);
      });

      it("it reverts with Custody_CardNotActive for a refunded card", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await f.escrow.connect(f.alice).refundCoolingOff(cardId);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardNotActive")
          .withArgs(cardId, CardStatus.Refunded);
      });
    });

    describe("when the card has expired", () => {
      it("it reverts with Custody_CardExpired", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        const expiryDay = (await f.escrow.cardOf(cardId)).expiryDay;
        await time.increaseTo(startOfBeijingDay(expiryDay));
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardExpired")
          .withArgs(cardId, startOfBeijingDay(expiryDay));
      });
    });

    describe("when the plan is unknown or inactive", () => {
      it("it reverts with Custody_UnknownPlan or Custody_PlanInactive", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 5))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownPlan")
          .withArgs(f.school, 5);
        await f.escrow.connect(f.schoolAcct).setPlanActive(f.school, 2, false);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_PlanInactive")
          .withArgs(f.school, 2);
      });
    });

    describe("when the plan is of another kind", () => {
      it("it reverts with Custody_PlanKindMismatch for a periodic plan on a lesson card and vice versa", async () => {
        const f = await loadFixture(deployFixture);
        const lessonCard = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address);
        const periodicCard = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
        await expect(f.escrow.connect(f.bankB).renew(lessonCard, 1))
          .to.be.revertedWithCustomError(f.escrow, "Custody_PlanKindMismatch")
          .withArgs(lessonCard, LESSON, PERIODIC);
        await expect(f.escrow.connect(f.bankB).renew(periodicCard, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_PlanKindMismatch")
          .withArgs(periodicCard, PERIODIC, LESSON);
      });

      it("it reverts with Custody_PlanKindMismatch for a periodic plan of another period length", async () => {
        const f = await loadFixture(deployFixture);
        const periodicCard = await buy(f.escrow, f.bankB, f.gym, 1, f.bob.address);
        await f.escrow.connect(f.gymAcct).publishPlan(f.gym, PERIODIC, 4, 7 * DAY, 0, 20_000n);
        await expect(f.escrow.connect(f.bankB).renew(periodicCard, 3))
          .to.be.revertedWithCustomError(f.escrow, "Custody_PlanKindMismatch")
          .withArgs(periodicCard, PERIODIC, PERIODIC);
      });
    });

    describe("when the merchant no longer sells", () => {
      it("it reverts with Custody_MerchantNotSelling", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await f.escrow.connect(f.schoolAcct).announceExit(f.school);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.WindingDown);
      });
    });

    describe("when the renewed card would break the caps", () => {
      it("it reverts with Custody_CardValueCapExceeded, counting the balance left on the card", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 1))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardValueCapExceeded")
          .withArgs(600_000n, 500_000n);
        // After 10 of 20 lessons, 1,500 CNY is left: 1,500 + 3,000 is within 5,000.
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 10, 0)));
        await expect(f.escrow.connect(f.bankA).renew(cardId, 1)).to.emit(f.escrow, "CardRenewed");
      });

      it("it counts the card's face value, not just its custodied share, when custody is under 100%", async () => {
        const f = await loadFixture(deployFixture);
        // Anonymous 500 CNY card at 40% custody: 200 CNY held, 500 CNY face value left.
        const cardId = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address, false);
        await f.escrow.connect(f.bankB).renew(cardId, 2); // 500 + 500 = 1,000 CNY: at the cap
        await expect(f.escrow.connect(f.bankB).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_CardValueCapExceeded")
          .withArgs(1_500n * CNY, 1_000n * CNY);
        // After 10 of 20 visits, 500 CNY of face value is left; a renewal fits again.
        await f.escrow.connect(f.gymAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 10, 0)));
        await expect(f.escrow.connect(f.bankB).renew(cardId, 2)).to.emit(f.escrow, "CardRenewed");
      });

      it("it reverts with Custody_LessonCapExceeded past 60 lessons left in training", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        for (let i = 0; i < 7; i++) await f.escrow.connect(f.bankA).renew(cardId, 2); // 56 lessons
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_LessonCapExceeded")
          .withArgs(63, 60);
      });

      it("it reverts with Custody_LessonCapExceeded past 65,535 lessons where no cap applies", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.gymAcct).publishPlan(f.gym, LESSON, 65_535, 0, 0, 10_000n);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 3, f.alice.address);
        await expect(f.escrow.connect(f.bankB).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_LessonCapExceeded")
          .withArgs(65_545, 65_535);
      });

      it("it reverts with Custody_LessonCapExceeded past 65,535 periods", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.gymAcct).publishPlan(f.gym, PERIODIC, 65_535, 60, 0, 10_000n);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 3, f.alice.address);
        await expect(f.escrow.connect(f.bankB).renew(cardId, 3))
          .to.be.revertedWithCustomError(f.escrow, "Custody_LessonCapExceeded")
          .withArgs(131_070, 65_535);
      });

      it("it reverts with Custody_ValidityCapExceeded when a training periodic card would run past 92 days", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.schoolAcct).publishPlan(f.school, PERIODIC, 3, 30 * DAY, 0, 60_000n); // plan 3
        await f.escrow.connect(f.schoolAcct).publishPlan(f.school, PERIODIC, 1, 30 * DAY, 0, 20_000n); // plan 4
        const cardId = await buyStarted(f.escrow, f.bankA, f.school, 3, f.alice);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 3))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ValidityCapExceeded")
          .withArgs(180, 92);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 4))
          .to.be.revertedWithCustomError(f.escrow, "Custody_ValidityCapExceeded")
          .withArgs(120, 92);
        // Two months served and released: one month left plus one more is within the cap.
        await time.increase(60 * DAY);
        await f.escrow.releasePeriodic(cardId);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 4)).to.emit(f.escrow, "CardRenewed");
        expect((await f.escrow.cardOf(cardId)).unitsLeft).to.equal(2n);
      });
    });

    describe("when a lesson card is renewed with a longer-lived plan", () => {
      it("it adds money and lessons, moves the expiry to the new plan's end and emits CardRenewed", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 4, 0)));
        await time.increase(10 * DAY);
        const t = await atNextBlock();
        const tx = f.escrow.connect(f.bankA).renew(cardId, 2);
        await expect(tx)
          .to.emit(f.escrow, "CardRenewed")
          .withArgs(cardId, f.school, f.alice.address, 2, 7, 1_000n, 1_000n, 0n, endOfPeriod(t, 90));
        await expect(tx).to.emit(f.tokenA, "Transfer").withArgs(ethers.ZeroAddress, await f.escrow.getAddress(), 1_000n);
        const card = await f.escrow.cardOf(cardId);
        expect(card.held).to.equal(240_000n + 1_000n);
        expect(card.unitsLeft).to.equal(16n + 7n);
        expect(card.unitsUsed).to.equal(4n);
        expect(card.paidIn).to.equal(301_000n);
        expect(card.expiryDay).to.equal(BigInt(lessonExpiryDay(t, 90)));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([241_000n, 60_000n]);
        await expectConservation(f);
      });
    });

    describe("when a lesson card is renewed with a shorter-lived plan", () => {
      it("it keeps the card's later expiry", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 5, 0, 30, 5_000n); // plan 3
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        const expiryDay = (await f.escrow.cardOf(cardId)).expiryDay;
        await expect(f.escrow.connect(f.bankA).renew(cardId, 3))
          .to.emit(f.escrow, "CardRenewed")
          .withArgs(cardId, f.school, f.alice.address, 3, 5, 5_000n, 5_000n, 0n, startOfBeijingDay(expiryDay));
        expect((await f.escrow.cardOf(cardId)).expiryDay).to.equal(expiryDay);
      });
    });

    describe("when a no-expiry lesson card is renewed with a no-expiry plan", () => {
      it("it still never expires", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankB, f.gym, 2, f.alice.address);
        await expect(f.escrow.connect(f.bankB).renew(cardId, 2))
          .to.emit(f.escrow, "CardRenewed")
          .withArgs(cardId, f.gym, f.alice.address, 2, 10, 50_000n, 20_000n, 30_000n, 0);
        const card = await f.escrow.cardOf(cardId);
        expect(card.expiryDay).to.equal(0n);
        expect(card.direct).to.equal(60_000n);
        expect(card.paidIn).to.equal(40_000n);
      });
    });

    describe("when a periodic card is renewed", () => {
      it("it appends the periods after the card's last one", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buyStarted(f.escrow, f.bankB, f.gym, 1, f.bob);
        const t = Number((await f.escrow.cardOf(cardId)).startedAt);
        await time.increase(40 * DAY);
        await expect(f.escrow.connect(f.bankB).renew(cardId, 1))
          .to.emit(f.escrow, "CardRenewed")
          .withArgs(cardId, f.gym, f.bob.address, 1, 3, 90_000n, 36_000n, 54_000n, startOfBeijingDay(dayStartingAtOrAfter(t + 180 * DAY)));
        const card = await f.escrow.cardOf(cardId);
        expect(card.unitsLeft).to.equal(6n);
        expect(card.held).to.equal(72_000n);
        expect(card.expiryDay).to.equal(BigInt(dayStartingAtOrAfter(t + 180 * DAY)));
        // The periods keep their rhythm from the original start: 6 months release 6 equal parts.
        await time.increaseTo(t + 180 * DAY);
        await expect(f.escrow.releasePeriodic(cardId)).to.emit(f.escrow, "PeriodsReleased").withArgs(cardId, 6, 72_000n);
      });
    });

    describe("when the merchant sells with rounding on renewed lesson cards", () => {
      it("it releases exactly what was paid in across the renewal", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        let released = 0n;
        const consume = async (lessons: number, sequence: number) => {
          const tx = await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, lessons, sequence)));
          const receipt = await tx.wait();
          const ev = f.escrow.interface.parseLog(receipt!.logs[0])!;
          released += ev.args.amount as bigint;
        };
        await consume(3, 0);
        await f.escrow.connect(f.bankA).renew(cardId, 2);
        for (let seq = 3; seq < 14; seq++) await consume(1, seq);
        expect(released).to.equal(2_000n);
        expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Consumed));
        expect(await f.escrow.balancesOf(f.school)).to.deep.equal([0n, 2_000n]);
      });
    });
  });
});
