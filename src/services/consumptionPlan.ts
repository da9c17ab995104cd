/**
 * The consumption queue's decisions, as pure functions of what it knows: which vouchers go into each merchant's next
 * batch, what a refused batch means for its vouchers, how the batches found in blocks ended, and which batches the
 * node has had for too long. The queue (consumptions.ts) reads the store and the node and carries the decisions out;
 * these are tested without a chain or a database (test/gateway/consumption-plan.test.ts).
 */

/** A queued voucher as the decisions need it. */
export interface QueuedRef {
  id: string;
  card_id: string;
}

/**
 * One batch per merchant: its oldest waiting vouchers whose cards have no batch in flight (a card's vouchers go in
 * sequence order, one batch at a time), up to `maxPerTx`. Returns the batches and what stays waiting per merchant.
 */
export function pickBatches<R extends QueuedRef>(
  waiting: Map<string, R[]>,
  busyCards: ReadonlySet<string>,
  maxPerTx: number,
): { batches: [merchantId: string, rows: R[]][]; kept: Map<string, R[]> } {
  const batches: [string, R[]][] = [];
  const kept = new Map<string, R[]>();
  for (const [merchantId, list] of waiting) {
    if (list.length === 0) continue;
    const picked: R[] = [];
    const rest: R[] = [];
    // Within one batch a card's vouchers follow each other in sequence order, which the escrow takes.
    for (const r of list) {
      if (picked.length < maxPerTx && !busyCards.has(r.card_id)) picked.push(r);
      else rest.push(r);
    }
    if (picked.length === 0) continue;
    kept.set(merchantId, rest);
    batches.push([merchantId, picked]);
  }
  return { batches, kept };
}

/** What the escrow said when it refused a batch, decoded (see chain/signers.ts decodeRevert). */
export interface Refusal {
  name: string;
  cardId: string | null;
}

/** What to do with a batch the escrow refused before it was mined (an estimate or a simulated send). */
export type RefusalPlan<R> =
  /** Not the contract's refusal (the node, the network): the batch waits for the next round, as it is. */
  | { kind: "retry" }
  /** The contract refused without naming a card: every voucher of the batch failed with that reason. */
  | { kind: "failAll" }
  /**
   * One card's vouchers are the cause: they are dropped from the batch and the rest is sent again. A sequence
   * mismatch may mean they are on chain already (`settle`: look in the index before failing them); any other reason
   * fails them.
   */
  | { kind: "drop"; cardId: string; settle: boolean; bad: R[]; rest: R[] };

export function planRefusal<R extends QueuedRef>(batch: R[], refusal: Refusal | null): RefusalPlan<R> {
  if (!refusal) return { kind: "retry" };
  if (refusal.cardId === null) return { kind: "failAll" };
  const cardId = refusal.cardId;
  return {
    kind: "drop", cardId, settle: refusal.name.endsWith("SequenceMismatch"),
    bad: batch.filter((r) => r.card_id === cardId), rest: batch.filter((r) => r.card_id !== cardId),
  };
}

/**
 * How the batches found in indexed blocks ended: confirmed when the index holds events of theirs, or when their
 * receipt (asked only for those without events) says success; reverted otherwise (a missing receipt included: the
 * block holds the transaction, so the node will have it; it is asked again after it is sent again).
 */
export function classifyIncluded(
  hashes: string[],
  withEvents: ReadonlySet<string>,
  receiptStatus: ReadonlyMap<string, number | null>,
): { confirmed: string[]; reverted: string[] } {
  const confirmed: string[] = [];
  const reverted: string[] = [];
  for (const h of hashes) {
    if (withEvents.has(h) || receiptStatus.get(h) === 1) confirmed.push(h);
    else reverted.push(h);
  }
  return { confirmed, reverted };
}

/** The batches in flight longer than `lostAfterMs` and not found in a block: the node is asked whether it still has them. */
export function overdue(inFlight: ReadonlyMap<string, { since: number }>, included: ReadonlySet<string>, now: number, lostAfterMs: number): string[] {
  return [...inFlight].filter(([h, f]) => !included.has(h) && now - f.since > lostAfterMs).map(([h]) => h);
}
