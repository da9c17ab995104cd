import { createHmac } from "node:crypto";
import { EventEmitter } from "node:events";
import { Logger } from "pino";
import { Db, DbTx } from "../store/db";
import { RiskLevel } from "./levels";
import { LevelChange } from "./ratings";

/**
 * Regulators are alerted when a merchant's risk level rises, and when its prepaid balance reaches the filing threshold
 * (cause 'filing', written by the indexer from the chain's FilingThresholdReached; its webhook is queued by
 * {@link queueFilingAlerts}). An alert is a row written in the same transaction
 * as the rating (or override) that raised the level; when a webhook is configured, an outbox row for it is
 * written in that transaction too, and a worker posts it until the receiver answers 2xx, backing off
 * exponentially between tries. Live listeners (Server-Sent Events) are woken through an in-process hub and read
 * the rows themselves, so a listener that reconnects with its last event id misses nothing.
 */

export interface RiskAlert {
  id: number;
  merchantId: number;
  industryId: number;
  from: RiskLevel;
  to: RiskLevel;
  score: number;
  /** "rating" or "override". */
  cause: string;
  /** The rating's explanation, as stored (the override and hard rules first). */
  explanation: unknown[];
  ratedAt: number;
  createdAt: number;
}

function alertOf(r: Record<string, unknown>): RiskAlert {
  return {
    id: Number(r.id), merchantId: Number(r.merchant_id), industryId: Number(r.industry_id), from: r.from_level as RiskLevel, to: r.to_level as RiskLevel,
    score: Number(r.score), cause: String(r.cause), explanation: r.explanation as unknown[], ratedAt: Number(r.rated_at), createdAt: Number(r.created_at),
  };
}

/** Writes an alert (and its webhook outbox row) for each change that raised a level. Call inside the rating's transaction. */
export async function recordAlerts(tx: DbTx, changes: LevelChange[], opts: { cause: string; webhookUrl?: string | null; nowMs?: number }): Promise<number[]> {
  const rises = changes.filter((c) => c.rose);
  if (!rises.length) return [];
  const nowMs = opts.nowMs ?? Date.now();
  const rows = await tx.query<{ id: string }>(
    `INSERT INTO risk_alerts (merchant_id, industry_id, from_level, to_level, score, cause, explanation, rated_at, created_at)
     SELECT x.merchant_id, m.industry_id, x.from_level, x.to_level, x.score, $2, x.explanation, x.rated_at, $3
     FROM jsonb_to_recordset($1::jsonb) AS x(merchant_id bigint, from_level text, to_level text, score numeric, explanation jsonb, rated_at bigint, n int)
     JOIN merchants m ON m.merchant_id = x.merchant_id
     ORDER BY x.n
     RETURNING id`,
    [
      JSON.stringify(rises.map((c, n) => ({ n, merchant_id: c.merchantId, from_level: c.from, to_level: c.to, score: c.score, explanation: c.explanation, rated_at: c.computedAt }))),
      opts.cause,
      Math.floor(nowMs / 1000),
    ],
  );
  const ids = rows.map((r) => Number(r.id));
  if (opts.webhookUrl && ids.length) {
    await tx.query(
      `INSERT INTO risk_webhook_outbox (alert_id, url, status, next_attempt_ms) SELECT id, $2, 'pending', $3 FROM unnest($1::bigint[]) AS id`,
      [ids, opts.webhookUrl, nowMs],
    );
  }
  return ids;
}

/**
 * Queues the webhook for filing alerts (a merchant's prepaid balance reached the filing threshold): the indexer writes
 * them as it projects the chain's FilingThresholdReached events, without the webhook's address; this gives each one
 * not yet queued its outbox row. Returns how many were queued.
 */
export async function queueFilingAlerts(db: Pick<Db, "query">, webhookUrl: string, nowMs = Date.now()): Promise<number> {
  const rows = await db.query(
    `INSERT INTO risk_webhook_outbox (alert_id, url, status, next_attempt_ms)
     SELECT a.id, $1, 'pending', $2 FROM risk_alerts a
     WHERE a.cause = 'filing' AND NOT EXISTS (SELECT 1 FROM risk_webhook_outbox o WHERE o.alert_id = a.id)
     RETURNING alert_id`,
    [webhookUrl, nowMs],
  );
  return rows.length;
}

/** Alerts after `afterId`, oldest first, optionally only of `industries` (an industry regulator's). */
export async function listAlerts(
  db: Pick<Db, "query">,
  opts: { afterId?: number; industries?: number[] | null; merchantId?: number; limit: number },
): Promise<RiskAlert[]> {
  const rows = await db.query(
    `SELECT * FROM risk_alerts WHERE id > $1 AND ($2::int[] IS NULL OR industry_id = ANY($2::int[])) AND ($3::bigint IS NULL OR merchant_id = $3)
     ORDER BY id LIMIT $4`,
    [opts.afterId ?? 0, opts.industries ?? null, opts.merchantId ?? null, opts.limit],
  );
  return rows.map(alertOf);
}

/** The newest alert id (a live listener with no last event id starts after it). */
export async function lastAlertId(db: Pick<Db, "query">): Promise<number> {
  const [r] = await db.query<{ id: string | null }>("SELECT max(id) AS id FROM risk_alerts");
  return r?.id == null ? 0 : Number(r.id);
}

/** Wakes live listeners when alerts were written (they read the rows themselves). */
export function createAlertHub() {
  const ee = new EventEmitter();
  ee.setMaxListeners(0);
  return {
    notify: () => ee.emit("alerts"),
    subscribe(fn: () => void): () => void {
      ee.on("alerts", fn);
      return () => ee.off("alerts", fn);
    },
    listeners: () => ee.listenerCount("alerts"),
  };
}
export type AlertHub = ReturnType<typeof createAlertHub>;

// ---------------------------------------------------------------- webhook delivery

export interface WebhookOptions {
  db: Db;
  logger: Logger;
  /** First retry after this many ms, doubling each time up to `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs: number;
  /** Signs each body with HMAC-SHA256 in X-Signature when set. */
  secret?: string;
  timeoutMs?: number;
  batch?: number;
}

/** The delay before try number `attempts + 1`, after `attempts` failures. */
export function backoff(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
}

/**
 * Delivers the due outbox rows once: claims them (pushing their next attempt out by the timeout so another
 * process does not post them too), posts each alert as JSON, and records the outcome. Returns the counts.
 */
export async function deliverWebhooks(o: WebhookOptions): Promise<{ delivered: number; failed: number }> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const now = Date.now();
  const due = await o.db.transaction((tx) =>
    tx.query<Record<string, unknown>>(
      `UPDATE risk_webhook_outbox SET next_attempt_ms = $1::bigint + $2::bigint
       WHERE id IN (SELECT id FROM risk_webhook_outbox WHERE status = 'pending' AND next_attempt_ms <= $1 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING id, alert_id, url, attempts`,
      [now, timeoutMs * 2, o.batch ?? 50],
    ),
  );
  let delivered = 0;
  let failed = 0;
  for (const row of due.sort((a, b) => Number(a.id) - Number(b.id))) {
    const [alert] = await listAlerts(o.db, { afterId: Number(row.alert_id) - 1, limit: 1 });
    const body = JSON.stringify({ type: alert?.cause === "filing" ? "filing.threshold_reached" : "risk.level_rose", alert });
    const headers: Record<string, string> = { "content-type": "application/json", "x-risk-alert-id": String(row.alert_id) };
    if (o.secret) headers["x-signature"] = "sha256=" + createHmac("sha256", o.secret).update(body).digest("hex");
    let error: string | null = null;
    try {
      const res = await fetch(String(row.url), { method: "POST", headers, body, signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    } catch (err) {
      error = (err as Error).message.slice(0, 300);
    }
    const attempts = Number(row.attempts) + 1;
    if (!error) {
      delivered++;
      await o.db.query("UPDATE risk_webhook_outbox SET status = 'delivered', attempts = $2, delivered_ms = $3, last_error = NULL WHERE id = $1", [row.id, attempts, Date.now()]);
    } else {
      failed++;
      const next = Date.now() + backoff(attempts, o.backoffMs, o.maxBackoffMs);
      await o.db.query("UPDATE risk_webhook_outbox SET attempts = $2, next_attempt_ms = $3, last_error = $4 WHERE id = $1", [row.id, attempts, next, error]);
      o.logger.warn({ alertId: Number(row.alert_id), attempts, error, nextAttemptInMs: next - Date.now() }, "risk alert webhook failed; will retry");
    }
  }
  return { delivered, failed };
}

/** Outbox rows, for the API and tests. */
export async function webhookDeliveries(db: Pick<Db, "query">, alertId?: number) {
  const rows = await db.query(
    "SELECT * FROM risk_webhook_outbox WHERE ($1::bigint IS NULL OR alert_id = $1) ORDER BY id",
    [alertId ?? null],
  );
  return rows.map((r) => ({
    alertId: Number(r.alert_id), url: String(r.url), status: String(r.status), attempts: Number(r.attempts),
    nextAttemptMs: Number(r.next_attempt_ms), lastError: r.last_error == null ? null : String(r.last_error),
    deliveredMs: r.delivered_ms == null ? null : Number(r.delivered_ms),
  }));
}
