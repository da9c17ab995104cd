import { JsonRpcApiProvider, TypedDataEncoder, recoverAddress } from "ethers";
import { keccak } from "../chain/rawtx";
import { Logger } from "pino";
import { PrepaidEscrow } from "../../typechain-types";
import {
  consumptionDomain, consumptionShare, consumptionStructPreimage, encodeConsumeBatch, merchantOfCard, ReceivedVoucher, SignedVoucher, VoucherRow,
} from "../chain/vouchers";
import { DecodedRevert, KeyRing, MaybeSentError, decodeRevert } from "../chain/signers";
import { recoverSigners } from "../chain/ecrecover";
import { Rpc } from "../chain/rpc";
import { Db } from "../store/db";
import { Refusal, RetryableError, required } from "../errors";
import { classifyIncluded, overdue, pickBatches, planRefusal } from "./consumptionPlan";

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
   * The node's RPC client: holders' signatures are recovered by the node's ecrecover precompile, all of a request's
   * in one eth_call (src/chain/ecrecover.ts), and the batches in flight are followed through block bodies and the
   * index. Without it (or when the node does not answer) signatures are recovered here, one by one (slow).
   */
  rpc?: Rpc;
  /** A sent transaction the node no longer knows after this long is taken as lost and its vouchers sent again. */
  lostAfterMs?: number;
  /** How often the batches in flight are looked for in new blocks (default: min(250, intervalMs)). */
  followMs?: number;
}

/** secp256k1's n/2: OpenZeppelin's ECDSA (and so the escrow) refuses a signature with a larger s. */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const DIGEST_PREFIX = Buffer.from([0x19, 0x01]);

/**
 * Gas of a consumeBatch sent without an estimate. A voucher costs ~14,800 gas in a batch (`npm run bench:gas`: one
 * cold card slot read and write, ecrecover, the event, its calldata), a card's last lesson and the batch's merchant
 * write a few thousand more; the limit leaves a third on top. Unused gas costs nothing at gas price 0, but a node
 * packs a block by gas limits, so the limit is kept near the need: 500 vouchers reserve 10 M of a 60 M block.
 * Too low a limit only makes the batch revert (out of gas), and a reverted batch is retried with an estimate.
 */
export const BATCH_GAS_BASE = 60_000n;
export const BATCH_GAS_PER_VOUCHER = 20_000n;
export const batchGasLimit = (vouchers: number) => BATCH_GAS_BASE + BATCH_GAS_PER_VOUCHER * BigInt(vouchers);

/** Queued rows with the ids their INSERT returned, one per row in the same order. */
function withIds<R extends object>(rows: R[], ids: string[]): (R & { id: string })[] {
  return rows.map((r, i) => ({ ...r, id: required(ids[i], "the id of a queued voucher") }));
}

/** How many of the requests waiting (their voucher counts, in order) go into one group: at least one, at most `max` vouchers. */
export function groupSize(voucherCounts: number[], max: number): number {
  let n = 0;
  let take = 0;
  for (const count of voucherCounts) {
    if (take > 0 && n + count > max) break;
    n += count;
    take++;
  }
  return take;
}

/** A card as the acceptance check reads it; `next`: the sequence after its last voucher queued and not failed. */
export interface AcceptCard {
  card_id: string;
  holder: string;
  merchant_id: string;
  units_used: number;
  units_left: number;
  /** Fen held for the card's unused lessons, as indexed. */
  held: string;
  status: string;
  kind: string;
  next: number | null;
  /** The amounts of its vouchers accepted and not yet in the card's row (they release first). */
  pending_amount: string | null;
}

/** One request's outcome: what is wrong with its vouchers (none is accepted), or the queue rows to store. */
export type AcceptDecision = { problems: { field: string; reason: string }[] } | { rows: Omit<QueueRow, "id">[] };

/**
 * The acceptance decision for a group of requests, in order, with no I/O: each voucher must be for a lesson card of
 * the request's merchant that is active, not expired at `now`, signed by the card's holder (`signers`, one per voucher
 * of the group in order), and continue the card's sequence with lessons it has left, counting the requests before
 * it in the group that were accepted. A request is accepted whole or refused whole.
 */
export function decideAcceptance(
  requests: { merchantId: number; vouchers: ReceivedVoucher[]; single?: boolean }[],
  cards: Map<string, AcceptCard>,
  signers: string[],
  now: number,
): AcceptDecision[] {
  /** Each card's next sequence, lessons left and money held after the requests of this group accepted so far. */
  const expected = new Map<string, { seq: number; left: number; held: bigint }>();
  let offset = 0;
  return requests.map(({ merchantId, vouchers, single }): AcceptDecision => {
    const problems: { field: string; reason: string }[] = [];
    const mine = new Map<string, { seq: number; left: number; held: bigint }>();
    vouchers.forEach((v, i) => {
      const f = (name: string) => (single ? `body.${name}` : `body.vouchers.${i}.${name}`);
      const id = v.cardId.toString();
      const card = cards.get(id);
      if (!card || Number(card.merchant_id) !== merchantId) {
        problems.push({ field: f("cardId"), reason: card ? `card ${id} belongs to merchant ${card.merchant_id}` : `no card ${id} in the index` });
        return;
      }
      if (v.merchantId !== undefined && v.merchantId !== merchantOfCard(v.cardId)) {
        problems.push({ field: f("merchantId"), reason: `card ${id} is merchant ${merchantOfCard(v.cardId)}'s, the voucher names merchant ${v.merchantId}` });
      }
      if (card.kind !== "lesson") problems.push({ field: f("cardId"), reason: "a periodic card is released by time, not by vouchers" });
      if (card.status !== "active") problems.push({ field: f("cardId"), reason: `card ${id} is ${card.status}` });
      if (v.deadline <= now) problems.push({ field: f("deadline"), reason: `the voucher expired at ${v.deadline}` });
      if (signers[offset + i] !== card.holder.toLowerCase()) {
        problems.push({ field: f("signature"), reason: `not signed by the card's holder ${card.holder}` });
      }
      const pending = card.next === null ? 0 : Number(card.next);
      const e = mine.get(id) ?? expected.get(id) ?? {
        seq: Math.max(Number(card.units_used), pending),
        left: Number(card.units_left) - Math.max(0, pending - Number(card.units_used)),
        // The vouchers accepted and not yet in the card's row release their signed amounts first.
        held: BigInt(card.held) - BigInt(card.pending_amount ?? 0),
      };
      if (v.sequence !== e.seq) problems.push({ field: f("sequence"), reason: `the card's next sequence is ${e.seq}` });
      if (v.lessons > e.left) {
        problems.push({ field: f("lessons"), reason: `only ${e.left} lessons left on card ${id}` });
        mine.set(id, { seq: e.seq + v.lessons, left: e.left - v.lessons, held: e.held });
        return;
      }
      const share = consumptionShare(e.held, e.left, v.lessons);
      if (v.amount !== share) {
        problems.push({ field: f("amount"), reason: `${v.lessons} lessons of card ${id} at sequence ${e.seq} release ${share} fen, the voucher says ${v.amount}` });
      }
      mine.set(id, { seq: e.seq + v.lessons, left: e.left - v.lessons, held: e.held - share });
    });
    offset += vouchers.length;
    if (problems.length) return { problems };
    for (const [id, e] of mine) expected.set(id, e);
    return {
      rows: vouchers.map((v) => ({
        merchant_id: String(merchantId), card_id: v.cardId.toString(), sequence: v.sequence, lessons: v.lessons, amount: v.amount.toString(), deadline: v.deadline, v: v.v, r: v.r, s: v.s,
      })),
    };
  });
}

type QueueRow = VoucherRow & {
  id: string; merchant_id: string;
  /** It came back from a batch that reverted on chain: its next batch is estimated first, so a bad voucher is found. */
  careful?: boolean;
};

/** The contract's refusal in an error from sending: as the node answered it, or as the sender turned it into a Refusal. */
function refusalOf(err: unknown): DecodedRevert | null {
  const decoded = decodeRevert(err);
  if (decoded) return decoded;
  if (err instanceof Refusal && /^[A-Za-z]+_[A-Za-z]+$/.test(err.code) && err.details && typeof err.details === "object") {
    return { name: err.code, args: err.details as DecodedRevert["args"] };
  }
  return null;
}

/** consumeBatch calldata is written by the voucher codec (src/chain/vouchers.ts). */
export { encodeConsumeBatch };

interface InFlight {
  since: number;
  account: string;
  merchantId: string;
  rows: QueueRow[];
}

/**
 * The merchants' consumption queue. Accepted vouchers are stored first (durably, in the store's database, before
 * the 202) and sent in batches, one consumeBatch transaction per merchant per round; a restart picks up whatever
 * was not confirmed. A voucher is never sent twice to success: the card's sequence makes a replay revert on chain.
 *
 * The store is the truth; this process keeps its working copy (vouchers waiting, batches in flight) in memory, so
 * a round reads nothing from the store and writes one UPDATE per batch. The gateway's primary is the only process
 * that takes writes, so no other process sends from the same queue.
 *
 * The cost per voucher is kept to what the chain must do once anyway: acceptance checks every voucher against the
 * index and its signature (all of a request's signatures in one eth_call), so a batch is sent without a gas
 * estimate (its gas follows from its size), its hash recorded before it is sent, and it is followed through the
 * block bodies and the index (its events there mean it succeeded), not by polling receipts. Only a batch that
 * reverted on chain (the card's state changed between acceptance and mining: a refund request, a freeze, an
 * expiry) has its vouchers sent again with an estimate first, which names the bad card so it is dropped and the
 * rest go through.
 *
 * A card's next vouchers wait while a batch with its previous one is in flight: if that batch reverted, they would
 * revert too.
 */
export function createConsumptionQueue(opts: QueueOptions) {
  const { db, escrow, logger } = opts;
  const escrowAddress = escrow.target as string;
  const domainSeparatorBytes = Buffer.from(TypedDataEncoder.hashDomain(consumptionDomain(opts.chainId, escrowAddress)).slice(2), "hex");
  const lostAfterMs = opts.lostAfterMs ?? 15_000;
  const consumeBatchSelector = escrow.interface.getFunction("consumeBatch")!.selector;
  const followMs = opts.followMs ?? Math.min(250, opts.intervalMs);
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopping = false;
  let started = false;
  let following: Promise<void> | null = null;
  let followTimer: NodeJS.Timeout | null = null;

  /** Vouchers accepted and not sent, per merchant, in acceptance (id) order. */
  const waiting = new Map<string, QueueRow[]>();
  /** Ids of the vouchers held in `waiting` or in a batch in flight (so a voucher is never held twice). */
  const held = new Set<string>();
  /** Batches sent and not yet found mined (or lost), by transaction hash. */
  const inFlight = new Map<string, InFlight>();
  /** Cards with a voucher in a batch in flight. */
  const busyCards = new Set<string>();
  /** The last block whose transactions were matched against the batches in flight (null: not known yet). */
  let scanned: number | null = null;
  /** Counts signed batches, so that `scanned` never moves past a block a batch just signed could be in. */
  let signedCount = 0;
  /** Merchant accounts, and whether this gateway holds their keys (re-checked after a while when it does not). */
  const accounts = new Map<string, { account: string | null; hasKey: boolean; at: number }>();

  /** The EIP-712 digest a holder signs (PrepaidEscrow.consumptionDigest), computed without ethers' generic encoder. */
  function digestOf(v: SignedVoucher): string {
    const structHash = keccak(Buffer.from(consumptionStructPreimage(v), "hex"));
    return "0x" + keccak(Buffer.concat([DIGEST_PREFIX, domainSeparatorBytes, structHash])).toString("hex");
  }

  /** Each voucher's signer ("" when the signature is malformed, or has a high s, which the escrow refuses). */
  async function signersOf(vouchers: SignedVoucher[]): Promise<string[]> {
    const checked = vouchers.map((v) => ({
      v, digest: digestOf(v), usable: (v.v === 27 || v.v === 28) && BigInt(v.s) <= HALF_N && BigInt(v.r) > 0n && BigInt(v.s) > 0n,
    }));
    if (opts.rpc) {
      try {
        const recovered = await recoverSigners(opts.rpc, checked.map(({ v, digest }) => ({ digest, v: v.v, r: v.r, s: v.s })));
        return recovered.map((a, i) => (checked[i]?.usable ? a : ""));
      } catch (err) {
        logger.warn({ err: (err as Error).message }, "the node did not recover the vouchers' signers; recovering them here");
      }
    }
    return checked.map(({ v, digest, usable }) => {
      if (!usable) return "";
      try {
        return recoverAddress(digest, { r: v.r, s: v.s, v: v.v }).toLowerCase();
      } catch {
        return "";
      }
    });
  }

  function hold(rows: QueueRow[]) {
    const touched = new Set<string>();
    for (const r of rows) {
      if (held.has(r.id)) continue;
      held.add(r.id);
      const m = String(r.merchant_id);
      const list = waiting.get(m) ?? [];
      const last = list.at(-1);
      if (last && BigInt(last.id) > BigInt(r.id)) touched.add(m);
      list.push(r);
      waiting.set(m, list);
    }
    for (const m of touched) waiting.get(m)!.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  }

  function release(rows: QueueRow[]) {
    for (const r of rows) held.delete(r.id);
  }

  type AcceptJob = { merchantId: number; vouchers: ReceivedVoucher[]; single: boolean; resolve: (r: { ids: string[] }) => void; reject: (err: unknown) => void };
  let accepting: AcceptJob[] = [];
  let acceptLoop = false;

  /**
   * Checks a merchant's vouchers against the index and their signatures, and stores them, all or none. Returns their
   * queue ids once stored. Requests that arrive while earlier ones are being checked are checked and stored together
   * (group commit): one signature call to the node, one read and one INSERT for all of them, each request still
   * accepted or refused on its own. A voucher is refused (422, naming the field) when it names another merchant than the
   * card's, or when its amount is not the share its lessons release after the card's vouchers accepted before it (the
   * escrow would refuse it: Custody_VoucherAmountMismatch). `single`: the request's body is the one voucher (field
   * names `body.amount`, not `body.vouchers.0.amount`).
   */
  function accept(merchantId: number, vouchers: ReceivedVoucher[], how: { single?: boolean } = {}): Promise<{ ids: string[] }> {
    return new Promise((resolve, reject) => {
      accepting.push({ merchantId, vouchers, single: how.single === true, resolve, reject });
      if (!acceptLoop) void drainAccepts();
    });
  }

  async function drainAccepts(): Promise<void> {
    acceptLoop = true;
    try {
      while (accepting.length) {
        // At most ~5,000 vouchers a group (five full requests): one node call and statement stay small.
        const take = groupSize(accepting.map((j) => j.vouchers.length), 5_000);
        const jobs = accepting.slice(0, take);
        accepting = accepting.slice(take);
        await acceptGroup(jobs).catch((err) => jobs.forEach((j) => j.reject(err)));
      }
    } finally {
      acceptLoop = false;
    }
  }

  async function acceptGroup(jobs: AcceptJob[]): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const all = jobs.flatMap((j) => j.vouchers);
    const cardIds = [...new Set(all.map((v) => v.cardId.toString()))];
    // The card as indexed, and the sequence after its last voucher accepted and not failed: confirmed ones count
    // too, since a batch is confirmed from the index as soon as its block is in, possibly before the card's row shows
    // it. The last voucher is read backwards on the (card_id, sequence) key: one index probe per card, where a max()
    // over the card's rows filtered by status had the planner intersect with the status index (all confirmed rows).
    const [cardRows, signers] = await Promise.all([
      db.query<{ card_id: string; holder: string; merchant_id: string; units_used: number; units_left: number; held: string; status: string; kind: string; next: number | null; pending_amount: string | null }>(
        `SELECT c.card_id, c.holder, c.merchant_id, c.units_used, c.units_left, c.held, c.status, c.kind,
           (SELECT q.sequence + q.lessons FROM voucher_queue q WHERE q.card_id = c.card_id AND q.status <> 'failed' ORDER BY q.sequence DESC LIMIT 1) AS next,
           (SELECT sum(q.amount) FROM voucher_queue q WHERE q.card_id = c.card_id AND q.status <> 'failed' AND q.sequence >= c.units_used) AS pending_amount
         FROM cards c WHERE c.card_id = ANY($1::numeric[])`,
        [cardIds],
      ),
      signersOf(all),
    ]);
    const cards = new Map(cardRows.map((c) => [String(c.card_id), c]));
    const good: { job: AcceptJob; rows: Omit<QueueRow, "id">[] }[] = [];
    decideAcceptance(jobs, cards, signers, now).forEach((d, k) => {
      const job = jobs[k];
      if (!job) return;
      if ("problems" in d) job.reject(new Refusal("unprocessable", "InvalidVouchers", "some vouchers cannot be accepted; none were", d.problems));
      else good.push({ job, rows: d.rows });
    });
    if (good.length === 0) return;
    try {
      const ids = await insertQueued(good.flatMap((g) => g.rows));
      let at = 0;
      for (const g of good) {
        const mineIds = ids.slice(at, at + g.rows.length);
        at += g.rows.length;
        if (started) hold(withIds(g.rows, mineIds));
        g.job.resolve({ ids: mineIds });
      }
    } catch (err) {
      if (!isDuplicate(err) || good.length === 1) {
        for (const g of good) g.job.reject(isDuplicate(err) ? duplicateError() : err);
        return;
      }
      // A duplicate somewhere (a voucher accepted meanwhile by another process): each request on its own.
      for (const g of good) {
        try {
          const ids = await insertQueued(g.rows);
          if (started) hold(withIds(g.rows, ids));
          g.job.resolve({ ids });
        } catch (e) {
          g.job.reject(isDuplicate(e) ? duplicateError() : e);
        }
      }
    }
  }

  const isDuplicate = (err: unknown) => /unique|duplicate/i.test((err as Error)?.message ?? "");
  const duplicateError = () => new Refusal("conflict", "DuplicateVoucher", "a voucher with this card and sequence was already accepted");

  /** One INSERT for all `rows`; their ids in the same order (RETURNING follows the order of the rows inserted). */
  async function insertQueued(rows: Omit<QueueRow, "id">[]): Promise<string[]> {
    const inserted = await db.query<{ id: string }>(
      `INSERT INTO voucher_queue (merchant_id, card_id, sequence, lessons, amount, deadline, v, r, s, status)
       SELECT merchant_id, card_id, sequence, lessons, amount, deadline, v, r, s, 'queued'
       FROM jsonb_to_recordset($1::jsonb) AS x(merchant_id bigint, card_id numeric, sequence int, lessons int, amount numeric, deadline bigint, v int, r text, s text)
       RETURNING id`,
      [JSON.stringify(rows)],
    );
    return inserted.map((r) => String(r.id));
  }

  async function markFailed(rows: QueueRow[], error: unknown) {
    await db.query("UPDATE voucher_queue SET status = 'failed', error = $2::jsonb, updated_at = now() WHERE id = ANY($1::bigint[])", [rows.map((r) => r.id), JSON.stringify(error)]);
    release(rows);
  }

  /**
   * A voucher whose sequence the chain has passed may already be on chain (sent before a crash, or by a batch that
   * was taken as lost and was mined after all): confirmed when the ledger has it, left waiting while the index is
   * behind the chain (it may be in the blocks not indexed yet), failed otherwise.
   */
  async function settleStale(rows: QueueRow[]): Promise<{ failed: QueueRow[]; waiting: QueueRow[] }> {
    const failed: QueueRow[] = [];
    const stillWaiting: QueueRow[] = [];
    let behind: boolean | null = null;
    for (const r of rows) {
      const onLedger = await db.query(
        "SELECT 1 FROM ledger WHERE card_id = $1 AND event = 'LessonsConsumed' AND (args->>'sequence')::int = $2 AND (args->>'lessons')::int = $3",
        [r.card_id, r.sequence, r.lessons],
      );
      if (onLedger.length) {
        await db.query("UPDATE voucher_queue SET status = 'confirmed', updated_at = now() WHERE id = $1", [r.id]);
        release([r]);
        continue;
      }
      if (behind === null) {
        const head = await opts.provider.getBlockNumber().catch(() => Number.MAX_SAFE_INTEGER);
        behind = (await indexedBlock()) < head;
      }
      (behind ? stillWaiting : failed).push(r);
    }
    return { failed, waiting: stillWaiting };
  }

  async function indexedBlock(): Promise<number> {
    const [cp] = await db.query<{ block_number: string }>("SELECT block_number FROM checkpoint WHERE id = 1");
    return cp ? Number(cp.block_number) : -1;
  }

  async function accountOf(merchantId: string): Promise<string | null> {
    const known = accounts.get(merchantId);
    if (known && (known.hasKey || Date.now() - known.at < 30_000)) return known.hasKey ? known.account : null;
    const [m] = await db.query<{ account: string }>("SELECT account FROM merchants WHERE merchant_id = $1", [merchantId]);
    const account = m?.account ?? null;
    const hasKey = account !== null && opts.keys.has(account);
    accounts.set(merchantId, { account, hasKey, at: Date.now() });
    return hasKey ? account : null;
  }

  /**
   * Sends one batch of a merchant's vouchers. Unless a voucher came back from a reverted batch, no estimate is asked:
   * the hash is recorded (status 'sent'), then the transaction is sent. Carefully (with an estimate), a voucher
   * the contract would refuse is dropped (failed, or confirmed if it is on chain already) and the rest are sent.
   * What cannot be sent now goes back to waiting.
   */
  async function sendMerchant(merchantId: string, rows: QueueRow[]): Promise<void> {
    const account = await accountOf(merchantId);
    if (!account) {
      putBack(rows); // the merchant sends its own transactions: they stay queued
      return;
    }
    const sender = await opts.keys.sender(account);
    let batch = rows;
    const careful = rows.some((r) => r.careful);
    for (let attempt = 0; attempt < 20 && batch.length; attempt++) {
      const data = encodeConsumeBatch(consumeBatchSelector, batch);
      const ids = batch.map((r) => r.id);
      let recorded: string | null = null;
      try {
        const sent = await sender.send({ to: escrowAddress, data }, {
          origin: "vouchers",
          gasLimit: careful ? undefined : batchGasLimit(batch.length),
          // Recorded before it is sent: a crash from here on finds the hash and asks the node about it.
          beforeSend: async (hash) => {
            signedCount++;
            await db.query("UPDATE voucher_queue SET status = 'sent', tx_hash = $2, updated_at = now() WHERE id = ANY($1::bigint[])", [ids, hash]);
            recorded = hash;
          },
        });
        track(sent.hash.toLowerCase(), account, merchantId, batch);
        return;
      } catch (err) {
        if (recorded !== null) {
          if (err instanceof MaybeSentError) {
            // The node may have it (the answer was lost): followed like any batch; taken as lost if the node does not know it.
            track(recorded, account, merchantId, batch);
            return;
          }
          await db.query("UPDATE voucher_queue SET status = 'queued', updated_at = now() WHERE tx_hash = $1 AND status = 'sent'", [recorded]);
        }
        const revert = refusalOf(err);
        const plan = planRefusal(batch, revert && { name: revert.name, cardId: revert.args.cardId !== undefined ? String(revert.args.cardId) : null });
        if (plan.kind === "retry" || !revert) {
          putBack(batch);
          throw err; // retryable: try again next round
        }
        if (plan.kind === "failAll") {
          await markFailed(batch, revert);
          return;
        }
        // Drop the offending card's vouchers (settling any that are in fact on chain already) and retry the rest.
        if (plan.settle) {
          const { failed, waiting: later } = await settleStale(plan.bad);
          if (failed.length) await markFailed(failed, revert);
          putBack(later);
        } else {
          await markFailed(plan.bad, revert);
        }
        batch = plan.rest;
      }
    }
    putBack(batch);
  }

  function putBack(rows: QueueRow[]) {
    release(rows);
    hold(rows);
  }

  function track(hash: string, account: string, merchantId: string, rows: QueueRow[]) {
    inFlight.set(hash, { since: Date.now(), account, merchantId, rows });
    for (const r of rows) busyCards.add(r.card_id);
  }

  function untrack(hash: string): QueueRow[] {
    const f = inFlight.get(hash);
    if (!f) return [];
    inFlight.delete(hash);
    for (const r of f.rows) busyCards.delete(r.card_id);
    return f.rows;
  }

  /**
   * Finds the batches in flight in the blocks the index has taken in since the last look (their bodies, hashes only),
   * all in one JSON-RPC batch: a batch whose events the index holds is confirmed; one mined without them reverted
   * (checked on its receipt, small since it has no logs), and its vouchers wait to be sent again, carefully. One the
   * node has forgotten (a restarted node loses its pool) is queued again and its sender's nonce re-read, so nothing
   * waits behind a nonce gap.
   */
  async function follow(): Promise<void> {
    const signedBefore = signedCount;
    const indexed = await indexedBlock();
    if (inFlight.size === 0) {
      // Nothing to look for: the next batch can only be in a block after the ones indexed now.
      if (signedCount === signedBefore) scanned = Math.max(scanned ?? -1, indexed);
      return;
    }
    const included = new Set<string>();
    if (scanned === null) scanned = indexed; // (only before the first look; start() sets it)
    if (indexed > scanned) {
      const upTo = Math.min(indexed, scanned + 100);
      const numbers = Array.from({ length: upTo - scanned }, (_, i) => scanned! + 1 + i);
      const bodies = opts.rpc
        ? await opts.rpc.batch<{ transactions: string[] } | null>(numbers.map((n) => ({ method: "eth_getBlockByNumber", params: ["0x" + n.toString(16), false] })))
        : await Promise.all(numbers.map((n) => opts.provider.getBlock(n).then((b) => (b ? { transactions: [...b.transactions] } : null))));
      for (const b of bodies) {
        if (!b) throw new RetryableError("a block the index holds is not available from the node");
        for (const h of b.transactions) if (inFlight.has(h.toLowerCase())) included.add(h.toLowerCase());
      }
      scanned = upTo;
    }
    if (included.size) {
      const hashes = [...included];
      const withEvents = new Set(
        (await db.query<{ tx_hash: string }>("SELECT DISTINCT tx_hash FROM ledger WHERE tx_hash = ANY($1::text[])", [hashes])).map((r) => r.tx_hash.toLowerCase()),
      );
      const others = hashes.filter((h) => !withEvents.has(h));
      const receipts = others.length ? await receiptsOf(others) : [];
      const { confirmed, reverted } = classifyIncluded(hashes, withEvents, new Map(others.map((h, i) => {
        const status = receipts[i]?.status;
        return [h, status === null || status === undefined ? null : Number(status)];
      })));
      if (confirmed.length) {
        await db.query("UPDATE voucher_queue SET status = 'confirmed', updated_at = now() WHERE tx_hash = ANY($1::text[]) AND status = 'sent'", [confirmed]);
        for (const h of confirmed) release(untrack(h));
      }
      if (reverted.length) {
        logger.warn({ txs: reverted }, "consumption batches reverted on chain; their vouchers are sent again, each batch estimated first");
        await db.query("UPDATE voucher_queue SET status = 'queued', updated_at = now() WHERE tx_hash = ANY($1::text[]) AND status = 'sent'", [reverted]);
        for (const h of reverted) putBack(untrack(h).map((r) => ({ ...r, careful: true })));
      }
    }
    const now = Date.now();
    for (const h of overdue(inFlight, included, now, lostAfterMs)) {
      const f = inFlight.get(h);
      if (!f) continue;
      const tx = await opts.provider.send("eth_getTransactionByHash", [h]);
      if (tx) {
        f.since = now; // still pending at the node (or mined in a block not indexed yet): look again later
        continue;
      }
      logger.warn({ tx: h }, "the node lost a consumption batch; its vouchers go back in the queue");
      await db.query("UPDATE voucher_queue SET status = 'queued', updated_at = now() WHERE tx_hash = $1 AND status = 'sent'", [h]);
      putBack(untrack(h));
      (await opts.keys.sender(f.account)).resetNonce();
    }
  }

  async function receiptsOf(hashes: string[]): Promise<({ status: string | number | null } | null)[]> {
    if (!opts.rpc) return Promise.all(hashes.map((h) => opts.provider.getTransactionReceipt(h)));
    return opts.rpc.batch<{ status: string } | null>(hashes.map((h) => ({ method: "eth_getTransactionReceipt", params: [h] })));
  }

  /** One batch per merchant: its oldest waiting vouchers whose cards have no batch in flight, up to maxPerTx. */
  async function round(): Promise<void> {
    const { batches, kept } = pickBatches(waiting, busyCards, opts.maxPerTx);
    for (const [merchantId, rest] of kept) waiting.set(merchantId, rest);
    await Promise.all(
      batches.map(([merchantId, list]) =>
        sendMerchant(merchantId, list).catch((err) => {
          logger.warn({ err: (err as Error).message, merchantId }, "consumption batch not sent; will retry");
          restore(merchantId, list);
        }),
      ),
    );
  }

  /** After a failed send: whichever of `rows` is neither waiting, in flight nor settled waits again. */
  function restore(merchantId: string, rows: QueueRow[]) {
    const waitingIds = new Set((waiting.get(merchantId) ?? []).map((r) => r.id));
    const flying = new Set([...inFlight.values()].flatMap((f) => f.rows.map((r) => r.id)));
    const stray = rows.filter((r) => held.has(r.id) && !waitingIds.has(r.id) && !flying.has(r.id));
    if (stray.length) putBack(stray);
  }

  /**
   * After a restart: what was sent and mined is confirmed (or queued again if it reverted); what was sent and is
   * still in the node's pool is followed; what the node does not know is queued again. Then the queued vouchers are
   * taken into memory.
   */
  async function recover(): Promise<void> {
    scanned = await indexedBlock();
    const sent = await db.query<{ tx_hash: string; merchant_id: string; account: string }>(
      `SELECT DISTINCT q.tx_hash, q.merchant_id, m.account FROM voucher_queue q LEFT JOIN merchants m ON m.merchant_id = q.merchant_id WHERE q.status = 'sent'`,
    );
    for (const { tx_hash, merchant_id, account } of sent) {
      const rc = await opts.provider.getTransactionReceipt(tx_hash);
      if (!rc && (await opts.provider.send("eth_getTransactionByHash", [tx_hash]))) {
        const rows = await queueRows("tx_hash = $1 AND status = 'sent'", [tx_hash]);
        for (const r of rows) held.add(r.id);
        track(tx_hash.toLowerCase(), account, String(merchant_id), rows);
        continue;
      }
      const status = rc ? (rc.status === 1 ? "confirmed" : "queued") : "queued";
      await db.query("UPDATE voucher_queue SET status = $2, updated_at = now() WHERE tx_hash = $1 AND status = 'sent'", [tx_hash, status]);
    }
    hold(await queueRows("status = 'queued'"));
  }

  /** Queue rows matching `where`, in id order, with ids as strings (as the working copy keeps them). */
  async function queueRows(where: string, params: unknown[] = []): Promise<QueueRow[]> {
    const rows = await db.query<QueueRow>(
      `SELECT id, merchant_id, card_id, sequence, lessons, COALESCE(amount, 0) AS amount, deadline, v, r, s FROM voucher_queue WHERE ${where} ORDER BY id`,
      params,
    );
    return rows.map((r) => ({ ...r, id: String(r.id), card_id: String(r.card_id), merchant_id: String(r.merchant_id), amount: String(r.amount) }));
  }

  /** Runs `fn` after any earlier run of it: a test's flush or poll never overlaps the timer's. */
  function serial(fn: () => Promise<void>): () => Promise<void> {
    let last: Promise<void> = Promise.resolve();
    return () => {
      const run = last.then(fn);
      last = run.catch(() => undefined);
      return run;
    };
  }
  const roundNow = serial(round);
  const followNow = serial(follow);

  function schedule() {
    if (stopping) return;
    timer = setTimeout(() => {
      running = roundNow()
        .catch((err) => logger.warn({ err: (err as Error).message }, "consumption queue round failed"))
        .finally(() => {
          running = null;
          schedule();
        });
    }, opts.intervalMs);
  }

  function scheduleFollow() {
    if (stopping) return;
    followTimer = setTimeout(() => {
      following = followNow()
        .catch((err) => logger.warn({ err: (err as Error).message }, "following consumption batches failed; will retry"))
        .finally(() => {
          following = null;
          scheduleFollow();
        });
    }, followMs);
  }

  return {
    accept,
    async start() {
      started = true;
      await recover();
      schedule();
      scheduleFollow();
    },
    /** Runs one round now (tests). */
    flush: roundNow,
    /** Looks for the batches in flight now (tests). */
    poll: followNow,
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      if (followTimer) clearTimeout(followTimer);
      await running;
      await following;
      // Whatever is still in flight stays 'sent' in the store: the next start asks the node about it.
    },
    async stats() {
      const rows = await db.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM voucher_queue GROUP BY status");
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
  };
}

export type ConsumptionQueue = ReturnType<typeof createConsumptionQueue>;
