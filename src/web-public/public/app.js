// The public look-up: reads only /v1/public/* (no sign-in). Every value goes into the page as text, never as HTML.
import { $, el } from "/web-public/shared/dom.js";
import { t, state, applyStatic, langSwitch, langHeaders } from "/web-public/shared/i18n.js";

async function getJson(url) {
  const r = await fetch(url, { headers: { accept: "application/json", ...langHeaders() } });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error(body?.error?.message ?? `${r.status} ${r.statusText}`);
  return body;
}

function facts(pairs) {
  const dl = el("dl", { class: "facts" });
  for (const [k, v] of pairs) dl.append(el("dt", { text: k }), el("dd", {}, v));
  return dl;
}

const nameOf = (m) => m.name ?? m.merchantName ?? t("merchant.numbered", { id: m.merchantId });
const industryOf = (i) => {
  const k = `industry.${i.id}`;
  const text = t(k);
  return text === k ? i.name ?? t("industry.other", { id: i.id }) : text;
};

function merchantItem(m) {
  const li = el("li", { class: "item", "data-merchant-id": String(m.merchantId) });
  const title = el("div", { class: "big" }, nameOf(m));
  title.append(el("span", { class: `badge ${m.status}`, text: state(m.status) }));
  if (m.seriousDishonesty.listed) title.append(el("span", { class: "badge bad", text: t("public.dishonestyBadge") }));
  li.append(title);
  const custody = m.inCustody
    ? el("span", { class: "ok", text: t("public.inCustody", { bank: m.custodian.name ?? t("bank.numbered", { id: m.custodian.bankId }) }) })
    : el("span", { class: "bad", text: t("public.notInCustody") });
  li.append(facts([
    [t("field.registrationNumber"), m.registrationNumber ?? "—"],
    [t("field.district"), m.district ?? "—"],
    [t("col.industry"), industryOf(m.industry)],
    [t("public.custody"), custody],
    [t("public.required"), m.requiredCustodyPercent == null ? "—" : t("public.percentOfCard", { n: m.requiredCustodyPercent })],
    [t("col.riskLevel"), el("span", { class: m.riskLevel, text: state(m.riskLevel) })],
  ]));
  // A frozen or winding-down merchant is itself news the public must see, warnings or not.
  if (m.status === "frozen" || m.status === "winding_down" || m.status === "exited") {
    li.append(el("div", { class: "notice error status-notice", text: t(`public.statusNotice.${m.status}`) }));
  }
  if (m.seriousDishonesty.listed) {
    li.append(el("div", { class: "notice error", text: t("public.listedSince", { since: m.seriousDishonesty.since, summary: m.seriousDishonesty.summary, ref: m.seriousDishonesty.documentRef }) }));
  }
  if (m.warnings.length) {
    const ul = el("ul", { class: "plain warnings" });
    for (const w of m.warnings) ul.append(el("li", { class: "notice", text: `${w.date} — ${w.summary} (${w.documentRef})` }));
    li.append(el("div", { class: "muted", text: t("public.warningsOf") }), ul);
  } else {
    li.append(el("div", { class: "muted", text: t("public.noWarnings") }));
  }
  return li;
}

let nextCursor = null;

async function search(append) {
  const q = $("q").value.trim();
  const district = $("district").value.trim();
  const params = new URLSearchParams({ limit: "20" });
  if (q) params.set("q", q);
  if (district) params.set("district", district);
  if (append && nextCursor) params.set("cursor", nextCursor);
  $("search-status").textContent = t("public.searching");
  try {
    const page = await getJson(`/v1/public/merchants?${params}`);
    if (!append) $("results").replaceChildren();
    for (const m of page.items) $("results").append(merchantItem(m));
    nextCursor = page.nextCursor;
    $("more").hidden = !nextCursor;
    const n = $("results").children.length;
    $("search-status").textContent = n ? t("public.found", { n }) : t("public.noneFound");
  } catch (err) {
    $("search-status").textContent = t("public.searchFailed", { message: err.message });
  }
}

async function showOne(id) {
  try {
    const m = await getJson(`/v1/public/merchants/${encodeURIComponent(id)}`);
    $("results").replaceChildren(merchantItem(m));
    $("search-status").textContent = "";
    $("results").scrollIntoView({ block: "start" });
  } catch (err) {
    $("search-status").textContent = t("public.noSuch", { message: err.message });
  }
}

async function loadLists() {
  try {
    const w = await getJson("/v1/public/warnings");
    $("warnings").replaceChildren(...(w.items.length ? w.items.map((x) => el("li", { class: "item" },
      el("a", { href: `#merchant=${x.merchantId}`, text: nameOf(x) }),
      el("div", { class: "muted", text: `${x.date} · ${x.documentRef}` }), el("div", { text: x.summary }))) : [el("li", { class: "muted", text: t("public.noWarnings") })]));
    const d = await getJson("/v1/public/dishonesty-list");
    $("dishonesty").replaceChildren(...(d.items.length ? d.items.map((x) => el("li", { class: "item" },
      el("a", { href: `#merchant=${x.merchantId}`, text: nameOf(x) }),
      el("div", { class: "muted", text: t("public.listedOn", { date: x.listedOn, ref: x.documentRef }) }), el("div", { text: x.summary }))) : [el("li", { class: "muted", text: t("public.nobodyListed") })]));
  } catch (err) {
    $("warnings").replaceChildren(el("li", { class: "notice error", text: t("public.listsFailed", { message: err.message }) }));
  }
}

function route() {
  const m = /^#merchant=(\d+)$/.exec(location.hash);
  if (m) void showOne(m[1]);
}

applyStatic();
$("lang-slot").append(langSwitch());
$("search").addEventListener("submit", (e) => { e.preventDefault(); void search(false); });
$("more").addEventListener("click", () => void search(true));
window.addEventListener("hashchange", route);
route();
void loadLists();
