import { expect } from "chai";
import { planStep, rangesAhead } from "../../src/sync/indexer";

/** The indexer's choice of what to read next, on its own: no chain, no database. */
describe("the indexer's next range (planStep, rangesAhead)", () => {
  it("does nothing at the head (the chain final up to `target`)", () => {
    expect(planStep(101, 100, 2_000, undefined)).to.deep.equal({ kind: "at-head" });
  });

  it("uses the range read ahead when it starts here and is still final", () => {
    const ahead = { from: 51, to: 80, result: "read" };
    expect(planStep(51, 100, 2_000, ahead)).to.deep.equal({ kind: "use-ahead", ahead });
  });

  it("reads afresh when the range read ahead starts elsewhere or is past a lowered target (a shorter chain)", () => {
    expect(planStep(51, 100, 20, { from: 60, to: 70 })).to.deep.equal({ kind: "read", from: 51, to: 70 });
    expect(planStep(51, 75, 2_000, { from: 51, to: 80 })).to.deep.equal({ kind: "read", from: 51, to: 75 });
  });

  it("reads at most `range` blocks, never past the target", () => {
    expect(planStep(1, 10_000, 2_000, undefined)).to.deep.equal({ kind: "read", from: 1, to: 2_000 });
    expect(planStep(9_001, 10_000, 2_000, undefined)).to.deep.equal({ kind: "read", from: 9_001, to: 10_000 });
  });

  it("reads ahead contiguous ranges up to the room left and the target", () => {
    expect(rangesAhead(100, 10_000, 2_000, 2)).to.deep.equal([{ from: 101, to: 2_100 }, { from: 2_101, to: 4_100 }]);
    expect(rangesAhead(100, 2_500, 2_000, 3)).to.deep.equal([{ from: 101, to: 2_100 }, { from: 2_101, to: 2_500 }]);
    expect(rangesAhead(100, 100, 2_000, 3)).to.deep.equal([]);
    expect(rangesAhead(100, 10_000, 2_000, 0)).to.deep.equal([]); // stopping, or the read-ahead is full
  });
});
