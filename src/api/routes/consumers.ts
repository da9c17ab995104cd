import { Router } from "express";
import { ROLES } from "../auth";
import { z } from "zod";
import { fenText, idText, txResult, card, ledgerRow, page, report, hexAddress, txHash } from "../answers";
import { Access } from "../access";
import { Gate, defineRoute, address, cardIdParam, pageQuery, decodeCursor, encodeCursor, keysetPage, withStatus, JsonText, UINT64_MAX } from "../http";
import { Services, chainNow } from "../../services/context";
import { cardView } from "../../services/views";
import { ledgerPageJson } from "../../services/ledger";
import { CardAtSequence, checkInTypedData, consumptionFor, consumptionShare, consumptionTypedData, consumptionTypedDataSchema } from "../../chain/vouchers";
import { sendCheckIn } from "../../services/lawJobs";
import { relaySigned } from "../../services/transactions";
import { ApiError } from "../errors";
import { revertRefusal } from "../../chain/signers";
import { voucherSchema } from "./merchants";
import qrcode from "qrcode-generator";
import { cardsPage, merchantNameOf, queuedAhead } from "../../store/records";

type Auth = Gate;

/** A card is visible to its holder, its merchant, its merchant's bank and industry regulator, the bureau and auditors. */
const aCard: Access = {
  roles: { consumer: "own", merchant: "own", bank: "own", industry_regulator: "own", platform_regulator: "any", auditor: "any" },
  tenant: { card: "params.cardId" },
};

export function consumerRoutes(router: Router, s: Services, auth: Auth) {
  const cid = z.object({ cardId: cardIdParam }).strict();

  /**
   * The card as the next voucher finds it: the vouchers accepted and not yet in the card's row come first, so the new
   * one's sequence follows them and its amount is its share of what they leave (the queue accepts it only so).
   */
  async function nextVoucher(cardId: bigint, card: Record<string, unknown>, lessons: number): Promise<CardAtSequence> {
    const used = Number(card.units_used);
    const q = await queuedAhead(s.db, cardId.toString(), used);
    const sequence = Math.max(used, Number(q.next ?? 0));
    const left = Number(card.units_left) - (sequence - used);
    if (lessons > left) throw new ApiError(409, "InsufficientLessons", `only ${left} lessons left`, { left });
    return { cardId, held: BigInt(card.held as string) - BigInt(q.pending ?? 0), unitsLeft: left, unitsUsed: sequence };
  }

  const merchantName = (merchantId: number) => merchantNameOf(s.db, merchantId);

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
    summary: "Get the EIP-712 typed data to sign for a consumption",
    response: z.object({
      typedData: consumptionTypedDataSchema
        .describe("the whole eth_signTypedData_v4 document (EIP712Domain included): sign it as it is and post its message with v, r, s"),
      merchantId: z.number(), merchantName: z.string().nullable().describe("the merchant's registered name (null: no public profile)"),
      lessons: z.number(), releasesFen: fenText.describe("the amount the voucher carries: what the lessons release from the card, fen"),
    }),
    responds: "typed data for eth_signTypedData_v4, and what it releases, to whom, in words",
    access: aCard, params: cid,
    query: z.object({ lessons: z.coerce.number().int().min(1).max(65535).default(1), validSeconds: z.coerce.number().int().min(60).max(30 * 86400).default(86400) }).strict(),
    handler: async ({ params, query, tenant }) => {
      const card = tenant.card!;
      if (card.kind !== "lesson") throw new ApiError(409, "NotALessonCard", "a periodic card is released by time, not by vouchers");
      const at = await nextVoucher(params.cardId, card, query.lessons);
      const message = consumptionFor(at, query.lessons, (await chainNow(s)) + query.validSeconds);
      return {
        typedData: consumptionTypedData(s.chainId, s.deployment.escrow, message), merchantId: Number(card.merchant_id),
        merchantName: await merchantName(Number(card.merchant_id)), lessons: query.lessons, releasesFen: message.amount.toString(),
      };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId/check-in", tag: "consumers",
    summary: "Get the EIP-712 typed data a time-based card's holder signs to check in (its periods start then)",
    response: z.object({ typedData: report({ domain: z.unknown().optional(), types: z.unknown().optional(), message: z.unknown().optional() }), startsAt: z.number() }),
    responds: "typed data for eth_signTypedData_v4; startsAt: when the periods start without a check-in (the end of the cooling-off)",
    access: aCard, params: cid,
    query: z.object({ validSeconds: z.coerce.number().int().min(60).max(7 * 86400).default(3600) }).strict(),
    handler: async ({ params, query, tenant }) => {
      const card = tenant.card!;
      if (card.kind !== "periodic") throw new ApiError(409, "NotAPeriodicCard", "only a time-based card checks in");
      const now = await chainNow(s);
      if (now >= Number(card.started_at)) throw new ApiError(409, "PeriodsAlreadyStarted", "the card's periods have already started", { startedAt: Number(card.started_at) });
      return { typedData: checkInTypedData(s.chainId, s.deployment.escrow, { cardId: params.cardId, deadline: now + query.validSeconds }), startsAt: Number(card.started_at) };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/check-ins", tag: "consumers",
    summary: "Hand in a check-in the holder signed: the gateway sends it on chain and the card's periods start now", response: txResult, statuses: [201],
    access: { roles: { consumer: "own" }, tenant: { card: "params.cardId" } },
    params: cid,
    body: z.object({
      deadline: z.number().int().min(1).max(2 ** 40 - 1), v: z.number().int().min(27).max(28),
      r: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "r is 0x and 64 hex digits"), s: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "s is 0x and 64 hex digits"),
    }).strict(),
    handler: async ({ params, body, tenant }) => {
      const card = tenant.card!;
      const args: [bigint, number, number, string, string] = [params.cardId, body.deadline, body.v, body.r, body.s];
      try {
        await s.escrow.checkIn.staticCall(...args);
      } catch (err) {
        throw revertRefusal(err) ?? new ApiError(409, "Reverted", "the contract would refuse this check-in");
      }
      const out = await sendCheckIn(s, Number(card.merchant_id), args);
      if (!out) throw new ApiError(409, "NoSender", "the gateway holds neither the merchant's nor its bank's key: send checkIn from the holder's own wallet");
      if (!out.ok) throw new ApiError(409, "Reverted", "the contract refused the check-in", { txHash: out.txHash });
      return withStatus(201, { txHash: out.txHash, blockNumber: out.blockNumber, events: [] });
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId/refund-request", tag: "consumers",
    summary: "Get the transaction a holder signs to use a right on the card: a refund, a claim, or a transfer by notice", response: z.object({ to: hexAddress, data: z.string(), chainId: z.number(), gasPrice: z.string(), nonce: z.number(), gasLimit: z.string() }),
    responds: "{to, data} to sign with the holder's key and POST to /v1/transactions. kind: request (a refund of the unused balance), cooling-off, cancel (a request), escalate (to the regulator), claim (a frozen or exited merchant), breach (the regulator recorded the merchant's breach: the unused balance back at once), transfer (to the address in `to`; the merchant is told and cannot block it), recovery-cancel (the key is not lost: stop the bank's key recovery under way)",
    access: { roles: { consumer: "own" }, tenant: { card: "params.cardId" } },
    params: cid,
    query: z.object({
      kind: z.enum(["request", "cooling-off", "cancel", "escalate", "claim", "breach", "transfer", "recovery-cancel"]).default("request"),
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
          "recovery-cancel": "cancelKeyRecovery",
        } as const)[query.kind] as "requestRefund", [params.cardId]);
      // The holder's browser has no node: it gets the nonce and gas to sign with here. A refusal shows now, not after signing.
      const from = principal!.subject!;
      let gas: bigint;
      try {
        gas = await s.provider.estimateGas({ from, to: s.deployment.escrow, data, gasPrice: 0, type: 0 });
      } catch (err) {
        throw revertRefusal(err) ?? new ApiError(409, "Reverted", "the contract would refuse this transaction");
      }
      // Asked of the node itself: ethers keeps a provider call's answer for a moment (its cacheTimeout), and a holder
      // sending a second transaction right after the first would get the first one's nonce again.
      const nonce = Number(await s.provider.send("eth_getTransactionCount", [from, "pending"]));
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
      const out = await s.queue.accept(Number(card.merchant_id), [body], { single: true });
      return withStatus(202, { accepted: out.ids.length, ids: out.ids, merchantId: Number(card.merchant_id) });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/consumption-requests", tag: "merchants",
    summary: "Ask a card's holder to confirm lessons",
    response: z.object({
      cardId: idText, lessons: z.number(), merchantId: z.number(), merchantName: z.string().nullable(),
      releasesFen: fenText.describe("what the lessons release from the card now: the amount the holder will be asked to sign"),
      path: z.string(), link: z.string(), qrSvg: z.string(),
    }),
    statuses: [201], responds: "a short link to the consumer's page and a QR code of it (SVG) to show on the merchant's device, and what the holder will sign",
    access: { roles: { merchant: "own" }, tenant: { card: "params.cardId" } },
    params: cid, body: z.object({ lessons: z.number().int().min(1).max(65535) }).strict(),
    handler: async ({ params, body, req, tenant }) => {
      const card = tenant.card!;
      if (card.kind !== "lesson") throw new ApiError(409, "NotALessonCard", "a periodic card is released by time, not by vouchers");
      const at = await nextVoucher(params.cardId, card, body.lessons);
      const releases = consumptionShare(at.held, at.unitsLeft, body.lessons);
      const path = `/me/#confirm=${params.cardId}.${body.lessons}`;
      const link = `${req.protocol}://${req.get("host") ?? "localhost"}${path}`;
      // The link carries only the card and the lessons: the consumer's page asks the gateway for the voucher itself and
      // checks it before showing it, so a tampered QR code can at worst ask for a different, clearly shown confirmation.
      const qr = qrcode(0, "M");
      qr.addData(link, "Byte");
      qr.make();
      return withStatus(201, {
        cardId: params.cardId.toString(), lessons: body.lessons, merchantId: Number(card.merchant_id), merchantName: await merchantName(Number(card.merchant_id)),
        releasesFen: releases.toString(), path, link, qrSvg: qr.createSvgTag({ cellSize: 4, margin: 4, scalable: true }),
      });
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
