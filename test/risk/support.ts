import { Db } from "../../src/store/db";

/** Hand-built index rows for the risk tests, shaped as the projector writes them. Times in unix seconds. */

export const DAY = 86_400;
/** "Now" in the risk tests: 2025-06-01 00:00 UTC. */
export const NOW = Date.UTC(2025, 5, 1) / 1000;

let tx = 0;
const hash = (n: number) => "0x" + n.toString(16).padStart(64, "0");

export async function addMerchant(db: Db, merchantId: number, opts: { industryId?: number; admittedAt?: number; riskLevel?: string } = {}) {
  await db.query(
    `INSERT INTO merchants (merchant_id, account, industry_id, bank_id, registry_ref, status, risk_level, admitted_at, updated_block)
     VALUES ($1, $2, $3, 1, $4, 'active', $5, $6, 1)`,
    [merchantId, "0x" + merchantId.toString(16).padStart(40, "0"), opts.industryId ?? 4, hash(merchantId), opts.riskLevel ?? "low", opts.admittedAt ?? NOW - 400 * DAY],
  );
}

async function ledger(db: Db, time: number, event: string, merchantId: number, cardId: string | null, amount: number | null, args: Record<string, unknown>) {
  const n = ++tx;
  await db.query(
    `INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
     VALUES ($1, $2, $3, $4, 0, 0, '0xescrow', $5, $6, $7, NULL, $8, $9)`,
    [n, hash(n), time, hash(n), event, merchantId, cardId, amount, JSON.stringify(args)],
  );
  return hash(n);
}

/** A card bought at `time`: a CardPurchased ledger row and its cards row. Returns the card id. */
export async function buyCard(
  db: Db,
  merchantId: number,
  seq: number,
  time: number,
  opts: { price?: number; custodyBps?: number; validityDays?: number; units?: number } = {},
): Promise<string> {
  const price = opts.price ?? 100_000;
  const custodied = Math.floor((price * (opts.custodyBps ?? 10_000)) / 10_000);
  const cardId = ((BigInt(merchantId) << 32n) | BigInt(seq)).toString();
  const expires = time + (opts.validityDays ?? 365) * DAY;
  const units = opts.units ?? 10;
  await ledger(db, time, "CardPurchased", merchantId, cardId, custodied, {
    cardId, merchantId, holder: "0xholder", planIndex: 0, kind: 1, units, price, custodied, direct: price - custodied, startedAt: time, expiresAt: expires, named: true,
  });
  await db.query(
    `INSERT INTO cards (card_id, merchant_id, holder, plan_index, kind, status, named, held, units_left, units_used, paid_in, direct, started_at, expires_at, updated_block)
     VALUES ($1, $2, '0xholder', 0, 'lesson', 'active', true, $3, $4, 0, $3, $5, $6, $7, 1)`,
    [cardId, merchantId, custodied, units, price - custodied, time, expires],
  );
  return cardId;
}

export async function renewCard(db: Db, merchantId: number, cardId: string, time: number, price = 100_000) {
  await ledger(db, time, "CardRenewed", merchantId, cardId, price, { cardId, merchantId, holder: "0xholder", planIndex: 0, units: 10, price, custodied: price, direct: 0, expiresAt: time + 365 * DAY });
}

export async function consume(db: Db, merchantId: number, cardId: string, time: number, amount: number) {
  await ledger(db, time, "LessonsConsumed", merchantId, cardId, amount, { cardId, lessons: 1, amount, sequence: 0 });
}

export async function requestRefund(db: Db, merchantId: number, cardId: string, time: number) {
  await ledger(db, time, "RefundRequested", merchantId, cardId, null, { cardId, holder: "0xholder", amount: 1000 });
}

export async function openDispute(db: Db, merchantId: number, cardId: string, time: number) {
  await ledger(db, time, "DisputeOpened", merchantId, cardId, null, { cardId, merchantId, by: "0xholder", reason: hash(1) });
  await db.query(
    `INSERT INTO disputes (card_id, merchant_id, industry_id, status, opened_by, reason, amount, opened_at) VALUES ($1, $2, 4, 'open', '0xholder', $3, 1000, $4)
     ON CONFLICT (card_id) DO NOTHING`,
    [cardId, merchantId, hash(1), time],
  );
}

export async function refundCard(db: Db, merchantId: number, cardId: string, time: number, amount = 1000) {
  const h = await ledger(db, time, "CardRefunded", merchantId, cardId, amount, { cardId, merchantId, holder: "0xholder", amount, reason: 1 });
  await db.query(
    `INSERT INTO refunds (tx_hash, log_index, card_id, merchant_id, bank_id, holder, amount, reason, block_number, block_time) VALUES ($1, 0, $2, $3, 1, '0xholder', $4, 'accepted', 1, $5)`,
    [h, cardId, merchantId, amount, time],
  );
  await db.query("UPDATE cards SET status = 'refunded' WHERE card_id = $1", [cardId]);
}

export async function payOut(db: Db, merchantId: number, time: number, amount: number) {
  const h = await ledger(db, time, "PaidOut", merchantId, null, amount, { merchantId, bankId: 1, amount, by: "0xbank" });
  await db.query(
    `INSERT INTO payouts (tx_hash, log_index, merchant_id, bank_id, amount, requested_by, block_number, block_time) VALUES ($1, 0, $2, 1, $3, '0xbank', 1, $4)`,
    [h, merchantId, amount, time],
  );
}

let record = 0;
/** A risk signal row as the importer stores it. */
export async function addRiskSignal(db: Db, merchantId: number, kind: string, occurredAt: number, fields: Record<string, unknown>, recordId?: string) {
  await db.query(
    `INSERT INTO risk_signals (record_id, kind, source, merchant_id, occurred_at, fields) VALUES ($1, $2, 'test', $3, $4, $5)`,
    [recordId ?? `t-${++record}`, kind, merchantId, occurredAt, JSON.stringify(fields)],
  );
}
