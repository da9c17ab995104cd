import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { Wallet } from "ethers";
import { MessageTypes, SignTypedDataVersion, TypedDataUtils, TypedMessage, signTypedData as metamaskSignTypedData } from "@metamask/eth-sig-util";
import { hashTypedData } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  ConsumptionTypedData, consumptionFor, consumptionShare, consumptionTypedData, messageOfDocument, voucherArg, withSignature,
} from "../../src/chain/vouchers";
import fc from "fast-check";
import { CustodyMathHarness__factory } from "../../typechain-types";
import { deployFixture, buy, cardNow, latestTime, expectConservation } from "./fixture";

/**
 * What the holder agrees to: the voucher names the merchant and the money its lessons release, and the escrow releases
 * exactly that. The documents are the ones the gateway hands a consumer's page (src/chain/vouchers.ts), signed by
 * wallets' own code, written independently of this project: MetaMask's eth-sig-util (eth_signTypedData_v4) and viem.
 */

/** A school card (20 lessons, 3,000 CNY, 100% custody) and a 7-lesson, 1,000-fen one, held by a key we hold. */
async function walletCards() {
  const f = await deployFixture();
  const holder = Wallet.createRandom();
  const card = await buy(f.escrow, f.bankA, f.school, 1, holder.address);
  const odd = await buy(f.escrow, f.bankA, f.school, 2, holder.address);
  const petCard = await buy(f.escrow, f.bankA, f.pet, 1, holder.address);
  return { ...f, holder, card, odd, petCard, escrowAddress: await f.escrow.getAddress() };
}
type World = Awaited<ReturnType<typeof walletCards>>;

/** The document the holder's wallet shows for `lessons` lessons of `cardId` as it stands now. */
async function documentFor(f: World, cardId: bigint, lessons: number): Promise<ConsumptionTypedData> {
  const message = consumptionFor(await cardNow(f.escrow, cardId), lessons, (await latestTime()) + 3_600);
  return consumptionTypedData(f.chainId, f.escrowAddress, message);
}

// The document goes to each library as the JSON a page would hand a wallet; the casts only widen TypeScript's view
// of it (viem infers message types from literal type names, eth-sig-util wants an index signature).
const metamask = (f: World, doc: ConsumptionTypedData) =>
  metamaskSignTypedData({
    privateKey: Buffer.from(f.holder.privateKey.slice(2), "hex"), data: doc as unknown as TypedMessage<MessageTypes>, version: SignTypedDataVersion.V4,
  });

type ViemTypedData = Parameters<typeof hashTypedData>[0];
const forViem = (doc: ConsumptionTypedData) => doc as unknown as ViemTypedData;

const viem = (f: World, doc: ConsumptionTypedData) => privateKeyToAccount(f.holder.privateKey as `0x${string}`).signTypedData(forViem(doc));

/** The tuple the merchant sends for a document and a wallet's signature over it. */
const tupleOf = (doc: ConsumptionTypedData, signature: string) => voucherArg(withSignature(messageOfDocument(doc), signature));

describe("PrepaidEscrow: what the holder signs", () => {
  describe("the gateway's share math (consumptionShare, src/chain/vouchers.ts)", () => {
    it("is the contract's CustodyMath.share for any balance, lessons left and lessons confirmed", async () => {
      const [deployer] = await ethers.getSigners();
      const math = await new CustodyMathHarness__factory(deployer).deploy();
      const edges: [bigint, number, number][] = [[0n, 1, 1], [1n, 60, 1], [1n, 60, 60], [2n ** 32n - 1n, 65_535, 1], [2n ** 32n - 1n, 65_535, 65_534], [999n, 7, 3]];
      for (const [held, left, n] of edges) expect(consumptionShare(held, left, n), `${held}/${left}/${n}`).to.equal(await math.share(held, left, n));
      await fc.assert(
        fc.asyncProperty(fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }), fc.integer({ min: 1, max: 65_535 }), fc.integer({ min: 1, max: 65_535 }), async (held, left, n) => {
          const lessons = Math.min(n, left);
          expect(consumptionShare(held, left, lessons)).to.equal(await math.share(held, left, lessons));
        }),
        { numRuns: 200 },
      );
      expect(() => consumptionShare(10n, 3, 4)).to.throw(RangeError);
      expect(() => consumptionShare(10n, 3, 0)).to.throw(RangeError);
    });
  });

  describe("a wallet's own EIP-712 code", () => {
    it("computes the digest the escrow checks: MetaMask's eth-sig-util V4 and viem agree with consumptionDigest", async () => {
      const f = await loadFixture(walletCards);
      const doc = await documentFor(f, f.card, 2);
      const m = messageOfDocument(doc);
      const onChain = await f.escrow.consumptionDigest(m.cardId, m.lessons, m.amount, m.sequence, m.deadline);
      const asMetamask = doc as unknown as TypedMessage<MessageTypes>;
      expect("0x" + Buffer.from(TypedDataUtils.eip712Hash(asMetamask, SignTypedDataVersion.V4)).toString("hex")).to.equal(onChain);
      expect(hashTypedData(forViem(doc))).to.equal(onChain);
    });

    it("shows the merchant's number, the lessons and the money in fen, not only numbers without names", async () => {
      const f = await loadFixture(walletCards);
      const doc = await documentFor(f, f.card, 1);
      expect(doc.primaryType).to.equal("Consumption");
      expect(doc.types.Consumption.map((x) => x.name)).to.deep.equal(["merchantId", "cardId", "lessons", "amount", "sequence", "deadline"]);
      expect(doc.message).to.include({ merchantId: f.school, cardId: f.card.toString(), lessons: 1, amount: "15000", sequence: 0 });
    });

    it("a voucher signed in MetaMask's eth_signTypedData_v4 releases the amount it shows", async () => {
      const f = await loadFixture(walletCards);
      const doc = await documentFor(f, f.card, 1);
      await expect(f.escrow.connect(f.schoolAcct).consume(tupleOf(doc, metamask(f, doc))))
        .to.emit(f.escrow, "LessonsConsumed").withArgs(f.card, 1, 15_000n, 0);
      await expectConservation(f);
    });

    it("a voucher signed with viem releases the amount it shows, also in a batch after MetaMask's", async () => {
      const f = await loadFixture(walletCards);
      const first = await documentFor(f, f.card, 1);
      await f.escrow.connect(f.schoolAcct).consume(tupleOf(first, metamask(f, first)));
      const doc = await documentFor(f, f.card, 3);
      const odd = await documentFor(f, f.odd, 1);
      await expect(f.escrow.connect(f.schoolAcct).consumeBatch([tupleOf(doc, await viem(f, doc)), tupleOf(odd, metamask(f, odd))]))
        .to.emit(f.escrow, "LessonsConsumed").withArgs(f.card, 3, 45_000n, 1)
        .and.to.emit(f.escrow, "LessonsConsumed").withArgs(f.odd, 1, 142n, 0);
      await expectConservation(f);
    });
  });

  describe("when the amount the holder signed is not the share the lessons release", () => {
    it("the escrow refuses it, naming the card, the amount signed and the share, and the card is untouched", async () => {
      const f = await loadFixture(walletCards);
      const doc = await documentFor(f, f.card, 1);
      for (const signed of ["15001", "14999", "0", "300000"]) {
        const wrong: ConsumptionTypedData = { ...doc, message: { ...doc.message, amount: signed } };
        await expect(f.escrow.connect(f.schoolAcct).consume(tupleOf(wrong, metamask(f, wrong))))
          .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherAmountMismatch")
          .withArgs(f.card, BigInt(signed), 15_000n);
      }
      // inside a batch too, after a good voucher: all or nothing
      const odd = await documentFor(f, f.odd, 1);
      const wrong: ConsumptionTypedData = { ...doc, message: { ...doc.message, amount: "15001" } };
      await expect(f.escrow.connect(f.schoolAcct).consumeBatch([tupleOf(odd, metamask(f, odd)), tupleOf(wrong, await viem(f, wrong))]))
        .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherAmountMismatch")
        .withArgs(f.card, 15_001n, 15_000n);
      expect((await f.escrow.cardOf(f.card)).held).to.equal(300_000n);
      expect((await f.escrow.cardOf(f.odd)).unitsUsed).to.equal(0n);
    });

    it("a merchant cannot change the amount after signing: the signature then names someone else", async () => {
      const f = await loadFixture(walletCards);
      const doc = await documentFor(f, f.card, 1);
      const wrong: ConsumptionTypedData = { ...doc, message: { ...doc.message, amount: "14000" } };
      const signedLow = tupleOf(wrong, metamask(f, wrong));
      // the right amount with the signature over another: the digest differs, so the signer does
      const swapped = { ...signedLow, amount: 15_000n };
      const digest = await f.escrow.consumptionDigest(f.card, 1, 15_000n, 0, doc.message.deadline);
      const vs = BigInt(swapped.vs);
      const stranger = ethers.recoverAddress(digest, { r: swapped.r, yParityAndS: ethers.toBeHex(vs, 32) });
      await expect(f.escrow.connect(f.schoolAcct).consume(swapped))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
        .withArgs(f.card, stranger, f.holder.address);
    });
  });

  describe("when the holder signed the voucher for another merchant", () => {
    it("the escrow refuses it: it hashes the card's merchant (the card id's high 32 bits), so the signer is not the holder", async () => {
      const f = await loadFixture(walletCards);
      const doc = await documentFor(f, f.card, 1);
      const elsewhere: ConsumptionTypedData = { ...doc, message: { ...doc.message, merchantId: f.pet } };
      const tuple = tupleOf(elsewhere, await viem(f, elsewhere));
      const digest = await f.escrow.consumptionDigest(f.card, 1, 15_000n, 0, doc.message.deadline);
      const recovered = ethers.recoverAddress(digest, { r: tuple.r, yParityAndS: tuple.vs });
      expect(recovered).to.not.equal(f.holder.address);
      await expect(f.escrow.connect(f.schoolAcct).consume(tuple))
        .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidSigner")
        .withArgs(f.card, recovered, f.holder.address);
      // and the merchant it names cannot use it either: the card is not its own
      await expect(f.escrow.connect(f.petAcct).consume(tuple))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotMerchant")
        .withArgs(f.school, f.petAcct.address);
      expect((await f.escrow.cardOf(f.card)).unitsUsed).to.equal(0n);
    });
  });

  describe("when the voucher is for a card's last lessons", () => {
    it("it releases the remainder the rounding left, and the holder signs exactly that", async () => {
      const f = await loadFixture(walletCards);
      // 1,000 fen over 7 lessons: 142 for the first, rounded down; the last takes what is left
      const released: bigint[] = [];
      for (let i = 0; i < 6; i++) {
        const doc = await documentFor(f, f.odd, 1);
        const rc = await (await f.escrow.connect(f.schoolAcct).consume(tupleOf(doc, i % 2 ? metamask(f, doc) : await viem(f, doc)))).wait();
        released.push(BigInt(doc.message.amount));
        expect(rc!.logs.map((l) => f.escrow.interface.parseLog(l)).find((e) => e?.name === "LessonsConsumed")!.args.amount).to.equal(BigInt(doc.message.amount));
      }
      const last = await documentFor(f, f.odd, 1);
      const remainder = 1_000n - released.reduce((a, b) => a + b, 0n);
      expect(BigInt(last.message.amount)).to.equal(remainder);
      expect(remainder).to.equal(143n);
      const even: ConsumptionTypedData = { ...last, message: { ...last.message, amount: "142" } };
      await expect(f.escrow.connect(f.schoolAcct).consume(tupleOf(even, metamask(f, even))))
        .to.be.revertedWithCustomError(f.escrow, "Custody_VoucherAmountMismatch")
        .withArgs(f.odd, 142n, remainder);
      await expect(f.escrow.connect(f.schoolAcct).consume(tupleOf(last, metamask(f, last))))
        .to.emit(f.escrow, "LessonsConsumed").withArgs(f.odd, 1, remainder, 6);
      const c = await f.escrow.cardOf(f.odd);
      expect([c.held, c.unitsLeft]).to.deep.equal([0n, 0n]);
      await expectConservation(f);
    });
  });
});
