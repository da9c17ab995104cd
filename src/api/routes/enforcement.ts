import { Router } from "express";
import { z } from "zod";
import { txHash, page, list, report } from "../answers";
import { Principal } from "../auth";
import { Access } from "../access";
import { Gate, defineRoute, idParam, fen, withStatus, decodeTextCursor } from "../http";
import { Services, industriesOf } from "../../services/context";
import { appendEntry, anchorPending, listEntries, verifyRecord, DISCRETION_LEVELS, ORDER_TYPES, EntryInput } from "../../services/enforcement";
import { importOnboarding, onboardingList, onboardingProgress, ONBOARDING_STATES } from "../../services/onboarding";

type Auth = Gate;
/** A merchant's enforcement record: kept by the bureau and the merchant's industry regulator. */
const recordKeepers: Access = { roles: { platform_regulator: "any", industry_regulator: "own" }, tenant: { merchant: "params.merchantId" } };
/** Read in full by its keepers, auditors and the merchant itself; banks and consumers see only the public warnings. */
const recordReaders: Access = { ...recordKeepers, roles: { ...recordKeepers.roles, auditor: "any", merchant: "own" } };

const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date is YYYY-MM-DD").refine((d) => {
  const t = new Date(`${d}T00:00:00Z`);
  return !Number.isNaN(t.getTime()) && t.toISOString().slice(0, 10) === d;
}, "not a calendar date");
const text = (max: number) => z.string().trim().min(1).max(max);
const base = {
  occurredOn: date,
  documentRef: text(120),
  summary: text(2000),
  officerTitle: text(120).optional(),
};

/** One schema per kind of action: each names the facts that kind must carry. */
export const entrySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("warning"), public: z.boolean(), ...base }).strict(),
  z.object({ kind: z.literal("interview"), ...base, details: z.object({ attendees: text(500).optional() }).strict().optional() }).strict(),
  z.object({ kind: z.literal("inspection"), ...base, details: z.object({ findings: text(2000).optional() }).strict().optional() }).strict(),
  z.object({ kind: z.literal("order"), ...base, details: z.object({ order: z.enum(ORDER_TYPES), until: date.optional(), text: text(500).optional() }).strict() }).strict(),
  z.object({
    kind: z.literal("penalty"), ...base,
    details: z.object({ amountFen: fen.transform((v) => v.toString()), discretion: z.enum(DISCRETION_LEVELS), basis: text(500).optional() }).strict(),
  }).strict(),
  z.object({ kind: z.literal("dishonesty_listing"), ...base }).strict(),
  z.object({ kind: z.literal("dishonesty_removal"), ...base }).strict(),
  z.object({ kind: z.literal("police_handover"), ...base, details: z.object({ receivingAuthority: text(200) }).strict() }).strict(),
  z.object({
    kind: z.literal("correction"), ...base, corrects: z.number().int().min(1),
    details: z.object({ withdraw: z.boolean().optional(), summary: text(2000).optional(), documentRef: text(120).optional(), occurredOn: date.optional(), public: z.boolean().optional() })
      .strict().refine((d) => Object.keys(d).length > 0, "say what the correction changes: withdraw, summary, documentRef, occurredOn or public"),
  }).strict(),
]);

export function enforcementRoutes(router: Router, s: Services, auth: Auth) {
  const mid = z.object({ merchantId: idParam("merchantId") }).strict();

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/enforcement", tag: "enforcement",
    summary: "Record an enforcement action", response: z.object({ entry: report({ seq: z.number(), kind: z.string() }), entryHash: txHash, anchor: z.unknown().optional(), anchorError: z.unknown().optional() }), statuses: [201], responds: "201 with the entry, its hash and the anchoring transaction; corrections are new entries",
    access: recordKeepers, params: mid, body: entrySchema,
    handler: async ({ params, body, principal }) => {
      const out = await appendEntry(s, principal!, params.merchantId, body as EntryInput);
      return withStatus(201, { entry: out.content, entryHash: out.entryHash, anchor: out.anchor, anchorError: out.anchorError });
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/enforcement", tag: "enforcement", summary: "Read a merchant's enforcement record", response: list(z.object({ entry: report({ seq: z.number(), kind: z.string(), merchantId: z.number() }), entryHash: txHash, anchor: z.unknown().optional() })),
    access: recordReaders, params: mid,
    handler: async ({ params }) => {
      const entries = await listEntries(s, params.merchantId);
      return { items: entries.map((e) => ({ entry: e.content, entryHash: e.entryHash, anchor: e.anchor })) };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/enforcement/verify", tag: "enforcement",
    summary: "Verify a merchant's enforcement record against the chain", response: z.object({ merchantId: z.number(), ok: z.boolean(), entries: z.number(), anchoredOnChain: z.number(), problems: z.array(report({ seq: z.number().nullable(), problem: z.string() })) }), responds: "ok, and each problem: changed content, broken chain, missing or unanchored entries",
    access: recordReaders, params: mid,
    handler: async ({ params }) => {
      return verifyRecord(s, params.merchantId);
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/enforcement/anchor", tag: "enforcement",
    summary: "Anchor the entries not on chain yet", response: z.object({ anchored: z.unknown().optional() }), access: recordKeepers, params: mid,
    handler: async ({ params }) => {
      return { anchored: await anchorPending(s, params.merchantId) };
    },
  }, auth);

  // ---------------------------------------------------------------- onboarding ledger

  defineRoute(router, {
    method: "post", path: "/v1/onboarding/imports", tag: "enforcement",
    summary: "Import the onboarding ledger of businesses that must be in custody", response: z.object({ importId: z.string(), format: z.string(), rows: z.number(), inserted: z.number(), updated: z.number(), profilesFilled: z.number() }), statuses: [201],
    responds: "CSV (registration_number,name,district,industry_id,required,started_on,note) or JSON rows; rows are replaced by registration number, all or none",
    access: { roles: { platform_regulator: "any" } },
    body: z.union([z.string().min(1), z.array(z.record(z.string(), z.unknown())), z.object({ rows: z.array(z.record(z.string(), z.unknown())) }).strict()]),
    handler: async ({ body, principal }) => withStatus(201, await importOnboarding(s.db, body, principal!.label)),
  }, auth);

  const scope = async (p: Principal) => (p.role === "industry_regulator" ? industriesOf(s.db, p.subject ?? "") : undefined);

  defineRoute(router, {
    method: "get", path: "/v1/onboarding/progress", tag: "enforcement",
    summary: "Count businesses that must be in custody: required, not started, started, onboarded", response: z.object({ overall: report({ onboardedPercent: z.number().nullable() }), industries: z.array(report({ industryId: z.number() })) }),
    access: { roles: { platform_regulator: "any", auditor: "any", industry_regulator: "scoped" }, notes: { industry_regulator: "the businesses of its industries" } },
    handler: async ({ principal }) => onboardingProgress(s.db, await scope(principal!)),
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/onboarding", tag: "enforcement", summary: "List the onboarding ledger (filter: state, industry)", response: page(report({})),
    access: { roles: { platform_regulator: "any", auditor: "any", industry_regulator: "scoped" }, notes: { industry_regulator: "the businesses of its industries" } },
    query: z.object({
      state: z.enum(ONBOARDING_STATES).optional(),
      industryId: z.coerce.number().int().min(0).max(65535).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, "a cursor from a previous page's nextCursor").optional(),
    }).strict(),
    handler: async ({ query, principal }) => {
      const after = decodeTextCursor(query.cursor);
      const page = await onboardingList(s.db, { state: query.state, industryId: query.industryId, industries: await scope(principal!), after, limit: query.limit });
      return { items: page.items, nextCursor: page.next ? Buffer.from(page.next).toString("base64url") : null };
    },
  }, auth);
}
