// Regulators: merchants with status and risk (filterable), rising-risk alerts as they arrive, a merchant's page
// (rating explanation, escrow, cards, freeze / restrict / wind-down), hotline tickets and disputes.

import { api, qs, has, events } from "../lib/api.js";
import { h, append, clear, table, field, select, badge, when, short, kpi, errorBox, unavailable, busy, toast, industryName, confirmAction } from "../lib/dom.js";
import { yuan, fenOf } from "../lib/money.js";
import { t, tOr, state } from "/web-public/shared/i18n.js";
import { loadMerchantNames, merchantLink, merchantName, merchantProfile, bankName } from "../lib/names.js";
import { moneyChart } from "./charts.js";

const isRegulator = (me) => me.role === "platform_regulator" || me.role === "industry_regulator";
const STATUSES = ["active", "restricted", "frozen", "winding_down", "exited"];
const LEVELS = ["low", "medium", "high"];

export async function merchants(ctx, el, params) {
  if (params[0]) return merchantPage(ctx, el, Number(params[0]));
  const filters = { status: "", riskLevel: "", industryId: "" };
  const industries = await api("/v1/industries", { signal: ctx.signal }).then((r) => r.items).catch(() => []);
  const status = select([["", t("filter.anyStatus")], ...STATUSES.map((x) => [x, state(x)])], "", { id: "filter-status" });
  const risk = select([["", t("filter.anyRisk")], ...LEVELS.map((x) => [x, state(x)])], "", { id: "filter-risk" });
  const industry = select([["", t("filter.anyIndustry")], ...industries.filter((i) => i.industryId > 0).map((i) => [i.industryId, industryName(i.industryId)])], "", { id: "filter-industry" });
  const list = h("div", { id: "merchant-list" });
  const more = h("button", { type: "button", text: t("action.more"), hidden: true });
  let cursor = null;
  let rows = [];

  const cols = [
    { label: t("col.merchant"), get: (m) => merchantLink(m.merchantId) },
    { label: t("col.district"), get: (m) => merchantProfile(m.merchantId)?.district ?? "—" },
    { label: t("col.industry"), get: (m) => industryName(m.industryId) },
    { label: t("col.bank"), get: (m) => bankName(m.bankId) },
    { label: t("col.status"), get: (m) => badge(m.status) },
    { label: t("col.risk"), get: (m) => badge(m.riskLevel) },
    { label: t("col.cards"), get: (m) => m.cardCount, num: true },
    { label: t("money.paidIn"), get: (m) => yuan(m.paidInFen), num: true },
    { label: t("money.held"), get: (m) => yuan(m.heldFen), num: true },
    { label: t("money.payable"), get: (m) => yuan(m.payableFen), num: true },
  ];
  let generation = 0; // a load for earlier filters must not add its rows to these
  const load = async (reset) => {
    if (reset) { rows = []; cursor = null; generation++; }
    const mine = generation;
    const page = await api(`/v1/merchants${qs({ ...filters, limit: 100, cursor })}`, { signal: ctx.signal });
    await loadMerchantNames(page.items.map((m) => m.merchantId), ctx.signal);
    if (mine !== generation) return;
    rows = rows.concat(page.items);
    cursor = page.nextCursor;
    more.hidden = !cursor;
    clear(list, table(cols, rows, { onRow: (m) => ctx.go(`#/merchants/${m.merchantId}`), key: (m) => m.merchantId, empty: t("merchants.none") }));
  };
  const apply = (e) => {
    e?.preventDefault();
    Object.assign(filters, { status: status.value, riskLevel: risk.value, industryId: industry.value });
    return load(true).catch((err) => clear(list, errorBox(err)));
  };
  for (const s of [status, risk, industry]) s.addEventListener("change", apply);
  more.addEventListener("click", () => busy(more, list, () => load(false)));

  const left = h("div", { class: "card" },
    h("div", { class: "row between" }, h("h1", { text: t("nav.merchants") }),
      h("div", { class: "row" }, field(t("col.status"), status), field(t("col.riskLevel"), risk), field(t("col.industry"), industry))),
    h("div", { class: "scroll" }, list), more);
  const alertsCard = h("div", { class: "card", id: "alerts" });
  clear(el, isRegulator(ctx.me) ? h("div", { class: "grid two" }, left, alertsCard) : left);
  if (isRegulator(ctx.me)) alertsPanel(ctx, alertsCard);
  await apply();
}

/** Rising-risk alerts: the recent ones, then each new one as the gateway pushes it. */
async function alertsPanel(ctx, card) {
  const dot = h("span", { class: "live", id: "alerts-live", title: t("alerts.live") });
  const list = h("ul", { class: "alerts", id: "alert-list" });
  clear(card, h("h2", {}, dot, t("alerts.title")), list);
  if (!has("get", "/v1/risk/alerts")) {
    card.append(unavailable(t("alerts.service")));
    return;
  }
  const item = (a, fresh) => h("li", { class: fresh ? "fresh" : undefined, "data-alert": a.id },
    h("div", { class: "row between" },
      merchantLink(a.merchantId),
      h("span", {}, badge(a.from), " → ", badge(a.to))),
    a.cause === "filing" && a.explanation?.[0]
      ? h("div", { class: "notice filing", "data-cause": "filing", text: t("law.filing.alert", { balance: yuan(a.explanation[0].balanceFen), threshold: yuan(a.explanation[0].thresholdFen) }) })
      : null,
    h("div", { class: "muted" }, `${industryName(a.industryId)} · ${t("alerts.score", { score: a.score ?? "—" })} · ${a.cause ? cause(a.cause) : ""} · ${when(a.createdAt ?? a.ratedAt)}`));
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
    await loadMerchantNames(items.map((a) => a.merchantId), ctx.signal);
    for (const a of items.slice().reverse()) list.append(item(a, false));
    for (const a of items) lastId = Math.max(lastId, Number(a.id) || 0);
    if (!items.length) list.append(h("li", { class: "muted empty", text: t("alerts.none") }));
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
        await loadMerchantNames([a.merchantId], ctx.signal).catch(() => undefined);
        list.prepend(item(a, true));
        toast(t("alerts.toast", { merchant: merchantName(a.merchantId), from: state(a.from), to: state(a.to) }));
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

// Irreversible (or not lightly reversed) actions ask for a reason and a confirmation in a dialog naming the merchant.
const ACTIONS = [
  { path: "breach", when: ["active", "restricted", "winding_down"], cls: "danger", danger: true, show: (m) => !m.breachRecordedAt },
  { path: "clear-breach", when: ["active", "restricted", "winding_down", "frozen", "exited"], cls: "", danger: false, show: (m) => Boolean(m.breachRecordedAt) },
  { path: "restrict", when: ["active"], cls: "", danger: false },
  { path: "unrestrict", when: ["restricted"], cls: "", danger: false },
  { path: "freeze", when: ["active", "restricted", "winding_down"], cls: "danger", danger: true },
  { path: "unfreeze", when: ["frozen"], cls: "", danger: false },
  { path: "wind-down", when: ["active", "restricted"], cls: "danger", danger: true },
  // Released money stuck by the freeze: the regulator's recorded decision moves it (docs/domain.md: nothing stays stuck).
  { path: "frozen-payable/to-holders", when: ["frozen"], cls: "danger", danger: true, show: (m) => BigInt(m.payableFen) > 0n },
  { path: "frozen-payable/to-merchant", when: ["frozen"], cls: "", danger: false, show: (m) => BigInt(m.payableFen) > 0n },
];

async function merchantPage(ctx, el, id) {
  const head = h("div", { class: "card", id: "merchant-head" });
  const risk = h("div", { class: "card", id: "merchant-risk" });
  const money = h("div", { class: "card", id: "merchant-money" });
  const record = h("div", { class: "card", id: "merchant-enforcement" });
  const cards = h("div", { class: "card", id: "merchant-cards" });
  clear(el, h("p", {}, h("a", { href: "#/merchants", text: t("merchant.back") })), head, h("div", { class: "grid halves" }, risk, money), record, cards);
  await loadMerchantNames([id], ctx.signal);

  const render = async () => {
    const m = await api(`/v1/merchants/${id}`, { signal: ctx.signal });
    const profile = merchantProfile(id);
    const out = h("div", { id: "action-result" });
    const buttons = ACTIONS.filter((a) => a.when.includes(m.status) && (!a.show || a.show(m))).map((a) => h("button", {
      type: "button", class: a.cls, "data-action": a.path, text: t(`action.${a.path}`),
      onclick: async (e) => {
        const button = e.currentTarget;
        const reason = await confirmAction({
          title: t(`confirm.${a.path}.title`, { merchant: merchantName(id) }), body: t(`confirm.${a.path}.body`),
          confirmLabel: t(`action.${a.path}`), danger: a.danger,
        });
        if (!reason) return;
        await busy(button, out, async () => {
          const r = await api(`/v1/merchants/${id}/${a.path}`, { method: "POST", body: { reason }, signal: ctx.signal });
          toast(t("action.doneInBlock", { action: t(`action.${a.path}`), block: r.blockNumber ?? "" }));
          await render();
        });
      },
    }));
    clear(head,
      h("div", { class: "row between" },
        h("h1", {}, `${merchantName(id)} `, h("span", { id: "merchant-status", title: t("merchant.statusOnChain") }, badge(m.status)), " ",
          h("span", { title: t("merchant.riskOnChain") }, badge(m.riskLevel, t("col.risk")))),
        h("span", { class: "muted mono", text: m.account })),
      h("dl", { class: "facts" },
        h("dt", { text: t("field.registrationNumber") }), h("dd", { class: "mono", text: profile?.registrationNumber ?? "—" }),
        h("dt", { text: t("field.district") }), h("dd", { text: profile?.district ?? "—" }),
        h("dt", { text: t("col.industry") }), h("dd", { text: industryName(m.industryId) }),
        h("dt", { text: t("col.bank") }), h("dd", { text: bankName(m.bankId) }),
        h("dt", { text: t("merchant.registryRef") }), h("dd", { class: "mono", text: short(m.registryRef, 10) }),
        h("dt", { text: t("merchant.admitted") }), h("dd", { text: when(m.admittedAt) }),
        m.exitEffectiveAt ? [h("dt", { text: t("merchant.exitEffective") }), h("dd", { text: when(m.exitEffectiveAt) })] : null,
        m.breachRecordedAt ? [h("dt", { text: t("merchant.breachRecorded") }), h("dd", { id: "merchant-breach", text: when(m.breachRecordedAt) })] : null),
      h("h3", { text: t("merchant.escrow") }),
      h("div", { class: "kpis", id: "merchant-escrow" },
        kpi(t("money.paidIn"), yuan(m.paidInFen)), kpi(t("money.released"), yuan(m.releasedFen)), kpi(t("money.refunded"), yuan(m.refundedFen)),
        kpi(t("money.heldInEscrow"), yuan(m.heldFen), { "data-held": m.heldFen }), kpi(t("money.paidOut"), yuan(m.paidOutFen)), kpi(t("money.payable"), yuan(m.payableFen)),
        kpi(t("col.cards"), String(m.cardCount ?? 0)),
        m.holderPoolFen && m.holderPoolFen !== "0" ? kpi(t("law.frozen.pool"), yuan(m.holderPoolFen), { id: "holder-pool" }) : null),
      isRegulator(ctx.me) ? await payoutAccountBox(ctx, id, render) : null,
      isRegulator(ctx.me) ? [h("h3", { text: t("merchant.supervision") }),
        buttons.length ? h("div", { class: "actions" }, buttons) : h("p", { class: "muted", text: t("merchant.noAction", { status: state(m.status) }) }),
        out] : null,
      m.riskHistory?.length ? [h("h3", { text: t("merchant.riskOnChainHistory") }), table([
        { label: t("col.when"), get: (r) => when(r.at) }, { label: t("col.from"), get: (r) => badge(r.from) }, { label: t("col.to"), get: (r) => badge(r.to) },
        { label: t("col.reasonHash"), get: (r) => h("span", { class: "mono", text: short(r.reason, 10) }) },
      ], m.riskHistory.slice().reverse())] : null);
    return m;
  };
  await render();
  riskExplanation(ctx, risk, id);
  money.append(h("h2", { text: t("charts.moneyOverTime") }));
  moneyChart(ctx, money, { merchantId: id, width: 560 });
  enforcementRecord(ctx, record, id);
  merchantCards(ctx, cards, id);
}

/** A signal's or rule's name in words. */
const signalName = (x) => tOr(`signal.${x}`, String(x ?? "").replace(/_/g, " "));
const cause = (c) => tOr(`cause.${c}`, c);

/** The merchant's payout account: the one in force, the one proposed, and the regulator's confirmation of it. */
async function payoutAccountBox(ctx, id, reload) {
  const a = await api(`/v1/merchants/${id}/payout-account`, { signal: ctx.signal }).catch(() => null);
  if (!a) return null;
  const text = (x) => (x ? `${x.bankName ?? "?"} ${x.accountNumber ?? ""} (${short(x.ref, 8)})` : t("law.payout.none"));
  const out = h("div", { id: "payout-account-result" });
  const confirmButton = a.proposed ? h("button", { type: "button", class: "primary", id: "payout-account-confirm", text: t("law.payout.confirm") }) : null;
  confirmButton?.addEventListener("click", () => busy(confirmButton, out, async () => {
    await api(`/v1/merchants/${id}/payout-account/confirmation`, { method: "POST", body: { account: a.proposed.ref }, signal: ctx.signal });
    await reload();
  }));
  return [h("h3", { text: t("law.payout.title") }), h("dl", { class: "facts", id: "payout-account" },
    h("dt", { text: t("law.payout.confirmed") }), h("dd", { id: "payout-account-confirmed", text: text(a.confirmed) }),
    h("dt", { text: t("law.payout.proposed") }), h("dd", { id: "payout-account-proposed", text: text(a.proposed) })), confirmButton, out];
}

/** A rule of the rating in words: a registry hard rule with its legal basis, a held level, a regulator's override. */
function ruleText(x) {
  const hard = /^at least (low|medium|high): /.exec(x.rule);
  if (hard) return `${t("rule.atLeast", { level: state(hard[1]) })}${tOr(`rule.basis.${x.signal}`, x.rule.slice(hard[0].length))}`;
  const override = /^(low|medium|high) by regulator override: ([\s\S]*)$/.exec(x.rule);
  if (override) return t("rule.override", { level: state(override[1]), reason: override[2] });
  if (x.signal === "level_hold" && x.detail) return t("rule.hold", { level: state(x.detail.heldLevel), previous: state(x.detail.previousLevel), bar: x.detail.bar });
  return x.rule;
}

/** The rating and why: signals, weights and contributions, hard rules and overrides first; override and re-rating. */
async function riskExplanation(ctx, card, id) {
  clear(card, h("h2", { text: t("risk.title") }));
  if (!has("get", "/v1/merchants/{merchantId}/risk")) return card.append(unavailable(t("risk.service")));
  try {
    const r = await api(`/v1/merchants/${id}/risk`, { signal: ctx.signal });
    const rating = r.rating;
    if (!rating) card.append(h("p", { class: "muted", id: "risk-unrated", text: t("risk.unrated", { level: state(r.onChainLevel ?? "low") }) }));
    else append(card, [
      h("div", { class: "kpis", id: "risk-rating" },
        kpi(t("risk.inForce"), state(rating.level)), kpi(t("risk.computed"), state(rating.computedLevel ?? rating.level)), kpi(t("risk.score"), String(rating.score ?? "—")),
        kpi(t("risk.onChain"), state(r.onChainLevel)), kpi(t("risk.rated"), when(rating.computedAt)), kpi(t("risk.model"), String(rating.modelVersion ?? "—"))),
      r.pushPending ? h("p", { class: "notice", text: t("risk.pushPending") }) : null,
      r.lastChange ? h("p", { class: "muted" }, t("risk.lastChange"), " ", badge(r.lastChange.from ?? "—"), " → ", badge(r.lastChange.to), ` ${when(r.lastChange.at)}`) : null,
      r.override ? h("p", { class: "notice", text: t("risk.overridden", { level: state(r.override.level), reason: r.override.reason ?? "" }) }) : null,
      h("h3", { text: t("risk.whatMoved") }),
      table([
        { label: t("risk.signal"), get: (x) => signalName(x.signal) },
        { label: t("risk.value"), get: (x) => x.value, num: true },
        { label: t("risk.weight"), get: (x) => x.weight, num: true },
        { label: t("risk.threshold"), get: (x) => x.threshold, num: true },
        { label: t("risk.contribution"), get: (x) => x.contribution, num: true },
        { label: t("risk.rule"), get: (x) => (x.rule ? ruleText(x) : x.detail ? h("span", { class: "mono", text: Object.entries(x.detail).map(([k, v]) => `${k}=${v}`).join(" ") }) : "") },
      ], rating.explanation ?? [], { empty: t("risk.noSignal") }),
      r.recentSignals?.length ? [h("h3", { text: t("risk.recentSignals") }), table([
        { label: t("col.when"), get: (x) => when(x.occurredAt) }, { label: t("risk.kind"), get: (x) => signalName(x.kind) },
        { label: t("risk.source"), get: (x) => x.source }, { label: t("risk.record"), get: (x) => h("span", { class: "mono", text: x.recordId }) },
      ], r.recentSignals)] : null]);
    if (isRegulator(ctx.me)) card.append(riskActions(ctx, id, () => riskExplanation(ctx, card, id)));
  } catch (err) {
    if (err.name !== "AbortError") card.append(errorBox(err));
  }
}

function riskActions(ctx, id, reload) {
  const out = h("div", { id: "risk-action-result" });
  const level = select(LEVELS.map((x) => [x, state(x)]), "high", { id: "override-level" });
  const reason = h("input", { id: "override-reason", size: 30 });
  const override = h("button", { type: "button", id: "override", text: t("risk.override") });
  override.addEventListener("click", () => busy(override, out, async () => {
    if (!reason.value.trim()) throw new Error(t("risk.overrideReason"));
    await api(`/v1/merchants/${id}/risk/override`, { method: "POST", body: { level: level.value, reason: reason.value.trim() }, signal: ctx.signal });
    toast(t("risk.overrideDone", { level: state(level.value) }));
    await reload();
  }));
  const rerate = h("button", { type: "button", id: "rerate", text: t("risk.rerate") });
  rerate.addEventListener("click", () => busy(rerate, out, async () => {
    const r = await api("/v1/risk/rate", { method: "POST", signal: ctx.signal });
    toast(t("risk.rerateDone", { n: r.rated ?? r.merchants ?? "" }));
    await reload();
  }));
  return h("div", {}, h("h3", { text: t("risk.actions") }),
    h("div", { class: "actions" }, field(t("col.riskLevel"), level), field(t("confirm.reason"), reason), override, rerate), out);
}

// ---------------------------------------------------------------- enforcement record and public warnings

const ENTRY_KINDS = ["warning", "interview", "inspection", "dishonesty_listing", "dishonesty_removal"];

async function enforcementRecord(ctx, card, id) {
  const list = h("div", { id: "enforcement-list" });
  clear(card, h("h2", { text: t("enforcement.title") }), list);
  if (!has("get", "/v1/merchants/{merchantId}/enforcement")) return card.append(unavailable(t("enforcement.title")));
  const load = async () => {
    const r = await api(`/v1/merchants/${id}/enforcement`, { signal: ctx.signal });
    clear(list, table([
      { label: "#", get: (e) => e.entry.seq, num: true },
      { label: t("enforcement.kind"), get: (e) => tOr(`entry.${e.entry.kind}`, e.entry.kind) },
      { label: t("enforcement.date"), get: (e) => e.entry.occurredOn },
      { label: t("enforcement.document"), get: (e) => e.entry.documentRef },
      { label: t("enforcement.summary"), get: (e) => e.entry.summary },
      { label: t("enforcement.public"), get: (e) => (e.entry.public ? t("yes") : "—") },
      { label: t("enforcement.anchored"), get: (e) => (e.anchor ? h("span", { class: "verify-ok", text: "✓" }) : "…") },
    ], r.items.slice().reverse(), { empty: t("enforcement.none"), key: (e) => e.entry.seq }));
  };
  await load().catch((err) => { if (err.name !== "AbortError") clear(list, errorBox(err)); });
  if (!isRegulator(ctx.me)) return;
  const out = h("div", { id: "enforcement-result" });
  const kind = select(ENTRY_KINDS.map((k) => [k, t(`entry.${k}`)]), "warning", { id: "entry-kind" });
  const today = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai" }).format(new Date());
  const occurredOn = h("input", { type: "date", id: "entry-date", value: today, max: today });
  const documentRef = h("input", { id: "entry-document", placeholder: t("enforcement.documentExample"), size: 22 });
  const summary = h("input", { id: "entry-summary", size: 40 });
  const isPublic = h("input", { type: "checkbox", id: "entry-public", checked: true });
  const publicField = h("label", { class: "check" }, isPublic, t("enforcement.publish"));
  kind.addEventListener("change", () => { publicField.hidden = kind.value !== "warning"; });
  const submit = h("button", { type: "submit", class: "primary", id: "entry-submit", text: t("enforcement.record") });
  const form = h("form", { class: "row", id: "entry-form" },
    field(t("enforcement.kind"), kind), field(t("enforcement.date"), occurredOn), field(t("enforcement.document"), documentRef), field(t("enforcement.summary"), summary), publicField, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!documentRef.value.trim() || !summary.value.trim()) return clear(out, h("div", { class: "notice error", text: t("enforcement.missing") }));
    // Listing on the serious-dishonesty list is public and lasting: it is confirmed first.
    if (kind.value === "dishonesty_listing") {
      const ok = await confirmAction({ title: t("confirm.dishonesty.title", { merchant: merchantName(id) }), body: t("confirm.dishonesty.body"), confirmLabel: t("entry.dishonesty_listing"), reason: false });
      if (!ok) return;
    }
    const body = { kind: kind.value, occurredOn: occurredOn.value, documentRef: documentRef.value.trim(), summary: summary.value.trim() };
    if (kind.value === "warning") body.public = isPublic.checked;
    await busy(submit, out, async () => {
      await api(`/v1/merchants/${id}/enforcement`, { method: "POST", body, signal: ctx.signal });
      clear(out, h("div", { class: "notice success", text: t("enforcement.recorded") }));
      documentRef.value = ""; summary.value = "";
      await load();
    });
  });
  card.append(h("h3", { text: t("enforcement.add") }), form, out);
}

async function merchantCards(ctx, card, id) {
  const list = h("div", { class: "scroll" });
  clear(card, h("h2", { text: t("nav.cards") }), list);
  try {
    const page = await api(`/v1/merchants/${id}/cards${qs({ limit: 200 })}`, { signal: ctx.signal });
    clear(list, cardTable(page.items));
    if (page.nextCursor) card.append(h("p", { class: "muted", text: t("cards.first200") }));
  } catch (err) {
    if (err.name !== "AbortError") clear(list, errorBox(err));
  }
}

export const cardTable = (items, extra = []) => table([
  { label: t("col.card"), get: (c) => h("span", { class: "mono", text: c.cardId }) },
  { label: t("col.holder"), get: (c) => h("span", { class: "mono", title: c.holder, text: short(c.holder) }) },
  { label: t("col.plan"), get: (c) => `#${c.planIndex} · ${state(c.kind)}` },
  { label: t("col.status"), get: (c) => badge(c.status) },
  { label: t("col.usedLeft"), get: (c) => `${c.unitsUsed} / ${c.unitsLeft}`, num: true },
  { label: t("money.paidIn"), get: (c) => yuan(c.paidInFen), num: true },
  { label: t("money.released"), get: (c) => yuan(c.releasedFen), num: true },
  { label: t("money.refunded"), get: (c) => yuan(c.refundedFen), num: true },
  { label: t("money.held"), get: (c) => yuan(c.heldFen), num: true },
  { label: t("col.expires"), get: (c) => when(c.expiresAt) },
  ...extra,
], items, { empty: t("cards.none"), key: (c) => c.cardId });

// ---------------------------------------------------------------- hotline and disputes

const CATEGORIES = ["refund", "service", "closure", "fraud", "other"];

export async function hotline(ctx, el) {
  const status = select([["", t("filter.all")], ...["routed", "accepted", "closed"].map((x) => [x, state(x)])], "", { id: "ticket-status" });
  const list = h("div", { class: "scroll", id: "ticket-list" });
  const stats = h("div", { id: "dispatch-stats" });
  const intake = h("div", { class: "card", id: "ticket-intake" });
  clear(el, h("div", { class: "card" }, h("div", { class: "row between" }, h("h1", { text: t("hotline.title") }), field(t("col.status"), status)), list),
    ctx.me.role === "platform_regulator" ? intake : null,
    h("div", { class: "card" }, h("h2", { text: t("hotline.stats") }), stats));
  // A regulator is named by the industries it answers for.
  const industries = await api("/v1/industries", { signal: ctx.signal }).then((r) => r.items).catch(() => []);
  const assigneeName = (a) => {
    const names = industries.filter((i) => i.industryId > 0 && i.regulator && i.regulator === a).map((i) => industryName(i.industryId));
    return names.length ? t("hotline.regulatorOf", { industries: names.join("、") }) : short(a);
  };
  const loadStats = async () => {
    const st = await api("/v1/hotline/dispatch-stats", { signal: ctx.signal });
    clear(stats, table([
      { label: t("col.industry"), get: (r) => industryName(r.industryId) }, { label: t("hotline.tickets"), get: (r) => r.tickets, num: true },
      { label: t("hotline.toBureau"), get: (r) => r.routedToBureau, num: true }, { label: t("hotline.transfers"), get: (r) => r.transfers, num: true },
      { label: t("hotline.wrong"), get: (r) => r.wrongDispatches, num: true }, { label: t("hotline.closed"), get: (r) => r.closed, num: true },
    ], st.items, { empty: t("hotline.none") }));
  };
  const load = async () => {
    const page = await api(`/v1/hotline/tickets${qs({ status: status.value, limit: 200 })}`, { signal: ctx.signal });
    await loadMerchantNames(page.items.map((x) => x.merchantId), ctx.signal);
    loadStats().catch((err) => { if (err.name !== "AbortError") clear(stats, errorBox(err)); });
    clear(list, table([
      { label: t("hotline.ticket"), get: (x) => h("span", { class: "mono", text: x.ticketId }) },
      { label: t("col.merchant"), get: (x) => merchantLink(x.merchantId) },
      { label: t("col.industry"), get: (x) => industryName(x.industryId) },
      { label: t("hotline.category"), get: (x) => tOr(`category.${x.category}`, x.category) },
      { label: t("hotline.summary"), get: (x) => x.summary },
      { label: t("hotline.received"), get: (x) => when(x.receivedAt) },
      { label: t("hotline.queue"), get: (x) => (x.queue === "bureau" ? t("hotline.bureau") : h("span", { title: x.assignee, text: assigneeName(x.assignee) })) },
      { label: t("col.status"), get: (x) => badge(x.status) },
      { label: "", get: (x) => ticketActions(ctx, x, load) },
    ], page.items, { empty: t("hotline.none"), key: (x) => x.ticketId }));
  };
  status.addEventListener("change", () => load().catch((e) => clear(list, errorBox(e))));
  await load();
  if (ctx.me.role === "platform_regulator") ticketIntake(ctx, intake, load);
}

/** The bureau takes a 12345 ticket in: it goes to the regulator of the merchant's industry (or stays with the bureau). */
function ticketIntake(ctx, card, reload) {
  const out = h("div", { id: "intake-result" });
  const stamp = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai" }).format(new Date()).replace(/-/g, "");
  const ticketId = h("input", { id: "intake-ticket", value: `T${stamp}-`, size: 16 });
  const merchant = h("input", { id: "intake-merchant", class: "narrow", inputmode: "numeric" });
  const category = select(CATEGORIES.map((c) => [c, t(`category.${c}`)]), "refund", { id: "intake-category" });
  const summary = h("input", { id: "intake-summary", size: 40 });
  const submit = h("button", { type: "submit", class: "primary", id: "intake-submit", text: t("hotline.intake") });
  const form = h("form", { class: "row", id: "intake-form" },
    field(t("hotline.ticket"), ticketId), field(t("hotline.merchantNo"), merchant), field(t("hotline.category"), category), field(t("hotline.summary"), summary), submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, out, async () => {
      if (!/^[A-Za-z0-9-]{1,40}$/.test(ticketId.value.trim())) throw new Error(t("hotline.badTicket"));
      if (!/^\d+$/.test(merchant.value.trim())) throw new Error(t("hotline.badMerchant"));
      if (!summary.value.trim()) throw new Error(t("hotline.needSummary"));
      const r = await api("/v1/hotline/tickets", { method: "POST", signal: ctx.signal, body: {
        ticketId: ticketId.value.trim(), merchantId: Number(merchant.value.trim()), category: category.value, summary: summary.value.trim(), receivedAt: Math.floor(Date.now() / 1000),
      } });
      clear(out, h("div", { class: "notice success", text: r.queue === "bureau" ? t("hotline.intakeBureau") : t("hotline.intakeRouted") }));
      summary.value = "";
      await reload();
    });
  });
  clear(card, h("h2", { text: t("hotline.intakeTitle") }), h("p", { class: "muted", text: t("hotline.intakeHelp") }), form, out);
}

function ticketActions(ctx, x, reload) {
  const out = h("div");
  if (x.status === "closed") return h("span", { class: "muted", text: x.resolution ?? "" });
  const wrap = h("div", { class: "actions" });
  if (x.status === "routed") {
    wrap.append(h("button", { class: "small", type: "button", text: t("hotline.accept"), onclick: (e) => busy(e.currentTarget, out, async () => {
      await api(`/v1/hotline/tickets/${encodeURIComponent(x.ticketId)}/accept`, { method: "POST", signal: ctx.signal });
      await reload();
    }) }));
  }
  wrap.append(h("button", { class: "small", type: "button", text: t("hotline.transfer"), "data-transfer": x.ticketId, onclick: async (e) => {
    const button = e.currentTarget;
    // Where it can go: the bureau, or a designated industry regulator (named by its industries).
    const industries = await api("/v1/industries", { signal: ctx.signal }).then((r) => r.items).catch(() => []);
    const byRegulator = new Map();
    for (const i of industries) if (i.regulator && i.industryId > 0) byRegulator.set(i.regulator, [...(byRegulator.get(i.regulator) ?? []), industryName(i.industryId)]);
    const to = select([["bureau", t("hotline.bureau")], ...[...byRegulator].filter(([a]) => a !== x.assignee).map(([a, names]) => [a, `${names.join("、")}（${short(a)}）`])], "bureau", { id: "transfer-to" });
    const wrong = h("input", { type: "checkbox", id: "transfer-wrong" });
    const note = await confirmAction({
      title: t("hotline.transferTitle", { ticket: x.ticketId }), body: t("hotline.transferHelp"), confirmLabel: t("hotline.transfer"), reasonLabel: t("hotline.transferNote"), danger: false,
      fields: [{ label: t("hotline.transferTo"), input: to }, { label: t("hotline.wrongDispatch"), input: wrong, inline: true }],
    });
    if (!note) return;
    await busy(button, out, async () => {
      await api(`/v1/hotline/tickets/${encodeURIComponent(x.ticketId)}/transfer`, { method: "POST", body: { to: to.value, note, wrongDispatch: wrong.checked }, signal: ctx.signal });
      await reload();
    });
  } }));
  wrap.append(h("button", { class: "small", type: "button", text: t("hotline.close"), "data-close": x.ticketId, onclick: async (e) => {
    const button = e.currentTarget;
    const resolution = await confirmAction({ title: t("confirm.close.title", { ticket: x.ticketId }), body: t("confirm.close.body"), confirmLabel: t("hotline.close"), reasonLabel: t("hotline.resolution"), danger: false });
    if (!resolution) return;
    await busy(button, out, async () => {
      await api(`/v1/hotline/tickets/${encodeURIComponent(x.ticketId)}/close`, { method: "POST", body: { resolution }, signal: ctx.signal });
      await reload();
    });
  } }));
  return h("div", {}, wrap, out);
}

export async function disputes(ctx, el) {
  const status = select([["open", state("open")], ["refunded", t("disputes.refunded")], ["denied", t("disputes.denied")]], "open", { id: "dispute-status" });
  const list = h("div", { class: "scroll", id: "dispute-list" });
  clear(el, h("div", { class: "card" }, h("div", { class: "row between" }, h("h1", { text: t("disputes.title") }), field(t("col.status"), status)),
    h("p", { class: "muted", text: t("disputes.help") }), list));
  const load = async () => {
    const page = await api(`/v1/disputes${qs({ status: status.value, limit: 200 })}`, { signal: ctx.signal });
    await loadMerchantNames(page.items.map((d) => d.merchantId), ctx.signal);
    clear(list, table([
      { label: t("col.card"), get: (d) => h("span", { class: "mono", text: d.cardId }) },
      { label: t("col.merchant"), get: (d) => merchantLink(d.merchantId) },
      { label: t("col.industry"), get: (d) => industryName(d.industryId) },
      { label: t("disputes.opened"), get: (d) => when(d.openedAt) },
      { label: t("money.held"), get: (d) => yuan(d.amountFen), num: true },
      { label: t("money.refunded"), get: (d) => yuan(d.refundedFen), num: true },
      { label: t("money.released"), get: (d) => yuan(d.releasedFen), num: true },
      { label: t("col.status"), get: (d) => badge(d.status) },
      { label: t("disputes.decision"), get: (d) => (d.status === "open" && isRegulator(ctx.me) ? decide(ctx, d, load) : "") },
    ], page.items, { empty: t("disputes.none") }));
  };
  status.addEventListener("change", () => load().catch((e) => clear(list, errorBox(e))));
  await load();
}

function decide(ctx, d, reload) {
  const out = h("div");
  const refund = h("input", { class: "narrow", placeholder: t("disputes.refundYuan"), value: "" });
  return h("div", {}, h("div", { class: "actions" }, refund,
    h("button", { class: "small", type: "button", text: t("disputes.decide"), onclick: async (e) => {
      const button = e.currentTarget;
      let refundFen;
      try {
        refundFen = fenOf(refund.value || "0");
        if (BigInt(refundFen) > BigInt(d.amountFen)) throw new Error(t("disputes.atMost", { amount: yuan(d.amountFen) }));
      } catch (err) { return clear(out, errorBox(err)); }
      const rest = (BigInt(d.amountFen) - BigInt(refundFen)).toString();
      const ok = await confirmAction({
        title: t("confirm.decide.title", { card: d.cardId }), reason: false, danger: false, confirmLabel: t("disputes.decide"),
        body: t("confirm.decide.body", { refund: yuan(refundFen), release: yuan(rest), merchant: merchantName(d.merchantId) }),
      });
      if (!ok) return;
      await busy(button, out, async () => {
        await api(`/v1/disputes/${d.cardId}/decision`, { method: "POST", body: { refundFen }, signal: ctx.signal });
        toast(BigInt(refundFen) === 0n ? t("disputes.deniedToast") : t("disputes.refundedToast", { amount: yuan(refundFen) }));
        await reload();
      });
    } })), out);
}
