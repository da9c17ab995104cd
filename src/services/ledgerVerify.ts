import { decodeLog, RawLog } from "../chain/events";
import { ledgerAmount, ledgerParties } from "../indexing/ledgerRow";
import { Db } from "../store/db";
import type { Services } from "./context";

/** A ledger row as stored (int8 and numeric columns come back as strings). */
export interface StoredLedgerRow {
  id: string;
  block_number: string | number;
  block_hash: string;
  block_time: string | number;
  tx_hash: string;
  tx_index: number;
  log_index: number;
  contract: string;
  event: string;
  merchant_id: string | number | null;
  card_id: string | null;
  holder: string | null;
  amount: string | number | null;
  args: unknown;
}

export interface LedgerVerification {
  id: string;
  verified: boolean;
  /** One line per column that differs from the chain, starting with the column's name, e.g. `amount: stored 1, chain 20000`. */
  problems: string[];
  txHash: string;
  blockNumber: number;
  onChain: { event: string; args: Record<string, unknown> } | null;
}

export async function ledgerRowById(db: Db, id: string): Promise<StoredLedgerRow | null> {
  const [row] = await db.query<StoredLedgerRow & Record<string, unknown>>(
    `SELECT id::text, block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id::text, holder, amount, args
     FROM ledger WHERE id = $1`,
    [id],
  );
  return row ?? null;
}

/** JSON with keys sorted, so jsonb's own key order does not count as a difference. */
function canon(v: unknown): string {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canon((v as Record<string, unknown>)[k])).join(",") + "}";
  }
  return JSON.stringify(v);
}

const text = (v: unknown) => (v === null || v === undefined ? null : String(v));

/**
 * Checks every stored column of a ledger row against the chain: the transaction's receipt gives the block (number and
 * hash), the transaction's index and the log at the row's index (contract, event and its values); the block gives the
 * time; the event gives the merchant, card, holder and amount as the indexer derives them (src/indexing/ledgerRow.ts),
 * and for a card event that does not name its holder, the card on chain does.
 */
export async function verifyLedgerRow(s: Pick<Services, "provider" | "escrow" | "deployment">, row: StoredLedgerRow): Promise<LedgerVerification> {
  const problems: string[] = [];
  const differs = (column: string, stored: unknown, chain: unknown) => {
    if (text(stored) !== text(chain)) problems.push(`${column}: stored ${text(stored) ?? "null"}, chain ${text(chain) ?? "null"}`);
  };
  let onChain: LedgerVerification["onChain"] = null;
  const receipt = /^0x[0-9a-fA-F]{64}$/.test(row.tx_hash) ? await s.provider.getTransactionReceipt(row.tx_hash) : null;
  if (!receipt) problems.push("tx_hash: the chain has no receipt for this transaction");
  else {
    differs("block_number", row.block_number, receipt.blockNumber);
    differs("block_hash", row.block_hash, receipt.blockHash);
    differs("tx_index", row.tx_index, receipt.index);
    const block = await s.provider.getBlock(receipt.blockHash);
    differs("block_time", row.block_time, block?.timestamp);
    const log = receipt.logs.find((l) => l.index === Number(row.log_index));
    if (!log) problems.push(`log_index: the receipt has no log at index ${row.log_index}`);
    else {
      const raw: RawLog = {
        address: log.address, topics: [...log.topics], data: log.data, blockNumber: "0x" + log.blockNumber.toString(16), blockHash: log.blockHash,
        transactionHash: log.transactionHash, transactionIndex: "0x" + log.transactionIndex.toString(16), logIndex: "0x" + log.index.toString(16),
      };
      const decoded = decodeLog(raw, { escrow: s.deployment.escrow.toLowerCase(), registry: s.deployment.registry.toLowerCase() });
      differs("contract", row.contract, log.address.toLowerCase());
      if (!decoded) problems.push("event: the log at this index is no custody event");
      else {
        onChain = { event: decoded.event, args: decoded.args };
        differs("event", row.event, decoded.event);
        const stored = typeof row.args === "string" ? JSON.parse(row.args) : row.args;
        if (canon(decoded.args) !== canon(stored)) problems.push(`args: the event's values differ (chain ${canon(decoded.args)})`);
        const parties = ledgerParties(decoded.args);
        differs("merchant_id", row.merchant_id, parties.merchantId);
        differs("card_id", row.card_id, parties.cardId);
        const holder = parties.holderNeeded ? (await s.escrow.cardOf(BigInt(parties.cardId!))).holder.toLowerCase() : parties.holder;
        differs("holder", row.holder, holder);
        differs("amount", row.amount, ledgerAmount(decoded.event, decoded.args));
      }
    }
  }
  return { id: String(row.id), verified: problems.length === 0, problems, txHash: row.tx_hash, blockNumber: Number(row.block_number), onChain };
}
