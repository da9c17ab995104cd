import { expect } from "chai";
import { classifyIncluded, overdue, pickBatches, planRefusal } from "../../src/services/consumptionPlan";

/** The consumption queue's decisions without a chain or a database. */
describe("consumption queue decisions (pure)", () => {
  const row = (id: number, card: string) => ({ id: String(id), card_id: card });

  describe("the next batch of each merchant", () => {
    it("takes a merchant's oldest vouchers up to the batch size, the rest waits", () => {
      const waiting = new Map([["7", [row(1, "a"), row(2, "b"), row(3, "c")]]]);
      const { batches, kept } = pickBatches(waiting, new Set(), 2);
      expect(batches).to.deep.equal([["7", [row(1, "a"), row(2, "b")]]]);
      expect(kept.get("7")).to.deep.equal([row(3, "c")]);
    });

    it("skips the cards with a batch in flight, keeps a card's vouchers together in one batch", () => {
      const waiting = new Map([["7", [row(1, "a"), row(2, "b"), row(3, "a"), row(4, "c")]]]);
      const { batches, kept } = pickBatches(waiting, new Set(["b"]), 10);
      expect(batches).to.deep.equal([["7", [row(1, "a"), row(3, "a"), row(4, "c")]]]);
      expect(kept.get("7")).to.deep.equal([row(2, "b")]);
    });

    it("one batch per merchant; a merchant with nothing to send has none and keeps its list", () => {
      const waiting = new Map([["1", [row(1, "a")]], ["2", [row(2, "b")]], ["3", []]]);
      const { batches, kept } = pickBatches(waiting, new Set(["b"]), 10);
      expect(batches.map(([m]) => m)).to.deep.equal(["1"]);
      expect(kept.has("2")).to.equal(false); // nothing picked: its waiting list is left as it is
      expect(kept.get("1")).to.deep.equal([]);
    });
  });

  describe("a batch the escrow refused", () => {
    const batch = [row(1, "a"), row(2, "b"), row(3, "a")];
    it("not the contract's refusal: the batch waits for the next round", () => {
      expect(planRefusal(batch, null)).to.deep.equal({ kind: "retry" });
    });
    it("a refusal naming no card fails the whole batch", () => {
      expect(planRefusal(batch, { name: "Custody_MerchantFrozen", cardId: null })).to.deep.equal({ kind: "failAll" });
    });
    it("a card's refusal drops that card's vouchers and sends the rest; a sequence mismatch is settled against the index first", () => {
      expect(planRefusal(batch, { name: "Custody_VoucherExpired", cardId: "a" })).to.deep.equal({
        kind: "drop", cardId: "a", settle: false, bad: [row(1, "a"), row(3, "a")], rest: [row(2, "b")],
      });
      const seq = planRefusal(batch, { name: "Custody_SequenceMismatch", cardId: "b" });
      expect(seq).to.deep.include({ kind: "drop", settle: true });
    });
  });

  describe("batches found in indexed blocks", () => {
    it("confirmed with events in the index or a successful receipt; reverted otherwise", () => {
      const out = classifyIncluded(["0x1", "0x2", "0x3", "0x4"], new Set(["0x1"]), new Map([["0x2", 1], ["0x3", 0], ["0x4", null]]));
      expect(out).to.deep.equal({ confirmed: ["0x1", "0x2"], reverted: ["0x3", "0x4"] });
    });
    it("asks the node about batches in flight too long and not found in a block", () => {
      const inFlight = new Map([["0x1", { since: 0 }], ["0x2", { since: 9_000 }], ["0x3", { since: 0 }]]);
      expect(overdue(inFlight, new Set(["0x3"]), 10_000, 5_000)).to.deep.equal(["0x1"]);
    });
  });
});
