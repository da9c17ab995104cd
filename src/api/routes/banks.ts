import { Router } from "express";
import { z } from "zod";
import { fenText, idText, txHash, txResult, page, hexAddress } from "../answers";
import { Gate, defineRoute, fen, idParam, cardIdParam, pageQuery, decodeCursor, keysetPage, withStatus, address } from "../http";
import { Services } from "../../services/context";
import { executeAs } from "../../services/transactions";
import { parseStatementCsv, reconcile, Statement } from "../../services/reconciliation";
import { chainTime, releasableDirect } from "../../services/lawJobs";
import { ApiError } from "../errors";
import { CustodyToken__factory } from "../../../typechain-types";
import { bankById, bankMerchantsPage, bankMovementsPage, bankTotals } from "../../store/banks";

type Auth = Gate;

async function bankRow(s: Services, bankId: number) {
  const b = await bankById(s.db, bankId);
  if (!b) throw new ApiError(404, "UnknownBank", `no bank ${bankId} in the index`, { bankId });
  return b;
}

export function bankRoutes(router: Router, s: Services, auth: Auth) {
  const bid = z.object({ bankId: idParam("bankId") }).strict();

  defineRoute(router, {
    method: "post", path: "/v1/banks/:bankId/cards", tag: "banks", summary: "Open a card once the payment is in custody", response: txResult.extend({ cardId: idText.nullable() }), statuses: [201],
    access: { roles: { bank: "own" }, tenant: { bank: "params.bankId", merchant: "body.merchantId" } },
    params: bid,
    body: z.object({ merchantId: idParam("merchantId"), planIndex: idParam("planIndex"), holder: address, named: z.boolean().default(true) }).strict(),
    handler: async ({ body, principal, tenant }) => {
      if (!tenant.merchant) throw new ApiError(404, "UnknownMerchant", `no merchant ${body.merchantId} in the index`, { merchantId: body.merchantId });
      const out = await executeAs(s, principal!, s.escrow.interface.encodeFunctionData("purchase", [body.merchantId, body.planIndex, body.holder, body.named]));
      const ev = out.events.find((e) => e.event === "CardPurchased");
      return withStatus(201, { ...out, cardId: ev ? String(ev.args.cardId) : null });
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/renewals", tag: "banks", summary: "Top a card up once the payment is in custody", response: txResult, statuses: [201],
    access: { roles: { bank: "own" }, tenant: { card: "params.cardId" } },
    params: z.object({ cardId: cardIdParam }).strict(), body: z.object({ planIndex: idParam("planIndex") }).strict(),
    handler: async ({ params, body, principal }) => {
      return withStatus(201, await executeAs(s, principal!, s.escrow.interface.encodeFunctionData("renew", [params.cardId, body.planIndex])));
    },
  }, auth);

  const cardParams = z.object({ cardId: cardIdParam }).strict();
  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/key-recovery", tag: "banks",
    summary: "Start moving a card whose holder lost the key to a new key (effective after 7 days unless cancelled)", response: txResult, statuses: [201],
    responds: "201 with the KeyRecoveryStarted event (its effectiveAt: 24:00 Beijing time of the seventh day); the holder's key or the bank may cancel until then",
    access: { roles: { bank: "own" }, tenant: { card: "params.cardId" } },
    params: cardParams, body: z.object({ newHolder: address }).strict(),
    handler: async ({ params, body, principal }) =>
      withStatus(201, await executeAs(s, principal!, s.escrow.interface.encodeFunctionData("startKeyRecovery", [params.cardId, body.newHolder]))),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/key-recovery/completion", tag: "banks",
    summary: "Complete a key recovery whose wait is over (the gateway also does it on its own)", response: txResult,
    access: { roles: { bank: "own", platform_regulator: "any" }, tenant: { card: "params.cardId" } },
    params: cardParams,
    handler: async ({ params, principal }) => executeAs(s, principal!, s.escrow.interface.encodeFunctionData("completeKeyRecovery", [params.cardId])),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/cards/:cardId/key-recovery/cancellation", tag: "banks",
    summary: "Withdraw a key recovery the bank started (the holder cancels with its own key: GET /v1/cards/:cardId/refund-request?kind=recovery-cancel)", response: txResult,
    access: { roles: { bank: "own" }, tenant: { card: "params.cardId" } },
    params: cardParams,
    handler: async ({ params, principal }) => executeAs(s, principal!, s.escrow.interface.encodeFunctionData("cancelKeyRecovery", [params.cardId])),
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/merchants/:merchantId/direct-releases", tag: "banks",
    summary: "Hand the merchant the direct shares whose cooling-off ended (the gateway also does it on its own)",
    response: z.object({ cardIds: z.array(idText), txHash: txHash.nullable(), blockNumber: z.number().nullable() }),
    responds: "the cards whose direct share was due, and the releaseDirect transaction (null when none was due)",
    access: { roles: { bank: "own", merchant: "own" }, tenant: { merchant: "params.merchantId" } },
    params: z.object({ merchantId: idParam("merchantId") }).strict(),
    handler: async ({ params, principal }) => {
      const due = await releasableDirect(s.db, await chainTime(s), { merchantId: params.merchantId });
      if (!due.length) return { cardIds: [], txHash: null, blockNumber: null };
      const cardIds = due.map((c) => c.cardId);
      const out = await executeAs(s, principal!, s.escrow.interface.encodeFunctionData("releaseDirect", [cardIds]));
      return { cardIds, txHash: out.txHash, blockNumber: out.blockNumber };
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/banks/:bankId/positions", tag: "banks",
    summary: "Read custody positions, indexed and live from the chain side by side", response: z.object({
      bankId: z.number(), token: hexAddress,
      total: z.object({ indexedFen: fenText, onChainEscrowFen: fenText, tokenSupplyFen: fenText, agrees: z.boolean() }),
      items: z.array(z.object({
        merchantId: z.number(), status: z.string(), indexed: z.object({ heldFen: fenText, payableFen: fenText }),
        onChain: z.object({ heldFen: fenText, payableFen: fenText }), agrees: z.boolean(),
      })),
      nextCursor: z.string().nullable(),
    }),
    access: { roles: { bank: "own", platform_regulator: "any", auditor: "any" }, tenant: { bank: "params.bankId" } },
    params: bid, query: z.object({ ...pageQuery }).strict(),
    handler: async ({ params, query }) => {
      const bank = await bankRow(s, params.bankId);
      const after = decodeCursor(query.cursor) ?? "0";
      const rows = await bankMerchantsPage(s.db, params.bankId, after, query.limit + 1);
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.merchant_id);
      const items = await Promise.all(page.map(async (r) => {
        const held = BigInt(r.paid_in) - BigInt(r.released) - BigInt(r.refunded);
        const payable = BigInt(r.released) - BigInt(r.paid_out);
        const [chainHeld, chainPayable] = await s.escrow.balancesOf(Number(r.merchant_id));
        return {
          merchantId: Number(r.merchant_id), status: r.status,
          indexed: { heldFen: held.toString(), payableFen: payable.toString() },
          onChain: { heldFen: chainHeld.toString(), payableFen: chainPayable.toString() },
          agrees: held === chainHeld && payable === chainPayable,
        };
      }));
      const token = CustodyToken__factory.connect(bank.token, s.provider);
      const [escrowBalance, supply] = await Promise.all([token.balanceOf(s.deployment.escrow), token.totalSupply()]);
      const tot = await bankTotals(s.db, params.bankId);
      const indexedTotal = BigInt(tot.held) + BigInt(tot.payable);
      return {
        bankId: params.bankId, token: bank.token,
        total: { indexedFen: indexedTotal.toString(), onChainEscrowFen: escrowBalance.toString(), tokenSupplyFen: supply.toString(), agrees: indexedTotal === escrowBalance },
        items,
        nextCursor,
      };
    },
  }, auth);

  defineRoute(router, {
    method: "post", path: "/v1/banks/:bankId/reconciliations", tag: "banks",
    summary: "Reconcile a custody-account statement with the chain", response: z.object({
      bankId: z.number(), matched: z.array(z.unknown()), mismatched: z.array(z.unknown()), unmatched: z.array(z.unknown()),
      closingBalanceFen: fenText, onChainCustodyFen: fenText, differenceFen: fenText, reconciled: z.boolean(),
      // With a period's end: the custody at that time, which the closing balance is compared with.
      periodEndCustodyFen: fenText.nullable().optional(),
    }),
    responds: "matched, mismatched and unmatched lines, and the closing balance against the token's supply",
    access: { roles: { bank: "own" }, tenant: { bank: "params.bankId" } }, params: bid,
    body: z.union([
      z.string().min(1, "a CSV statement"),
      z.object({
        fromBlockTime: z.number().int().min(0).optional(),
        toBlockTime: z.number().int().min(0).optional(),
        closingBalanceFen: fen,
        lines: z.array(z.object({
          ref: z.string().min(1).max(100), direction: z.enum(["in", "out"]), amountFen: fen,
          txHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/).optional(), cardId: z.string().regex(/^\d{1,20}$/).optional(), merchantId: z.number().int().min(1).optional(),
        }).strict()).max(100_000),
      }).strict(),
    ]),
    handler: async ({ params, body }) => {
      const bank = await bankRow(s, params.bankId);
      const statement: Statement = typeof body === "string" ? parseStatementCsv(body) : body;
      const supply = await CustodyToken__factory.connect(bank.token, s.provider).totalSupply();
      return reconcile(s.db, params.bankId, statement, supply);
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/banks/:bankId/payouts", tag: "banks", summary: "Read the payout queue: payouts and refunds to pay", response: page(z.object({
      kind: z.enum(["payout", "refund"]), merchantId: z.number(), cardId: idText.optional(), payee: z.string(), amountFen: fenText, reason: z.unknown().optional(),
      txHash, blockNumber: z.number(), blockTime: z.number(),
    })),
    access: { roles: { bank: "own", platform_regulator: "any", auditor: "any" }, tenant: { bank: "params.bankId" } },
    params: bid, query: z.object({ ...pageQuery, kind: z.enum(["payout", "refund"]).default("payout") }).strict(),
    handler: async ({ params, query }) => {
      const after = decodeCursor(query.cursor);
      const rows = await bankMovementsPage(s.db, params.bankId, query.kind, after ?? "-1", query.limit + 1);
      const { page, nextCursor } = keysetPage(rows, query.limit, (r) => r.pos);
      return {
        items: page.map((r) => ({
          kind: query.kind, merchantId: Number(r.merchant_id), cardId: r.card_id == null ? undefined : String(r.card_id),
          // A payout goes to the merchant's confirmed payout account (its reference) when it has one.
          payee: query.kind === "payout" ? (r.account ?? "merchant") : r.holder, amountFen: String(r.amount), reason: r.reason,
          txHash: r.tx_hash, blockNumber: Number(r.block_number), blockTime: Number(r.block_time),
        })),
        nextCursor,
      };
    },
  }, auth);
}
