// The ledger explorer: filters, pages, CSV export and, per row, verification against the chain's receipt.

import { api, qs, download } from "../lib/api.js";
import { h, clear, table, when, short, errorBox, busy, field, select, toast } from "../lib/dom.js";
import { yuan } from "../lib/money.js";
import { t, tOr } from "/web-public/shared/i18n.js";
import { loadMerchantNames, merchantName } from "../lib/names.js";
import { dayBound } from "./bank.js";

const EVENTS = [
  "CardPurchased", "CardRenewed", "LessonsConsumed", "PeriodsReleased", "RefundRequested", "RefundRequestCancelled", "DisputeOpened",
  "DisputeResolved", "CardRefunded", "PaidOut", "MerchantAdmitted", "MerchantStatusChanged", "ExitAnnounced", "RiskLevelSet",
  "PlanPublished", "PlanActiveSet", "BankAdded", "IndustryDefined", "IndustryPolicySet", "DefaultPolicySet",
];


export async function ledger(ctx, el) {
  const inputs = {
    merchantId: h("input", { class: "narrow", id: "f-merchant", inputmode: "numeric", placeholder: t("filter.any") }),
    cardId: h("input", { id: "f-card", inputmode: "numeric", placeholder: t("filter.any"), size: 16 }),
    holder: h("input", { id: "f-holder", placeholder: "0x…", size: 18 }),
    event: select([["", t("filter.anyEvent")], ...EVENTS.map((e) => [e, tOr(`event.${e}`, e)])], "", { id: "f-event" }),
    fromBlock: h("input", { class: "narrow", id: "f-from-block", inputmode: "numeric" }),
    toBlock: h("input", { class: "narrow", id: "f-to-block", inputmode: "numeric" }),
    fromDay: h("input", { type: "date", id: "f-from-day" }),
    toDay: h("input", { type: "date", id: "f-to-day" }),
  };
  if (ctx.me.role === "merchant") { inputs.merchantId.value = ctx.me.subject; inputs.merchantId.disabled = true; }
  const out = h("div", { id: "ledger-error" });
  const list = h("div", { class: "scroll", id: "ledger-list" });
  const more = h("button", { type: "button", id: "ledger-more", text: t("ledger.next"), hidden: true });
  const csv = h("button", { type: "button", id: "ledger-csv", text: t("action.exportCsv") });
  const form = h("form", { class: "row", id: "ledger-filters" },
    field(t("ledger.merchantNo"), inputs.merchantId), field(t("col.card"), inputs.cardId), field(t("col.holder"), inputs.holder), field(t("reconcile.event"), inputs.event),
    field(t("ledger.fromBlock"), inputs.fromBlock), field(t("ledger.toBlock"), inputs.toBlock), field(t("ledger.fromDay"), inputs.fromDay), field(t("ledger.toDay"), inputs.toDay),
    h("button", { type: "submit", class: "primary", id: "ledger-apply", text: t("action.filter") }), csv);
  clear(el, h("div", { class: "card" }, h("h1", { text: t("nav.ledger") }),
    h("p", { class: "muted", text: t("ledger.help") }),
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
    { label: t("ledger.id"), get: (r) => r.id, num: true },
    { label: t("col.block"), get: (r) => r.blockNumber, num: true },
    { label: t("ledger.time"), get: (r) => when(r.blockTime) },
    { label: t("reconcile.event"), get: (r) => h("details", {}, h("summary", { "data-event": r.event, text: tOr(`event.${r.event}`, r.event) }), h("pre", { text: JSON.stringify(r.args, null, 1) })) },
    { label: t("col.merchant"), get: (r) => (r.merchantId ? merchantName(r.merchantId) : "—") },
    { label: t("col.card"), get: (r) => (r.cardId ? h("span", { class: "mono", text: r.cardId }) : "—") },
    { label: t("col.holder"), get: (r) => (r.holder ? h("span", { class: "mono", title: r.holder, text: short(r.holder) }) : "—") },
    { label: t("reconcile.amount"), get: (r) => (r.amountFen === null ? "—" : yuan(r.amountFen)), num: true },
    { label: t("col.tx"), get: (r) => h("span", { class: "mono", title: r.txHash, text: short(r.txHash) }) },
    { label: t("ledger.chain"), get: (r) => verifyCell(ctx, r) },
  ];
  const load = async (reset) => {
    if (reset) { cursor = null; rows = []; }
    const page = await api(`/v1/ledger${qs({ ...filters(), limit: 100, cursor })}`, { signal: ctx.signal });
    await loadMerchantNames(page.items.map((r) => r.merchantId).filter(Boolean), ctx.signal);
    rows = rows.concat(page.items);
    cursor = page.nextCursor;
    more.hidden = !cursor;
    document.getElementById("ledger-count").textContent = cursor ? t("ledger.countSoFar", { n: rows.length }) : t("ledger.count", { n: rows.length });
    clear(list, table(cols, rows, { empty: t("ledger.none"), key: (r) => r.id }));
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    out.textContent = "";
    load(true).catch((err) => clear(out, errorBox(err)));
  });
  more.addEventListener("click", () => busy(more, out, () => load(false)));
  csv.addEventListener("click", () => busy(csv, out, async () => {
    const bytes = await download(`/v1/ledger.csv${qs(filters())}`, "ledger.csv");
    toast(t("ledger.csvSaved", { bytes }));
  }));
  await load(true);
}

function verifyCell(ctx, r) {
  const cell = h("span", { class: "verify" });
  const b = h("button", { class: "small", type: "button", text: t("ledger.verify"), "data-verify": r.id });
  b.addEventListener("click", () => busy(b, cell, async () => {
    const v = await api(`/v1/ledger/${r.id}/verify`, { signal: ctx.signal });
    clear(cell, v.verified
      ? h("span", { class: "verify-ok", "data-verified": "true", text: t("ledger.verified", { block: v.blockNumber }) })
      : h("span", { class: "verify-bad", "data-verified": "false", text: t("ledger.notVerified", { problems: v.problems.join("; ") }) }));
    b.remove();
  }));
  return h("span", {}, b, cell);
}
