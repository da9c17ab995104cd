import { Router } from "express";
import { z } from "zod";
import { voucherJsonSchema } from "../../chain/vouchers";
import { idText, txHash, txResult, card, plan, ledgerRow, page, list } from "../answers";
import { Access } from "../access";
import { Gate, defineRoute, fen, idParam, cardIdParam, pageQuery, decodeCursor, encodeCursor, keysetPage, withStatus, bytes32, JsonText, UINT64_MAX } from "../http";
import { Services, chainNow } from "../../services/context";
import { executeAs } from "../../services/transactions";
import { cardView, planView } from "../../services/views";
import { ledgerPageJson } from "../../services/ledger";
import { ApiError } from "../errors";
import { payoutAccountRef, payoutAccountsOf, savePayoutAccount } from "../../services/lawJobs";
import { cardsPage, plansOf, queuedVouchersPage } from "../../store/records";

type Auth = Gate;

/** A signed voucher in the API: the voucher codec's JSON form (src/chain/vouchers.ts). */
export const voucherSchema = voucherJsonSchema;

/** A merchant's own operations: the merchant itself. */
const itself: Access = { roles: { merchant: "own" }, tenant: { merchant: "params.merchantId" } };
/** A merchant's records: itself, its bank, its industry's regulator, the bureau and auditors. */
const itsRecords: Access = {
  roles: { merchant: "own", bank: "own", industry_regulator: "own", platform_regulator: "any", auditor: "any" },
  tenant: { merchant: "params.merchantId" },
};

export function merchantRoutes(router: Router, s: Services, auth: Auth) {
  const mid = z.object({ merchantId: idParam("merchantId") }).strict();
  const cid = z.object({ cardId: cardIdParam }).strict();

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/plans", tag: "merchants", summary: "List a merchant's plans", response: list(plan),
    access: {
      roles: { merchant: "any", bank: "any", platform_regulator: "any", industry_regulator: "any", auditor: "any", consumer: "any" },
      tenant: { merchant: "params.merchantId" },
    },
    params: mid,
    handler: async ({ params }) => {
      const rows = await plansOf(s.db, params.merchantId);
      return { items: rows.map(planView) };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/plans", tag: "merchants", summary: "Publish a plan", response: txResult, statuses: [201],
    access: itself, params: mid,
    body: z.object({
      kind: z.enum(["lesson", "periodic"]),
      units: z.number().int().min(1).max(65535),
      periodSeconds: z.number().int().min(0).max(2 ** 32 - 1).default(0),
      validityDays: z.number().int().min(0).max(65535).default(0),
      priceFen: fen,
    }).strict(),
    handler: async ({ params, body, principal }) => {
      if (body.priceFen >= 2n ** 48n) throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "body.priceFen", reason: "at most 2^48-1 fen" }]);
      const data = s.escrow.interface.encodeFunctionData("publishPlan", [
        params.merchantId, body.kind === "lesson" ? 1 : 2, body.units, body.periodSeconds, body.validityDays, body.priceFen,
      ]);
      return withStatus(201, await executeAs(s, principal!, data));
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/cards", tag: "merchants", summary: "List a merchant's cards", response: page(card),
    access: itsRecords, params: mid,
    query: z.object({ ...pageQuery, status: z.enum(["active", "refund_requested", "disputed", "refunded", "consumed"]).optional() }).strict(),
    handler: async ({ params, query }) => {
      const after = decodeCursor(query.cursor, UINT64_MAX);
      const rows = await cardsPage(s.db, { merchantId: params.merchantId, afterId: after ?? "0", limit: query.limit + 1, status: query.status });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.card_id);
      const now = await chainNow(s);
      return { items: page.map((r) => cardView(r, now)), nextCursor };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/ledger", tag: "merchants", summary: "Read a merchant's ledger", response: page(ledgerRow),
    access: itsRecords, params: mid,
    query: z.object({ ...pageQuery }).strict(),
    handler: async ({ params, query }) => {
      return new JsonText(await ledgerPageJson(s.db, { merchantId: params.merchantId }, decodeCursor(query.cursor), query.limit, encodeCursor));
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/consumptions", tag: "merchants",
    summary: "Submit consumption vouchers", response: z.object({ accepted: z.number(), ids: z.array(idText) }), statuses: [202], responds: "202 with the queue ids; they go on chain in batches",
    access: itself, params: mid,
    body: z.object({ vouchers: z.array(voucherSchema).min(1).max(1000) }).strict(),
    handler: async ({ params, body }) => {
      const out = await s.queue.accept(params.merchantId, body.vouchers);
      return withStatus(202, { accepted: out.ids.length, ids: out.ids });
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/consumptions", tag: "merchants", summary: "Follow submitted vouchers", response: page(z.object({ id: idText, cardId: idText, sequence: z.number(), lessons: z.number(), status: z.string(), txHash: txHash.nullable(), error: z.unknown().optional() })),
    access: itself, params: mid, query: z.object({ ...pageQuery, status: z.enum(["queued", "sent", "confirmed", "failed"]).optional() }).strict(),
    handler: async ({ params, query }) => {
      const rows = await queuedVouchersPage(s.db, { merchantId: params.merchantId, afterId: decodeCursor(query.cursor) ?? "0", limit: query.limit + 1, status: query.status });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.id);
      return {
        items: page.map((r) => ({ id: String(r.id), cardId: String(r.card_id), sequence: r.sequence, lessons: r.lessons, status: r.status, txHash: r.tx_hash, error: r.error })),
        nextCursor,
      };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/periodic-release", tag: "merchants", summary: "Release a periodic card's elapsed periods", response: txResult,
    // Not offered to consumers: the gateway holds no holder's key, and a holder calls the contract with its own.
    access: { roles: { merchant: "own", bank: "own", industry_regulator: "own", platform_regulator: "any" }, tenant: { card: "params.cardId" } },
    params: cid,
    handler: async ({ params, principal }) => executeAs(s, principal!, s.escrow.interface.encodeFunctionData("releasePeriodic", [params.cardId])),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/payouts", tag: "merchants", summary: "Request a payout of released money", response: txResult, statuses: [201],
    access: { roles: { merchant: "own", bank: "own" }, tenant: { merchant: "params.merchantId" } }, params: mid,
    handler: async ({ params, principal }) => {
      return withStatus(201, await executeAs(s, principal!, s.escrow.interface.encodeFunctionData("payOut", [params.merchantId])));
    },
  }, auth);

  for (const [action, fn] of [["accept", "acceptRefund"], ["reject", "rejectRefund"]] as const) {
    defineRoute(router, {
      method: "post", path: `/v1/cards/:cardId/refund/${action}`, tag: "merchants",
      summary: action === "accept" ? "Accept a refund request" : "Refuse a refund request (it goes to the regulator)", response: txResult,
      access: { roles: { merchant: "own" }, tenant: { card: "params.cardId" } },
      params: cid, body: z.object({ reason: bytes32.optional() }).strict(),
      handler: async ({ params, body, principal }) => {
        const data = fn === "acceptRefund"
          ? s.escrow.interface.encodeFunctionData("acceptRefund", [params.cardId])
          : s.escrow.interface.encodeFunctionData("rejectRefund", [params.cardId, body.reason ?? "0x" + "00".repeat(32)]);
        return executeAs(s, principal!, data);
      },
    }, auth);
  }

  const account = z.object({ ref: z.string(), bankName: z.string().nullable(), accountNumber: z.string().nullable() }).nullable();
  defineRoute(router, {
    method: "get", path: "/v1/merchants/:merchantId/payout-account", tag: "merchants",
    summary: "Read the merchant's payout account in force and the one proposed", response: z.object({ confirmed: account, proposed: account }),
    responds: "each as its on-chain reference with the bank and number it stands for (null when not known to this gateway)",
    access: { roles: { merchant: "own", bank: "own", industry_regulator: "own", platform_regulator: "any", auditor: "any" }, tenant: { merchant: "params.merchantId" } },
    params: mid,
    handler: async ({ params }) => payoutAccountsOf(s.db, params.merchantId),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/payout-account", tag: "merchants",
    summary: "Propose a new payout account (its regulator confirms it)", response: txResult.extend({ ref: z.string() }), statuses: [201],
    access: itself, params: mid,
    body: z.object({ bankName: z.string().min(1).max(100), accountNumber: z.string().regex(/^[0-9 ]{8,40}$/, "digits, spaces allowed") }).strict(),
    handler: async ({ params, body, principal }) => {
      const ref = payoutAccountRef(body.bankName, body.accountNumber);
      await savePayoutAccount(s.db, params.merchantId, ref, body.bankName, body.accountNumber);
      const out = await executeAs(s, principal!, s.escrow.interface.encodeFunctionData("proposePayoutAccount", [params.merchantId, ref]));
      return withStatus(201, { ...out, ref });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/exit", tag: "merchants", summary: "Announce the merchant's exit", response: txResult,
    access: itself, params: mid,
    handler: async ({ params, principal }) => {
      return executeAs(s, principal!, s.escrow.interface.encodeFunctionData("announceExit", [params.merchantId]));
    },
  }, auth);
}
