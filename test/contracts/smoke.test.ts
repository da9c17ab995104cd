import { expect } from "chai";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { deployFixture, buy, voucher, voucherArg } from "./fixture";

describe("smoke", () => {
  it("buys a card, consumes a lesson, pays out", async () => {
    const f = await loadFixture(deployFixture);
    const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
    expect(await f.tokenA.balanceOf(await f.escrow.getAddress())).to.equal(300_000n);
    const v = await voucher(f.escrow, f.alice, cardId, 1, 0);
    await expect(f.escrow.connect(f.schoolAcct).consume(voucherArg(v))).to.emit(f.escrow, "LessonsConsumed").withArgs(cardId, 1, 15_000n, 0);
    await f.escrow.connect(f.schoolAcct).payOut(f.school);
    expect(await f.tokenA.totalSupply()).to.equal(285_000n);
  });
});
