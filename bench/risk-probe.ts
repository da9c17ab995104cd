/**
 * Feature study for the risk model, on the TUNING seed only (A): reads a city that bench/risk.ts kept in
 * BENCH_RISK_CITY_DIR, folds it into per-merchant daily series once, and then scores candidate signals fast:
 * each signal's separation of "collapses within 90 days" from the rest, and a fitted additive score's recall and
 * precision with the same definitions as bench/risk-eval.ts (hard-rule highs included).
 *
 *   BENCH_RISK_CITY_DIR=/tmp/city npm run bench:risk -- --seed A     (once: generates and keeps the city)
 *   npx ts-node --transpile-only bench/risk-probe.ts /tmp/city
 *
 * PROBE_FEATURES=a,b,... fits only those signals; PROBE_HINGES=1 adds each signal as hinges at its 80th, 95th and
 * 99th percentiles (a piecewise-linear score, still additive); PROBE_ITERS sets the fit's gradient steps (300).
 * The daily series are cached next to the city (series-*.v8), so a second run starts in seconds.
 * Results of one run: bench/results/risk-ceiling-A.txt. Never run it on seed B: that is the held-out seed.
 */
import fs from "node:fs";
import path from "node:path";
import v8 from "node:v8";
import { openDb } from "../src/store/db";
import { HISTORY, MerchantTruth, SIM_DAYS, timeOf } from "./risk-city";
import { evaluate, operating, StepRating } from "./risk-eval";

const SEED = 20_240_601;
const MERCHANTS = Number(process.env.BENCH_RISK_MERCHANTS ?? 2_400);
const N = SIM_DAYS + 1;
const ORIGIN = timeOf(0);
const dayOf = (t: number) => Math.floor((t - ORIGIN) / 86_400);

type Series = Float64Array;
interface M {
  truth: MerchantTruth;
  s: Record<string, Series>;
  listings: { from: number; to: number; fact: string }[];
}
const SERIES = [
  "salesN", "salesFen", "custFen", "consFen", "refundReq", "disputes", "payoutN", "payoutFen", "complaints", "complaintsRefund",
  "tickets", "ticketsRefund", "litigation", "licence", "cardStart", "cardEnd",
] as const;

async function load(dir: string): Promise<{ ms: M[]; truth: MerchantTruth[] }> {
  const key = `${SEED}-${MERCHANTS}`;
  const cache = path.join(dir, `series-${key}.v8`);
  if (fs.existsSync(cache)) return v8.deserialize(fs.readFileSync(cache));
  const out = await loadFromDb(dir, key);
  fs.writeFileSync(cache, v8.serialize(out));
  return out;
}

async function loadFromDb(dir: string, key: string) {
  const city = JSON.parse(fs.readFileSync(path.join(dir, `city-${key}.json`), "utf8")) as { truth: MerchantTruth[] };
  const db = await openDb({ dataDir: path.join(dir, `pglite-${key}`) });
  const ms = new Map<number, M>();
  for (const t of city.truth) {
    ms.set(t.merchantId, { truth: t, s: Object.fromEntries(SERIES.map((k) => [k, new Float64Array(N)])) as Record<string, Series>, listings: [] });
  }
  const add = (id: number, k: string, day: number, v: number) => {
    const m = ms.get(id);
    if (m && day >= 0 && day < N) m.s[k][day] += v;
  };
  const rows = await db.query<{ merchant_id: string; d: number; event: string; n: string; amt: string; price: string }>(
    `SELECT merchant_id, floor((block_time - $1) / 86400)::int AS d, event, count(*) AS n, coalesce(sum(amount), 0)::text AS amt,
            coalesce(sum(coalesce((args->>'price')::bigint, amount + coalesce((args->>'direct')::bigint, 0))), 0)::text AS price
     FROM ledger WHERE merchant_id IS NOT NULL GROUP BY 1, 2, 3`,
    [ORIGIN],
  );
  for (const r of rows) {
    const id = Number(r.merchant_id);
    const n = Number(r.n);
    const amt = Number(r.amt);
    switch (r.event) {
      case "CardPurchased":
      case "CardRenewed":
        add(id, "salesN", r.d, n); add(id, "salesFen", r.d, Number(r.price)); add(id, "custFen", r.d, amt); break;
      case "LessonsConsumed":
      case "PeriodsReleased":
        add(id, "consFen", r.d, amt); break;
      case "RefundRequested": add(id, "refundReq", r.d, n); break;
      case "DisputeOpened": add(id, "disputes", r.d, n); break;
      case "PaidOut": add(id, "payoutN", r.d, n); add(id, "payoutFen", r.d, amt); break;
    }
  }
  console.error(`ledger read: ${rows.length} groups`);
  const cards = await db.query<{ merchant_id: string; s: number; e: number }>(
    `SELECT c.merchant_id, floor((c.started_at - $1) / 86400)::int AS s,
            floor((least(c.expires_at, coalesce(r.t, c.expires_at)) - $1) / 86400)::int AS e
     FROM cards c LEFT JOIN (SELECT card_id, min(block_time) AS t FROM refunds GROUP BY card_id) r ON r.card_id = c.card_id`,
    [ORIGIN],
  );
  for (const c of cards) { add(Number(c.merchant_id), "cardStart", c.s, 1); add(Number(c.merchant_id), "cardEnd", Math.min(c.e, N - 1), 1); }
  console.error("cards read");
  const sig = await db.query<{ merchant_id: string; kind: string; occurred_at: string; fields: Record<string, unknown> }>(
    "SELECT merchant_id, kind, occurred_at, fields FROM risk_signals ORDER BY occurred_at, record_id",
  );
  const open = new Map<string, number>();
  for (const r of sig) {
    const id = Number(r.merchant_id);
    const d = dayOf(Number(r.occurred_at));
    const f = r.fields;
    if (r.kind === "complaint") { add(id, "complaints", d, 1); if (f.refund_related) add(id, "complaintsRefund", d, 1); }
    else if (r.kind === "hotline_ticket") { add(id, "tickets", d, 1); if (f.refund_related) add(id, "ticketsRefund", d, 1); }
    else if (r.kind === "litigation") { if (f.role === "defendant") add(id, "litigation", d, 1); }
    else if (r.kind === "registry_fact") {
      if (f.fact === "licence_change") add(id, "licence", d, 1);
      else {
        const k = `${id}:${f.fact}`;
        if (f.action === "listed") open.set(k, d);
        else if (open.has(k)) { ms.get(id)!.listings.push({ from: open.get(k)!, to: d, fact: String(f.fact) }); open.delete(k); }
      }
    }
  }
  for (const [k, from] of open) { const [id, fact] = k.split(":"); ms.get(Number(id))!.listings.push({ from, to: Infinity, fact }); }
  await db.close();
  // prefix sums
  for (const m of ms.values()) for (const k of SERIES) { const a = m.s[k]; for (let i = 1; i < N; i++) a[i] += a[i - 1]; }
  return { ms: [...ms.values()], truth: city.truth };
}

/** Sum of a prefix-summed series over days (day - to, day - from], i.e. the `from`..`to` days before `day`. */
const win = (a: Series, day: number, from: number, to: number) => {
  const hi = Math.min(day - from, N - 1);
  const lo = Math.max(day - to, 0);
  return hi <= 0 || hi <= lo ? 0 : a[hi] - (lo > 0 ? a[lo] : 0);
};

function features(m: M, day: number): Record<string, number> {
  const s = m.s;
  const w = (k: string, from: number, to: number) => win(s[k], day, from, to);
  const active = Math.max(0, w("cardStart", 0, 10_000) - w("cardEnd", 0, 10_000));
  const size = Math.max(active, 50);
  const age = day - m.truth.admittedDay;
  const prior = Math.min(180, Math.max(0, age - 60));
  const ratio = (k: string, recent: number, kk: number) => {
    const r = w(k, 0, recent);
    const p = prior > 30 ? (w(k, 60, 60 + prior) * recent) / prior : NaN;
    return Number.isNaN(p) ? 1 : (r + kk) / (p + kk);
  };
  const avgSale = (w("salesFen", 0, 240) + 1) / (w("salesN", 0, 240) + 1);
  const avgCust = (w("custFen", 0, 240) + 1) / (w("salesN", 0, 240) + 1);
  const f: Record<string, number> = {
    sales30: Math.log(ratio("salesFen", 30, 5 * avgSale)),
    sales60: Math.log(ratio("salesFen", 60, 5 * avgSale)),
    cons30: Math.log(ratio("consFen", 30, 5 * avgCust)),
    cons60: Math.log(ratio("consFen", 60, 5 * avgCust)),
    refundRate60: (w("refundReq", 0, 60) * 1000) / size,
    refundTrend60: Math.log(ratio("refundReq", 60, 2)),
    disputes60: (w("disputes", 0, 60) * 1000) / size,
    payoutN30: w("payoutN", 0, 30),
    payoutFreq: Math.log((w("payoutN", 0, 30) + 1) / ((prior > 30 ? (w("payoutN", 60, 60 + prior) * 30) / prior : w("payoutN", 0, 30)) + 1)),
    payoutDrain: w("payoutFen", 0, 30) / (w("custFen", 0, 30) + 5 * avgCust),
    complaints60: (w("complaints", 0, 60) * 1000) / size,
    complaintTrend60: Math.log(ratio("complaints", 60, 2)),
    refundComplaints60: ((w("complaintsRefund", 0, 60) + w("ticketsRefund", 0, 60)) * 1000) / size,
    refundComplaintShare60: (w("complaintsRefund", 0, 60) + w("ticketsRefund", 0, 60) + 0.6) / (w("complaints", 0, 60) + w("tickets", 0, 60) + 2),
    refundComplaintTrend: Math.log(ratio("complaintsRefund", 60, 1.5)),
    tickets60: (w("tickets", 0, 60) * 1000) / size,
    litigation180: w("litigation", 0, 180),
    litigation90: w("litigation", 0, 90),
    licence180: w("licence", 0, 180),
    active,
    llrRefundShare60: (() => {
      const k = w("complaintsRefund", 0, 60) + w("ticketsRefund", 0, 60);
      const n = w("complaints", 0, 60) + w("tickets", 0, 60);
      return k * Math.log(0.65 / 0.3) + (n - k) * Math.log(0.35 / 0.7);
    })(),
    llrComplaints60: poissonLlr(w("complaints", 0, 60) + w("tickets", 0, 60), prior > 30 ? ((w("complaints", 60, 60 + prior) + w("tickets", 60, 60 + prior) + 1) * 60) / (prior + 30) : NaN, 3),
    llrRefundReq60: poissonLlr(w("refundReq", 0, 60), prior > 30 ? ((w("refundReq", 60, 60 + prior) + 0.5) * 60) / (prior + 30) : NaN, 4),
    llrLitigation90: poissonLlr(w("litigation", 0, 90), 0.25 * (90 / 365), 10),
    payoutExcess30: w("payoutN", 0, 30) - (prior > 30 ? (w("payoutN", 60, 60 + prior) * 30) / prior : w("payoutN", 0, 30)),
  };
  return f;
}

/** Poisson log-likelihood ratio of `k` events under `mult` times the expected rate against the expected rate. */
function poissonLlr(k: number, expected: number, mult: number): number {
  if (!Number.isFinite(expected)) return 0;
  const e = Math.max(expected, 0.05);
  return k * Math.log(mult) - (mult - 1) * e;
}

function auc(pos: number[], neg: number[]): number {
  const all = [...pos.map((v) => [v, 1] as const), ...neg.map((v) => [v, 0] as const)].sort((a, b) => a[0] - b[0]);
  let rank = 0, sumPos = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j][0] === all[i][0]) j++;
    const avg = (i + j + 1) / 2;
    for (let k = i; k < j; k++) if (all[k][1]) sumPos += avg;
    rank = j; i = j;
  }
  void rank;
  return (sumPos - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}

async function main() {
  const dir = process.argv[2] ?? "/tmp/city";
  const t0 = Date.now();
  const { ms, truth } = await load(dir);
  console.error(`loaded ${ms.length} merchants in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const samples: { m: M; day: number; f: Record<string, number>; y: number; listed: boolean }[] = [];
  for (let day = HISTORY; day < SIM_DAYS; day += 7) {
    for (const m of ms) {
      if (!operating(m.truth, day)) continue;
      const c = m.truth.collapseDay;
      const y = c !== null && c > day && c - day <= 90 ? 1 : 0;
      const listed = m.listings.some((l) => l.from <= day && day < l.to);
      samples.push({ m, day, f: features(m, day), y, listed });
    }
  }
  const names = Object.keys(samples[0].f);
  console.log(`samples ${samples.length}, positives ${samples.filter((s) => s.y).length}`);
  for (const n of names) {
    const pos = samples.filter((s) => s.y).map((s) => s.f[n]);
    const neg = samples.filter((s, i) => !s.y && i % 5 === 0).map((s) => s.f[n]);
    console.log(`${n.padEnd(24)} AUC ${auc(pos, neg).toFixed(3)}`);
  }
  const use = (process.env.PROBE_FEATURES ?? names.filter((n) => n !== "active").join(",")).split(",");
  // standardise and fit a logistic regression (L2), then evaluate thresholds with the bench's scorer
  const mu: number[] = [], sd: number[] = [];
  use.forEach((n, j) => {
    const xs = samples.map((s) => s.f[n]);
    mu[j] = xs.reduce((a, b) => a + b, 0) / xs.length;
    sd[j] = Math.sqrt(xs.reduce((a, b) => a + (b - mu[j]) ** 2, 0) / xs.length) || 1;
  });
  let X = samples.map((s) => use.map((n, j) => Math.max(-4, Math.min(6, (s.f[n] - mu[j]) / sd[j]))));
  if (process.env.PROBE_HINGES) {
    // each standardised feature also as hinges at its 80th, 95th and 99th percentiles
    const qs = use.map((_n, j) => { const xs = X.map((x) => x[j]).sort((a, b) => a - b); return [0.8, 0.95, 0.99].map((q) => xs[Math.floor(q * xs.length)]); });
    const names2: string[] = [];
    use.forEach((n, j) => qs[j].forEach((q) => names2.push(`${n}>${q.toFixed(2)}`)));
    X = X.map((x) => [...x, ...use.flatMap((_n, j) => qs[j].map((q) => Math.max(0, x[j] - q)))]);
    use.push(...names2); mu.push(...names2.map(() => 0)); sd.push(...names2.map(() => 1));
  }
  const wts = new Float64Array(use.length + 1);
  const lr = 0.5, lambda = 1e-4, posW = 5;
  for (let it = 0; it < Number(process.env.PROBE_ITERS ?? 300); it++) {
    const g = new Float64Array(use.length + 1);
    let wsum = 0;
    for (let i = 0; i < X.length; i++) {
      let z = wts[use.length];
      for (let j = 0; j < use.length; j++) z += wts[j] * X[i][j];
      const p = 1 / (1 + Math.exp(-z));
      const wi = samples[i].y ? posW : 1;
      const e = (p - samples[i].y) * wi;
      wsum += wi;
      for (let j = 0; j < use.length; j++) g[j] += e * X[i][j];
      g[use.length] += e;
    }
    for (let j = 0; j <= use.length; j++) wts[j] -= lr * (g[j] / wsum + (j < use.length ? lambda * wts[j] : 0));
  }
  use.forEach((n, j) => console.log(`w ${n.padEnd(24)} ${(wts[j] / sd[j]).toFixed(4)}  (std ${wts[j].toFixed(3)}, mean ${mu[j].toFixed(3)})`));
  const scores = X.map((x) => x.reduce((a, v, j) => a + v * wts[j], wts[use.length]));
  const sorted = [...scores].sort((a, b) => b - a);
  const idx = samples.map((_s, i) => i).sort((a, b) => samples[a].day - samples[b].day);
  for (const q of [0.003, 0.005, 0.0075, 0.01, 0.015]) {
    for (const hq of [0, 0.01, 0.02, 0.04]) {
      if (hq && hq <= q) continue;
      const thr = sorted[Math.floor(q * sorted.length)];
      const hold = hq ? sorted[Math.floor(hq * sorted.length)] : thr;
      const byDay = new Map<number, StepRating[]>();
      const prevHigh = new Map<number, boolean>();
      for (const i of idx) {
        const s = samples[i];
        const id = s.m.truth.merchantId;
        const scoreHigh = scores[i] >= thr || (prevHigh.get(id) === true && scores[i] >= hold);
        prevHigh.set(id, scoreHigh);
        const level = s.listed || scoreHigh ? "high" : "low";
        if (!byDay.has(s.day)) byDay.set(s.day, []);
        byDay.get(s.day)!.push({ merchantId: id, level, ruleOnly: s.listed && !scoreHigh });
      }
      const e = evaluate(truth, [...byDay].map(([day, ratings]) => ({ day, ratings })), HISTORY);
      console.log(`top ${(q * 100).toFixed(2)}% hold ${(hq * 100).toFixed(0)}%: recall ${e.recall.toFixed(3)} precision ${e.precision.toFixed(3)} (${e.trueHighRatings}/${e.highRatingsJudged}; score highs ${e.precisionOfScoreHighs.toFixed(3)} of ${e.scoreHighRatingsJudged}; sudden ${e.recallSuddenCollapses.toFixed(2)} other ${e.recallOtherCollapses.toFixed(2)}; false rule highs ${e.falseHighRatingsFromHardRulesOnly})`);
    }
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
