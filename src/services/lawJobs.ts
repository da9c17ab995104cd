import { ethers } from "ethers";
import type { Db } from "../store/db";
import { endOfPeriod } from "../chain/days";
import { waitReceipt } from "../chain/signers";
import { Services } from "./context";

/**
 * The 2025 rules' upkeep and the index reads behind them: the direct shares whose cooling-off ended (releaseDirect),
 * the lost-key recoveries whose wait is over (completeKeyRecovery), and the payout accounts merchants proposed (the
 * chain keeps only their reference; the bank needs the account itself to pay).
 */

/**
 * The chain's time now: its latest block's, or the wall clock's when that is later (as the contracts will see the next
 * block). Read fresh, not cached: the upkeep decides on it.
 */
export async function chainTime(s: Pick<Services, "provider">): Promise<number> {
  const wall = Math.floor(Date.now() / 1000);
  // Asked of the node itself: the provider's block cache may hold a block from before the last one mined.
  const block = await s.provider.send("eth_getBlockByNumber", ["latest", false]) as { timestamp?: string } | null;
  return Math.max(block?.timestamp ? Number(BigInt(block.timestamp)) : 0, wall);
}

/** At most this many cards in one releaseDirect, and recoveries completed per pass. */
const BATCH = 50;

/**
 * Cards of `merchantId` (or of every merchant) whose direct share waits in escrow and whose cooling-off is over as
 * the index sees it: the last purchase or renewal plus the cooling-off days of the policy in force (the industry's, at
 * least the district's), to 24:00 Beijing time. The contract checks again and skips a card still in its cooling-off.
 */
export async function releasableDirect(db: Pick<Db, "query">, nowSec: number, opts: { merchantId?: number; limit?: number } = {}) {
  const rows = await db.query<{ card_id: string; merchant_id: string; bank: string; last_sale: string; days: string | null; district: string | null }>(
    `SELECT c.card_id::text AS card_id, c.merchant_id::text AS merchant_id, b.account AS bank,
       (SELECT max(l.block_time) FROM ledger l WHERE l.card_id = c.card_id AND l.event IN ('CardPurchased', 'CardRenewed'))::text AS last_sale,
       (i.policy->>'coolingOffDays') AS days, (d.policy->>'coolingOffDays') AS district
     FROM cards c JOIN merchants m ON m.merchant_id = c.merchant_id JOIN banks b ON b.bank_id = m.bank_id
       LEFT JOIN industries i ON i.industry_id = m.industry_id LEFT JOIN industries d ON d.industry_id = 0
     WHERE c.pending_direct > 0 AND ($1::bigint IS NULL OR c.merchant_id = $1)
     ORDER BY c.card_id LIMIT $2`,
    [opts.merchantId ?? null, (opts.limit ?? BATCH) * 4],
  );
  return rows
    .filter((r) => {
      const days = Math.max(Number(r.days ?? 0), Number(r.district ?? 0), 7);
      return r.last_sale !== null && nowSec >= endOfPeriod(Number(r.last_sale), days);
    })
    .slice(0, opts.limit ?? BATCH)
    .map((r) => ({ cardId: r.card_id, merchantId: Number(r.merchant_id), bank: r.bank.toLowerCase() }));
}

/** Cards whose lost-key recovery has waited its 7 days: anyone may complete it now. */
export async function dueKeyRecoveries(db: Pick<Db, "query">, nowSec: number, limit = BATCH) {
  const rows = await db.query<{ card_id: string; bank: string }>(
    `SELECT c.card_id::text AS card_id, b.account AS bank
     FROM cards c JOIN merchants m ON m.merchant_id = c.merchant_id JOIN banks b ON b.bank_id = m.bank_id
     WHERE c.recovery_effective_at IS NOT NULL AND c.recovery_effective_at <= $1 ORDER BY c.recovery_effective_at, c.card_id LIMIT $2`,
    [nowSec, limit],
  );
  return rows.map((r) => ({ cardId: r.card_id, bank: r.bank.toLowerCase() }));
}

/**
 * Sends a holder's signed check-in (anyone may: the signature is the holder's), signed by the card's merchant's key or,
 * failing that, its bank's, whichever the gateway holds; null when it holds neither.
 */
export async function sendCheckIn(s: Services, merchantId: number, args: [bigint, number, number, string, string]) {
  const [party] = await s.db.query<{ merchant: string; bank: string }>(
    "SELECT m.account AS merchant, b.account AS bank FROM merchants m JOIN banks b ON b.bank_id = m.bank_id WHERE m.merchant_id = $1",
    [merchantId],
  );
  const account = [party?.merchant, party?.bank].find((a) => a && s.keys.has(a));
  if (!account) return null;
  const sender = await s.keys.sender(account);
  const sent = await sender.send({ to: s.deployment.escrow, data: s.escrow.interface.encodeFunctionData("checkIn", args) }, { origin: "api", actor: null });
  const rc = await waitReceipt(s.provider, sent.hash);
  await s.indexer.syncTo(rc.blockNumber);
  return { txHash: sent.hash, blockNumber: rc.blockNumber, ok: rc.status === 1 };
}

/** The reference a payout account is known by on chain: the hash of its bank and number, as the merchant gave them. */
export function payoutAccountRef(bankName: string, accountNumber: string): string {
  return ethers.id(`${bankName.trim()}|${accountNumber.replace(/\s+/g, "")}`);
}

/** Keeps what a reference stands for, so the bank can pay the confirmed account (the chain keeps only the hash). */
export async function savePayoutAccount(db: Pick<Db, "query">, merchantId: number, ref: string, bankName: string, accountNumber: string) {
  await db.query(
    `INSERT INTO payout_accounts (merchant_id, account_ref, bank_name, account_number) VALUES ($1, $2, $3, $4)
     ON CONFLICT (merchant_id, account_ref) DO UPDATE SET bank_name = EXCLUDED.bank_name, account_number = EXCLUDED.account_number`,
    [merchantId, ref.toLowerCase(), bankName.trim(), accountNumber.replace(/\s+/g, "")],
  );
}

/** The merchant's payout account in force and the one proposed, with what each reference stands for when known. */
export async function payoutAccountsOf(db: Pick<Db, "query">, merchantId: number) {
  const [m] = await db.query<{ payout_account: string | null; payout_account_proposed: string | null }>(
    "SELECT payout_account, payout_account_proposed FROM merchants WHERE merchant_id = $1",
    [merchantId],
  );
  const refs = [m?.payout_account, m?.payout_account_proposed].filter((r): r is string => Boolean(r)).map((r) => r.toLowerCase());
  const known = refs.length
    ? await db.query<{ account_ref: string; bank_name: string; account_number: string }>(
      "SELECT account_ref, bank_name, account_number FROM payout_accounts WHERE merchant_id = $1 AND account_ref = ANY($2::text[])",
      [merchantId, refs],
    )
    : [];
  const view = (ref: string | null | undefined) => {
    if (!ref) return null;
    const k = known.find((r) => r.account_ref === ref.toLowerCase());
    return { ref, bankName: k?.bank_name ?? null, accountNumber: k?.account_number ?? null };
  };
  return { confirmed: view(m?.payout_account), proposed: view(m?.payout_account_proposed) };
}

/**
 * One pass of the upkeep: releases the direct shares whose cooling-off ended and completes the key recoveries whose
 * wait is over, each signed by the custodian bank's key when the gateway holds it (anyone may call either; the bank is
 * the party that answers for its cards). Waits for each transaction to be mined and indexed, so a pass never sends
 * the same work twice. Returns what it sent.
 */
export async function runLawUpkeep(s: Services): Promise<{ directReleases: number; keyRecoveries: number }> {
  const now = await chainTime(s);
  let directReleases = 0;
  let keyRecoveries = 0;
  const byBank = new Map<string, string[]>();
  for (const c of await releasableDirect(s.db, now)) byBank.set(c.bank, [...(byBank.get(c.bank) ?? []), c.cardId]);
  const send = async (bank: string, data: string) => {
    const sender = await s.keys.sender(bank);
    const sent = await sender.send({ to: s.deployment.escrow, data }, { origin: "api", actor: null });
    const rc = await waitReceipt(s.provider, sent.hash);
    await s.indexer.syncTo(rc.blockNumber);
    return rc.status === 1;
  };
  for (const [bank, cardIds] of byBank) {
    if (!s.keys.has(bank)) continue;
    if (await send(bank, s.escrow.interface.encodeFunctionData("releaseDirect", [cardIds]))) directReleases += cardIds.length;
  }
  for (const r of await dueKeyRecoveries(s.db, now)) {
    if (!s.keys.has(r.bank)) continue;
    try {
      if (await send(r.bank, s.escrow.interface.encodeFunctionData("completeKeyRecovery", [r.cardId]))) keyRecoveries++;
    } catch (err) {
      s.logger.warn({ cardId: r.cardId, err: (err as Error).message }, "key recovery not completed");
    }
  }
  return { directReleases, keyRecoveries };
}
