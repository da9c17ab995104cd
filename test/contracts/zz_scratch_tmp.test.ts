import { ethers, network } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { deployFixture } from "./fixture";
describe("scratch", () => {
  it("probe", async () => {
    const f = await loadFixture(deployFixture);
    const b0 = await ethers.provider.getBlockNumber();
    const t0 = (await ethers.provider.getBlock("latest"))!.timestamp;
    await network.provider.send("evm_setNextBlockTimestamp", [t0 + 100]);
    try {
      await f.escrow.connect(f.stranger).payOut(1, { gasLimit: 3_000_000 });
    } catch (e: any) {
      console.log("keys", Object.keys(e), e.code, e.data, e.shortMessage, e.revert?.name);
    }
    const b1 = await ethers.provider.getBlockNumber();
    console.log("mined?", b0, b1, (await ethers.provider.getBlock("latest"))!.timestamp - t0);
    let t = Date.now();
    for (let i = 0; i < 200; i++) await f.escrow.merchantOf(1);
    console.log("eth_call ms", (Date.now() - t) / 200);
    t = Date.now();
    for (let i = 0; i < 50; i++) { await network.provider.send("evm_setNextBlockTimestamp", [t0 + 1000 + i]); await (await f.escrow.connect(f.riskOracle).setRiskLevel(1, 0, ethers.ZeroHash, { gasLimit: 1_000_000 })).wait(); }
    console.log("tx ms", (Date.now() - t) / 50);
    t = Date.now();
    for (let i = 0; i < 20; i++) await loadFixture(deployFixture);
    console.log("loadFixture ms", (Date.now() - t) / 20);
    t = Date.now();
    for (let i = 0; i < 50; i++) await f.alice.signTypedData({ name: "x", version: "1", chainId: 31337, verifyingContract: await f.escrow.getAddress() }, { A: [{ name: "a", type: "uint256" }] }, { a: i });
    console.log("sign ms", (Date.now() - t) / 50);
  });
});
