/**
 * The transaction journal: every transaction the gateway signs or relays, kept (raw, signed) in the store before it
 * is sent. It is what makes an acknowledged write survive a chain that comes back shorter: a local node restored from
 * a snapshot older than its last blocks, or a node that lost its pool. At start, before anything else is sent,
 * `recover` asks the chain for each transaction not known to be in a block it still has and sends again, in the order
 * they were first sent, the ones it lacks. The same signed bytes give the same transaction hash, so the index and
 * every record that names the hash stay right. A transaction sent again that the contract now refuses (a voucher past
 * its deadline) is recorded as failed with the contract's reason, shown to whoever asked for it (GET /v1/transactions).
 *
 * States: signed (recorded, maybe sent), mined (in block `block_number`), reverted (mined, refused: its caller was told),
 * refused (the node would not take it: its caller was told; its nonce went to the next transaction), failed (sent again
 * after a crash and refused then: the reason in `error`), superseded (sent again, but its sender's nonce was used by
 * another transaction meanwhile).
 */
import { Logger } from "pino";
import { Transaction } from "ethers";
import { Rpc } from "../chain/rpc";
import { decodeRevert } from "../chain/signers";
import { Db } from "../store/db";

import type { TxActor, TxOrigin } from "../chain/signers";

export type { TxActor, TxOrigin };

export interface JournalRecord {
  hash: string;
  sender: string;
  nonce: number;
  raw: string;
  origin: TxOrigin;
  actor?: TxActor | null;
}

export interface JournalEntry {
  id: string;
  hash: string;
  sender: string;
  nonce: number;
  origin: TxOrigin;
  state: string;
  blockNumber: number | null;
  error: { name: string; args?: Record<string, unknown>; message?: string } | null;
  keyId: string | null;
  resent: boolean;
  createdAt: string;
  updatedAt: string;
}

interface Receipt {
  status: string;
  blockNumber: string;
}

export interface RecoverySummary {
  checked: number;
  onChain: number;
  resent: number;
  failed: { hash: string; origin: TxOrigin; error: string }[];
  ms: number;
}

const CHUNK = 200;

export function createTxJournal(opts: { db: Db; rpc: Rpc; logger: Logger; receiptTimeoutMs?: number }) {
  const { db, rpc, logger } = opts;
  async function receipts(hashes: string[]): Promise<(Receipt | null)[]> {
    const out: (Receipt | null)[] = [];
    for (let i = 0; i < hashes.length; i += CHUNK) {
      const chunk = hashes.slice(i, i + CHUNK);
      out.push(...(await rpc.batch<Receipt | null>(chunk.map((h) => ({ method: "eth_getTransactionReceipt", params: [h] })))));
    }
    return out;
  }

  async function settle(hash: string, rc: Receipt): Promise<void> {
    await db.query("UPDATE tx_journal SET state = $2, block_number = $3, updated_at = now() WHERE hash = $1",
      [hash, Number(rc.status) === 1 ? "mined" : "reverted", Number(rc.blockNumber)]);
  }

  /** Replays a transaction mined with status 0 as a call on the state before its block: the contract's reason. */
  async function reasonOf(raw: { from: string; to: string; data: string }, blockNumber: number): Promise<{ name: string; args?: Record<string, unknown> }> {
    try {
      await rpc.send("eth_call", [{ from: raw.from, to: raw.to, data: raw.data }, "0x" + Math.max(0, blockNumber - 1).toString(16)]);
    } catch (err) {
      const r = decodeRevert(err);
      if (r) return r;
      return { name: "Reverted", args: { message: (err as Error).message.slice(0, 200) } };
    }
    return { name: "Reverted" };
  }

  async function waitReceipt(hash: string): Promise<Receipt | null> {
    const deadline = Date.now() + (opts.receiptTimeoutMs ?? 60_000);
    for (;;) {
      const [rc] = await receipts([hash]);
      if (rc) return rc;
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return {
    /** Keeps a signed transaction before it is sent. */
    async record(r: JournalRecord): Promise<void> {
      await db.query(
        `INSERT INTO tx_journal (hash, sender, nonce, raw, origin, key_id, actor_role, actor_subject)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hash) DO NOTHING`,
        [r.hash.toLowerCase(), r.sender.toLowerCase(), r.nonce, r.raw, r.origin, r.actor?.keyId ?? null, r.actor?.role ?? null, r.actor?.subject ?? null],
      );
    },
    /** The node refused it (its caller is told): never sent again. */
    async refused(hash: string, reason: string): Promise<void> {
      await db.query("UPDATE tx_journal SET state = 'refused', error = $2::jsonb, updated_at = now() WHERE hash = $1 AND state = 'signed'",
        [hash.toLowerCase(), JSON.stringify({ name: "Refused", message: reason.slice(0, 300) })]);
    },
    /** Its receipt was seen (by whoever waited for it). */
    async mined(hash: string, blockNumber: number, ok: boolean): Promise<void> {
      await settle(hash.toLowerCase(), { status: ok ? "0x1" : "0x0", blockNumber: String(blockNumber) });
    },
    /** Marks the transactions recorded a while ago that are now in a block (keeps `recover`'s work small). */
    async sweep(): Promise<number> {
      const rows = await db.query<{ hash: string }>(
        "SELECT hash FROM tx_journal WHERE state = 'signed' AND created_at < now() - interval '2 seconds' ORDER BY id LIMIT 1000");
      if (!rows.length) return 0;
      const rcs = await receipts(rows.map((r) => r.hash));
      let n = 0;
      for (const [i, row] of rows.entries()) {
        const rc = rcs[i];
        if (rc) {
          await settle(row.hash, rc);
          n++;
        }
      }
      return n;
    },
    /**
     * Sends again, in the order first sent, every journaled transaction the chain lacks: those never seen in a block,
     * and those seen in a block after `lostAfterBlock` (the head of the state a local node was restored from). Each
     * is waited for before the next is sent, so a transaction that depends on an earlier one (a refund on a card
     * opened just before) finds it.
     */
    async recover(o: { lostAfterBlock?: number } = {}): Promise<RecoverySummary> {
      const t0 = Date.now();
      const rows = await db.query<{ id: string; hash: string; raw: string; origin: TxOrigin; state: string }>(
        `SELECT id, hash, raw, origin, state FROM tx_journal
         WHERE state = 'signed' OR ($1::bigint IS NOT NULL AND state IN ('mined', 'reverted') AND block_number > $1::bigint)
         ORDER BY id`,
        [o.lostAfterBlock ?? null],
      );
      const summary: RecoverySummary = { checked: rows.length, onChain: 0, resent: 0, failed: [], ms: 0 };
      const rcs = await receipts(rows.map((r) => r.hash));
      const missing: typeof rows = [];
      for (const [i, row] of rows.entries()) {
        const rc = rcs[i];
        if (rc) {
          summary.onChain++;
          await settle(row.hash, rc);
        } else if (row.state !== "reverted") {
          missing.push(row); // a reverted one that was lost is not sent again: its caller was told it failed
        }
      }
      for (const row of missing) {
        const tx = Transaction.from(row.raw);
        let rc: Receipt | null = null;
        try {
          await rpc.send("eth_sendRawTransaction", [row.raw]);
        } catch (err) {
          const msg = (err as Error).message;
          if (/nonce too low|nonce is too low/i.test(msg)) {
            await db.query("UPDATE tx_journal SET state = 'superseded', resent = true, error = $2::jsonb, updated_at = now() WHERE id = $1",
              [row.id, JSON.stringify({ name: "Superseded", message: `nonce ${tx.nonce} of ${tx.from} was used by another transaction` })]);
            summary.failed.push({ hash: row.hash, origin: row.origin, error: "Superseded" });
            continue;
          }
          if (!/already known|already imported/i.test(msg)) {
            const reason = decodeRevert(err) ?? { name: "Refused", args: { message: msg.slice(0, 200) } };
            await db.query("UPDATE tx_journal SET state = 'failed', resent = true, error = $2::jsonb, updated_at = now() WHERE id = $1", [row.id, JSON.stringify(reason)]);
            summary.failed.push({ hash: row.hash, origin: row.origin, error: reason.name });
            continue;
          }
        }
        rc = await waitReceipt(row.hash);
        summary.resent++;
        if (!rc) {
          // Not mined in time (a node that mines slowly): left 'signed', looked at again by the next start or sweep.
          await db.query("UPDATE tx_journal SET resent = true, updated_at = now() WHERE id = $1", [row.id]);
          continue;
        }
        if (Number(rc.status) === 1) {
          await db.query("UPDATE tx_journal SET state = 'mined', resent = true, block_number = $2, updated_at = now() WHERE id = $1", [row.id, Number(rc.blockNumber)]);
        } else {
          const reason = await reasonOf({ from: tx.from!, to: tx.to!, data: tx.data }, Number(rc.blockNumber));
          await db.query("UPDATE tx_journal SET state = 'failed', resent = true, block_number = $2, error = $3::jsonb, updated_at = now() WHERE id = $1",
            [row.id, Number(rc.blockNumber), JSON.stringify(reason)]);
          summary.failed.push({ hash: row.hash, origin: row.origin, error: reason.name });
        }
      }
      summary.ms = Date.now() - t0;
      if (summary.checked) logger.info(summary, "transaction journal recovered: what the chain lacked was sent again");
      return summary;
    },
    /** A caller's transactions (by API key), newest first; `state` filters. */
    async list(f: { keyId?: string; state?: string; limit: number; before?: string }): Promise<JournalEntry[]> {
      const rows = await db.query<Record<string, unknown>>(
        `SELECT id, hash, sender, nonce, origin, state, block_number, error, key_id, resent, created_at, updated_at FROM tx_journal
         WHERE ($1::text IS NULL OR key_id = $1) AND ($2::text IS NULL OR state = $2) AND ($3::bigint IS NULL OR id < $3::bigint)
         ORDER BY id DESC LIMIT $4`,
        [f.keyId ?? null, f.state ?? null, f.before ?? null, f.limit],
      );
      return rows.map((r) => ({
        id: String(r.id), hash: String(r.hash), sender: String(r.sender), nonce: Number(r.nonce), origin: r.origin as TxOrigin,
        state: String(r.state), blockNumber: r.block_number === null ? null : Number(r.block_number),
        error: (typeof r.error === "string" ? JSON.parse(r.error) : r.error) as JournalEntry["error"], keyId: (r.key_id as string | null) ?? null,
        resent: Boolean(r.resent), createdAt: new Date(r.created_at as string).toISOString(), updatedAt: new Date(r.updated_at as string).toISOString(),
      }));
    },
  };
}

export type TxJournal = ReturnType<typeof createTxJournal>;
