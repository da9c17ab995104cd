// Custodian banks: custody positions (indexed and on-chain side by side), statement reconciliation, the payout queue.

import { api, qs } from "../lib/api.js";
import { h, clear, table, badge, when, short, kpi, errorBox, busy, field, select } from "../lib/dom.js";
import { yuan } from "../lib/money.js";

const bankId = (ctx) => Number(ctx.me.subject);
const agrees = (ok) => h("span", { class: `badge ${ok ? "ok" : "bad"}`, "data-agrees": String(ok), text: ok ? "agrees" : "differs" });

export async function positions(ctx, el) {
  const totals = h("div", { id: "position-totals" });
  const list = h("div", { class: "scroll", id: "position-list" });
  const more = h("button", { type: "button", text: "More", hidden: true });
  const refresh = h("button", { type: "button", text: "Read the chain again" });
  clear(el, h("div", { class: "card" },
    h("div", { class: "row between" }, h("h1", { text: `Custody positions · bank ${bankId(ctx)}` }), refresh),
    h("p", { class: "muted", text: "Each merchant's held and payable money as the gateway indexed it, next to what the escrow contract says now." }),
    totals, h("h3", { text: "Per merchant" }), list, more));
  let cursor = null, rows = [];
  const load = async (reset) => {
    if (reset) { cursor = null; rows = []; }
    const r = await api(`/v1/banks/${bankId(ctx)}/positions${qs({ limit: 100, cursor })}`, { signal: ctx.signal });
    const t = r.total;
    clear(totals, h("div", { class: "kpis" },
      kpi("Indexed (held + payable)", yuan(t.indexedFen)), kpi("Escrow's token balance on chain", yuan(t.onChainEscrowFen)),
      kpi("Token supply (custody account)", yuan(t.tokenSupplyFen)),
      h("div", { class: "kpi", id: "position-agrees" }, h("div", { class: "k", text: "Index and chain" }), h("div", { class: "v" }, agrees(t.agrees)))),
      h("p", { class: "muted mono", text: `custody token ${r.token}` }));
    rows = rows.concat(r.items);
    cursor = r.nextCursor;
    more.hidden = !cursor;
    clear(list, table([
      { label: "Merchant", get: (p) => `#${p.merchantId}` },
      { label: "Status", get: (p) => badge(p.status) },
      { label: "Held · indexed", get: (p) => yuan(p.indexed.heldFen), num: true },
      { label: "Held · on chain", get: (p) => yuan(p.onChain.heldFen), num: true },
      { label: "Payable · indexed", get: (p) => yuan(p.indexed.payableFen), num: true },
      { label: "Payable · on chain", get: (p) => yuan(p.onChain.payableFen), num: true },
      { label: "", get: (p) => agrees(p.agrees) },
    ], rows, { empty: "No merchant is in custody with this bank yet.", key: (p) => p.merchantId }));
  };
  more.addEventListener("click", () => busy(more, list, () => load(false)));
  refresh.addEventListener("click", () => busy(refresh, list, () => load(true)));
  await load(true);
}

const TEMPLATE = "ref,direction,amountFen,txHash,cardId,merchantId\nS-0001,in,100000,,,\nclosing,,100000\n";

export async function reconcile(ctx, el) {
  const file = h("input", { type: "file", id: "statement-file", accept: ".csv,text/csv,text/plain" });
  const text = h("textarea", { id: "statement-text", placeholder: TEMPLATE, spellcheck: "false" });
  const out = h("div", { id: "reconciliation" });
  const go = h("button", { class: "primary", type: "button", id: "reconcile", text: "Reconcile with the chain" });
  file.addEventListener("change", async () => { if (file.files?.[0]) text.value = await file.files[0].text(); });
  go.addEventListener("click", () => busy(go, out, async () => {
    if (!text.value.trim()) throw new Error("choose a statement file or paste the CSV");
    clear(out, h("p", { class: "muted", text: "Reconciling…" }));
    const r = await api(`/v1/banks/${bankId(ctx)}/reconciliations`, { method: "POST", csv: text.value, signal: ctx.signal });
    showResult(out, r);
  }));
  clear(el, h("div", { class: "card" },
    h("h1", { text: "Statement reconciliation" }),
    h("p", { class: "muted" }, "Upload the custody account's statement as CSV: a header ", h("code", { text: "ref,direction,amountFen,txHash,cardId,merchantId" }),
      ", one line per movement (direction in or out, amounts in fen), and a last line ", h("code", { text: "closing,,<balance in fen>" }), ". ",
      "Every movement the contracts ordered for this bank is matched against it."),
    h("div", { class: "row" }, field("Statement file", file)),
    h("p", {}, text), go), out);
}

function showResult(out, r) {
  const line = (x) => x.ref ?? x.event ?? "";
  clear(out, h("div", { class: "card", "data-reconciled": String(r.reconciled) },
    h("div", { class: "row between" }, h("h2", { text: "Result" }),
      h("span", { id: "reconciled", class: `badge ${r.reconciled ? "ok" : "bad"}`, text: r.reconciled ? "reconciled" : "not reconciled" })),
    h("div", { class: "kpis" },
      kpi("Closing balance (statement)", yuan(r.closingBalanceFen)), kpi("Custody on chain (token supply)", yuan(r.onChainCustodyFen)),
      kpi("Difference", yuan(r.differenceFen), { id: "difference" }),
      kpi("Matched", String(r.matched.length), { id: "matched-count" }), kpi("Mismatched", String(r.mismatched.length), { id: "mismatched-count" }),
      kpi("Unmatched", String(r.unmatched.length), { id: "unmatched-count" })),
    r.mismatched.length ? [h("h3", { text: "Mismatched: same movement, different amount" }), table([
      { label: "Statement line", get: line }, { label: "Direction", get: (x) => x.direction }, { label: "Statement", get: (x) => yuan(x.amountFen), num: true },
      { label: "Chain", get: (x) => yuan(x.chainAmountFen), num: true }, { label: "Difference", get: (x) => yuan(x.differenceFen), num: true },
      { label: "Event", get: (x) => x.event }, { label: "Transaction", get: (x) => h("span", { class: "mono", text: short(x.txHash) }) },
    ], r.mismatched)] : null,
    r.unmatched.length ? [h("h3", { text: "Unmatched" }), table([
      { label: "Side", get: (x) => badge(x.side === "chain" ? "chain" : "statement") }, { label: "Line / event", get: line },
      { label: "Direction", get: (x) => x.direction }, { label: "Amount", get: (x) => yuan(x.amountFen), num: true },
      { label: "Merchant", get: (x) => x.merchantId }, { label: "Card", get: (x) => x.cardId }, { label: "Why", get: (x) => x.reason },
    ], r.unmatched)] : null,
    r.matched.length ? h("details", {}, h("summary", { text: `${r.matched.length} matched lines` }), table([
      { label: "Statement line", get: line }, { label: "Direction", get: (x) => x.direction }, { label: "Amount", get: (x) => yuan(x.amountFen), num: true },
      { label: "Event", get: (x) => x.event }, { label: "Transaction", get: (x) => h("span", { class: "mono", text: short(x.txHash) }) },
    ], r.matched)) : null));
}

export async function payouts(ctx, el) {
  const kind = select([["payout", "payouts to merchants"], ["refund", "refunds to consumers"]], "payout", { id: "payout-kind" });
  const list = h("div", { class: "scroll", id: "payout-list" });
  const more = h("button", { type: "button", text: "More", hidden: true });
  clear(el, h("div", { class: "card" },
    h("div", { class: "row between" }, h("h1", { text: "Payout queue" }), field("Show", kind)),
    h("p", { class: "muted", text: "Money the contracts released from custody: pay each line from the custody account to its payee." }), list, more));
  let cursor = null, rows = [];
  const load = async (reset) => {
    if (reset) { cursor = null; rows = []; }
    const r = await api(`/v1/banks/${bankId(ctx)}/payouts${qs({ kind: kind.value, limit: 100, cursor })}`, { signal: ctx.signal });
    rows = rows.concat(r.items);
    cursor = r.nextCursor;
    more.hidden = !cursor;
    const total = rows.reduce((a, x) => a + BigInt(x.amountFen), 0n).toString();
    clear(list, h("p", {}, `${rows.length} lines, `, h("strong", { id: "payout-total", text: yuan(total) })), table([
      { label: "When", get: (x) => when(x.blockTime) }, { label: "Merchant", get: (x) => `#${x.merchantId}` },
      { label: "Card", get: (x) => (x.cardId ? h("span", { class: "mono", text: x.cardId }) : "—") },
      { label: "Payee", get: (x) => (x.payee === "merchant" ? "merchant" : h("span", { class: "mono", title: x.payee, text: short(x.payee) })) },
      { label: "Reason", get: (x) => x.reason ?? "" }, { label: "Amount", get: (x) => yuan(x.amountFen), num: true },
      { label: "Block", get: (x) => x.blockNumber, num: true }, { label: "Transaction", get: (x) => h("span", { class: "mono", title: x.txHash, text: short(x.txHash) }) },
    ], rows, { empty: "Nothing to pay." }));
  };
  kind.addEventListener("change", () => load(true).catch((e) => clear(list, errorBox(e))));
  more.addEventListener("click", () => busy(more, list, () => load(false)));
  await load(true);
}
