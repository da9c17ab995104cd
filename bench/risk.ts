/**
 * Risk early-warning benchmark: does the model see collapses coming, and how fast does it rate a city?
 *
 *   npm run bench:risk                  (ts-node --transpile-only bench/risk.ts; seed B, the held-out seed)
 *   npm run bench:risk -- --seed A      the seed the model (src/risk/model-v1.json) was tuned on
 *
 * 1. Generates a synthetic city from the seed (bench/risk-city.ts describes it: >= 2,000 merchants over 18
 *    months, some of which collapse, with noisy healthy merchants and collapses with weak signals) and writes it
 *    into a fresh in-memory PGlite database as the projector and the importer would have.
 * 2. Replays the ratings every BENCH_RISK_STEP_DAYS (7) days from day 120 (the chain signals need 4 months of
 *    history) to the end, rating every merchant with rateMerchants and storing the ratings with recordRatings.
 * 3. Scores them against the merchants' fates:
 *    - recall: collapses in the period (from day 150) rated high at least once 30 to 90 days before the collapse;
 *    - precision: of all high ratings given up to 90 days before the period ends, to merchants still operating
 *      (not collapsed, not exited), the share followed by the merchant's collapse within 90 days;
 *    also precision per escalation (each rise to high) and per merchant, and recall at medium or high.
 * 4. Times rating all merchants once, at the end of the period (the largest index), and prints a table;
 *    writes bench/results/risk.json (risk-A.json for seed A). Exits non-zero when a target is missed.
 *
 * Targets: recall >= 0.8 at precision >= 0.5; rating all merchants in under 10 s.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openDb } from "../src/store/db";
import { migrate } from "../src/store/migrations";
import { loadRiskModel, MODEL_V1, rateMerchants, RiskModel } from "../src/risk/model";
import { recordRatings } from "../src/risk/ratings";
import { DAY, DAYS, generateCity, MerchantTruth, T0 } from "./risk-city";

const SEEDS: Record<string, number> = { A: 20_240_601, B: 20_250_117 };
const argSeed = process.argv.includes("--seed") ? process.argv[process.argv.indexOf("--seed") + 1] : process.env.BENCH_RISK_SEED ?? "B";
const SEED_NAME = argSeed.toUpperCase();
const SEED = SEEDS[SEED_NAME] ?? Number(argSeed);
const MERCHANTS = Number(process.env.BENCH_RISK_MERCHANTS ?? 2_400);
const STEP_DAYS = Number(process.env.BENCH_RISK_STEP_DAYS ?? 7);
const FIRST_DAY = 120;
const WARN_MIN = 30; // a warning counts when it comes at least this many days before the collapse
const WARN_MAX = 90; // ... and at most this many (a high rating is right when a collapse follows within 90 days)
const TARGETS = { recall: 0.8, precision: 0.5, rateAllSeconds: 10 };

const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

function modelFromEnv(): RiskModel {
  const file = process.env.BENCH_RISK_MODEL;
  return file ? loadRiskModel(JSON.parse(fs.readFileSync(file, "utf8"))) : MODEL_V1;
}

async function main() {
  if (!Number.isFinite(SEED)) throw new Error(`--seed is A, B or a number, not ${argSeed}`);
  const model = modelFromEnv();
  log(`seed ${SEED_NAME} (${SEED}), ${MERCHANTS} merchants, model ${model.version}`);

  let t = Date.now();
  const city = generateCity(SEED, MERCHANTS, log);
  const generateSeconds = (Date.now() - t) / 1000;
  const counts = Object.fromEntries(Object.entries(city.rows).map(([k, v]) => [k, v.length]));
  log(`generated in ${round(generateSeconds, 1)} s: ${JSON.stringify(counts)}`);

  const db = await openDb({ dataDir: ":memory:" });
  try {
    await migrate(db);
    t = Date.now();
    const { writeCity } = await import("./risk-city");
    await writeCity(db, city, log);
    const loadSeconds = (Date.now() - t) / 1000;
    log(`loaded in ${round(loadSeconds, 1)} s`);

    // ---- replay
    const truth = new Map(city.truth.map((m) => [m.merchantId, m]));
    const highs: { merchantId: number; day: number; escalation: boolean; ruleOnly: boolean }[] = [];
    const warned = new Map<number, { high: boolean; medium: boolean }>();
    const previous = new Map<number, string>();
    const rateTimes: number[] = [];
    let recordSeconds = 0;
    let changes = 0;
    let ratingsGiven = 0;
    t = Date.now();
    for (let day = FIRST_DAY; day < DAYS; day += STEP_DAYS) {
      const asOf = T0 + day * DAY;
      const t1 = Date.now();
      const ratings = await rateMerchants(db, asOf, model);
      rateTimes.push((Date.now() - t1) / 1000);
      const t2 = Date.now();
      changes += (await recordRatings(db, ratings)).changes.length;
      recordSeconds += (Date.now() - t2) / 1000;
      for (const r of ratings) {
        const m = truth.get(r.merchantId)!;
        const prev = previous.get(r.merchantId);
        previous.set(r.merchantId, r.level);
        if (!operating(m, day)) continue;
        ratingsGiven++;
        if (m.collapseDay !== null && m.collapseDay - day >= WARN_MIN && m.collapseDay - day <= WARN_MAX) {
          const w = warned.get(m.merchantId) ?? { high: false, medium: false };
          if (r.level === "high") w.high = true;
          if (r.level !== "low") w.medium = true;
          warned.set(m.merchantId, w);
        }
        if (r.level === "high") {
          const ruleOnly = r.explanation.some((e) => e.rule) && r.score < (model.industries[String(r.industryId)]?.levels?.high ?? model.default.levels.high);
          highs.push({ merchantId: r.merchantId, day, escalation: prev !== "high", ruleOnly });
        }
      }
      if ((day - FIRST_DAY) % (STEP_DAYS * 8) === 0) log(`rated day ${day}: ${ratings.length} merchants in ${round(rateTimes[rateTimes.length - 1], 2)} s`);
    }
    const replaySeconds = (Date.now() - t) / 1000;

    // ---- rating the whole city once, at the end of the period (the largest index)
    const endAsOf = T0 + DAYS * DAY;
    const timings: number[] = [];
    let rated = 0;
    for (let i = 0; i < 3; i++) {
      const t1 = Date.now();
      rated = (await rateMerchants(db, endAsOf, model)).length;
      timings.push((Date.now() - t1) / 1000);
    }
    const rateAllSeconds = Math.min(...timings);

    // ---- scoring
    const horizon = DAYS - 1 - WARN_MAX; // high ratings after this day cannot be judged yet
    const judged = highs.filter((h) => h.day <= horizon);
    const isTrue = (h: { merchantId: number; day: number }) => {
      const c = truth.get(h.merchantId)!.collapseDay;
      return c !== null && c > h.day && c - h.day <= WARN_MAX;
    };
    const trueHighs = judged.filter(isTrue).length;
    const precision = judged.length ? trueHighs / judged.length : 0;
    const escalations = judged.filter((h) => h.escalation);
    const precisionPerEscalation = escalations.length ? escalations.filter(isTrue).length / escalations.length : 0;
    const byMerchant = new Map<number, boolean>();
    for (const h of judged) byMerchant.set(h.merchantId, (byMerchant.get(h.merchantId) ?? false) || isTrue(h));
    const precisionPerMerchant = byMerchant.size ? [...byMerchant.values()].filter(Boolean).length / byMerchant.size : 0;
    const ruleOnlyFalse = judged.filter((h) => h.ruleOnly && !isTrue(h)).length;

    const collapses = city.truth.filter((m) => m.collapseDay !== null && m.collapseDay < DAYS);
    const evaluated = collapses.filter((m) => m.collapseDay! >= FIRST_DAY + WARN_MIN);
    const caught = evaluated.filter((m) => warned.get(m.merchantId)?.high);
    const caughtMedium = evaluated.filter((m) => warned.get(m.merchantId)?.medium);
    const recall = evaluated.length ? caught.length / evaluated.length : 0;
    const sudden = evaluated.filter((m) => m.traits.includes("collapse:sudden"));
    const recallSudden = sudden.length ? sudden.filter((m) => warned.get(m.merchantId)?.high).length / sudden.length : 0;
    const recallNotSudden = evaluated.length - sudden.length
      ? (caught.length - sudden.filter((m) => warned.get(m.merchantId)?.high).length) / (evaluated.length - sudden.length)
      : 0;

    const targets = {
      recall: { target: `>= ${TARGETS.recall}`, met: recall >= TARGETS.recall },
      precision: { target: `>= ${TARGETS.precision}`, met: precision >= TARGETS.precision },
      rateAllSeconds: { target: `< ${TARGETS.rateAllSeconds}`, met: rateAllSeconds < TARGETS.rateAllSeconds },
    };
    const result = {
      seed: SEED,
      seedName: SEED_NAME,
      tunedOn: "A",
      merchants: city.truth.length,
      collapses: collapses.length,
      collapsesEvaluated: evaluated.length,
      collapsesCaught: caught.length,
      recall: round(recall),
      precision: round(precision),
      rateAllSeconds: round(rateAllSeconds, 2),
      modelVersion: model.version,
      highRatingsJudged: judged.length,
      trueHighRatings: trueHighs,
      falseHighRatingsFromHardRulesOnly: ruleOnlyFalse,
      precisionPerEscalation: round(precisionPerEscalation),
      escalationsJudged: escalations.length,
      precisionPerMerchant: round(precisionPerMerchant),
      merchantsRatedHigh: byMerchant.size,
      recallMediumOrHigh: round(evaluated.length ? caughtMedium.length / evaluated.length : 0),
      recallSuddenCollapses: round(recallSudden),
      recallOtherCollapses: round(recallNotSudden),
      suddenCollapsesEvaluated: sudden.length,
      orderlyExits: city.truth.filter((m) => m.exitDay !== null && m.exitDay < DAYS).length,
      replay: {
        stepDays: STEP_DAYS, firstDay: FIRST_DAY, runs: rateTimes.length, ratingsOfOperatingMerchants: ratingsGiven, levelChanges: changes,
        meanRateSeconds: round(rateTimes.reduce((a, b) => a + b, 0) / rateTimes.length, 3), maxRateSeconds: round(Math.max(...rateTimes), 3),
        recordSeconds: round(recordSeconds, 1), seconds: round(replaySeconds, 1),
      },
      rateAll: { merchants: rated, runsSeconds: timings.map((x) => round(x, 3)) },
      data: { ...counts, generateSeconds: round(generateSeconds, 1), loadSeconds: round(loadSeconds, 1) },
      definitions: {
        recall: `collapses from day ${FIRST_DAY + WARN_MIN} to the period's end rated high at least once ${WARN_MIN}-${WARN_MAX} days before the collapse`,
        precision: `high ratings (one per merchant per replay step) up to day ${horizon}, of merchants still operating, followed by a collapse within ${WARN_MAX} days`,
      },
      targets,
      machine: { cpus: os.cpus().length, node: process.version, engine: "pglite (in memory)" },
    };

    const rows: [string, string, string][] = [
      ["seed", `${SEED_NAME} (${SEED})`, SEED_NAME === "A" ? "the tuning seed" : "held out: the model was tuned on seed A"],
      ["merchants / collapses in the period", `${result.merchants} / ${result.collapses}`, `${evaluated.length} evaluated, ${sudden.length} sudden`],
      ["chain rows (ledger) / risk signals", `${counts.ledger} / ${counts.signals}`, `${counts.cards} cards`],
      ["recall (high 30-90 days before)", `${result.recall}`, `${targets.recall.target}: ${targets.recall.met ? "ok" : "MISSED"} (${caught.length}/${evaluated.length})`],
      ["precision (high ratings)", `${result.precision}`, `${targets.precision.target}: ${targets.precision.met ? "ok" : "MISSED"} (${trueHighs}/${judged.length})`],
      ["precision per escalation to high", `${result.precisionPerEscalation}`, `${escalations.length} escalations`],
      ["precision per merchant rated high", `${result.precisionPerMerchant}`, `${byMerchant.size} merchants`],
      ["false highs from hard rules alone", String(ruleOnlyFalse), "registry listings of merchants that did not collapse"],
      ["recall at medium or high", `${result.recallMediumOrHigh}`, ""],
      ["recall: sudden / other collapses", `${result.recallSuddenCollapses} / ${result.recallOtherCollapses}`, ""],
      ["rate all merchants once", `${result.rateAllSeconds} s`, `${targets.rateAllSeconds.target} s: ${targets.rateAllSeconds.met ? "ok" : "MISSED"} (${rated} merchants)`],
      ["replay", `${rateTimes.length} runs`, `mean ${result.replay.meanRateSeconds} s, record ${result.replay.recordSeconds} s in all, ${changes} level changes`],
    ];
    console.log("");
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    for (const r of rows) console.log(`${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
    console.log("");

    const outDir = path.join(__dirname, "results");
    fs.mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, SEED_NAME === "B" ? "risk.json" : `risk-${SEED_NAME}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    log(`wrote ${path.relative(process.cwd(), file)}`);
    if (!Object.values(targets).every((x) => x.met)) process.exitCode = 1;
  } finally {
    await db.close();
  }
}

/** The merchant is on the platform and trading on `day`: admitted, not collapsed, not exited. */
function operating(m: MerchantTruth, day: number): boolean {
  return m.admittedDay <= day && (m.collapseDay === null || day < m.collapseDay) && (m.exitDay === null || day < m.exitDay);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
