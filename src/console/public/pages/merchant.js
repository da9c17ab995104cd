// Merchants: plans (publish), cards, consumption vouchers (submit and follow), payouts.

import { api, qs } from "../lib/api.js";
import { h, clear, table, badge, when, short, kpi, errorBox, busy, field, select, toast } from "../lib/dom.js";
import { yuan, fenOf } from "../lib/money.js";
import { cardTable } from "./regulator.js";

const mid = (ctx) => Number(ctx.me.subject);

export async function plans(ctx, el) {
  const list = h("div", { id: "plan-list" });
  const out = h("div", { id: "plan-result" });
  const kind = select([["lesson", "lessons (released per lesson)"], ["periodic", "periodic (released per period)"]], "lesson", { id: "plan-kind" });
  const units = h("input", { class: "narrow", id: "plan-units", inputmode: "numeric", value: "10" });
  const periodDays = h("input", { class: "narrow", id: "plan-period", inputmode: "numeric", value: "30", disabled: true });
  const validity = h("input", { class: "narrow", id: "plan-validity", inputmode: "numeric", value: "90" });
  const price = h("input", { class: "narrow", id: "plan-price", placeholder: "¥", value: "" });
  const publish = h("button", { class: "primary", type: "submit", id: "plan-publish", text: "Publish plan" });
  kind.addEventListener("change", () => { periodDays.disabled = kind.value !== "periodic"; });
  const form = h("form", { class: "row", id: "plan-form" },
    field("Kind", kind), field("Lessons / periods", units), field("Period (days)", periodDays), field("Valid for (days)", validity), field("Price (yuan)", price), publish);
  const load = async () => {
    const r = await api(`/v1/merchants/${mid(ctx)}/plans`, { signal: ctx.signal });
    clear(list, table([
      { label: "Plan", get: (p) => `#${p.planIndex}` }, { label: "Kind", get: (p) => p.kind },
      { label: "Lessons / periods", get: (p) => p.units, num: true },
      { label: "Period", get: (p) => (p.periodSeconds ? `${Math.round(p.periodSeconds / 86400)} days` : "—") },
      { label: "Valid for", get: (p) => (p.validityDays ? `${p.validityDays} days` : "no limit") },
      { label: "Price", get: (p) => yuan(p.priceFen), num: true },
      { label: "On sale", get: (p) => badge(p.active ? "active" : "withdrawn") },
    ], r.items, { empty: "No plans yet: publish the first one below.", key: (p) => p.planIndex }));
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(publish, out, async () => {
      const whole = (v, name) => { if (!/^\d+$/.test(v.trim())) throw new Error(`${name} is a whole number`); return Number(v.trim()); };
      const body = {
        kind: kind.value, units: whole(units.value, "the number of lessons or periods"), validityDays: whole(validity.value || "0", "the validity"),
        priceFen: fenOf(price.value),
        ...(kind.value === "periodic" ? { periodSeconds: whole(periodDays.value, "the period") * 86400 } : {}),
      };
      const r = await api(`/v1/merchants/${mid(ctx)}/plans`, { method: "POST", body, signal: ctx.signal });
      clear(out, h("div", { class: "notice success", text: `Published in block ${r.blockNumber ?? "?"} (${short(r.txHash ?? "")}).` }));
      await load();
    });
  });
  clear(el, h("div", { class: "card" }, h("h1", { text: "Plans" }),
    h("p", { class: "muted", text: "The district's policy caps lessons, validity and card value; the contract refuses a plan beyond them and says which cap." }),
    list, h("h3", { text: "Publish a plan" }), form, out));
  await load();
}

export async function cards(ctx, el) {
  const status = select([["", "any status"], ...["active", "refund_requested", "disputed", "refunded", "consumed"].map((s) => [s, s.replace("_", " ")])], "", { id: "card-status" });
  const list = h("div", { class: "scroll", id: "card-list" });
  const more = h("button", { type: "button", text: "More", hidden: true });
  const summary = h("div", { id: "merchant-summary" });
  clear(el, summary, h("div", { class: "card" }, h("div", { class: "row between" }, h("h1", { text: "Cards" }), field("Status", status)), list, more));
  const m = await api(`/v1/merchants/${mid(ctx)}`, { signal: ctx.signal });
  clear(summary, h("div", { class: "card" }, h("div", { class: "kpis" },
    kpi("Status", m.status.replace("_", " ")), kpi("Risk level", m.riskLevel), kpi("Cards sold", String(m.cardCount ?? 0)),
    kpi("Paid in", yuan(m.paidInFen)), kpi("Held in escrow", yuan(m.heldFen)), kpi("Released", yuan(m.releasedFen)), kpi("Payable now", yuan(m.payableFen)))));
  let cursor = null, rows = [];
  const load = async (reset) => {
    if (reset) { cursor = null; rows = []; }
    const r = await api(`/v1/merchants/${mid(ctx)}/cards${qs({ status: status.value, limit: 100, cursor })}`, { signal: ctx.signal });
    rows = rows.concat(r.items);
    cursor = r.nextCursor;
    more.hidden = !cursor;
    clear(list, cardTable(rows));
  };
  status.addEventListener("change", () => load(true).catch((e) => clear(list, errorBox(e))));
  more.addEventListener("click", () => busy(more, list, () => load(false)));
  await load(true);
}

/** Vouchers as consumers' wallets give them: a JSON array, { vouchers: [...] }, or one JSON object per line. */
function parseVouchers(text) {
  const t = text.trim();
  if (!t) throw new Error("paste the signed vouchers (JSON) or choose a file");
  let list;
  try {
    const v = JSON.parse(t);
    list = Array.isArray(v) ? v : Array.isArray(v?.vouchers) ? v.vouchers : [v];
  } catch {
    try { list = t.split(/\r?\n/).filter(Boolean).map((l) => JSON.parse(l)); } catch { throw new Error("the vouchers are not valid JSON"); }
  }
  return list.map((v) => ({ cardId: String(v.cardId), lessons: Number(v.lessons), sequence: Number(v.sequence), deadline: Number(v.deadline), v: Number(v.v), r: v.r, s: v.s }));
}

export async function consumptions(ctx, el) {
  const file = h("input", { type: "file", id: "voucher-file", accept: ".json,.jsonl,application/json,text/plain" });
  const text = h("textarea", { id: "voucher-text", spellcheck: "false", placeholder: '[{"cardId":"4294967297","lessons":1,"sequence":0,"deadline":1790000000,"v":27,"r":"0x…","s":"0x…"}]' });
  const submit = h("button", { class: "primary", type: "button", id: "voucher-submit", text: "Submit vouchers" });
  const out = h("div", { id: "voucher-result" });
  const status = select([["", "all"], ...["queued", "sent", "confirmed", "failed"].map((s) => [s, s])], "", { id: "queue-status" });
  const list = h("div", { class: "scroll", id: "queue-list" });
  const refresh = h("button", { type: "button", text: "Refresh" });
  file.addEventListener("change", async () => { if (file.files?.[0]) text.value = await file.files[0].text(); });
  clear(el, h("div", { class: "grid halves" },
    h("div", { class: "card" }, h("h1", { text: "Submit consumptions" }),
      h("p", { class: "muted", text: "Each voucher is the holder's own signature over (card, lessons, sequence, deadline). The gateway queues them and sends them to the chain in batches." }),
      h("div", { class: "row" }, field("Voucher file", file)), h("p", {}, text), submit, out),
    h("div", { class: "card" }, h("div", { class: "row between" }, h("h2", { text: "Queue" }), h("div", { class: "row" }, field("Status", status), refresh)), list)));
  const load = async () => {
    const r = await api(`/v1/merchants/${mid(ctx)}/consumptions${qs({ status: status.value, limit: 200 })}`, { signal: ctx.signal });
    const items = r.items.slice().reverse();
    clear(list, table([
      { label: "Queue id", get: (x) => x.id, num: true }, { label: "Card", get: (x) => h("span", { class: "mono", text: x.cardId }) },
      { label: "Lessons", get: (x) => x.lessons, num: true }, { label: "Sequence", get: (x) => x.sequence, num: true },
      { label: "Status", get: (x) => badge(x.status) },
      { label: "Transaction / error", get: (x) => (x.error ? h("span", { class: "verify-bad", text: x.error }) : x.txHash ? h("span", { class: "mono", title: x.txHash, text: short(x.txHash) }) : "—") },
    ], items, { empty: "Nothing submitted yet.", key: (x) => x.id }));
    return items;
  };
  // Follow submitted vouchers until none is waiting (or the page is left).
  const follow = async () => {
    for (let i = 0; i < 60 && !ctx.signal.aborted; i++) {
      const items = await load();
      if (!items.some((x) => x.status === "queued" || x.status === "sent")) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  submit.addEventListener("click", () => busy(submit, out, async () => {
    const vouchers = parseVouchers(text.value);
    const r = await api(`/v1/merchants/${mid(ctx)}/consumptions`, { method: "POST", body: { vouchers }, signal: ctx.signal });
    clear(out, h("div", { class: "notice success", text: `${r.accepted} voucher(s) queued.` }));
    text.value = "";
    await follow();
  }));
  status.addEventListener("change", () => load().catch((e) => clear(list, errorBox(e))));
  refresh.addEventListener("click", () => busy(refresh, list, load));
  await load();
}

export async function payouts(ctx, el) {
  const head = h("div", { id: "payout-head" });
  const list = h("div", { class: "scroll", id: "payout-list" });
  const out = h("div", { id: "payout-result" });
  clear(el, h("div", { class: "card" }, h("h1", { text: "Payouts" }), head, out, h("h3", { text: "Paid out so far" }), list));
  const load = async () => {
    const m = await api(`/v1/merchants/${mid(ctx)}`, { signal: ctx.signal });
    const request = h("button", { class: "primary", type: "button", id: "payout-request", text: "Request payout", disabled: BigInt(m.payableFen) === 0n });
    request.addEventListener("click", () => busy(request, out, async () => {
      const r = await api(`/v1/merchants/${mid(ctx)}/payouts`, { method: "POST", signal: ctx.signal });
      toast(`Payout ordered in block ${r.blockNumber ?? "?"}`);
      clear(out, h("div", { class: "notice success", text: `Payout ordered: your custodian bank pays it from the custody account.` }));
      await load();
    }));
    clear(head, h("div", { class: "kpis" },
      kpi("Payable now", yuan(m.payableFen), { id: "payable" }), kpi("Released so far", yuan(m.releasedFen)), kpi("Paid out so far", yuan(m.paidOutFen)),
      kpi("Still held in escrow", yuan(m.heldFen))),
      h("p", {}, request, " ", h("span", { class: "muted", text: "Released money only: what is held is released lesson by lesson as customers confirm." })));
    const r = await api(`/v1/ledger${qs({ merchantId: mid(ctx), event: "PaidOut", limit: 200 })}`, { signal: ctx.signal });
    clear(list, table([
      { label: "When", get: (x) => when(x.blockTime) }, { label: "Amount", get: (x) => yuan(x.amountFen), num: true },
      { label: "Block", get: (x) => x.blockNumber, num: true }, { label: "Transaction", get: (x) => h("span", { class: "mono", title: x.txHash, text: short(x.txHash) }) },
    ], r.items.slice().reverse(), { empty: "No payouts yet." }));
  };
  await load();
}
