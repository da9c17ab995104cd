// Regulators: merchants with status and risk (filterable), rising-risk alerts as they arrive, a merchant's page
// (rating explanation, escrow, cards, freeze / restrict / wind-down), hotline tickets and disputes.

import { api, qs, has, events } from "../lib/api.js";
import { h, append, clear, table, field, select, badge, when, short, kpi, errorBox, unavailable, busy, toast, industryName } from "../lib/dom.js";
import { yuan, fenOf } from "../lib/money.js";
import { moneyChart } from "./charts.js";

const isRegulator = (me) => me.role === "platform_regulator" || me.role === "industry_regulator";
const STATUSES = ["active", "restricted", "frozen", "winding_down", "exited"];
const LEVELS = ["low", "medium", "high"];

export async function merchants(ctx, el, params) {
  if (params[0]) return merchantPage(ctx, el, Number(params[0]));
  const filters = { status: "", riskLevel: "", industryId: "" };
  const industries = await api("/v1/industries", { signal: ctx.signal }).then((r) => r.items).catch(() => []);
  const status = select([["", "any status"], ...STATUSES.map((x) => [x, x.replace("_", " ")])], "", { id: "filter-status" });
  const risk = select([["", "any risk level"], ...LEVELS.map((x) => [x, x])], "", { id: "filter-risk" });
  const industry = select([["", "any industry"], ...industries.filter((i) => i.industryId > 0).map((i) => [i.industryId, industryName(i.industryId)])], "", { id: "filter-industry" });
  const list = h("div", { id: "merchant-list" });
  const more = h("button", { type: "button", text: "More", hidden: true });
  let cursor = null;
  let rows = [];

  const cols = [
    { label: "Merchant", get: (m) => h("a", { href: `#/merchants/${m.merchantId}`, text: `#${m.merchantId}` }) },
    { label: "Industry", get: (m) => industryName(m.industryId) },
    { label: "Bank", get: (m) => m.bankId },
    { label: "Status", get: (m) => badge(m.status) },
    { label: "Risk", get: (m) => badge(m.riskLevel) },
    { label: "Cards", get: (m) => m.cardCount, num: true },
    { label: "Paid in", get: (m) => yuan(m.paidInFen), num: true },
    { label: "Held", get: (m) => yuan(m.heldFen), num: true },
    { label: "Payable", get: (m) => yuan(m.payableFen), num: true },
  ];
  const load = async (reset) => {
    if (reset) { rows = []; cursor = null; }
    const page = await api(`/v1/merchants${qs({ ...filters, limit: 100, cursor })}`, { signal: ctx.signal });
    rows = rows.concat(page.items);
    cursor = page.nextCursor;
    more.hidden = !cursor;
    clear(list, table(cols, rows, { onRow: (m) => ctx.go(`#/merchants/${m.merchantId}`), key: (m) => m.merchantId, empty: "No merchant matches these filters." }));
  };
  const apply = (e) => {
    e?.preventDefault();
    Object.assign(filters, { status: status.value, riskLevel: risk.value, industryId: industry.value });
    return load(true).catch((err) => clear(list, errorBox(err)));
  };
  for (const s of [status, risk, industry]) s.addEventListener("change", apply);
  more.addEventListener("click", () => busy(more, list, () => load(false)));

  const left = h("div", { class: "card" },
    h("div", { class: "row between" }, h("h1", { text: "Merchants" }),
      h("div", { class: "row" }, field("Status", status), field("Risk level", risk), field("Industry", industry))),
    h("div", { class: "scroll" }, list), more);
  const alertsCard = h("div", { class: "card", id: "alerts" });
  clear(el, isRegulator(ctx.me) ? h("div", { class: "grid two" }, left, alertsCard) : left);
  if (isRegulator(ctx.me)) alertsPanel(ctx, alertsCard);
  await apply();
}

/** Rising-risk alerts: the recent ones, then each new one as the gateway pushes it. */
async function alertsPanel(ctx, card) {
  const dot = h("span", { class: "live", id: "alerts-live", title: "live: new alerts appear as they are raised" });
  const list = h("ul", { class: "alerts", id: "alert-list" });
  clear(card, h("h2", {}, dot, "Rising-risk alerts"), list);
  if (!has("get", "/v1/risk/alerts")) {
    card.append(unavailable("The risk early-warning service (rising-risk alerts)"));
    return;
  }
  const item = (a, fresh) => h("li", { class: fresh ? "fresh" : undefined, "data-alert": a.id },
    h("div", { class: "row between" },
      h("a", { href: `#/merchants/${a.merchantId}`, text: `Merchant #${a.merchantId}` }),
      h("span", {}, badge(a.from), " → ", badge(a.to))),
    h("div", { class: "muted" }, `${industryName(a.industryId)} · score ${a.score ?? "—"} · ${a.cause ?? ""} · ${when(a.createdAt ?? a.ratedAt)}`));
  let lastId = 0;
  try {
    // Oldest first from a cursor: read through to the newest and keep the last 50.
    let items = [], cursor = null;
    for (let i = 0; i < 20; i++) {
      const page = await api(`/v1/risk/alerts${qs({ limit: 500, cursor })}`, { signal: ctx.signal });
      items = items.concat(page.items).slice(-50);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    for (const a of items.slice().reverse()) list.append(item(a, false));
    for (const a of items) lastId = Math.max(lastId, Number(a.id) || 0);
    if (!items.length) list.append(h("li", { class: "muted empty", text: "No alerts yet. New ones appear here as they are raised." }));
  } catch (err) {
    if (err.name === "AbortError") return;
    card.append(errorBox(err));
  }
  if (!has("get", "/v1/risk/alerts/stream")) return;
  // Follow the stream; reconnect with the last id seen after a drop, backing off up to 30 s.
  let wait = 1000;
  while (!ctx.signal.aborted) {
    try {
      // `after`: alerts raised since the list was read (or since the last one seen) are not missed.
      const stream = events(`/v1/risk/alerts/stream${qs({ after: lastId })}`, { signal: ctx.signal, onopen: () => dot.classList.add("on") });
      for await (const ev of stream) {
        wait = 1000;
        let a;
        try { a = JSON.parse(ev.data); } catch { continue; }
        if (!a || a.merchantId === undefined) continue;
        lastId = Math.max(lastId, Number(ev.id ?? a.id) || 0);
        list.querySelector(".empty")?.remove();
        list.prepend(item(a, true));
        toast(`Risk rose: merchant #${a.merchantId} ${a.from} → ${a.to}`);
      }
    } catch (err) {
      if (err.name === "AbortError" || ctx.signal.aborted) return;
    } finally {
      dot.classList.remove("on");
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(30_000, wait * 2);
  }
}

// ---------------------------------------------------------------- one merchant

const ACTIONS = [
  { path: "restrict", label: "Restrict", when: ["active"], cls: "" },
  { path: "unrestrict", label: "Lift restriction", when: ["restricted"], cls: "" },
  { path: "freeze", label: "Freeze", when: ["active", "restricted", "winding_down"], cls: "danger" },
  { path: "unfreeze", label: "Lift freeze", when: ["frozen"], cls: "" },
  { path: "wind-down", label: "Order wind-down", when: ["active", "restricted"], cls: "danger" },
];

async function merchantPage(ctx, el, id) {
  const head = h("div", { class: "card", id: "merchant-head" });
  const risk = h("div", { class: "card", id: "merchant-risk" });
  const money = h("div", { class: "card", id: "merchant-money" });
  const cards = h("div", { class: "card", id: "merchant-cards" });
  clear(el, h("p", {}, h("a", { href: "#/merchants", text: "← All merchants" })), head, h("div", { class: "grid halves" }, risk, money), cards);

  const render = async () => {
    const m = await api(`/v1/merchants/${id}`, { signal: ctx.signal });
    const out = h("div", { id: "action-result" });
    const reason = h("input", { id: "action-reason", placeholder: "reason (recorded on chain as its hash)", size: 40 });
    const buttons = ACTIONS.filter((a) => a.when.includes(m.status)).map((a) => h("button", {
      type: "button", class: a.cls, "data-action": a.path, text: a.label,
      onclick: (e) => busy(e.currentTarget, out, async () => {
        if (!reason.value.trim()) throw new Error("give a reason for the record");
        const r = await api(`/v1/merchants/${id}/${a.path}`, { method: "POST", body: { reason: reason.value.trim() }, signal: ctx.signal });
        toast(`${a.label}: done in block ${r.blockNumber ?? ""}`);
        await render();
      }),
    }));
    clear(head,
      h("div", { class: "row between" },
        h("h1", {}, `Merchant #${m.merchantId} `, h("span", { id: "merchant-status", title: "status on chain" }, badge(m.status)), " ",
          h("span", { title: "risk level on chain" }, badge(m.riskLevel, "risk"))),
        h("span", { class: "muted mono", text: m.account })),
      h("dl", { class: "facts" },
        h("dt", { text: "Industry" }), h("dd", { text: industryName(m.industryId) }),
        h("dt", { text: "Custodian bank" }), h("dd", { text: String(m.bankId) }),
        h("dt", { text: "Registry reference" }), h("dd", { class: "mono", text: short(m.registryRef, 10) }),
        h("dt", { text: "Admitted" }), h("dd", { text: when(m.admittedAt) }),
        m.exitEffectiveAt ? [h("dt", { text: "Exit effective" }), h("dd", { text: when(m.exitEffectiveAt) })] : null),
      h("h3", { text: "Escrow" }),
      h("div", { class: "kpis", id: "merchant-escrow" },
        kpi("Paid in", yuan(m.paidInFen)), kpi("Released", yuan(m.releasedFen)), kpi("Refunded", yuan(m.refundedFen)),
        kpi("Held in escrow", yuan(m.heldFen), { "data-held": m.heldFen }), kpi("Paid out", yuan(m.paidOutFen)), kpi("Payable", yuan(m.payableFen)),
        kpi("Cards", String(m.cardCount ?? 0))),
      isRegulator(ctx.me) ? [h("h3", { text: "Supervision" }),
        buttons.length ? h("div", { class: "actions" }, field("Reason", reason), buttons) : h("p", { class: "muted", text: `No action applies to a merchant that is ${m.status.replace("_", " ")}.` }),
        out] : null,
      m.riskHistory?.length ? [h("h3", { text: "Risk level on chain" }), table([
        { label: "When", get: (r) => when(r.at) }, { label: "From", get: (r) => badge(r.from) }, { label: "To", get: (r) => badge(r.to) },
        { label: "Reason (hash)", get: (r) => h("span", { class: "mono", text: short(r.reason, 10) }) },
      ], m.riskHistory.slice().reverse())] : null);
    return m;
  };
  await render();
  riskExplanation(ctx, risk, id);
  money.append(h("h2", { text: "Money over time" }));
  moneyChart(ctx, money, { merchantId: id, width: 560 });
  merchantCards(ctx, cards, id);
}

/** The rating and why: signals, weights and contributions, hard rules and overrides first. */
async function riskExplanation(ctx, card, id) {
  clear(card, h("h2", { text: "Risk rating and its explanation" }));
  if (!has("get", "/v1/merchants/{merchantId}/risk")) return card.append(unavailable("The risk rating explanation"));
  try {
    const r = await api(`/v1/merchants/${id}/risk`, { signal: ctx.signal });
    const rating = r.rating;
    if (!rating) {
      card.append(h("p", { class: "muted", id: "risk-unrated", text: `Not rated yet; the level on chain is ${r.onChainLevel ?? "low"}.` }));
      return;
    }
    append(card, [
      h("div", { class: "kpis", id: "risk-rating" },
        kpi("Level in force", rating.level), kpi("Computed", rating.computedLevel ?? rating.level), kpi("Score", String(rating.score ?? "—")),
        kpi("On chain", r.onChainLevel ?? "—"), kpi("Rated", when(rating.computedAt)), kpi("Model", String(rating.modelVersion ?? "—"))),
      r.pushPending ? h("p", { class: "notice", text: "The new level is on its way to the chain (risk oracle)." }) : null,
      r.lastChange ? h("p", { class: "muted" }, "Last change: ", badge(r.lastChange.from ?? "—"), " → ", badge(r.lastChange.to), ` on ${when(r.lastChange.at)}`) : null,
      r.override ? h("p", { class: "notice", text: `Overridden to ${r.override.level}: ${r.override.reason ?? ""}` }) : null,
      h("h3", { text: "What moved it" }),
      table([
        { label: "Signal", get: (x) => String(x.signal ?? "").replace(/_/g, " ") },
        { label: "Value", get: (x) => x.value, num: true },
        { label: "Weight", get: (x) => x.weight, num: true },
        { label: "Threshold", get: (x) => x.threshold, num: true },
        { label: "Contribution", get: (x) => x.contribution, num: true },
        { label: "Rule / detail", get: (x) => x.rule ?? (x.detail ? h("span", { class: "mono", text: Object.entries(x.detail).map(([k, v]) => `${k}=${v}`).join(" ") }) : "") },
      ], rating.explanation ?? [], { empty: "No signal contributed." }),
      r.recentSignals?.length ? [h("h3", { text: "Recent signals" }), table([
        { label: "When", get: (x) => when(x.occurredAt) }, { label: "Kind", get: (x) => String(x.kind).replace(/_/g, " ") },
        { label: "Source", get: (x) => x.source }, { label: "Record", get: (x) => h("span", { class: "mono", text: x.recordId }) },
      ], r.recentSignals)] : null]);
  } catch (err) {
    if (err.name !== "AbortError") card.append(errorBox(err));
  }
}

async function merchantCards(ctx, card, id) {
  const list = h("div", { class: "scroll" });
  clear(card, h("h2", { text: "Cards" }), list);
  try {
    const page = await api(`/v1/merchants/${id}/cards${qs({ limit: 200 })}`, { signal: ctx.signal });
    clear(list, cardTable(page.items));
    if (page.nextCursor) card.append(h("p", { class: "muted", text: "The first 200 cards are shown." }));
  } catch (err) {
    if (err.name !== "AbortError") clear(list, errorBox(err));
  }
}

export const cardTable = (items) => table([
  { label: "Card", get: (c) => h("span", { class: "mono", text: c.cardId }) },
  { label: "Holder", get: (c) => h("span", { class: "mono", title: c.holder, text: short(c.holder) }) },
  { label: "Plan", get: (c) => `${c.planIndex} · ${c.kind}` },
  { label: "Status", get: (c) => badge(c.status) },
  { label: "Used / left", get: (c) => `${c.unitsUsed} / ${c.unitsLeft}`, num: true },
  { label: "Paid in", get: (c) => yuan(c.paidInFen), num: true },
  { label: "Released", get: (c) => yuan(c.releasedFen), num: true },
  { label: "Refunded", get: (c) => yuan(c.refundedFen), num: true },
  { label: "Held", get: (c) => yuan(c.heldFen), num: true },
  { label: "Expires", get: (c) => when(c.expiresAt) },
], items, { empty: "No cards yet.", key: (c) => c.cardId });

// ---------------------------------------------------------------- hotline and disputes

export async function hotline(ctx, el) {
  const status = select([["", "all"], ["routed", "routed"], ["accepted", "accepted"], ["closed", "closed"]], "", { id: "ticket-status" });
  const list = h("div", { class: "scroll", id: "ticket-list" });
  const stats = h("div", { id: "dispatch-stats" });
  clear(el, h("div", { class: "card" }, h("div", { class: "row between" }, h("h1", { text: "12345 hotline tickets" }), field("Status", status)), list),
    h("div", { class: "card" }, h("h2", { text: "Dispatch record per industry" }), stats));
  const load = async () => {
    const page = await api(`/v1/hotline/tickets${qs({ status: status.value, limit: 200 })}`, { signal: ctx.signal });
    clear(list, table([
      { label: "Ticket", get: (t) => h("span", { class: "mono", text: t.ticketId }) },
      { label: "Merchant", get: (t) => h("a", { href: `#/merchants/${t.merchantId}`, text: `#${t.merchantId}` }) },
      { label: "Industry", get: (t) => industryName(t.industryId) },
      { label: "Category", get: (t) => t.category },
      { label: "Summary", get: (t) => t.summary },
      { label: "Received", get: (t) => when(t.receivedAt) },
      { label: "Queue", get: (t) => (t.queue === "bureau" ? "bureau" : short(t.assignee)) },
      { label: "Status", get: (t) => badge(t.status) },
      { label: "", get: (t) => ticketActions(ctx, t, load) },
    ], page.items, { empty: "No tickets.", key: (t) => t.ticketId }));
  };
  status.addEventListener("change", () => load().catch((e) => clear(list, errorBox(e))));
  await load();
  const s = await api("/v1/hotline/dispatch-stats", { signal: ctx.signal });
  clear(stats, table([
    { label: "Industry", get: (r) => industryName(r.industryId) }, { label: "Tickets", get: (r) => r.tickets, num: true },
    { label: "To the bureau", get: (r) => r.routedToBureau, num: true }, { label: "Transfers", get: (r) => r.transfers, num: true },
    { label: "Wrong dispatches", get: (r) => r.wrongDispatches, num: true }, { label: "Closed", get: (r) => r.closed, num: true },
  ], s.items, { empty: "No tickets yet." }));
}

function ticketActions(ctx, t, reload) {
  const out = h("div");
  if (t.status === "closed") return h("span", { class: "muted", text: t.resolution ?? "" });
  const wrap = h("div", { class: "actions" });
  if (t.status === "routed") {
    wrap.append(h("button", { class: "small", type: "button", text: "Accept", onclick: (e) => busy(e.currentTarget, out, async () => {
      await api(`/v1/hotline/tickets/${encodeURIComponent(t.ticketId)}/accept`, { method: "POST", signal: ctx.signal });
      await reload();
    }) }));
  }
  const resolution = h("input", { placeholder: "resolution", size: 18 });
  wrap.append(resolution, h("button", { class: "small", type: "button", text: "Close", onclick: (e) => busy(e.currentTarget, out, async () => {
    if (!resolution.value.trim()) throw new Error("write the resolution");
    await api(`/v1/hotline/tickets/${encodeURIComponent(t.ticketId)}/close`, { method: "POST", body: { resolution: resolution.value.trim() }, signal: ctx.signal });
    await reload();
  }) }));
  return h("div", {}, wrap, out);
}

export async function disputes(ctx, el) {
  const status = select([["open", "open"], ["refunded", "decided: refunded"], ["denied", "decided: denied"]], "open", { id: "dispute-status" });
  const list = h("div", { class: "scroll", id: "dispute-list" });
  clear(el, h("div", { class: "card" }, h("div", { class: "row between" }, h("h1", { text: "Refund disputes" }), field("Status", status)), list));
  const load = async () => {
    const page = await api(`/v1/disputes${qs({ status: status.value, limit: 200 })}`, { signal: ctx.signal });
    clear(list, table([
      { label: "Card", get: (d) => h("span", { class: "mono", text: d.cardId }) },
      { label: "Merchant", get: (d) => h("a", { href: `#/merchants/${d.merchantId}`, text: `#${d.merchantId}` }) },
      { label: "Industry", get: (d) => industryName(d.industryId) },
      { label: "Opened", get: (d) => when(d.openedAt) },
      { label: "Held", get: (d) => yuan(d.amountFen), num: true },
      { label: "Refunded", get: (d) => yuan(d.refundedFen), num: true },
      { label: "Released", get: (d) => yuan(d.releasedFen), num: true },
      { label: "Status", get: (d) => badge(d.status) },
      { label: "Decision", get: (d) => (d.status === "open" && isRegulator(ctx.me) ? decide(ctx, d, load) : "") },
    ], page.items, { empty: "No disputes with this status." }));
  };
  status.addEventListener("change", () => load().catch((e) => clear(list, errorBox(e))));
  await load();
}

function decide(ctx, d, reload) {
  const out = h("div");
  const refund = h("input", { class: "narrow", placeholder: "refund ¥", value: "" });
  return h("div", {}, h("div", { class: "actions" }, refund,
    h("button", { class: "small", type: "button", text: "Decide", onclick: (e) => busy(e.currentTarget, out, async () => {
      const refundFen = fenOf(refund.value || "0");
      if (BigInt(refundFen) > BigInt(d.amountFen)) throw new Error(`at most ${yuan(d.amountFen)} is held on this card`);
      await api(`/v1/disputes/${d.cardId}/decision`, { method: "POST", body: { refundFen }, signal: ctx.signal });
      toast(BigInt(refundFen) === 0n ? "Refund denied" : `${yuan(refundFen)} refunded; the rest released`);
      await reload();
    }) })), out);
}
