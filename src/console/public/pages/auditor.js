// The ledger explorer: filters, pages, CSV export and, per row, verification against the chain's receipt.

import { api, qs, download } from "../lib/api.js";
import { h, clear, table, when, short, errorBox, busy, field, select, toast } from "../lib/dom.js";
import { yuan } from "../lib/money.js";

const EVENTS = [
  "CardPurchased", "CardRenewed", "LessonsConsumed", "PeriodsReleased", "RefundRequested", "RefundRequestCancelled", "DisputeOpened",
  "DisputeResolved", "CardRefunded", "PaidOut", "MerchantAdmitted", "MerchantStatusChanged", "ExitAnnounced", "RiskLevelSet",
  "PlanPublished", "PlanActiveSet", "BankAdded", "IndustryDefined", "IndustryPolicySet", "DefaultPolicySet",
];

/** "2026-11-23" (a Beijing calendar day) → its first or last second. */
function dayBound(value, end) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return undefined;
  const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 1000 - 8 * 3600;
  return end ? start + 86_399 : start;
}

export async function ledger(ctx, el) {
  const inputs = {
    merchantId: h("input", { class: "narrow", id: "f-merchant", inputmode: "numeric", placeholder: "any" }),
    cardId: h("input", { id: "f-card", inputmode: "numeric", placeholder: "any", size: 16 }),
    holder: h("input", { id: "f-holder", placeholder: "0x…", size: 18 }),
    event: select([["", "any event"], ...EVENTS.map((e) => [e, e])], "", { id: "f-event" }),
    fromBlock: h("input", { class: "narrow", id: "f-from-block", inputmode: "numeric" }),
    toBlock: h("input", { class: "narrow", id: "f-to-block", inputmode: "numeric" }),
    fromDay: h("input", { type: "date", id: "f-from-day" }),
    toDay: h("input", { type: "date", id: "f-to-day" }),
  };
  if (ctx.me.role === "merchant") { inputs.merchantId.value = ctx.me.subject; inputs.merchantId.disabled = true; }
  const out = h("div", { id: "ledger-error" });
  const list = h("div", { class: "scroll", id: "ledger-list" });
  const more = h("button", { type: "button", id: "ledger-more", text: "Next rows", hidden: true });
  const csv = h("button", { type: "button", id: "ledger-csv", text: "Export CSV" });
  const form = h("form", { class: "row", id: "ledger-filters" },
    field("Merchant", inputs.merchantId), field("Card", inputs.cardId), field("Holder", inputs.holder), field("Event", inputs.event),
    field("From block", inputs.fromBlock), field("To block", inputs.toBlock), field("From day", inputs.fromDay), field("To day", inputs.toDay),
    h("button", { type: "submit", class: "primary", id: "ledger-apply", text: "Filter" }), csv);
  clear(el, h("div", { class: "card" }, h("h1", { text: "Ledger" }),
    h("p", { class: "muted", text: "Every event the contracts emitted, in chain order. Verify re-reads a row's receipt from the chain node and compares block, hash and decoded values." }),
    form, out, h("p", { class: "muted", id: "ledger-count" }), list, more));

  const filters = () => {
    const f = {};
    for (const k of ["merchantId", "cardId", "holder", "event", "fromBlock", "toBlock"]) if (inputs[k].value.trim()) f[k] = inputs[k].value.trim();
    const from = dayBound(inputs.fromDay.value, false), to = dayBound(inputs.toDay.value, true);
    if (from !== undefined) f.fromTime = from;
    if (to !== undefined) f.toTime = to;
    return f;
  };
  let cursor = null, rows = [];
  const cols = [
    { label: "Id", get: (r) => r.id, num: true },
    { label: "Block", get: (r) => r.blockNumber, num: true },
    { label: "Time", get: (r) => when(r.blockTime) },
    { label: "Event", get: (r) => h("details", {}, h("summary", { text: r.event }), h("pre", { text: JSON.stringify(r.args, null, 1) })) },
    { label: "Merchant", get: (r) => (r.merchantId ? `#${r.merchantId}` : "—") },
    { label: "Card", get: (r) => (r.cardId ? h("span", { class: "mono", text: r.cardId }) : "—") },
    { label: "Holder", get: (r) => (r.holder ? h("span", { class: "mono", title: r.holder, text: short(r.holder) }) : "—") },
    { label: "Amount", get: (r) => (r.amountFen === null ? "—" : yuan(r.amountFen)), num: true },
    { label: "Transaction", get: (r) => h("span", { class: "mono", title: r.txHash, text: short(r.txHash) }) },
    { label: "Chain", get: (r) => verifyCell(ctx, r) },
  ];
  const load = async (reset) => {
    if (reset) { cursor = null; rows = []; }
    const page = await api(`/v1/ledger${qs({ ...filters(), limit: 100, cursor })}`, { signal: ctx.signal });
    rows = rows.concat(page.items);
    cursor = page.nextCursor;
    more.hidden = !cursor;
    document.getElementById("ledger-count").textContent = `${rows.length} rows${cursor ? " so far" : ""}`;
    clear(list, table(cols, rows, { empty: "No ledger rows match these filters.", key: (r) => r.id }));
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    out.textContent = "";
    load(true).catch((err) => clear(out, errorBox(err)));
  });
  more.addEventListener("click", () => busy(more, out, () => load(false)));
  csv.addEventListener("click", () => busy(csv, out, async () => {
    const bytes = await download(`/v1/ledger.csv${qs(filters())}`, "ledger.csv");
    toast(`ledger.csv saved (${bytes} bytes)`);
  }));
  await load(true);
}

function verifyCell(ctx, r) {
  const cell = h("span", { class: "verify" });
  const b = h("button", { class: "small", type: "button", text: "Verify", "data-verify": r.id });
  b.addEventListener("click", () => busy(b, cell, async () => {
    const v = await api(`/v1/ledger/${r.id}/verify`, { signal: ctx.signal });
    clear(cell, v.verified
      ? h("span", { class: "verify-ok", "data-verified": "true", text: `✓ matches block ${v.blockNumber}` })
      : h("span", { class: "verify-bad", "data-verified": "false", text: `✗ ${v.problems.join("; ")}` }));
    b.remove();
  }));
  return h("span", {}, b, cell);
}
