import { expect } from "chai";
import { ChainEvent } from "../../src/chain/events";
import { applyBatch, newProjectionCache, touchedBy } from "../../src/indexing/projector";

/**
 * The projector's decisions on their own: events applied to the state in memory, the values to write out. No chain,
 * no database: the events are written here as the decoder gives them.
 */
const ESCROW = "0x00000000000000000000000000000000000000e5";
const REGISTRY = "0x00000000000000000000000000000000000000a1";
const HOLDER = "0x00000000000000000000000000000000000000b0";
const MERCHANT = 7;
const CARD = ((BigInt(MERCHANT) << 32n) + 1n).toString(); // a card id carries its merchant's
const times = { get: (block: number) => 1_760_000_000 + block * 10 };

let logIndex = 0;
const ev = (event: string, blockNumber: number, args: ChainEvent["args"], contract = ESCROW): ChainEvent => ({
  event, contract, blockNumber, blockHash: `0x${String(blockNumber).padStart(64, "0")}`, txHash: `0x${String(blockNumber * 100 + logIndex).padStart(64, "0")}`,
  txIndex: 0, logIndex: logIndex++, args,
});

const admitted = () => ev("MerchantAdmitted", 1, { merchantId: MERCHANT, account: "0x00000000000000000000000000000000000000AB", industryId: 1, bankId: 1, registryRef: "0x01" }, REGISTRY);
const purchased = () => ev("CardPurchased", 2, {
  cardId: CARD, merchantId: MERCHANT, holder: HOLDER, planIndex: 0, kind: 1, named: true, units: 10, custodied: "80000", direct: "20000", price: "100000",
  startedAt: 1_760_000_020, expiresAt: 0,
});
const consumed = (lessons: number, amount: string, sequence: number) => ev("LessonsConsumed", 3, { cardId: CARD, lessons, amount, sequence });

const rows = (json: string | null) => (json === null ? [] : (JSON.parse(json) as Record<string, unknown>[]));

describe("the projector's decisions (applyBatch)", () => {
  it("names the merchants and cards a batch touches, a card's merchant included", () => {
    const t = touchedBy([purchased(), consumed(1, "8000", 0)]);
    expect([...t.cardIds]).to.deep.equal([CARD]);
    expect([...t.merchantIds]).to.deep.equal([MERCHANT]);
  });

  it("admits a merchant, opens its card with the whole price in custody, and releases a lesson's share", () => {
    const cache = newProjectionCache();
    const v = applyBatch(cache, [admitted(), purchased(), consumed(2, "16000", 0)], times, { copy: false });
    const [m] = rows(v.merchantsJson);
    expect(m).to.include({ merchant_id: MERCHANT, status: "active", paid_in: "100000", direct: "20000", released: "16000", card_count: 1 });
    const [c] = rows(v.freshCardsJson);
    expect(c).to.include({ card_id: CARD, holder: HOLDER, kind: "lesson", held: "64000", units_left: 8, units_used: 2, released: "16000", status: "active" });
    expect(v.changedCardsJson).to.equal(null); // a card first seen in this batch is inserted, not updated
    const [ledgerRows] = v.ledgerValues as [string, string, string[]];
    expect(rows(ledgerRows).map((r) => r.e)).to.deep.equal(["MerchantAdmitted", "CardPurchased", "LessonsConsumed"]);
    // The cache now holds the state, so the next batch reads nothing again.
    expect(cache.merchants.get(MERCHANT)?.released).to.equal(16000n);
  });

  it("updates a card stored by an earlier batch, and marks it consumed when its last lesson is released", () => {
    const cache = newProjectionCache();
    applyBatch(cache, [admitted(), purchased()], times, { copy: false });
    const v = applyBatch(cache, [consumed(10, "80000", 0)], times, { copy: false });
    expect(v.freshCardsJson).to.equal(null);
    const [c] = rows(v.changedCardsJson);
    expect(c).to.include({ i: CARD, s: "consumed", h: "0", l: 0, u: 10, r: "80000" });
  });

  it("writes the ledger as COPY lines when asked, and refuses a batch out of chain order", () => {
    const cache = newProjectionCache();
    const v = applyBatch(cache, [admitted(), purchased()], times, { copy: true });
    expect(v.ledgerValues).to.equal(null);
    expect(v.copyData?.trim().split("\n")).to.have.length(2);
    const later = { ...admitted(), blockNumber: 5 };
    const earlier = { ...admitted(), blockNumber: 4, args: { ...admitted().args, merchantId: MERCHANT + 1 } };
    expect(() => applyBatch(newProjectionCache(), [later, earlier], times, { copy: true })).to.throw(/not in chain order/);
  });

  it("stops on an event for a merchant it has never seen admitted", () => {
    expect(() => applyBatch(newProjectionCache(), [consumed(1, "8000", 0)], times, { copy: false })).to.throw(/never seen/);
  });
});
