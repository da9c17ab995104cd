import { z } from "zod";

/**
 * The shapes the API answers with, declared once: /openapi.json documents them and, with CUSTODY_CHECK_ANSWERS=1 (the
 * test suite), every answer is checked against its route's before it is sent (src/api/http.ts).
 */

/** Money in fen as a decimal string (signed where a difference is shown). */
export const fenText = z.string().regex(/^-?\d+$/).describe("fen, a decimal string");
export const idText = z.string().regex(/^\d+$/);
export const hexAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/);
export const txHash = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
const num = z.number();
const nnum = z.number().nullable();

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });
export const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

/** A transaction the gateway sent (or relayed), mined and indexed: its decoded events. */
export const txResult = z.object({
  txHash,
  blockNumber: num,
  events: z.array(z.object({ event: z.string(), args: z.record(z.string(), z.unknown()) })),
});

export const merchant = z.object({
  merchantId: nnum, account: z.string(), industryId: nnum, bankId: nnum, registryRef: z.string().nullable(),
  status: z.string(), riskLevel: z.string(), exitEffectiveAt: nnum,
  paidInFen: fenText, directFen: fenText.nullable(), releasedFen: fenText, refundedFen: fenText, paidOutFen: fenText, heldFen: fenText, payableFen: fenText,
  cardCount: nnum, admittedAt: nnum,
  /** When the responsible regulator recorded the merchant's breach (null: none on record). */
  breachRecordedAt: nnum.optional(),
  /** Released money a regulator decided to the holders of the frozen merchant, not yet claimed (part of heldFen). */
  holderPoolFen: fenText.optional(),
  /** The payout account's reference in force, and the one proposed awaiting its regulator (null: none). */
  payoutAccount: z.string().nullable().optional(),
  payoutAccountProposed: z.string().nullable().optional(),
});

export const card = z.object({
  cardId: idText.nullable(), merchantId: nnum, holder: z.string(), planIndex: nnum, kind: z.string(), status: z.string(), named: z.boolean(),
  heldFen: fenText.nullable(), unitsLeft: nnum, unitsUsed: nnum, paidInFen: fenText.nullable(), directFen: fenText.nullable(),
  releasedFen: fenText.nullable(), refundedFen: fenText.nullable(), startedAt: nnum, expiresAt: nnum,
  /** A lost key's recovery under way: the new key and when it takes effect (null: none). */
  recoveryTo: z.string().nullable().optional(), recoveryEffectiveAt: nnum.optional(),
});

export const plan = z.object({
  merchantId: nnum, planIndex: nnum, kind: z.string(), units: nnum, periodSeconds: nnum, validityDays: nnum, priceFen: fenText.nullable(), active: z.boolean(),
});

export const ledgerRow = z.object({
  id: idText, blockNumber: num, blockHash: z.string(), blockTime: num, txHash: z.string(), logIndex: num, contract: z.string(), event: z.string(),
  merchantId: nnum, cardId: idText.nullable(), holder: z.string().nullable(), amountFen: fenText.nullable(), args: z.record(z.string(), z.unknown()),
});

export const ticket = z.object({
  ticketId: z.string(), merchantId: num, industryId: num, category: z.string(), summary: z.string(), receivedAt: num, status: z.string(),
  assignee: z.string(), queue: z.enum(["bureau", "industry"]), routedAt: z.unknown().optional(), closedAt: z.unknown().optional(), resolution: z.string().nullable().optional(),
});

/** An answer with these fields at least (a report whose further fields are documented in its description). */
export const report = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape);

/** Every refusal and failure: `{ error: { code, message, details } }` (src/api/app.ts writes them, in one place). */
export const errorAnswer = z.object({
  error: z.object({
    code: z.string().describe("a stable name: InvalidRequest, Forbidden, UnknownCard, a contract's custom error…"),
    message: z.string(),
    details: z.unknown().optional().describe("for 400: [{ field, reason }]; for contract refusals: the custom error's arguments"),
  }),
});
