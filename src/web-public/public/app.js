// The public look-up: reads only /v1/public/* (no sign-in). Every value goes into the page as text, never as HTML.
import { $, el } from "/web-public/shared/dom.js";

const STATUS = { active: "active", restricted: "restricted (no new cards)", frozen: "frozen", winding_down: "winding down", exited: "exited" };

async function getJson(url) {
  const r = await fetch(url, { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error(body?.error?.message ?? `${r.status} ${r.statusText}`);
  return body;
}

function facts(pairs) {
  const dl = el("dl", { class: "facts" });
  for (const [k, v] of pairs) dl.append(el("dt", { text: k }), el("dd", {}, v));
  return dl;
}

function merchantItem(m) {
  const li = el("li", { class: "item", "data-merchant-id": String(m.merchantId) });
  const title = el("div", { class: "big" }, m.name ?? `Merchant ${m.merchantId}`);
  title.append(el("span", { class: `badge ${m.status}`, text: STATUS[m.status] ?? m.status }));
  if (m.seriousDishonesty.listed) title.append(el("span", { class: "badge bad", text: "serious dishonesty list" }));
  li.append(title);
  const custody = m.inCustody
    ? el("span", { class: "ok", text: `Yes — held by ${m.custodian.name ?? `bank ${m.custodian.bankId}`}` })
    : el("span", { class: "bad", text: "No — the merchant has exited custody" });
  li.append(facts([
    ["Registration no.", m.registrationNumber ?? "—"],
    ["District", m.district ?? "—"],
    ["Industry", m.industry.name ?? `industry ${m.industry.id}`],
    ["Prepaid money in custody", custody],
    ["Custody its industry requires", m.requiredCustodyPercent == null ? "—" : `${m.requiredCustodyPercent}% of each card`],
    ["Risk level", el("span", { class: m.riskLevel, text: m.riskLevel })],
  ]));
  if (m.seriousDishonesty.listed) {
    li.append(el("div", { class: "notice error", text: `On the serious dishonesty list since ${m.seriousDishonesty.since}: ${m.seriousDishonesty.summary} (${m.seriousDishonesty.documentRef})` }));
  }
  if (m.warnings.length) {
    const ul = el("ul", { class: "plain warnings" });
    for (const w of m.warnings) ul.append(el("li", { class: "notice", text: `${w.date} — ${w.summary} (${w.documentRef})` }));
    li.append(el("div", { class: "muted", text: "Public warnings:" }), ul);
  } else {
    li.append(el("div", { class: "muted", text: "No public warnings." }));
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
  $("search-status").textContent = "Searching…";
  try {
    const page = await getJson(`/v1/public/merchants?${params}`);
    if (!append) $("results").replaceChildren();
    for (const m of page.items) $("results").append(merchantItem(m));
    nextCursor = page.nextCursor;
    $("more").hidden = !nextCursor;
    const n = $("results").children.length;
    $("search-status").textContent = n ? `${n} merchant${n === 1 ? "" : "s"} found.` : "No merchant found. A merchant selling prepaid cards must be registered: report it to 12345.";
  } catch (err) {
    $("search-status").textContent = `The search failed: ${err.message}`;
  }
}

async function showOne(id) {
  try {
    const m = await getJson(`/v1/public/merchants/${encodeURIComponent(id)}`);
    $("results").replaceChildren(merchantItem(m));
    $("search-status").textContent = "";
  } catch (err) {
    $("search-status").textContent = `No such merchant: ${err.message}`;
  }
}

async function loadLists() {
  try {
    const w = await getJson("/v1/public/warnings");
    $("warnings").replaceChildren(...(w.items.length ? w.items.map((x) => el("li", { class: "item" },
      el("a", { href: `#merchant=${x.merchantId}`, text: x.merchantName ?? `Merchant ${x.merchantId}` }),
      el("div", { class: "muted", text: `${x.date} · ${x.documentRef}` }), el("div", { text: x.summary }))) : [el("li", { class: "muted", text: "No public warnings." })]));
    const d = await getJson("/v1/public/dishonesty-list");
    $("dishonesty").replaceChildren(...(d.items.length ? d.items.map((x) => el("li", { class: "item" },
      el("a", { href: `#merchant=${x.merchantId}`, text: x.merchantName ?? `Merchant ${x.merchantId}` }),
      el("div", { class: "muted", text: `listed ${x.listedOn} · ${x.documentRef}` }), el("div", { text: x.summary }))) : [el("li", { class: "muted", text: "Nobody is listed." })]));
  } catch (err) {
    $("warnings").replaceChildren(el("li", { class: "notice error", text: `Could not load the lists: ${err.message}` }));
  }
}

function route() {
  const m = /^#merchant=(\d+)$/.exec(location.hash);
  if (m) void showOne(m[1]);
}

$("search").addEventListener("submit", (e) => { e.preventDefault(); void search(false); });
$("more").addEventListener("click", () => void search(true));
window.addEventListener("hashchange", route);
route();
void loadLists();
