import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { CustodyToken__factory, PrepaidEscrow__factory } from "../../typechain-types";
import { CONSUMPTION_TYPES, consumptionDigest, consumptionDomain } from "../../src/chain/vouchers";
import {
  deployFixture, buy, voucher, voucherArg, EDUCATION, FITNESS, PET_CARE, MerchantStatus, RiskLevel, CardStatus,
} from "./fixture";

const UNDEFINED_INDUSTRY = 99;

describe("PrepaidEscrow: admin", () => {
  describe("constructor", () => {
    describe("when the registry is the zero address", () => {
      it("it reverts with Custody_ZeroAddress", async () => {
        const [deployer] = await ethers.getSigners();
        const factory = new PrepaidEscrow__factory(deployer);
        await expect(factory.deploy(ethers.ZeroAddress)).to.be.revertedWithCustomError(factory, "Custody_ZeroAddress");
      });
    });

    describe("when the registry is set", () => {
      it("it records it and starts with no banks and no merchants", async () => {
        const { registry, deployer } = await loadFixture(deployFixture);
        const escrow = await new PrepaidEscrow__factory(deployer).deploy(await registry.getAddress());
        expect(await escrow.registry()).to.equal(await registry.getAddress());
        expect(await escrow.bankCount()).to.equal(0n);
        expect(await escrow.merchantCount()).to.equal(0n);
      });
    });
  });

  describe("EIP-712 domain", () => {
    it("CONSUMPTION_TYPEHASH is the hash of the Consumption type", async () => {
      const { escrow } = await loadFixture(deployFixture);
      expect(await escrow.CONSUMPTION_TYPEHASH()).to.equal(
        ethers.id("Consumption(uint32 merchantId,uint64 cardId,uint16 lessons,uint64 amount,uint16 sequence,uint40 deadline)"),
      );
    });

    it("DOMAIN_SEPARATOR binds vouchers to this chain and this escrow", async () => {
      const { escrow, chainId } = await loadFixture(deployFixture);
      const domain = consumptionDomain(chainId, await escrow.getAddress());
      expect(await escrow.DOMAIN_SEPARATOR()).to.equal(ethers.TypedDataEncoder.hashDomain(domain));
    });

    describe("consumptionDigest", () => {
      it("is the EIP-712 digest a wallet signs (src/chain/vouchers.ts)", async () => {
        const { escrow, chainId } = await loadFixture(deployFixture);
        const message = { merchantId: 1, cardId: (1n << 32n) | 5n, lessons: 3, amount: 45_000n, sequence: 7, deadline: 1_900_000_000 };
        const expected = ethers.TypedDataEncoder.hash(consumptionDomain(chainId, await escrow.getAddress()), CONSUMPTION_TYPES, message);
        expect(await escrow.consumptionDigest(message.cardId, message.lessons, message.amount, message.sequence, message.deadline)).to.equal(expected);
        expect(consumptionDigest(chainId, await escrow.getAddress(), message)).to.equal(expected);
      });

      it("recovers the holder's address from a signed voucher", async () => {
        const f = await loadFixture(deployFixture);
        const v = await voucher(f.escrow, f.alice, 42n, 2, 1, 1_900_000_000, 3_000n);
        const digest = await f.escrow.consumptionDigest(42n, 2, 3_000n, 1, 1_900_000_000);
        expect(ethers.recoverAddress(digest, { r: v.r, s: v.s, v: v.v })).to.equal(f.alice.address);
      });
    });
  });

  describe("read-only views", () => {
    it("bankOf, merchantOf, merchantIdOf and planOf return what was stored", async () => {
      const f = await loadFixture(deployFixture);
      const bank = await f.escrow.bankOf(1);
      expect(bank.account).to.equal(f.bankA.address);
      expect(bank.token).to.equal(await f.tokenA.getAddress());
      expect((await f.escrow.bankOf(9)).account).to.equal(ethers.ZeroAddress);
      const m = await f.escrow.merchantOf(f.gym);
      expect(m.account).to.equal(f.gymAcct.address);
      expect(m.industryId).to.equal(BigInt(FITNESS));
      expect(m.bankId).to.equal(2n);
      expect(m.status).to.equal(BigInt(MerchantStatus.Active));
      expect(m.risk).to.equal(BigInt(RiskLevel.Low));
      expect(m.planCount).to.equal(2n);
      expect(await f.escrow.merchantIdOf(f.petAcct.address)).to.equal(BigInt(f.pet));
      expect(await f.escrow.merchantIdOf(f.stranger.address)).to.equal(0n);
      const plan = await f.escrow.planOf(f.gym, 1);
      expect([plan.kind, plan.active, plan.units, plan.periodSeconds, plan.validityDays, plan.price]).to.deep.equal([
        2n, true, 3n, 30n * 86_400n, 0n, 90_000n,
      ]);
      expect((await f.escrow.planOf(f.gym, 3)).kind).to.equal(0n);
      expect(await f.escrow.bankCount()).to.equal(2n);
      expect(await f.escrow.merchantCount()).to.equal(3n);
    });

    describe("balancesOf", () => {
      it("is zero for a merchant with no cards and for an unknown merchant", async () => {
        const { escrow, school } = await loadFixture(deployFixture);
        expect(await escrow.balancesOf(school)).to.deep.equal([0n, 0n]);
        expect(await escrow.balancesOf(99)).to.deep.equal([0n, 0n]);
      });
    });

    describe("cardStatus", () => {
      it("is None for a card that was never sold", async () => {
        const { escrow, school } = await loadFixture(deployFixture);
        expect(await escrow.cardStatus((BigInt(school) << 32n) | 1n)).to.equal(BigInt(CardStatus.None));
      });

      it("is Consumed once every lesson was released, even if the merchant is frozen later", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 2, f.alice.address);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 7, 0)));
        expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Consumed));
        await f.escrow.connect(f.regulator).freeze(f.school, ethers.ZeroHash);
        expect(await f.escrow.cardStatus(cardId)).to.equal(BigInt(CardStatus.Consumed));
      });
    });
  });

  describe("addBank", () => {
    async function tokenFor(bank: string, escrow: string) {
      const [deployer] = await ethers.getSigners();
      const token = await new CustodyToken__factory(deployer).deploy("Bank C custody fen", "CFC", bank, escrow);
      await token.waitForDeployment();
      return token;
    }

    describe("when the caller is not a platform regulator", () => {
      it("it reverts with Custody_NotPlatformRegulator, even for an industry regulator", async () => {
        const f = await loadFixture(deployFixture);
        const token = await tokenFor(f.stranger.address, await f.escrow.getAddress());
        await expect(f.escrow.connect(f.eduRegulator).addBank(f.stranger.address, await token.getAddress()))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotPlatformRegulator")
          .withArgs(f.eduRegulator.address);
        await expect(f.escrow.connect(f.bankA).addBank(f.stranger.address, await token.getAddress()))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotPlatformRegulator")
          .withArgs(f.bankA.address);
      });
    });

    describe("when the account is the zero address", () => {
      it("it reverts with Custody_ZeroAddress", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).addBank(ethers.ZeroAddress, await f.tokenA.getAddress())).to.be.revertedWithCustomError(
          f.escrow,
          "Custody_ZeroAddress",
        );
      });
    });

    describe("when the token is the zero address", () => {
      it("it reverts with Custody_ZeroAddress", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).addBank(f.stranger.address, ethers.ZeroAddress)).to.be.revertedWithCustomError(
          f.escrow,
          "Custody_ZeroAddress",
        );
      });
    });

    describe("when the token names another bank", () => {
      it("it reverts with Custody_BankTokenMismatch", async () => {
        const f = await loadFixture(deployFixture);
        const escrowAddress = await f.escrow.getAddress();
        const token = await tokenFor(f.bankA.address, escrowAddress);
        await expect(f.escrow.connect(f.regulator).addBank(f.stranger.address, await token.getAddress()))
          .to.be.revertedWithCustomError(f.escrow, "Custody_BankTokenMismatch")
          .withArgs(await token.getAddress(), f.bankA.address, escrowAddress);
      });
    });

    describe("when the token names another escrow as its minter", () => {
      it("it reverts with Custody_BankTokenMismatch", async () => {
        const f = await loadFixture(deployFixture);
        const token = await tokenFor(f.stranger.address, f.deployer.address);
        await expect(f.escrow.connect(f.regulator).addBank(f.stranger.address, await token.getAddress()))
          .to.be.revertedWithCustomError(f.escrow, "Custody_BankTokenMismatch")
          .withArgs(await token.getAddress(), f.stranger.address, f.deployer.address);
      });
    });

    describe("when the token is not a contract", () => {
      it("it reverts (there is no token to ask)", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).addBank(f.stranger.address, f.carol.address)).to.be.revertedWithoutReason();
      });
    });

    describe("when the token names this bank and this escrow", () => {
      it("it adds the bank with the next id and emits BankAdded", async () => {
        const f = await loadFixture(deployFixture);
        const token = await tokenFor(f.stranger.address, await f.escrow.getAddress());
        await expect(f.escrow.connect(f.regulator).addBank(f.stranger.address, await token.getAddress()))
          .to.emit(f.escrow, "BankAdded")
          .withArgs(3, f.stranger.address, await token.getAddress());
        expect(await f.escrow.bankCount()).to.equal(3n);
        const bank = await f.escrow.bankOf(3);
        expect(bank.account).to.equal(f.stranger.address);
        expect(bank.token).to.equal(await token.getAddress());
        // A merchant can be admitted with the new custodian and its cards are minted in the new token.
        await f.escrow.connect(f.regulator).admitMerchant(f.carol.address, FITNESS, 3, ethers.id("carol-gym"));
        await f.escrow.connect(f.carol).publishPlan(4, 1, 5, 0, 0, 10_000n);
        await f.escrow.connect(f.stranger).purchase(4, 1, f.alice.address, true);
        // The whole price: 40% custodied, 60% held back for the cooling-off.
        expect(await token.balanceOf(await f.escrow.getAddress())).to.equal(10_000n);
      });
    });
  });

  describe("admitMerchant", () => {
    describe("when the industry is not defined", () => {
      it("it reverts with Custody_UnknownIndustry", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).admitMerchant(f.stranger.address, UNDEFINED_INDUSTRY, 1, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownIndustry")
          .withArgs(UNDEFINED_INDUSTRY);
      });
    });

    describe("when the caller regulates another industry", () => {
      it("it reverts with Custody_NotRegulatorOf", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.sportsRegulator).admitMerchant(f.stranger.address, EDUCATION, 1, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
          .withArgs(EDUCATION, f.sportsRegulator.address);
      });
    });

    describe("when the industry has no regulator and the caller is an industry regulator", () => {
      it("it reverts with Custody_NotRegulatorOf", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.eduRegulator).admitMerchant(f.stranger.address, PET_CARE, 1, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
          .withArgs(PET_CARE, f.eduRegulator.address);
      });
    });

    describe("when the caller is a bank or holds no role", () => {
      it("it reverts with Custody_NotRegulatorOf", async () => {
        const f = await loadFixture(deployFixture);
        for (const caller of [f.bankA, f.stranger, f.riskOracle]) {
          await expect(f.escrow.connect(caller).admitMerchant(f.stranger.address, FITNESS, 1, ethers.ZeroHash))
            .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
            .withArgs(FITNESS, caller.address);
        }
      });
    });

    describe("when the account is the zero address", () => {
      it("it reverts with Custody_ZeroAddress", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).admitMerchant(ethers.ZeroAddress, FITNESS, 1, ethers.ZeroHash)).to.be.revertedWithCustomError(
          f.escrow,
          "Custody_ZeroAddress",
        );
      });
    });

    describe("when the bank is unknown", () => {
      it("it reverts with Custody_UnknownBank", async () => {
        const f = await loadFixture(deployFixture);
        for (const bankId of [0, 3]) {
          await expect(f.escrow.connect(f.regulator).admitMerchant(f.stranger.address, FITNESS, bankId, ethers.ZeroHash))
            .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownBank")
            .withArgs(bankId);
        }
      });
    });

    describe("when the account is already a merchant", () => {
      it("it reverts with Custody_AccountInUse", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).admitMerchant(f.gymAcct.address, EDUCATION, 1, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_AccountInUse")
          .withArgs(f.gymAcct.address);
      });
    });

    describe("when the industry's own regulator admits", () => {
      it("it admits the merchant Active at low risk and emits MerchantAdmitted", async () => {
        const f = await loadFixture(deployFixture);
        const ref = ethers.id("91110105MA01XXXX");
        await expect(f.escrow.connect(f.eduRegulator).admitMerchant(f.stranger.address, EDUCATION, 2, ref))
          .to.emit(f.escrow, "MerchantAdmitted")
          .withArgs(4, f.stranger.address, EDUCATION, 2, ref);
        expect(await f.escrow.merchantCount()).to.equal(4n);
        expect(await f.escrow.merchantIdOf(f.stranger.address)).to.equal(4n);
        const m = await f.escrow.merchantOf(4);
        expect(m.account).to.equal(f.stranger.address);
        expect(m.industryId).to.equal(BigInt(EDUCATION));
        expect(m.bankId).to.equal(2n);
        expect(m.status).to.equal(BigInt(MerchantStatus.Active));
        expect(m.risk).to.equal(BigInt(RiskLevel.Low));
        expect([m.cardCount, m.planCount, m.paidIn, m.released, m.refunded, m.paidOut]).to.deep.equal([0n, 0n, 0n, 0n, 0n, 0n]);
      });
    });

    describe("when a platform regulator admits into an industry without a regulator", () => {
      it("it admits the merchant", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).admitMerchant(f.stranger.address, PET_CARE, 1, ethers.ZeroHash))
          .to.emit(f.escrow, "MerchantAdmitted")
          .withArgs(4, f.stranger.address, PET_CARE, 1, ethers.ZeroHash);
      });
    });
  });

  describe("restrict", () => {
    describe("when the merchant is unknown", () => {
      it("it reverts with Custody_UnknownMerchant", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).restrict(99, true, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_UnknownMerchant")
          .withArgs(99);
      });
    });

    describe("when the caller regulates another industry", () => {
      it("it reverts with Custody_NotRegulatorOf", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.eduRegulator).restrict(f.gym, true, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
          .withArgs(FITNESS, f.eduRegulator.address);
      });
    });

    describe("when the caller is the merchant's bank", () => {
      it("it reverts with Custody_NotRegulatorOf", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.bankB).restrict(f.gym, true, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf")
          .withArgs(FITNESS, f.bankB.address);
      });
    });

    describe("when restricting an Active merchant", () => {
      it("it makes it Restricted and emits MerchantStatusChanged", async () => {
        const f = await loadFixture(deployFixture);
        const reason = ethers.id("joint interview");
        await expect(f.escrow.connect(f.sportsRegulator).restrict(f.gym, true, reason))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.gym, MerchantStatus.Active, MerchantStatus.Restricted, f.sportsRegulator.address, reason);
        expect((await f.escrow.merchantOf(f.gym)).status).to.equal(BigInt(MerchantStatus.Restricted));
      });

      it("it stops new cards and renewals but service and plan publishing go on", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.eduRegulator).restrict(f.school, true, ethers.ZeroHash);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.bob.address, true))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.Restricted);
        await expect(f.escrow.connect(f.bankA).renew(cardId, 2))
          .to.be.revertedWithCustomError(f.escrow, "Custody_MerchantNotSelling")
          .withArgs(f.school, MerchantStatus.Restricted);
        await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 1, 0))))
          .to.emit(f.escrow, "LessonsConsumed")
          .withArgs(cardId, 1, 15_000n, 0);
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school)).to.emit(f.escrow, "PaidOut");
        await expect(f.escrow.connect(f.schoolAcct).publishPlan(f.school, 1, 10, 0, 30, 10_000n)).to.emit(f.escrow, "PlanPublished");
      });
    });

    describe("when restricting a merchant that is not Active", () => {
      it("it reverts with Custody_InvalidStatusChange", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.regulator).restrict(f.gym, true, ethers.ZeroHash);
        await expect(f.escrow.connect(f.regulator).restrict(f.gym, true, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.gym, MerchantStatus.Restricted, MerchantStatus.Restricted);
        await f.escrow.connect(f.regulator).freeze(f.pet, ethers.ZeroHash);
        await expect(f.escrow.connect(f.regulator).restrict(f.pet, true, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.pet, MerchantStatus.Frozen, MerchantStatus.Restricted);
      });
    });

    describe("when lifting the restriction of a Restricted merchant", () => {
      it("it makes it Active again and sales resume", async () => {
        const f = await loadFixture(deployFixture);
        await f.escrow.connect(f.sportsRegulator).restrict(f.gym, true, ethers.ZeroHash);
        const reason = ethers.id("rectified");
        await expect(f.escrow.connect(f.sportsRegulator).restrict(f.gym, false, reason))
          .to.emit(f.escrow, "MerchantStatusChanged")
          .withArgs(f.gym, MerchantStatus.Restricted, MerchantStatus.Active, f.sportsRegulator.address, reason);
        await expect(f.escrow.connect(f.bankB).purchase(f.gym, 1, f.bob.address, true)).to.emit(f.escrow, "CardPurchased");
      });
    });

    describe("when lifting the restriction of a merchant that is not Restricted", () => {
      it("it reverts with Custody_InvalidStatusChange", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.regulator).restrict(f.gym, false, ethers.ZeroHash))
          .to.be.revertedWithCustomError(f.escrow, "Custody_InvalidStatusChange")
          .withArgs(f.gym, MerchantStatus.Active, MerchantStatus.Active);
      });
    });
  });
});
