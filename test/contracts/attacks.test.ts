import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import fc from "fast-check";
import { deployPlatform, addCustodianBank } from "../../src/chain/deploy";
import { DEFAULT_POLICY, TRAINING_POLICY } from "../../src/chain/policies";
import { signConsumption, SignedVoucher } from "../../src/chain/vouchers";
import { CustodyToken__factory, PrepaidEscrow, ReentrantToken, ReentrantToken__factory } from "../../typechain-types";
import {
  deployFixture, buy, voucher, voucherArg, amountAt, latestTime, highS, expectConservation, SECP256K1_N, HALF_N, signAhead, VoucherArg,
  EDUCATION, PET_CARE, LESSON, CardStatus, MerchantStatus,
} from "./fixture";

/**
 * Attacks on the contracts, each ending in a named custom error or a conservation check: vouchers replayed across
 * cards, escrows and chains; malleable signatures; parties acting for others; a hostile deposit token re-entering
 * the escrow; rounding with 1-fen prices and many lessons.
 */

async function schoolCards() {
  const f = await deployFixture();
  const card = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
  const card2 = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
  const petCard = await buy(f.escrow, f.bankA, f.pet, 1, f.alice.address);
  const gymCard = await buy(f.escrow, f.bankB, f.gym, 2, f.bob.address);
  return { ...f, card, card2, petCard, gymCard };
}

async function recovered(escrow: PrepaidEscrow, v: SignedVoucher): Promise<string> {
  const digest = await escrow.consumptionDigest(v.cardId, v.lessons, v.amount, v.sequence, v.deadline);
  try {
    return ethers.recoverAddress(digest, { r: v.r, s: v.s, v: v.v });
  } catch {
    return ethers.ZeroAddress;
  }
}

describe("attacks on the custody contracts", () => {
  describe("voucher replay", () => {
    it("a voucher for one card is refused on the holder's other card of the same merchant", async () => {
      const f = await loadFixture(schoolCards);
      const v = await voucher(f.escrow, f.alice, f.card, 1, 0);
      const replay = { ...v, cardId: f.card2 };
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(replay)))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
        .withArgs(f.card2, await recovered(f.escrow, replay), f.alice.address);
    });

    it("a voucher for a school card is refused as a pet-care card's (another merchant, same holder)", async () => {
      const f = await loadFixture(schoolCards);
      const v = await voucher(f.escrow, f.alice, f.card, 1, 0);
      const replay = { ...v, cardId: f.petCard, amount: await amountAt(f.escrow, f.petCard, 1, 0) };
      await expect(f.escrow.connect(f.petAcct).consume(voucherArg(replay)))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
        .withArgs(f.petCard, await recovered(f.escrow, replay), f.alice.address);
    });

    it("a used voucher is refused again, also after the card was renewed", async () => {
      const f = await loadFixture(schoolCards);
      const v = await voucher(f.escrow, f.alice, f.card, 2, 0);
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(v));
      await f.escrow.connect(f.bankA).renew(f.card, 2);
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
        .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherSequenceMismatch")
        .withArgs(f.card, 2, 0);
      // twice in one batch: the second copy finds the sequence moved on
      const w = await voucher(f.escrow, f.alice, f.card, 1, 2);
      await expect(f.escrow.connect(f.schoolAcct).consumeBatch([voucherArg(w), voucherArg(w)]))
        .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherSequenceMismatch")
        .withArgs(f.card, 3, 2);
    });

    it("a voucher for one escrow is refused by a second escrow where the same card id exists", async () => {
      const f = await loadFixture(schoolCards);
      // A second deployment on the same chain with the same parties: the same merchant and card ids come up.
      const { escrow: other, registry: otherRegistry } = await deployPlatform(f.deployer, {
        admin: f.deployer.address, platformRegulator: f.regulator.address, defaultPolicy: DEFAULT_POLICY,
      });
      await otherRegistry.connect(f.regulator).defineIndustry(EDUCATION, f.eduRegulator.address);
      await otherRegistry.connect(f.regulator).setIndustryPolicy(EDUCATION, TRAINING_POLICY);
      await addCustodianBank(other, f.regulator, f.deployer, { account: f.bankA.address, name: "A2", symbol: "A2" });
      await other.connect(f.regulator).admitMerchant(f.schoolAcct.address, EDUCATION, 1, ethers.id("school"));
      await other.connect(f.schoolAcct).publishPlan(1, LESSON, 20, 0, 90, 300_000n);
      const twin = await buy(other, f.bankA, 1, 1, f.alice.address);
      expect(twin).to.equal(f.card);

      const v = await voucher(f.escrow, f.alice, f.card, 1, 0);
      await expect(other.connect(f.schoolAcct).consume(voucherArg(v)))
        .to.be.revertedWithCustomError(other, "Custody_InvalidSigner")
        .withArgs(twin, await recovered(other, v), f.alice.address);
      // and the other way round
      const w = await signConsumption(f.alice, f.chainId, await other.getAddress(), { cardId: twin, lessons: 1, amount: v.amount, sequence: 0, deadline: (await latestTime()) + 3600 });
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(w)))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
        .withArgs(f.card, await recovered(f.escrow, w), f.alice.address);
      // each voucher is good where it was signed for
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v))).to.emit(f.escrow, "LessonsConsumed");
      await expect(other.connect(f.schoolAcct).consume(voucherArg(w))).to.emit(other, "LessonsConsumed");
    });

    it("a voucher signed for another chain id is refused", async () => {
      const f = await loadFixture(schoolCards);
      for (const chainId of [f.chainId + 1n, 1n, 0n]) {
        const v = await signConsumption(f.alice, chainId, await f.escrow.getAddress(), { cardId: f.card, lessons: 1, amount: 15_000n, sequence: 0, deadline: (await latestTime()) + 3600 });
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v)))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.card, await recovered(f.escrow, v), f.alice.address);
      }
    });
  });

  describe("signature malleability", () => {
    it("an upper-half s is refused (no signer), alone and inside a batch, and the card is untouched", async () => {
      const f = await loadFixture(schoolCards);
      const v = await voucher(f.escrow, f.alice, f.card, 1, 0);
      await expect(f.escrow.connect(f.schoolAcct).consume(highS(v)))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
        .withArgs(f.card, ethers.ZeroAddress, f.alice.address);
      const other = await voucher(f.escrow, f.alice, f.card2, 1, 0);
      await expect(f.escrow.connect(f.schoolAcct).consumeBatch([voucherArg(other), highS(v)]))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
        .withArgs(f.card, ethers.ZeroAddress, f.alice.address);
      expect((await f.escrow.cardOf(f.card2)).unitsUsed).to.equal(0n);
    });

    it("the exact high-s twin has no compact form: the codec refuses to write it", async () => {
      const f = await loadFixture(schoolCards);
      const v = await voucher(f.escrow, f.alice, f.card, 1, 0);
      const twin = SECP256K1_N - BigInt(v.s);
      expect(twin >> 255n).to.equal(1n);
      expect(() => voucherArg({ ...v, s: ethers.toBeHex(twin, 32), v: v.v === 27 ? 28 : 27 })).to.throw(RangeError);
      expect(() => voucherArg({ ...v, v: 29 })).to.throw(RangeError);
    });

    it("zero, high, out-of-range (r, vs) recover no one; a flipped parity bit recovers a stranger", async () => {
      const f = await loadFixture(schoolCards);
      const v = await voucher(f.escrow, f.alice, f.card, 1, 0);
      const good = voucherArg(v);
      const top = 1n << 255n;
      const bad: VoucherArg[] = [
        { ...good, r: ethers.ZeroHash, vs: ethers.ZeroHash },
        { ...good, r: ethers.ZeroHash },
        { ...good, r: ethers.toBeHex(SECP256K1_N, 32) },
        { ...good, vs: ethers.toBeHex(HALF_N + 1n, 32) },
        { ...good, vs: ethers.toBeHex(top - 1n, 32) },
        { ...good, vs: ethers.toBeHex(top | (top - 1n), 32) },
      ];
      for (const b of bad) {
        await expect(f.escrow.connect(f.schoolAcct).consume(b))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
          .withArgs(f.card, ethers.ZeroAddress, f.alice.address);
      }
      // a flipped parity bit recovers someone, just not the holder
      const flipped = { ...v, v: v.v === 27 ? 28 : 27 };
      await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(flipped)))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
        .withArgs(f.card, await recovered(f.escrow, flipped), f.alice.address);
      await expect(f.escrow.connect(f.schoolAcct).consume(good)).to.emit(f.escrow, "LessonsConsumed");
    });
  });

  describe("parties acting for others", () => {
    it("a merchant cannot release, pay out, refund or exit for another merchant", async () => {
      const f = await loadFixture(schoolCards);
      const v = await voucher(f.escrow, f.alice, f.card, 1, 0);
      await expect(f.escrow.connect(f.petAcct).consume(voucherArg(v)))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.petAcct.address);
      // its own voucher first, then the other merchant's: the whole batch fails
      const own = await voucher(f.escrow, f.alice, f.petCard, 1, 0);
      await expect(f.escrow.connect(f.petAcct).consumeBatch([voucherArg(own), voucherArg(v)]))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.petAcct.address);
      expect((await f.escrow.cardOf(f.petCard)).unitsUsed).to.equal(0n);
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(v));
      await expect(f.escrow.connect(f.petAcct).payOut(f.school))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.petAcct.address);
      await f.escrow.connect(f.alice).requestRefund(f.card2);
      await expect(f.escrow.connect(f.petAcct).acceptRefund(f.card2))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.petAcct.address);
      await expect(f.escrow.connect(f.petAcct).rejectRefund(f.card2, ethers.ZeroHash))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.petAcct.address);
      await expect(f.escrow.connect(f.petAcct).announceExit(f.school))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.petAcct.address);
      await expect(f.escrow.connect(f.petAcct).publishPlan(f.school, LESSON, 1, 0, 1, 1n))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.petAcct.address);
      await expect(f.escrow.connect(f.petAcct).close(f.school))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.petAcct.address);
      await expectConservation(f);
    });

    it("a batch led by a card id of 'merchant 0' skips no check that matters: there is no such card", async () => {
      const f = await loadFixture(schoolCards);
      // consumeBatch starts with merchant 0 as the current one, so a first voucher whose card id has merchant 0 is not
      // checked against the caller; it must still fail on the card, and a real card after it is checked as usual
      const ghost = { ...(await voucher(f.escrow, f.alice, f.card, 1, 0)), cardId: f.card & 0xffffffffn };
      await expect(f.escrow.connect(f.stranger).consumeBatch([voucherArg(ghost)]))
        .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownCard").withArgs(ghost.cardId);
      const real = await voucher(f.escrow, f.alice, f.card, 1, 0);
      await expect(f.escrow.connect(f.stranger).consumeBatch([voucherArg(real)]))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.stranger.address);
      expect((await f.escrow.merchantOf(0)).released).to.equal(0n);
    });

    it("a bank cannot open or renew cards of another bank's merchants, nor mint or burn its token", async () => {
      const f = await loadFixture(schoolCards);
      await expect(f.escrow.connect(f.bankB).purchase(f.school, 1, f.carol.address, true))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotCustodianOf").withArgs(f.school, f.bankB.address);
      await expect(f.escrow.connect(f.bankB).renew(f.card, 1))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotCustodianOf").withArgs(f.school, f.bankB.address);
      await expect(f.escrow.connect(f.bankA).purchase(f.gym, 2, f.carol.address, true))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotCustodianOf").withArgs(f.gym, f.bankA.address);
      await expect(f.escrow.connect(f.bankB).payOut(f.school))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant").withArgs(f.school, f.bankB.address);
      const escrowAddress = await f.escrow.getAddress();
      for (const [token, who] of [[f.tokenA, f.bankB], [f.tokenA, f.bankA], [f.tokenB, f.bankB]] as const) {
        await expect(token.connect(who).mint(who.address, 1n))
          .to.be.revertedWithCustomError(token, "CustodyToken_OnlyEscrow").withArgs(who.address, escrowAddress);
        await expect(token.connect(who).burnFromEscrow(1n))
          .to.be.revertedWithCustomError(token, "CustodyToken_OnlyEscrow").withArgs(who.address, escrowAddress);
      }
      await expectConservation(f);
    });

    it("an industry regulator cannot act on merchants, disputes or policy of another industry", async () => {
      const f = await loadFixture(schoolCards);
      const sports = f.sportsRegulator;
      const r = ethers.id("not mine");
      const NotRegulatorOf = (p: Promise<unknown>, industry: number, who = sports.address) =>
        expect(p).to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf").withArgs(industry, who);
      await NotRegulatorOf(f.escrow.connect(sports).freeze(f.school, r), EDUCATION);
      await NotRegulatorOf(f.escrow.connect(sports).restrict(f.school, true, r), EDUCATION);
      await NotRegulatorOf(f.escrow.connect(sports).windDown(f.school, r), EDUCATION);
      await NotRegulatorOf(f.escrow.connect(sports).admitMerchant(f.stranger.address, EDUCATION, 1, r), EDUCATION);
      // pet care has no designated regulator: only the bureau acts there
      await NotRegulatorOf(f.escrow.connect(f.eduRegulator).freeze(f.pet, r), PET_CARE, f.eduRegulator.address);
      await f.escrow.connect(f.eduRegulator).freeze(f.school, r);
      await NotRegulatorOf(f.escrow.connect(sports).unfreeze(f.school, r), EDUCATION);
      await f.escrow.connect(f.eduRegulator).unfreeze(f.school, r);
      // a dispute on a school card
      await f.escrow.connect(f.alice).requestRefund(f.card);
      await f.escrow.connect(f.schoolAcct).rejectRefund(f.card, r);
      await NotRegulatorOf(f.escrow.connect(sports).resolveDispute(f.card, 1n), EDUCATION);
      expect(await f.escrow.cardStatus(f.card)).to.equal(CardStatus.Disputed);
      // the registry: another industry's policy, and designating regulators (the bureau's alone)
      await expect(f.registry.connect(sports).setIndustryPolicy(EDUCATION, DEFAULT_POLICY))
        .to.be.revertedWithCustomError(f.registry, "Registry_NotRegulatorOf").withArgs(EDUCATION, sports.address);
      await expect(f.registry.connect(sports).clearIndustryPolicy(EDUCATION))
        .to.be.revertedWithCustomError(f.registry, "Registry_NotRegulatorOf").withArgs(EDUCATION, sports.address);
      await expect(f.registry.connect(sports).defineIndustry(EDUCATION, sports.address))
        .to.be.revertedWithCustomError(f.registry, "Registry_NotPlatformRegulator").withArgs(sports.address);
      expect((await f.escrow.merchantOf(f.school)).status).to.equal(MerchantStatus.Active);
      await expectConservation(f);
    });
  });

  describe("re-entrancy through the deposit token", () => {
    // CustodyToken is plain OpenZeppelin ERC20 with no hooks (no ERC-777/1363 callbacks): it never calls out.
    // A token is registered by the platform regulator only; addBank checks the token names the bank and this
    // escrow, which a hostile token can fake. So the tests register one that is its own bank and merchant and
    // calls back into the escrow from mint and burn, and show the escrow's state is already final by then.
    async function hostile() {
      const f = await deployFixture();
      const escrowAddress = await f.escrow.getAddress();
      const token = await new ReentrantToken__factory(f.deployer).deploy(escrowAddress);
      const tokenAddress = await token.getAddress();
      await f.escrow.connect(f.regulator).addBank(tokenAddress, tokenAddress);
      const bankId = Number(await f.escrow.bankCount());
      await f.escrow.connect(f.regulator).admitMerchant(tokenAddress, PET_CARE, bankId, ethers.id("hostile"));
      const merchantId = Number(await f.escrow.merchantCount());
      const call = (fn: string, args: unknown[]) => f.escrow.interface.encodeFunctionData(fn as "payOut", args as [number]);
      await token.callEscrow(call("publishPlan", [merchantId, LESSON, 10, 0, 0, 10_000n]));
      const open = async (holder: string) => {
        const before = await f.escrow.merchantOf(merchantId);
        await token.callEscrow(call("purchase", [merchantId, 1, holder, true]));
        return (BigInt(merchantId) << 32n) | (before.cardCount + 1n);
      };
      return { ...f, token, merchantId, call, open };
    }
    const lastError = async (f: { escrow: PrepaidEscrow }, token: ReentrantToken) => f.escrow.interface.parseError(await token.lastRevert())?.name;

    it("the registration check alone does not keep a hostile token out (the regulator is trusted)", async () => {
      const f = await loadFixture(hostile);
      expect((await f.escrow.bankOf(3)).token).to.equal(await f.token.getAddress());
      // a token naming another escrow is refused
      const stray = await new CustodyToken__factory(f.deployer).deploy("x", "x", f.stranger.address, f.stranger.address);
      await expect(f.escrow.connect(f.regulator).addBank(f.stranger.address, await stray.getAddress()))
        .to.be.revertedWithCustomError(f.escrow, "Custody_BankTokenMismatch")
        .withArgs(await stray.getAddress(), f.stranger.address, f.stranger.address);
      await expect(f.escrow.connect(f.stranger).addBank(f.stranger.address, await stray.getAddress()))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotPlatformRegulator").withArgs(f.stranger.address);
    });

    it("paying out again from inside the burn finds nothing left: Custody_NothingToPayOut", async () => {
      const f = await loadFixture(hostile);
      const card = await f.open(f.alice.address);
      const v = await voucher(f.escrow, f.alice, card, 5, 0);
      await f.token.callEscrow(f.call("consume", [voucherArg(v)]));
      await f.token.arm(f.call("payOut", [f.merchantId]), true);
      await expect(f.token.callEscrow(f.call("payOut", [f.merchantId])))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NothingToPayOut").withArgs(f.merchantId);
      // not bubbled: the outer payout stands, the inner one failed, and the money is paid once
      await f.token.arm(f.call("payOut", [f.merchantId]), false);
      await f.token.callEscrow(f.call("payOut", [f.merchantId]));
      expect(await lastError(f, f.token)).to.equal("Custody_NothingToPayOut");
      const m = await f.escrow.merchantOf(f.merchantId);
      expect(m.paidOut).to.equal(m.released);
      await expectConservation(f);
    });

    it("claiming a card again from inside its refund's burn: Custody_NotClaimable; a batch never pays a card twice", async () => {
      const f = await loadFixture(hostile);
      const a = await f.open(f.alice.address);
      const b = await f.open(f.bob.address);
      await f.escrow.connect(f.regulator).freeze(f.merchantId, ethers.id("collapse"));
      await f.token.arm(f.call("claim", [a]), true);
      await expect(f.escrow.connect(f.stranger).claim(a))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotClaimable").withArgs(a, MerchantStatus.Frozen);
      await f.token.arm(f.call("claimBatch", [[a, b, a, b]]), false);
      await f.escrow.connect(f.stranger).claimBatch([a, a, b]);
      // one re-entry (the armed call runs once): inside it a is already refunded and b is paid; the outer batch then skips both
      expect(await f.token.reentered()).to.equal(1n);
      const m = await f.escrow.merchantOf(f.merchantId);
      expect(m.refunded).to.equal(m.paidIn);
      expect(await f.token.totalSupply()).to.equal(0n);
      await expectConservation(f);
    });

    it("accepting a refund again from inside its burn: Custody_NoRefundRequest", async () => {
      const f = await loadFixture(hostile);
      const card = await f.open(f.alice.address);
      await f.escrow.connect(f.alice).requestRefund(card);
      await f.token.arm(f.call("acceptRefund", [card]), true);
      await expect(f.token.callEscrow(f.call("acceptRefund", [card])))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NoRefundRequest").withArgs(card, CardStatus.Refunded);
      await f.token.arm("0x", false); // the revert undid the disarming
      await f.token.callEscrow(f.call("acceptRefund", [card]));
      expect(await f.escrow.cardStatus(card)).to.equal(CardStatus.Refunded);
      await expectConservation(f);
    });

    it("consuming or buying from inside a mint sees the card already written; the books still balance", async () => {
      const f = await loadFixture(hostile);
      const card = await f.open(f.alice.address);
      const v = await voucher(f.escrow, f.alice, card, 3, 0);
      // renew, and from inside the mint consume the card: the voucher's sequence and the new units are both there
      await f.token.arm(f.call("consume", [voucherArg(v)]), true);
      await f.token.callEscrow(f.call("renew", [card, 1]));
      const c = await f.escrow.cardOf(card);
      expect(c.unitsUsed).to.equal(3n);
      expect(c.unitsLeft).to.equal(17n);
      // the same voucher again from inside the next purchase's mint
      await f.token.arm(f.call("consume", [voucherArg(v)]), false);
      await f.open(f.bob.address);
      expect(await lastError(f, f.token)).to.equal("Custody_VoucherSequenceMismatch");
      // a purchase inside a purchase: two cards, each paid in once
      await f.token.arm(f.call("purchase", [f.merchantId, 1, f.carol.address, true]), true);
      await f.open(f.carol.address);
      expect((await f.escrow.merchantOf(f.merchantId)).cardCount).to.equal(4n);
      await expectConservation(f);
    });
  });

  describe("rounding", () => {
    it("a 1-fen card of 60 lessons releases nothing for 59 lessons and the whole fen on the last", async () => {
      const f = await loadFixture(schoolCards);
      await f.escrow.connect(f.schoolAcct).publishPlan(f.school, LESSON, 60, 0, 90, 1n);
      const card = await buy(f.escrow, f.bankA, f.school, 3, f.alice.address);
      const deadline = (await latestTime()) + 3600;
      const vs = [];
      vs.push(...(await signAhead(f.escrow, f.alice, card, Array.from({ length: 60 }, () => 1), deadline)));
      const rc = await (await f.escrow.connect(f.schoolAcct).consumeBatch(vs)).wait();
      const amounts = rc!.logs.map((l) => f.escrow.interface.parseLog(l)).filter((e) => e?.name === "LessonsConsumed").map((e) => e!.args.amount as bigint);
      expect(amounts).to.have.length(60);
      expect(amounts.slice(0, 59).every((a) => a === 0n)).to.equal(true);
      expect(amounts[59]).to.equal(1n);
      expect(await f.escrow.cardStatus(card)).to.equal(CardStatus.Consumed);
      await expectConservation(f);
    });

    it("a 1-fen card at 40% custody keeps the fen in custody (rounded up), and 65,535 lessons still add up", async () => {
      const f = await loadFixture(schoolCards);
      await f.escrow.connect(f.petAcct).publishPlan(f.pet, LESSON, 65_535, 0, 0, 1n);
      await f.escrow.connect(f.petAcct).publishPlan(f.pet, LESSON, 65_535, 0, 0, 65_534n);
      const tiny = await buy(f.escrow, f.bankA, f.pet, 2, f.alice.address);
      const t = await f.escrow.cardOf(tiny);
      expect([t.paidIn, t.direct]).to.deep.equal([1n, 0n]);
      const big = await buy(f.escrow, f.bankA, f.pet, 3, f.bob.address);
      const deadline = (await latestTime()) + 3600;
      await f.escrow.connect(f.petAcct).consumeBatch(await signAhead(f.escrow, f.alice, tiny, [65_534, 1], deadline));
      const b = await f.escrow.cardOf(big);
      // 65,534 fen at 40%: 26,214 (26,213.6 rounded up) custodied over 65,535 lessons
      expect(b.paidIn).to.equal(26_214n);
      await f.escrow.connect(f.petAcct).consumeBatch(await signAhead(f.escrow, f.bob, big, [1, 2, 65_000], deadline));
      await f.escrow.connect(f.bob).requestRefund(big);
      await f.escrow.connect(f.petAcct).acceptRefund(big);
      const m = await f.escrow.merchantOf(f.pet);
      const released = (await f.escrow.cardOf(tiny)).paidIn - (await f.escrow.cardOf(tiny)).held;
      expect(released).to.equal(1n);
      expect((await f.escrow.cardOf(big)).held).to.equal(0n);
      expect(m.paidIn).to.equal(m.released + m.refunded + (await f.escrow.balancesOf(f.pet))[0]);
      await expectConservation(f);
    });

    it("over random prices, lesson counts and voucher sizes, releases plus refund equal what was custodied", async () => {
      const f = await loadFixture(schoolCards);
      let planIndex = Number((await f.escrow.merchantOf(f.pet)).planCount);
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 5_000 }),
          fc.integer({ min: 1, max: 120 }),
          fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }),
          fc.boolean(),
          async (price, units, steps, refundRest) => {
            await f.escrow.connect(f.petAcct).publishPlan(f.pet, LESSON, units, 0, 0, BigInt(price));
            planIndex++;
            const card = await buy(f.escrow, f.bankA, f.pet, planIndex, f.carol.address);
            const custodied = (await f.escrow.cardOf(card)).paidIn;
            expect(custodied + (await f.escrow.cardOf(card)).direct).to.equal(BigInt(price));
            const deadline = (await latestTime()) + 3600;
            const sizes: number[] = [];
            let used = 0;
            for (const step of steps) {
              const lessons = Math.min(step, units - used);
              if (lessons === 0) break;
              sizes.push(lessons);
              used += lessons;
            }
            const vs = await signAhead(f.escrow, f.carol, card, sizes, deadline);
            const rc = await (await f.escrow.connect(f.petAcct).consumeBatch(vs)).wait();
            const released = rc!.logs.map((l) => f.escrow.interface.parseLog(l)).filter((e) => e?.name === "LessonsConsumed")
              .reduce((sum, e) => sum + (e!.args.amount as bigint), 0n);
            // shares round down: never more than the lessons' pro-rata part, and all of it once every lesson is used
            expect(released * BigInt(units) <= custodied * BigInt(used)).to.equal(true);
            const held = (await f.escrow.cardOf(card)).held;
            expect(released + held).to.equal(custodied);
            if (used === units) expect(held).to.equal(0n);
            let refunded = 0n;
            if (refundRest && held > 0n) {
              await f.escrow.connect(f.carol).requestRefund(card);
              if ((await f.escrow.cardStatus(card)) === BigInt(CardStatus.RefundRequested)) await f.escrow.connect(f.petAcct).acceptRefund(card);
              refunded = held;
              expect((await f.escrow.cardOf(card)).held).to.equal(0n);
            }
            expect(released + refunded + (await f.escrow.cardOf(card)).held).to.equal(custodied);
          },
        ),
        { numRuns: 25, seed: Number(process.env.ATTACK_SEED ?? 6) },
      );
      await expectConservation(f);
    });
  });
});
