import { JsonRpcApiProvider, TypedDataEncoder, id as keccakText, keccak256, recoverAddress } from "ethers";
import { Logger } from "pino";
import { PrepaidEscrow } from "../../typechain-types";
import { consumptionDomain, SignedVoucher, voucherArg } from "../chain/vouchers";
import { KeyRing, decodeRevert } from "../chain/signers";
import { Rpc } from "../chain/rpc";
import { Db } from "../store/db";
import { ApiError } from "../errors";

export interface QueueOptions {
  db: Db;
  escrow: PrepaidEscrow;
  provider: JsonRpcApiProvider;
  keys: KeyRing;
  chainId: number;
  logger: Logger;
  intervalMs: number;
  maxPerTx: number;
  /**
   * The node's RPC client: holders' signatures are recovered by the node's ecrecover precompile (one JSON-RPC
   * batch per request, ~0.1 ms each) instead of in JavaScript (~1-8 ms each), and receipts are polled in batches.
   * Without it (or when the node does not answer) both are done one by one through `provider`.
   */
  rpc?: Rpc;
  /** A sent transaction the node no longer knows after this long is taken as lost and its vouchers sent again. */
  lostAfterMs?: number;
}

const CONSUMPTION_TYPEHASH = keccakText("Consumption(uint64 cardId,uint16 lessons,uint16 sequence,uint40 deadline)");
/** secp256k1's n/2: OpenZeppelin's ECDSA (and so the escrow) refuses a signature with a larger s. */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const ECRECOVER = "0x0000000000000000000000000000000000000001";
const word = (x: bigint | number) => BigInt(x).toString(16).padStart(64, "0");

type QueueRow = {
  id: string; merchant_id: string; card_id: string; sequence: number; lessons: number; deadline: string; v: number; r: string; s: string;
};

/**
 * The merchants' consumption queue. Accepted vouchers are stored first (durably, in the store's database) and
 * sent in batches, one consumeBatch transaction per merchant per round; a restart picks up whatever was not
 * confirmed. A voucher is never sent twice to success: the card's sequence makes a replay revert on chain.
 *
 * Throughput: rounds run every `intervalMs` without waiting for earlier transactions to be mined, so a merchant has
 * several transactions in flight per block (the sender's nonces keep them in order). A card's next vouchers wait
 * until its batch in flight is mined: gas is estimated against the mined state, where they would not fit yet.
 */
export function createConsumptionQueue(opts: QueueOptions) {
  const { db, escrow, logger } = opts;
  const escrowAddress = escrow.target as string;
  const domainSeparator = TypedDataEncoder.hashDomain(consumptionDomain(opts.chainId, escrowAddress));
  const lostAfterMs = opts.lostAfterMs ?? 15_000;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopping = false;
  /** Transactions sent and not yet mined: hash → when sent, and the merchant account that sent it. */
  const watching = new Map<string, { since: number; account: string }>();
  let polling: Promise<void> | null = null;
  let pollTimer: NodeJS.Timeout | null = null;

  /** The EIP-712 digest a holder signs (PrepaidEscrow.consumptionDigest), computed without ethers' generic encoder. */
  function digestOf(v: SignedVoucher): string {
    const structHash = keccak256("0x" + CONSUMPTION_TYPEHASH.slice(2) + word(v.cardId) + word(v.lessons) + word(v.sequence) + word(v.deadline));
    return keccak256("0x1901" + domainSeparator.slice(2) + structHash.slice(2));
  }

  /** Each voucher's signer ("" when the signature is malformed, or has a high s, which the escrow refuses). */
  async function signersOf(vouchers: SignedVoucher[]): Promise<string[]> {
    const digests = vouchers.map(digestOf);
    const usable = vouchers.map((v) => (v.v === 27 || v.v === 28) && BigInt(v.s) <= HALF_N && BigInt(v.r) > 0n && BigInt(v.s) > 0n);
    if (opts.rpc) {
      try {
        const out: string[] = [];
        for (let i = 0; i < vouchers.length; i += 500) {
          const calls = vouchers.slice(i, i + 500).map((v, j) => ({
            method: "eth_call",
            params: [{ to: ECRECOVER, data: digests[i + j] + word(v.v) + v.r.slice(2) + v.s.slice(2) }, "latest"],
          }));
          const res = await opts.rpc.batch<string>(calls);
          for (const r of res) out.push(typeof r === "string" && r.length === 66 ? "0x" + r.slice(26).toLowerCase() : "");
        }
        return out.map((a, i) => (usable[i] ? a : ""));
      } catch (err) {
        logger.warn({ err: (err as Error).message }, "the node did not recover the vouchers' signers; recovering them here");
      }
    }
    return vouchers.map((v, i) => {
      if (!usable[i]) return "";
      try {
        return recoverAddress(digests[i], { r: v.r, s: v.s, v: v.v }).toLowerCase();
      } catch {
        return "";
      }
    });
  }

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
    // Confirmed vouchers count too: a batch is confirmed from its receipt, possibly before the index has its events.
    const pending = new Map(
      (await db.query<{ card_id: string; next: number }>(
        `SELECT card_id, max(sequence + lessons) AS next FROM voucher_queue
         WHERE card_id = ANY($1::numeric[]) AND status IN ('queued', 'sent', 'confirmed') GROUP BY card_id`,
        [cardIds],
      )).map((r) => [String(r.card_id), Number(r.next)]),
    );
    const signers = await signersOf(vouchers);
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
      if (signers[i] !== card.holder.toLowerCase()) {
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

  /**
   * A voucher whose sequence the chain has passed may already be on chain (sent before a crash, or by a batch that
   * was taken as lost and was mined after all): confirmed when the ledger has it, left queued while the index is
   * behind the chain (it may be in the blocks not indexed yet), failed otherwise.
   */
  async function settleStale(rows: QueueRow[]): Promise<{ failed: QueueRow[]; waiting: QueueRow[] }> {
    const failed: QueueRow[] = [];
    const waiting: QueueRow[] = [];
    let behind: boolean | null = null;
    for (const r of rows) {
      const onLedger = await db.query(
        "SELECT 1 FROM ledger WHERE card_id = $1 AND event = 'LessonsConsumed' AND (args->>'sequence')::int = $2 AND (args->>'lessons')::int = $3",
        [r.card_id, r.sequence, r.lessons],
      );
      if (onLedger.length) {
        await db.query("UPDATE voucher_queue SET status = 'confirmed', updated_at = now() WHERE id = $1", [r.id]);
        continue;
      }
      if (behind === null) {
        const [cp] = await db.query<{ block_number: string }>("SELECT block_number FROM checkpoint WHERE id = 1");
        const head = await opts.provider.getBlockNumber().catch(() => Number.MAX_SAFE_INTEGER);
        behind = !cp || Number(cp.block_number) < head;
      }
      (behind ? waiting : failed).push(r);
    }
    return { failed, waiting };
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
        // Recorded before anything else can look at it: a crash from here on finds the hash and asks the node.
        await db.query("UPDATE voucher_queue SET status = 'sent', tx_hash = $2, updated_at = now() WHERE id = ANY($1::bigint[])", [ids, sent.hash]);
        watching.set(sent.hash, { since: Date.now(), account: m.account });
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
        if (revert.name.endsWith("SequenceMismatch")) {
          const { failed } = await settleStale(bad);
          if (failed.length) await markFailed(failed.map((r) => r.id), revert);
        } else {
          await markFailed(bad.map((r) => r.id), revert);
        }
        batch = batch.filter((r) => r.card_id !== cardId);
      }
    }
  }

  /**
   * Follows the transactions in flight, all in one JSON-RPC batch per poll: mined ones are confirmed (or, reverted,
   * queued again); one the node has forgotten (a restarted node loses its pool) is queued again and its sender's
   * nonce re-read, so nothing waits behind a nonce gap.
   */
  async function pollReceipts(): Promise<void> {
    const hashes = [...watching.keys()];
    if (hashes.length === 0) return;
    const receipts = await receiptsOf(hashes);
    const confirmed: string[] = [];
    const reverted: string[] = [];
    const unseen: string[] = [];
    hashes.forEach((h, i) => {
      const rc = receipts[i];
      if (rc) (Number(rc.status) === 1 ? confirmed : reverted).push(h);
      else if (Date.now() - watching.get(h)!.since > lostAfterMs) unseen.push(h);
    });
    if (confirmed.length) await db.query("UPDATE voucher_queue SET status = 'confirmed', updated_at = now() WHERE tx_hash = ANY($1::text[]) AND status = 'sent'", [confirmed]);
    if (reverted.length) await db.query("UPDATE voucher_queue SET status = 'queued', updated_at = now() WHERE tx_hash = ANY($1::text[]) AND status = 'sent'", [reverted]);
    for (const h of [...confirmed, ...reverted]) watching.delete(h);
    for (const h of unseen) {
      const tx = await opts.provider.send("eth_getTransactionByHash", [h]);
      const w = watching.get(h)!;
      if (tx) {
        w.since = Date.now(); // still pending at the node: look again later
        continue;
      }
      logger.warn({ tx: h }, "the node lost a consumption batch; its vouchers go back in the queue");
      await db.query("UPDATE voucher_queue SET status = 'queued', updated_at = now() WHERE tx_hash = $1 AND status = 'sent'", [h]);
      watching.delete(h);
      (await opts.keys.sender(w.account)).resetNonce();
    }
  }

  async function receiptsOf(hashes: string[]): Promise<({ status: string | number | null } | null)[]> {
    if (!opts.rpc) return Promise.all(hashes.map((h) => opts.provider.getTransactionReceipt(h)));
    const out: ({ status: string } | null)[] = [];
    for (let i = 0; i < hashes.length; i += 200) {
      out.push(...(await opts.rpc.batch<{ status: string } | null>(hashes.slice(i, i + 200).map((h) => ({ method: "eth_getTransactionReceipt", params: [h] })))));
    }
    return out;
  }

  async function round(): Promise<void> {
    // A card with a batch in flight waits for it: its next voucher would not pass gas estimation before it is mined.
    const rows = await db.query<QueueRow>(
      `SELECT id, merchant_id, card_id, sequence, lessons, deadline, v, r, s FROM voucher_queue q
       WHERE status = 'queued' AND NOT EXISTS (SELECT 1 FROM voucher_queue p WHERE p.card_id = q.card_id AND p.status = 'sent')
       ORDER BY id LIMIT $1`,
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

  /**
   * After a restart: what was sent and mined is confirmed (or queued again if it reverted); what was sent and is
   * still in the node's pool is followed; what the node does not know is queued again.
   */
  async function recover(): Promise<void> {
    const sent = await db.query<{ tx_hash: string; account: string }>(
      `SELECT DISTINCT q.tx_hash, m.account FROM voucher_queue q LEFT JOIN merchants m ON m.merchant_id = q.merchant_id WHERE q.status = 'sent'`,
    );
    for (const { tx_hash, account } of sent) {
      const rc = await opts.provider.getTransactionReceipt(tx_hash);
      if (!rc && (await opts.provider.send("eth_getTransactionByHash", [tx_hash]))) {
        watching.set(tx_hash, { since: Date.now(), account });
        continue;
      }
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

  function schedulePoll() {
    if (stopping) return;
    pollTimer = setTimeout(() => {
      polling = pollReceipts()
        .catch((err) => logger.warn({ err: (err as Error).message }, "following consumption batches failed; will retry"))
        .finally(() => {
          polling = null;
          schedulePoll();
        });
    }, Math.min(250, opts.intervalMs));
  }

  return {
    accept,
    async start() {
      await recover();
      schedule();
      schedulePoll();
    },
    /** Runs one round now (tests). */
    flush: round,
    /** Looks at the transactions in flight now (tests). */
    poll: pollReceipts,
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      if (pollTimer) clearTimeout(pollTimer);
      await running;
      await polling;
      // Whatever is still in flight stays 'sent' in the store: the next start asks the node about it.
    },
    async stats() {
      const rows = await db.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM voucher_queue GROUP BY status");
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
  };
}

export type ConsumptionQueue = ReturnType<typeof createConsumptionQueue>;
