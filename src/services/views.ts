/** Row shapes the API answers with: money as decimal strings of fen, ids as numbers or decimal strings. */

const s = (v: unknown) => (v === null || v === undefined ? null : String(v));
const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function merchantView(r: Record<string, unknown>) {
  const paidIn = BigInt(r.paid_in as string), released = BigInt(r.released as string), refunded = BigInt(r.refunded as string), paidOut = BigInt(r.paid_out as string);
  return {
    merchantId: n(r.merchant_id), account: r.account, industryId: n(r.industry_id), bankId: n(r.bank_id), registryRef: r.registry_ref,
    status: r.status, riskLevel: r.risk_level, exitEffectiveAt: n(r.exit_effective_at),
    paidInFen: paidIn.toString(), directFen: s(r.direct), releasedFen: released.toString(), refundedFen: refunded.toString(),
    paidOutFen: paidOut.toString(), heldFen: (paidIn - released - refunded).toString(), payableFen: (released - paidOut).toString(),
    cardCount: n(r.card_count), admittedAt: n(r.admitted_at), breachRecordedAt: n(r.breach_recorded_at),
    holderPoolFen: s(r.holder_pool ?? 0)!, payoutAccount: s(r.payout_account), payoutAccountProposed: s(r.payout_account_proposed),
  };
}

export function cardView(r: Record<string, unknown>, nowSec = Math.floor(Date.now() / 1000)) {
  const expiresAt = Number(r.expires_at);
  let status = String(r.status);
  if (status === "active" && expiresAt !== 0 && nowSec >= expiresAt) status = "expired";
  return {
    cardId: s(r.card_id), merchantId: n(r.merchant_id), holder: r.holder, planIndex: n(r.plan_index), kind: r.kind, status, named: r.named,
    heldFen: s(r.held), unitsLeft: n(r.units_left), unitsUsed: n(r.units_used), paidInFen: s(r.paid_in), directFen: s(r.direct),
    releasedFen: s(r.released), refundedFen: s(r.refunded), startedAt: n(r.started_at), expiresAt: expiresAt || null,
    recoveryTo: s(r.recovery_to), recoveryEffectiveAt: n(r.recovery_effective_at),
  };
}

export function ledgerView(r: Record<string, unknown>) {
  return {
    id: s(r.id), blockNumber: n(r.block_number), blockHash: r.block_hash, blockTime: n(r.block_time), txHash: r.tx_hash,
    logIndex: n(r.log_index), contract: r.contract, event: r.event, merchantId: n(r.merchant_id), cardId: s(r.card_id), holder: r.holder,
    amountFen: s(r.amount), args: typeof r.args === "string" ? JSON.parse(r.args) : r.args,
  };
}

export function planView(r: Record<string, unknown>) {
  return {
    merchantId: n(r.merchant_id), planIndex: n(r.plan_index), kind: r.kind, units: n(r.units), periodSeconds: n(r.period_seconds),
    validityDays: n(r.validity_days), priceFen: s(r.price), active: r.active,
  };
}
