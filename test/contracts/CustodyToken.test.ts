import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { CustodyToken__factory } from "../../typechain-types";
import { deployFixture, buy, voucher, voucherArg } from "./fixture";

/** A token whose "escrow" is a plain account, so mint and burn can be driven directly. */
async function standaloneTokenFixture() {
  const [deployer, bank, escrowAcct, holder, stranger] = await ethers.getSigners();
  const token = await new CustodyToken__factory(deployer).deploy("Bank custody fen", "CFX", bank.address, escrowAcct.address);
  await token.waitForDeployment();
  return { token, deployer, bank, escrowAcct, holder, stranger };
}

describe("CustodyToken", () => {
  describe("constructor", () => {
    describe("when the bank is the zero address", () => {
      it("it reverts with CustodyToken_ZeroAddress", async () => {
        const [deployer, escrowAcct] = await ethers.getSigners();
        const factory = new CustodyToken__factory(deployer);
        await expect(factory.deploy("n", "s", ethers.ZeroAddress, escrowAcct.address)).to.be.revertedWithCustomError(
          factory,
          "CustodyToken_ZeroAddress",
        );
      });
    });

    describe("when the escrow is the zero address", () => {
      it("it reverts with CustodyToken_ZeroAddress", async () => {
        const [deployer, bank] = await ethers.getSigners();
        const factory = new CustodyToken__factory(deployer);
        await expect(factory.deploy("n", "s", bank.address, ethers.ZeroAddress)).to.be.revertedWithCustomError(
          factory,
          "CustodyToken_ZeroAddress",
        );
      });
    });

    describe("when both are set", () => {
      it("it records the bank, the escrow, the name and symbol, with two decimals (fen shown as CNY)", async () => {
        const { token, bank, escrowAcct } = await loadFixture(standaloneTokenFixture);
        expect(await token.bank()).to.equal(bank.address);
        expect(await token.escrow()).to.equal(escrowAcct.address);
        expect(await token.name()).to.equal("Bank custody fen");
        expect(await token.symbol()).to.equal("CFX");
        expect(await token.decimals()).to.equal(2n);
        expect(await token.totalSupply()).to.equal(0n);
      });
    });
  });

  describe("mint", () => {
    describe("when the caller is not the escrow", () => {
      it("it reverts with CustodyToken_OnlyEscrow, even for the bank", async () => {
        const { token, bank, escrowAcct, holder } = await loadFixture(standaloneTokenFixture);
        await expect(token.connect(bank).mint(holder.address, 1n))
          .to.be.revertedWithCustomError(token, "CustodyToken_OnlyEscrow")
          .withArgs(bank.address, escrowAcct.address);
      });
    });

    describe("when the caller is the escrow", () => {
      it("it mints and emits Transfer from the zero address", async () => {
        const { token, escrowAcct, holder } = await loadFixture(standaloneTokenFixture);
        await expect(token.connect(escrowAcct).mint(holder.address, 12_345n))
          .to.emit(token, "Transfer")
          .withArgs(ethers.ZeroAddress, holder.address, 12_345n);
        expect(await token.balanceOf(holder.address)).to.equal(12_345n);
        expect(await token.totalSupply()).to.equal(12_345n);
      });
    });

    describe("when the token belongs to the platform's escrow", () => {
      it("it cannot be minted by the bank directly", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.tokenA.connect(f.bankA).mint(f.bankA.address, 1n))
          .to.be.revertedWithCustomError(f.tokenA, "CustodyToken_OnlyEscrow")
          .withArgs(f.bankA.address, await f.escrow.getAddress());
      });

      it("it is minted into the escrow by a purchase", async () => {
        const f = await loadFixture(deployFixture);
        await expect(f.escrow.connect(f.bankA).purchase(f.school, 1, f.alice.address, true))
          .to.emit(f.tokenA, "Transfer")
          .withArgs(ethers.ZeroAddress, await f.escrow.getAddress(), 300_000n);
        expect(await f.tokenA.totalSupply()).to.equal(300_000n);
      });
    });
  });

  describe("burnFromEscrow", () => {
    describe("when the caller is not the escrow", () => {
      it("it reverts with CustodyToken_OnlyEscrow", async () => {
        const { token, stranger, escrowAcct } = await loadFixture(standaloneTokenFixture);
        await expect(token.connect(stranger).burnFromEscrow(1n))
          .to.be.revertedWithCustomError(token, "CustodyToken_OnlyEscrow")
          .withArgs(stranger.address, escrowAcct.address);
      });
    });

    describe("when the escrow holds less than the amount", () => {
      it("it reverts with ERC20InsufficientBalance", async () => {
        const { token, escrowAcct } = await loadFixture(standaloneTokenFixture);
        await token.connect(escrowAcct).mint(escrowAcct.address, 10n);
        await expect(token.connect(escrowAcct).burnFromEscrow(11n))
          .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
          .withArgs(escrowAcct.address, 10n, 11n);
      });
    });

    describe("when the escrow holds enough", () => {
      it("it burns from the escrow's own balance only and emits Transfer to the zero address", async () => {
        const { token, escrowAcct, holder } = await loadFixture(standaloneTokenFixture);
        await token.connect(escrowAcct).mint(escrowAcct.address, 100n);
        await token.connect(escrowAcct).mint(holder.address, 50n);
        await expect(token.connect(escrowAcct).burnFromEscrow(40n))
          .to.emit(token, "Transfer")
          .withArgs(escrowAcct.address, ethers.ZeroAddress, 40n);
        expect(await token.balanceOf(escrowAcct.address)).to.equal(60n);
        expect(await token.balanceOf(holder.address)).to.equal(50n);
        expect(await token.totalSupply()).to.equal(110n);
      });
    });

    describe("when the platform's escrow pays a merchant out", () => {
      it("it burns the released tokens", async () => {
        const f = await loadFixture(deployFixture);
        const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
        await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 2, 0)));
        await expect(f.escrow.connect(f.schoolAcct).payOut(f.school))
          .to.emit(f.tokenA, "Transfer")
          .withArgs(await f.escrow.getAddress(), ethers.ZeroAddress, 30_000n);
        expect(await f.tokenA.totalSupply()).to.equal(270_000n);
      });
    });
  });

  describe("ERC20 transfers", () => {
    it("move minted tokens like any ERC20 (the token is a plain deposit receipt)", async () => {
      const { token, escrowAcct, holder, stranger } = await loadFixture(standaloneTokenFixture);
      await token.connect(escrowAcct).mint(holder.address, 100n);
      await expect(token.connect(holder).transfer(stranger.address, 30n))
        .to.emit(token, "Transfer")
        .withArgs(holder.address, stranger.address, 30n);
      await expect(token.connect(holder).transfer(stranger.address, 71n))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance")
        .withArgs(holder.address, 70n, 71n);
    });
  });
});
