// Charts: money paid in, released, refunded and held over time (per industry, per merchant), the split per
// industry, and risk levels over time.

import { api, qs, has } from "../lib/api.js";
import { h, clear, field, select, kpi, errorBox, unavailable, industryName, day, when } from "../lib/dom.js";
import { yuan, yuanShort, sumFen } from "../lib/money.js";
import { timeChart, stackedBars } from "../lib/chart.js";
import { t, state } from "/web-public/shared/i18n.js";

const FLOWS = [
  { key: "paidInFen", name: () => t("money.paidIn"), cls: "s-paid" },
  { key: "releasedFen", name: () => t("money.released"), cls: "s-released" },
  { key: "refundedFen", name: () => t("money.refunded"), cls: "s-refunded" },
];
const HELD = { key: "heldFen", name: () => t("money.heldInEscrow"), cls: "s-held" };

const bucketLabel = (bucket) => (bucket === "hour" ? (s) => when(s).slice(5) : bucket === "month" ? (s) => day(s).slice(0, 7) : (s) => day(s).slice(5));

/**
 * Draws the money charts for a selection into `el`: cumulative totals with what escrow holds, and per-bucket flows.
 * Returns the answer (or null when it failed).
 */
export async function moneyChart(ctx, el, { merchantId, industryId, bucket = "day", width } = {}) {
  const box = h("div", { class: "money-chart" });
  el.append(box);
  try {
    const r = await api(`/v1/stats/money${qs({ merchantId, industryId, bucket })}`, { signal: ctx.signal });
    const x = r.series.map((p) => p.start);
    // Running sums of the flows, in BigInt, for the cumulative view.
    const run = { paidInFen: 0n, releasedFen: 0n, refundedFen: 0n };
    const cumulative = { paidInFen: [], releasedFen: [], refundedFen: [] };
    for (const p of r.series) for (const f of FLOWS) { run[f.key] += BigInt(p[f.key]); cumulative[f.key].push(run[f.key].toString()); }
    const xfmt = bucketLabel(r.bucket);
    const tt = r.totals;
    const balanced = BigInt(tt.paidInFen) === BigInt(sumFen(tt.releasedFen, tt.refundedFen, tt.heldFen));
    clear(box,
      h("div", { class: "kpis money-totals" },
        kpi(t("money.paidIn"), yuan(tt.paidInFen), { "data-fen": tt.paidInFen, "data-k": "paidIn" }), kpi(t("money.released"), yuan(tt.releasedFen), { "data-fen": tt.releasedFen, "data-k": "released" }),
        kpi(t("money.refunded"), yuan(tt.refundedFen), { "data-fen": tt.refundedFen, "data-k": "refunded" }), kpi(t("money.held"), yuan(tt.heldFen), { "data-fen": tt.heldFen, "data-k": "held" })),
      h("p", { class: balanced ? "muted" : "notice error", text: balanced ? t("charts.balanced") : t("charts.unbalanced") }),
      timeChart({
        id: "chart-cumulative", title: t("charts.cumulative"), x, kind: "line", width, fmt: yuan, axis: (n) => yuanShort(BigInt(Math.round(n))), xfmt,
        series: [...FLOWS.map((f) => ({ name: f.name(), cls: f.cls, values: cumulative[f.key] })), { name: HELD.name(), cls: HELD.cls, values: r.series.map((p) => p.heldFen) }],
      }),
      timeChart({
        id: "chart-flows", title: t(`charts.per.${r.bucket}`), x, kind: "bars", width, fmt: yuan, axis: (n) => yuanShort(BigInt(Math.round(n))), xfmt,
        series: FLOWS.map((f) => ({ name: f.name(), cls: f.cls, values: r.series.map((p) => p[f.key]) })),
      }));
    return r;
  } catch (err) {
    if (err.name !== "AbortError") clear(box, errorBox(err));
    return null;
  }
}

export async function render(ctx, el) {
  const fixedMerchant = ctx.me.role === "merchant" ? Number(ctx.me.subject) : null;
  const industries = fixedMerchant ? [] : await api("/v1/industries", { signal: ctx.signal }).then((r) => r.items).catch(() => []);
  const industry = select([["", t("filter.allIndustries")], ...industries.filter((i) => i.industryId > 0).map((i) => [i.industryId, industryName(i.industryId)])], "", { id: "chart-industry" });
  const merchant = h("input", { class: "narrow", id: "chart-merchant", placeholder: t("filter.any"), inputmode: "numeric" });
  const bucket = select(["hour", "day", "week", "month"].map((b) => [b, t(`charts.bucket.${b}`)]), "day", { id: "chart-bucket" });
  const money = h("div", { id: "money-charts" });
  const perIndustry = h("div", { class: "card", id: "industry-chart" });
  const riskCard = h("div", { class: "card", id: "risk-chart" });
  const controls = h("form", { class: "row" },
    fixedMerchant ? null : field(t("col.industry"), industry), fixedMerchant ? null : field(t("ledger.merchantNo"), merchant), field(t("charts.bucket"), bucket),
    h("button", { type: "submit", class: "primary", text: t("action.show") }));
  clear(el, h("div", { class: "card" }, h("div", { class: "row between" }, h("h1", { text: t("charts.moneyOverTime") }), controls), money),
    fixedMerchant ? null : perIndustry, riskCard);
  const draw = async (e) => {
    e?.preventDefault();
    money.textContent = "";
    const m = merchant.value.trim();
    if (m && !/^\d+$/.test(m)) return money.append(h("div", { class: "notice error", text: t("charts.badMerchant") }));
    await moneyChart(ctx, money, { merchantId: fixedMerchant ?? (m || undefined), industryId: industry.value || undefined, bucket: bucket.value });
  };
  controls.addEventListener("submit", draw);
  bucket.addEventListener("change", draw);
  industry.addEventListener("change", draw);
  await draw();
  if (!fixedMerchant) await industryChart(ctx, perIndustry);
  if (ctx.me.role === "bank" || fixedMerchant) riskCard.remove();
  else {
    await riskChart(ctx, riskCard, industry.value || undefined);
    industry.addEventListener("change", () => riskChart(ctx, riskCard, industry.value || undefined));
  }
}

async function industryChart(ctx, card) {
  clear(card, h("h2", { text: t("charts.perIndustry") }));
  try {
    const r = await api("/v1/stats/money/industries", { signal: ctx.signal });
    card.append(stackedBars({
      id: "chart-industries", fmt: yuan,
      series: [{ name: t("money.released"), cls: "s-released" }, { name: t("money.refunded"), cls: "s-refunded" }, { name: t("money.heldInEscrow"), cls: "s-held" }],
      rows: r.items.map((i) => ({ label: `${industryName(i.industryId)} (${i.merchants})`, parts: [i.releasedFen, i.refundedFen, i.heldFen] })),
    }), h("p", { class: "muted", text: t("charts.perIndustryHelp") }));
  } catch (err) {
    if (err.name !== "AbortError") card.append(errorBox(err));
  }
}

/** Merchants per risk level at each day's end, from the risk service's history. */
async function riskChart(ctx, card, industryId) {
  clear(card, h("h2", { text: t("charts.riskOverTime") }));
  if (!has("get", "/v1/risk/levels-over-time")) return card.append(unavailable(t("charts.riskOverTime")));
  try {
    const r = await api(`/v1/risk/levels-over-time${qs({ industryId })}`, { signal: ctx.signal });
    const items = r.days ?? r.items ?? [];
    if (!items.some((p) => Number(p.low ?? 0) + Number(p.medium ?? 0) + Number(p.high ?? 0) > 0)) {
      card.append(h("p", { class: "notice", id: "risk-none", text: t("charts.riskNone", { from: r.from ?? "…", to: r.to ?? "…" }) }));
      return;
    }
    const at = (p) => (p.date ? Date.parse(`${p.date}T00:00:00+08:00`) / 1000 : Number(p.start ?? p.at ?? 0));
    card.append(timeChart({
      id: "chart-risk", x: items.map(at), kind: "stack", fmt: String, axis: (n) => String(Math.round(n)), xfmt: (sec) => day(sec).slice(5),
      series: ["low", "medium", "high"].map((l) => ({ name: state(l), cls: `s-${l}`, values: items.map((p) => String(p[l] ?? 0)) })),
    }), h("p", { class: "muted", text: t("charts.riskHelp", { from: r.from ?? "…", to: r.to ?? "…" }) }));
  } catch (err) {
    if (err.name !== "AbortError") card.append(errorBox(err));
  }
}
