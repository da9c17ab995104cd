import { Router } from "express";
import { z } from "zod";
import { idText, ledgerRow, page } from "../answers";
import { Principal } from "../auth";
import { Access } from "../access";
import { Gate, defineRoute, address, idParam, wholeNumber, pageQuery, decodeCursor, encodeCursor, JsonText } from "../http";
import { Services, industriesOf } from "../../services/context";
import { LedgerFilter, ledgerChunks, ledgerPageJson } from "../../services/ledger";
import { ledgerRowById, verifyLedgerRow } from "../../services/ledgerVerify";
import { ApiError } from "../errors";
import { merchantIdsWhere } from "../../store/merchants";

type Auth = Gate;

const filterSchema = {
  merchantId: idParam("merchantId").optional(),
  cardId: z.string().regex(/^\d{1,20}$/, "a decimal card id").transform((x) => BigInt(x)).optional(),
  holder: address.optional(),
  event: z.string().regex(/^[A-Za-z]{3,40}$/, "an event name such as LessonsConsumed").optional(),
  fromBlock: wholeNumber.optional(),
  toBlock: wholeNumber.optional(),
  fromTime: wholeNumber.optional(),
  toTime: wholeNumber.optional(),
};

/** What part of the ledger a principal may read: auditors and the bureau all of it, others their own share. */
async function scopeOf(s: Services, p: Principal): Promise<Pick<LedgerFilter, "merchantScope" | "holder">> {
  switch (p.role) {
    case "auditor":
    case "platform_regulator":
      return {};
    case "industry_regulator": {
      const inds = await industriesOf(s.db, p.subject ?? "");
      return { merchantScope: await merchantIdsWhere(s.db, { industries: inds }) };
    }
    case "bank": {
      return { merchantScope: await merchantIdsWhere(s.db, { bankId: Number(p.subject) }) };
    }
    case "merchant":
      return { merchantScope: [Number(p.subject)] };
    default:
      throw new ApiError(403, "Forbidden", "a consumer reads the ledger of their own cards at /v1/cards/:cardId/history");
  }
}

export function auditorRoutes(router: Router, s: Services, auth: Auth) {
  const ledgerAccess: Access = {
    roles: { auditor: "any", platform_regulator: "any", industry_regulator: "scoped", bank: "scoped", merchant: "scoped" },
    notes: { industry_regulator: "the rows of its industries' merchants", bank: "the rows of merchants in custody with it", merchant: "its own rows" },
  };

  defineRoute(router, {
    method: "get", path: "/v1/ledger", tag: "auditors", summary: "Read the ledger with filters", response: page(ledgerRow), access: ledgerAccess,
    query: z.object({ ...pageQuery, ...filterSchema }).strict(),
    handler: async ({ query, principal }) => {
      const { limit, cursor, ...filter } = query;
      const f = { ...filter, ...(await scopeOf(s, principal!)), ...(filter.holder ? { holder: filter.holder } : {}) };
      return new JsonText(await ledgerPageJson(s.db, f, decodeCursor(cursor), limit, encodeCursor));
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/ledger.csv", tag: "auditors", summary: "Export the ledger as CSV (streamed)", produces: "text/csv", response: z.string().describe("id,block_number,block_time,tx_hash,log_index,event,merchant_id,card_id,holder,amount_fen,args"), access: ledgerAccess, raw: true,
    query: z.object(filterSchema).strict(),
    handler: async ({ query, principal, res }) => {
      const scope = await scopeOf(s, principal!);
      res.status(200).type("text/csv").setHeader("content-disposition", 'attachment; filename="ledger.csv"');
      res.write("id,block_number,block_time,tx_hash,log_index,event,merchant_id,card_id,holder,amount_fen,args\n");
      const q = (v: unknown) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
      for await (const chunk of ledgerChunks(s.db, { ...query, ...scope })) {
        const text = chunk.map((r) => [r.id, r.blockNumber, r.blockTime, r.txHash, r.logIndex, r.event, r.merchantId, r.cardId, r.holder, r.amountFen, JSON.stringify(r.args)].map(q).join(",")).join("\n") + "\n";
        if (!res.write(text)) await new Promise((r) => res.once("drain", r));
      }
      res.end();
    },
  }, auth);

  defineRoute(router, {
    method: "get", path: "/v1/ledger/:id/verify", tag: "auditors",
    summary: "Verify a ledger row against the chain", response: z.object({ id: idText, verified: z.boolean(), problems: z.array(z.string()), txHash: z.string(), blockNumber: z.number(), onChain: z.unknown().optional() }), responds: "re-reads the transaction's receipt, its block and the event from the chain and compares every stored column (block, time, transaction, log index, contract, event and its values, merchant, card, holder, amount); each difference is named in problems",
    access: { roles: { auditor: "any", platform_regulator: "any", industry_regulator: "own", bank: "own", merchant: "own" }, tenant: { ledger: "params.id" } },
    params: z.object({ id: z.string().regex(/^\d{1,18}$/, "a ledger row id") }).strict(),
    handler: async ({ params }) => {
      // The access rule has placed the row within the caller's reach; verify reads every stored column of it.
      const row = await ledgerRowById(s.db, params.id);
      if (!row) throw new ApiError(404, "UnknownLedgerRow", `no ledger row ${params.id}`);
      return verifyLedgerRow(s, row);
    },
  }, auth);
}
