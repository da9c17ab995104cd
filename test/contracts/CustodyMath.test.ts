import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import fc from "fast-check";
import { CustodyMathHarness__factory } from "../../typechain-types";

const MAX_UINT256 = ethers.MaxUint256;

async function harnessFixture() {
  const [deployer] = await ethers.getSigners();
  const math = await new CustodyMathHarness__factory(deployer).deploy();
  await math.waitForDeployment();
  return { math };
}

describe("CustodyMath", () => {
  describe("split", () => {
    describe("when custody is 100%", () => {
      it("it custodies the whole price", async () => {
        const { math } = await loadFixture(harnessFixture);
        const [custodied, direct] = await math.split(300_000n, 10_000n);
        expect(custodied).to.equal(300_000n);
        expect(direct).to.equal(0n);
      });
    });

    describe("when custody is 0%", () => {
      it("it pays the whole price straight to the merchant", async () => {
        const { math } = await loadFixture(harnessFixture);
        const [custodied, direct] = await math.split(300_000n, 0n);
        expect(custodied).to.equal(0n);
        expect(direct).to.equal(300_000n);
      });
    });

    describe("when the custodied share divides exactly", () => {
      it("it splits 40% / 60%", async () => {
        const { math } = await loadFixture(harnessFixture);
        const [custodied, direct] = await math.split(90_000n, 4_000n);
        expect(custodied).to.equal(36_000n);
        expect(direct).to.equal(54_000n);
      });
    });

    describe("when the custodied share has a fraction of a fen", () => {
      it("it rounds the custodied share up (the consumer's side)", async () => {
        const { math } = await loadFixture(harnessFixture);
        // 1,001 fen at 40% = 400.4 fen: 401 custodied, 600 direct.
        const [custodied, direct] = await math.split(1_001n, 4_000n);
        expect(custodied).to.equal(401n);
        expect(direct).to.equal(600n);
      });

      it("it custodies one fen of a one-fen price at 1 bp", async () => {
        const { math } = await loadFixture(harnessFixture);
        const [custodied, direct] = await math.split(1n, 1n);
        expect(custodied).to.equal(1n);
        expect(direct).to.equal(0n);
      });
    });

    describe("when the price is zero", () => {
      it("it returns zero for both shares", async () => {
        const { math } = await loadFixture(harnessFixture);
        const [custodied, direct] = await math.split(0n, 4_000n);
        expect(custodied).to.equal(0n);
        expect(direct).to.equal(0n);
      });
    });

    describe("when price * bps overflows", () => {
      it("it reverts with an arithmetic panic", async () => {
        const { math } = await loadFixture(harnessFixture);
        await expect(math.split(MAX_UINT256, 2n)).to.be.revertedWithPanic(0x11);
      });
    });

    it("custodied + direct == price and custodied == ceil(price * bps / 10000), for any price and bps", async () => {
      const { math } = await loadFixture(harnessFixture);
      await fc.assert(
        fc.asyncProperty(fc.bigInt({ min: 0n, max: 2n ** 48n - 1n }), fc.integer({ min: 0, max: 10_000 }), async (price, bps) => {
          const [custodied, direct] = await math.split(price, bps);
          expect(custodied + direct).to.equal(price);
          expect(custodied).to.equal((price * BigInt(bps) + 9_999n) / 10_000n);
        }),
        { numRuns: 60 },
      );
    });
  });

  describe("share", () => {
    describe("when the units released are fewer than the units left", () => {
      it("it rounds down", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.share(1_000n, 7n, 1n)).to.equal(142n);
        expect(await math.share(1_000n, 7n, 3n)).to.equal(428n);
        expect(await math.share(300_000n, 20n, 1n)).to.equal(15_000n);
      });
    });

    describe("when the units released are all the units left", () => {
      it("it returns the whole balance (the last unit takes the remainder)", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.share(143n, 1n, 1n)).to.equal(143n);
        expect(await math.share(1_000n, 7n, 7n)).to.equal(1_000n);
      });
    });

    describe("when more units are asked than are left", () => {
      it("it still returns no more than the balance", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.share(500n, 3n, 9n)).to.equal(500n);
      });
    });

    describe("when the balance is zero", () => {
      it("it returns zero", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.share(0n, 5n, 2n)).to.equal(0n);
      });
    });

    describe("when no units are left", () => {
      it("it returns the balance without dividing by zero", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.share(0n, 0n, 0n)).to.equal(0n);
        expect(await math.share(7n, 0n, 0n)).to.equal(7n);
      });
    });

    it("7 lessons for 1,000 fen, one at a time: 142 then 143 six times, summing exactly to 1,000", async () => {
      const { math } = await loadFixture(harnessFixture);
      const shares = await math.shareSchedule(1_000n, 7n, 1n);
      expect(shares).to.deep.equal([142n, 143n, 143n, 143n, 143n, 143n, 143n]);
      expect(shares.reduce((a, b) => a + b, 0n)).to.equal(1_000n);
    });

    it("the shares of any card add up exactly to its balance, whatever the step", async () => {
      const { math } = await loadFixture(harnessFixture);
      await fc.assert(
        fc.asyncProperty(
          fc.bigInt({ min: 0n, max: 2n ** 40n - 1n }),
          fc.integer({ min: 1, max: 60 }),
          fc.integer({ min: 1, max: 10 }),
          async (held, units, step) => {
            const shares = await math.shareSchedule(held, units, step);
            expect(shares.reduce((a, b) => a + b, 0n)).to.equal(held);
            // Rounding down never releases more than the exact pro-rata amount of the balance still held.
            let left = held;
            let unitsLeft = BigInt(units);
            for (const s of shares) {
              const take = BigInt(step) < unitsLeft ? BigInt(step) : unitsLeft;
              expect(s * unitsLeft).to.be.lte(left * take);
              left -= s;
              unitsLeft -= take;
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  });

  describe("periodsDue", () => {
    const start = 1_700_000_000n;
    const month = 30n * 86_400n;

    describe("when now is at or before the start", () => {
      it("it returns zero", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.periodsDue(start, month, 0n, 3n, start)).to.equal(0n);
        expect(await math.periodsDue(start, month, 0n, 3n, start - 1n)).to.equal(0n);
      });
    });

    describe("when less than a whole period has elapsed", () => {
      it("it returns zero", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.periodsDue(start, month, 0n, 3n, start + month - 1n)).to.equal(0n);
      });
    });

    describe("when whole periods have elapsed", () => {
      it("it counts only whole periods", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.periodsDue(start, month, 0n, 3n, start + month)).to.equal(1n);
        expect(await math.periodsDue(start, month, 0n, 3n, start + 2n * month + 5n)).to.equal(2n);
      });

      it("it subtracts the periods already released", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.periodsDue(start, month, 1n, 2n, start + 2n * month)).to.equal(1n);
        expect(await math.periodsDue(start, month, 2n, 1n, start + 2n * month)).to.equal(0n);
      });
    });

    describe("when more periods have elapsed than the card has", () => {
      it("it caps at the periods left", async () => {
        const { math } = await loadFixture(harnessFixture);
        expect(await math.periodsDue(start, month, 0n, 3n, start + 100n * month)).to.equal(3n);
        expect(await math.periodsDue(start, month, 1n, 2n, start + 100n * month)).to.equal(2n);
        expect(await math.periodsDue(start, month, 3n, 0n, start + 100n * month)).to.equal(0n);
      });
    });

    describe("when the period is zero and time has passed", () => {
      it("it reverts with a division panic (the escrow never stores such a card)", async () => {
        const { math } = await loadFixture(harnessFixture);
        await expect(math.periodsDue(start, 0n, 0n, 3n, start + 1n)).to.be.revertedWithPanic(0x12);
      });
    });
  });
});
