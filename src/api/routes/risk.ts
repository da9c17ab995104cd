import { Router, Request, Response } from "express";
import { z } from "zod";
import { page, report } from "../answers";
import { Principal } from "../auth";
import { Access } from "../access";
import { Gate, defineRoute, idParam, wholeNumber, pageQuery, decodeCursor, keysetPage, withStatus, sendJson, toJson } from "../http";
import { Services, getMerchant, industriesOf } from "../../services/context";
import { ApiError } from "../errors";
import { Refusal } from "../../errors";
import { Db } from "../../store/db";
import { RISK_LEVELS } from "../../risk/levels";
import { addSignal, importSignalFile, listSignals, merchantsNamedIn, riskSignalSchema, SignalFileFormat, ImportProgress } from "../../risk/ingest";
import { latestRatings, ratingHistory } from "../../risk/ratings";
import { activeOverrides, listOverrides } from "../../risk/overrides";
import { lastAlertId, listAlerts } from "../../risk/alerts";
import { listPushes } from "../../risk/push";
import { beijingDate, creditProfile, levelsOverTime } from "../../risk/reports";
import type { RiskRuntime } from "../../risk/runtime";
import { riskHistoryOf } from "../../store/merchants";
import { currentRatingsPage } from "../../store/records";

type Auth = Gate;
/** The bureau everywhere; an industry regulator on its industries' merchants. */
const regulatorsOn = (tenant: Access["tenant"]): Access => ({ roles: { platform_regulator: "any", industry_regulator: "own" }, tenant });
/** Regulators' and auditors' lists: an industry regulator's holds its industries' merchants only. */
const riskLists: Access = {
  roles: { platform_regulator: "any", auditor: "any", industry_regulator: "scoped" },
  notes: { industry_regulator: "its industries' merchants" },
};
/** A merchant's rating: itself, its bank, its industry's regulator, the bureau and auditors. */
const aMerchantsRisk: Access = {
  roles: { merchant: "own", bank: "own", industry_regulator: "own", platform_regulator: "any", auditor: "any" },
  tenant: { merchant: "params.merchantId" },
};
const level = z.enum(RISK_LEVELS, { message: "low, medium or high" });
/** Bulk files are read up to this size whatever BODY_LIMIT says (CSV sent as text/csv is capped by BODY_LIMIT). */
const IMPORT_MAX_BYTES = 64 * 1024 * 1024;

function runtime(s: Services): RiskRuntime {
  if (!s.risk) throw new ApiError(503, "RiskEngineOff", "the risk engine is not running in this gateway");
  return s.risk;
}

/** The industries a principal may see risk for: null is all of them (the bureau, auditors). */
async function scopeOf(db: Db, p: Principal): Promise<number[] | null> {
  return p.role === "industry_regulator" ? industriesOf(db, p.subject ?? "") : null;
}

/** The file's text, read once: the access check reads it for its merchants before the handler imports it. */
const fileText = new WeakMap<Request, Promise<string>>();
function readText(req: Request): Promise<string> {
  let text = fileText.get(req);
  if (!text) fileText.set(req, (text = readBody(req)));
  return text;
}

async function readBody(req: Request): Promise<string> {
  if (typeof req.body === "string") return req.body;
  if (req.body !== undefined && typeof req.body === "object" && Object.keys(req.body as object).length) {
    throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "body", reason: "send the file as text/csv or application/x-ndjson (JSON Lines), not application/json" }]);
  }
  if (req.readableEnded) return "";
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > IMPORT_MAX_BYTES) throw new ApiError(413, "PayloadTooLarge", `the file is larger than ${IMPORT_MAX_BYTES / 1024 / 1024} MB: split it`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function formatOf(req: Request, text: string, asked?: SignalFileFormat): SignalFileFormat {
  if (asked) return asked;
  const type = (req.header("content-type") ?? "").toLowerCase();
  if (type.includes("csv")) return "csv";
  if (type.includes("ndjson") || type.includes("jsonl") || type.includes("json-seq")) return "jsonl";
  return text.trimStart().startsWith("{") ? "jsonl" : "csv";
}

export function riskRoutes(router: Router, s: Services, auth: Auth) {
  const mid = z.object({ merchantId: idParam("merchantId") }).strict();

  // ---------------------------------------------------------------- signals

  defineRoute(router, {
    method: "post", path: "/v1/risk/signals", tag: "risk", summary: "Add one risk signal", response: z.object({ status: z.enum(["inserted", "duplicate"]), recordId: z.string(), merchantId: z.number(), kind: z.string() }), statuses: [201, 200],
    responds: "201 when stored, 200 when its recordId was already stored (nothing changes). Kinds: complaint, hotline_ticket (category, refundRelated), registry_fact (fact, action, detail), litigation (role, amountFen, caseType)",
    access: regulatorsOn({ merchant: "body.merchantId" }), body: riskSignalSchema,
    handler: async ({ req }) => {
      const out = await addSignal(s.db, req.body).catch((err) => {
        if (err instanceof Refusal && err.kind === "invalid" && Array.isArray(err.details)) {
          throw new ApiError(400, err.code, err.message, (err.details as { field: string; reason: string }[]).map((d) => ({ ...d, field: `body.${d.field}` })));
        }
        throw err;
      });
      return withStatus(out.status === "inserted" ? 201 : 200, { status: out.status, recordId: out.signal.recordId, merchantId: out.signal.merchantId, kind: out.signal.kind });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/risk/signals/import", tag: "risk", summary: "Import a bulk file of risk signals", response: z.object({ status: z.literal("applied"), format: z.enum(["csv", "jsonl"]), importId: z.string(), rows: z.number(), inserted: z.number(), duplicates: z.number() }),
    responds: "The body is the file: CSV with a header line (text/csv) or JSON Lines (application/x-ndjson), the same fields as one signal. " +
      "A file with any bad row is rejected whole (400 InvalidSignalFile, every bad row with its line number and reason); a good file is applied " +
      "in one transaction; rows whose recordId is stored are duplicates and change nothing. With Accept: application/x-ndjson the answer " +
      "streams progress lines {progress:{phase,done,total}} and ends with {result} (or {error})",
    access: {
      ...regulatorsOn({}),
      merchantsIn: async (req) => {
        const text = await readText(req);
        const asked = req.query.format === "csv" || req.query.format === "jsonl" ? req.query.format : undefined;
        return merchantsNamedIn(text, formatOf(req, text, asked)).map((m) => ({ merchantId: m.merchantId, where: `line ${m.line}` }));
      },
    },
    raw: true,
    query: z.object({ format: z.enum(["csv", "jsonl"]).optional() }).strict(),
    body: z.unknown().optional(),
    handler: async ({ req, res, query }) => {
      const text = await readText(req);
      const format = formatOf(req, text, query.format);
      const streaming = (req.header("accept") ?? "").includes("application/x-ndjson");
      let onProgress: ((p: ImportProgress) => void) | undefined;
      if (streaming) {
        res.status(200).type("application/x-ndjson");
        res.flushHeaders();
        onProgress = (p) => res.write(toJson({ progress: p }) + "\n");
      }
      let result;
      try {
        result = await importSignalFile(s.db, text, { format, onProgress, progressEvery: 1000 });
      } catch (err) {
        if (!streaming) throw err;
        res.end(toJson({ error: { code: err instanceof Refusal ? err.code : "Internal", message: (err as Error).message } }) + "\n");
        return;
      }
      if (result.status === "rejected") {
        const error = {
          code: "InvalidSignalFile",
          message: `${result.badRows.length} bad row(s) of ${result.rows}: nothing was imported`,
          details: result.badRows.flatMap((b) => b.problems.map((p) => ({ line: b.line, recordId: b.recordId, field: p.field, reason: p.reason }))),
        };
        if (streaming) res.end(toJson({ error }) + "\n");
        else sendJson(res, 400, { error });
        return;
      }
      const body = { status: result.status, format, importId: result.importId, rows: result.rows, inserted: result.inserted, duplicates: result.duplicates };
      if (streaming) res.end(toJson({ result: body }) + "\n");
      else sendJson(res, 200, body);
    },
  }, auth);

  // ---------------------------------------------------------------- ratings

  defineRoute(router, {
    method: "get", path: "/v1/risk/ratings", tag: "risk", summary: "List merchants' current risk ratings", response: page(z.object({
      merchantId: z.number(), industryId: z.number(), level: z.string(), computedLevel: z.string(), onChainLevel: z.string(), score: z.number(),
      modelVersion: z.string(), computedAt: z.number(), topReasons: z.array(z.string()),
    })),
    access: riskLists,
    query: z.object({ ...pageQuery, level: level.optional(), industryId: z.coerce.number().int().min(0).max(65535).optional() }).strict(),
    handler: async ({ query, principal }) => {
      const scope = await scopeOf(s.db, principal!);
      const rows = await currentRatingsPage(s.db, { afterId: decodeCursor(query.cursor) ?? "0", limit: query.limit + 1, level: query.level ?? null, industryId: query.industryId ?? null, industries: scope });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.merchant_id);
      return {
        items: page.map((r) => ({
          merchantId: Number(r.merchant_id), industryId: Number(r.industry_id), level: r.level, computedLevel: r.computed_level, onChainLevel: r.on_chain_level,
          score: Number(r.score), modelVersion: r.model_version, computedAt: Number(r.computed_at),
          topReasons: (r.explanation as { signal: string }[]).slice(0, 3).map((e) => e.signal),
        })),
        nextCursor,
      };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/risk", tag: "risk", summary: "Read a merchant's current risk rating and why", response: z.object({
      merchantId: z.number(), industryId: z.number(), onChainLevel: z.string(), rating: z.unknown().optional(), pushPending: z.boolean(), lastChange: z.unknown().optional(),
      override: z.unknown().optional(), lastPush: z.unknown().optional(), recentSignals: z.array(report({ recordId: z.string(), kind: z.string(), merchantId: z.number() })),
    }),
    responds: "the level in force, the computed level, the score, the explanation (override and hard rules first, then each signal's value, weight, threshold and contribution), the last change, the on-chain level and pushes",
    access: aMerchantsRisk, params: mid,
    handler: async ({ params, tenant }) => {
      const m = tenant.merchant ?? (await getMerchant(s.db, params.merchantId));
      const [rating] = await latestRatings(s.db, { merchantIds: [params.merchantId] });
      const changes = await ratingHistory(s.db, params.merchantId, { changesOnly: true, limit: 2 });
      const override = (await activeOverrides(s.db, Math.floor(Date.now() / 1000), [params.merchantId])).get(params.merchantId) ?? null;
      const [push] = await listPushes(s.db, params.merchantId, 1);
      return {
        merchantId: params.merchantId, industryId: Number(m.industry_id), onChainLevel: m.risk_level,
        rating: rating ?? null,
        pushPending: rating ? rating.level !== m.risk_level : false,
        lastChange: changes[0] ? { to: changes[0].level, from: changes[1]?.level ?? null, at: changes[0].computedAt, explanation: changes[0].explanation } : null,
        override,
        lastPush: push ?? null,
        recentSignals: await listSignals(s.db, params.merchantId, { limit: 20 }),
      };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/risk/history", tag: "risk", summary: "Read when and why a merchant's risk level changed", response: z.object({
      merchantId: z.number(), ratings: z.array(z.unknown()),
      onChain: z.array(z.object({ from: z.string(), to: z.string(), reason: z.string().nullable(), at: z.number(), txHash: z.string() })),
      overrides: z.array(z.unknown()), pushes: z.array(z.unknown()),
    }),
    responds: "rating changes (or every rating with all=true), newest first, with their explanations; the on-chain level changes; overrides; push attempts",
    access: aMerchantsRisk, params: mid,
    query: z.object({ all: z.enum(["true", "false"]).default("false"), limit: z.coerce.number().int().min(1).max(500).default(100) }).strict(),
    handler: async ({ params, query }) => {
      const ratings = await ratingHistory(s.db, params.merchantId, { changesOnly: query.all !== "true", limit: query.limit });
      const onChain = await riskHistoryOf(s.db, params.merchantId, { newestFirst: true });
      return {
        merchantId: params.merchantId,
        ratings,
        onChain: onChain.map((r) => ({ from: r.from_level, to: r.to_level, reason: r.reason, at: Number(r.block_time), txHash: r.tx_hash })),
        overrides: await listOverrides(s.db, params.merchantId),
        pushes: await listPushes(s.db, params.merchantId, 50),
      };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/risk/override", tag: "risk", summary: "Override a merchant's risk level", response: z.object({ override: z.unknown().optional(), rating: z.unknown().optional(), onChainLevel: z.string(), push: z.unknown().optional() }), statuses: [201],
    responds: "201 with the recorded override, the merchant's new rating and the on-chain push (waited for until mined and indexed, up to 30 s)",
    access: regulatorsOn({ merchant: "params.merchantId" }), params: mid,
    body: z.object({
      level, reason: z.string().trim().min(1, "an override needs its reason").max(2000),
      expiresAt: z.number().int().min(0).max(2 ** 40).optional(),
    }).strict(),
    handler: async ({ params, body, principal }) => {
      const p = principal!;
      const out = await runtime(s).override({ merchantId: params.merchantId, level: body.level, reason: body.reason, officer: `${p.role}:${p.subject ?? p.keyId} (${p.label})`, expiresAt: body.expiresAt });
      const [rating] = await latestRatings(s.db, { merchantIds: [params.merchantId] });
      const m = await getMerchant(s.db, params.merchantId);
      return withStatus(201, { override: out.override, rating, onChainLevel: m.risk_level, push: out.push });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/risk/rate", tag: "risk", summary: "Rate every merchant now (or as of a past moment)", response: report({ rated: z.number(), changed: z.array(z.unknown()), changedTruncated: z.boolean() }),
    responds: "how many were rated, at each level, the changes (rises alert the regulators; changed levels are pushed on chain in the background)",
    access: { roles: { platform_regulator: "any" } },
    body: z.object({
      // Rates as of a past moment (a month's end, a chain whose clock runs behind): never after now, never before a
      // merchant's current rating (409 RatingOutOfOrder).
      asOf: z.number().int().min(0).max(2 ** 40).optional(),
    }).strict().optional(),
    handler: async ({ body }) => {
      const asOf = body?.asOf;
      if (asOf !== undefined && asOf > Math.floor(Date.now() / 1000) + 60) {
        throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "body.asOf", reason: "after now: a rating is of the present or the past" }]);
      }
      const out = await runtime(s).rate({ cause: "rating", ...(asOf !== undefined ? { asOf, exactly: true } : {}) });
      return { ...out, changed: out.changed.slice(0, 500), changedTruncated: out.changed.length > 500 };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/risk/levels-over-time", tag: "risk", summary: "Count merchants per risk level per day", response: z.object({ from: z.string(), to: z.string(), industryId: z.number().nullable(), days: z.array(z.object({ date: z.string(), low: z.number(), medium: z.number(), high: z.number() })) }),
    responds: "one row per Beijing day (at most 366) from `from` to `to` (default: the last 90 days): merchants at low, medium and high by the rating in force at the day's end",
    access: riskLists,
    query: z.object({
      industryId: z.coerce.number().int().min(0).max(65535).optional(),
      from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date, YYYY-MM-DD").optional(),
      to: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date, YYYY-MM-DD").optional(),
    }).strict(),
    handler: async ({ query, principal }) => {
      const to = query.to ?? beijingDate(Math.floor(Date.now() / 1000));
      const from = query.from ?? beijingDate(Date.parse(`${to}T00:00:00+08:00`) / 1000 - 89 * 86_400);
      const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000;
      if (!Number.isFinite(days) || days < 0 || days > 365) {
        throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "query.from", reason: "from is a valid date on or before to, at most 366 days apart" }]);
      }
      const scope = await scopeOf(s.db, principal!);
      return { from, to, industryId: query.industryId ?? null, days: await levelsOverTime(s.db, { from, to, industryId: query.industryId, industries: scope }) };
    },
  }, auth);

  // ---------------------------------------------------------------- alerts

  defineRoute(router, {
    method: "get", path: "/v1/risk/alerts", tag: "risk", summary: "List alerts of merchants whose risk level rose or whose prepaid balance reached the filing threshold (cause filing)", response: page(report({ id: z.number(), merchantId: z.number() })),
    responds: "oldest first from the cursor; an industry regulator sees its industries' merchants",
    access: riskLists,
    query: z.object({ ...pageQuery, merchantId: idParam("merchantId").optional() }).strict(),
    handler: async ({ query, principal }) => {
      const scope = await scopeOf(s.db, principal!);
      const rows = await listAlerts(s.db, { afterId: Number(decodeCursor(query.cursor) ?? 0), industries: scope, merchantId: query.merchantId, limit: query.limit + 1 });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.id);
      return { items: page, nextCursor };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/risk/alerts/stream", tag: "risk", summary: "Follow alerts as Server-Sent Events", produces: "text/event-stream", response: z.string().describe("one `alert` event per alert: id, event: alert, data: the alert as JSON"),
    responds: "text/event-stream: one `alert` event per alert (id: the alert id, data: the alert as JSON). Resumes after the Last-Event-ID header (or ?after=); without either, starts with the next alert. Authenticated with X-API-Key like every route (read it with fetch streaming)",
    access: riskLists, raw: true,
    query: z.object({ after: wholeNumber.optional() }).strict(),
    handler: async ({ req, res, query, principal }) => streamAlerts(s, runtime(s), req, res, await scopeOf(s.db, principal!), query.after),
  }, auth);

  // ---------------------------------------------------------------- credit profile

  defineRoute(router, {
    method: "get", path: "/v1/banks/:bankId/merchants/:merchantId/credit-profile", tag: "risk",
    summary: "Read a merchant's custody record for a loan decision", response: report({ merchantId: z.number(), bankId: z.number(), industryId: z.number(), status: z.string(), asOf: z.number(), monthsOnPlatform: z.unknown().optional(), cardSales: z.unknown().optional(), consumptionRate: z.unknown().optional(), refundRate: z.unknown().optional(), disputeRate: z.unknown().optional(), complaintRate: z.unknown().optional(), risk: z.unknown().optional() }),
    responds: "months on platform, card sales, consumption rate, refund and dispute rates, complaint rate, the risk level and its history, each with the period it covers",
    // The path's merchant must be in custody with the path's bank, whoever asks.
    access: { roles: { bank: "own", platform_regulator: "any", industry_regulator: "own" }, tenant: { bank: "params.bankId", merchant: "params.merchantId" } },
    params: z.object({ bankId: idParam("bankId"), merchantId: idParam("merchantId") }).strict(),
    handler: async ({ params }) => creditProfile(s.db, params.merchantId),
  }, auth);
}

/** Server-Sent Events of alerts after `after` (or Last-Event-ID), woken by the risk engine and every 5 s. */
async function streamAlerts(s: Services, rt: RiskRuntime, req: Request, res: Response, industries: number[] | null, after?: number) {
  const header = Number(req.header("last-event-id"));
  let last = Number.isSafeInteger(header) && header >= 0 && req.header("last-event-id") ? header : after ?? (await lastAlertId(s.db));
  res.status(200).set({ "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
  res.flushHeaders();
  res.write("retry: 3000\n: connected\n\n");
  let closed = false;
  let busy = false;
  let again = false;
  const drain = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const rows = await listAlerts(s.db, { afterId: last, industries, limit: 100 });
        for (const a of rows) {
          if (closed) return;
          res.write(`id: ${a.id}\nevent: alert\ndata: ${toJson(a)}\n\n`);
          last = a.id;
        }
        if (rows.length === 100) again = true;
      } while (again && !closed);
    } catch (err) {
      s.logger.warn({ err: (err as Error).message }, "alert stream read failed");
    } finally {
      busy = false;
    }
  };
  const unsubscribe = rt.hub.subscribe(() => void drain());
  let ticks = 0;
  const timer = setInterval(() => {
    if (++ticks % 3 === 0) res.write(": keep-alive\n\n");
    void drain();
  }, 5_000);
  await drain();
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    res.on("close", done);
    req.on("close", done);
  });
  closed = true;
  unsubscribe();
  clearInterval(timer);
}
