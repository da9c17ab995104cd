import { Db, queryOne } from "../store/db";
import { Refusal, required } from "../errors";
import { readCsv } from "../csv";

/** One line of a custodian bank's custody-account statement. Money in fen. */
/** What moves money into the custody account (purchases, renewals) and out of it (payouts, refunds). */
const CUSTODY_EVENTS = ["CardPurchased", "CardRenewed", "PaidOut", "CardRefunded", "DirectShareReturned", "RenewalRefunded"].map((e) => `'${e}'`).join(", ");

export interface StatementLine {
  ref: string;
  direction: "in" | "out";
  amountFen: bigint;
  /** The chain transaction that ordered it, when the bank's system recorded it. */
  txHash?: string;
  cardId?: string;
  merchantId?: number;
}

export interface Statement {
  fromBlockTime?: number;
  toBlockTime?: number;
  closingBalanceFen: bigint;
  lines: StatementLine[];
}

interface ChainMovement {
  key: string;
  direction: "in" | "out";
  amount: bigint;
  txHash: string;
  event: string;
  cardId: string | null;
  merchantId: number;
}

/** Parses a CSV statement: header `ref,direction,amountFen,txHash,cardId,merchantId`, last line `closing,,<fen>`. */
export function parseStatementCsv(text: string): Statement {
  const { records, problem } = readCsv(text);
  const problems: { field: string; reason: string }[] = [];
  const header = records[0];
  if (!header || !/^ref,direction,amountFen/i.test(header.cells.map((c) => c.trim()).join(","))) {
    throw new Refusal("invalid", "InvalidRequest", "the statement is not in the expected CSV format", [{ field: "body", reason: "the first line must be the header ref,direction,amountFen,txHash,cardId,merchantId" }]);
  }
  if (problem) problems.push({ field: `line ${problem.line}`, reason: problem.reason });
  const out: Statement = { closingBalanceFen: -1n, lines: [] };
  for (const { line: lineNo, cells } of records.slice(1)) {
    const [ref = "", direction, amount = "", txHash, cardId, merchantId] = cells.map((c) => c.trim());
    if (ref === "closing") {
      if (!/^\d+$/.test(amount)) problems.push({ field: `line ${lineNo}.amountFen`, reason: "the closing balance is a whole number of fen" });
      else out.closingBalanceFen = BigInt(amount);
      continue;
    }
    if (direction !== "in" && direction !== "out") problems.push({ field: `line ${lineNo}.direction`, reason: "in or out" });
    if (!/^\d+$/.test(amount)) problems.push({ field: `line ${lineNo}.amountFen`, reason: "a whole, non-negative number of fen" });
    if (txHash && !/^0x[0-9a-fA-F]{64}$/.test(txHash)) problems.push({ field: `line ${lineNo}.txHash`, reason: "0x and 64 hex digits" });
    if (cardId && !/^\d+$/.test(cardId)) problems.push({ field: `line ${lineNo}.cardId`, reason: "a decimal card id" });
    if (merchantId && !/^\d+$/.test(merchantId)) problems.push({ field: `line ${lineNo}.merchantId`, reason: "a whole number" });
    if (problems.length) continue;
    out.lines.push({
      ref, direction: direction as "in" | "out", amountFen: BigInt(amount), txHash: txHash || undefined, cardId: cardId || undefined,
      merchantId: merchantId ? Number(merchantId) : undefined,
    });
  }
  if (out.closingBalanceFen < 0n) problems.push({ field: "closing", reason: "the statement needs a last line closing,,<balance in fen>" });
  if (problems.length) throw new Refusal("invalid", "InvalidRequest", "the statement has invalid lines", problems);
  return out;
}

/**
 * Cross-checks a bank's statement with the chain (交叉验证): every money movement the contracts ordered for
 * this bank (custodied payments in; payouts and refunds out) against the statement's lines.
 */
export async function reconcile(db: Db, bankId: number, st: Statement, onChainSupply: bigint) {
  const args: unknown[] = [bankId];
  let time = "";
  if (st.fromBlockTime !== undefined) {
    args.push(st.fromBlockTime);
    time += ` AND l.block_time >= $${args.length}`;
  }
  if (st.toBlockTime !== undefined) {
    args.push(st.toBlockTime);
    time += ` AND l.block_time <= $${args.length}`;
  }
  const rows = await db.query<{ tx_hash: string; log_index: number; event: string; card_id: string | null; merchant_id: string; args: unknown }>(
    `SELECT l.tx_hash, l.log_index, l.event, l.card_id, l.merchant_id, l.args FROM ledger l JOIN merchants m ON m.merchant_id = l.merchant_id
     WHERE m.bank_id = $1 AND l.event IN (${CUSTODY_EVENTS})${time} ORDER BY l.id`,
    args,
  );
  const chain: ChainMovement[] = rows
    .map((r) => {
      const a = (typeof r.args === "string" ? JSON.parse(r.args) : r.args) as Record<string, string | number>;
      const into = r.event === "CardPurchased" || r.event === "CardRenewed";
      // Since the 2025 rules the whole price is in custody (the direct share waits there through the cooling-off).
      const arg = (name: string) => BigInt(required(a[name], `${r.event}'s ${name}`));
      const amount = into ? arg("custodied") + BigInt(a.direct ?? 0) : arg("amount");
      return {
        key: `${r.tx_hash}:${r.log_index}`, direction: (into ? "in" : "out") as "in" | "out",
        amount, txHash: r.tx_hash.toLowerCase(), event: r.event, cardId: r.card_id === null ? null : String(r.card_id), merchantId: Number(r.merchant_id),
      };
    })
    .filter((m) => m.amount > 0n);
  const used = new Set<string>();
  const matched: unknown[] = [];
  const mismatched: unknown[] = [];
  const unmatched: unknown[] = [];
  for (const line of st.lines) {
    const candidates = chain.filter(
      (c) => !used.has(c.key) && c.direction === line.direction &&
        (line.txHash ? c.txHash === line.txHash.toLowerCase() : true) &&
        (line.cardId ? c.cardId === line.cardId : true) &&
        (line.merchantId !== undefined ? c.merchantId === line.merchantId : true),
    );
    const exact = candidates.find((c) => c.amount === line.amountFen);
    const ref = { ref: line.ref, direction: line.direction, amountFen: line.amountFen.toString() };
    if (exact) {
      used.add(exact.key);
      matched.push({ ...ref, event: exact.event, txHash: exact.txHash });
    } else if ((line.txHash || line.cardId || line.merchantId !== undefined) && candidates[0]) {
      const c = candidates[0];
      used.add(c.key);
      mismatched.push({ ...ref, event: c.event, txHash: c.txHash, chainAmountFen: c.amount.toString(), differenceFen: (line.amountFen - c.amount).toString() });
    } else {
      unmatched.push({ ...ref, side: "statement", reason: "no movement on chain matches this line" });
    }
  }
  for (const c of chain) {
    if (!used.has(c.key)) unmatched.push({ side: "chain", direction: c.direction, amountFen: c.amount.toString(), event: c.event, txHash: c.txHash, cardId: c.cardId, merchantId: c.merchantId, reason: "the statement has no line for this movement" });
  }
  // A statement for a period ends with the balance at the period's end, not today's: it is compared with what custody
  // held then (custodied in less paid out and refunded, up to the period's last second), from the indexed chain events.
  let periodEndCustody: bigint | null = null;
  if (st.toBlockTime !== undefined) {
    const row = await queryOne<{ custody: string }>(db,
      `SELECT coalesce(sum(CASE WHEN l.event IN ('CardPurchased', 'CardRenewed') THEN (l.args->>'custodied')::numeric + coalesce((l.args->>'direct')::numeric, 0)
                                 ELSE -(l.args->>'amount')::numeric END), 0)::text AS custody
       FROM ledger l JOIN merchants m ON m.merchant_id = l.merchant_id
       WHERE m.bank_id = $1 AND l.event IN (${CUSTODY_EVENTS}) AND l.block_time <= $2`,
      [bankId, st.toBlockTime],
    );
    periodEndCustody = BigInt(row.custody);
  }
  const difference = st.closingBalanceFen - (periodEndCustody ?? onChainSupply);
  return {
    bankId,
    matched,
    mismatched,
    unmatched,
    closingBalanceFen: st.closingBalanceFen.toString(),
    onChainCustodyFen: onChainSupply.toString(),
    /** With a period: custody at its end, which the closing balance is compared with (otherwise the token supply now). */
    periodEndCustodyFen: periodEndCustody === null ? null : periodEndCustody.toString(),
    differenceFen: difference.toString(),
    reconciled: difference === 0n && mismatched.length === 0 && unmatched.length === 0,
  };
}
