import { Router } from "express";
import { ROLES } from "../auth";
import { z } from "zod";
import { fenText, idText, txResult, card, ledgerRow, page, report, hexAddress, txHash } from "../answers";
import { Access } from "../access";
import { Gate, defineRoute, address, cardIdParam, pageQuery, decodeCursor, encodeCursor, keysetPage, withStatus, JsonText, UINT64_MAX } from "../http";
import { Services, chainNow } from "../../services/context";
import { cardView } from "../../services/views";
import { ledgerPageJson } from "../../services/ledger";
import { consumptionTypedData } from "../../chain/vouchers";
import { relaySigned } from "../../services/transactions";
import { ApiError } from "../errors";
import { revertRefusal } from "../../chain/signers";
import { voucherSchema } from "./merchants";
import qrcode from "qrcode-generator";
import { cardsPage, nextQueuedSequence } from "../../store/records";

type Auth = Gate;

/** A card is visible to its holder, its merchant, its merchant's bank and industry regulator, the bureau and auditors. */
const aCard: Access = {
  roles: { consumer: "own", merchant: "own", bank: "own", industry_regulator: "own", platform_regulator: "any", auditor: "any" },
  tenant: { card: "params.cardId" },
};

export function consumerRoutes(router: Router, s: Services, auth: Auth) {
  const cid = z.object({ cardId: cardIdParam }).strict();

  defineRoute(router, {
    method: "get", path: "/v1/consumers/:holder/cards", tag: "consumers", summary: "List a consumer's cards", response: page(card),
    access: { roles: { consumer: "own", platform_regulator: "any", auditor: "any" }, tenant: { holder: "params.holder" } },
    params: z.object({ holder: address }).strict(), query: z.object({ ...pageQuery }).strict(),
    handler: async ({ params, query }) => {
      const rows = await cardsPage(s.db, { holder: params.holder, afterId: decodeCursor(query.cursor, UINT64_MAX) ?? "0", limit: query.limit + 1 });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.card_id);
      const now = await chainNow(s);
      return { items: page.map((r) => cardView(r, now)), nextCursor };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId", tag: "consumers", summary: "Read a card's balance", response: card, access: aCard, params: cid,
    handler: async ({ tenant }) => cardView(tenant.card!, await chainNow(s)),
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId/history", tag: "consumers", summary: "Read a card's history", response: page(ledgerRow), access: aCard, params: cid,
    query: z.object({ ...pageQuery }).strict(),
    handler: async ({ params, query }) => {
      return new JsonText(await ledgerPageJson(s.db, { cardId: params.cardId }, decodeCursor(query.cursor), query.limit, encodeCursor));
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId/voucher", tag: "consumers",
    summary: "Get the EIP-712 typed data to sign for a consumption", response: z.object({ typedData: report({ domain: z.unknown().optional(), types: z.unknown().optional(), message: z.unknown().optional() }), merchantId: z.number(), releasesFen: fenText }), responds: "typed data for eth_signTypedData_v4, and what it releases",
    access: aCard, params: cid,
    query: z.object({ lessons: z.coerce.number().int().min(1).max(65535).default(1), validSeconds: z.coerce.number().int().min(60).max(30 * 86400).default(86400) }).strict(),
    handler: async ({ params, query, tenant }) => {
      const card = tenant.card!;
      if (card.kind !== "lesson") throw new ApiError(409, "NotALessonCard", "a periodic card is released by time, not by vouchers");
      const sequence = Math.max(Number(card.units_used), Number((await nextQueuedSequence(s.db, params.cardId.toString())) ?? 0));
      const left = Number(card.units_left) - (sequence - Number(card.units_used));
      if (query.lessons > left) throw new ApiError(409, "InsufficientLessons", `only ${left} lessons left`, { left });
      const held = BigInt(card.held as string);
      const releases = query.lessons >= left ? held : (held * BigInt(query.lessons)) / BigInt(left);
      const message = { cardId: params.cardId, lessons: query.lessons, sequence, deadline: (await chainNow(s)) + query.validSeconds };
      return { typedData: consumptionTypedData(s.chainId, s.deployment.escrow, message), merchantId: Number(card.merchant_id), releasesFen: releases.toString() };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId/refund-request", tag: "consumers",
    summary: "Get the transaction a holder signs to use a right on the card: a refund, a claim, or a transfer by notice", response: z.object({ to: hexAddress, data: z.string(), chainId: z.number(), gasPrice: z.string(), nonce: z.number(), gasLimit: z.string() }),
    responds: "{to, data} to sign with the holder's key and POST to /v1/transactions. kind: request (a refund of the unused balance), cooling-off, cancel (a request), escalate (to the regulator), claim (a frozen or exited merchant), breach (the regulator recorded the merchant's breach: the unused balance back at once), transfer (to the address in `to`; the merchant is told and cannot block it)",
    access: { roles: { consumer: "own" }, tenant: { card: "params.cardId" } },
    params: cid,
    query: z.object({
      kind: z.enum(["request", "cooling-off", "cancel", "escalate", "claim", "breach", "transfer"]).default("request"),
      to: address.optional(),
    }).strict().superRefine((q, ctx) => {
      if (q.kind === "transfer" && !q.to) ctx.addIssue({ code: "custom", path: ["to"], message: "a transfer needs the new holder's address" });
      if (q.kind !== "transfer" && q.to) ctx.addIssue({ code: "custom", path: ["to"], message: "only a transfer names a new holder" });
    }),
    handler: async ({ params, query, principal }) => {
      const data = query.kind === "transfer"
        ? s.escrow.interface.encodeFunctionData("transferCard", [params.cardId, query.to!])
        : s.escrow.interface.encodeFunctionData(({
          request: "requestRefund", "cooling-off": "refundCoolingOff", cancel: "cancelRefundRequest", escalate: "escalateRefund", claim: "claim", breach: "cancelForBreach",
        } as const)[query.kind] as "requestRefund", [params.cardId]);
      // The holder's browser has no node: it gets the nonce and gas to sign with here. A refusal shows now, not after signing.
      const from = principal!.subject!;
      let gas: bigint;
      try {
        gas = await s.provider.estimateGas({ from, to: s.deployment.escrow, data, gasPrice: 0, type: 0 });
      } catch (err) {
        throw revertRefusal(err) ?? new ApiError(409, "Reverted", "the contract would refuse this transaction");
      }
      const nonce = await s.provider.getTransactionCount(from, "pending");
      return { to: s.deployment.escrow, data, chainId: s.chainId, gasPrice: "0", nonce, gasLimit: ((gas * 12n) / 10n + 10_000n).toString() };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/consumptions", tag: "consumers",
    summary: "Hand a voucher the holder signed to the merchant's queue", response: z.object({ accepted: z.number(), ids: z.array(idText), merchantId: z.number() }), statuses: [202], responds: "202 with the queue id; the merchant's queue sends it on chain",
    access: { roles: { consumer: "own" }, tenant: { card: "params.cardId" } },
    params: cid, body: voucherSchema,
    handler: async ({ params, body, tenant }) => {
      const card = tenant.card!;
      if (body.cardId !== params.cardId) throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "body.cardId", reason: "not the card of the path" }]);
      const out = await s.queue.accept(Number(card.merchant_id), [body]);
      return withStatus(202, { accepted: out.ids.length, ids: out.ids, merchantId: Number(card.merchant_id) });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/consumption-requests", tag: "merchants",
    summary: "Ask a card's holder to confirm lessons", response: z.object({ cardId: idText, lessons: z.number(), path: z.string(), link: z.string(), qrSvg: z.string() }), statuses: [201], responds: "a short link to the consumer's page and a QR code of it (SVG) to show on the merchant's device",
    access: { roles: { merchant: "own" }, tenant: { card: "params.cardId" } },
    params: cid, body: z.object({ lessons: z.number().int().min(1).max(65535) }).strict(),
    handler: async ({ params, body, req, tenant }) => {
      const card = tenant.card!;
      if (card.kind !== "lesson") throw new ApiError(409, "NotALessonCard", "a periodic card is released by time, not by vouchers");
      if (body.lessons > Number(card.units_left)) throw new ApiError(409, "InsufficientLessons", `only ${card.units_left} lessons left`, { left: Number(card.units_left) });
      const path = `/me/#confirm=${params.cardId}.${body.lessons}`;
      const link = `${req.protocol}://${req.get("host") ?? "localhost"}${path}`;
      // The link carries only the card and the lessons: the consumer's page asks the gateway for the voucher itself and
      // checks it before showing it, so a tampered QR code can at worst ask for a different, clearly shown confirmation.
      const qr = qrcode(0, "M");
      qr.addData(link, "Byte");
      qr.make();
      return withStatus(201, { cardId: params.cardId.toString(), lessons: body.lessons, path, link, qrSvg: qr.createSvgTag({ cellSize: 4, margin: 4, scalable: true }) });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/transactions", tag: "consumers", summary: "Relay a transaction its sender signed", response: txResult,
    // Whoever signed the transaction is who acts: the contract checks its sender.
    access: { roles: { consumer: "any", merchant: "any", bank: "any", platform_regulator: "any", industry_regulator: "any", auditor: "any" } },
    body: z.object({ signedTransaction: z.string().regex(/^0x[0-9a-fA-F]+$/, "a 0x hex signed transaction").max(100_000) }).strict(),
    handler: async ({ body, principal }) => relaySigned(s, body.signedTransaction, principal ?? undefined),
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/transactions", tag: "consumers",
    summary: "The caller's transactions: what the gateway signed or relayed for this API key, and how each ended",
    responds: "newest first; state signed | mined | reverted | refused | failed | superseded. A transaction the chain lost (a node restored from an older state) is sent again at the gateway's start; one the contract then refuses (a voucher past its deadline) is 'failed' with the contract's reason in `error`",
    response: page(z.object({
      id: idText, hash: txHash, sender: hexAddress, nonce: z.number(), origin: z.enum(["api", "relay", "vouchers", "risk", "enforcement"]), state: z.string(),
      blockNumber: z.number().nullable(), error: z.object({ name: z.string(), args: z.record(z.string(), z.unknown()).optional(), message: z.string().optional() }).nullable(),
      keyId: z.string().nullable(), resent: z.boolean(), createdAt: z.string(), updatedAt: z.string(),
    })),
    // Each caller sees only what its own key asked for: the rows are chosen by the key, not by an id in the request.
    access: { roles: Object.fromEntries(ROLES.map((r) => [r, "scoped"])), notes: Object.fromEntries(ROLES.map((r) => [r, "what its own key asked for"])) },
    query: z.object({ ...pageQuery, state: z.enum(["signed", "mined", "reverted", "refused", "failed", "superseded"]).optional() }).strict(),
    handler: async ({ query, principal }) => {
      const rows = await s.journal!.list({ keyId: principal!.keyId, state: query.state, limit: query.limit + 1, before: decodeCursor(query.cursor) ?? undefined });
      const { page: items, nextCursor } = keysetPage(rows, query.limit, (r) => r.id);
      return { items, nextCursor };
    },
  }, auth);
}
