/** h("div", { class: "x", onclick }, child, "text") — builds elements without innerHTML, so data never becomes markup. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "disabled" || k === "selected") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el, ...children) {
  el.textContent = "";
  return append(el, children);
}

const timeFmt = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" });

/** Unix seconds → "2026-11-23 14:53" in Beijing time, the district's clock. */
export const when = (sec) => (sec === null || sec === undefined || sec === 0 ? "—" : timeFmt.format(new Date(Number(sec) * 1000)));
export const day = (sec) => dayFmt.format(new Date(Number(sec) * 1000));

export const short = (hex, n = 6) => (typeof hex === "string" && hex.length > 2 * n + 2 ? `${hex.slice(0, n + 2)}…${hex.slice(-4)}` : hex ?? "—");

/** A coloured label for a status or level; `prefix` names what it is ("risk" → "risk high"). */
export const badge = (value, prefix = "") => h("span", { class: `badge ${value ?? ""}`.trim(), text: `${prefix ? prefix + " " : ""}${String(value ?? "—").replace(/_/g, " ")}` });

/**
 * A table: columns are { label, get(row) → node | text, num?: true }. Rows may carry `onclick` via opts.onRow.
 */
export function table(columns, rows, opts = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : undefined, text: c.label })));
  const body = rows.map((r) => {
    const tr = h("tr", { class: opts.onRow ? "clickable" : undefined, "data-key": opts.key ? opts.key(r) : undefined },
      columns.map((c) => {
        const v = c.get(r);
        return h("td", { class: [c.num ? "num" : "", c.cls ?? ""].join(" ").trim() || undefined }, v instanceof Node ? v : v === null || v === undefined ? "—" : String(v));
      }));
    if (opts.onRow) tr.addEventListener("click", (e) => { if (!(e.target instanceof HTMLButtonElement || e.target instanceof HTMLAnchorElement || e.target.closest("details"))) opts.onRow(r); });
    return tr;
  });
  const t = h("table", { class: opts.class }, h("thead", {}, head), h("tbody", {}, body));
  if (!rows.length) t.tBodies[0].append(h("tr", {}, h("td", { colspan: columns.length, class: "muted", text: opts.empty ?? "Nothing here yet." })));
  return t;
}

export const field = (label, input) => h("label", { class: "field" }, label, input);

export function select(options, value, attrs = {}) {
  return h("select", attrs, options.map(([v, label]) => h("option", { value: v, selected: String(v) === String(value ?? "") }, label)));
}

export const kpi = (k, v, attrs = {}) => h("div", { class: "kpi", ...attrs }, h("div", { class: "k", text: k }), h("div", { class: "v", text: v }));

/** A short message in the corner that goes away by itself. */
export function toast(text, kind = "") {
  const box = document.getElementById("toast");
  const t = h("div", { class: `t ${kind}`, text });
  box.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 8000 : 4000);
}

/** The message of an API error, with the fields it names. */
export function errorBox(err) {
  const details = Array.isArray(err?.details) ? err.details : [];
  return h("div", { class: "notice error", role: "alert" },
    h("strong", { text: err?.code ? `${err.code}: ` : "" }), err?.message ?? String(err),
    details.length ? h("ul", {}, details.map((d) => h("li", { text: `${d.field}: ${d.reason}` }))) : null,
    !details.length && err?.details && typeof err.details === "object"
      ? h("div", { class: "mono", text: Object.entries(err.details).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ") })
      : null);
}

export const unavailable = (what) => h("div", { class: "notice unavailable", "data-unavailable": "" }, `${what} is not available on this gateway yet.`);

/** Runs an async action from a button: disables it meanwhile, shows failures in `out` (or a toast). */
export async function busy(button, out, fn) {
  button.disabled = true;
  try {
    return await fn();
  } catch (err) {
    if (err?.name === "AbortError") return undefined;
    if (out) clear(out, errorBox(err));
    else toast(err?.message ?? String(err), "error");
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/** Industry names of the district's defaults; other ids show as numbers. */
const INDUSTRY_NAMES = {
  0: "District default", 1: "Education and training 教育培训", 2: "Youth sports 青少年体育", 3: "Fitness 健身", 4: "Beauty and hairdressing 美容美发",
  5: "Car wash 洗车", 6: "Retail cards 购物卡", 7: "Pet care 宠物服务",
};
export const industryName = (id) => (id === null || id === undefined ? "—" : `${id} · ${INDUSTRY_NAMES[id] ?? "industry"}`);
