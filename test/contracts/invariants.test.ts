/**
 * Property test: random sequences of everything the escrow does, valid and invalid, checked after every step
 * against the chain and against a small TypeScript model of the expected ledger. The invariants are written
 * down in plain words in test/contracts/INVARIANTS.md.
 *
 * Runs INVARIANT_RUNS sequences (default 200) of 10-25 steps; INVARIANT_SEED replays a failing run.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ethers, network } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";
import { beijingDayOf, dayStartingAtOrAfter, endOfPeriod, lessonExpiryDay, startOfBeijingDay } from "../../src/chain/days";
import { DEFAULT_POLICY, NO_CAP_U16, PolicyInput, TRAINING_POLICY } from "../../src/chain/policies";
import { signCheckIn, signConsumption, voucherArg } from "../../src/chain/vouchers";
import { InvariantLens__factory } from "../../typechain-types";
import { CardStatus, DAY, deployFixture, LESSON, MerchantStatus, PERIODIC, PlanKind, RiskLevel } from "./fixture";

const RUNS = Number(process.env.INVARIANT_RUNS ?? 200);
const SEED = process.env.INVARIANT_SEED === undefined ? undefined : Number(process.env.INVARIANT_SEED);
const GAS = 5_000_000; // a fixed limit: no estimateGas, so invalid actions are mined (and reverted) at a known time
const UNKNOWN_MERCHANT = 9;
const UNKNOWN_SERIAL = 999n;

// ---------------------------------------------------------------------------------------------------------------
// The world: the shared fixture plus plans with awkward rounding and short periods, and a read-everything lens.
// ---------------------------------------------------------------------------------------------------------------

async function invariantFixture() {
  const f = await deployFixture();
  // school plan 3: 3 weekly periods for 300.01 CNY (shares 100.00, 100.00, 100.01).
  await f.escrow.connect(f.schoolAcct).publishPlan(f.school, PERIODIC, 3, 7 * DAY, 0, 30_001n);
  // gym plan 3: 5 daily periods for 10.01 CNY at 40% custody (401 fen custodied, released 80/80/80/80/81).
  await f.escrow.connect(f.gymAcct).publishPlan(f.gym, PERIODIC, 5, DAY, 0, 1_001n);
  // pet plan 2: 3 washes for 9.99 CNY within 10 days (400 fen custodied, 133/133/134).
  await f.escrow.connect(f.petAcct).publishPlan(f.pet, LESSON, 3, 0, 10, 999n);
  const lens = await new InvariantLens__factory(f.deployer).deploy();
  await lens.waitForDeployment();
  return { ...f, lens };
}

type World = Awaited<ReturnType<typeof invariantFixture>>;
type Signer = World["alice"];

// ---------------------------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------------------------

interface PlanM {
  kind: number;
  active: boolean;
  units: number;
  periodSeconds: number;
  validityDays: number;
  price: bigint;
}

interface MerchantM {
  id: number;
  account: Signer;
  bankAccount: Signer;
  bankIndex: number; // 0: bank A, 1: bank B
  industryRegulator: Signer | null;
  policy: PolicyInput;
  plans: Map<number, PlanM>;
  status: number;
  /** What an unfreeze returns to. */
  statusBeforeFreeze?: number;
  risk: number;
  cardCount: number;
  paidIn: bigint;
  released: bigint;
  refunded: bigint;
  paidOut: bigint;
  exitEffectiveAt: number;
  /** When a breach was recorded (0: none on record). */
  breachRecordedAt: number;
  /** Medium risk: the Beijing day of the last sale counted, and what was sold in the 30 days ending then. */
  windowDay: number;
  windowSales: bigint;
  /** Medium risk: card value sold per Beijing day since the merchant became medium risk (renewals included). */
  sales: Map<number, bigint>;
  /** Released money its regulator decided to the holders of a Frozen merchant, not yet claimed (part of held). */
  pool: bigint;
  /** The payout account in force and the one proposed (zero hash: none). */
  payoutAccount: string;
  proposedAccount: string;
}

interface CardM {
  id: bigint;
  merchant: MerchantM;
  holder: Signer;
  held: bigint;
  unitsLeft: number;
  unitsUsed: number;
  expiryDay: number;
  status: number;
  kind: number;
  named: boolean;
  coolingOffDays: number;
  planIndex: number;
  periodSeconds: number;
  startedAt: number;
  paidIn: bigint;
  direct: bigint;
  /** The open cooling-off: ends as this Beijing day starts (0: none), covers these last units, holds this direct share. */
  coolingOffEndDay: number;
  coolingOffUnits: number;
  pendingDirect: bigint;
  /** A lost key's recovery under way: the new key and when it takes effect. */
  recovery: { to: Signer; effectiveAt: number } | null;
}

/** What the escrow must do with an action: revert with `error`, or succeed (the model has then applied it). */
type Expected = { error: string } | { ok: true };
const OK: Expected = { ok: true };
const fail = (error: string): Expected => ({ error });

const share = (held: bigint, unitsLeft: number, units: number): bigint =>
  units >= unitsLeft ? held : (held * BigInt(units)) / BigInt(unitsLeft);
const split = (price: bigint, bps: number): [bigint, bigint] => {
  const custodied = (price * BigInt(bps) + 9_999n) / 10_000n;
  return [custodied, price - custodied];
};

class Model {
  readonly merchants = new Map<number, MerchantM>();
  readonly cards: CardM[] = [];
  now = 0;

  constructor(readonly w: World) {
    const plans = (list: PlanM[]) => new Map(list.map((p, i) => [i + 1, p]));
    const lesson = (units: number, validityDays: number, price: bigint): PlanM =>
      ({ kind: PlanKind.Lesson, active: true, units, periodSeconds: 0, validityDays, price });
    const periodic = (units: number, periodSeconds: number, price: bigint): PlanM =>
      ({ kind: PlanKind.Periodic, active: true, units, periodSeconds, validityDays: 0, price });
    const merchant = (id: number, account: Signer, bankAccount: Signer, bankIndex: number, industryRegulator: Signer | null, policy: PolicyInput, p: PlanM[]): MerchantM => ({
      id, account, bankAccount, bankIndex, industryRegulator, policy, plans: plans(p),
      status: MerchantStatus.Active, risk: RiskLevel.Low, cardCount: 0,
      paidIn: 0n, released: 0n, refunded: 0n, paidOut: 0n, exitEffectiveAt: 0, windowDay: 0, windowSales: 0n, sales: new Map(), breachRecordedAt: 0,
      pool: 0n, payoutAccount: ethers.ZeroHash, proposedAccount: ethers.ZeroHash,
    });
    this.merchants.set(w.school, merchant(w.school, w.schoolAcct, w.bankA, 0, w.eduRegulator, TRAINING_POLICY, [
      lesson(20, 90, 300_000n), lesson(7, 90, 1_000n), periodic(3, 7 * DAY, 30_001n),
    ]));
    this.merchants.set(w.gym, merchant(w.gym, w.gymAcct, w.bankB, 1, w.sportsRegulator, DEFAULT_POLICY, [
      periodic(3, 30 * DAY, 90_000n), lesson(10, 0, 50_000n), periodic(5, DAY, 1_001n),
    ]));
    this.merchants.set(w.pet, merchant(w.pet, w.petAcct, w.bankA, 0, null, DEFAULT_POLICY, [
      lesson(5, 0, 30_000n), lesson(3, 10, 999n),
    ]));
  }

  // ----------------------------------------------------------------------------- derived state

  held(m: MerchantM): bigint {
    return m.paidIn - m.released - m.refunded;
  }

  payable(m: MerchantM): bigint {
    return m.released - m.paidOut;
  }

  regulates(m: MerchantM, who: Signer): boolean {
    return who === this.w.regulator || (m.industryRegulator !== null && who === m.industryRegulator);
  }

  claimable(m: MerchantM): boolean {
    return m.status === MerchantStatus.Frozen || (m.status === MerchantStatus.WindingDown && this.now >= m.exitEffectiveAt);
  }

  /** Consumption and periodic release need a serving merchant; the error if not. */
  servingError(m: MerchantM | undefined): string | null {
    if (!m) return "Custody_UnknownMerchant";
    if (m.status === MerchantStatus.Active || m.status === MerchantStatus.Restricted) return null;
    if (m.status === MerchantStatus.WindingDown && this.now < m.exitEffectiveAt) return null;
    return "Custody_MerchantNotServing";
  }

  expired(c: CardM): boolean {
    return c.expiryDay !== 0 && this.now >= startOfBeijingDay(c.expiryDay);
  }

  periodsDue(c: CardM): number {
    if (this.now <= c.startedAt) return 0;
    let elapsed = Math.floor((this.now - c.startedAt) / c.periodSeconds);
    const total = c.unitsUsed + c.unitsLeft;
    if (elapsed > total) elapsed = total;
    return elapsed > c.unitsUsed ? elapsed - c.unitsUsed : 0;
  }

  cardStatus(c: CardM): number {
    if (c.status === CardStatus.Refunded) return c.status;
    if (c.unitsLeft === 0 && c.held === 0n) return CardStatus.Consumed;
    if (this.claimable(c.merchant)) return CardStatus.Claimable;
    if (c.status === CardStatus.Active && this.expired(c)) return CardStatus.Expired;
    return c.status;
  }

  consumable(c: CardM): boolean {
    return c.kind === PlanKind.Lesson && c.status === CardStatus.Active && c.unitsLeft > 0 && !this.expired(c) &&
      this.servingError(c.merchant) === null;
  }

  cardById(id: bigint): CardM | undefined {
    return this.cards.find((c) => c.id === id);
  }

  // ----------------------------------------------------------------------------- shared checks

  /** _checkSelling: the merchant may sell `price` more; returns the error or the sales window to commit. */
  /**
   * _checkSelling: the merchant may sell `price` more; returns the error or the window to commit. At medium risk, no
   * more than the cap in any 30 consecutive Beijing days: the sales of the 30 days ending today, summed from scratch.
   */
  selling(m: MerchantM, price: bigint): { error: string } | { windowDay: number; windowSales: bigint; day: number | null } {
    if (m.status !== MerchantStatus.Active) return { error: "Custody_MerchantNotSelling" };
    if (m.risk === RiskLevel.High) return { error: "Custody_HighRiskNoSales" };
    if (m.risk !== RiskLevel.Medium) return { windowDay: m.windowDay, windowSales: m.windowSales, day: null };
    const today = beijingDayOf(this.now);
    let sold = 0n;
    for (const [day, amount] of m.sales) if (day > today - 30 && day <= today) sold += amount;
    const cap = m.policy.mediumRiskCap30d; // literal: "no cap" is NO_CAP_FEN
    if (sold + price > cap) return { error: "Custody_MediumRiskCapExceeded" };
    return { windowDay: today, windowSales: sold + price, day: today };
  }

  /** Commits a sale's window (see {selling}). */
  commitWindow(m: MerchantM, w: { windowDay: number; windowSales: bigint; day: number | null }, price: bigint): void {
    m.windowDay = w.windowDay;
    m.windowSales = w.windowSales;
    if (w.day !== null) m.sales.set(w.day, (m.sales.get(w.day) ?? 0n) + price);
  }

  /** _checkCaps for a card whose face value left is `faceLeft` with `unitsLeft`, adding `plan`. */
  capsError(policy: PolicyInput, plan: PlanM, faceLeft: bigint, unitsLeft: number, named: boolean): string | null {
    const cap = named ? policy.maxCardValue : policy.maxAnonymousValue;
    const value = faceLeft + plan.price;
    if (value > cap) return "Custody_CardValueCapExceeded";
    if (value > 2n ** 32n - 1n) return "Custody_CardValueCapExceeded";
    if (plan.kind === PlanKind.Lesson) {
      const lessons = unitsLeft + plan.units;
      if (lessons > policy.maxLessons) return "Custody_LessonCapExceeded";
      if (lessons > 65_535) return "Custody_LessonCapExceeded";
      if (policy.maxValidityDays !== NO_CAP_U16 && (plan.validityDays === 0 || plan.validityDays > policy.maxValidityDays)) {
        return "Custody_ValidityCapExceeded";
      }
    } else {
      const days = Math.ceil(((unitsLeft + plan.units) * plan.periodSeconds) / DAY);
      if (days > policy.maxValidityDays) return "Custody_ValidityCapExceeded";
      if (unitsLeft + plan.units > 65_535) return "Custody_LessonCapExceeded";
    }
    return null;
  }

  planError(m: MerchantM, planIndex: number): string | null {
    const plan = m.plans.get(planIndex);
    if (!plan) return "Custody_UnknownPlan";
    if (!plan.active) return "Custody_PlanInactive";
    return null;
  }

  /** The periods a refund settles first (_settlePeriods): released to a merchant still serving. */
  settlement(c: CardM): { due: number; amount: bigint } {
    const m = c.merchant;
    if (c.kind !== PlanKind.Periodic || this.claimable(m) || m.status === MerchantStatus.Exited) return { due: 0, amount: 0n };
    const due = this.periodsDue(c);
    return { due, amount: due === 0 ? 0n : share(c.held, c.unitsLeft, due) };
  }

  applyRelease(c: CardM, due: number, amount: bigint): void {
    c.held -= amount;
    c.unitsLeft -= due;
    c.unitsUsed += due;
    c.merchant.released += amount;
    if (due > 0 && !this.coolingOffOpen(c)) this.settleDirect(c);
  }

  /** Everything the card holds back to its holder; on a claim its direct share too, if its cooling-off is open. */
  refundAll(c: CardM, claim = false): void {
    // A claim takes the card's pro rata share of the holders' pool: pool x what it holds / what all cards hold.
    const m = c.merchant;
    if (claim && m.pool > 0n) {
      const weight = c.held + c.pendingDirect;
      const base = this.held(m) - m.pool;
      if (weight > 0n && base > 0n) {
        const part = (m.pool * weight) / base;
        m.pool -= part;
        m.refunded += part;
      }
    }
    c.merchant.refunded += c.held;
    c.held = 0n;
    c.unitsLeft = 0;
    c.status = CardStatus.Refunded;
    if (claim) {
      if (this.coolingOffOpen(c)) this.returnDirect(c);
      else this.settleDirect(c);
    }
  }

  coolingOffOpen(c: CardM): boolean {
    return c.coolingOffEndDay !== 0 && this.now < startOfBeijingDay(c.coolingOffEndDay);
  }

  /** The direct share becomes the merchant's released money. */
  settleDirect(c: CardM): void {
    c.merchant.released += c.pendingDirect;
    c.pendingDirect = 0n;
  }

  returnDirect(c: CardM): void {
    c.merchant.refunded += c.pendingDirect;
    c.pendingDirect = 0n;
  }

  /** Lessons left, or periods not begun (a period under way counts as begun). */
  unitsNotBegun(c: CardM): number {
    if (c.kind !== PlanKind.Periodic) return c.unitsLeft;
    const total = c.unitsUsed + c.unitsLeft;
    if (this.now < c.startedAt) return total;
    const begun = Math.floor((this.now - c.startedAt) / c.periodSeconds) + 1;
    return begun >= total ? 0 : total - begun;
  }

  // ----------------------------------------------------------------------------- custodian bank

  purchase(merchantId: number, planIndex: number, holder: Signer, named: boolean, caller: Signer): Expected {
    const m = this.merchants.get(merchantId);
    if (!m) return fail("Custody_UnknownMerchant");
    if (caller !== m.bankAccount) return fail("Custody_NotCustodianOf");
    const planErr = this.planError(m, planIndex);
    if (planErr) return fail(planErr);
    const plan = m.plans.get(planIndex)!;
    const window = this.selling(m, plan.price);
    if ("error" in window) return window;
    const capsErr = this.capsError(m.policy, plan, 0n, 0, named);
    if (capsErr) return fail(capsErr);

    const [custodied, direct] = split(plan.price, m.policy.custodyBps);
    // The whole price stays in escrow through the cooling-off; a time-based card's periods start when it ends.
    const coolingOffEndDay = beijingDayOf(this.now) + m.policy.coolingOffDays + 1;
    const startedAt = plan.kind === PlanKind.Periodic ? startOfBeijingDay(coolingOffEndDay) : this.now;
    // Beijing calendar days: a lesson card's validity ends at 24:00 of its last day; a time-based card at the end of
    // the day its last period ends in.
    const expiryDay = plan.kind === PlanKind.Periodic
      ? dayStartingAtOrAfter(startedAt + plan.units * plan.periodSeconds)
      : lessonExpiryDay(this.now, plan.validityDays);
    this.commitWindow(m, window, plan.price);
    m.cardCount += 1;
    this.cards.push({
      id: (BigInt(m.id) << 32n) | BigInt(m.cardCount), merchant: m, holder, held: custodied,
      unitsLeft: plan.units, unitsUsed: 0, expiryDay, status: CardStatus.Active, kind: plan.kind,
      named, coolingOffDays: m.policy.coolingOffDays, planIndex, periodSeconds: plan.periodSeconds, startedAt,
      paidIn: custodied, direct, coolingOffEndDay, coolingOffUnits: plan.units, pendingDirect: direct, recovery: null,
    });
    m.paidIn += custodied + direct;
    return OK;
  }

  renew(cardId: bigint, planIndex: number, caller: Signer): Expected {
    const m = this.merchants.get(Number(cardId >> 32n));
    if (!m) return fail("Custody_UnknownMerchant");
    if (caller !== m.bankAccount) return fail("Custody_NotCustodianOf");
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (c.status !== CardStatus.Active) return fail("Custody_CardNotActive");
    if (this.expired(c)) return fail("Custody_CardExpired");
    const planErr = this.planError(m, planIndex);
    if (planErr) return fail(planErr);
    const plan = m.plans.get(planIndex)!;
    if (plan.kind !== c.kind || (plan.kind === PlanKind.Periodic && plan.periodSeconds !== c.periodSeconds)) {
      return fail("Custody_PlanKindMismatch");
    }
    const window = this.selling(m, plan.price);
    if ("error" in window) return window;
    const faceLeft = c.paidIn === 0n ? 0n : (c.held * (c.paidIn + c.direct) + c.paidIn - 1n) / c.paidIn;
    const capsErr = this.capsError(m.policy, plan, faceLeft, c.unitsLeft, c.named);
    if (capsErr) return fail(capsErr);

    const [custodied, direct] = split(plan.price, m.policy.custodyBps);
    let expiryDay: number;
    if (plan.kind === PlanKind.Periodic) {
      expiryDay = dayStartingAtOrAfter(c.startedAt + (c.unitsUsed + c.unitsLeft + plan.units) * c.periodSeconds);
    } else {
      expiryDay = lessonExpiryDay(this.now, plan.validityDays);
      if (expiryDay !== 0 && c.expiryDay > expiryDay) expiryDay = c.expiryDay;
    }
    this.commitWindow(m, window, plan.price);
    // The renewal's own cooling-off; made while the card's is open, it joins it.
    let units = plan.units;
    if (this.coolingOffOpen(c)) units += c.coolingOffUnits;
    else this.settleDirect(c);
    c.coolingOffEndDay = beijingDayOf(this.now) + m.policy.coolingOffDays + 1;
    c.coolingOffUnits = units;
    c.pendingDirect += direct;
    c.held += custodied;
    c.unitsLeft += plan.units;
    c.expiryDay = expiryDay;
    c.paidIn += custodied;
    c.direct += direct;
    m.paidIn += custodied + direct;
    return OK;
  }

  // ----------------------------------------------------------------------------- consumption

  /**
   * consume / consumeBatch: vouchers applied in order, all or nothing. `caller` sends the transaction; each voucher
   * carries the fields and the key that signed it.
   */
  consume(vouchers: VoucherPlan[], caller: Signer): Expected {
    // Work on copies: a failing voucher anywhere reverts the whole batch.
    const copies = new Map<bigint, CardM>();
    const released = new Map<MerchantM, bigint>();
    let current = -1;
    for (const v of vouchers) {
      const merchantId = Number(v.cardId >> 32n);
      const m = this.merchants.get(merchantId);
      if (merchantId !== current) {
        current = merchantId;
        const servingErr = this.servingError(m);
        if (servingErr) return fail(servingErr);
        if (caller !== m!.account) return fail("Custody_NotMerchant");
      }
      const original = this.cardById(v.cardId);
      if (!original) return fail("Custody_UnknownCard");
      const c = copies.get(v.cardId) ?? { ...original };
      copies.set(v.cardId, c);
      if (c.status !== CardStatus.Active || c.kind !== PlanKind.Lesson) return fail("Custody_CardNotActive");
      if (this.expired(c)) return fail("Custody_CardExpired");
      if (v.lessons === 0) return fail("Custody_ZeroLessons");
      if (this.now > v.deadline) return fail("Custody_VoucherExpired");
      if (v.sequence !== c.unitsUsed) return fail("Custody_VoucherSequenceMismatch");
      if (v.lessons > c.unitsLeft) return fail("Custody_InsufficientLessons");
      const amount = share(c.held, c.unitsLeft, v.lessons);
      if (v.amount !== amount) return fail("Custody_VoucherAmountMismatch");
      if (v.signer !== c.holder) return fail("Custody_InvalidSigner");
      c.held -= amount;
      c.unitsLeft -= v.lessons;
      c.unitsUsed += v.lessons;
      released.set(m!, (released.get(m!) ?? 0n) + amount);
    }
    for (const [id, copy] of copies) Object.assign(this.cardById(id)!, copy);
    for (const [m, amount] of released) m.released += amount;
    return OK;
  }

  /** releasePeriodic (`single`: nothing due reverts) or releasePeriodicBatch (nothing due is skipped). */
  releasePeriodic(cardIds: bigint[], single: boolean): Expected {
    const copies = new Map<bigint, CardM>();
    const released = new Map<MerchantM, bigint>();
    let releasedAny = false;
    for (const id of cardIds) {
      const original = this.cardById(id);
      if (!original) return fail("Custody_UnknownCard");
      const c = copies.get(id) ?? { ...original };
      copies.set(id, c);
      if (c.status !== CardStatus.Active || c.kind !== PlanKind.Periodic) return fail("Custody_CardNotActive");
      const servingErr = this.servingError(c.merchant);
      if (servingErr) return fail(servingErr);
      const due = this.periodsDue(c);
      if (due === 0) continue;
      releasedAny = true;
      let amount = share(c.held, c.unitsLeft, due);
      c.held -= amount;
      c.unitsLeft -= due;
      c.unitsUsed += due;
      // Whoever releases the periods also hands over the direct share once its cooling-off is over.
      if (!this.coolingOffOpen(c)) {
        amount += c.pendingDirect;
        c.pendingDirect = 0n;
      }
      released.set(c.merchant, (released.get(c.merchant) ?? 0n) + amount);
    }
    if (single && !releasedAny) return fail("Custody_NothingToRelease");
    for (const [id, copy] of copies) Object.assign(this.cardById(id)!, copy);
    for (const [m, amount] of released) m.released += amount;
    return OK;
  }

  payOut(merchantId: number, caller: Signer): Expected {
    const m = this.merchants.get(merchantId);
    if (!m) return fail("Custody_UnknownMerchant");
    if (caller !== m.account && caller !== m.bankAccount) return fail("Custody_NotMerchant");
    if (m.status === MerchantStatus.Frozen) return fail("Custody_MerchantNotServing");
    const amount = this.payable(m);
    if (amount === 0n) return fail("Custody_NothingToPayOut");
    m.paidOut += amount;
    return OK;
  }

  // ----------------------------------------------------------------------------- refunds

  refundCoolingOff(cardId: bigint, caller: Signer): Expected {
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (caller !== c.holder) return fail("Custody_NotHolder");
    if (c.status !== CardStatus.Active) return fail("Custody_CardNotActive");
    if (!this.coolingOffOpen(c)) return fail("Custody_CoolingOffOver");
    const settled = this.settlement(c);
    const copy = { ...c };
    copy.held -= settled.amount;
    copy.unitsLeft -= settled.due;
    copy.unitsUsed += settled.due;
    const units = c.coolingOffUnits;
    if (this.unitsNotBegun(copy) < units) return fail("Custody_CardAlreadyUsed");
    this.applyRelease(c, settled.due, settled.amount);
    c.coolingOffEndDay = 0;
    c.coolingOffUnits = 0;
    if (units === c.unitsLeft) {
      this.refundAll(c);
    } else {
      // Renewals made in the cooling-off: their units at the card's average price; the card goes on.
      const amount = share(c.held, c.unitsLeft, units);
      c.held -= amount;
      c.unitsLeft -= units;
      c.merchant.refunded += amount;
    }
    this.returnDirect(c);
    return OK;
  }

  requestRefund(cardId: bigint, caller: Signer): Expected {
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (caller !== c.holder) return fail("Custody_NotHolder");
    if (c.status !== CardStatus.Active || c.held === 0n) return fail("Custody_CardNotActive");
    const settled = this.settlement(c);
    if (c.held - settled.amount === 0n) return fail("Custody_CardNotActive");
    this.applyRelease(c, settled.due, settled.amount);
    if (this.expired(c)) {
      this.refundAll(c);
    } else if (c.held * BigInt(c.unitsUsed + c.unitsLeft) < c.paidIn) {
      this.refundAll(c);
    } else {
      c.status = CardStatus.RefundRequested;
    }
    return OK;
  }

  holderAnswer(cardId: bigint, caller: Signer, to: number): Expected {
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (caller !== c.holder) return fail("Custody_NotHolder");
    if (c.status !== CardStatus.RefundRequested) return fail("Custody_NoRefundRequest");
    c.status = to;
    return OK;
  }

  merchantAnswer(cardId: bigint, caller: Signer, accept: boolean): Expected {
    const m = this.merchants.get(Number(cardId >> 32n));
    if (!m) return fail("Custody_UnknownMerchant");
    if (caller !== m.account) return fail("Custody_NotMerchant");
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (c.status !== CardStatus.RefundRequested) return fail("Custody_NoRefundRequest");
    if (accept) this.refundAll(c);
    else c.status = CardStatus.Disputed;
    return OK;
  }

  resolveDispute(cardId: bigint, refund: bigint, caller: Signer): Expected {
    const m = this.merchants.get(Number(cardId >> 32n));
    if (!m) return fail("Custody_UnknownMerchant");
    if (!this.regulates(m, caller)) return fail("Custody_NotRegulatorOf");
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (c.status !== CardStatus.Disputed) return fail("Custody_NotInDispute");
    if (refund > c.held) return fail("Custody_RefundExceedsHeld");
    if (refund === 0n) {
      c.status = CardStatus.Active;
      return OK;
    }
    // A frozen merchant's money goes back to consumers: a decision releasing any of it to the merchant waits.
    if (refund < c.held && m.status === MerchantStatus.Frozen) return fail("Custody_ReleaseWhileFrozen");
    m.released += c.held - refund;
    m.refunded += refund;
    c.held = 0n;
    c.unitsLeft = 0;
    c.status = CardStatus.Refunded;
    return OK;
  }

  claim(cardIds: bigint[], batch: boolean): Expected {
    for (const id of cardIds) {
      const c = this.cardById(id);
      if (!c) {
        if (batch) continue;
        return fail("Custody_UnknownCard");
      }
      if (!this.claimable(c.merchant) || c.held === 0n || c.status === CardStatus.Refunded) {
        if (batch) continue;
        return fail("Custody_NotClaimable");
      }
      this.refundAll(c, true);
    }
    return OK;
  }

  // ----------------------------------------------------------------------------- merchant lifecycle and risk

  regulated(merchantId: number, caller: Signer): { error: string } | MerchantM {
    const m = this.merchants.get(merchantId);
    if (!m) return { error: "Custody_UnknownMerchant" };
    if (!this.regulates(m, caller)) return { error: "Custody_NotRegulatorOf" };
    return m;
  }

  setStatus(merchantId: number, caller: Signer, op: "freeze" | "unfreeze" | "restrict" | "unrestrict"): Expected {
    const m = this.regulated(merchantId, caller);
    if ("error" in m) return m;
    const allowed = {
      freeze: m.status !== MerchantStatus.Exited && m.status !== MerchantStatus.Frozen,
      unfreeze: m.status === MerchantStatus.Frozen && m.pool === 0n, // holders' share stays claimable
      restrict: m.status === MerchantStatus.Active,
      unrestrict: m.status === MerchantStatus.Restricted,
    }[op];
    if (!allowed) return fail("Custody_InvalidStatusChange");
    if (op === "freeze") m.statusBeforeFreeze = m.status;
    m.status = { freeze: MerchantStatus.Frozen, unfreeze: m.statusBeforeFreeze ?? MerchantStatus.Active, restrict: MerchantStatus.Restricted, unrestrict: MerchantStatus.Active }[op];
    return OK;
  }

  startExit(merchantId: number, caller: Signer, byRegulator: boolean): Expected {
    let m: MerchantM | { error: string } | undefined;
    if (byRegulator) {
      m = this.regulated(merchantId, caller);
    } else {
      m = this.merchants.get(merchantId);
      if (!m) return fail("Custody_UnknownMerchant");
      if (caller !== m.account) return fail("Custody_NotMerchant");
    }
    if ("error" in m) return m;
    if (m.status !== MerchantStatus.Active && m.status !== MerchantStatus.Restricted) return fail("Custody_InvalidStatusChange");
    m.exitEffectiveAt = endOfPeriod(this.now, m.policy.exitNoticeDays);
    m.status = MerchantStatus.WindingDown;
    return OK;
  }

  close(merchantId: number, caller: Signer): Expected {
    const m = this.merchants.get(merchantId);
    if (!m) return fail("Custody_UnknownMerchant");
    if (caller !== m.account && !this.regulates(m, caller)) return fail("Custody_NotMerchant");
    if (!this.claimable(m)) {
      return fail(m.status === MerchantStatus.WindingDown ? "Custody_ExitNoticeRunning" : "Custody_InvalidStatusChange");
    }
    if (this.held(m) !== 0n || this.payable(m) !== 0n) return fail("Custody_MerchantStillHolds");
    m.status = MerchantStatus.Exited;
    return OK;
  }

  setRiskLevel(merchantId: number, level: number, caller: Signer): Expected {
    if (caller !== this.w.riskOracle) return fail("Custody_NotRiskOracle");
    const m = this.merchants.get(merchantId);
    if (!m) return fail("Custody_UnknownMerchant");
    if (level === RiskLevel.Medium && m.risk !== RiskLevel.Medium) {
      m.windowDay = beijingDayOf(this.now);
      m.windowSales = 0n;
      m.sales = new Map();
    }
    m.risk = level;
    return OK;
  }

  /** recordBreach / clearBreach: the merchant's regulator, one record at a time. */
  breach(merchantId: number, record: boolean, caller: Signer): Expected {
    const m = this.merchants.get(merchantId);
    if (!m) return fail("Custody_UnknownMerchant");
    if (!this.regulates(m, caller)) return fail("Custody_NotRegulatorOf");
    if (record === (m.breachRecordedAt !== 0)) return fail("Custody_BreachRecordUnchanged");
    m.breachRecordedAt = record ? this.now : 0;
    return OK;
  }

  /** cancelForBreach: the holder takes the unused balance back once a breach is on record. */
  cancelForBreach(cardId: bigint, caller: Signer): Expected {
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (caller !== c.holder) return fail("Custody_NotHolder");
    if (c.merchant.breachRecordedAt === 0) return fail("Custody_NoBreachRecorded");
    if (c.status === CardStatus.Refunded) return fail("Custody_CardNotActive");
    const settled = c.status === CardStatus.Active ? this.settlement(c) : { due: 0, amount: 0n };
    if (c.held - settled.amount === 0n) return fail("Custody_CardNotActive");
    this.applyRelease(c, settled.due, settled.amount);
    this.refundAll(c, true);
    return OK;
  }

  /** transferCard: by notice, from the holder only, to anyone but zero or the holder; the card goes on as it was. */
  transfer(cardId: bigint, caller: Signer, to: Signer): Expected {
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (caller !== c.holder) return fail("Custody_NotHolder");
    if (c.status !== CardStatus.Active) return fail("Custody_CardNotActive");
    if (to === caller) return fail("Custody_InvalidTransfer");
    c.holder = to;
    c.recovery = null; // the key is not lost: a recovery under way ends
    return OK;
  }

  /** startKeyRecovery: the custodian bank, on a card not refunded, to a new key; 7 Beijing days to wait. */
  startKeyRecovery(cardId: bigint, caller: Signer, to: Signer): Expected {
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (caller !== c.merchant.bankAccount) return fail("Custody_NotCustodianOf");
    if (c.status === CardStatus.Refunded) return fail("Custody_CardNotActive");
    if (to === c.holder) return fail("Custody_InvalidTransfer");
    if (c.recovery) return fail("Custody_KeyRecoveryPending");
    c.recovery = { to, effectiveAt: endOfPeriod(this.now, 7) };
    return OK;
  }

  /** cancelKeyRecovery: the holder or the bank. */
  cancelKeyRecovery(cardId: bigint, caller: Signer): Expected {
    const c = this.cardById(cardId);
    if (!c || !c.recovery) return fail("Custody_NoKeyRecovery");
    if (caller !== c.holder && caller !== c.merchant.bankAccount) return fail("Custody_NotHolderOrCustodian");
    c.recovery = null;
    return OK;
  }

  /** completeKeyRecovery: anyone, after the wait; the card moves as by a transfer. */
  completeKeyRecovery(cardId: bigint): Expected {
    const c = this.cardById(cardId);
    if (!c || !c.recovery) return fail("Custody_NoKeyRecovery");
    if (this.now < c.recovery.effectiveAt) return fail("Custody_KeyRecoveryWaiting");
    c.holder = c.recovery.to;
    c.recovery = null;
    return OK;
  }

  /** decideFrozenPayable: a Frozen merchant's payable to the holders' pool, or paid out to it after review. */
  decideFrozenPayable(merchantId: number, toHolders: boolean, caller: Signer): Expected {
    const m = this.regulated(merchantId, caller);
    if ("error" in m) return m;
    if (m.status !== MerchantStatus.Frozen) return fail("Custody_NotFrozen");
    const amount = this.payable(m);
    const held = this.held(m);
    if (toHolders) {
      if (amount === 0n) return fail("Custody_NothingToPayOut");
      if (held === m.pool) return fail("Custody_NoHoldersToShare");
      m.released -= amount;
      m.pool += amount;
      return OK;
    }
    const leftover = m.pool !== 0n && held === m.pool ? m.pool : 0n;
    if (amount + leftover === 0n) return fail("Custody_NothingToPayOut");
    m.pool -= leftover;
    m.released += leftover;
    m.paidOut += amount + leftover;
    return OK;
  }

  proposePayoutAccount(merchantId: number, caller: Signer, account: string): Expected {
    const m = this.merchants.get(merchantId);
    if (!m) return fail("Custody_UnknownMerchant");
    if (caller !== m.account) return fail("Custody_NotMerchant");
    m.proposedAccount = account;
    return OK;
  }

  confirmPayoutAccount(merchantId: number, caller: Signer, account: string): Expected {
    const m = this.regulated(merchantId, caller);
    if ("error" in m) return m;
    if (m.proposedAccount === ethers.ZeroHash || m.proposedAccount !== account) return fail("Custody_PayoutAccountNotProposed");
    m.payoutAccount = account;
    m.proposedAccount = ethers.ZeroHash;
    return OK;
  }

  /** releaseDirect: every listed card whose cooling-off is over hands its direct share to its merchant. */
  releaseDirect(cardIds: bigint[]): Expected {
    for (const id of cardIds) {
      const c = this.cardById(id);
      if (c && !this.coolingOffOpen(c)) this.settleDirect(c);
    }
    return OK;
  }

  /** checkIn: the holder's signed check-in starts a time-based card's periods before its cooling-off ends. */
  checkIn(cardId: bigint, signer: Signer): Expected {
    const c = this.cardById(cardId);
    if (!c) return fail("Custody_UnknownCard");
    if (c.status !== CardStatus.Active || c.kind !== PlanKind.Periodic) return fail("Custody_CardNotActive");
    const servingErr = this.servingError(c.merchant);
    if (servingErr) return fail(servingErr);
    if (this.now >= c.startedAt) return fail("Custody_PeriodsAlreadyStarted");
    if (signer !== c.holder) return fail("Custody_InvalidSigner");
    c.startedAt = this.now;
    c.expiryDay = dayStartingAtOrAfter(this.now + (c.unitsUsed + c.unitsLeft) * c.periodSeconds);
    return OK;
  }

  setPlanActive(merchantId: number, planIndex: number, active: boolean, caller: Signer): Expected {
    const m = this.merchants.get(merchantId);
    if (!m) return fail("Custody_UnknownMerchant");
    if (caller !== m.account) return fail("Custody_NotMerchant");
    const plan = m.plans.get(planIndex);
    if (!plan) return fail("Custody_UnknownPlan");
    plan.active = active;
    return OK;
  }
}

interface VoucherPlan {
  cardId: bigint;
  lessons: number;
  /** The amount the holder signed, fen. */
  amount: bigint;
  sequence: number;
  deadline: number;
  signer: Signer;
}

// ---------------------------------------------------------------------------------------------------------------
// Actions: what fast-check generates. Cards and merchants are picked at run time from what exists, so that a
// shrunk sequence still means something; `focus` prefers the cards an action can apply to.
// ---------------------------------------------------------------------------------------------------------------

type Who = "valid" | "stranger" | "other";
type CardRef = { card: number; focus: boolean };
type Fault = "none" | "sequence" | "signer" | "deadline" | "zero" | "tooMany" | "amount" | "caller" | "foreign";

type Action = { dt: number } & (
  | { t: "purchase"; m: number; plan: number; holder: number; named: boolean; who: Who }
  | ({ t: "renew"; plan: number; who: Who } & CardRef)
  | ({ t: "consume"; lessons: number; fault: Fault } & CardRef)
  | { t: "consumeBatch"; m: number; items: { card: number; lessons: number }[]; fault: Fault; at: number }
  | ({ t: "releasePeriodic" } & CardRef)
  | { t: "releasePeriodicBatch"; cards: number[] }
  | { t: "releaseDirect"; cards: number[] }
  | ({ t: "checkIn"; who: Who } & CardRef)
  | ({ t: "transfer"; who: Who; to: number } & CardRef)
  | ({ t: "keyRecovery"; op: "start" | "cancel" | "complete"; who: Who; to: number } & CardRef)
  | { t: "frozenPayable"; m: number; toHolders: boolean; who: Who }
  | { t: "payoutAccount"; m: number; op: "propose" | "confirm"; account: number; who: Who }
  | { t: "breach"; m: number; record: boolean; who: Who }
  | ({ t: "cancelForBreach"; who: Who } & CardRef)
  | { t: "payOut"; m: number; who: Who }
  | ({ t: "coolingOff"; who: Who } & CardRef)
  | ({ t: "requestRefund"; who: Who } & CardRef)
  | ({ t: "cancelRefund"; who: Who } & CardRef)
  | ({ t: "escalate"; who: Who } & CardRef)
  | ({ t: "acceptRefund"; who: Who } & CardRef)
  | ({ t: "rejectRefund"; who: Who } & CardRef)
  | ({ t: "resolve"; amount: "zero" | "partial" | "full" | "over"; who: Who } & CardRef)
  | { t: "status"; m: number; op: "freeze" | "unfreeze" | "restrict" | "unrestrict"; who: Who }
  | { t: "exit"; m: number; byRegulator: boolean; who: Who }
  | { t: "close"; m: number; who: Who }
  | ({ t: "claim" } & CardRef)
  | { t: "claimBatch"; cards: number[] }
  | { t: "risk"; m: number; level: number; who: Who }
  | { t: "planActive"; m: number; plan: number; active: boolean; who: Who }
  | { t: "time"; seconds: number }
);

const who = fc.integer({ min: 0, max: 9 }).map((i): Who => (i < 8 ? "valid" : i === 8 ? "stranger" : "other"));
const planIndex = fc.integer({ min: 0, max: 12 }).map((i) => (i === 0 ? 0 : i === 12 ? 4 : (i % 3) + 1)); // 0, 4: unknown
const merchantIndex = fc.integer({ min: 0, max: 12 }).map((i) => (i === 12 ? 3 : i % 3)); // 3: unknown
const cardRef = { card: fc.integer({ min: -1, max: 40 }), focus: fc.integer({ min: 0, max: 9 }).map((i) => i < 8) };
const dt = fc.integer({ min: 1, max: 900 });

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 14, arbitrary: fc.record({ t: fc.constant("purchase" as const), dt, m: merchantIndex, plan: planIndex, holder: fc.integer({ min: 0, max: 2 }), named: fc.integer({ min: 0, max: 9 }).map((i) => i < 8), who }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("renew" as const), dt, plan: planIndex, who, ...cardRef }) },
  { weight: 12, arbitrary: fc.record({ t: fc.constant("consume" as const), dt, lessons: fc.integer({ min: 1, max: 3 }), fault: fc.constantFrom<Fault>("none", "none", "none", "none", "none", "none", "none", "none", "sequence", "signer", "deadline", "zero", "tooMany", "amount", "caller"), ...cardRef }) },
  { weight: 7, arbitrary: fc.record({ t: fc.constant("consumeBatch" as const), dt, m: merchantIndex, items: fc.array(fc.record({ card: fc.nat(40), lessons: fc.integer({ min: 1, max: 2 }) }), { minLength: 2, maxLength: 10 }), fault: fc.constantFrom<Fault>("none", "none", "none", "none", "none", "none", "sequence", "signer", "deadline", "tooMany", "amount", "caller", "foreign"), at: fc.nat(9) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("releasePeriodic" as const), dt, ...cardRef }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("releasePeriodicBatch" as const), dt, cards: fc.array(fc.nat(40), { minLength: 1, maxLength: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("releaseDirect" as const), dt, cards: fc.array(fc.nat(40), { minLength: 1, maxLength: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("checkIn" as const), dt, who, ...cardRef }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("transfer" as const), dt, who, to: fc.integer({ min: 0, max: 2 }), ...cardRef }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("keyRecovery" as const), dt, op: fc.constantFrom("start" as const, "start" as const, "cancel" as const, "complete" as const, "complete" as const), who, to: fc.integer({ min: 0, max: 2 }), ...cardRef }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("frozenPayable" as const), dt, m: merchantIndex, toHolders: fc.integer({ min: 0, max: 3 }).map((i) => i < 3), who }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("payoutAccount" as const), dt, m: merchantIndex, op: fc.constantFrom("propose" as const, "confirm" as const), account: fc.integer({ min: 1, max: 2 }), who }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("breach" as const), dt, m: merchantIndex, record: fc.integer({ min: 0, max: 3 }).map((i) => i < 3), who }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("cancelForBreach" as const), dt, who, ...cardRef }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("payOut" as const), dt, m: merchantIndex, who }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("coolingOff" as const), dt, who, ...cardRef }) },
  { weight: 7, arbitrary: fc.record({ t: fc.constant("requestRefund" as const), dt, who, ...cardRef }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("cancelRefund" as const), dt, who, ...cardRef }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("escalate" as const), dt, who, ...cardRef }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("acceptRefund" as const), dt, who, ...cardRef }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant("rejectRefund" as const), dt, who, ...cardRef }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant("resolve" as const), dt, amount: fc.constantFrom("zero" as const, "partial" as const, "full" as const, "over" as const), who, ...cardRef }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("status" as const), dt, m: merchantIndex, op: fc.constantFrom("freeze" as const, "freeze" as const, "unfreeze" as const, "restrict" as const, "unrestrict" as const), who }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("exit" as const), dt, m: merchantIndex, byRegulator: fc.boolean(), who }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("close" as const), dt, m: merchantIndex, who }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("claim" as const), dt, ...cardRef }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("claimBatch" as const), dt, cards: fc.array(fc.integer({ min: -1, max: 40 }), { minLength: 1, maxLength: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("risk" as const), dt, m: merchantIndex, level: fc.integer({ min: 0, max: 2 }), who }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("planActive" as const), dt, m: merchantIndex, plan: fc.integer({ min: 0, max: 4 }), active: fc.boolean(), who }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant("time" as const), dt, seconds: fc.constantFrom(3_600, DAY, 2 * DAY, 6 * DAY, 7 * DAY, 10 * DAY, 30 * DAY, 31 * DAY, 45 * DAY, 91 * DAY) }) },
);

/**
 * Flows: the few actions a story needs in order (request, then answer, then the regulator's decision; a freeze or
 * an exit, then the claims), which independent random actions would rarely line up. Each is still its own
 * transaction, checked like any other, and random actions interleave between flows.
 */
const card = fc.nat(40);
const flowArb: fc.Arbitrary<Action[]> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ card, dt }).map(({ card, dt }): Action[] => [
    { t: "requestRefund", dt, who: "valid", card, focus: true },
    { t: "acceptRefund", dt, who: "valid", card, focus: true },
  ]) },
  { weight: 3, arbitrary: fc.record({ card, dt, escalate: fc.boolean(), amount: fc.constantFrom("zero" as const, "partial" as const, "full" as const, "over" as const) }).map(
    ({ card, dt, escalate, amount }): Action[] => [
      { t: "requestRefund", dt, who: "valid", card, focus: true },
      escalate ? { t: "escalate", dt, who: "valid", card, focus: true } : { t: "rejectRefund", dt, who: "valid", card, focus: true },
      { t: "resolve", dt, amount, who: "valid", card, focus: true },
    ],
  ) },
  // A dispute pending when its merchant is frozen: only a decision that sends nothing to the merchant goes through.
  { weight: 1, arbitrary: fc.record({ m: fc.nat(2), card, dt, amount: fc.constantFrom("zero" as const, "partial" as const, "full" as const) }).map(
    ({ m, card, dt, amount }): Action[] => [
      { t: "requestRefund", dt, who: "valid", card, focus: true },
      { t: "escalate", dt, who: "valid", card, focus: true },
      { t: "status", dt, m, op: "freeze", who: "valid" },
      { t: "resolve", dt, amount, who: "valid", card, focus: true },
      { t: "claim", dt, card, focus: true },
    ],
  ) },
  { weight: 1, arbitrary: fc.record({ m: fc.nat(2), card, dt }).map(({ m, card, dt }): Action[] => [
    { t: "status", dt, m, op: "freeze", who: "valid" },
    { t: "claim", dt, card, focus: true },
    { t: "claimBatch", dt, cards: [card, card + 1, card + 2] },
  ]) },
  // Released money stuck by a freeze: the regulator's decision (to the holders, then the claims share it; or paid out).
  { weight: 2, arbitrary: fc.record({ m: fc.nat(2), card, dt, toHolders: fc.boolean() }).map(({ m, card, dt, toHolders }): Action[] => [
    { t: "status", dt, m, op: "freeze", who: "valid" },
    { t: "frozenPayable", dt, m, toHolders, who: "valid" },
    { t: "claim", dt, card, focus: true },
    { t: "claimBatch", dt, cards: [card + 1, card + 2, card + 3, card + 4] },
    { t: "frozenPayable", dt, m, toHolders: false, who: "valid" },
    { t: "close", dt, m, who: "valid" },
  ]) },
  // A lost key: the bank starts, the wait passes (or the holder cancels), anyone completes.
  { weight: 1, arbitrary: fc.record({ card, dt, to: fc.nat(2), cancel: fc.boolean() }).map(({ card, dt, to, cancel }): Action[] => [
    { t: "keyRecovery", dt, op: "start", who: "valid", to, card, focus: true },
    cancel ? { t: "keyRecovery", dt, op: "cancel", who: "valid", to, card, focus: true } : { t: "time", dt, seconds: 7 * DAY },
    { t: "time", dt, seconds: DAY },
    { t: "keyRecovery", dt, op: "complete", who: "valid", to, card, focus: true },
  ]) },
  { weight: 1, arbitrary: fc.record({ m: fc.nat(2), card, dt, byRegulator: fc.boolean() }).map(({ m, card, dt, byRegulator }): Action[] => [
    { t: "exit", dt, m, byRegulator, who: "valid" },
    { t: "time", dt, seconds: 31 * DAY },
    { t: "claimBatch", dt, cards: [card, card + 1, card + 2, card + 3] },
    { t: "payOut", dt, m, who: "valid" },
    { t: "close", dt, m, who: "valid" },
  ]) },
);

/** A sequence opens with a few sales (so that later actions have cards to act on), then anything goes. */
const sequenceArb: fc.Arbitrary<Action[]> = fc
  .tuple(
    fc.array(fc.record({ t: fc.constant("purchase" as const), dt, m: fc.nat(2), plan: fc.integer({ min: 1, max: 3 }), holder: fc.nat(2), named: fc.constant(true), who: fc.constant<Who>("valid") }), { minLength: 2, maxLength: 4 }),
    fc.array(fc.oneof({ weight: 6, arbitrary: actionArb.map((a) => [a]) }, { weight: 1, arbitrary: flowArb }), { minLength: 8, maxLength: 21 }),
  )
  .map(([opening, rest]) => [...opening, ...rest.flat()].slice(0, 25));

// ---------------------------------------------------------------------------------------------------------------
// Running a sequence
// ---------------------------------------------------------------------------------------------------------------

type Outcome = { ok: true; receipt: ContractTransactionReceipt } | { ok: false; error: string };

/** Per-card money as the events tell it: paid in (purchase, renewals), released, refunded. */
interface CardFlows {
  paidIn: bigint;
  released: bigint;
  refunded: bigint;
}

class Runner {
  readonly model: Model;
  readonly flows = new Map<bigint, CardFlows>();
  readonly log: string[] = [];
  private lastTimestamp = 0;
  private pendingJump = 0;
  private escrowAddress = "";
  private tokenAddresses: string[] = [];

  constructor(readonly w: World) {
    this.model = new Model(w);
  }

  async start(): Promise<void> {
    this.escrowAddress = await this.w.escrow.getAddress();
    this.tokenAddresses = [await this.w.tokenA.getAddress(), await this.w.tokenB.getAddress()];
    this.lastTimestamp = (await ethers.provider.getBlock("latest"))!.timestamp;
  }

  merchantId(index: number): number {
    return index === 3 ? UNKNOWN_MERCHANT : [this.w.school, this.w.gym, this.w.pet][index];
  }

  /** A card id: one the predicate likes when `focus`, else any; an unknown id for -1 or an empty world. */
  pickCard(ref: number, focus: boolean, like: (c: CardM) => boolean): bigint {
    const all = this.model.cards;
    if (ref < 0 || all.length === 0) return (1n << 32n) | UNKNOWN_SERIAL;
    const liked = focus ? all.filter(like) : [];
    const pool = liked.length > 0 ? liked : all;
    return pool[ref % pool.length].id;
  }

  /** Who sends: the valid role, a stranger, or another party with a role (a holder, another merchant or bank). */
  caller(kind: Who, valid: Signer, other: Signer): Signer {
    return kind === "valid" ? valid : kind === "stranger" ? this.w.stranger : other;
  }

  async send(label: string, expected: Expected, call: () => Promise<ContractTransactionResponse>): Promise<void> {
    let outcome: Outcome;
    try {
      const receipt = await (await call()).wait();
      outcome = { ok: true, receipt: receipt! };
    } catch (e) {
      outcome = { ok: false, error: this.decode(e) };
    }
    this.lastTimestamp = this.model.now;
    const want = "error" in expected ? `revert ${expected.error}` : "success";
    const got = outcome.ok ? "success" : `revert ${outcome.error}`;
    this.log.push(`${label} @${this.model.now}: ${got}`);
    if (want !== got) {
      throw new Error(`${label}: the model expected ${want}, the escrow gave ${got}\nafter:\n  ${this.log.join("\n  ")}`);
    }
    if (outcome.ok) this.track(outcome.receipt);
  }

  decode(e: unknown): string {
    const err = e as { data?: string; error?: { data?: string }; info?: { error?: { data?: string } }; message?: string };
    const data = err.data ?? err.error?.data ?? err.info?.error?.data;
    if (typeof data === "string" && data.length >= 10) {
      const parsed = this.w.escrow.interface.parseError(data);
      if (parsed) return parsed.name;
      return `unknown error ${data.slice(0, 10)}`;
    }
    return `no revert data (${err.message?.split("\n")[0]})`;
  }

  /** Adds the receipt's escrow events to each card's flows. */
  track(receipt: ContractTransactionReceipt): void {
    const flowsOf = (id: bigint): CardFlows => {
      let f = this.flows.get(id);
      if (!f) this.flows.set(id, (f = { paidIn: 0n, released: 0n, refunded: 0n }));
      return f;
    };
    for (const log of receipt.logs) {
      if (log.address !== this.escrowAddress) continue;
      const ev = this.w.escrow.interface.parseLog(log);
      switch (ev?.name) {
        case "CardPurchased":
        case "CardRenewed":
          flowsOf(ev.args.cardId).paidIn += ev.args.custodied as bigint;
          break;
        case "LessonsConsumed":
        case "PeriodsReleased":
          flowsOf(ev.args.cardId).released += ev.args.amount as bigint;
          break;
        case "DisputeResolved":
          flowsOf(ev.args.cardId).released += ev.args.released as bigint;
          break;
        case "CardRefunded":
        case "RenewalRefunded": // renewals refunded in their cooling-off: custodied money back, the card goes on
          flowsOf(ev.args.cardId).refunded += ev.args.amount as bigint;
          break;
        case "FrozenPayableShared": // the card's share of the holders' pool, paid with its CardRefunded: not its own money
          flowsOf(ev.args.cardId).refunded -= ev.args.amount as bigint;
          break;
      }
    }
  }

  async step(a: Action): Promise<void> {
    if (a.t === "time") {
      this.pendingJump += a.seconds;
      this.log.push(`time +${a.seconds}s`);
      return;
    }
    const ts = this.lastTimestamp + this.pendingJump + a.dt;
    this.pendingJump = 0;
    this.model.now = ts;
    await network.provider.send("evm_setNextBlockTimestamp", [ts]);
    const { w, model } = this;
    const e = w.escrow;
    const o = { gasLimit: GAS };
    const holders = [w.alice, w.bob, w.carol];

    switch (a.t) {
      case "purchase": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const own = m?.bankAccount ?? w.bankA;
        const caller = this.caller(a.who, own, own === w.bankA ? w.bankB : w.bankA);
        const holder = holders[a.holder];
        const expected = model.purchase(id, a.plan, holder, a.named, caller);
        return this.send(`purchase(m${id}, plan ${a.plan}, ${a.named ? "named" : "anonymous"}) by ${a.who}`, expected, () =>
          e.connect(caller).purchase(id, a.plan, holder.address, a.named, o));
      }
      case "renew": {
        const cardId = this.pickCard(a.card, a.focus, (c) => c.status === CardStatus.Active);
        const m = model.merchants.get(Number(cardId >> 32n))!;
        const caller = this.caller(a.who, m.bankAccount, m.bankAccount === w.bankA ? w.bankB : w.bankA);
        const expected = model.renew(cardId, a.plan, caller);
        return this.send(`renew(${cardId}, plan ${a.plan}) by ${a.who}`, expected, () => e.connect(caller).renew(cardId, a.plan, o));
      }
      case "consume": {
        const cardId = this.pickCard(a.card, a.focus, (c) => model.consumable(c));
        const c = model.cardById(cardId);
        const m = model.merchants.get(Number(cardId >> 32n))!;
        const v = this.voucherFor(cardId, c?.unitsUsed ?? 0, c?.unitsLeft ?? 1, c?.held ?? 0n, a.lessons, c?.holder ?? w.alice, a.fault);
        const caller = a.fault === "caller" ? w.stranger : m.account;
        const expected = model.consume([v], caller);
        const signed = await this.sign(v);
        return this.send(`consume(${cardId}, ${v.lessons} lessons, seq ${v.sequence}) fault ${a.fault}`, expected, () =>
          e.connect(caller).consume(signed, o));
      }
      case "consumeBatch": {
        // The chosen merchant's consumable cards; if it has none, those of a merchant that has some.
        let id = this.merchantId(a.m);
        const consumable = model.cards.filter((c) => model.consumable(c));
        if (a.m !== 3 && !consumable.some((c) => c.merchant.id === id) && consumable.length > 0) id = consumable[0].merchant.id;
        const m = model.merchants.get(id);
        const own = model.cards.filter((c) => c.merchant === m);
        const ready = own.filter((c) => model.consumable(c));
        const pool = ready.length > 0 ? ready : own.length > 0 ? own : model.cards;
        const used = new Map<bigint, { used: number; left: number; held: bigint }>();
        const plans: VoucherPlan[] = [];
        const faultAt = a.at % a.items.length;
        a.items.forEach((item, i) => {
          let c: CardM | undefined = pool.length > 0 ? pool[item.card % pool.length] : undefined;
          if (i === faultAt && a.fault === "foreign") {
            const foreign = model.cards.filter((x) => x.merchant !== m);
            if (foreign.length > 0) c = foreign[item.card % foreign.length];
          }
          const cardId = c?.id ?? ((BigInt(id) << 32n) | UNKNOWN_SERIAL);
          const state = used.get(cardId) ?? { used: c?.unitsUsed ?? 0, left: c?.unitsLeft ?? 1, held: c?.held ?? 0n };
          if (state.left === 0 && i !== faultAt) return; // used up earlier in this batch
          const lessons = Math.max(1, Math.min(item.lessons, state.left));
          const v = this.voucherFor(cardId, state.used, state.left, state.held, lessons, c?.holder ?? w.alice, i === faultAt ? a.fault : "none");
          const released = v.lessons >= 1 && v.lessons <= state.left ? share(state.held, state.left, v.lessons) : 0n;
          used.set(cardId, { used: state.used + v.lessons, left: Math.max(0, state.left - v.lessons), held: state.held - released });
          plans.push(v);
        });
        const sender = a.fault === "caller" ? w.stranger : m?.account ?? w.schoolAcct;
        const expected = model.consume(plans, sender);
        const signed = await Promise.all(plans.map((v) => this.sign(v)));
        return this.send(`consumeBatch(${plans.map((v) => `${v.cardId}:${v.lessons}@${v.sequence}`).join(", ")}) fault ${a.fault}`, expected, () =>
          e.connect(sender).consumeBatch(signed, o));
      }
      case "releasePeriodic": {
        const cardId = this.pickCard(a.card, a.focus, (c) => c.kind === PlanKind.Periodic && c.status === CardStatus.Active);
        const expected = model.releasePeriodic([cardId], true);
        return this.send(`releasePeriodic(${cardId})`, expected, () => e.connect(w.stranger).releasePeriodic(cardId, o));
      }
      case "releasePeriodicBatch": {
        const ids = a.cards.map((r) => this.pickCard(r, true, (c) => c.kind === PlanKind.Periodic && c.status === CardStatus.Active));
        const expected = model.releasePeriodic(ids, false);
        return this.send(`releasePeriodicBatch(${ids.join(", ")})`, expected, () => e.connect(w.stranger).releasePeriodicBatch(ids, o));
      }
      case "releaseDirect": {
        const ids = a.cards.map((r) => this.pickCard(r, true, (c) => c.pendingDirect > 0n));
        const expected = model.releaseDirect(ids);
        return this.send(`releaseDirect(${ids.join(", ")})`, expected, () => e.connect(w.stranger).releaseDirect(ids, o));
      }
      case "breach": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const other = m?.industryRegulator === w.eduRegulator ? w.sportsRegulator : w.eduRegulator;
        const caller = this.caller(a.who, m?.industryRegulator ?? w.regulator, other);
        const expected = model.breach(id, a.record, caller);
        const reason = ethers.id("breach");
        return this.send(`${a.record ? "recordBreach" : "clearBreach"}(m${id}) by ${a.who}`, expected, () =>
          a.record ? e.connect(caller).recordBreach(id, reason, o) : e.connect(caller).clearBreach(id, reason, o));
      }
      case "cancelForBreach": {
        const cardId = this.pickCard(a.card, a.focus, (c) => c.merchant.breachRecordedAt !== 0 && c.held > 0n && c.status !== CardStatus.Refunded);
        const holder = model.cardById(cardId)?.holder ?? w.alice;
        const caller = a.who === "valid" ? holder : a.who === "stranger" ? w.stranger : holder === w.alice ? w.bob : w.alice;
        const expected = model.cancelForBreach(cardId, caller);
        return this.send(`cancelForBreach(${cardId}) by ${a.who}`, expected, () => e.connect(caller).cancelForBreach(cardId, o));
      }
      case "transfer": {
        const cardId = this.pickCard(a.card, a.focus, (c) => c.status === CardStatus.Active);
        const holder = model.cardById(cardId)?.holder ?? w.alice;
        const caller = a.who === "valid" ? holder : a.who === "stranger" ? w.stranger : holder === w.alice ? w.bob : w.alice;
        const to = holders[a.to];
        const expected = model.transfer(cardId, caller, to);
        return this.send(`transferCard(${cardId} to ${to.address.slice(0, 8)}) by ${a.who}`, expected, () =>
          e.connect(caller).transferCard(cardId, to.address, o));
      }
      case "keyRecovery": {
        const cardId = this.pickCard(a.card, a.focus, (c) => a.op === "start" ? c.status !== CardStatus.Refunded && !c.recovery : c.recovery !== null);
        const c = model.cardById(cardId);
        const holder = c?.holder ?? w.alice;
        if (a.op === "start") {
          const bank = c?.merchant.bankAccount ?? w.bankA;
          const caller = this.caller(a.who, bank, bank === w.bankA ? w.bankB : w.bankA);
          const to = holders[a.to] === holder ? holders[(a.to + 1) % 3] : holders[a.to];
          const expected = model.startKeyRecovery(cardId, caller, to);
          return this.send(`startKeyRecovery(${cardId} to ${to.address.slice(0, 8)}) by ${a.who}`, expected, () =>
            e.connect(caller).startKeyRecovery(cardId, to.address, o));
        }
        if (a.op === "cancel") {
          const caller = this.caller(a.who, holder, holder === w.carol ? w.bob : w.carol);
          const expected = model.cancelKeyRecovery(cardId, caller);
          return this.send(`cancelKeyRecovery(${cardId}) by ${a.who}`, expected, () => e.connect(caller).cancelKeyRecovery(cardId, o));
        }
        const expected = model.completeKeyRecovery(cardId);
        return this.send(`completeKeyRecovery(${cardId})`, expected, () => e.connect(w.stranger).completeKeyRecovery(cardId, o));
      }
      case "frozenPayable": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const other = m?.industryRegulator === w.eduRegulator ? w.sportsRegulator : w.eduRegulator;
        const caller = this.caller(a.who, m?.industryRegulator ?? w.regulator, other);
        const expected = model.decideFrozenPayable(id, a.toHolders, caller);
        return this.send(`decideFrozenPayable(m${id}, ${a.toHolders ? "holders" : "merchant"}) by ${a.who}`, expected, () =>
          e.connect(caller).decideFrozenPayable(id, a.toHolders, ethers.id("decision"), o));
      }
      case "payoutAccount": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const account = ethers.id(`account ${a.account}`);
        if (a.op === "propose") {
          const caller = this.caller(a.who, m?.account ?? w.schoolAcct, w.gymAcct);
          const expected = model.proposePayoutAccount(id, caller, account);
          return this.send(`proposePayoutAccount(m${id}, ${a.account}) by ${a.who}`, expected, () => e.connect(caller).proposePayoutAccount(id, account, o));
        }
        const other = m?.industryRegulator === w.eduRegulator ? w.sportsRegulator : w.eduRegulator;
        const caller = this.caller(a.who, m?.industryRegulator ?? w.regulator, other);
        const expected = model.confirmPayoutAccount(id, caller, account);
        return this.send(`confirmPayoutAccount(m${id}, ${a.account}) by ${a.who}`, expected, () => e.connect(caller).confirmPayoutAccount(id, account, o));
      }
      case "checkIn": {
        const cardId = this.pickCard(a.card, a.focus, (c) => c.kind === PlanKind.Periodic && c.status === CardStatus.Active);
        const holder = model.cardById(cardId)?.holder ?? w.alice;
        const signer = a.who === "valid" ? holder : holder === w.alice ? w.bob : w.alice;
        const expected = model.checkIn(cardId, signer);
        const args = await signCheckIn(signer, w.chainId, this.escrowAddress, { cardId, deadline: model.now + 3_600 });
        return this.send(`checkIn(${cardId}) signed by ${a.who}`, expected, () => e.connect(w.stranger).checkIn(...args, o));
      }
      case "payOut": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const caller = this.caller(a.who, m?.account ?? w.schoolAcct, m?.bankAccount ?? w.bankA);
        const expected = model.payOut(id, caller);
        return this.send(`payOut(m${id}) by ${a.who}`, expected, () => e.connect(caller).payOut(id, o));
      }
      case "coolingOff":
      case "requestRefund":
      case "cancelRefund":
      case "escalate": {
        const wanted = a.t === "coolingOff" || a.t === "requestRefund" ? CardStatus.Active : CardStatus.RefundRequested;
        const cardId = this.pickCard(a.card, a.focus, (c) => c.status === wanted && c.held > 0n);
        const c = model.cardById(cardId);
        const caller = this.caller(a.who, c?.holder ?? w.alice, c?.holder === w.bob ? w.carol : w.bob);
        const expected =
          a.t === "coolingOff" ? model.refundCoolingOff(cardId, caller)
          : a.t === "requestRefund" ? model.requestRefund(cardId, caller)
          : model.holderAnswer(cardId, caller, a.t === "cancelRefund" ? CardStatus.Active : CardStatus.Disputed);
        const call = {
          coolingOff: () => e.connect(caller).refundCoolingOff(cardId, o),
          requestRefund: () => e.connect(caller).requestRefund(cardId, o),
          cancelRefund: () => e.connect(caller).cancelRefundRequest(cardId, o),
          escalate: () => e.connect(caller).escalateRefund(cardId, o),
        }[a.t];
        return this.send(`${a.t}(${cardId}) by ${a.who}`, expected, call);
      }
      case "acceptRefund":
      case "rejectRefund": {
        const cardId = this.pickCard(a.card, a.focus, (c) => c.status === CardStatus.RefundRequested);
        const m = model.merchants.get(Number(cardId >> 32n))!;
        const caller = this.caller(a.who, m.account, m.account === w.gymAcct ? w.petAcct : w.gymAcct);
        const expected = model.merchantAnswer(cardId, caller, a.t === "acceptRefund");
        return this.send(`${a.t}(${cardId}) by ${a.who}`, expected, () =>
          a.t === "acceptRefund" ? e.connect(caller).acceptRefund(cardId, o) : e.connect(caller).rejectRefund(cardId, ethers.id("no"), o));
      }
      case "resolve": {
        const cardId = this.pickCard(a.card, a.focus, (c) => c.status === CardStatus.Disputed);
        const c = model.cardById(cardId);
        const m = model.merchants.get(Number(cardId >> 32n))!;
        const held = c?.held ?? 0n;
        const amount = { zero: 0n, partial: held / 3n, full: held, over: held + 1n }[a.amount];
        // "other": a regulator of another industry; "valid": the industry's regulator, or the bureau where none.
        const regulator = m.industryRegulator ?? w.regulator;
        const caller = this.caller(a.who, a.card % 2 === 0 ? regulator : w.regulator, regulator === w.eduRegulator ? w.sportsRegulator : w.eduRegulator);
        const expected = model.resolveDispute(cardId, amount, caller);
        return this.send(`resolveDispute(${cardId}, ${amount} of ${held}) by ${a.who}`, expected, () =>
          e.connect(caller).resolveDispute(cardId, amount, o));
      }
      case "status": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const regulator = m?.industryRegulator ?? w.regulator;
        const caller = this.caller(a.who, regulator, regulator === w.eduRegulator ? w.sportsRegulator : w.eduRegulator);
        const expected = model.setStatus(id, caller, a.op);
        const reason = ethers.id(a.op);
        const call = {
          freeze: () => e.connect(caller).freeze(id, reason, o),
          unfreeze: () => e.connect(caller).unfreeze(id, reason, o),
          restrict: () => e.connect(caller).restrict(id, true, reason, o),
          unrestrict: () => e.connect(caller).restrict(id, false, reason, o),
        }[a.op];
        return this.send(`${a.op}(m${id}) by ${a.who}`, expected, call);
      }
      case "exit": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const valid = a.byRegulator ? m?.industryRegulator ?? w.regulator : m?.account ?? w.schoolAcct;
        const caller = this.caller(a.who, valid, a.byRegulator ? w.schoolAcct : w.regulator);
        const expected = model.startExit(id, caller, a.byRegulator);
        return this.send(`${a.byRegulator ? "windDown" : "announceExit"}(m${id}) by ${a.who}`, expected, () =>
          a.byRegulator ? e.connect(caller).windDown(id, ethers.id("wind down"), o) : e.connect(caller).announceExit(id, o));
      }
      case "close": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const caller = this.caller(a.who, m?.account ?? w.schoolAcct, m?.industryRegulator ?? w.regulator);
        const expected = model.close(id, caller);
        return this.send(`close(m${id}) by ${a.who}`, expected, () => e.connect(caller).close(id, o));
      }
      case "claim": {
        const cardId = this.pickCard(a.card, a.focus, (c) => model.claimable(c.merchant) && c.held > 0n);
        const expected = model.claim([cardId], false);
        return this.send(`claim(${cardId})`, expected, () => e.connect(w.stranger).claim(cardId, o));
      }
      case "claimBatch": {
        const ids = a.cards.map((r) => this.pickCard(r, true, (c) => model.claimable(c.merchant) && c.held > 0n));
        const expected = model.claim(ids, true);
        return this.send(`claimBatch(${ids.join(", ")})`, expected, () => e.connect(w.stranger).claimBatch(ids, o));
      }
      case "risk": {
        const id = this.merchantId(a.m);
        const caller = this.caller(a.who, w.riskOracle, w.regulator);
        const expected = model.setRiskLevel(id, a.level, caller);
        return this.send(`setRiskLevel(m${id}, ${a.level}) by ${a.who}`, expected, () =>
          e.connect(caller).setRiskLevel(id, a.level, ethers.id("signal"), o));
      }
      case "planActive": {
        const id = this.merchantId(a.m);
        const m = model.merchants.get(id);
        const caller = this.caller(a.who, m?.account ?? w.schoolAcct, w.regulator);
        const expected = model.setPlanActive(id, a.plan, a.active, caller);
        return this.send(`setPlanActive(m${id}, plan ${a.plan}, ${a.active}) by ${a.who}`, expected, () =>
          e.connect(caller).setPlanActive(id, a.plan, a.active, o));
      }
    }
  }

  /** A voucher for the card's next lessons, spoiled as `fault` says. */
  voucherFor(cardId: bigint, unitsUsed: number, unitsLeft: number, held: bigint, lessons: number, holder: Signer, fault: Fault): VoucherPlan {
    const amount = lessons >= 1 && lessons <= unitsLeft ? share(held, unitsLeft, lessons) : held;
    const v: VoucherPlan = { cardId, lessons, amount, sequence: unitsUsed, deadline: this.model.now + 3_600, signer: holder };
    if (fault === "sequence") v.sequence = unitsUsed + 1;
    if (fault === "signer") v.signer = holder === this.w.carol ? this.w.bob : this.w.carol;
    if (fault === "deadline") v.deadline = this.model.now - 1;
    if (fault === "zero") v.lessons = 0;
    if (fault === "tooMany") v.lessons = unitsLeft + 1;
    if (fault === "amount") v.amount = amount + 1n;
    return v;
  }

  async sign(v: VoucherPlan) {
    const { cardId, lessons, amount, sequence, deadline } = v;
    return voucherArg(await signConsumption(v.signer, this.w.chainId, this.escrowAddress, { cardId, lessons, amount, sequence, deadline }));
  }

  // ----------------------------------------------------------------------------- the invariants

  async check(): Promise<void> {
    const { w, model } = this;
    const merchants = [...model.merchants.values()];
    const cards = model.cards;
    const [tokens, onChainMerchants, onChainCards] = await w.lens.snapshot(
      this.escrowAddress, this.tokenAddresses, merchants.map((m) => m.id), cards.map((c) => c.id),
    );
    // Cheap comparisons (this runs after every one of thousands of steps); the story is printed only on failure.
    const broken: string[] = [];
    const same = (label: string, actual: unknown[], expected: unknown[]) => {
      const a = actual.map(String).join(", ");
      const e = expected.map(String).join(", ");
      if (a !== e) broken.push(`${label}: got [${a}], expected [${e}]`);
    };
    const holds = (label: string, ok: boolean) => {
      if (!ok) broken.push(label);
    };

    // Per merchant: the ledger adds up, matches the model, and equals the sum over its cards.
    const owed = [0n, 0n];
    merchants.forEach((m, i) => {
      const { merchant: chain, held, payable_, holderPool, payoutAccount } = onChainMerchants[i];
      const label = `merchant ${m.id}`;
      holds(`${label}: paidIn ${chain.paidIn} = released ${chain.released} + refunded ${chain.refunded} + held ${held}`,
        chain.paidIn === chain.released + chain.refunded + held);
      holds(`${label}: released ${chain.released} = paidOut ${chain.paidOut} + payable ${payable_}`, chain.released === chain.paidOut + payable_);
      same(`${label}: paidIn, released, refunded, paidOut, status, risk, cardCount, exitEffectiveAt, windowDay, windowSales, breachRecordedAt`,
        [chain.paidIn, chain.released, chain.refunded, chain.paidOut, chain.status, chain.risk, chain.cardCount, chain.exitEffectiveAt, chain.windowDay, chain.windowSales, chain.breachRecordedAt],
        [m.paidIn, m.released, m.refunded, m.paidOut, m.status, m.risk, m.cardCount, m.exitEffectiveAt, m.windowDay, m.windowSales, m.breachRecordedAt]);
      const cardsHeld = onChainCards.reduce((sum, c, j) => (cards[j].merchant === m ? sum + c.card.held + c.card.pendingDirect : sum), 0n);
      holds(`${label}: held ${held} = sum of its cards' held and direct shares in cooling-off ${cardsHeld} + holders' pool ${holderPool}`,
        cardsHeld + holderPool === held);
      same(`${label}: holders' pool, payout account, proposed`, [holderPool, payoutAccount.confirmed, payoutAccount.proposed],
        [m.pool, m.payoutAccount, m.proposedAccount]);
      same(`${label}: held, payable`, [held, payable_], [model.held(m), model.payable(m)]);
      owed[m.bankIndex] += held + payable_;
    });

    // Per bank token: escrow balance = sum of held + payable of the bank's merchants = total supply.
    tokens.forEach((t, i) => {
      holds(`bank ${i + 1}: escrow balance ${t.escrowBalance} = sum over its merchants of held + payable ${owed[i]}`, t.escrowBalance === owed[i]);
      holds(`bank ${i + 1}: total supply ${t.totalSupply} = escrow balance ${t.escrowBalance}`, t.totalSupply === t.escrowBalance);
    });

    // Per card: the model's fields, and the events never release or refund more than the card took in.
    cards.forEach((m, j) => {
      const { card: chain, status } = onChainCards[j];
      const label = `card ${m.id}`;
      same(`${label}: holder, held, unitsLeft, unitsUsed, expiryDay, status, kind, paidIn, direct, startedAt, cardStatus`,
        [chain.holder, chain.held, chain.unitsLeft, chain.unitsUsed, chain.expiryDay, chain.status, chain.kind, chain.paidIn, chain.direct, chain.startedAt, status],
        [m.holder.address, m.held, m.unitsLeft, m.unitsUsed, m.expiryDay, m.status, m.kind, m.paidIn, m.direct, m.startedAt, model.cardStatus(m)]);
      same(`${label}: coolingOffEndDay, coolingOffUnits, pendingDirect`,
        [chain.coolingOffEndDay, chain.coolingOffUnits, chain.pendingDirect],
        [m.coolingOffEndDay, m.coolingOffUnits, m.pendingDirect]);
      const { recovery } = onChainCards[j];
      same(`${label}: key recovery to, effectiveAt`, [recovery.newHolder, recovery.effectiveAt],
        m.recovery ? [m.recovery.to.address, m.recovery.effectiveAt] : [ethers.ZeroAddress, 0]);
      const f = this.flows.get(m.id) ?? { paidIn: 0n, released: 0n, refunded: 0n };
      holds(`${label}: paid in per events ${f.paidIn} = card.paidIn ${chain.paidIn}`, f.paidIn === chain.paidIn);
      holds(`${label}: released ${f.released} + refunded ${f.refunded} <= paidIn ${chain.paidIn}`, f.released + f.refunded <= chain.paidIn);
      holds(`${label}: released ${f.released} + refunded ${f.refunded} + held ${chain.held} = paidIn ${chain.paidIn}`,
        f.released + f.refunded + chain.held === chain.paidIn);
    });

    if (broken.length > 0) throw new Error(`invariants broken:\n  ${broken.join("\n  ")}\nafter:\n  ${this.log.join("\n  ")}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe("PrepaidEscrow: invariants over random operation sequences", function () {
  this.timeout(900_000);

  it(`hold after every step of ${RUNS} random sequences of 10-25 actions, valid and invalid`, async () => {
    let sequences = 0;
    let steps = 0;
    const outcomes = { success: 0, revert: 0, frozenDecisions: 0, poolShares: 0, recoveries: 0 };
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (actions) => {
        const w = await loadFixture(invariantFixture);
        const runner = new Runner(w);
        await runner.start();
        await runner.check();
        for (const a of actions) {
          await runner.step(a);
          await runner.check();
        }
        sequences += 1;
        steps += actions.length;
        for (const line of runner.log) {
          if (line.endsWith("success")) outcomes.success += 1;
          else if (line.includes(": revert")) outcomes.revert += 1;
          if (line.includes("revert Custody_ReleaseWhileFrozen")) outcomes.frozenDecisions += 1;
          if (line.startsWith("decideFrozenPayable") && line.includes("holders) by valid") && line.endsWith("success")) outcomes.poolShares += 1;
          if (line.startsWith("completeKeyRecovery") && line.endsWith("success")) outcomes.recoveries += 1;
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: process.env.INVARIANT_SHRINK === "0" },
    );
    console.log(`      ${sequences} sequences, ${steps} steps: ${outcomes.success} transactions succeeded, ${outcomes.revert} reverted as expected (${outcomes.frozenDecisions} of them dispute decisions releasing money to a frozen merchant)`);
    expect(sequences).to.equal(RUNS);
    expect(outcomes.success, "enough valid actions to exercise the escrow").to.be.greaterThan(steps / 4);
    console.log(`      ${outcomes.poolShares} frozen payables decided to the holders, ${outcomes.recoveries} key recoveries completed`);
    expect(outcomes.poolShares + outcomes.recoveries, "the 2025 remedies are exercised").to.be.greaterThan(0);
  });
});
