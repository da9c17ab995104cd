import { encodeBytes32String, JsonRpcApiProvider } from "ethers";
import { Logger } from "pino";
import { PrepaidEscrow } from "../../typechain-types";
import { KeyRing } from "../chain/signers";
import { Db, queryOne } from "../store/db";
import { backoff } from "./alerts";
import { RISK_LEVELS, RiskLevel } from "./levels";
import { pendingChainUpdates } from "./ratings";

/**
 * The risk oracle: puts rated levels on chain (PrepaidEscrow.setRiskLevel), where the contracts enforce them
 * (high: no new cards or renewals; medium: the policy's 30-day cap on new card value).
 *
 * What has to go is derived, not queued: every current rating whose level differs from the level the index has
 * for the merchant (pendingChainUpdates). So a crash, a restart, a failed or dropped transaction loses nothing:
 * the next pass finds the difference again. Attempts are recorded in risk_pushes (sent → mined / reverted /
 * dropped, or failed before sending), and a merchant whose last attempts failed waits with exponential back-off.
 * A level already on chain but not yet indexed is not sent twice (the chain is read before sending).
 */

export interface PushOptions {
  db: Db;
  provider: JsonRpcApiProvider;
  escrow: PrepaidEscrow;
  keys: KeyRing;
  /** The risk oracle's account (its key in the key ring); null: nothing is sent, pushes wait. */
  oracle: string | null;
  /** Waits until the index holds a block (so an answer's next read sees the level). */
  syncTo: (block: number) => Promise<void>;
  logger: Logger;
  backoffMs: number;
  maxBackoffMs: number;
  /** A sent transaction with no receipt after this long is taken as dropped and sent again. Default 120 s. */
  dropAfterMs?: number;
}

export interface PushRecord {
  id: number;
  merchantId: number;
  level: RiskLevel;
  reason: string;
  status: "sent" | "mined" | "reverted" | "failed" | "dropped";
  txHash: string | null;
  error: string | null;
  blockNumber: number | null;
  createdMs: number;
  settledMs: number | null;
}

function pushOf(r: Record<string, unknown>): PushRecord {
  return {
    id: Number(r.id), merchantId: Number(r.merchant_id), level: r.level as RiskLevel, reason: String(r.reason), status: r.status as PushRecord["status"],
    txHash: (r.tx_hash as string | null) ?? null, error: (r.error as string | null) ?? null, blockNumber: r.block_number == null ? null : Number(r.block_number),
    createdMs: Number(r.created_ms), settledMs: r.settled_ms == null ? null : Number(r.settled_ms),
  };
}

/** A merchant's push attempts, newest first. */
export async function listPushes(db: Pick<Db, "query">, merchantId: number, limit = 20): Promise<PushRecord[]> {
  return (await db.query("SELECT * FROM risk_pushes WHERE merchant_id = $1 ORDER BY id DESC LIMIT $2", [merchantId, limit])).map(pushOf);
}

export interface PushPass {
  /** Transactions sent in this pass. */
  sent: PushRecord[];
  /** Attempts that failed before a transaction went out (e.g. the key is not the risk oracle). */
  failed: PushRecord[];
  /** Earlier transactions whose outcome was recorded in this pass. */
  settled: number;
  /** Levels still to push (waiting on back-off, a receipt, the index, or the oracle's key). */
  waiting: number;
}

export function createRiskPusher(o: PushOptions) {
  const dropAfterMs = o.dropAfterMs ?? 120_000;
  let running: Promise<PushPass> | null = null;
  let warnedNoKey = false;

  /** Records the outcome of sent transactions that have a receipt, and gives up on ones that never came. */
  async function settleSent(): Promise<number> {
    const sent = await o.db.query("SELECT * FROM risk_pushes WHERE status = 'sent' ORDER BY id");
    let n = 0;
    for (const row of sent.map(pushOf)) {
      const rc = await o.provider.getTransactionReceipt(row.txHash!);
      if (rc) {
        await o.db.query("UPDATE risk_pushes SET status = $2, block_number = $3, settled_ms = $4 WHERE id = $1", [row.id, rc.status === 1 ? "mined" : "reverted", rc.blockNumber, Date.now()]);
        n++;
        if (rc.status !== 1) o.logger.warn({ merchantId: row.merchantId, txHash: row.txHash }, "risk level push reverted; will retry");
      } else if (Date.now() - row.createdMs > dropAfterMs) {
        await o.db.query("UPDATE risk_pushes SET status = 'dropped', settled_ms = $2, error = 'no receipt' WHERE id = $1", [row.id, Date.now()]);
        n++;
      }
    }
    return n;
  }

  async function record(p: { merchantId: number; level: RiskLevel; reason: string; status: PushRecord["status"]; txHash?: string; error?: string }): Promise<PushRecord> {
    const row = await queryOne(o.db,
      `INSERT INTO risk_pushes (merchant_id, level, reason, status, tx_hash, error, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [p.merchantId, p.level, p.reason, p.status, p.txHash ?? null, p.error ?? null, Date.now()],
    );
    return pushOf(row);
  }

  async function passNow(merchantIds?: number[]): Promise<PushPass> {
    const out: PushPass = { sent: [], failed: [], settled: await settleSent(), waiting: 0 };
    let pending = await pendingChainUpdates(o.db);
    if (merchantIds) pending = pending.filter((p) => merchantIds.includes(p.merchantId));
    if (!pending.length) return out;
    if (!o.oracle) {
      if (!warnedNoKey) o.logger.warn({ pending: pending.length }, "no risk oracle account configured (RISK_ORACLE_ADDRESS): risk levels wait to go on chain");
      warnedNoKey = true;
      out.waiting = pending.length;
      return out;
    }
    // each merchant's last attempt, and how many attempts failed in a row since its last success
    const attempts = await o.db.query<{ merchant_id: string; status: string; created_ms: string; failures: string }>(
      `SELECT DISTINCT ON (p.merchant_id) p.merchant_id, p.status, p.created_ms,
         (SELECT count(*) FROM risk_pushes f WHERE f.merchant_id = p.merchant_id AND f.status IN ('failed', 'reverted', 'dropped')
            AND f.id > coalesce((SELECT max(id) FROM risk_pushes g WHERE g.merchant_id = p.merchant_id AND g.status = 'mined'), 0)) AS failures
       FROM risk_pushes p WHERE p.merchant_id = ANY($1::bigint[]) ORDER BY p.merchant_id, p.id DESC`,
      [pending.map((p) => p.merchantId)],
    );
    const last = new Map(attempts.map((a) => [Number(a.merchant_id), a]));
    const now = Date.now();
    for (const p of pending) {
      const a = last.get(p.merchantId);
      if (a?.status === "sent") { out.waiting++; continue; }
      const failures = Number(a?.failures ?? 0);
      if (a && failures > 0 && now < Number(a.created_ms) + backoff(failures, o.backoffMs, o.maxBackoffMs)) { out.waiting++; continue; }
      const onChain = RISK_LEVELS[Number((await o.escrow.merchantOf(p.merchantId)).risk)];
      if (onChain === p.level) { out.waiting++; continue; } // on chain already: the index will catch up
      const reason = `rating ${p.computedAt}`;
      try {
        const sender = await o.keys.sender(o.oracle);
        const data = o.escrow.interface.encodeFunctionData("setRiskLevel", [p.merchantId, RISK_LEVELS.indexOf(p.level), encodeBytes32String(reason)]);
        const tx = await sender.send({ to: await o.escrow.getAddress(), data }, { origin: "risk" });
        out.sent.push(await record({ merchantId: p.merchantId, level: p.level, reason, status: "sent", txHash: tx.hash }));
      } catch (err) {
        const e = err as { code?: string; message?: string };
        const error = `${e.code && e.code !== "ERR" ? e.code + ": " : ""}${e.message ?? String(err)}`.slice(0, 500);
        out.failed.push(await record({ merchantId: p.merchantId, level: p.level, reason, status: "failed", error }));
        o.logger.warn({ merchantId: p.merchantId, level: p.level, error }, "risk level push failed; will retry");
      }
    }
    return out;
  }

  /** One pass over what is pending; concurrent callers share a running pass. */
  function pass(merchantIds?: number[]): Promise<PushPass> {
    if (running) return running.then(() => pass(merchantIds));
    running = passNow(merchantIds).finally(() => { running = null; });
    return running;
  }

  /**
   * Pushes the merchants' pending levels now and waits (up to `timeoutMs`) until they are mined and indexed.
   * Returns each merchant's latest attempt.
   */
  async function pushAndWait(merchantIds: number[], timeoutMs = 30_000): Promise<PushRecord[]> {
    await pass(merchantIds);
    const deadline = Date.now() + timeoutMs;
    const latest = async () => {
      const out: PushRecord[] = [];
      for (const id of merchantIds) {
        const [p] = await listPushes(o.db, id, 1);
        if (p) out.push(p);
      }
      return out;
    };
    // wait for this pass's transactions, or an earlier pass's still in flight for these merchants
    let rows = await latest();
    while (rows.some((r) => r.status === "sent") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      await settleSent();
      rows = await latest();
    }
    const mined = rows.filter((r) => r.status === "mined" && r.blockNumber !== null).map((r) => r.blockNumber!);
    if (mined.length) {
      await Promise.race([o.syncTo(Math.max(...mined)), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
    }
    return rows;
  }

  /** Records the outcome of sent transactions until none is left in flight, or `timeoutMs` passed. */
  async function settle(timeoutMs = 60_000, stop: () => boolean = () => false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!stop()) {
      await settleSent();
      const r = await queryOne<{ n: string }>(o.db, "SELECT count(*) AS n FROM risk_pushes WHERE status = 'sent'");
      if (Number(r.n) === 0 || Date.now() > deadline) return;
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  return { pass, pushAndWait, settle };
}

export type RiskPusher = ReturnType<typeof createRiskPusher>;
