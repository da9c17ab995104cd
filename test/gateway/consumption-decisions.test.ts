import { expect } from "chai";
import { AcceptCard, decideAcceptance, groupSize } from "../../src/services/consumptions";
import { SignedVoucher } from "../../src/chain/vouchers";

/**
 * The consumption queue's acceptance decision on its own: which of a group of requests are stored and why the others
 * are refused. No chain and no database: the cards are given as the index would read them, the signers as recovered.
 */
const HOLDER = "0x00000000000000000000000000000000000000b0";
const OTHER = "0x00000000000000000000000000000000000000c0";
const MERCHANT = 7;
const CARD = ((BigInt(MERCHANT) << 32n) + 1n);
const NOW = 1_760_000_000;

const card = (over: Partial<AcceptCard> = {}): AcceptCard => ({
  card_id: CARD.toString(), holder: HOLDER, merchant_id: String(MERCHANT), units_used: 2, units_left: 8, held: "8000", status: "active", kind: "lesson", next: null, pending_amount: null, ...over,
});
const voucher = (sequence: number, lessons: number, over: Partial<SignedVoucher> = {}): SignedVoucher => ({
  cardId: CARD, lessons, amount: BigInt(lessons) * 1000n, sequence, deadline: NOW + 3600, v: 27, r: "0x01", s: "0x02", ...over,
});
const cards = (c: AcceptCard) => new Map([[c.card_id, c]]);

describe("the consumption queue's acceptance decision (decideAcceptance)", () => {
  it("accepts a voucher that continues the card's sequence, as a queue row", () => {
    const [d] = decideAcceptance([{ merchantId: MERCHANT, vouchers: [voucher(2, 3)] }], cards(card()), [HOLDER], NOW);
    expect(d).to.deep.equal({ rows: [{ merchant_id: "7", card_id: CARD.toString(), sequence: 2, lessons: 3, amount: "3000", deadline: NOW + 3600, v: 27, r: "0x01", s: "0x02" }] });
  });

  it("counts the requests accepted before it in the group, and the vouchers still queued", () => {
    const ds = decideAcceptance(
      [{ merchantId: MERCHANT, vouchers: [voucher(4, 1)] }, { merchantId: MERCHANT, vouchers: [voucher(5, 2)] }],
      cards(card({ next: 4, pending_amount: "2000" })), [HOLDER, HOLDER], NOW,
    );
    expect(ds.map((d) => "rows" in d)).to.deep.equal([true, true]);
  });

  it("refuses an amount that is not the share the lessons release, or a voucher naming another merchant", () => {
    const [d] = decideAcceptance([{ merchantId: MERCHANT, vouchers: [voucher(2, 3, { amount: 3001n })] }], cards(card()), [HOLDER], NOW);
    expect(d).to.deep.equal({ problems: [{ field: "body.vouchers.0.amount", reason: `3 lessons of card ${CARD} at sequence 2 release 3000 fen, the voucher says 3001` }] });
    const [other] = decideAcceptance([{ merchantId: MERCHANT, vouchers: [{ ...voucher(2, 1), merchantId: 8 }] }], cards(card()), [HOLDER], NOW);
    expect(other && "problems" in other ? other.problems.map((p) => p.field) : []).to.deep.equal(["body.vouchers.0.merchantId"]);
  });

  it("refuses a whole request for one bad voucher, naming each problem; the next request is checked without it", () => {
    const [bad, next] = decideAcceptance(
      [{ merchantId: MERCHANT, vouchers: [voucher(2, 1), voucher(3, 9, { deadline: NOW })] }, { merchantId: MERCHANT, vouchers: [voucher(2, 1)] }],
      cards(card()), [HOLDER, OTHER, HOLDER], NOW,
    );
    expect(bad).to.deep.equal({ problems: [
      { field: "body.vouchers.1.deadline", reason: `the voucher expired at ${NOW}` },
      { field: "body.vouchers.1.signature", reason: `not signed by the card's holder ${HOLDER}` },
      { field: "body.vouchers.1.lessons", reason: "only 7 lessons left on card " + CARD.toString() },
    ] });
    expect(next && "rows" in next).to.equal(true);
  });

  it("refuses another merchant's card, an unknown card, a periodic or a refunded one", () => {
    const problems = (c: AcceptCard | null, merchantId = MERCHANT) => {
      const [d] = decideAcceptance([{ merchantId, vouchers: [voucher(2, 1)] }], c ? cards(c) : new Map(), [HOLDER], NOW);
      return d && "problems" in d ? d.problems.map((p) => p.reason) : [];
    };
    expect(problems(card(), 8)).to.deep.equal([`card ${CARD} belongs to merchant 7`]);
    expect(problems(null)).to.deep.equal([`no card ${CARD} in the index`]);
    expect(problems(card({ kind: "periodic" }))).to.deep.equal(["a periodic card is released by time, not by vouchers"]);
    expect(problems(card({ status: "refunded" }))).to.deep.equal([`card ${CARD} is refunded`]);
  });
});

describe("the consumption queue's grouping (groupSize)", () => {
  it("takes requests in order up to the voucher limit, and always at least one", () => {
    expect(groupSize([500, 500, 4_000, 10], 5_000)).to.equal(3);
    expect(groupSize([6_000, 1], 5_000)).to.equal(1);
    expect(groupSize([], 5_000)).to.equal(0);
  });
});
