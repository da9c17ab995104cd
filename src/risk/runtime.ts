import fs from "node:fs";
import path from "node:path";
import { Logger } from "pino";
import { JsonRpcApiProvider } from "ethers";
import { PrepaidEscrow } from "../../typechain-types";
import { KeyRing } from "../chain/signers";
import { Db } from "../store/db";
import { Indexer } from "../sync/indexer";
import { createAlertHub, deliverWebhooks, queueFilingAlerts, recordAlerts } from "./alerts";
import { RISK_LEVELS, RiskLevel } from "./levels";
import { MODEL_V1, rateMerchants, RiskModel } from "./model";
import { RiskOverride, setOverride } from "./overrides";
import { createRiskPusher, PushRecord } from "./push";
import { recordRatings } from "./ratings";

/**
 * The risk engine inside the gateway: rates merchants (on demand and on a schedule), records the ratings with
 * their alerts in one transaction, wakes live alert listeners, delivers the webhook outbox and pushes changed
 * levels on chain through the risk oracle.
 */

export interface RiskRuntimeOptions {
  model?: RiskModel;
  /** Rate every merchant this often; 0: only when asked (POST /v1/risk/rate). */
  rateIntervalMs: number;
  /** Look for levels to push on chain this often. */
  pushIntervalMs: number;
  /** The risk oracle's account; null: levels wait to be pushed. */
  oracle: string | null;
  webhookUrl?: string;
  webhookSecret?: string;
  webhookBackoffMs: number;
  webhookMaxBackoffMs: number;
  /** How often the webhook outbox is looked at. Default 1 s. */
  webhookPollMs?: number;
}

export interface RateSummary {
  asOf: number;
  modelVersion: string;
  rated: number;
  byLevel: Record<RiskLevel, number>;
  changes: number;
  rose: number;
  fell: number;
  alerts: number;
  changed: { merchantId: number; from: RiskLevel; to: RiskLevel }[];
}

/** The risk oracle's account: RISK_ORACLE_ADDRESS, or the local platform's "risk-oracle" party (npm start). */
export function riskOracleAccount(config: { RISK_ORACLE_ADDRESS?: string; dataDir: string }): string | null {
  if (config.RISK_ORACLE_ADDRESS) return config.RISK_ORACLE_ADDRESS.toLowerCase();
  const file = path.join(config.dataDir, "parties.json");
  try {
    const parties = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
    return parties["risk-oracle"]?.toLowerCase() ?? null;
  } catch {
    return null;
  }
}

const nowSecs = () => Math.floor(Date.now() / 1000);

/** What the risk engine runs on (the gateway's Services have all of it). */
export interface RiskDeps {
  db: Db;
  provider: JsonRpcApiProvider;
  escrow: PrepaidEscrow;
  keys: KeyRing;
  indexer: Indexer;
  logger: Logger;
}

export function createRiskRuntime(s: RiskDeps, opts: RiskRuntimeOptions) {
  const model = opts.model ?? MODEL_V1;
  const logger: Logger = s.logger.child({ part: "risk" });
  const hub = createAlertHub();
  const pusher = createRiskPusher({
    db: s.db, provider: s.provider, escrow: s.escrow, keys: s.keys, oracle: opts.oracle, logger,
    syncTo: (b) => s.indexer.syncTo(b), backoffMs: Math.min(opts.pushIntervalMs, 5_000), maxBackoffMs: 10 * 60_000,
  });
  let lock: Promise<unknown> = Promise.resolve();
  /** Rating runs one at a time (ratings go forward in time, per merchant). */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(fn, fn);
    lock = run.catch(() => undefined);
    return run;
  };
  const timers: NodeJS.Timeout[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let stopped = true;
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };

  async function deliver() {
    if (!opts.webhookUrl) return { delivered: 0, failed: 0 };
    if (await queueFilingAlerts(s.db, opts.webhookUrl)) hub.notify();
    return deliverWebhooks({ db: s.db, logger, backoffMs: opts.webhookBackoffMs, maxBackoffMs: opts.webhookMaxBackoffMs, secret: opts.webhookSecret });
  }

  /** After ratings changed: push on chain and deliver alerts in the background. */
  function kick(alerts: number) {
    if (alerts) hub.notify();
    track(pusher.pass().then(() => pusher.settle(60_000, () => stopped)).catch((err) => logger.warn({ err: (err as Error).message }, "risk push pass failed")));
    if (alerts && opts.webhookUrl) track(deliver().catch((err) => logger.warn({ err: (err as Error).message }, "risk webhook delivery failed")));
  }

  /**
   * "Now" for a rating: the wall clock, or the chain's latest block time or the latest rating when either is ahead
   * (a chain's block times may run ahead of the clock; ratings go forward in time).
   */
  async function clock(): Promise<number> {
    const [r] = await s.db.query<{ t: string | null }>(
      "SELECT greatest((SELECT max(block_time) FROM ledger), (SELECT max(computed_at) FROM risk_ratings)) AS t",
    );
    return Math.max(nowSecs(), Number(r?.t ?? 0));
  }

  /** Rates every merchant (or `merchantIds`) as of now, records the ratings and alerts, then pushes what changed. */
  function rate(o: { merchantIds?: number[]; cause?: string; asOf?: number; exactly?: boolean } = {}): Promise<RateSummary> {
    return serial(async () => {
      // `exactly`: as of the moment asked (a regulator's rating of a past moment); otherwise now, or later.
      const asOf = o.exactly && o.asOf !== undefined ? o.asOf : Math.max(o.asOf ?? 0, await clock());
      const ratings = await rateMerchants(s.db, asOf, model, { merchantIds: o.merchantIds });
      let alerts = 0;
      const { recorded, changes } = await recordRatings(s.db, ratings, {
        onChanges: async (tx, ch) => { alerts = (await recordAlerts(tx, ch, { cause: o.cause ?? "rating", webhookUrl: opts.webhookUrl })).length; },
      });
      const byLevel = Object.fromEntries(RISK_LEVELS.map((l) => [l, 0])) as Record<RiskLevel, number>;
      for (const r of ratings) byLevel[r.level]++;
      kick(alerts);
      if (changes.length) logger.info({ rated: recorded, changes: changes.length, alerts }, "risk ratings recorded");
      return {
        asOf, modelVersion: model.version, rated: recorded, byLevel, changes: changes.length, rose: changes.filter((c) => c.rose).length,
        fell: changes.filter((c) => !c.rose).length, alerts, changed: changes.map((c) => ({ merchantId: c.merchantId, from: c.from, to: c.to })),
      };
    });
  }

  /**
   * Records a regulator's override, re-rates the merchant with it, and (when the level changed) pushes it on chain
   * and waits until it is mined and indexed (up to `waitMs`).
   */
  async function override(o: { merchantId: number; level: RiskLevel; reason: string; officer: string; expiresAt?: number | null; waitMs?: number }): Promise<{
    override: RiskOverride; summary: RateSummary; push: PushRecord | null;
  }> {
    const ov = await setOverride(s.db, { merchantId: o.merchantId, level: o.level, reason: o.reason, officer: o.officer, expiresAt: o.expiresAt });
    const summary = await rate({ merchantIds: [o.merchantId], cause: "override", asOf: ov.createdAt });
    const [push] = summary.changes || (await pendingFor(o.merchantId)) ? await pusher.pushAndWait([o.merchantId], o.waitMs ?? 30_000) : [];
    return { override: ov, summary, push: push ?? null };
  }

  async function pendingFor(merchantId: number): Promise<boolean> {
    const rows = await s.db.query(
      `SELECT 1 FROM risk_ratings r JOIN merchants m ON m.merchant_id = r.merchant_id WHERE r.merchant_id = $1 AND r.superseded_at IS NULL AND r.level <> m.risk_level`,
      [merchantId],
    );
    return rows.length > 0;
  }

  function every(ms: number, name: string, fn: () => Promise<unknown>) {
    if (!(ms > 0)) return;
    let busy = false;
    const t = setInterval(() => {
      if (busy || stopped) return;
      busy = true;
      track(fn().catch((err) => logger.warn({ err: (err as Error).message }, `risk ${name} failed`)).finally(() => { busy = false; }));
    }, ms);
    t.unref();
    timers.push(t);
  }

  return {
    hub,
    pusher,
    model,
    rate,
    override,
    deliver,
    /** Starts the schedules: rating (when configured), pushes, webhook deliveries. */
    start() {
      stopped = false;
      every(opts.rateIntervalMs, "rating", () => rate({ cause: "rating" }));
      every(opts.pushIntervalMs, "push", () => pusher.pass());
      if (opts.webhookUrl) every(opts.webhookPollMs ?? 1_000, "webhook", deliver);
    },
    async stop() {
      stopped = true;
      for (const t of timers.splice(0)) clearInterval(t);
      await Promise.allSettled([...inFlight, lock]);
    },
  };
}

export type RiskRuntime = ReturnType<typeof createRiskRuntime>;
