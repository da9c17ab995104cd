import { verifyTypedData } from "ethers";
import { Logger } from "pino";
import { PrepaidEscrow } from "../../typechain-types";
import { CONSUMPTION_TYPES, consumptionDomain, SignedVoucher, voucherArg } from "../chain/vouchers";
import { KeyRing, decodeRevert, waitReceipt } from "../chain/signers";
import { Db } from "../store/db";
import { ApiError } from "../errors";
import { JsonRpcApiProvider } from "ethers";

export interface QueueOptions {
  db: Db;
  escrow: PrepaidEscrow;
  provider: JsonRpcApiProvider;
  keys: KeyRing;
  chainId: number;
  logger: Logger;
  intervalMs: number;
  maxPerTx: number;
}

type QueueRow = {
  id: string; merchant_id: string; card_id: string; sequence: number; lessons: number; deadline: string; v: number; r: string; s: string;
};

/**
 * The merchants' consumption queue. Accepted vouchers are stored first (durably, in the store's database) and
 * sent in batches, one consumeBatch transaction per merchant per round; a restart picks up whatever was not
 * confirmed. A voucher is never sent twice to success: the card's sequence makes a replay revert on chain.
 */
export function createConsumptionQueue(opts: QueueOptions) {
  const { db, escrow, logger } = opts;
  const escrowAddress = escrow.target as string;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopping = false;
  const inFlight = new Set<Promise<unknown>>();

  /** Checks a merchant's vouchers against the index and stores them, all or none. Returns their queue ids. */
  async function accept(merchantId: number, vouchers: SignedVoucher[]): Promise<{ ids: string[] }> {
    const now = Math.floor(Date.now() / 1000);
    const problems: { field: string; reason: string }[] = [];
    const cardIds = [...new Set(vouchers.map((v) => v.cardId.toString()))];
    const cards = new Map(
      (await db.query<{ card_id: string; holder: string; merchant_id: string; units_used: number; units_left: number; status: string; kind: string }>(
        "SELECT card_id, holder, merchant_id, units_used, units_left, status, kind FROM cards WHERE card_id = ANY($1::numeric[])",
        [cardIds],
      )).map((c) => [String(c.card_id), c]),
    );
    const pending = new Map(
      (await db.query<{ card_id: string; next: number }>(
        `SELECT card_id, max(sequence + lessons) AS next FROM voucher_queue
         WHERE card_id = ANY($1::numeric[]) AND status IN ('queued', 'sent') GROUP BY card_id`,
        [cardIds],
      )).map((r) => [String(r.card_id), Number(r.next)]),
    );
    const expected = new Map<string, { seq: number; left: number }>();
    vouchers.forEach((v, i) => {
      const f = (name: string) => `body.vouchers.${i}.${name}`;
      const id = v.cardId.toString();
      const card = cards.get(id);
      if (!card || Number(card.merchant_id) !== merchantId) {
        problems.push({ field: f("cardId"), reason: card ? `card ${id} belongs to merchant ${card.merchant_id}` : `no card ${id} in the index` });
        return;
      }
      if (card.kind !== "lesson") problems.push({ field: f("cardId"), reason: "a periodic card is released by time, not by vouchers" });
      if (card.status !== "active") problems.push({ field: f("cardId"), reason: `card ${id} is ${card.status}` });
      if (v.deadline <= now) problems.push({ field: f("deadline"), reason: `the voucher expired at ${v.deadline}` });
      let signer = "";
      try {
        signer = verifyTypedData(consumptionDomain(opts.chainId, escrowAddress), CONSUMPTION_TYPES, v, { r: v.r, s: v.s, v: v.v }).toLowerCase();
      } catch {
        signer = "";
      }
      if (signer !== card.holder.toLowerCase()) {
        problems.push({ field: f("signature"), reason: `not signed by the card's holder ${card.holder}` });
      }
      const e = expected.get(id) ?? { seq: Math.max(Number(card.units_used), pending.get(id) ?? 0), left: Number(card.units_left) - Math.max(0, (pending.get(id) ?? 0) - Number(card.units_used)) };
      if (v.sequence !== e.seq) problems.push({ field: f("sequence"), reason: `the card's next sequence is ${e.seq}` });
      if (v.lessons > e.left) problems.push({ field: f("lessons"), reason: `only ${e.left} lessons left on card ${id}` });
      expected.set(id, { seq: e.seq + v.lessons, left: e.left - v.lessons });
    });
    if (problems.length) throw new ApiError(422, "InvalidVouchers", "some vouchers cannot be accepted; none were", problems);
    const rows = vouchers.map((v) => ({
      merchant_id: merchantId, card_id: v.cardId.toString(), sequence: v.sequence, lessons: v.lessons, deadline: v.deadline, v: v.v, r: v.r, s: v.s,
    }));
    try {
      const inserted = await db.query<{ id: string }>(
        `INSERT INTO voucher_queue (merchant_id, card_id, sequence, lessons, deadline, v, r, s, status)
         SELECT merchant_id, card_id, sequence, lessons, deadline, v, r, s, 'queued'
         FROM jsonb_to_recordset($1::jsonb) AS x(merchant_id bigint, card_id numeric, sequence int, lessons int, deadline bigint, v int, r text, s text)
         RETURNING id`,
        [JSON.stringify(rows)],
      );
      return { ids: inserted.map((r) => String(r.id)) };
    } catch (err) {
      if (/unique|duplicate/i.test((err as Error).message)) {
        throw new ApiError(409, "DuplicateVoucher", "a voucher with this card and sequence was already accepted");
      }
      throw err;
    }
  }

  async function markFailed(ids: string[], error: unknown) {
    await db.query("UPDATE voucher_queue SET status = 'failed', error = $2::jsonb, updated_at = now() WHERE id = ANY($1::bigint[])", [ids, JSON.stringify(error)]);
  }

  /** A voucher whose sequence the chain has passed may already be on chain (sent before a crash). */
  async function settleStale(rows: QueueRow[]): Promise<QueueRow[]> {
    const keep: QueueRow[] = [];
    for (const r of rows) {
      const onLedger = await db.query(
        "SELECT 1 FROM ledger WHERE card_id = $1 AND event = 'LessonsConsumed' AND (args->>'sequence')::int = $2 AND (args->>'lessons')::int = $3",
        [r.card_id, r.sequence, r.lessons],
      );
      if (onLedger.length) await db.query("UPDATE voucher_queue SET status = 'confirmed', updated_at = now() WHERE id = $1", [r.id]);
      else keep.push(r);
    }
    return keep;
  }

  async function sendMerchant(merchantId: string, rows: QueueRow[]): Promise<void> {
    const [m] = await db.query<{ account: string }>("SELECT account FROM merchants WHERE merchant_id = $1", [merchantId]);
    if (!m || !opts.keys.has(m.account)) return; // the merchant sends its own transactions
    const sender = await opts.keys.sender(m.account);
    let batch = rows;
    for (let attempt = 0; attempt < 20 && batch.length; attempt++) {
      const args = batch.map((r) =>
        voucherArg({ cardId: BigInt(r.card_id), lessons: r.lessons, sequence: r.sequence, deadline: Number(r.deadline), v: r.v, r: r.r, s: r.s }),
      );
      const data = escrow.interface.encodeFunctionData("consumeBatch", [args]);
      try {
        const sent = await sender.send({ to: escrowAddress, data });
        const ids = batch.map((r) => r.id);
        await db.query("UPDATE voucher_queue SET status = 'sent', tx_hash = $2, updated_at = now() WHERE id = ANY($1::bigint[])", [ids, sent.hash]);
        const p = waitReceipt(opts.provider, sent.hash).then(async (rc) => {
          const status = rc.status === 1 ? "confirmed" : "queued";
          await db.query("UPDATE voucher_queue SET status = $2, updated_at = now() WHERE tx_hash = $1 AND status = 'sent'", [sent.hash, status]);
        });
        inFlight.add(p);
        p.catch((err) => logger.warn({ err: (err as Error).message, tx: sent.hash }, "waiting for a consumption batch failed")).finally(() => inFlight.delete(p));
        return;
      } catch (err) {
        const revert = decodeRevert(err);
        const cardId = revert?.args.cardId !== undefined ? String(revert.args.cardId) : null;
        if (!revert || cardId === null) {
          if (revert) {
            await markFailed(batch.map((r) => r.id), revert);
            return;
          }
          throw err; // retryable: try again next round
        }
        // Drop the offending card's vouchers (settling any that are in fact on chain already) and retry the rest.
        const bad = batch.filter((r) => r.card_id === cardId);
        const stillBad = revert.name.endsWith("SequenceMismatch") ? await settleStale(bad) : bad;
        if (stillBad.length) await markFailed(stillBad.map((r) => r.id), revert);
        batch = batch.filter((r) => r.card_id !== cardId);
      }
    }
  }

  async function round(): Promise<void> {
    const rows = await db.query<QueueRow>(
      `SELECT id, merchant_id, card_id, sequence, lessons, deadline, v, r, s FROM voucher_queue
       WHERE status = 'queued' ORDER BY id LIMIT $1`,
      [opts.maxPerTx * 20],
    );
    const byMerchant = new Map<string, QueueRow[]>();
    for (const r of rows) {
      const list = byMerchant.get(String(r.merchant_id)) ?? [];
      if (list.length < opts.maxPerTx) list.push(r);
      byMerchant.set(String(r.merchant_id), list);
    }
    await Promise.all(
      [...byMerchant].map(([merchantId, list]) =>
        sendMerchant(merchantId, list).catch((err) => logger.warn({ err: (err as Error).message, merchantId }, "consumption batch not sent; will retry")),
      ),
    );
  }

  /** After a restart: what was sent and mined is confirmed, what was sent and lost goes back in the queue. */
  async function recover(): Promise<void> {
    const sent = await db.query<{ tx_hash: string }>("SELECT DISTINCT tx_hash FROM voucher_queue WHERE status = 'sent'");
    for (const { tx_hash } of sent) {
      const rc = await opts.provider.getTransactionReceipt(tx_hash);
      const status = rc ? (rc.status === 1 ? "confirmed" : "queued") : "queued";
      await db.query("UPDATE voucher_queue SET status = $2, updated_at = now() WHERE tx_hash = $1 AND status = 'sent'", [tx_hash, status]);
    }
  }

  function schedule() {
    if (stopping) return;
    timer = setTimeout(() => {
      running = round()
        .catch((err) => logger.warn({ err: (err as Error).message }, "consumption queue round failed"))
        .finally(() => {
          running = null;
          schedule();
        });
    }, opts.intervalMs);
  }

  return {
    accept,
    async start() {
      await recover();
      schedule();
    },
    /** Runs one round now (tests). */
    flush: round,
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      await running;
      await Promise.allSettled([...inFlight]);
    },
    async stats() {
      const rows = await db.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM voucher_queue GROUP BY status");
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
  };
}

export type ConsumptionQueue = ReturnType<typeof createConsumptionQueue>;
