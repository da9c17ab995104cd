import { expect } from "chai";
import { ChainEvent } from "../../src/chain/events";
import { projectBatch } from "../../src/indexing/projector";
import { queueFilingAlerts } from "../../src/risk/alerts";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";

/**
 * The events of the 2025 rules (issue 20) as the projector turns them into current state: the direct share held
 * through the cooling-off, settled to the merchant or given back; a renewal refunded in its cooling-off; a time-based
 * card's periods started by a check-in; a card transferred by notice; an industry's custody floor. The state must stay
 * the contract's: a merchant's held = paid_in - released - refunded, its cards' held plus their pending direct shares.
 */
for (const engine of engines()) describe(`projector: the 2025 rules' events (${engine.name})`, function () {
  this.timeout(60_000);
  const ESCROW = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512";
  const REGISTRY = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
  const ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
  const BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
  const card = ((1n << 32n) | 1n).toString();
  const periodic = ((1n << 32n) | 2n).toString();
  let n = 0;
  const ev = (event: string, contract: string, args: ChainEvent["args"], block: number): ChainEvent => ({
    event, contract, blockNumber: block, blockHash: "0x" + block.toString(16).padStart(64, "b"),
    txHash: "0x" + (n + 1).toString(16).padStart(64, "a"), txIndex: 0, logIndex: n++, args,
  });
  const times = { get: (b: number) => 1_800_000_000 + b * 60 };
  let db: Db;
  before(async () => {
    db = await engine.open();
  });
  after(async () => db?.close());

  const merchant = async () =>
    (await db.query<Record<string, string>>("SELECT paid_in::text, released::text, refunded::text, direct::text FROM merchants WHERE merchant_id = 1"))[0];
  const cardRow = async (id: string) =>
    (await db.query<Record<string, string>>(
      "SELECT holder, held::text, units_left, pending_direct::text, refunded::text, started_at::text, expires_at::text, status FROM cards WHERE card_id = $1",
      [id],
    ))[0];

  it("indexes the custody floor, the held-back direct share, its release and return, a renewal refund, a check-in and a transfer", async () => {
    await projectBatch(db, [
      ev("IndustryDefined", REGISTRY, { industryId: 3, regulator: ALICE }, 1),
      ev("IndustryCustodyFloorSet", REGISTRY, { industryId: 3, floorBps: 8_000 }, 1),
      ev("MerchantAdmitted", ESCROW, { merchantId: 1, account: BOB, industryId: 3, bankId: 1, registryRef: "0x" + "12".repeat(32) }, 2),
      // 1,000 CNY of 10 visits at 40%: 40,000 fen custodied, 60,000 held back for the cooling-off.
      ev("CardPurchased", ESCROW, {
        cardId: card, merchantId: 1, holder: ALICE, planIndex: 1, kind: 1, units: 10, price: 100_000, custodied: 40_000, direct: 60_000,
        startedAt: 1_800_000_180, expiresAt: 0, named: true,
      }, 3),
      ev("CardPurchased", ESCROW, {
        cardId: periodic, merchantId: 1, holder: ALICE, planIndex: 2, kind: 2, units: 3, price: 90_000, custodied: 36_000, direct: 54_000,
        startedAt: 1_800_700_000, expiresAt: 1_808_500_000, named: true,
      }, 3),
    ], times);
    const [{ custody_floor_bps }] = await db.query<{ custody_floor_bps: number }>("SELECT custody_floor_bps FROM industries WHERE industry_id = 3");
    expect(Number(custody_floor_bps)).to.equal(8_000);
    expect(await merchant()).to.deep.include({ paid_in: "190000", released: "0", refunded: "0", direct: "114000" });
    expect(await cardRow(card)).to.deep.include({ held: "40000", pending_direct: "60000" });

    await projectBatch(db, [
      // The purchase's cooling-off ends: its direct share is the merchant's. A renewal adds 10 visits for 500 CNY.
      ev("DirectShareReleased", ESCROW, { cardId: card, merchantId: 1, amount: 60_000 }, 4),
      ev("CardRenewed", ESCROW, {
        cardId: card, merchantId: 1, holder: ALICE, planIndex: 3, units: 10, price: 50_000, custodied: 20_000, direct: 30_000, expiresAt: 0,
      }, 4),
      // Refunded in its own cooling-off: 10 visits at the card's average price, and the renewal's direct share.
      ev("RenewalRefunded", ESCROW, { cardId: card, merchantId: 1, holder: ALICE, units: 10, amount: 30_000 }, 5),
      ev("DirectShareReturned", ESCROW, { cardId: card, merchantId: 1, holder: ALICE, amount: 30_000 }, 5),
      ev("PeriodsStarted", ESCROW, { cardId: periodic, startedAt: 1_800_300_000, expiresAt: 1_808_100_000 }, 6),
      ev("CardTransferred", ESCROW, { cardId: card, from: ALICE, to: BOB }, 7),
    ], times);
    expect(await merchant()).to.deep.include({ paid_in: "240000", released: "60000", refunded: "60000" });
    const c = await cardRow(card);
    expect(c).to.deep.include({ holder: BOB.toLowerCase(), held: "30000", pending_direct: "0", refunded: "30000", status: "active" });
    expect(Number(c.units_left)).to.equal(10);
    expect(await cardRow(periodic)).to.deep.include({ started_at: "1800300000", expires_at: "1808100000", pending_direct: "54000" });
    // held = paid_in - released - refunded = the cards' held and pending direct shares.
    const [{ held }] = await db.query<{ held: string }>("SELECT (sum(held) + sum(pending_direct))::text AS held FROM cards WHERE merchant_id = 1");
    expect(held).to.equal(String(240_000 - 60_000 - 60_000));
    const refunds = await db.query<{ reason: string; amount: string; holder: string }>("SELECT reason, amount::text, holder FROM refunds ORDER BY log_index");
    expect(refunds.map((r) => [r.reason, r.amount])).to.deep.equal([["cooling_off", "30000"], ["direct_share", "30000"]]);
    const ledger = await db.query<{ event: string; holder: string | null }>("SELECT event, holder FROM ledger WHERE event = 'CardTransferred'");
    expect(ledger).to.deep.equal([{ event: "CardTransferred", holder: BOB.toLowerCase() }]);
  });

  it("indexes a breach on record, a cancellation for it, and its withdrawal", async () => {
    await projectBatch(db, [
      ev("BreachRecorded", ESCROW, { merchantId: 1, by: ALICE, reason: "0x" + "ab".repeat(32) }, 8),
      ev("CardRefunded", ESCROW, { cardId: card, merchantId: 1, holder: BOB, amount: 30_000, reason: 7 }, 8),
    ], times);
    const [m] = await db.query<{ breach_recorded_at: string | null }>("SELECT breach_recorded_at::text FROM merchants WHERE merchant_id = 1");
    expect(m.breach_recorded_at).to.equal(String(times.get(8)));
    const [r] = await db.query<{ reason: string }>("SELECT reason FROM refunds WHERE card_id = $1 ORDER BY log_index DESC LIMIT 1", [card]);
    expect(r.reason).to.equal("breach");
    expect(await cardRow(card)).to.deep.include({ status: "refunded", held: "0" });
    await projectBatch(db, [ev("BreachCleared", ESCROW, { merchantId: 1, by: ALICE, reason: "0x" + "cd".repeat(32) }, 9)], times);
    const [cleared] = await db.query<{ breach_recorded_at: string | null }>("SELECT breach_recorded_at::text FROM merchants WHERE merchant_id = 1");
    expect(cleared.breach_recorded_at).to.equal(null);
  });

  it("indexes a lost key's recovery step by step, in the card's history, and the holder after it", async () => {
    await projectBatch(db, [
      ev("KeyRecoveryStarted", ESCROW, { cardId: periodic, from: ALICE, to: BOB, by: REGISTRY, effectiveAt: 1_801_000_000 }, 10),
    ], times);
    const row = async () => (await db.query<{ holder: string; recovery_to: string | null; recovery_effective_at: string | null }>(
      "SELECT holder, recovery_to, recovery_effective_at::text FROM cards WHERE card_id = $1", [periodic]))[0];
    expect(await row()).to.deep.equal({ holder: ALICE.toLowerCase(), recovery_to: BOB.toLowerCase(), recovery_effective_at: "1801000000" });
    await projectBatch(db, [ev("KeyRecoveryCancelled", ESCROW, { cardId: periodic, to: BOB, by: ALICE }, 11)], times);
    expect(await row()).to.deep.equal({ holder: ALICE.toLowerCase(), recovery_to: null, recovery_effective_at: null });
    await projectBatch(db, [
      ev("KeyRecoveryStarted", ESCROW, { cardId: periodic, from: ALICE, to: BOB, by: REGISTRY, effectiveAt: 1_802_000_000 }, 12),
      ev("KeyRecoveryCompleted", ESCROW, { cardId: periodic, from: ALICE, to: BOB, by: REGISTRY }, 13),
    ], times);
    expect(await row()).to.deep.equal({ holder: BOB.toLowerCase(), recovery_to: null, recovery_effective_at: null });
    // Money-neutral steps still show in the card's history.
    const history = await db.query<{ event: string; amount: string | null }>(
      "SELECT event, amount::text FROM ledger WHERE card_id = $1 AND event LIKE 'KeyRecovery%' ORDER BY id", [periodic]);
    expect(history).to.deep.equal([
      { event: "KeyRecoveryStarted", amount: null }, { event: "KeyRecoveryCancelled", amount: null },
      { event: "KeyRecoveryStarted", amount: null }, { event: "KeyRecoveryCompleted", amount: null },
    ]);
  });

  it("indexes a frozen merchant's released money decided to the holders and shared by a claim, a payout account, and a filing alert", async () => {
    await projectBatch(db, [
      ev("FrozenPayableDecided", ESCROW, { merchantId: 1, toHolders: true, amount: 60_000, by: ALICE, reason: "0x" + "ef".repeat(32) }, 14),
    ], times);
    const m = async () => (await db.query<Record<string, string | null>>(
      "SELECT released::text, refunded::text, holder_pool::text, payout_account, payout_account_proposed FROM merchants WHERE merchant_id = 1"))[0];
    expect(await m()).to.deep.include({ released: "0", holder_pool: "60000" });
    // The claim on the periodic card (36,000 held) takes the whole pool: its CardRefunded pays both.
    await projectBatch(db, [
      ev("FrozenPayableShared", ESCROW, { cardId: periodic, merchantId: 1, amount: 60_000 }, 15),
      ev("CardRefunded", ESCROW, { cardId: periodic, merchantId: 1, holder: BOB, amount: 96_000, reason: 5 }, 15),
    ], times);
    expect(await m()).to.deep.include({ released: "0", refunded: "186000", holder_pool: "0" });
    expect(await cardRow(periodic)).to.deep.include({ held: "0", status: "refunded" });
    // held = paid_in - released - refunded = what the cards still hold (the periodic card's direct share in cooling-off).
    const [{ held }] = await db.query<{ held: string }>("SELECT (sum(held) + sum(pending_direct))::text AS held FROM cards WHERE merchant_id = 1");
    expect(held).to.equal(String(240_000 - 0 - 186_000));
    const amounts = await db.query<{ event: string; amount: string | null }>(
      "SELECT event, amount::text FROM ledger WHERE event IN ('FrozenPayableDecided', 'FrozenPayableShared') ORDER BY id");
    expect(amounts).to.deep.equal([{ event: "FrozenPayableDecided", amount: "60000" }, { event: "FrozenPayableShared", amount: null }]);

    const account = "0x" + "5a".repeat(32);
    await projectBatch(db, [ev("PayoutAccountProposed", ESCROW, { merchantId: 1, account }, 16)], times);
    expect(await m()).to.deep.include({ payout_account: null, payout_account_proposed: account });
    await projectBatch(db, [
      ev("PayoutAccountConfirmed", ESCROW, { merchantId: 1, account, by: ALICE }, 17),
      ev("PaidOut", ESCROW, { merchantId: 1, bankId: 1, amount: 0, by: BOB }, 17),
    ], times);
    expect(await m()).to.deep.include({ payout_account: account, payout_account_proposed: null });
    const [payout] = await db.query<{ account: string | null }>("SELECT account FROM payouts ORDER BY block_number DESC LIMIT 1");
    expect(payout.account).to.equal(account);

    await projectBatch(db, [ev("FilingThresholdReached", ESCROW, { merchantId: 1, balance: 50_000_000, threshold: 50_000_000 }, 18)], times);
    const alerts = await db.query<{ merchant_id: string; industry_id: number; cause: string; explanation: unknown }>(
      "SELECT merchant_id::text, industry_id, cause, explanation FROM risk_alerts WHERE cause = 'filing'");
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.deep.include({ merchant_id: "1", cause: "filing" });
    expect(Number(alerts[0].industry_id)).to.equal(3);
    const explanation = (typeof alerts[0].explanation === "string" ? JSON.parse(alerts[0].explanation) : alerts[0].explanation) as Record<string, unknown>[];
    expect(explanation[0]).to.deep.include({ rule: "filing_threshold", balanceFen: "50000000", thresholdFen: "50000000" });
    // With a webhook configured, the filing alert is queued for it once.
    expect(await queueFilingAlerts(db, "http://127.0.0.1:9/hook")).to.equal(1);
    expect(await queueFilingAlerts(db, "http://127.0.0.1:9/hook")).to.equal(0);
    const [queued] = await db.query<{ status: string; url: string }>("SELECT status, url FROM risk_webhook_outbox");
    expect(queued).to.deep.equal({ status: "pending", url: "http://127.0.0.1:9/hook" });
  });
});
