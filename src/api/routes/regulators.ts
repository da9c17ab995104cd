import { Router } from "express";
import { z } from "zod";
import { fenText, idText, txResult, merchant, page, list } from "../answers";
import { ethers } from "ethers";
import { Access } from "../access";
import { Gate, defineRoute, fen, idParam, cardIdParam, pageQuery, decodeCursor, keysetPage, withStatus, address, bytes32 } from "../http";
import { Services, getMerchant, industriesOf } from "../../services/context";
import { executeAs } from "../../services/transactions";
import { merchantView } from "../../services/views";
import { ApiError } from "../errors";
import { recordProfile } from "../../services/onboarding";
import { policyAnswer } from "../../chain/policies";
import { usccSchema } from "../uscc";
import { merchantsPage, riskHistoryOf } from "../../store/merchants";
import { disputesPage, listIndustries } from "../../store/records";

type Auth = Gate;
/** The bureau acts on every merchant; an industry regulator on its industries' merchants. */
const regulatorsOn = (tenant: Access["tenant"]): Access => ({ roles: { platform_regulator: "any", industry_regulator: "own" }, tenant });

const policySchema = z.object({
  custodyBps: z.number().int().min(0).max(10_000),
  coolingOffDays: z.number().int().min(0).max(255),
  exitNoticeDays: z.number().int().min(0).max(65535),
  maxLessons: z.number().int().min(1).max(65535), // 65535: no cap (a cap is never 0)
  maxValidityDays: z.number().int().min(1).max(65535),
  maxCardValueFen: fen,
  maxAnonymousValueFen: fen,
  mediumRiskCap30dFen: fen,
  /** The prepaid balance at which a merchant files (at most 500,000 CNY); left out: the district's in force. */
  filingThresholdFen: fen.optional(),
}).strict();

const reasonOf = (text?: string) => (text ? ethers.id(text) : ethers.ZeroHash);

export function regulatorRoutes(router: Router, s: Services, auth: Auth) {
  const mid = z.object({ merchantId: idParam("merchantId") }).strict();

  defineRoute(router, {
    method: "get", path: "/v1/merchants", tag: "regulators", summary: "List merchants with status, industry, risk and escrow", response: page(merchant),
    access: {
      roles: { platform_regulator: "any", auditor: "any", industry_regulator: "scoped", bank: "scoped" },
      notes: { industry_regulator: "the merchants of its industries", bank: "the merchants in custody with it" },
    },
    query: z.object({
      ...pageQuery,
      status: z.enum(["active", "restricted", "frozen", "winding_down", "exited"]).optional(),
      industryId: z.coerce.number().int().min(0).max(65535).optional(),
      riskLevel: z.enum(["low", "medium", "high"]).optional(),
    }).strict(),
    handler: async ({ query, principal }) => {
      const p = principal!;
      const rows = await merchantsPage(s.db, {
        afterId: decodeCursor(query.cursor) ?? "0", limit: query.limit + 1, status: query.status, industryId: query.industryId, riskLevel: query.riskLevel,
        industries: p.role === "industry_regulator" ? await industriesOf(s.db, p.subject ?? "") : undefined,
        bankId: p.role === "bank" ? Number(p.subject) : undefined,
      });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.merchant_id);
      return { items: page.map(merchantView), nextCursor };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId", tag: "regulators", summary: "Read one merchant", response: merchant.extend({ riskHistory: z.array(z.object({ from: z.string(), to: z.string(), reason: z.string().nullable(), at: z.number() })) }),
    access: {
      roles: { merchant: "own", bank: "own", industry_regulator: "own", platform_regulator: "any", auditor: "any" },
      tenant: { merchant: "params.merchantId" },
    },
    params: mid,
    handler: async ({ params, tenant }) => {
      const m = tenant.merchant ?? (await getMerchant(s.db, params.merchantId));
      const risk = await riskHistoryOf(s.db, params.merchantId);
      return { ...merchantView(m), riskHistory: risk.map((r) => ({ from: r.from_level, to: r.to_level, reason: r.reason, at: Number(r.block_time) })) };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants", tag: "regulators", summary: "Admit a merchant", response: txResult.extend({ merchantId: z.number().nullable() }), statuses: [201],
    // The contract lets the industry's regulator admit into its own industries only; refused here first.
    access: regulatorsOn({ industry: "body.industryId" }),
    body: z.object({
      account: address, industryId: z.number().int().min(0).max(65535), bankId: z.number().int().min(1).max(65535),
      registrationNumber: usccSchema,
      // Public profile (kept off chain; the chain holds the registration number's hash): shown in the public look-up.
      name: z.string().trim().min(1).max(200).optional(),
      district: z.string().trim().min(1).max(100).optional(),
    }).strict(),
    handler: async ({ body, principal }) => {
      const data = s.escrow.interface.encodeFunctionData("admitMerchant", [body.account, body.industryId, body.bankId, ethers.id(body.registrationNumber)]);
      const out = await executeAs(s, principal!, data);
      const ev = out.events.find((e) => e.event === "MerchantAdmitted");
      if (ev) await recordProfile(s.db, Number(ev.args.merchantId), { registrationNumber: body.registrationNumber, name: body.name, district: body.district });
      return withStatus(201, { ...out, merchantId: ev ? Number(ev.args.merchantId) : null });
    },
  }, auth);

  const actions: { path: string; summary: string; build: (id: number, reason: string) => string }[] = [
    { path: "freeze", summary: "Freeze a collapsed merchant", build: (id, r) => s.escrow.interface.encodeFunctionData("freeze", [id, r]) },
    { path: "unfreeze", summary: "Lift a freeze", build: (id, r) => s.escrow.interface.encodeFunctionData("unfreeze", [id, r]) },
    { path: "restrict", summary: "Restrict a merchant (no new cards)", build: (id, r) => s.escrow.interface.encodeFunctionData("restrict", [id, true, r]) },
    { path: "unrestrict", summary: "Lift a restriction", build: (id, r) => s.escrow.interface.encodeFunctionData("restrict", [id, false, r]) },
    { path: "wind-down", summary: "Order a merchant to wind down", build: (id, r) => s.escrow.interface.encodeFunctionData("windDown", [id, r]) },
    // 法释〔2025〕4号: moved far, handed over without consent, cannot serve. Holders may then take their balance back at once.
    { path: "breach", summary: "Record a merchant's breach (every holder may then cancel and take the unused balance back)", build: (id, r) => s.escrow.interface.encodeFunctionData("recordBreach", [id, r]) },
    { path: "clear-breach", summary: "Withdraw a breach record (remedied, or recorded in error)", build: (id, r) => s.escrow.interface.encodeFunctionData("clearBreach", [id, r]) },
    // Released money stuck by a freeze, moved by the regulator's recorded decision (docs/domain.md: nothing stays stuck).
    { path: "frozen-payable/to-holders", summary: "Decide a frozen merchant's released money to its holders (each claim takes its card's share)", build: (id, r) => s.escrow.interface.encodeFunctionData("decideFrozenPayable", [id, true, r]) },
    { path: "frozen-payable/to-merchant", summary: "Decide a frozen merchant's released money to its payout after review", build: (id, r) => s.escrow.interface.encodeFunctionData("decideFrozenPayable", [id, false, r]) },
  ];
  for (const a of actions) {
    defineRoute(router, {
      method: "post", path: `/v1/merchants/:merchantId/${a.path}`, tag: "regulators", summary: a.summary, response: txResult,
      access: regulatorsOn({ merchant: "params.merchantId" }), params: mid, body: z.object({ reason: z.string().min(1).max(500) }).strict(),
      handler: async ({ params, body, principal }) => {
        return executeAs(s, principal!, a.build(params.merchantId, reasonOf(body.reason)));
      },
    }, auth);
  }

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/payout-account/confirmation", tag: "regulators",
    summary: "Confirm the payout account the merchant proposed: payouts go to it from now on", response: txResult,
    access: regulatorsOn({ merchant: "params.merchantId" }), params: mid,
    body: z.object({ account: bytes32.describe("the reference proposed (GET /v1/merchants/:merchantId/payout-account)") }).strict(),
    handler: async ({ params, body, principal }) =>
      executeAs(s, principal!, s.escrow.interface.encodeFunctionData("confirmPayoutAccount", [params.merchantId, body.account])),
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/industries", tag: "regulators", summary: "List industries, their regulators and policies", response: list(z.object({ industryId: z.number(), regulator: z.string().nullable(), policy: z.unknown().optional(), isDefault: z.boolean() })),
    access: { roles: { platform_regulator: "any", industry_regulator: "any", auditor: "any", bank: "any", merchant: "any" } },
    handler: async () => {
      const rows = await listIndustries(s.db);
      return { items: rows.map((r) => ({ industryId: Number(r.industry_id), regulator: r.regulator, policy: policyAnswer(r.policy), isDefault: Number(r.industry_id) === 0 })) };
    },
  }, auth);

  defineRoute(router, {
    method: "put", path: "/v1/industries/:industryId/policy", tag: "regulators", summary: "Set an industry's policy", response: txResult,
    access: regulatorsOn({ industry: "params.industryId" }),
    params: z.object({ industryId: z.coerce.number().int().min(0).max(65535) }).strict(), body: policySchema,
    handler: async ({ params, body, principal }) => {
      const policy = {
        custodyBps: body.custodyBps, coolingOffDays: body.coolingOffDays, exitNoticeDays: body.exitNoticeDays, maxLessons: body.maxLessons,
        maxValidityDays: body.maxValidityDays, maxCardValue: body.maxCardValueFen, maxAnonymousValue: body.maxAnonymousValueFen, mediumRiskCap30d: body.mediumRiskCap30dFen,
        filingThreshold: body.filingThresholdFen ?? (await s.registry.defaultPolicy()).filingThreshold,
      };
      if (policy.filingThreshold >= 2n ** 32n) {
        throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "body.filingThresholdFen", reason: "at most 2^32-1 fen" }]);
      }
      for (const [k, v] of Object.entries({ maxCardValueFen: body.maxCardValueFen, maxAnonymousValueFen: body.maxAnonymousValueFen, mediumRiskCap30dFen: body.mediumRiskCap30dFen })) {
        if (v >= 2n ** 48n) throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: `body.${k}`, reason: "at most 2^48-1 fen" }]);
      }
      const data = params.industryId === 0
        ? s.registry.interface.encodeFunctionData("setDefaultPolicy", [policy])
        : s.registry.interface.encodeFunctionData("setIndustryPolicy", [params.industryId, policy]);
      return executeAs(s, principal!, data, "registry");
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/disputes", tag: "regulators", summary: "List refund disputes to decide", response: page(z.object({
      cardId: idText, merchantId: z.number(), industryId: z.number(), status: z.string(), openedBy: z.string().nullable(), reason: z.string().nullable(),
      amountFen: fenText, openedAt: z.number(), refundedFen: fenText.nullable(), releasedFen: fenText.nullable(), resolvedBy: z.string().nullable(),
    })),
    access: { roles: { platform_regulator: "any", auditor: "any", industry_regulator: "scoped" }, notes: { industry_regulator: "the disputes of its industries" } },
    query: z.object({ ...pageQuery, status: z.enum(["open", "refunded", "denied"]).default("open") }).strict(),
    handler: async ({ query, principal }) => {
      const rows = await disputesPage(s.db, {
        status: query.status, afterId: decodeCursor(query.cursor) ?? "0", limit: query.limit + 1,
        industries: principal!.role === "industry_regulator" ? await industriesOf(s.db, principal!.subject ?? "") : undefined,
      });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.card_id);
      return {
        items: page.map((r) => ({
          cardId: String(r.card_id), merchantId: Number(r.merchant_id), industryId: Number(r.industry_id), status: r.status, openedBy: r.opened_by,
          reason: r.reason, amountFen: String(r.amount), openedAt: Number(r.opened_at), refundedFen: r.refunded == null ? null : String(r.refunded),
          releasedFen: r.released == null ? null : String(r.released), resolvedBy: r.resolved_by,
        })),
        nextCursor,
      };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/disputes/:cardId/decision", tag: "regulators",
    summary: "Decide a dispute", response: txResult, responds: "refundFen 0 denies the refund; otherwise that much goes back and the rest is released. While the merchant is frozen only 0 or the whole balance is accepted: a decision releasing money to it answers 409 Custody_ReleaseWhileFrozen",
    access: regulatorsOn({ card: "params.cardId" }),
    params: z.object({ cardId: cardIdParam }).strict(), body: z.object({ refundFen: fen, note: z.string().max(500).optional() }).strict(),
    handler: async ({ params, body, principal }) => {
      if (body.refundFen >= 2n ** 48n) throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "body.refundFen", reason: "at most 2^48-1 fen" }]);
      return executeAs(s, principal!, s.escrow.interface.encodeFunctionData("resolveDispute", [params.cardId, body.refundFen]));
    },
  }, auth);

  void bytes32;
}
