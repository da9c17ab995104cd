/**
 * The synthetic city of the risk benchmark (bench/risk.ts): merchants, cards and their chain activity, and the
 * complaints, 12345 tickets, registry facts and litigation around them, over 18 months, from a seed.
 *
 * What it models, and how it tries not to leak the label:
 *
 * - ~2,000+ merchants in the district's 7 industries (education, youth sports, fitness, beauty, car wash,
 *   retail, pet care) with the industries' custody ratios, plan kinds (lesson cards; fitness: periodic
 *   memberships), prices under the 5,000 CNY named-card cap, and seasonality: education sells most before terms
 *   and consumes less over the Spring Festival, fitness sells in January, car washes in spring, retail before
 *   festivals. Sizes are log-normal (a few cards a month to over a hundred). 70% were admitted 3 to 12 months
 *   before the period starts (the city has a history: cards in use, baselines to compare with), the rest are
 *   admitted during its first 14 months.
 * - Cards are bought (CardPurchased), consumed in monthly batches of lessons (LessonsConsumed) or released per
 *   period (PeriodsReleased), renewed when used up (CardRenewed), sometimes refunded in the cooling-off week,
 *   or after a refund request (RefundRequested → CardRefunded), some via a dispute (DisputeOpened →
 *   DisputeResolved → CardRefunded). Each merchant pays released money out on its own cadence (PaidOut).
 *
 * Healthy merchants are noisy: a monthly random walk in sales; promotions that double or triple sales for a few
 *   weeks (30%); complaint-prone but solvent merchants (10%); struggling merchants whose sales shrink, with more
 *   complaints and litigation (8%), some of which exit in an orderly way, with deregistration under way (which the
 *   Beijing hard rule rates high though they never collapse); healthy merchants put on the abnormal-operation list
 *   for a while (a missed annual report), a few listed as dishonest debtors; licence changes and ordinary
 *   litigation at a base rate.
 *
 * About 6% collapse in the period (industry rates differ: education and fitness most), at a day drawn over the
 *   18 months and the 3 months after them (so the end of the period has merchants on their way down too). Before
 *   a collapse, over a lead time of 60-180 days, each collapsing merchant shows its own random mix of behaviours,
 *   each with a probability (0.25-0.75) and a random strength, building up over the first half or more of the
 *   lead and then staying: a cash grab (more sales and renewals); service falling off (fewer lessons confirmed)
 *   or instead pressing customers to confirm lessons early and paying out at once (drain); refund requests and
 *   disputes piling up; more complaints and tickets, more of them about refunds; litigation by staff and
 *   landlords; abnormal-operation (30%) or dishonest-debtor (10%) listings; licence changes. 15% are "sudden"
 *   collapses: a lead of 20-60 days and weak signals, which a warning 30 days ahead can rarely catch. No signal
 *   is exclusive to collapsing merchants: every behaviour also occurs among healthy ones (promotions,
 *   complaint-prone shops, strugglers, listings, litigation), and counts are small (a median merchant sells 5
 *   cards a month), so Poisson noise blurs them. The collapse day and the merchant's fate are never written
 *   anywhere the model reads before the collapse; after it the merchant is frozen and its cards refunded.
 *
 * History of this generator, for honesty: its first version started every merchant with no cards on day 0
 *   (consumption then grew for a year everywhere, a bias), and its collapse signals built up linearly to the
 *   collapse day, so little showed 30-90 days before; after the first seed-A runs it got the pre-period history,
 *   signals that build up over part of the lead, 15% instead of 20% sudden collapses and somewhat stronger
 *   pre-collapse behaviour. Seed B was not run until the model was tuned.
 *
 * Rows are written the way the projector writes them (ledger rows with the events' args, merchants, cards,
 * refunds, payouts, disputes), plus risk_signals rows as the importer stores them.
 */
import { Db } from "../src/store/db";
import { rng, Rng } from "../src/rng";

export const DAY = 86_400;
export const T0 = Date.UTC(2024, 0, 1) / 1000;
export const DAYS = 548; // the 18 months of the period
/** Days of history before the period: merchants on the platform at its start have 3 to 12 months of it. */
export const HISTORY = 360;
/** Simulation days run from 0 (HISTORY days before T0) to SIM_DAYS (the period's end). */
export const SIM_DAYS = HISTORY + DAYS;
const ORIGIN = T0 - HISTORY * DAY;
/** The unix time of a simulation day. */
export const timeOf = (day: number) => ORIGIN + day * DAY;
const TAIL = 92; // collapses are also drawn in the 3 months after the period, so its end has merchants on their way down

// ---------------------------------------------------------------- randomness

export { rng };

// ---------------------------------------------------------------- industries

interface IndustrySim {
  id: number;
  share: number;
  collapseRate: number;
  custodyBps: number;
  periodic: boolean;
  units: number[];
  /** Price of one lesson (or one month of a membership), CNY. */
  unitPrice: [number, number];
  validityDays: number;
  /** Days a lesson card takes to use up. */
  useDays: [number, number];
  salesSeason: number[]; // by calendar month
  consumptionSeason: number[];
}

const FLAT = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
const INDUSTRIES: IndustrySim[] = [
  { id: 1, share: 0.24, collapseRate: 0.095, custodyBps: 10_000, periodic: false, units: [20, 30, 40, 48], unitPrice: [70, 100], validityDays: 92, useDays: [60, 90],
    salesSeason: [0.8, 1.3, 1.2, 0.9, 0.9, 1.0, 1.4, 1.3, 1.3, 0.9, 0.8, 0.7], consumptionSeason: [1, 0.55, 1, 1, 1, 1, 1.15, 1.1, 1, 1, 1, 1] },
  { id: 2, share: 0.08, collapseRate: 0.08, custodyBps: 10_000, periodic: false, units: [16, 24, 32], unitPrice: [80, 140], validityDays: 92, useDays: [60, 90],
    salesSeason: [0.8, 1.1, 1.3, 1.2, 1.1, 1.1, 1.3, 1.1, 1.1, 0.9, 0.7, 0.6], consumptionSeason: [0.9, 0.6, 1, 1, 1, 1, 1.1, 1.1, 1, 1, 1, 0.9] },
  { id: 3, share: 0.18, collapseRate: 0.09, custodyBps: 4_000, periodic: true, units: [3, 6, 12], unitPrice: [250, 400], validityDays: 0, useDays: [0, 0],
    salesSeason: [1.5, 1.0, 1.2, 1.2, 1.1, 1.0, 0.9, 0.9, 1.0, 0.9, 0.8, 0.7], consumptionSeason: FLAT },
  { id: 4, share: 0.2, collapseRate: 0.06, custodyBps: 3_000, periodic: false, units: [5, 10, 20], unitPrice: [150, 240], validityDays: 365, useDays: [120, 300],
    salesSeason: [1.1, 0.9, 1.1, 1.0, 1.1, 0.9, 0.9, 0.9, 1.0, 1.0, 1.1, 1.2], consumptionSeason: FLAT },
  { id: 5, share: 0.1, collapseRate: 0.03, custodyBps: 2_000, periodic: false, units: [10, 20, 30], unitPrice: [30, 60], validityDays: 365, useDays: [90, 300],
    salesSeason: [0.7, 0.7, 1.3, 1.3, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.8], consumptionSeason: [0.8, 0.8, 1.1, 1.1, 1.1, 1, 1, 1, 1, 1, 1, 0.9] },
  { id: 6, share: 0.1, collapseRate: 0.03, custodyBps: 2_000, periodic: false, units: [50, 100], unitPrice: [10, 20], validityDays: 365, useDays: [60, 200],
    salesSeason: [1.4, 1.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.3, 1.2, 0.9, 1.4], consumptionSeason: FLAT },
  { id: 7, share: 0.1, collapseRate: 0.05, custodyBps: 4_000, periodic: false, units: [5, 10], unitPrice: [80, 200], validityDays: 365, useDays: [90, 300],
    salesSeason: [1.0, 0.9, 1.0, 1.0, 1.1, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], consumptionSeason: FLAT },
];
const MAX_CARD_FEN = 500_000;

// ---------------------------------------------------------------- merchants' fates

export interface MerchantTruth {
  merchantId: number;
  industryId: number;
  admittedDay: number;
  /** Day of collapse (may be after the period), or null. */
  collapseDay: number | null;
  /** Day an orderly exit took effect, or null. */
  exitDay: number | null;
  /** Pre-collapse behaviours, for the bench's breakdown only (never written to the database). */
  traits: string[];
}

interface Plan {
  /** Per day: multipliers and rates the merchant's behaviour sets. */
  sales: Float64Array;
  consumption: Float64Array;
  refundHazard: Float64Array; // per active card per day
  complaintRate: Float64Array; // per active card per day
  refundRelated: Float64Array; // share of complaints about refunds
  renew: Float64Array;
  payoutEvery: Int32Array; // days between payouts
}

interface Merchant extends MerchantTruth {
  baseSalesPerDay: number;
  priceLevel: number;
  plan: Plan;
  bankId: number;
}

const calMonth = (day: number) => new Date((ORIGIN + day * DAY) * 1000).getUTCMonth();

function planMerchant(r: Rng, m: Merchant, ind: IndustrySim) {
  const n = SIM_DAYS;
  const p: Plan = {
    sales: new Float64Array(n), consumption: new Float64Array(n), refundHazard: new Float64Array(n), complaintRate: new Float64Array(n),
    refundRelated: new Float64Array(n), renew: new Float64Array(n), payoutEvery: new Int32Array(n),
  };
  // healthy baseline with noise
  const complaintBase = r.logNormal(8, 0.6) / 1000 / 30; // per active card per day: ~8 per 1,000 cards a month
  const refundBase = r.logNormal(6, 0.5) / 1000 / 30;
  const cadence = r.pick([7, 14, 14, 30, 30]);
  const renewBase = r.u(0.15, 0.4);
  let walk = 1;
  const complaintProne = r.chance(0.1) ? r.u(2.5, 6) : 1;
  if (complaintProne > 1) m.traits.push("healthy:complaint-prone");
  // promotions
  const promos: [number, number, number][] = [];
  if (r.chance(0.3)) {
    const k = r.chance(0.4) ? 2 : 1;
    for (let i = 0; i < k; i++) {
      const start = r.int(m.admittedDay + 30, n - 30);
      promos.push([start, start + r.int(14, 40), r.u(1.6, 3.2)]);
    }
    m.traits.push("healthy:promotion");
  }
  // strugglers: shrinking sales, more complaints and refunds
  let struggleFrom = Infinity;
  let struggleDepth = 0;
  if (m.collapseDay === null && r.chance(0.08)) {
    struggleFrom = r.int(Math.max(m.admittedDay + 60, HISTORY - 120), n - 60);
    struggleDepth = r.u(0.3, 0.7);
    m.traits.push("healthy:struggling");
  }

  // collapse behaviours
  const C = m.collapseDay;
  let lead = 0, sudden = false, rampExp = 1, rampDays = 1;
  const b = { grab: 0, degrade: 0, drain: 0, refunds: 0, complaints: 0 };
  if (C !== null) {
    sudden = r.chance(0.15);
    lead = sudden ? r.int(20, 60) : r.int(60, 180);
    // trouble builds up over part of the lead, then stays (a merchant does not recover on its way down)
    rampDays = lead * r.u(0.5, 1);
    rampExp = r.u(0.7, 1.6);
    const strength = sudden ? r.u(0.05, 0.35) : r.u(0.6, 1.3);
    if (r.chance(0.6)) b.grab = r.u(1, 3) * strength;
    if (r.chance(0.25)) b.drain = r.u(0.6, 1.5) * strength;
    else if (r.chance(0.6)) b.degrade = r.u(0.3, 0.8) * Math.min(strength, 1);
    if (r.chance(0.7)) b.refunds = r.u(3, 10) * strength;
    if (r.chance(0.75)) b.complaints = r.u(3, 12) * strength;
    for (const [k, v] of Object.entries(b)) if (v > 0) m.traits.push(`collapse:${k}`);
    if (sudden) m.traits.push("collapse:sudden");
  }

  for (let d = 0; d < n; d++) {
    if (d % 30 === 0) walk = Math.min(2.5, Math.max(0.4, walk * Math.exp(0.12 * r.normal())));
    const mon = calMonth(d);
    let sales = walk * ind.salesSeason[mon];
    let cons = ind.consumptionSeason[mon];
    let refund = refundBase;
    let complaint = complaintBase * complaintProne;
    let related = 0.3;
    let renew = renewBase;
    let every = cadence;
    for (const [s, e, f] of promos) if (d >= s && d < e) sales *= f;
    if (d >= struggleFrom) {
      const x = Math.min(1, (d - struggleFrom) / 120);
      sales *= 1 - struggleDepth * x;
      complaint *= 1 + 1.5 * x;
      refund *= 1 + 1 * x;
    }
    if (C !== null && d >= C - lead) {
      const s = Math.min(1, (d - (C - lead)) / rampDays) ** rampExp;
      sales *= 1 + b.grab * s;
      renew = Math.min(0.9, renew * (1 + b.grab * s));
      cons *= Math.max(0.15, 1 - b.degrade * s) * (1 + b.drain * s);
      if (b.drain > 0 && s > 0.2) every = 3;
      refund *= 1 + b.refunds * s;
      complaint *= 1 + b.complaints * s;
      related = Math.min(0.85, related + 0.5 * s * Math.min(1, b.complaints + b.refunds));
    }
    p.sales[d] = sales;
    p.consumption[d] = cons;
    p.refundHazard[d] = refund;
    p.complaintRate[d] = complaint;
    p.refundRelated[d] = related;
    p.renew[d] = renew;
    p.payoutEvery[d] = every;
  }
  m.plan = p;
  return { lead, sudden };
}

// ---------------------------------------------------------------- the city

type Rows = Record<string, unknown>[];
const TABLES = ["merchants", "cards", "ledger", "refunds", "payouts", "disputes", "risk_signals"] as const;
export type CityTable = (typeof TABLES)[number];

export interface City {
  truth: MerchantTruth[];
  /** Rows written per table. */
  counts: Record<CityTable, number>;
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");

/**
 * Generates the city merchant by merchant and hands the rows to `sink` in batches of about `batch` rows, so a
 * city of millions of rows never sits in memory at once. Returns the merchants' fates.
 */
export async function generateCity(
  seed: number,
  merchantCount: number,
  sink: (table: CityTable, rows: Rows) => Promise<void>,
  opts: { batch?: number; log?: (s: string) => void } = {},
): Promise<City> {
  const r = rng(seed);
  const log = opts.log ?? (() => undefined);
  const batch = opts.batch ?? 20_000;
  const rows: { [t in CityTable]: Rows } = { merchants: [], cards: [], ledger: [], refunds: [], payouts: [], disputes: [], risk_signals: [] };
  const counts = Object.fromEntries(TABLES.map((t) => [t, 0])) as Record<CityTable, number>;
  const flush = async (all: boolean) => {
    for (const table of TABLES) {
      if (rows[table].length && (all || rows[table].length >= batch)) {
        counts[table] += rows[table].length;
        await sink(table, rows[table]);
        rows[table] = [];
      }
    }
  };
  const truth: MerchantTruth[] = [];
  let txCounter = 0;
  let signalCounter = 0;
  const ESCROW = "0x" + "e5".repeat(20);
  const BANK_ACCOUNT = (bankId: number) => "0x" + hex(0xba00 + bankId, 40);
  const t = (day: number, frac = r.next()) => Math.floor(ORIGIN + (day + frac) * DAY);
  const ledger = (time: number, event: string, merchantId: number, cardId: string | null, holder: string | null, amount: number | null, args: Record<string, unknown>) => {
    const n = ++txCounter;
    rows.ledger.push({
      block_number: time - ORIGIN + 1, block_hash: "0x" + hex(time, 64), block_time: time, tx_hash: "0x" + hex(n, 64), tx_index: 0, log_index: 0,
      contract: ESCROW, event, merchant_id: merchantId, card_id: cardId, holder, amount, args,
    });
    return n;
  };
  const signal = (merchantId: number, kind: string, source: string, time: number, fields: Record<string, unknown>) => {
    rows.risk_signals.push({ record_id: `${source}-${seed}-${++signalCounter}`, kind, source, merchant_id: merchantId, occurred_at: time, fields });
  };

  const cumulative: number[] = [];
  INDUSTRIES.reduce((acc, i) => (cumulative.push(acc + i.share), acc + i.share), 0);
  const merchants: Merchant[] = [];
  for (let k = 0; k < merchantCount; k++) {
    const x = r.next() * cumulative[cumulative.length - 1];
    const ind = INDUSTRIES[cumulative.findIndex((c) => x < c)];
    // on the platform 3 to 12 months before the period starts, or admitted during its first 14 months
    const admittedDay = r.chance(0.7) ? r.int(0, HISTORY - 90) : HISTORY + r.int(1, 420);
    let collapseDay: number | null = null;
    // the collapse rate is for the 18 months; the tail adds its share
    if (r.chance((ind.collapseRate * (DAYS + TAIL)) / DAYS)) {
      const lo = Math.max(admittedDay + 75, HISTORY + 30);
      if (lo < SIM_DAYS + TAIL) collapseDay = r.int(lo, SIM_DAYS + TAIL - 1);
    }
    const m: Merchant = {
      merchantId: k + 1, industryId: ind.id, admittedDay, collapseDay, exitDay: null, traits: [],
      baseSalesPerDay: Math.min(120, Math.max(1.5, r.logNormal(5, 0.8))) / 30, priceLevel: r.logNormal(1, 0.15), plan: undefined as unknown as Plan,
      bankId: r.int(1, 5),
    };
    const { lead } = planMerchant(r, m, ind);
    if (m.traits.includes("healthy:struggling") && r.chance(0.35)) m.exitDay = r.int(Math.max(HISTORY + 30, m.admittedDay + 200), SIM_DAYS + 60);
    merchants.push(m);
    truth.push({ merchantId: m.merchantId, industryId: m.industryId, admittedDay, collapseDay, exitDay: m.exitDay, traits: m.traits });
    simulateMerchant(m, ind, lead);
    await flush(false);
    if ((k + 1) % 500 === 0) log(`generated ${k + 1} merchants, ${counts.ledger + rows.ledger.length} ledger rows, ${counts.risk_signals + rows.risk_signals.length} risk signals`);
  }
  await flush(true);
  return { truth, counts };

  function simulateMerchant(m: Merchant, ind: IndustrySim, lead: number) {
    const id = m.merchantId;
    const end = Math.min(SIM_DAYS, m.collapseDay ?? SIM_DAYS, m.exitDay ?? SIM_DAYS); // no new activity from here
    const stopSales = m.exitDay !== null ? m.exitDay - 30 : end; // an exiting merchant stops selling at its notice
    const account = "0x" + hex(0xa000000 + id, 40);
    const admittedAt = t(m.admittedDay, 0.3);
    ledger(admittedAt, "MerchantAdmitted", id, null, null, null, { merchantId: id, account, industryId: ind.id, bankId: m.bankId, registryRef: "0x" + hex(id, 64) });
    const totals = { paid_in: 0, direct: 0, released: 0, refunded: 0, paid_out: 0, card_count: 0 };
    const releases: { day: number; amount: number }[] = [];
    const active = new Int32Array(SIM_DAYS + 1); // active cards per day, for complaint rates
    let cardSeq = 0;

    for (let d = m.admittedDay; d < stopSales; d++) {
      const n = r.poisson(m.baseSalesPerDay * m.plan.sales[d]);
      for (let i = 0; i < n; i++) sellCard(d);
    }

    function sellCard(day: number) {
      const seq = ++cardSeq;
      const cardId = (BigInt(id) << 32n) | BigInt(seq);
      const cid = cardId.toString();
      const holder = "0x" + hex(id, 8) + hex(seq, 32);
      const units = r.pick(ind.units);
      const unitPrice = Math.round(r.u(ind.unitPrice[0], ind.unitPrice[1]) * m.priceLevel * 100);
      const price = Math.min(MAX_CARD_FEN, units * unitPrice);
      const custodied = Math.floor((price * ind.custodyBps) / 10_000);
      const direct = price - custodied;
      const start = t(day);
      const validity = ind.periodic ? units * 30 : ind.validityDays;
      let expires = start + validity * DAY;
      const kind = ind.periodic ? 2 : 1;
      ledger(start, "CardPurchased", id, cid, holder, custodied, {
        cardId: cid, merchantId: id, holder, planIndex: ind.periodic ? units : 0, kind, units, price, custodied, direct,
        startedAt: start, expiresAt: expires, named: true,
      });
      totals.paid_in += custodied; totals.direct += direct; totals.card_count += 1;
      const card = { held: custodied, unitsLeft: units, used: 0, paidIn: custodied, direct, released: 0, refunded: 0, status: "active", lastTime: start };
      let unitValue = custodied / units;
      const release = (time: number, lessons: number, event: "LessonsConsumed" | "PeriodsReleased") => {
        const amount = lessons >= card.unitsLeft ? card.held : Math.min(card.held, Math.floor(unitValue * lessons));
        if (lessons <= 0 || amount <= 0) return;
        ledger(time, event, id, cid, holder, amount, event === "LessonsConsumed"
          ? { cardId: cid, lessons, amount, sequence: card.used }
          : { cardId: cid, periods: lessons, amount });
        card.held -= amount; card.unitsLeft -= lessons; card.used += lessons; card.released += amount; card.lastTime = time;
        totals.released += amount;
        releases.push({ day: Math.floor((time - ORIGIN) / DAY), amount });
      };
      const refund = (time: number, reason: number, reasonName: string) => {
        const amount = card.held;
        ledger(time, "CardRefunded", id, cid, holder, amount, { cardId: cid, merchantId: id, holder, amount, reason });
        rows.refunds.push({ tx_hash: "0x" + hex(txCounter, 64), log_index: 0, card_id: cid, merchant_id: id, bank_id: m.bankId, holder, amount, reason: reasonName, block_number: time - ORIGIN + 1, block_time: time });
        card.refunded += amount; card.held = 0; card.unitsLeft = 0; card.status = "refunded"; card.lastTime = time;
        totals.refunded += amount;
      };

      let day2 = day;
      let renewals = 0;
      let done = false;
      // cooling-off: a few cards come back in the first week
      if (r.chance(0.015)) {
        refund(t(Math.min(day + r.int(1, 6), SIM_DAYS - 1)), 0, "cooling_off");
        done = true;
      }
      const useDays = ind.periodic ? 30 * units : r.u(ind.useDays[0], ind.useDays[1]);
      // lessons are confirmed in batches: monthly for term courses and memberships, every 45 days for long cards
      const step = ind.periodic || ind.validityDays <= 92 ? 30 : 45;
      while (!done) {
        const next = day2 + step;
        const nextDay = Math.min(next, SIM_DAYS);
        // a refund request in this month?
        if (day2 >= end) break;
        let hazard = 0;
        for (let d = day2; d < nextDay && d < end; d++) hazard += m.plan.refundHazard[d];
        if (r.chance(1 - Math.exp(-hazard))) {
          const rd = Math.min(r.int(day2, next - 1), end - 1);
          const reqTime = t(rd);
          ledger(reqTime, "RefundRequested", id, cid, holder, null, { cardId: cid, holder, amount: card.held });
          card.status = "refund_requested";
          if (r.chance(0.8)) {
            const fd = rd + r.int(2, 10);
            if (fd < end) refund(t(fd), 1, "accepted");
          } else {
            const od = rd + r.int(5, 12);
            if (od < end) {
              const openTime = t(od);
              ledger(openTime, "DisputeOpened", id, cid, holder, null, { cardId: cid, merchantId: id, by: holder, reason: "0x" + hex(1, 64) });
              const dispute = { card_id: cid, merchant_id: id, industry_id: ind.id, status: "open", opened_by: holder, reason: "0x" + hex(1, 64), amount: card.held, opened_at: openTime,
                refunded: null as number | null, released: null as number | null, resolved_by: null as string | null, resolved_at: null as number | null };
              const rsd = od + r.int(7, 20);
              if (rsd < end) {
                const resTime = t(rsd);
                const regulator = "0x" + hex(0xc000 + ind.id, 40);
                ledger(resTime, "DisputeResolved", id, cid, holder, 0, { cardId: cid, refunded: card.held, released: 0, by: regulator });
                Object.assign(dispute, { status: "refunded", refunded: card.held, released: 0, resolved_by: regulator, resolved_at: resTime });
                refund(resTime + 1, 2, "dispute");
              }
              rows.disputes.push(dispute);
            }
          }
          break;
        }
        if (next >= end) { day2 = next; break; }
        // this month's consumption
        const cd = next;
        if (ind.periodic) {
          release(t(cd), 1, "PeriodsReleased");
        } else {
          const pace = (card.unitsLeft > 0 ? (units * step) / useDays : 0) * m.plan.consumption[cd];
          const lessons = Math.min(card.unitsLeft, r.poisson(pace));
          if (lessons > 0) release(t(cd), lessons, "LessonsConsumed");
        }
        day2 = next;
        if (card.unitsLeft === 0) {
          // used up: renewed, or done
          if (renewals < 2 && t(cd) < expires && r.chance(m.plan.renew[cd]) && cd < stopSales) {
            renewals++;
            const addUnits = units;
            const addCustodied = custodied;
            expires = Math.max(expires, t(cd)) + validity * DAY;
            const rt = t(cd) + 3600;
            ledger(rt, "CardRenewed", id, cid, holder, addCustodied, {
              cardId: cid, merchantId: id, holder, planIndex: ind.periodic ? units : 0, units: addUnits, price, custodied: addCustodied, direct, expiresAt: expires,
            });
            card.held += addCustodied; card.unitsLeft += addUnits; card.paidIn += addCustodied; card.direct += direct;
            totals.paid_in += addCustodied; totals.direct += direct;
            unitValue = card.held / card.unitsLeft;
          } else {
            card.status = "consumed";
            done = true;
          }
        } else if (t(cd) >= expires) {
          // expired with lessons left: the balance goes back to the holder
          refund(t(cd), 4, "expired");
          done = true;
        }
      }
      // after a collapse (or an orderly exit) the escrowed balance goes back
      if (card.held > 0 && card.status !== "refunded") {
        if (m.collapseDay !== null && m.collapseDay < SIM_DAYS) refund(t(Math.min(SIM_DAYS - 1, m.collapseDay + r.int(0, 20))), 5, "frozen");
        else if (m.exitDay !== null && m.exitDay < SIM_DAYS) refund(t(Math.min(SIM_DAYS - 1, m.exitDay)), 6, "exit");
      }
      const lastDay = card.status === "refunded" || card.status === "consumed" ? Math.floor((card.lastTime - ORIGIN) / DAY) : Math.floor((expires - ORIGIN) / DAY);
      for (let d = day; d < Math.min(lastDay, SIM_DAYS); d++) active[d]++;
      rows.cards.push({
        card_id: cid, merchant_id: id, holder, plan_index: ind.periodic ? units : 0, kind: ind.periodic ? "periodic" : "lesson", status: card.status, named: true,
        held: card.held, units_left: card.unitsLeft, units_used: card.used, paid_in: card.paidIn, direct: card.direct, released: card.released,
        refunded: card.refunded, started_at: start, expires_at: expires, updated_block: card.lastTime - ORIGIN + 1,
      });
    }

    // payouts on the merchant's cadence, of what was released since the last one
    releases.sort((a, b) => a.day - b.day);
    let owed = 0;
    let k = 0;
    let nextPayout = m.admittedDay + m.plan.payoutEvery[m.admittedDay];
    for (let d = m.admittedDay; d < end; d++) {
      while (k < releases.length && releases[k].day <= d) owed += releases[k++].amount;
      if (d >= nextPayout) {
        if (owed > 0) {
          const time = t(d);
          ledger(time, "PaidOut", id, null, null, owed, { merchantId: id, bankId: m.bankId, amount: owed, by: BANK_ACCOUNT(m.bankId) });
          rows.payouts.push({ tx_hash: "0x" + hex(txCounter, 64), log_index: 0, merchant_id: id, bank_id: m.bankId, amount: owed, requested_by: BANK_ACCOUNT(m.bankId), block_number: time - ORIGIN + 1, block_time: time });
          totals.paid_out += owed;
          owed = 0;
        }
        nextPayout = d + m.plan.payoutEvery[d];
      }
    }

    let status = "active";
    let exitEffective: number | null = null;
    if (m.collapseDay !== null && m.collapseDay < SIM_DAYS) {
      status = "frozen";
      ledger(t(m.collapseDay, 0.5), "MerchantStatusChanged", id, null, null, null, { merchantId: id, from: 1, to: 3, by: "0x" + hex(0xc000, 40), reason: "0x" + hex(2, 64) });
    } else if (m.exitDay !== null && m.exitDay - 30 < SIM_DAYS) {
      exitEffective = t(m.exitDay, 0);
      ledger(t(m.exitDay - 30, 0.5), "ExitAnnounced", id, null, null, null, { merchantId: id, effectiveAt: exitEffective, by: account });
      status = m.exitDay < SIM_DAYS ? "exited" : "winding_down";
    }
    rows.merchants.push({
      merchant_id: id, account, industry_id: ind.id, bank_id: m.bankId, registry_ref: "0x" + hex(id, 64), status, risk_level: "low",
      exit_effective_at: exitEffective, ...totals, admitted_at: admittedAt, updated_block: SIM_DAYS * DAY,
    });

    externalSignalsOf(m, active, lead);
  }

  function externalSignalsOf(m: Merchant, active: Int32Array, lead: number) {
    const id = m.merchantId;
    const C = m.collapseDay;
    const end = Math.min(SIM_DAYS, C ?? SIM_DAYS);
    const complaintSources = ["dianping", "12315", "weibo", "heimao"];
    const categories = ["service_quality", "price", "contract", "closure_rumour", "staff", "other"];
    for (let d = m.admittedDay; d < end; d++) {
      const cards = Math.max(active[d], 5); // walk-in customers complain too
      const n = r.poisson(cards * m.plan.complaintRate[d]);
      for (let i = 0; i < n; i++) {
        const refundRelated = r.chance(m.plan.refundRelated[d]);
        const time = t(d);
        const category = refundRelated ? "refund" : r.pick(categories);
        signal(id, "complaint", r.pick(complaintSources), time, { category, refund_related: refundRelated });
        // a share of complainants also call 12345
        if (r.chance(0.35)) signal(id, "hotline_ticket", "12345", time + r.int(600, 3 * DAY), { category, refund_related: refundRelated });
      }
      if (r.chance(cards * m.plan.complaintRate[d] * 0.15)) {
        signal(id, "hotline_ticket", "12345", t(d), { category: r.pick(categories), refund_related: r.chance(0.3) });
      }
    }
    // litigation: ordinary cases at a base rate, more of them on the way down or when struggling
    const struggling = m.traits.includes("healthy:struggling");
    const yearly = (rate: number) => rate / 365;
    for (let d = m.admittedDay; d < end; d++) {
      if (r.chance(yearly(struggling ? 0.8 : 0.25))) {
        signal(id, "litigation", "court", t(d), { role: "defendant", amount_fen: String(r.int(5_000, 300_000) * 100), case_type: r.pick(["contract", "contract", "consumer", "lease", "labour"]) });
      }
      if (r.chance(yearly(0.2))) signal(id, "litigation", "court", t(d), { role: "plaintiff", amount_fen: String(r.int(1_000, 100_000) * 100), case_type: "contract" });
      if (r.chance(yearly(0.08))) signal(id, "registry_fact", "gsxt", t(d), { fact: "licence_change", action: "listed", detail: r.pick(["legal representative", "address", "business scope"]) });
    }
    // registry listings of healthy merchants: a missed annual report, an unreachable address, an unpaid judgment
    if (r.chance(0.025)) listing("abnormal_operation", r.int(m.admittedDay, end - 1), r.int(30, 150));
    if (r.chance(0.004)) listing("dishonest_debtor", r.int(m.admittedDay, end - 1), r.int(60, 240));
    if (m.exitDay !== null) listing("deregistration", m.exitDay - r.int(0, 20), 10_000);
    if (C !== null) {
      const traits = m.traits;
      const s = traits.includes("collapse:sudden") ? 0.3 : 1;
      const lo = Math.max(m.admittedDay, C - lead);
      const inWindow = () => r.int(lo, C - 1);
      const cases = r.chance(0.55 * s) ? r.poisson(2) + 1 : 0;
      for (let i = 0; i < cases; i++) {
        const d = inWindow();
        if (d < SIM_DAYS) signal(id, "litigation", "court", t(d), { role: "defendant", amount_fen: String(r.int(10_000, 800_000) * 100), case_type: r.pick(["labour", "labour", "lease", "loan", "contract"]) });
      }
      if (r.chance(0.3 * s)) listing("abnormal_operation", C - r.int(5, Math.max(6, Math.min(lead, 80))), 10_000);
      if (r.chance(0.1 * s)) listing("dishonest_debtor", C - r.int(10, Math.max(11, Math.min(lead, 120))), 10_000);
      if (r.chance(0.04 * s)) listing("deregistration", C - r.int(5, 40), 10_000);
      if (r.chance(0.3 * s)) {
        const d = inWindow();
        if (d < SIM_DAYS) signal(id, "registry_fact", "gsxt", t(d), { fact: "licence_change", action: "listed", detail: "legal representative" });
      }
    }

    function listing(fact: string, day: number, days: number) {
      const from = Math.max(day, m.admittedDay);
      if (from >= SIM_DAYS) return;
      signal(id, "registry_fact", fact === "dishonest_debtor" ? "court" : "gsxt", t(from), { fact, action: "listed" });
      if (from + days < SIM_DAYS) signal(id, "registry_fact", fact === "dishonest_debtor" ? "court" : "gsxt", t(from + days), { fact, action: "removed" });
    }
  }
}

// ---------------------------------------------------------------- writing

const COLUMNS: Record<string, string> = {
  merchants: "merchant_id bigint, account text, industry_id int, bank_id int, registry_ref text, status text, risk_level text, exit_effective_at bigint, paid_in bigint, direct bigint, released bigint, refunded bigint, paid_out bigint, card_count int, admitted_at bigint, updated_block bigint",
  cards: "card_id numeric, merchant_id bigint, holder text, plan_index int, kind text, status text, named boolean, held bigint, units_left int, units_used int, paid_in bigint, direct bigint, released bigint, refunded bigint, started_at bigint, expires_at bigint, updated_block bigint",
  ledger: "block_number bigint, block_hash text, block_time bigint, tx_hash text, tx_index int, log_index int, contract text, event text, merchant_id bigint, card_id numeric, holder text, amount bigint, args jsonb",
  refunds: "tx_hash text, log_index int, card_id numeric, merchant_id bigint, bank_id int, holder text, amount bigint, reason text, block_number bigint, block_time bigint",
  payouts: "tx_hash text, log_index int, merchant_id bigint, bank_id int, amount bigint, requested_by text, block_number bigint, block_time bigint",
  disputes: "card_id numeric, merchant_id bigint, industry_id int, status text, opened_by text, reason text, amount bigint, opened_at bigint, refunded bigint, released bigint, resolved_by text, resolved_at bigint",
  risk_signals: "record_id text, kind text, source text, merchant_id bigint, occurred_at bigint, fields jsonb",
};

/**
 * Generates the city into a migrated, empty database. Secondary indexes of the tables written are dropped for the
 * load and created again from their own definitions (pg_indexes), as a bulk load is done; the schema ends identical.
 */
export async function loadCity(db: Db, seed: number, merchantCount: number, log: (s: string) => void = () => undefined): Promise<City> {
  const indexes = await db.query<{ indexname: string; indexdef: string }>(
    `SELECT i.indexname, i.indexdef FROM pg_indexes i
     WHERE i.schemaname = 'public' AND i.tablename = ANY($1::text[])
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    [[...TABLES]],
  );
  for (const i of indexes) await db.query(`DROP INDEX ${i.indexname}`);
  const city = await generateCity(
    seed,
    merchantCount,
    async (table, rows) => {
      const cols = COLUMNS[table];
      const names = cols.split(",").map((c) => c.trim().split(" ")[0]).join(", ");
      await db.query(`INSERT INTO ${table} (${names}) SELECT ${names} FROM json_to_recordset($1::json) AS x(${cols})`, [JSON.stringify(rows)]);
    },
    { log },
  );
  log(`rows written: ${JSON.stringify(city.counts)}; building indexes`);
  for (const i of indexes) await db.query(i.indexdef);
  await db.query("ANALYZE");
  return city;
}
