import { Db } from "./db";

/** Sums over the ledger and the merchants for the statistics: money per time bucket, per industry. */

type Query = Pick<Db, "query">;

/** Which merchants a sum covers (every filter given applies); none: all. */
export interface MerchantScope {
  merchantId?: number;
  industryId?: number;
  industries?: number[];
  bankId?: number;
}

/** The scope as conditions on `merchants m`, their values appended to `args`. */
function scopeClauses(scope: MerchantScope, args: unknown[]): string[] {
  const clauses: string[] = [];
  const add = (sql: string, v: unknown) => {
    args.push(v);
    clauses.push(sql.replace("?", `$${args.length}`));
  };
  if (scope.merchantId !== undefined) add("m.merchant_id = ?", scope.merchantId);
  if (scope.industryId !== undefined) add("m.industry_id = ?", scope.industryId);
  if (scope.industries) add("m.industry_id = ANY(?::int[])", scope.industries);
  if (scope.bankId !== undefined) add("m.bank_id = ?", scope.bankId);
  return clauses;
}

export interface MoneyBucketRow {
  b: string;
  paid_in: string;
  released: string;
  refunded: string;
  paid_out: string;
}

/** The ledger's `events` summed per bucket number ((block_time + shift) / size), paid in, released, refunded, paid out. */
export async function moneyBuckets(db: Query, scope: MerchantScope, events: readonly string[], size: number, shift: number): Promise<MoneyBucketRow[]> {
  const args: unknown[] = [];
  const clauses = scopeClauses(scope, args);
  args.push(size, shift);
  const sizeArg = `$${args.length - 1}::bigint`;
  const shiftArg = `$${args.length}::bigint`;
  const where = [`l.event IN (${events.map((e) => `'${e}'`).join(", ")})`, ...clauses];
  return db.query<MoneyBucketRow & Record<string, unknown>>(
    `SELECT ((l.block_time + ${shiftArg}) / ${sizeArg})::text AS b,
       coalesce(sum(CASE WHEN l.event IN ('CardPurchased', 'CardRenewed') THEN l.amount ELSE 0 END), 0)::text AS paid_in,
       coalesce(sum(CASE WHEN l.event IN ('LessonsConsumed', 'PeriodsReleased', 'DirectShareReleased', 'DisputeResolved') THEN l.amount
         WHEN l.event = 'FrozenPayableDecided' THEN -l.amount ELSE 0 END), 0)::text AS released,
       coalesce(sum(CASE WHEN l.event IN ('CardRefunded', 'DirectShareReturned', 'RenewalRefunded') THEN l.amount ELSE 0 END), 0)::text AS refunded,
       coalesce(sum(CASE WHEN l.event = 'PaidOut' THEN l.amount ELSE 0 END), 0)::text AS paid_out
     FROM ledger l JOIN merchants m ON m.merchant_id = l.merchant_id
     WHERE ${where.join(" AND ")}
     GROUP BY 1 ORDER BY 1`,
    args,
  );
}

export interface IndustryMoneyRow {
  industry_id: number;
  merchants: string;
  paid_in: string;
  released: string;
  refunded: string;
  paid_out: string;
}

/** The merchants' balances summed per industry. */
export async function moneyByIndustry(db: Query, scope: MerchantScope): Promise<IndustryMoneyRow[]> {
  const args: unknown[] = [];
  const clauses = scopeClauses(scope, args);
  return db.query<IndustryMoneyRow & Record<string, unknown>>(
    `SELECT m.industry_id, count(*)::text AS merchants, sum(m.paid_in)::text AS paid_in, sum(m.released)::text AS released,
       sum(m.refunded)::text AS refunded, sum(m.paid_out)::text AS paid_out
     FROM merchants m ${clauses.length ? "WHERE " + clauses.join(" AND ") : ""}
     GROUP BY m.industry_id ORDER BY m.industry_id`,
    args,
  );
}
