import { expect } from "chai";
import {
  RangeState, afterAnswer, afterRefusal, blocksToSample, commonAncestor, cutBySample, nextRange, readAheadPlan, stepStart,
} from "../../src/sync/indexerPlan";

/** The indexer's decisions without a chain or a database: each case is what the node said and what follows. */
describe("indexer decisions (pure)", () => {
  const limits = { maxRange: 50_000, targetLogs: 5_000 };
  const fresh: RangeState = { range: 2_000, ceiling: null, lastLogs: null };

  describe("range size", () => {
    it("doubles a sparse range up to the maximum, shrinks a dense one to about the target", () => {
      expect(afterAnswer(fresh, { from: 1, to: 2_000, logs: 100 }, limits)).to.deep.equal({ range: 4_000, ceiling: null, lastLogs: 100 });
      expect(afterAnswer({ ...fresh, range: 40_000 }, { from: 1, to: 40_000, logs: 0 }, limits).range).to.equal(50_000);
      expect(afterAnswer(fresh, { from: 1, to: 2_000, logs: 20_000 }, limits).range).to.equal(500);
      // Between half and twice the target: unchanged.
      expect(afterAnswer(fresh, { from: 1, to: 2_000, logs: 5_000 }, limits).range).to.equal(2_000);
      expect(afterAnswer({ ...fresh, range: 1 }, { from: 7, to: 7, logs: 1_000_000 }, limits).range).to.equal(1);
    });

    it("after a refusal: a quarter of the byte limit when the size is known, half the span otherwise, and a ceiling", () => {
      const bytes = afterRefusal(fresh, { from: 100, to: 1_099, bytes: 64 * 1024 * 1024 }, 16 * 1024 * 1024);
      expect(bytes.range).to.equal(62); // 1,000 blocks * 16 MiB / 4 / 64 MiB
      expect(bytes.ceiling).to.deep.equal({ until: 1_099, span: 62 });
      const halved = afterRefusal(fresh, { from: 100, to: 1_099 }, 16 * 1024 * 1024);
      expect(halved.range).to.equal(500);
      // Never more than half the refused span, never less than one block.
      expect(afterRefusal(fresh, { from: 1, to: 10, bytes: 1 }, 16 * 1024 * 1024).range).to.equal(5);
      expect(afterRefusal(fresh, { from: 1, to: 2 }, 16).range).to.equal(1);
    });

    it("does not grow back past the ceiling inside the refused stretch, and forgets it after", () => {
      const refused = afterRefusal(fresh, { from: 100, to: 1_099 }, 16 * 1024 * 1024);
      const inside = afterAnswer(refused, { from: 100, to: 599, logs: 0 }, limits);
      expect(inside.range).to.equal(500);
      expect(inside.ceiling).to.deep.equal({ until: 1_099, span: 500 });
      const past = afterAnswer(inside, { from: 600, to: 1_099, logs: 0 }, limits);
      expect(past.ceiling).to.equal(null);
      expect(past.range).to.equal(1_000);
    });

    it("a second refusal keeps the lower ceiling and the further end", () => {
      const a = afterRefusal(fresh, { from: 1, to: 1_000 }, 1_000);
      const b = afterRefusal(a, { from: 1, to: 500, bytes: 4_000 }, 1_000);
      expect(b.ceiling).to.deep.equal({ until: 1_000, span: b.range });
      expect(b.range).to.be.below(a.range);
    });
  });

  describe("sampling a long range before reading it", () => {
    it("samples only a long range after a sparse answer (or none yet)", () => {
      expect(blocksToSample(fresh, { from: 1, to: 1_000 }, 8, 5_000)).to.have.length(8);
      expect(blocksToSample(fresh, { from: 1, to: 16 }, 8, 5_000)).to.deep.equal([]);
      expect(blocksToSample({ ...fresh, lastLogs: 4_000 }, { from: 1, to: 1_000 }, 8, 5_000)).to.deep.equal([]);
      expect(blocksToSample(fresh, { from: 1, to: 1_000 }, 0, 5_000)).to.deep.equal([]);
    });

    it("spreads the samples over the range, each in its middle", () => {
      expect(blocksToSample(fresh, { from: 101, to: 180 }, 4, 5_000)).to.deep.equal([111, 131, 151, 171]);
    });

    it("cuts the range where the samples promise about the target, and leaves a quiet one whole", () => {
      // 8 samples of 1,000 logs over 10,000 blocks: 10 M logs expected, 5 blocks hold the target.
      expect(cutBySample({ from: 1, to: 10_000 }, Array(8).fill(1_000), 5_000)).to.deep.equal({ to: 5, range: 5 });
      expect(cutBySample({ from: 1, to: 10_000 }, Array(8).fill(0), 5_000)).to.deep.equal({ to: 10_000, range: null });
      expect(cutBySample({ from: 1, to: 10_000 }, [], 5_000)).to.deep.equal({ to: 10_000, range: null });
      // Exactly twice the target expected: read whole.
      expect(cutBySample({ from: 1, to: 1_000 }, [10], 5_000)).to.deep.equal({ to: 1_000, range: null });
    });
  });

  describe("the start of a step", () => {
    const cp = { number: 120, hash: "0xc" };
    it("goes back when the chain came back shorter than the index", () => {
      expect(stepStart({ checkpoint: cp, head: 80, startBlock: 0, linked: false })).to.deep.equal({ kind: "rewind", toBlock: 80 });
    });
    it("checks the block it stopped at unless a range read ahead links to it", () => {
      expect(stepStart({ checkpoint: cp, head: 200, startBlock: 0, linked: false })).to.deep.equal({ kind: "verify", block: cp });
      expect(stepStart({ checkpoint: cp, head: 200, startBlock: 0, linked: true })).to.deep.equal({ kind: "go" });
    });
    it("a new index, or a checkpoint before the start block, has nothing to check", () => {
      expect(stepStart({ checkpoint: null, head: 200, startBlock: 0, linked: false })).to.deep.equal({ kind: "go" });
      expect(stepStart({ checkpoint: { number: 9, hash: "0x9" }, head: 200, startBlock: 10, linked: false })).to.deep.equal({ kind: "go" });
    });
  });

  describe("the next range", () => {
    it("at the head: nothing to read, and the lag", () => {
      expect(nextRange({ from: 101, target: 100, range: 50, firstAhead: null })).to.deep.equal({ kind: "atHead", lag: 0 });
    });
    it("uses the range read ahead when it starts here and is final, else reads up to the target", () => {
      expect(nextRange({ from: 101, target: 500, range: 50, firstAhead: { from: 101, to: 150 } })).to.deep.equal({ kind: "ahead" });
      expect(nextRange({ from: 101, target: 140, range: 50, firstAhead: { from: 101, to: 150 } })).to.deep.equal({ kind: "read", from: 101, to: 140 });
      expect(nextRange({ from: 101, target: 500, range: 50, firstAhead: { from: 90, to: 150 } })).to.deep.equal({ kind: "read", from: 101, to: 150 });
    });
    it("reads ahead after the current range, dropping ranges that no longer follow it", () => {
      expect(readAheadPlan({ current: { from: 1, to: 100 }, ahead: [], target: 1_000, range: 100, readAhead: 2 }))
        .to.deep.equal({ keep: false, add: [{ from: 101, to: 200 }, { from: 201, to: 300 }] });
      expect(readAheadPlan({ current: { from: 1, to: 100 }, ahead: [{ from: 101, to: 200 }], target: 1_000, range: 100, readAhead: 2 }))
        .to.deep.equal({ keep: true, add: [{ from: 201, to: 300 }] });
      // Read shorter than asked (to 60): the range read ahead from 101 leaves a gap and is dropped.
      expect(readAheadPlan({ current: { from: 1, to: 60 }, ahead: [{ from: 101, to: 200 }], target: 1_000, range: 100, readAhead: 1 }))
        .to.deep.equal({ keep: false, add: [{ from: 61, to: 160 }] });
      // Never past the target; nothing when reading ahead is off.
      expect(readAheadPlan({ current: { from: 1, to: 100 }, ahead: [], target: 150, range: 100, readAhead: 3 }).add).to.deep.equal([{ from: 101, to: 150 }]);
      expect(readAheadPlan({ current: { from: 1, to: 100 }, ahead: [], target: 1_000, range: 100, readAhead: 0 }).add).to.deep.equal([]);
    });
  });

  describe("after a reorg", () => {
    it("finds the newest stored block the chain still has", () => {
      const stored = [{ number: 12, hash: "0xb12" }, { number: 11, hash: "0xb11" }, { number: 10, hash: "0xa10" }];
      const chain = new Map([[12, "0xa12"], [11, "0xa11"], [10, "0xa10"]]);
      expect(commonAncestor(stored, chain)).to.equal(10);
      expect(commonAncestor(stored, new Map([[12, "0xb12"]]))).to.equal(12);
      expect(commonAncestor(stored, new Map())).to.equal(null);
    });
  });
});
