import { Router, Request, Response, NextFunction } from "express";
import { z } from "zod";
import { hexAddress, page, list, report } from "../answers";
import { ethers } from "ethers";
import { PUBLIC } from "../access";
import { Gate, defineRoute, idParam, address, sendJson, keysetPage, decodeCursor } from "../http";
import { Services } from "../../services/context";
import { BEIJING_INDUSTRIES } from "../../chain/policies";
import { publicWarnings, dishonestyList, EffectiveEntry } from "../../services/enforcement";
import { createChallenge, openSession } from "../../services/consumerSessions";
import { ApiError } from "../errors";
import { profilesOf, publicMerchantById, searchPublicMerchants } from "../../store/merchants";

type Auth = Gate;

/**
 * What anyone may read without signing in (Beijing's rules: check before buying whether a merchant is registered
 * and its prepaid money in custody), and the consumers' sign-in. Only public facts: the merchant's name,
 * registration number and district, industry, status, custodian bank, the custody ratio its industry requires, its
 * risk level, public warnings and serious-dishonesty listings. Never card holders, cards or any balance.
 */

export interface PublicRateOptions {
  /** Requests a client may make at once (the bucket's size). */
  burst: number;
  /** Requests per second a client gets back. */
  perSecond: number;
  /** Clients remembered at most (the fullest buckets are forgotten first: they would be full anyway). */
  maxClients?: number;
}

export const DEFAULT_PUBLIC_RATE: PublicRateOptions = { burst: 60, perSecond: 2, maxClients: 100_000 };

/**
 * A token bucket per client IP. Thirty lines do what is needed here (one process, one limit, a JSON 429 in the API's
 * error shape with Retry-After) without a dependency; several gateway processes behind a proxy would each count on
 * their own, which a shared store (or the proxy's own limit) would fix. Behind a proxy, set express's "trust proxy"
 * so req.ip is the client's address rather than the proxy's.
 */
export function tokenBucket(opts: PublicRateOptions) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const max = opts.maxClients ?? 100_000;
  return (req: Request, res: Response, next: NextFunction) => {
    const key = req.ip ?? req.socket.remoteAddress ?? "unknown";
    const t = Date.now();
    let b = buckets.get(key);
    if (b) {
      b.tokens = Math.min(opts.burst, b.tokens + ((t - b.at) / 1000) * opts.perSecond);
      b.at = t;
      buckets.delete(key); // re-inserted below: the map stays in least-recently-used order
    } else {
      b = { tokens: opts.burst, at: t };
    }
    buckets.set(key, b);
    if (buckets.size > max) buckets.delete(buckets.keys().next().value!);
    res.setHeader("RateLimit-Limit", String(opts.burst));
    if (b.tokens < 1) {
      const wait = Math.ceil((1 - b.tokens) / opts.perSecond);
      res.setHeader("Retry-After", String(wait));
      res.setHeader("RateLimit-Remaining", "0");
      return sendJson(res, 429, { error: { code: "RateLimited", message: `too many requests from ${key}; try again in ${wait} s`, details: { retryAfterSeconds: wait } } });
    }
    b.tokens -= 1;
    res.setHeader("RateLimit-Remaining", String(Math.floor(b.tokens)));
    next();
  };
}

const STATUSES = ["active", "restricted", "frozen", "winding_down", "exited"] as const;
const industryName = new Map(BEIJING_INDUSTRIES.map((i) => [i.id, i.name]));

function custodyBpsOf(policy: unknown): number | null {
  const p = typeof policy === "string" ? JSON.parse(policy) : policy;
  if (p == null) return null;
  if (Array.isArray(p)) return Number(p[0]);
  const o = p as Record<string, unknown>;
  return o.custodyBps != null ? Number(o.custodyBps) : o["0"] != null ? Number(o["0"]) : null;
}

function warningView(w: EffectiveEntry) {
  return { merchantId: w.merchantId, seq: w.seq, date: w.occurredOn, summary: w.summary, documentRef: w.documentRef, corrected: w.correctedBy.length > 0, entryHash: w.entryHash };
}

/** A merchant as the public sees it. Everything here is listed field by field: nothing private can slip in. */
function publicMerchant(s: Services, r: Record<string, unknown>, warnings: EffectiveEntry[], listing: EffectiveEntry | undefined) {
  const bankId = Number(r.bank_id);
  const status = String(r.status);
  const bps = custodyBpsOf(r.industry_policy) ?? custodyBpsOf(r.default_policy);
  return {
    merchantId: Number(r.merchant_id),
    name: (r.name as string | null) ?? null,
    registrationNumber: (r.registration_number as string | null) ?? null,
    district: (r.district as string | null) ?? null,
    industry: { id: Number(r.industry_id), name: industryName.get(Number(r.industry_id)) ?? null },
    status,
    inCustody: status !== "exited",
    custodian: { bankId, name: s.deployment.banks.find((b) => b.bankId === bankId)?.name ?? null },
    requiredCustodyPercent: bps == null ? null : bps / 100,
    riskLevel: String(r.rated_level ?? r.risk_level),
    admittedAt: r.admitted_at == null ? null : Number(r.admitted_at),
    // A breach the regulator recorded (法释〔2025〕4号): every holder may take the unused balance back at once.
    breachRecordedAt: r.breach_recorded_at == null ? null : Number(r.breach_recorded_at),
    warnings: warnings.map(warningView),
    seriousDishonesty: listing ? { listed: true, since: listing.occurredOn, documentRef: listing.documentRef, summary: listing.summary } : { listed: false },
  };
}

async function publicMerchants(s: Services, rows: Record<string, unknown>[]) {
  const ids = rows.map((r) => Number(r.merchant_id));
  const [warnings, listed] = ids.length ? await Promise.all([publicWarnings(s.db, ids), dishonestyList(s.db, ids)]) : [[], []];
  return rows.map((r) => {
    const id = Number(r.merchant_id);
    return publicMerchant(s, r, warnings.filter((w) => w.merchantId === id), listed.find((l) => l.merchantId === id));
  });
}

const xml = (v: unknown) => String(v ?? "").replace(/[<>&'"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]!);

function rss(req: Request, title: string, description: string, items: { title: string; description: string; date: string; guid: string; merchantId: number }[]) {
  const base = `${req.protocol}://${req.get("host") ?? "localhost"}`;
  const body = items.map((i) => `<item><title>${xml(i.title)}</title><link>${xml(`${base}/public/#merchant=${i.merchantId}`)}</link>` +
    `<description>${xml(i.description)}</description><pubDate>${new Date(`${i.date}T00:00:00+08:00`).toUTCString()}</pubDate>` +
    `<guid isPermaLink="false">${xml(i.guid)}</guid></item>`).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>${xml(title)}</title><link>${xml(`${base}/public/`)}</link>` +
    `<description>${xml(description)}</description>\n${body}\n</channel></rss>\n`;
}

function cacheable(res: Response, seconds = 60) {
  res.setHeader("Cache-Control", `public, max-age=${seconds}`);
}

async function namesOf(s: Services, ids: number[]) {
  if (!ids.length) return new Map<number, { name: string | null; registrationNumber: string | null }>();
  const rows = await profilesOf(s.db, ids);
  return new Map(rows.map((r) => [Number(r.merchant_id), { name: r.name, registrationNumber: r.registration_number }]));
}

export function publicRoutes(router: Router, s: Services, auth: Auth, rate: PublicRateOptions = DEFAULT_PUBLIC_RATE) {
  router.use("/v1/public", tokenBucket(rate));

  defineRoute(router, {
    method: "get", path: "/v1/public/merchants", tag: "public", access: PUBLIC,
    summary: "Look merchants up by name, registration number or district", response: page(report({ merchantId: z.number(), name: z.string().nullable(), registrationNumber: z.string().nullable(), district: z.string().nullable(),
      industry: z.object({ id: z.number(), name: z.string().nullable() }), status: z.string(), inCustody: z.boolean(),
      custodian: z.object({ bankId: z.number(), name: z.string().nullable() }), requiredCustodyPercent: z.number().nullable(), riskLevel: z.string(),
      admittedAt: z.number().nullable(), warnings: z.array(z.unknown()), seriousDishonesty: report({ listed: z.boolean() }) })),
    responds: "name, registration number, district, industry, status, custodian bank, required custody ratio, risk level, public warnings; nothing about cards",
    query: z.object({
      q: z.string().trim().min(1).max(100).optional(),
      registrationNumber: z.string().trim().min(1).max(64).optional(),
      district: z.string().trim().min(1).max(100).optional(),
      industryId: z.coerce.number().int().min(0).max(65535).optional(),
      status: z.enum(STATUSES).optional(),
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "a cursor from a previous page's nextCursor").optional(),
    }).strict(),
    handler: async ({ query, res }) => {
      const rows = await searchPublicMerchants(s.db, {
        afterId: decodeCursor(query.cursor) ?? "0", limit: query.limit + 1,
        q: query.q ? { text: query.q, ref: ethers.id(query.q) } : undefined,
        registrationNumber: query.registrationNumber ? { text: query.registrationNumber, ref: ethers.id(query.registrationNumber) } : undefined,
        district: query.district, industryId: query.industryId, status: query.status,
      });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.merchant_id);
      cacheable(res);
      return { items: await publicMerchants(s, page), nextCursor };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/public/merchants/:merchantId", tag: "public", access: PUBLIC,
    summary: "Read one merchant's public facts", response: report({ merchantId: z.number(), name: z.string().nullable(), registrationNumber: z.string().nullable(), district: z.string().nullable(),
      industry: z.object({ id: z.number(), name: z.string().nullable() }), status: z.string(), inCustody: z.boolean(),
      custodian: z.object({ bankId: z.number(), name: z.string().nullable() }), requiredCustodyPercent: z.number().nullable(), riskLevel: z.string(),
      admittedAt: z.number().nullable(), warnings: z.array(z.unknown()), seriousDishonesty: report({ listed: z.boolean() }) }), params: z.object({ merchantId: idParam("merchantId") }).strict(),
    handler: async ({ params, res }) => {
      const row = await publicMerchantById(s.db, params.merchantId);
      const rows = row ? [row] : [];
      if (!row) throw new ApiError(404, "UnknownMerchant", `no merchant ${params.merchantId}`, { merchantId: params.merchantId });
      cacheable(res);
      return (await publicMerchants(s, rows))[0];
    },
  }, auth);

  const warningItems = async () => {
    const list = await publicWarnings(s.db);
    const names = await namesOf(s, [...new Set(list.map((w) => w.merchantId))]);
    return list.map((w) => ({ ...warningView(w), merchantName: names.get(w.merchantId)?.name ?? null, registrationNumber: names.get(w.merchantId)?.registrationNumber ?? null }));
  };
  const listingItems = async () => {
    const list = await dishonestyList(s.db);
    const names = await namesOf(s, list.map((l) => l.merchantId));
    return list.map((l) => ({
      merchantId: l.merchantId, merchantName: names.get(l.merchantId)?.name ?? null, registrationNumber: names.get(l.merchantId)?.registrationNumber ?? null,
      listedOn: l.occurredOn, documentRef: l.documentRef, summary: l.summary, entryHash: l.entryHash,
    }));
  };

  defineRoute(router, {
    method: "get", path: "/v1/public/warnings", tag: "public", access: PUBLIC, summary: "List public warnings about merchants (警示公示)", response: list(report({ merchantId: z.number(), date: z.string(), summary: z.string(), documentRef: z.string(), merchantName: z.string().nullable() })),
    responds: "newest first; also as RSS at /v1/public/warnings.rss",
    handler: async ({ res }) => {
      cacheable(res);
      return { items: await warningItems() };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/public/warnings.rss", tag: "public", access: PUBLIC, summary: "Public warnings as an RSS feed", produces: "application/rss+xml", response: z.string(), raw: true,
    handler: async ({ req, res }) => {
      const items = await warningItems();
      cacheable(res);
      res.type("application/rss+xml; charset=utf-8").send(rss(req, "Prepaid-card merchant warnings", "Public warnings about merchants selling prepaid cards",
        items.map((w) => ({ title: `Warning: ${w.merchantName ?? `merchant ${w.merchantId}`}${w.registrationNumber ? ` (${w.registrationNumber})` : ""}`, description: `${w.summary} [${w.documentRef}]`, date: w.date, guid: w.entryHash, merchantId: w.merchantId }))));
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/public/dishonesty-list", tag: "public", access: PUBLIC, summary: "List merchants on the serious dishonesty list (严重违法失信名单)", response: list(report({ merchantId: z.number(), merchantName: z.string().nullable(), listedOn: z.string(), documentRef: z.string() })),
    responds: "newest listing first; also as RSS at /v1/public/dishonesty-list.rss",
    handler: async ({ res }) => {
      cacheable(res);
      return { items: await listingItems() };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/public/dishonesty-list.rss", tag: "public", access: PUBLIC, summary: "The serious dishonesty list as an RSS feed", produces: "application/rss+xml", response: z.string(), raw: true,
    handler: async ({ req, res }) => {
      const items = await listingItems();
      cacheable(res);
      res.type("application/rss+xml; charset=utf-8").send(rss(req, "Serious dishonesty list: prepaid-card merchants", "Merchants listed as seriously dishonest",
        items.map((l) => ({ title: `Listed: ${l.merchantName ?? `merchant ${l.merchantId}`}${l.registrationNumber ? ` (${l.registrationNumber})` : ""}`, description: `${l.summary} [${l.documentRef}]`, date: l.listedOn, guid: l.entryHash, merchantId: l.merchantId }))));
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/public/chain", tag: "public", access: PUBLIC, summary: "Read the chain and contracts consumers sign for", response: z.object({ chainId: z.number(), escrow: hexAddress, enforcementAnchor: hexAddress.nullable() }),
    responds: "chain id and the escrow's address: the EIP-712 domain a consumer's page checks before signing",
    handler: async ({ res }) => {
      cacheable(res, 300);
      return { chainId: s.chainId, escrow: s.deployment.escrow, enforcementAnchor: s.deployment.enforcementAnchor ?? null };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/public/consumer-sessions/challenge", tag: "public", access: PUBLIC,
    summary: "Ask for a sign-in challenge for a consumer's address", response: z.object({ nonce: z.string(), message: z.string(), expiresAt: z.number() }), responds: "a message to sign with personal_sign (EIP-191), good for 5 minutes",
    body: z.object({ address }).strict(),
    handler: async ({ body, req, res }) => {
      res.setHeader("Cache-Control", "no-store");
      return createChallenge(s.db, body.address, s.chainId, req.get("host") ?? "gateway");
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/public/consumer-sessions", tag: "public", access: PUBLIC,
    summary: "Sign in as a consumer with a signed challenge", response: z.object({ token: z.string(), address: hexAddress, expiresAt: z.number() }), responds: "a session token to send as Authorization: Bearer, good for an hour",
    body: z.object({ address, nonce: z.string().regex(/^[0-9a-f]{32}$/, "the nonce of a challenge"), signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "a 65-byte signature, 0x and 130 hex digits") }).strict(),
    handler: async ({ body, res }) => {
      res.setHeader("Cache-Control", "no-store");
      return openSession(s.db, body.address, body.nonce, body.signature);
    },
  }, auth);
}
