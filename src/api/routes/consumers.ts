import { Router, Request } from "express";
import { z } from "zod";
import { Principal } from "../auth";
import { defineRoute, address, cardIdParam, pageQuery, decodeCursor, encodeCursor, keysetPage, withStatus, JsonText, UINT64_MAX } from "../http";
import { Services, getMerchant, assertMerchantVisible, chainNow } from "../../services/context";
import { cardView } from "../../services/views";
import { ledgerPageJson } from "../../services/ledger";
import { coalescedLookup } from "../../store/coalesce";
import { consumptionTypedData } from "../../chain/vouchers";
import { relaySigned } from "../../services/transactions";
import { ApiError } from "../../errors";
import { revertToApiError } from "../../chain/signers";
import { voucherSchema } from "./merchants";
import qrcode from "qrcode-generator";

type Auth = (req: Request) => Promise<Principal | null>;

/**
 * Cards by id, the reads of one turn in one statement (every column listed, not *, so the statement can stay
 * prepared: see QueryOptions).
 */
const cardById = coalescedLookup<Record<string, unknown>>(
  `SELECT card_id, merchant_id, holder, plan_index, kind, status, named, held, units_left, units_used, paid_in, direct,
   released, refunded, started_at, expires_at, updated_block FROM cards WHERE card_id = ANY($1::numeric[])`,
  (row) => String(row.card_id),
);

/** A card is visible to its holder, its merchant, its merchant's bank and regulators, and auditors. */
async function visibleCard(s: Services, p: Principal, cardId: bigint) {
  const row = await cardById(s.db, cardId.toString());
  if (!row) throw new ApiError(404, "UnknownCard", `no card ${cardId} in the index`, { cardId: cardId.toString() });
  if (p.role === "consumer") {
    if (String(row.holder).toLowerCase() !== (p.subject ?? "").toLowerCase()) throw new ApiError(403, "Forbidden", "not your card");
  } else {
    await assertMerchantVisible(s.db, p, await getMerchant(s.db, Number(row.merchant_id)));
  }
  return row;
}

export function consumerRoutes(router: Router, s: Services, auth: Auth) {
  const cid = z.object({ cardId: cardIdParam }).strict();
  const all = ["consumer", "merchant", "bank", "platform_regulator", "industry_regulator", "auditor"] as const;

  defineRoute(router, {
    method: "get", path: "/v1/consumers/:holder/cards", tag: "consumers", summary: "List a consumer's cards",
    roles: ["consumer", "platform_regulator", "auditor"], params: z.object({ holder: address }).strict(), query: z.object({ ...pageQuery }).strict(),
    handler: async ({ params, query, principal }) => {
      if (principal!.role === "consumer" && principal!.subject?.toLowerCase() !== params.holder) throw new ApiError(403, "Forbidden", "these are not your cards");
      const rows = await s.db.query(`SELECT * FROM cards WHERE holder = $1 AND card_id > $2 ORDER BY card_id LIMIT ${query.limit + 1}`, [params.holder, decodeCursor(query.cursor, UINT64_MAX) ?? "0"]);
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.card_id);
      const now = await chainNow(s);
      return { items: page.map((r) => cardView(r, now)), nextCursor };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId", tag: "consumers", summary: "Read a card's balance", roles: [...all], params: cid,
    handler: async ({ params, principal }) => cardView(await visibleCard(s, principal!, params.cardId), await chainNow(s)),
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId/history", tag: "consumers", summary: "Read a card's history", roles: [...all], params: cid,
    query: z.object({ ...pageQuery }).strict(),
    handler: async ({ params, query, principal }) => {
      await visibleCard(s, principal!, params.cardId);
      return new JsonText(await ledgerPageJson(s.db, { cardId: params.cardId }, decodeCursor(query.cursor), query.limit, encodeCursor));
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/cards/:cardId/voucher", tag: "consumers",
    summary: "Get the EIP-712 typed data to sign for a consumption", responds: "typed data for eth_signTypedData_v4, and what it releases",
    roles: [...all], params: cid,
    query: z.object({ lessons: z.coerce.number().int().min(1).max(65535).default(1), validSeconds: z.coerce.number().int().min(60).max(30 * 86400).default(86400) }).strict(),
    handler: async ({ params, query, principal }) => {
      const card = await visibleCard(s, principal!, params.cardId);
      if (card.kind !== "lesson") throw new ApiError(409, "NotALessonCard", "a periodic card is released by time, not by vouchers");
      const [q] = await s.db.query<{ next: number | null }>("SELECT max(sequence + lessons) AS next FROM voucher_queue WHERE card_id = $1 AND status IN ('queued', 'sent')", [params.cardId.toString()]);
      const sequence = Math.max(Number(card.units_used), Number(q?.next ?? 0));
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
    summary: "Get the transaction a holder signs to ask for a refund", responds: "{to, data} to sign with the holder's key and POST to /v1/transactions",
    roles: ["consumer"], params: cid, query: z.object({ kind: z.enum(["request", "cooling-off", "cancel", "escalate", "claim"]).default("request") }).strict(),
    handler: async ({ params, query, principal }) => {
      await visibleCard(s, principal!, params.cardId);
      const fn = { request: "requestRefund", "cooling-off": "refundCoolingOff", cancel: "cancelRefundRequest", escalate: "escalateRefund", claim: "claim" }[query.kind] as "requestRefund";
      const data = s.escrow.interface.encodeFunctionData(fn, [params.cardId]);
      // The holder's browser has no node: it gets the nonce and gas to sign with here. A refusal shows now, not after signing.
      const from = principal!.subject!;
      let gas: bigint;
      try {
        gas = await s.provider.estimateGas({ from, to: s.deployment.escrow, data, gasPrice: 0, type: 0 });
      } catch (err) {
        throw revertToApiError(err) ?? new ApiError(409, "Reverted", "the contract would refuse this transaction");
      }
      const nonce = await s.provider.getTransactionCount(from, "pending");
      return { to: s.deployment.escrow, data, chainId: s.chainId, gasPrice: "0", nonce, gasLimit: ((gas * 12n) / 10n + 10_000n).toString() };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/consumptions", tag: "consumers",
    summary: "Hand a voucher the holder signed to the merchant's queue", responds: "202 with the queue id; the merchant's queue sends it on chain",
    roles: ["consumer"], params: cid, body: voucherSchema,
    handler: async ({ params, body, principal }) => {
      const card = await visibleCard(s, principal!, params.cardId);
      if (body.cardId !== params.cardId) throw new ApiError(400, "InvalidRequest", "the request has invalid fields", [{ field: "body.cardId", reason: "not the card of the path" }]);
      const out = await s.queue.accept(Number(card.merchant_id), [body]);
      return withStatus(202, { accepted: out.ids.length, ids: out.ids, merchantId: Number(card.merchant_id) });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/consumption-requests", tag: "merchants",
    summary: "Ask a card's holder to confirm lessons", responds: "a short link to the consumer's page and a QR code of it (SVG) to show on the merchant's device",
    roles: ["merchant"], params: cid, body: z.object({ lessons: z.number().int().min(1).max(65535) }).strict(),
    handler: async ({ params, body, principal, req }) => {
      const card = await visibleCard(s, principal!, params.cardId);
      if (principal!.subject !== String(card.merchant_id)) throw new ApiError(403, "Forbidden", "not your card");
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
    method: "post", path: "/v1/transactions", tag: "consumers", summary: "Relay a transaction its sender signed",
    roles: [...all], body: z.object({ signedTransaction: z.string().regex(/^0x[0-9a-fA-F]+$/, "a 0x hex signed transaction").max(100_000) }).strict(),
    handler: async ({ body, principal }) => relaySigned(s, body.signedTransaction, principal ?? undefined),
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/transactions", tag: "consumers",
    summary: "The caller's transactions: what the gateway signed or relayed for this API key, and how each ended",
    responds: "newest first; state signed | mined | reverted | refused | failed | superseded. A transaction the chain lost (a node restored from an older state) is sent again at the gateway's start; one the contract then refuses (a voucher past its deadline) is 'failed' with the contract's reason in `error`",
    roles: [...all], query: z.object({ ...pageQuery, state: z.enum(["signed", "mined", "reverted", "refused", "failed", "superseded"]).optional() }).strict(),
    handler: async ({ query, principal }) => {
      const rows = await s.journal!.list({ keyId: principal!.keyId, state: query.state, limit: query.limit + 1, before: decodeCursor(query.cursor) ?? undefined });
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.id);
      return { items: page, nextCursor };
    },
  }, auth);
}
