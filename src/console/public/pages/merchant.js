// Merchants: plans (publish), cards (ask a holder to confirm lessons with a QR code and see it confirmed live; accept or
// refuse refund requests), consumption vouchers (submit and follow), payouts, and the exit notice.

import { api, qs } from "../lib/api.js";
import { h, clear, table, badge, when, short, kpi, errorBox, busy, field, select, toast, confirmAction } from "../lib/dom.js";
import { yuan, fenOf } from "../lib/money.js";
import { t, state } from "/web-public/shared/i18n.js";
import { cardTable } from "./regulator.js";
import { keyTable } from "./admin.js";

const mid = (ctx) => Number(ctx.me.subject);

export async function plans(ctx, el) {
  const list = h("div", { id: "plan-list" });
  const out = h("div", { id: "plan-result" });
  const kind = select([["lesson", t("plan.kindLesson")], ["periodic", t("plan.kindPeriodic")]], "lesson", { id: "plan-kind" });
  const units = h("input", { class: "narrow", id: "plan-units", inputmode: "numeric", value: "10" });
  const periodDays = h("input", { class: "narrow", id: "plan-period", inputmode: "numeric", value: "30", disabled: true });
  const validity = h("input", { class: "narrow", id: "plan-validity", inputmode: "numeric", value: "90" });
  const price = h("input", { class: "narrow", id: "plan-price", placeholder: "¥", value: "" });
  const publish = h("button", { class: "primary", type: "submit", id: "plan-publish", text: t("plan.publish") });
  kind.addEventListener("change", () => { periodDays.disabled = kind.value !== "periodic"; });
  const form = h("form", { class: "row", id: "plan-form" },
    field(t("plan.kind"), kind), field(t("plan.units"), units), field(t("plan.periodDays"), periodDays), field(t("plan.validity"), validity), field(t("plan.price"), price), publish);
  const load = async () => {
    const r = await api(`/v1/merchants/${mid(ctx)}/plans`, { signal: ctx.signal });
    clear(list, table([
      { label: t("col.plan"), get: (p) => `#${p.planIndex}` }, { label: t("plan.kind"), get: (p) => state(p.kind) },
      { label: t("plan.units"), get: (p) => p.units, num: true },
      { label: t("plan.period"), get: (p) => (p.periodSeconds ? t("plan.days", { n: Math.round(p.periodSeconds / 86400) }) : "—") },
      { label: t("plan.validFor"), get: (p) => (p.validityDays ? t("plan.days", { n: p.validityDays }) : t("plan.noLimit")) },
      { label: t("plan.price"), get: (p) => yuan(p.priceFen), num: true },
      { label: t("plan.onSale"), get: (p) => badge(p.active ? "active" : "withdrawn") },
    ], r.items, { empty: t("plan.none"), key: (p) => p.planIndex }));
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(publish, out, async () => {
      const whole = (v, name) => { if (!/^\d+$/.test(v.trim())) throw new Error(t("form.whole", { name })); return Number(v.trim()); };
      let priceFen;
      try { priceFen = fenOf(price.value); } catch { throw new Error(t("form.yuan")); }
      const body = {
        kind: kind.value, units: whole(units.value, t("plan.units")), validityDays: whole(validity.value || "0", t("plan.validity")), priceFen,
        ...(kind.value === "periodic" ? { periodSeconds: whole(periodDays.value, t("plan.periodDays")) * 86400 } : {}),
      };
      const r = await api(`/v1/merchants/${mid(ctx)}/plans`, { method: "POST", body, signal: ctx.signal });
      clear(out, h("div", { class: "notice success", text: t("plan.published", { block: r.blockNumber ?? "?" }) }));
      await load();
    });
  });
  clear(el, h("div", { class: "card" }, h("h1", { text: t("nav.plans") }),
    h("p", { class: "muted", text: t("plan.help") }),
    list, h("h3", { text: t("plan.publishTitle") }), form, out));
  await load();
}

export async function cards(ctx, el) {
  const status = select([["", t("filter.anyStatus")], ...["active", "refund_requested", "disputed", "refunded", "consumed"].map((s) => [s, state(s)])], "", { id: "card-status" });
  const list = h("div", { class: "scroll", id: "card-list" });
  const more = h("button", { type: "button", text: t("action.more"), hidden: true });
  const summary = h("div", { id: "merchant-summary" });
  const ask = h("div", { id: "confirm-request" });
  const out = h("div", { id: "card-action-result" });
  clear(el, summary, ask, h("div", { class: "card" }, h("div", { class: "row between" }, h("h1", { text: t("nav.cards") }), field(t("col.status"), status)), out, list, more));
  const m = await api(`/v1/merchants/${mid(ctx)}`, { signal: ctx.signal });
  clear(summary, h("div", { class: "card" }, h("div", { class: "kpis" },
    kpi(t("col.status"), state(m.status)), kpi(t("col.riskLevel"), state(m.riskLevel)), kpi(t("merchant.cardsSold"), String(m.cardCount ?? 0)),
    kpi(t("money.paidIn"), yuan(m.paidInFen)), kpi(t("money.heldInEscrow"), yuan(m.heldFen)), kpi(t("money.released"), yuan(m.releasedFen)), kpi(t("money.payableNow"), yuan(m.payableFen)))));
  let cursor = null, rows = [];
  const actions = {
    label: "", get: (c) => {
      const wrap = h("div", { class: "actions" });
      if (c.kind === "lesson" && c.status === "active" && c.unitsLeft > 0) {
        wrap.append(h("button", { class: "small primary", type: "button", "data-ask": c.cardId, text: t("merchant.askConfirm"), onclick: () => askConfirm(ctx, ask, c) }));
      }
      if (c.status === "refund_requested") {
        wrap.append(
          h("button", { class: "small", type: "button", "data-refund-accept": c.cardId, text: t("merchant.acceptRefund"), onclick: (e) => refundAnswer(ctx, e.currentTarget, out, c, "accept", () => load(true)) }),
          h("button", { class: "small danger", type: "button", "data-refund-reject": c.cardId, text: t("merchant.rejectRefund"), onclick: (e) => refundAnswer(ctx, e.currentTarget, out, c, "reject", () => load(true)) }));
      }
      return wrap;
    },
  };
  const load = async (reset) => {
    if (reset) { cursor = null; rows = []; }
    const r = await api(`/v1/merchants/${mid(ctx)}/cards${qs({ status: status.value, limit: 100, cursor })}`, { signal: ctx.signal });
    rows = rows.concat(r.items);
    cursor = r.nextCursor;
    more.hidden = !cursor;
    clear(list, cardTable(rows, [actions]));
  };
  status.addEventListener("change", () => load(true).catch((e) => clear(list, errorBox(e))));
  more.addEventListener("click", () => busy(more, list, () => load(false)));
  await load(true);
}

/** Accepting refunds the balance; refusing sends the request to the regulator, so it is confirmed with a reason. */
async function refundAnswer(ctx, button, out, c, action, reload) {
  const ok = await confirmAction({
    title: t(`confirm.refund.${action}.title`, { card: c.cardId }), body: t(`confirm.refund.${action}.body`, { amount: yuan(c.heldFen) }),
    confirmLabel: action === "accept" ? t("merchant.acceptRefund") : t("merchant.rejectRefund"), reason: false, danger: action === "reject",
  });
  if (!ok) return;
  await busy(button, out, async () => {
    await api(`/v1/cards/${c.cardId}/refund/${action}`, { method: "POST", body: {}, signal: ctx.signal });
    clear(out, h("div", { class: "notice success", text: t(`merchant.refund.${action}ed`, { card: c.cardId }) }));
    await reload();
  });
}

/**
 * Asks the holder to confirm lessons: the gateway gives a link and its QR code; the holder scans it with the phone
 * that holds their key, checks and signs. The page follows the card until the chain records the lessons.
 */
function askConfirm(ctx, box, c) {
  const lessons = h("input", { class: "narrow", id: "ask-lessons", inputmode: "numeric", value: "1" });
  const go = h("button", { type: "submit", class: "primary", id: "ask-go", text: t("merchant.showQr") });
  const out = h("div", { id: "ask-result" });
  const form = h("form", { class: "row" }, field(t("merchant.lessons"), lessons), go,
    h("button", { type: "button", text: t("action.close"), onclick: () => { box.textContent = ""; } }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(go, out, async () => {
      if (!/^\d+$/.test(lessons.value.trim()) || Number(lessons.value) < 1) throw new Error(t("form.whole", { name: t("merchant.lessons") }));
      const n = Number(lessons.value.trim());
      const before = await api(`/v1/cards/${c.cardId}`, { signal: ctx.signal });
      const r = await api(`/v1/cards/${c.cardId}/consumption-requests`, { method: "POST", body: { lessons: n }, signal: ctx.signal });
      const live = h("div", { class: "notice", id: "ask-status", "data-confirmed": "false", text: t("merchant.waiting") });
      clear(out, h("div", { class: "qr-box" },
        h("img", { class: "qr", id: "ask-qr", alt: t("merchant.qrAlt"), src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.qrSvg)}` }),
        h("div", {}, h("p", { class: "big", text: t("merchant.askFacts", { n, card: c.cardId }) }),
          h("p", { id: "ask-words", text: t("voucher.signedWords", { merchant: r.merchantName ?? t("voucher.noName"), id: r.merchantId, lessons: r.lessons, amount: yuan(r.releasesFen) }) }),
          h("p", { class: "muted", text: t("merchant.scan") }), h("p", { class: "mono small-link" }, h("a", { href: r.link, target: "_blank", rel: "noopener", id: "ask-link", text: r.link })), live)));
      // Follow the card until its lessons used go up (the holder signed and the chain recorded it), for 10 minutes.
      const until = Date.now() + 600_000;
      while (!ctx.signal.aborted && box.isConnected && Date.now() < until) {
        await new Promise((res) => setTimeout(res, 1000));
        const now = await api(`/v1/cards/${c.cardId}`, { signal: ctx.signal }).catch(() => null);
        if (now && now.unitsUsed > before.unitsUsed) {
          live.className = "notice success";
          live.setAttribute("data-confirmed", "true");
          live.textContent = t("merchant.confirmed", { n: now.unitsUsed - before.unitsUsed, released: yuan((BigInt(now.releasedFen) - BigInt(before.releasedFen)).toString()) });
          toast(live.textContent);
          return;
        }
      }
    });
  });
  clear(box, h("div", { class: "card" }, h("h2", { text: t("merchant.askTitle", { card: c.cardId }) }),
    h("p", { class: "muted", text: t("merchant.askHelp", { left: c.unitsLeft, held: yuan(c.heldFen) }) }), form, out));
  box.scrollIntoView({ block: "start" });
  lessons.focus();
}

/** Vouchers as consumers' wallets give them: a JSON array, { vouchers: [...] }, or one JSON object per line. */
function parseVouchers(text) {
  const tx = text.trim();
  if (!tx) throw new Error(t("vouchers.none"));
  let list;
  try {
    const v = JSON.parse(tx);
    list = Array.isArray(v) ? v : Array.isArray(v?.vouchers) ? v.vouchers : [v];
  } catch {
    try { list = tx.split(/\r?\n/).filter(Boolean).map((l) => JSON.parse(l)); } catch { throw new Error(t("vouchers.badJson")); }
  }
  // As signed: the typed data's message (merchantId, cardId, lessons, amount, sequence, deadline) and v, r, s. The
  // gateway checks every field; only the ids and the amount, which a wallet may give as numbers, become strings.
  return list.map((v) => ({ ...v, cardId: String(v.cardId), ...(v.amount === undefined ? {} : { amount: String(v.amount) }) }));
}

export async function consumptions(ctx, el) {
  const file = h("input", { type: "file", id: "voucher-file", accept: ".json,.jsonl,application/json,text/plain" });
  const text = h("textarea", { id: "voucher-text", spellcheck: "false", placeholder: '[{"merchantId":1,"cardId":"4294967297","lessons":1,"amount":"15000","sequence":0,"deadline":1790000000,"v":27,"r":"0x…","s":"0x…"}]' });
  const submit = h("button", { class: "primary", type: "button", id: "voucher-submit", text: t("vouchers.submit") });
  const out = h("div", { id: "voucher-result" });
  const status = select([["", t("filter.all")], ...["queued", "sent", "confirmed", "failed"].map((s) => [s, state(s)])], "", { id: "queue-status" });
  const list = h("div", { class: "scroll", id: "queue-list" });
  const refresh = h("button", { type: "button", text: t("action.refresh") });
  file.addEventListener("change", async () => { if (file.files?.[0]) text.value = await file.files[0].text(); });
  clear(el, h("div", { class: "grid halves" },
    h("div", { class: "card" }, h("h1", { text: t("vouchers.title") }),
      h("p", { class: "muted", text: t("vouchers.help") }),
      h("div", { class: "row" }, field(t("vouchers.file"), file)), h("p", {}, text), submit, out),
    h("div", { class: "card" }, h("div", { class: "row between" }, h("h2", { text: t("vouchers.queue") }), h("div", { class: "row" }, field(t("col.status"), status), refresh)), list)));
  const load = async () => {
    const r = await api(`/v1/merchants/${mid(ctx)}/consumptions${qs({ status: status.value, limit: 200 })}`, { signal: ctx.signal });
    const items = r.items.slice().reverse();
    clear(list, table([
      { label: t("vouchers.queueId"), get: (x) => x.id, num: true }, { label: t("col.card"), get: (x) => h("span", { class: "mono", text: x.cardId }) },
      { label: t("merchant.lessons"), get: (x) => x.lessons, num: true }, { label: t("vouchers.sequence"), get: (x) => x.sequence, num: true },
      { label: t("col.status"), get: (x) => badge(x.status) },
      { label: t("vouchers.txOrError"), get: (x) => (x.error ? h("span", { class: "verify-bad", text: x.error }) : x.txHash ? h("span", { class: "mono", title: x.txHash, text: short(x.txHash) }) : "—") },
    ], items, { empty: t("vouchers.nothing"), key: (x) => x.id }));
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
    clear(out, h("div", { class: "notice success", text: t("vouchers.queued", { n: r.accepted }) }));
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
  const exit = h("div", { class: "card", id: "exit" });
  const account = h("div", { class: "card", id: "payout-account" });
  clear(el, h("div", { class: "card" }, h("h1", { text: t("nav.payouts.merchant") }), head, out, h("h3", { text: t("payouts.paidSoFar") }), list), account, exit);
  await payoutAccount(ctx, account);
  const load = async () => {
    const m = await api(`/v1/merchants/${mid(ctx)}`, { signal: ctx.signal });
    const request = h("button", { class: "primary", type: "button", id: "payout-request", text: t("payouts.request"), disabled: BigInt(m.payableFen) === 0n });
    // The direct shares whose cooling-off ended become payable (the gateway also does it on its own).
    const direct = h("button", { type: "button", id: "direct-release", text: t("law.direct.release") });
    direct.addEventListener("click", () => busy(direct, out, async () => {
      const r = await api(`/v1/merchants/${mid(ctx)}/direct-releases`, { method: "POST", signal: ctx.signal });
      clear(out, h("div", { class: "notice", "data-released": String(r.cardIds.length), text: r.cardIds.length ? t("law.direct.released", { n: r.cardIds.length }) : t("law.direct.none") }));
      if (r.cardIds.length) await load();
    }));
    request.addEventListener("click", () => busy(request, out, async () => {
      const r = await api(`/v1/merchants/${mid(ctx)}/payouts`, { method: "POST", signal: ctx.signal });
      toast(t("payouts.orderedInBlock", { block: r.blockNumber ?? "?" }));
      clear(out, h("div", { class: "notice success", text: t("payouts.ordered") }));
      await load();
    }));
    clear(head, h("div", { class: "kpis" },
      kpi(t("money.payableNow"), yuan(m.payableFen), { id: "payable" }), kpi(t("payouts.releasedSoFar"), yuan(m.releasedFen)), kpi(t("payouts.paidOutSoFar"), yuan(m.paidOutFen)),
      kpi(t("payouts.stillHeld"), yuan(m.heldFen))),
      h("p", {}, request, " ", h("span", { class: "muted", text: t("payouts.releasedOnly") })),
      h("p", {}, direct, " ", h("span", { class: "muted", text: t("law.direct.help") })));
    const r = await api(`/v1/ledger${qs({ merchantId: mid(ctx), event: "PaidOut", limit: 200 })}`, { signal: ctx.signal });
    clear(list, table([
      { label: t("col.when"), get: (x) => when(x.blockTime) }, { label: t("reconcile.amount"), get: (x) => yuan(x.amountFen), num: true },
      { label: t("col.block"), get: (x) => x.blockNumber, num: true }, { label: t("col.tx"), get: (x) => h("span", { class: "mono", title: x.txHash, text: short(x.txHash) }) },
    ], r.items.slice().reverse(), { empty: t("payouts.noneYet") }));
    exitNotice(ctx, exit, m, load);
  };
  await load();
}

/** The payout account: the one in force, one proposed, and a form to propose a new one (its regulator confirms it). */
async function payoutAccount(ctx, card) {
  const a = await api(`/v1/merchants/${mid(ctx)}/payout-account`, { signal: ctx.signal });
  const text = (x) => (x ? `${x.bankName ?? "?"} ${x.accountNumber ?? ""}` : t("law.payout.none"));
  const bankName = h("input", { id: "payout-bank", size: 24, autocomplete: "off" });
  const number = h("input", { id: "payout-number", size: 28, inputmode: "numeric", autocomplete: "off" });
  const propose = h("button", { type: "submit", class: "primary", id: "payout-propose", text: t("law.payout.propose") });
  const out = h("div", { id: "payout-propose-result" });
  const form = h("form", { class: "row", id: "payout-form" }, field(t("law.payout.bankName"), bankName), field(t("law.payout.accountNumber"), number), propose);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(propose, out, async () => {
      await api(`/v1/merchants/${mid(ctx)}/payout-account`, { method: "POST", body: { bankName: bankName.value.trim(), accountNumber: number.value.trim() }, signal: ctx.signal });
      await payoutAccount(ctx, card);
    });
  });
  clear(card, h("h2", { text: t("law.payout.title") }), h("p", { class: "muted", text: t("law.payout.help") }),
    h("dl", { class: "facts" },
      h("dt", { text: t("law.payout.confirmed") }), h("dd", { id: "payout-confirmed", text: text(a.confirmed) }),
      h("dt", { text: t("law.payout.proposed") }), h("dd", { id: "payout-proposed", text: text(a.proposed) })),
    form, out);
}

/** Giving notice of exit: no more sales; cards are served or refunded until the notice ends. Cannot be withdrawn. */
function exitNotice(ctx, card, m, reload) {
  const out = h("div", { id: "exit-result" });
  if (m.status === "winding_down" || m.status === "exited") {
    return clear(card, h("h2", { text: t("exit.title") }), h("p", { class: "notice", id: "exit-state", text: m.exitEffectiveAt ? t("exit.running", { at: when(m.exitEffectiveAt) }) : state(m.status) }));
  }
  const go = h("button", { type: "button", class: "danger", id: "exit-announce", text: t("exit.announce") });
  go.addEventListener("click", async () => {
    const ok = await confirmAction({ title: t("confirm.exit.title"), body: t("confirm.exit.body"), confirmLabel: t("exit.announce"), reason: false });
    if (!ok) return;
    await busy(go, out, async () => {
      await api(`/v1/merchants/${mid(ctx)}/exit`, { method: "POST", signal: ctx.signal });
      await reload();
    });
  });
  clear(card, h("h2", { text: t("exit.title") }), h("p", { class: "muted", text: t("exit.help") }), go, out);
}

// ---------------------------------------------------------------- staff keys

/** The merchant's staff keys: issue one per person (shown once), revoke it when they leave. */
export async function staff(ctx, el) {
  const list = h("div", { class: "scroll", id: "staff-list" });
  const label = h("input", { id: "staff-label", size: 24, autocomplete: "off" });
  const issue = h("button", { type: "submit", class: "primary", id: "staff-issue", text: t("keys.issue") });
  const out = h("div", { id: "staff-result" });
  const form = h("form", { class: "row", id: "staff-form" }, field(t("keys.label"), label), issue);
  const base = `/v1/merchants/${mid(ctx)}/staff-keys`;
  const load = async () => {
    const r = await api(base, { signal: ctx.signal });
    clear(list, keyTable(ctx, r.items, out, (k) => `${base}/${k.id}/revoke`, load));
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(issue, out, async () => {
      if (!label.value.trim()) throw new Error(t("keys.needLabel"));
      const r = await api(base, { method: "POST", body: { label: label.value.trim() }, signal: ctx.signal });
      const keyBox = h("input", { id: "issued-staff-key", readonly: true, value: r.key, size: 60, class: "mono" });
      clear(out, h("div", { class: "notice success" }, h("p", { text: t("keys.issued", { label: r.label }) }), keyBox, h("p", { class: "muted", text: t("keys.once") })));
      keyBox.select();
      label.value = "";
      await load();
    });
  });
  clear(el, h("div", { class: "card" }, h("h1", { text: t("nav.staff") }), h("p", { class: "muted", text: t("staff.help") }), form, out), h("div", { class: "card" }, list));
  await load();
}
