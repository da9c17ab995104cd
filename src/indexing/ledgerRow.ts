import type { ArgValue } from "../chain/events";

/**
 * What a ledger row's `amount` column means: the money, in fen, that the event moved in custody, counted once.
 *
 * | event | amount |
 * |---|---|
 * | CardPurchased, CardRenewed | the whole price, into escrow (`args.custodied` + `args.direct`: since the 2025 rules the direct share waits in escrow through the cooling-off) |
 * | LessonsConsumed, PeriodsReleased, DirectShareReleased | released from escrow to the merchant (the direct share once the cooling-off ended) |
 * | DisputeResolved | the merchant's share of the decision, released (`args.released`); the refunded share is the CardRefunded row that follows |
 * | CardRefunded, DirectShareReturned, RenewalRefunded | refunded to the holder, out of custody |
 * | PaidOut | paid out to the merchant, out of custody |
 * | FrozenPayableDecided to the holders | released money of a frozen merchant taken back into custody for its holders (counts against released); to the merchant: null, the PaidOut row after it carries the money |
 * | CardRefunded after FrozenPayableShared | the refund includes the card's share of that money (FrozenPayableShared itself: null) |
 * | any other (RefundRequested included: a request moves nothing; the sum asked is `args.amount`) | null |
 *
 * So summing by event never counts a fen twice: paid in = Σ purchases and renewals; released = Σ lessons, periods,
 * direct shares released and dispute decisions, less frozen payables decided to the holders; refunded = Σ CardRefunded, DirectShareReturned and RenewalRefunded;
 * paid out = Σ PaidOut.
 */
export function ledgerAmount(event: string, args: Record<string, ArgValue>): bigint | null {
  switch (event) {
    case "CardPurchased":
    case "CardRenewed":
      return BigInt(args.custodied as string | number) + BigInt((args.direct as string | number | undefined) ?? 0);
    case "LessonsConsumed":
    case "PeriodsReleased":
    case "DirectShareReleased":
    case "CardRefunded":
    case "DirectShareReturned":
    case "RenewalRefunded":
    case "PaidOut":
      return BigInt(args.amount as string | number);
    case "DisputeResolved":
      return BigInt(args.released as string | number);
    case "FrozenPayableDecided":
      return args.toHolders === true || args.toHolders === "true" ? BigInt(args.amount as string | number) : null;
    default:
      return null;
  }
}

/** The events whose ledger rows carry money (the others' `amount` is null). */
export const MONEY_EVENTS = [
  "CardPurchased", "CardRenewed", "LessonsConsumed", "PeriodsReleased", "DirectShareReleased", "DisputeResolved", "CardRefunded", "DirectShareReturned", "RenewalRefunded", "PaidOut",
  "FrozenPayableDecided",
] as const;

/**
 * A ledger row's party columns as an event determines them: the merchant (`args.merchantId`, else the card's
 * `cardId >> 32`), the card, and the holder when the event names one. `holderNeeded`: the event is about a card but
 * does not name its holder (a consumption, a dispute): the row carries the card's holder, which only its purchase
 * names (a card's holder never changes).
 */
export function ledgerParties(args: Record<string, ArgValue>): { merchantId: number | null; cardId: string | null; holder: string | null; holderNeeded: boolean } {
  const cardId = args.cardId !== undefined ? String(args.cardId) : null;
  const merchantId = args.merchantId !== undefined ? Number(args.merchantId) : cardId !== null ? Number(BigInt(cardId) >> 32n) : null;
  const holder = args.holder !== undefined ? String(args.holder).toLowerCase() : null;
  return { merchantId, cardId, holder, holderNeeded: cardId !== null && holder === null };
}
