import { ChainEvent, MERCHANT_STATUS, PLAN_KIND, REFUND_REASON, RISK_LEVEL, enumName } from "../chain/events";
import { Db, DbTx, queryOne } from "../store/db";
import { FatalError } from "../errors";
import { ledgerAmount } from "./ledgerRow";

/**
 * Turns a batch of events into ledger rows and current-state rows. Entities touched by the batch are loaded
 * once, changed in memory in event order, and written back with one statement per table, so a batch of
 * thousands of consumptions costs a handful of SQL statements.
 */

interface MerchantRow {
  merchant_id: number; account: string; industry_id: number; bank_id: number; registry_ref: string;
  status: string; risk_level: string; exit_effective_at: number | null;
  paid_in: bigint; direct: bigint; released: bigint; refunded: bigint; paid_out: bigint; card_count: number;
  admitted_at: number; updated_block: number; breach_recorded_at: number | null;
  /** Released money its regulator decided to the holders of the frozen merchant, not yet claimed (part of held). */
  holder_pool: bigint;
  /** The payout account's reference in force, and the one proposed and not yet confirmed. */
  payout_account: string | null; payout_account_proposed: string | null;
}

interface CardRow {
  card_id: string; merchant_id: number; holder: string; plan_index: number; kind: string; status: string; named: boolean;
  held: bigint; units_left: number; units_used: number; paid_in: bigint; direct: bigint; released: bigint; refunded: bigint;
  started_at: number; expires_at: number; updated_block: number; pending_direct: bigint;
  /** A lost key's recovery under way: the new key and when it takes effect (null: none). */
  recovery_to: string | null; recovery_effective_at: number | null;
}

interface DisputeRow {
  card_id: string; merchant_id: number; industry_id: number; status: string; opened_by: string; reason: string; amount: bigint;
  opened_at: number; refunded: bigint | null; released: bigint | null; resolved_by: string | null; resolved_at: number | null;
}

export interface BlockTimes {
  get(blockNumber: number): number;
}

const big = (v: unknown) => BigInt(v as string | number);
const num = (v: unknown) => Number(v);
const lower = (v: unknown) => String(v).toLowerCase();

function merchantFromDb(r: Record<string, unknown>): MerchantRow {
  return {
    merchant_id: num(r.merchant_id), account: String(r.account), industry_id: num(r.industry_id), bank_id: num(r.bank_id),
    registry_ref: String(r.registry_ref), status: String(r.status), risk_level: String(r.risk_level),
    exit_effective_at: r.exit_effective_at == null ? null : num(r.exit_effective_at),
    paid_in: big(r.paid_in), direct: big(r.direct), released: big(r.released), refunded: big(r.refunded), paid_out: big(r.paid_out),
    card_count: num(r.card_count), admitted_at: num(r.admitted_at), updated_block: num(r.updated_block),
    breach_recorded_at: r.breach_recorded_at == null ? null : num(r.breach_recorded_at),
    holder_pool: big(r.holder_pool ?? 0),
    payout_account: r.payout_account == null ? null : String(r.payout_account),
    payout_account_proposed: r.payout_account_proposed == null ? null : String(r.payout_account_proposed),
  };
}

function cardFromDb(r: Record<string, unknown>): CardRow {
  return {
    card_id: String(r.card_id), merchant_id: num(r.merchant_id), holder: String(r.holder), plan_index: num(r.plan_index),
    kind: String(r.kind), status: String(r.status), named: Boolean(r.named), held: big(r.held), units_left: num(r.units_left),
    units_used: num(r.units_used), paid_in: big(r.paid_in), direct: big(r.direct), released: big(r.released),
    refunded: big(r.refunded), started_at: num(r.started_at), expires_at: num(r.expires_at), updated_block: num(r.updated_block),
    pending_direct: big(r.pending_direct ?? 0),
    recovery_to: r.recovery_to == null ? null : String(r.recovery_to),
    recovery_effective_at: r.recovery_effective_at == null ? null : num(r.recovery_effective_at),
  };
}

/** JSON for json_to_recordset: bigints as decimal strings. */
function toJson(rows: unknown[]): string {
  return JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
}

/** toJson for rows already free of bigints (the ledger's: thousands a batch), without a replacer call per value. */
function plainJson(rows: unknown[]): string {
  try {
    return JSON.stringify(rows);
  } catch {
    return toJson(rows); // a bigint after all
  }
}

/** A text value for COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyText(v: string): string {
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r")) : v;
}

/** An event's args as JSON (bigints, if any, as decimal strings, as toJson). */
function argsJson(args: ChainEvent["args"]): string {
  try {
    return JSON.stringify(args);
  } catch {
    return toJson([args]).slice(1, -1);
  }
}

/** Whether events are ordered by (block, log index): the ledger's ids follow the chain's order. */
function inChainOrder(events: ChainEvent[]): boolean {
  let p: ChainEvent | undefined;
  for (const e of events) {
    if (p && (e.blockNumber < p.blockNumber || (e.blockNumber === p.blockNumber && e.logIndex <= p.logIndex))) return false;
    p = e;
  }
  return true;
}

/**
 * What the indexer keeps of the current state between batches while it catches up: the merchants, cards and disputes
 * batches have touched, as the batches planned so far leave them (the last of which may still be being written).
 * A batch then reads from the store only what no batch before it touched. Only the projector writes these tables,
 * so the copy stays true while every planned batch is written in order; the indexer drops it whenever a write fails
 * or the chain reorganises, and when it grows past its bound (with no write in flight).
 */
export interface ProjectionCache {
  merchants: Map<number, MerchantRow>;
  cards: Map<string, CardRow>;
  /** Cards in the store, or inserted by a batch planned earlier (and so written earlier): updated in place. */
  storedCards: Set<string>;
  /** Each card's dispute, null for none. */
  disputes: Map<string, DisputeRow | null>;
}

export function newProjectionCache(): ProjectionCache {
  return { merchants: new Map(), cards: new Map(), storedCards: new Set(), disputes: new Map() };
}

/** A planned batch's statements, their values already written out: runs them in the caller's transaction. */
export type BatchWrite = (tx: DbTx) => Promise<void>;

/** Projects a batch and writes it in `tx` (reads what it needs from `tx` too). */
export async function projectBatch(
  tx: DbTx,
  events: ChainEvent[],
  times: BlockTimes,
  opts: { replay?: boolean } = {},
): Promise<void> {
  const write = await planBatch(tx, events, times, { replay: opts.replay, copy: Boolean(tx.copyFrom) && !opts.replay });
  await write(tx);
}

/**
 * Turns a batch into its statements without writing anything: reads the state the batch touches that `cache` does not
 * hold (from `reader`), applies the events to it in memory (updating `cache`), and writes out every value the
 * statements send. With a cache, the next batch can be planned while this one is written, as long as the writes run
 * in planning order. `copy`: the ledger rows as COPY input (the transaction will have copyFrom), else one INSERT.
 */
export async function planBatch(
  reader: Pick<Db, "query">,
  events: ChainEvent[],
  times: BlockTimes,
  opts: { replay?: boolean; copy: boolean; cache?: ProjectionCache },
): Promise<BatchWrite> {
  if (events.length === 0) return async () => undefined;
  const cache = opts.cache ?? newProjectionCache();
  await loadTouched(reader, cache, touchedBy(events));
  return statementsOf(applyBatch(cache, events, times, opts));
}

/** The merchants and cards a batch's events touch (a card's merchant too: its id is in the card's). */
export function touchedBy(events: ChainEvent[]): { merchantIds: Set<number>; cardIds: Set<string> } {
  const merchantIds = new Set<number>();
  const cardIds = new Set<string>();
  for (const e of events) {
    if (e.args.merchantId !== undefined) merchantIds.add(num(e.args.merchantId));
    if (e.args.cardId !== undefined) {
      cardIds.add(String(e.args.cardId));
      merchantIds.add(Number(BigInt(e.args.cardId as string) >> 32n));
    }
  }
  return { merchantIds, cardIds };
}

/** Reads into `cache` what the batch touches and no earlier batch did: the I/O before `applyBatch`. */
export async function loadTouched(reader: Pick<Db, "query">, cache: ProjectionCache, touched: { merchantIds: Set<number>; cardIds: Set<string> }): Promise<void> {
  const { merchants, cards, storedCards, disputes } = cache;
  const { merchantIds, cardIds } = touched;
  const missingMerchants = [...merchantIds].filter((id) => !merchants.has(id));
  if (missingMerchants.length) {
    const rows = await reader.query("SELECT * FROM merchants WHERE merchant_id = ANY($1::bigint[])", [missingMerchants]);
    for (const r of rows) merchants.set(num(r.merchant_id), merchantFromDb(r));
  }
  const missingCards = [...cardIds].filter((id) => !cards.has(id));
  if (missingCards.length) {
    // As one JSON value: thousands of rows decode far faster so than field by field (ids and money as text).
    const { rows } = await queryOne<{ rows: unknown }>(reader,
      `SELECT coalesce(json_agg(c), '[]'::json) AS rows FROM (
         SELECT card_id::text AS card_id, merchant_id, holder, plan_index, kind, status, named, held::text AS held, units_left,
           units_used, paid_in::text AS paid_in, direct::text AS direct, released::text AS released, refunded::text AS refunded,
           started_at, expires_at, updated_block, pending_direct::text AS pending_direct, recovery_to, recovery_effective_at
         FROM cards WHERE card_id = ANY($1::numeric[])) c`,
      [missingCards],
    );
    for (const r of (typeof rows === "string" ? JSON.parse(rows) : rows) as Record<string, unknown>[]) {
      const c = cardFromDb(r);
      cards.set(c.card_id, c);
      storedCards.add(c.card_id);
    }
  }
  const missingDisputes = [...cardIds].filter((id) => !disputes.has(id));
  if (missingDisputes.length) {
    for (const id of missingDisputes) disputes.set(id, null);
    for (const r of await reader.query("SELECT * FROM disputes WHERE card_id = ANY($1::numeric[])", [missingDisputes])) {
      disputes.set(String(r.card_id), {
        card_id: String(r.card_id), merchant_id: num(r.merchant_id), industry_id: num(r.industry_id), status: String(r.status),
        opened_by: String(r.opened_by), reason: String(r.reason), amount: big(r.amount), opened_at: num(r.opened_at),
        refunded: r.refunded == null ? null : big(r.refunded), released: r.released == null ? null : big(r.released),
        resolved_by: r.resolved_by == null ? null : String(r.resolved_by), resolved_at: r.resolved_at == null ? null : num(r.resolved_at),
      });
    }
  }
}

/** What a batch writes: every value its statements send, computed before any of them runs. */
export interface BatchValues {
  copyData: string | null;
  ledgerValues: unknown[] | null;
  industryRows: { row: Record<string, unknown>; params: unknown[] }[];
  banksJson: string | null;
  plansJson: string | null;
  planActive: { merchant_id: number; plan_index: number; active: boolean }[];
  merchantsJson: string | null;
  freshCardsJson: string | null;
  changedCardsJson: string | null;
  disputesJson: string | null;
  payoutsJson: string | null;
  refundsJson: string | null;
  riskJson: string | null;
  /** FilingThresholdReached as regulator alerts (none in a replay: the alerts are there already). */
  filingsJson: string | null;
}

/**
 * The projection's decisions, with no I/O: applies `events` to the state in `cache` (which holds every merchant,
 * card and dispute they touch: `loadTouched`), updating it, and returns the values to write. Tested on its own
 * (test/gateway/projector-plan.test.ts), without a chain or a database.
 */
export function applyBatch(cache: ProjectionCache, events: ChainEvent[], times: BlockTimes, opts: { replay?: boolean; copy: boolean }): BatchValues {
  const { merchants, cards, storedCards, disputes } = cache;
  const dirtyMerchants = new Set<number>();
  const dirtyCards = new Set<string>();
  const dirtyDisputes = new Set<string>();
  const industries: Record<string, unknown>[] = [];
  const banks: Record<string, unknown>[] = [];
  const plans = new Map<string, Record<string, unknown>>();
  const planActive: { merchant_id: number; plan_index: number; active: boolean }[] = [];
  const payouts: Record<string, unknown>[] = [];
  const refunds: Record<string, unknown>[] = [];
  const risk: Record<string, unknown>[] = [];
  /** FilingThresholdReached: each becomes a regulator alert (risk_alerts, cause 'filing'). */
  const filings: Record<string, unknown>[] = [];
  // Ledger rows in a compact form: what is shared by a transaction's logs (hashes, block, time) once per transaction,
  // contract addresses once per batch, one-letter keys. Half the JSON to build, pass and parse.
  const ledger: Record<string, unknown>[] = [];
  const ledgerTxs: Record<string, unknown>[] = [];
  const txRef = new Map<string, number>();
  const ledgerContracts: string[] = [];
  /** The ledger rows as COPY lines, where the store takes COPY (file-backed PGlite, PostgreSQL): cheaper than INSERT ... SELECT. */
  const copy: string[] | null = opts.copy && !opts.replay ? [] : null;

  const merchant = (id: number): MerchantRow => {
    const m = merchants.get(id);
    if (!m) throw new FatalError(`event for merchant ${id}, which the index has never seen admitted`);
    dirtyMerchants.add(id);
    return m;
  };
  const card = (id: string): CardRow => {
    const c = cards.get(id);
    if (!c) throw new FatalError(`event for card ${id}, which the index has never seen purchased`);
    dirtyCards.add(id);
    return c;
  };

  for (const e of events) {
    const a = e.args;
    const time = times.get(e.blockNumber);
    let merchantId: number | null = a.merchantId !== undefined ? num(a.merchantId) : null;
    let amount: bigint | null = null;
    let holder: string | null = a.holder !== undefined ? lower(a.holder) : null;
    const cardId = a.cardId !== undefined ? String(a.cardId) : null;
    if (cardId !== null && merchantId === null) merchantId = Number(BigInt(cardId) >> 32n);

    switch (e.event) {
      case "LessonsConsumed":
      case "PeriodsReleased": {
        const c = card(cardId!);
        const units = num(e.event === "LessonsConsumed" ? a.lessons : a.periods);
        amount = big(a.amount);
        c.held -= amount; c.units_left -= units; c.units_used += units; c.released += amount; c.updated_block = e.blockNumber;
        if (c.units_left === 0 && c.held === 0n) c.status = "consumed";
        merchant(c.merchant_id).released += amount;
        holder = c.holder;
        break;
      }
      case "CardPurchased": {
        const m = merchant(merchantId!);
        amount = big(a.custodied);
        const c: CardRow = {
          card_id: cardId!, merchant_id: merchantId!, holder: holder!, plan_index: num(a.planIndex), kind: enumName(PLAN_KIND, num(a.kind), "plan kind"),
          status: "active", named: Boolean(a.named), held: amount, units_left: num(a.units), units_used: 0, paid_in: amount,
          direct: big(a.direct), released: 0n, refunded: 0n, started_at: num(a.startedAt), expires_at: num(a.expiresAt),
          updated_block: e.blockNumber, pending_direct: big(a.direct), recovery_to: null, recovery_effective_at: null,
        };
        cards.set(cardId!, c);
        dirtyCards.add(cardId!);
        // The whole price is in escrow: the direct share waits there through the cooling-off.
        m.paid_in += amount + big(a.direct); m.direct += big(a.direct); m.card_count += 1;
        break;
      }
      case "CardRenewed": {
        const c = card(cardId!);
        amount = big(a.custodied);
        c.held += amount; c.paid_in += amount; c.direct += big(a.direct); c.units_left += num(a.units);
        c.pending_direct += big(a.direct); c.expires_at = num(a.expiresAt); c.updated_block = e.blockNumber;
        const m = merchant(c.merchant_id);
        m.paid_in += amount + big(a.direct); m.direct += big(a.direct);
        break;
      }
      case "CardRefunded": {
        const c = card(cardId!);
        amount = big(a.amount);
        c.held -= amount; c.refunded += amount; c.units_left = 0; c.status = "refunded"; c.updated_block = e.blockNumber;
        const m = merchant(c.merchant_id);
        m.refunded += amount;
        refunds.push({
          tx_hash: e.txHash, log_index: e.logIndex, card_id: cardId, merchant_id: c.merchant_id, bank_id: m.bank_id, holder,
          amount, reason: REFUND_REASON[num(a.reason)], block_number: e.blockNumber, block_time: time,
        });
        break;
      }
      case "DirectShareReleased": {
        // A cooling-off ended: the direct share it held back is the merchant's (payable).
        const c = card(cardId!);
        amount = big(a.amount);
        c.pending_direct -= amount; c.updated_block = e.blockNumber; holder = c.holder;
        merchant(c.merchant_id).released += amount;
        break;
      }
      case "DirectShareReturned": {
        const c = card(cardId!);
        amount = big(a.amount);
        c.pending_direct -= amount; c.updated_block = e.blockNumber;
        const m = merchant(c.merchant_id);
        m.refunded += amount;
        refunds.push({
          tx_hash: e.txHash, log_index: e.logIndex, card_id: cardId, merchant_id: c.merchant_id, bank_id: m.bank_id, holder,
          amount, reason: "direct_share", block_number: e.blockNumber, block_time: time,
        });
        break;
      }
      case "RenewalRefunded": {
        // Renewals refunded in their cooling-off: the card goes on with the rest.
        const c = card(cardId!);
        amount = big(a.amount);
        c.held -= amount; c.refunded += amount; c.units_left -= num(a.units); c.updated_block = e.blockNumber;
        const m = merchant(c.merchant_id);
        m.refunded += amount;
        refunds.push({
          tx_hash: e.txHash, log_index: e.logIndex, card_id: cardId, merchant_id: c.merchant_id, bank_id: m.bank_id, holder,
          amount, reason: "cooling_off", block_number: e.blockNumber, block_time: time,
        });
        break;
      }
      case "CardTransferred": {
        // Transfer by notice: the card and every right on it belong to the new holder from now on.
        const c = card(cardId!);
        c.holder = lower(a.to); c.updated_block = e.blockNumber; holder = c.holder;
        break;
      }
      case "KeyRecoveryStarted": {
        // A lost key: the bank moves the card after the wait, unless the holder (or the bank) cancels. Moves no money.
        const c = card(cardId!);
        c.recovery_to = lower(a.to); c.recovery_effective_at = num(a.effectiveAt); c.updated_block = e.blockNumber; holder = c.holder;
        break;
      }
      case "KeyRecoveryCancelled": {
        const c = card(cardId!);
        c.recovery_to = null; c.recovery_effective_at = null; c.updated_block = e.blockNumber; holder = c.holder;
        break;
      }
      case "KeyRecoveryCompleted": {
        const c = card(cardId!);
        c.holder = lower(a.to); c.recovery_to = null; c.recovery_effective_at = null; c.updated_block = e.blockNumber; holder = c.holder;
        break;
      }
      case "FrozenPayableDecided": {
        // To the holders: released money becomes held again, in the pool the claims share. To the merchant: a PaidOut follows.
        const m = merchant(merchantId!);
        if (a.toHolders === true || a.toHolders === "true") {
          m.released -= big(a.amount); m.holder_pool += big(a.amount);
        }
        m.updated_block = e.blockNumber;
        break;
      }
      case "FrozenPayableShared": {
        // The card's share of the pool joins what it holds: the CardRefunded that follows pays both.
        const c = card(cardId!);
        c.held += big(a.amount); c.updated_block = e.blockNumber; holder = c.holder;
        merchant(c.merchant_id).holder_pool -= big(a.amount);
        break;
      }
      case "PayoutAccountProposed": {
        const m = merchant(merchantId!);
        m.payout_account_proposed = String(a.account); m.updated_block = e.blockNumber;
        break;
      }
      case "PayoutAccountConfirmed": {
        const m = merchant(merchantId!);
        m.payout_account = String(a.account); m.payout_account_proposed = null; m.updated_block = e.blockNumber;
        break;
      }
      case "FilingThresholdReached": {
        const m = merchant(merchantId!);
        filings.push({
          merchant_id: merchantId, industry_id: m.industry_id, level: m.risk_level, rated_at: time,
          explanation: [{ rule: "filing_threshold", balanceFen: String(a.balance), thresholdFen: String(a.threshold), txHash: e.txHash, blockNumber: e.blockNumber }],
        });
        break;
      }
      case "PeriodsStarted": {
        const c = card(cardId!);
        c.started_at = num(a.startedAt); c.expires_at = num(a.expiresAt); c.updated_block = e.blockNumber; holder = c.holder;
        break;
      }
      case "RefundRequested": {
        const c = card(cardId!);
        c.status = "refund_requested"; c.updated_block = e.blockNumber;
        break;
      }
      case "RefundRequestCancelled": {
        const c = card(cardId!);
        c.status = "active"; c.updated_block = e.blockNumber; holder = c.holder;
        break;
      }
      case "DisputeOpened": {
        const c = card(cardId!);
        c.status = "disputed"; c.updated_block = e.blockNumber; holder = c.holder;
        const m = merchant(c.merchant_id);
        disputes.set(cardId!, {
          card_id: cardId!, merchant_id: c.merchant_id, industry_id: m.industry_id, status: "open", opened_by: lower(a.by),
          reason: String(a.reason), amount: c.held, opened_at: time, refunded: null, released: null, resolved_by: null, resolved_at: null,
        });
        dirtyDisputes.add(cardId!);
        break;
      }
      case "DisputeResolved": {
        const c = card(cardId!);
        holder = c.holder;
        const refunded = big(a.refunded);
        const released = big(a.released);
        const d = disputes.get(cardId!);
        if (d) {
          Object.assign(d, { status: refunded === 0n && released === 0n ? "denied" : "refunded", refunded, released, resolved_by: lower(a.by), resolved_at: time });
          dirtyDisputes.add(cardId!);
        }
        if (refunded === 0n && released === 0n) {
          c.status = "active";
        } else {
          c.held -= released; c.released += released;
          merchant(c.merchant_id).released += released;
        }
        c.updated_block = e.blockNumber;
        break;
      }
      case "PaidOut": {
        const m = merchant(merchantId!);
        amount = big(a.amount);
        m.paid_out += amount;
        payouts.push({
          tx_hash: e.txHash, log_index: e.logIndex, merchant_id: merchantId, bank_id: num(a.bankId), amount,
          requested_by: lower(a.by), block_number: e.blockNumber, block_time: time, account: m.payout_account,
        });
        break;
      }
      case "MerchantAdmitted": {
        merchants.set(merchantId!, {
          merchant_id: merchantId!, account: lower(a.account), industry_id: num(a.industryId), bank_id: num(a.bankId),
          registry_ref: String(a.registryRef), status: "active", risk_level: "low", exit_effective_at: null,
          paid_in: 0n, direct: 0n, released: 0n, refunded: 0n, paid_out: 0n, card_count: 0, admitted_at: time, updated_block: e.blockNumber,
          breach_recorded_at: null, holder_pool: 0n, payout_account: null, payout_account_proposed: null,
        });
        dirtyMerchants.add(merchantId!);
        break;
      }
      case "MerchantStatusChanged": {
        const m = merchant(merchantId!);
        m.status = enumName(MERCHANT_STATUS, num(a.to), "merchant status"); m.updated_block = e.blockNumber;
        break;
      }
      case "BreachRecorded":
      case "BreachCleared": {
        const m = merchant(merchantId!);
        m.breach_recorded_at = e.event === "BreachRecorded" ? time : null; m.updated_block = e.blockNumber;
        break;
      }
      case "ExitAnnounced": {
        const m = merchant(merchantId!);
        m.exit_effective_at = num(a.effectiveAt); m.updated_block = e.blockNumber;
        break;
      }
      case "RiskLevelSet": {
        const m = merchant(merchantId!);
        m.risk_level = enumName(RISK_LEVEL, num(a.to), "risk level"); m.updated_block = e.blockNumber;
        risk.push({
          tx_hash: e.txHash, log_index: e.logIndex, merchant_id: merchantId, from_level: RISK_LEVEL[num(a.from)],
          to_level: RISK_LEVEL[num(a.to)], reason: String(a.reason), block_time: time,
        });
        break;
      }
      case "PlanPublished": {
        plans.set(`${merchantId}:${a.planIndex}`, {
          merchant_id: merchantId, plan_index: num(a.planIndex), kind: enumName(PLAN_KIND, num(a.kind), "plan kind"), units: num(a.units),
          period_seconds: num(a.periodSeconds), validity_days: num(a.validityDays), price: big(a.price), active: true,
        });
        break;
      }
      case "PlanActiveSet": {
        const p = plans.get(`${merchantId}:${a.planIndex}`);
        if (p) p.active = Boolean(a.active);
        else planActive.push({ merchant_id: merchantId!, plan_index: num(a.planIndex), active: Boolean(a.active) });
        break;
      }
      case "BankAdded":
        banks.push({ bank_id: num(a.bankId), account: lower(a.account), token: lower(a.token), added_block: e.blockNumber });
        break;
      case "IndustryDefined":
        industries.push({ industry_id: num(a.industryId), regulator: /^0x0{40}$/i.test(String(a.regulator)) ? null : lower(a.regulator), set_policy: false, policy: null, updated_block: e.blockNumber });
        break;
      case "IndustryPolicySet":
        industries.push({ industry_id: num(a.industryId), regulator: null, set_policy: true, policy: a.policy, updated_block: e.blockNumber });
        break;
      case "IndustryPolicyCleared":
        industries.push({ industry_id: num(a.industryId), regulator: null, set_policy: true, policy: null, updated_block: e.blockNumber });
        break;
      case "DefaultPolicySet":
        industries.push({ industry_id: 0, regulator: null, set_policy: true, policy: a.policy, updated_block: e.blockNumber });
        break;
      case "IndustryCustodyFloorSet":
        industries.push({ industry_id: num(a.industryId), floor_bps: num(a.floorBps), updated_block: e.blockNumber });
        break;
      default:
        break; // role grants and other bookkeeping: kept in the ledger only
    }
    if (opts.replay) continue; // the ledger rows are there already
    // The row's amount by the ledger's one definition (src/indexing/ledgerRow.ts), which verification uses too.
    const rowAmount = ledgerAmount(e.event, a);
    if (copy) {
      // One line of COPY's text format: tab-separated, \N for NULL, backslashes doubled (JSON.stringify leaves no
      // raw tab, newline or carriage return in the args; the other text columns are hex, names and addresses).
      copy.push(
        `${e.blockNumber}\t${copyText(e.blockHash)}\t${time}\t${copyText(e.txHash)}\t${e.txIndex}\t${e.logIndex}\t${copyText(e.contract)}\t` +
          `${copyText(e.event)}\t${merchantId ?? "\\N"}\t${cardId === null ? "\\N" : copyText(cardId)}\t${holder === null ? "\\N" : copyText(holder)}\t` +
          `${rowAmount === null ? "\\N" : rowAmount}\t${copyText(argsJson(e.args))}\n`,
      );
      continue;
    }
    const txKey = e.txHash + e.blockHash;
    let t = txRef.get(txKey);
    if (t === undefined) {
      t = ledgerTxs.length;
      txRef.set(txKey, t);
      ledgerTxs.push({ i: t, h: e.txHash, x: e.txIndex, b: e.blockNumber, bh: e.blockHash, bt: time });
    }
    let k = ledgerContracts.indexOf(e.contract) + 1;
    if (k === 0) k = ledgerContracts.push(e.contract);
    ledger.push({
      t, l: e.logIndex, k, e: e.event, m: merchantId, c: cardId, h: holder, a: rowAmount === null ? null : rowAmount.toString(), g: e.args,
    });
  }

  // ---- write out the values (the next batch may change these objects while this one is being written) ----
  if (copy?.length && !inChainOrder(events)) throw new FatalError("a batch's events are not in chain order (block, log index)");
  const copyData = copy?.length ? copy.join("") : null;
  const ledgerValues = ledger.length ? [plainJson(ledger), plainJson(ledgerTxs), ledgerContracts] : null;
  const industryRows = industries.map((row) => ({ row, params: row.floor_bps !== undefined
    ? [row.industry_id, row.floor_bps, row.updated_block]
    : row.set_policy
    ? [row.industry_id, row.policy === null ? null : toJson([row.policy]).slice(1, -1), row.updated_block]
    : [row.industry_id, row.regulator, row.updated_block] }));
  const banksJson = banks.length ? toJson(banks) : null;
  const plansJson = plans.size ? toJson([...plans.values()]) : null;
  const merchantsJson = dirtyMerchants.size ? toJson([...dirtyMerchants].map((id) => merchants.get(id))) : null;
  const freshCards: CardRow[] = [];
  const changedCards: Record<string, unknown>[] = [];
  for (const id of dirtyCards) {
    const c = cards.get(id)!;
    if (!storedCards.has(id)) freshCards.push(c);
    else {
      changedCards.push({
        i: c.card_id, s: c.status, h: String(c.held), l: c.units_left, u: c.units_used, p: String(c.paid_in), d: String(c.direct),
        r: String(c.released), f: String(c.refunded), e: c.expires_at, b: c.updated_block, t: c.started_at, x: String(c.pending_direct),
        o: c.holder, rt: c.recovery_to, re: c.recovery_effective_at,
      });
    }
  }
  const freshCardsJson = freshCards.length ? toJson(freshCards) : null;
  const changedCardsJson = changedCards.length ? JSON.stringify(changedCards) : null;
  // Written before any later batch is: for the batches after this one, these cards are in the store.
  for (const c of freshCards) storedCards.add(c.card_id);
  const disputesJson = dirtyDisputes.size ? toJson([...dirtyDisputes].map((id) => disputes.get(id))) : null;
  const payoutsJson = payouts.length ? toJson(payouts) : null;
  const refundsJson = refunds.length ? toJson(refunds) : null;
  const riskJson = risk.length ? toJson(risk) : null;
  const filingsJson = filings.length && !opts.replay ? toJson(filings) : null;
  return {
    copyData, ledgerValues, industryRows, banksJson, plansJson, planActive, merchantsJson, freshCardsJson, changedCardsJson, disputesJson,
    payoutsJson, refundsJson, riskJson, filingsJson,
  };
}

/** The statements that write a batch's values, in one transaction. */
function statementsOf(v: BatchValues): BatchWrite {
  const {
    copyData, ledgerValues, industryRows, banksJson, plansJson, planActive, merchantsJson, freshCardsJson, changedCardsJson, disputesJson,
    payoutsJson, refundsJson, riskJson, filingsJson,
  } = v;
  return async (tx: DbTx) => {
    // No ON CONFLICT: rows and checkpoint are committed together, so a row already there means two writers or a
    // broken checkpoint, which must fail loudly rather than apply the batch's state changes twice. (It is also a
    // fifth faster without the speculative insertion.)
    if (copyData !== null) {
      await tx.copyFrom!(
        `ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id,
           holder, amount, args)`,
        copyData,
      );
    }
    if (ledgerValues) await tx.query(
      `INSERT INTO ledger (block_number, block_hash, block_time, tx_hash, tx_index, log_index, contract, event, merchant_id, card_id, holder, amount, args)
       SELECT t.b, t.bh, t.bt, t.h, t.x, r.l, ($3::text[])[r.k], r.e, r.m, r.c, r.h, r.a, r.g
       FROM json_to_recordset($1::json) AS r(t int, l int, k int, e text, m bigint, c numeric, h text, a bigint, g jsonb)
       JOIN json_to_recordset($2::json) AS t(i int, h text, x int, b bigint, bh text, bt bigint) ON t.i = r.t
       ORDER BY t.b, r.l`,
      ledgerValues,
    );
    for (const { row, params } of industryRows) {
      await tx.query(
        row.floor_bps !== undefined
          ? `INSERT INTO industries (industry_id, regulator, policy, custody_floor_bps, updated_block) VALUES ($1, NULL, NULL, $2, $3)
             ON CONFLICT (industry_id) DO UPDATE SET custody_floor_bps = EXCLUDED.custody_floor_bps, updated_block = EXCLUDED.updated_block`
          : row.set_policy
          ? `INSERT INTO industries (industry_id, regulator, policy, updated_block) VALUES ($1, NULL, $2::jsonb, $3)
             ON CONFLICT (industry_id) DO UPDATE SET policy = EXCLUDED.policy, updated_block = EXCLUDED.updated_block`
          : `INSERT INTO industries (industry_id, regulator, policy, updated_block) VALUES ($1, $2, NULL, $3)
             ON CONFLICT (industry_id) DO UPDATE SET regulator = EXCLUDED.regulator, updated_block = EXCLUDED.updated_block`,
        params,
      );
    }
    if (banksJson) {
      await tx.query(
        `INSERT INTO banks SELECT * FROM json_to_recordset($1::json) AS x(bank_id int, account text, token text, added_block bigint)
         ON CONFLICT (bank_id) DO NOTHING`,
        [banksJson],
      );
    }
    if (plansJson) {
      await tx.query(
        `INSERT INTO plans SELECT * FROM json_to_recordset($1::json) AS x(merchant_id bigint, plan_index int, kind text, units int,
           period_seconds bigint, validity_days int, price bigint, active boolean)
         ON CONFLICT (merchant_id, plan_index) DO UPDATE SET active = EXCLUDED.active`,
        [plansJson],
      );
    }
    for (const p of planActive) {
      await tx.query("UPDATE plans SET active = $3 WHERE merchant_id = $1 AND plan_index = $2", [p.merchant_id, p.plan_index, p.active]);
    }
    if (merchantsJson) {
      await tx.query(
        `INSERT INTO merchants (merchant_id, account, industry_id, bank_id, registry_ref, status, risk_level, exit_effective_at,
           paid_in, direct, released, refunded, paid_out, card_count, admitted_at, updated_block, breach_recorded_at, holder_pool,
           payout_account, payout_account_proposed)
         SELECT * FROM json_to_recordset($1::json) AS x(merchant_id bigint, account text, industry_id int,
           bank_id int, registry_ref text, status text, risk_level text, exit_effective_at bigint, paid_in bigint, direct bigint,
           released bigint, refunded bigint, paid_out bigint, card_count int, admitted_at bigint, updated_block bigint,
           breach_recorded_at bigint, holder_pool bigint, payout_account text, payout_account_proposed text)
         ON CONFLICT (merchant_id) DO UPDATE SET status = EXCLUDED.status, risk_level = EXCLUDED.risk_level,
           exit_effective_at = EXCLUDED.exit_effective_at, paid_in = EXCLUDED.paid_in, direct = EXCLUDED.direct,
           released = EXCLUDED.released, refunded = EXCLUDED.refunded, paid_out = EXCLUDED.paid_out,
           card_count = EXCLUDED.card_count, updated_block = EXCLUDED.updated_block,
           breach_recorded_at = EXCLUDED.breach_recorded_at, holder_pool = EXCLUDED.holder_pool,
           payout_account = EXCLUDED.payout_account, payout_account_proposed = EXCLUDED.payout_account_proposed`,
        [merchantsJson],
      );
    }
    if (freshCardsJson) {
      await tx.query(
        `INSERT INTO cards (card_id, merchant_id, holder, plan_index, kind, status, named, held, units_left, units_used, paid_in,
           direct, released, refunded, started_at, expires_at, updated_block, pending_direct, recovery_to, recovery_effective_at)
         SELECT * FROM json_to_recordset($1::json) AS x(card_id numeric, merchant_id bigint, holder text,
           plan_index int, kind text, status text, named boolean, held bigint, units_left int, units_used int, paid_in bigint,
           direct bigint, released bigint, refunded bigint, started_at bigint, expires_at bigint, updated_block bigint,
           pending_direct bigint, recovery_to text, recovery_effective_at bigint)
         ON CONFLICT (card_id) DO UPDATE SET status = EXCLUDED.status, held = EXCLUDED.held, units_left = EXCLUDED.units_left,
           units_used = EXCLUDED.units_used, paid_in = EXCLUDED.paid_in, direct = EXCLUDED.direct, released = EXCLUDED.released,
           refunded = EXCLUDED.refunded, started_at = EXCLUDED.started_at, expires_at = EXCLUDED.expires_at,
           updated_block = EXCLUDED.updated_block, pending_direct = EXCLUDED.pending_direct, holder = EXCLUDED.holder,
           recovery_to = EXCLUDED.recovery_to, recovery_effective_at = EXCLUDED.recovery_effective_at`,
        [freshCardsJson],
      );
    }
    if (changedCardsJson) {
      // Cards in the store before this batch: only what events change, updated in place (no insert attempt first).
      await tx.query(
        `UPDATE cards SET status = x.s, held = x.h, units_left = x.l, units_used = x.u, paid_in = x.p, direct = x.d, released = x.r,
           refunded = x.f, expires_at = x.e, updated_block = x.b, started_at = x.t, pending_direct = x.x, holder = x.o,
           recovery_to = x.rt, recovery_effective_at = x.re
         FROM json_to_recordset($1::json) AS x(i numeric, s text, h bigint, l int, u int, p bigint, d bigint, r bigint, f bigint,
           e bigint, b bigint, t bigint, x bigint, o text, rt text, re bigint)
         WHERE cards.card_id = x.i`,
        [changedCardsJson],
      );
    }
    if (disputesJson) {
      await tx.query(
        `INSERT INTO disputes SELECT * FROM json_to_recordset($1::json) AS x(card_id numeric, merchant_id bigint, industry_id int,
           status text, opened_by text, reason text, amount bigint, opened_at bigint, refunded bigint, released bigint,
           resolved_by text, resolved_at bigint)
         ON CONFLICT (card_id) DO UPDATE SET status = EXCLUDED.status, opened_by = EXCLUDED.opened_by, reason = EXCLUDED.reason,
           amount = EXCLUDED.amount, opened_at = EXCLUDED.opened_at, refunded = EXCLUDED.refunded, released = EXCLUDED.released,
           resolved_by = EXCLUDED.resolved_by, resolved_at = EXCLUDED.resolved_at`,
        [disputesJson],
      );
    }
    if (payoutsJson) {
      await tx.query(
        `INSERT INTO payouts (tx_hash, log_index, merchant_id, bank_id, amount, requested_by, block_number, block_time, account)
         SELECT * FROM json_to_recordset($1::json) AS x(tx_hash text, log_index int, merchant_id bigint,
           bank_id int, amount bigint, requested_by text, block_number bigint, block_time bigint, account text) ON CONFLICT DO NOTHING`,
        [payoutsJson],
      );
    }
    if (refundsJson) {
      await tx.query(
        `INSERT INTO refunds SELECT * FROM json_to_recordset($1::json) AS x(tx_hash text, log_index int, card_id numeric,
           merchant_id bigint, bank_id int, holder text, amount bigint, reason text, block_number bigint, block_time bigint)
         ON CONFLICT DO NOTHING`,
        [refundsJson],
      );
    }
    if (filingsJson) {
      // A merchant's prepaid balance reached the filing threshold: an alert to its regulators, like a risk level rising.
      await tx.query(
        `INSERT INTO risk_alerts (merchant_id, industry_id, from_level, to_level, score, cause, explanation, rated_at, created_at)
         SELECT x.merchant_id, x.industry_id, x.level, x.level, 0, 'filing', x.explanation, x.rated_at, x.rated_at
         FROM json_to_recordset($1::json) AS x(merchant_id bigint, industry_id int, level text, rated_at bigint, explanation jsonb)`,
        [filingsJson],
      );
    }
    if (riskJson) {
      await tx.query(
        `INSERT INTO risk_history SELECT * FROM json_to_recordset($1::json) AS x(tx_hash text, log_index int, merchant_id bigint,
           from_level text, to_level text, reason text, block_time bigint) ON CONFLICT DO NOTHING`,
        [riskJson],
      );
    }
  };
}
