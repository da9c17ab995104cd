// Custodian banks: custody positions (indexed and on-chain side by side), opening and renewing cards once the money is
// in the custody account, statement reconciliation over a chosen period, and the payout and refund queues.

import { api, qs, downloadCsv } from "../lib/api.js";
import { h, clear, table, badge, when, short, kpi, errorBox, busy, field, select, toast, confirmAction } from "../lib/dom.js";
import { yuan } from "../lib/money.js";
import { t, tOr, day } from "/web-public/shared/i18n.js";
import { loadMerchantNames, merchantName, merchantProfile, bankName } from "../lib/names.js";

const bankId = (ctx) => Number(ctx.me.subject);
const agrees = (ok) => h("span", { class: `badge ${ok ? "ok" : "bad"}`, "data-agrees": String(ok), text: ok ? t("bank.agrees") : t("bank.differs") });

export async function positions(ctx, el) {
  const totals = h("div", { id: "position-totals" });
  const list = h("div", { class: "scroll", id: "position-list" });
  const more = h("button", { type: "button", text: t("action.more"), hidden: true });
  const refresh = h("button", { type: "button", text: t("bank.readAgain") });
  clear(el, h("div", { class: "card" },
    h("div", { class: "row between" }, h("h1", { text: t("bank.positionsTitle", { bank: bankName(bankId(ctx)) }) }), refresh),
    h("p", { class: "muted", text: t("bank.positionsHelp") }),
    totals, h("h3", { text: t("bank.perMerchant") }), list, more));
  let cursor = null, rows = [];
  const load = async (reset) => {
    if (reset) { cursor = null; rows = []; }
    const r = await api(`/v1/banks/${bankId(ctx)}/positions${qs({ limit: 100, cursor })}`, { signal: ctx.signal });
    await loadMerchantNames(r.items.map((p) => p.merchantId), ctx.signal);
    const tt = r.total;
    clear(totals, h("div", { class: "kpis" },
      kpi(t("bank.indexed"), yuan(tt.indexedFen)), kpi(t("bank.escrowOnChain"), yuan(tt.onChainEscrowFen)),
      kpi(t("bank.supply"), yuan(tt.tokenSupplyFen)),
      h("div", { class: "kpi", id: "position-agrees" }, h("div", { class: "k", text: t("bank.indexAndChain") }), h("div", { class: "v" }, agrees(tt.agrees)))),
      h("p", { class: "muted mono", text: t("bank.token", { token: r.token }) }));
    rows = rows.concat(r.items);
    cursor = r.nextCursor;
    more.hidden = !cursor;
    clear(list, table([
      { label: t("col.merchant"), get: (p) => merchantName(p.merchantId) },
      { label: t("col.status"), get: (p) => badge(p.status) },
      { label: t("bank.heldIndexed"), get: (p) => yuan(p.indexed.heldFen), num: true },
      { label: t("bank.heldOnChain"), get: (p) => yuan(p.onChain.heldFen), num: true },
      { label: t("bank.payableIndexed"), get: (p) => yuan(p.indexed.payableFen), num: true },
      { label: t("bank.payableOnChain"), get: (p) => yuan(p.onChain.payableFen), num: true },
      { label: "", get: (p) => agrees(p.agrees) },
    ], rows, { empty: t("bank.noMerchants"), key: (p) => p.merchantId }));
  };
  more.addEventListener("click", () => busy(more, list, () => load(false)));
  refresh.addEventListener("click", () => busy(refresh, list, () => load(true)));
  await load(true);
}

// ---------------------------------------------------------------- cards: open once paid, renew

export async function cards(ctx, el) {
  const merchants = (await api(`/v1/merchants${qs({ limit: 500 })}`, { signal: ctx.signal })).items;
  await loadMerchantNames(merchants.map((m) => m.merchantId), ctx.signal);
  const selling = merchants.filter((m) => m.status === "active");
  const merchant = select([["", t("bank.chooseMerchant")], ...selling.map((m) => [m.merchantId, merchantName(m.merchantId)])], "", { id: "open-merchant" });
  const plan = select([["", t("bank.choosePlanFirst")]], "", { id: "open-plan" });
  const holder = h("input", { id: "open-holder", placeholder: "0x…", size: 44, autocomplete: "off" });
  const named = h("input", { type: "checkbox", id: "open-named", checked: true });
  const open = h("button", { type: "submit", class: "primary", id: "open-card", text: t("bank.openCard") });
  const out = h("div", { id: "open-result" });
  let plans = [];
  const planLabel = (p) => `#${p.planIndex} · ${p.kind === "lesson" ? t("plan.lessons", { n: p.units }) : t("plan.periods", { n: p.units })} · ${yuan(p.priceFen)}`;
  merchant.addEventListener("change", async () => {
    plans = merchant.value ? (await api(`/v1/merchants/${merchant.value}/plans`, { signal: ctx.signal })).items.filter((p) => p.active) : [];
    clear(plan, ...(plans.length ? plans : [null]).map((p) => (p ? h("option", { value: p.planIndex, text: planLabel(p) }) : h("option", { value: "", text: t("bank.noPlans") }))));
  });
  const form = h("form", { class: "row", id: "open-form" },
    field(t("col.merchant"), merchant), field(t("col.plan"), plan), field(t("bank.holder"), holder), h("label", { class: "check" }, named, t("bank.named")), open);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = plans.find((x) => String(x.planIndex) === plan.value);
    if (!merchant.value || !p) return clear(out, h("div", { class: "notice error", text: t("bank.needMerchantPlan") }));
    if (!/^0x[0-9a-fA-F]{40}$/.test(holder.value.trim())) return clear(out, h("div", { class: "notice error", text: t("bank.badHolder") }));
    const ok = await confirmAction({
      title: t("confirm.open.title"), reason: false, danger: false, confirmLabel: t("bank.openCard"),
      body: t("confirm.open.body", { amount: yuan(p.priceFen), merchant: merchantName(merchant.value), plan: planLabel(p) }),
    });
    if (!ok) return;
    await busy(open, out, async () => {
      const r = await api(`/v1/banks/${bankId(ctx)}/cards`, { method: "POST", body: { merchantId: Number(merchant.value), planIndex: p.planIndex, holder: holder.value.trim(), named: named.checked }, signal: ctx.signal });
      clear(out, h("div", { class: "notice success", id: "opened", "data-card": r.cardId, text: t("bank.opened", { card: r.cardId, amount: yuan(p.priceFen) }) }));
      holder.value = "";
    });
  });

  const card = h("input", { id: "renew-card", inputmode: "numeric", size: 22 });
  const renewPlan = h("input", { id: "renew-plan", class: "narrow", inputmode: "numeric", value: "1" });
  const renew = h("button", { type: "submit", class: "primary", id: "renew", text: t("bank.renew") });
  const renewOut = h("div", { id: "renew-result" });
  const renewForm = h("form", { class: "row", id: "renew-form" }, field(t("col.card"), card), field(t("bank.planNo"), renewPlan), renew);
  renewForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(renew, renewOut, async () => {
      if (!/^\d{1,20}$/.test(card.value.trim())) throw new Error(t("bank.badCard"));
      if (!/^\d+$/.test(renewPlan.value.trim())) throw new Error(t("bank.badPlan"));
      await api(`/v1/cards/${card.value.trim()}/renewals`, { method: "POST", body: { planIndex: Number(renewPlan.value.trim()) }, signal: ctx.signal });
      clear(renewOut, h("div", { class: "notice success", text: t("bank.renewed", { card: card.value.trim() }) }));
    });
  });
  // A lost key (挂失补办): the bank, which knows who paid, moves the card to a new key; it takes effect after 7 days.
  const lostCard = h("input", { id: "recovery-card", inputmode: "numeric", size: 22 });
  const newHolder = h("input", { id: "recovery-holder", placeholder: "0x…", size: 44, autocomplete: "off" });
  const startRecovery = h("button", { type: "submit", class: "primary", id: "recovery-start", text: t("law.recovery.start") });
  const recoveryOut = h("div", { id: "recovery-result" });
  const recoveryForm = h("form", { class: "row", id: "recovery-form" }, field(t("law.recovery.card"), lostCard), field(t("law.recovery.newHolder"), newHolder), startRecovery);
  recoveryForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(startRecovery, recoveryOut, async () => {
      if (!/^\d{1,20}$/.test(lostCard.value.trim())) throw new Error(t("bank.badCard"));
      if (!/^0x[0-9a-fA-F]{40}$/.test(newHolder.value.trim())) throw new Error(t("bank.badHolder"));
      const r = await api(`/v1/cards/${lostCard.value.trim()}/key-recovery`, { method: "POST", body: { newHolder: newHolder.value.trim() }, signal: ctx.signal });
      const ev = r.events.find((x) => x.event === "KeyRecoveryStarted");
      clear(recoveryOut, h("div", { class: "notice success", id: "recovery-started", "data-effective-at": String(ev?.args.effectiveAt ?? ""), text: t("law.recovery.started", { deadline: when(Number(ev?.args.effectiveAt ?? 0)) }) }));
    });
  });

  // The direct shares whose cooling-off ended: the merchant's now (the gateway also hands them over on its own).
  const directMerchant = select([["", t("bank.chooseMerchant")], ...merchants.map((m) => [m.merchantId, merchantName(m.merchantId)])], "", { id: "direct-merchant" });
  const release = h("button", { type: "submit", class: "primary", id: "direct-release", text: t("law.direct.release") });
  const directOut = h("div", { id: "direct-result" });
  const directForm = h("form", { class: "row", id: "direct-form" }, field(t("col.merchant"), directMerchant), release);
  directForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(release, directOut, async () => {
      if (!directMerchant.value) throw new Error(t("bank.needMerchantPlan"));
      const r = await api(`/v1/merchants/${directMerchant.value}/direct-releases`, { method: "POST", signal: ctx.signal });
      clear(directOut, h("div", { class: `notice ${r.cardIds.length ? "success" : ""}`, "data-released": String(r.cardIds.length), text: r.cardIds.length ? t("law.direct.released", { n: r.cardIds.length }) : t("law.direct.none") }));
    });
  });
  clear(el,
    h("div", { class: "card" }, h("h1", { text: t("bank.openTitle") }), h("p", { class: "muted", text: t("bank.openHelp") }), form, out),
    h("div", { class: "card" }, h("h2", { text: t("bank.renewTitle") }), h("p", { class: "muted", text: t("bank.renewHelp") }), renewForm, renewOut),
    h("div", { class: "card" }, h("h2", { text: t("law.recovery.title") }), h("p", { class: "muted", text: t("law.recovery.help") }), recoveryForm, recoveryOut),
    h("div", { class: "card" }, h("h2", { text: t("law.direct.title") }), h("p", { class: "muted", text: t("law.direct.help") }), directForm, directOut));
}

// ---------------------------------------------------------------- reconciliation

const TEMPLATE = "ref,direction,amountFen,txHash,cardId,merchantId\nS-0001,in,100000,,,\nclosing,,100000\n";

/** "2026-11-23" (a Beijing calendar day) → its first or last second. */
export function dayBound(value, end) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value ?? "");
  if (!m) return undefined;
  const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 1000 - 8 * 3600;
  return end ? start + 86_399 : start;
}

/** The statement's CSV as the API's JSON form, so a period can go with it; each bad line is named. */
function parseStatement(text) {
  const rows = text.replace(/^\uFEFF/, "").split(/\r?\n/).filter((l) => l.trim());
  if (!rows.length || !/^ref,direction,amountFen/i.test(rows[0])) throw new Error(t("reconcile.badHeader"));
  const lines = [];
  let closing = null;
  const problems = [];
  rows.slice(1).forEach((row, i) => {
    const [ref, direction, amount, txHash, cardId, merchantId] = row.split(",").map((c) => c.trim());
    const n = i + 2;
    if (ref === "closing") { if (/^\d+$/.test(amount ?? "")) closing = amount; else problems.push(t("reconcile.badClosing", { n })); return; }
    if (direction !== "in" && direction !== "out") problems.push(t("reconcile.badDirection", { n }));
    if (!/^\d+$/.test(amount ?? "")) problems.push(t("reconcile.badAmount", { n }));
    if (txHash && !/^0x[0-9a-fA-F]{64}$/.test(txHash)) problems.push(t("reconcile.badTx", { n }));
    const line = { ref: ref || `line ${n}`, direction, amountFen: amount };
    if (txHash) line.txHash = txHash;
    if (cardId) line.cardId = cardId;
    if (merchantId) line.merchantId = Number(merchantId);
    lines.push(line);
  });
  if (closing === null) problems.push(t("reconcile.noClosing"));
  if (problems.length) throw new Error(problems.slice(0, 8).join("；"));
  return { closingBalanceFen: closing, lines };
}

export async function reconcile(ctx, el) {
  const file = h("input", { type: "file", id: "statement-file", accept: ".csv,text/csv,text/plain" });
  const text = h("textarea", { id: "statement-text", placeholder: TEMPLATE, spellcheck: "false" });
  const from = h("input", { type: "date", id: "period-from" });
  const to = h("input", { type: "date", id: "period-to" });
  const out = h("div", { id: "reconciliation" });
  const go = h("button", { class: "primary", type: "button", id: "reconcile", text: t("reconcile.go") });
  file.addEventListener("change", async () => { if (file.files?.[0]) text.value = (await file.files[0].text()).replace(/^\uFEFF/, ""); });
  go.addEventListener("click", () => busy(go, out, async () => {
    if (!text.value.trim()) throw new Error(t("reconcile.needStatement"));
    const statement = parseStatement(text.value);
    const fromBlockTime = dayBound(from.value, false), toBlockTime = dayBound(to.value, true);
    if (fromBlockTime !== undefined && toBlockTime !== undefined && fromBlockTime > toBlockTime) throw new Error(t("reconcile.badPeriod"));
    if (fromBlockTime !== undefined) statement.fromBlockTime = fromBlockTime;
    if (toBlockTime !== undefined) statement.toBlockTime = toBlockTime;
    clear(out, h("p", { class: "muted", text: t("reconcile.running") }));
    const r = await api(`/v1/banks/${bankId(ctx)}/reconciliations`, { method: "POST", body: statement, signal: ctx.signal });
    await loadMerchantNames(r.unmatched.map((x) => x.merchantId).filter(Boolean), ctx.signal);
    showResult(out, r, { from: from.value, to: to.value });
  }));
  clear(el, h("div", { class: "card" },
    h("h1", { text: t("nav.reconcile") }),
    h("p", { class: "muted" }, t("reconcile.help1"), " ", h("code", { text: "ref,direction,amountFen,txHash,cardId,merchantId" }), t("reconcile.help2"), " ",
      h("code", { text: "closing,,<fen>" }), t("reconcile.help3")),
    h("div", { class: "row" }, field(t("reconcile.from"), from), field(t("reconcile.to"), to), field(t("reconcile.file"), file)),
    h("p", { class: "muted", text: t("reconcile.periodHelp") }),
    h("p", {}, text), go), out);
}

const direction = (d) => (d ? t(`direction.${d}`) : "—");

function showResult(out, r, period) {
  const line = (x) => x.ref ?? tOr(`event.${x.event}`, x.event ?? "");
  clear(out, h("div", { class: "card", "data-reconciled": String(r.reconciled) },
    h("div", { class: "row between" }, h("h2", { text: period.from || period.to ? t("reconcile.resultPeriod", { from: period.from || "…", to: period.to || "…" }) : t("reconcile.result") }),
      h("span", { id: "reconciled", "data-reconciled": String(r.reconciled), class: `badge ${r.reconciled ? "ok" : "bad"}`, text: r.reconciled ? t("reconcile.ok") : t("reconcile.notOk") })),
    h("div", { class: "kpis" },
      kpi(t("reconcile.closing"), yuan(r.closingBalanceFen)),
      r.periodEndCustodyFen != null ? kpi(t("reconcile.periodEnd"), yuan(r.periodEndCustodyFen), { id: "period-end" }) : kpi(t("reconcile.onChain"), yuan(r.onChainCustodyFen)),
      kpi(t("reconcile.difference"), yuan(r.differenceFen), { id: "difference" }),
      kpi(t("reconcile.matched"), String(r.matched.length), { id: "matched-count" }), kpi(t("reconcile.mismatched"), String(r.mismatched.length), { id: "mismatched-count" }),
      kpi(t("reconcile.unmatched"), String(r.unmatched.length), { id: "unmatched-count" })),
    r.mismatched.length ? [h("h3", { text: t("reconcile.mismatchedTitle") }), table([
      { label: t("reconcile.line"), get: line }, { label: t("reconcile.direction"), get: (x) => direction(x.direction) }, { label: t("reconcile.statement"), get: (x) => yuan(x.amountFen), num: true },
      { label: t("reconcile.chain"), get: (x) => yuan(x.chainAmountFen), num: true }, { label: t("reconcile.difference"), get: (x) => yuan(x.differenceFen), num: true },
      { label: t("reconcile.event"), get: (x) => tOr(`event.${x.event}`, x.event) }, { label: t("col.tx"), get: (x) => h("span", { class: "mono", text: short(x.txHash) }) },
    ], r.mismatched)] : null,
    r.unmatched.length ? [h("h3", { text: t("reconcile.unmatchedTitle") }), table([
      { label: t("reconcile.side"), get: (x) => badge(x.side === "chain" ? "chain" : "statement") }, { label: t("reconcile.line"), get: line },
      { label: t("reconcile.direction"), get: (x) => direction(x.direction) }, { label: t("reconcile.amount"), get: (x) => yuan(x.amountFen), num: true },
      { label: t("col.merchant"), get: (x) => (x.merchantId ? merchantName(x.merchantId) : "—") }, { label: t("col.card"), get: (x) => x.cardId },
      { label: t("reconcile.why"), get: (x) => (x.side === "chain" ? t("reconcile.whyChain") : t("reconcile.whyStatement")) },
    ], r.unmatched)] : null,
    r.matched.length ? h("details", {}, h("summary", { text: t("reconcile.matchedLines", { n: r.matched.length }) }), table([
      { label: t("reconcile.line"), get: line }, { label: t("reconcile.direction"), get: (x) => direction(x.direction) }, { label: t("reconcile.amount"), get: (x) => yuan(x.amountFen), num: true },
      { label: t("reconcile.event"), get: (x) => tOr(`event.${x.event}`, x.event) }, { label: t("col.tx"), get: (x) => h("span", { class: "mono", text: short(x.txHash) }) },
    ], r.matched)) : null));
}

// ---------------------------------------------------------------- payout and refund queues

export async function payouts(ctx, el) {
  const kind = select([["payout", t("payouts.toMerchants")], ["refund", t("payouts.toConsumers")]], "payout", { id: "payout-kind" });
  const list = h("div", { class: "scroll", id: "payout-list" });
  const more = h("button", { type: "button", text: t("action.more"), hidden: true });
  const csv = h("button", { type: "button", id: "payout-csv", text: t("action.exportCsv") });
  const out = h("div");
  clear(el, h("div", { class: "card" },
    h("div", { class: "row between" }, h("h1", { text: t("nav.payouts.bank") }), h("div", { class: "row" }, field(t("payouts.show"), kind), csv)),
    h("p", { class: "muted", text: t("payouts.help") }), out, list, more));
  let cursor = null, rows = [];
  const accounts = new Map();
  const payee = (x) => (x.kind === "payout" ? merchantName(x.merchantId) : x.payee);
  const payeeAccount = (x) => (x.kind === "payout" ? accounts.get(x.merchantId) ?? "" : x.payee);
  let generation = 0; // a load started for an earlier choice of queue must not add its rows to this one's
  const load = async (reset) => {
    if (reset) { cursor = null; rows = []; generation++; }
    const mine = generation;
    const r = await api(`/v1/banks/${bankId(ctx)}/payouts${qs({ kind: kind.value, limit: 100, cursor })}`, { signal: ctx.signal });
    await loadMerchantNames(r.items.map((x) => x.merchantId), ctx.signal);
    if (kind.value === "payout" && !accounts.size) {
      const ms = await api(`/v1/merchants${qs({ limit: 500 })}`, { signal: ctx.signal }).catch(() => ({ items: [] }));
      for (const m of ms.items) accounts.set(m.merchantId, m.account);
    }
    if (mine !== generation) return;
    rows = rows.concat(r.items);
    cursor = r.nextCursor;
    more.hidden = !cursor;
    const total = rows.reduce((a, x) => a + BigInt(x.amountFen), 0n).toString();
    clear(list, h("p", {}, t("payouts.lines", { n: rows.length }), " ", h("strong", { id: "payout-total", text: yuan(total) })), table([
      { label: t("col.when"), get: (x) => when(x.blockTime) },
      { label: t("payouts.payee"), get: (x) => (x.kind === "payout"
        ? h("div", {}, h("div", { text: merchantName(x.merchantId) }), h("div", { class: "muted mono", text: merchantProfile(x.merchantId)?.registrationNumber ?? "" }))
        : h("div", {}, h("div", { text: t("payouts.holderOf", { merchant: merchantName(x.merchantId) }) }), h("span", { class: "mono", title: x.payee, text: short(x.payee) }))) },
      { label: t("payouts.account"), get: (x) => h("span", { class: "mono", title: payeeAccount(x), text: short(payeeAccount(x)) }) },
      { label: t("col.card"), get: (x) => (x.cardId ? h("span", { class: "mono", text: x.cardId }) : "—") },
      { label: t("payouts.reason"), get: (x) => (x.reason ? tOr(`refundReason.${x.reason}`, x.reason) : "") },
      { label: t("reconcile.amount"), get: (x) => yuan(x.amountFen), num: true },
      { label: t("col.tx"), get: (x) => h("span", { class: "mono", title: x.txHash, text: short(x.txHash) }) },
    ], rows, { empty: t("payouts.none") }));
  };
  csv.addEventListener("click", () => busy(csv, out, async () => {
    while (cursor) await load(false); // the whole queue, not just the page on screen
    const header = [t("csv.time"), t("csv.kind"), t("csv.merchantNo"), t("csv.merchantName"), t("csv.registrationNumber"), t("csv.payee"), t("csv.payeeAccount"),
      t("csv.card"), t("csv.reason"), t("csv.amountYuan"), t("csv.amountFen"), t("csv.block"), t("csv.tx")];
    const data = rows.map((x) => [when(x.blockTime), t(`payouts.kind.${x.kind}`), x.merchantId, merchantProfile(x.merchantId)?.name ?? "", merchantProfile(x.merchantId)?.registrationNumber ?? "",
      payee(x), payeeAccount(x), x.cardId ?? "", x.reason ? tOr(`refundReason.${x.reason}`, x.reason) : "", yuan(x.amountFen).replace(/[¥,]/g, ""), x.amountFen, x.blockNumber, x.txHash]);
    const name = `${kind.value === "payout" ? "payouts" : "refunds"}-bank${bankId(ctx)}-${day(Date.now() / 1000)}.csv`;
    downloadCsv(name, header, data);
    toast(t("csv.saved", { name, n: rows.length }));
  }));
  kind.addEventListener("change", () => load(true).catch((e) => clear(list, errorBox(e))));
  more.addEventListener("click", () => busy(more, list, () => load(false)));
  await load(true);
}
