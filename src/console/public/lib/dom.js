import { t, state, when, day } from "/web-public/shared/i18n.js";

export { when, day };

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

export const short = (hex, n = 6) => (typeof hex === "string" && hex.length > 2 * n + 2 ? `${hex.slice(0, n + 2)}…${hex.slice(-4)}` : hex ?? "—");

/** A coloured label for a status or level, in words; `prefix` names what it is ("风险" → "风险 高"). */
export const badge = (value, prefix = "") => h("span", { class: `badge ${value ?? ""}`.trim(), "data-value": value ?? "", text: `${prefix ? prefix + " " : ""}${state(value)}` });

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
  const tbl = h("table", { class: opts.class }, h("thead", {}, head), h("tbody", {}, body));
  if (!rows.length) tbl.tBodies[0].append(h("tr", {}, h("td", { colspan: columns.length, class: "muted", text: opts.empty ?? t("table.empty") })));
  return tbl;
}

export const field = (label, input) => h("label", { class: "field" }, label, input);

export function select(options, value, attrs = {}) {
  return h("select", attrs, options.map(([v, label]) => h("option", { value: v, selected: String(v) === String(value ?? "") }, label)));
}

export const kpi = (k, v, attrs = {}) => h("div", { class: "kpi", ...attrs }, h("div", { class: "k", text: k }), h("div", { class: "v", text: v }));

/** A short message in the corner that goes away by itself. */
export function toast(text, kind = "") {
  const box = document.getElementById("toast");
  const note = h("div", { class: `t ${kind}`, text });
  box.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 8000 : 4000);
}

/**
 * The message of an API error in words (the gateway words it in the page's language), with the fields it names; the
 * machine code stays visible, small, for whoever reports the problem.
 */
export function errorBox(err) {
  const details = Array.isArray(err?.details) ? err.details : [];
  return h("div", { class: "notice error", role: "alert", "data-code": err?.code ?? "" },
    err?.message ?? String(err),
    details.length ? h("ul", {}, details.map((d) => h("li", { text: `${fieldName(d.field)}: ${d.reason}` }))) : null,
    err?.code ? h("div", { class: "muted code", text: t("error.code", { code: err.code }) }) : null);
}

/** "body.registrationNumber" → the form's label for it when the catalogue has one. */
function fieldName(field) {
  const last = String(field ?? "").split(".").pop();
  const k = `field.${last}`;
  const text = t(k);
  return text === k ? field : text;
}

export const unavailable = (what) => h("div", { class: "notice unavailable", "data-unavailable": "" }, t("unavailable", { what }));

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

/** Industry names of the district's defaults; other ids show as "行业 9". */
export function industryName(id) {
  if (id === null || id === undefined) return "—";
  const k = `industry.${id}`;
  const text = t(k);
  return text === k ? t("industry.other", { id }) : text;
}

/**
 * Asks for a reason and a confirmation before an action that cannot be undone: a dialog naming what will happen,
 * a reason box (required) and the action's own button. Resolves to the reason, or null when cancelled.
 */
export function confirmAction({ title, body, confirmLabel, reasonLabel, reason = true, danger = true, fields = [] }) {
  return new Promise((resolve) => {
    const input = reason ? h("textarea", { id: "confirm-reason", rows: 3, required: true }) : null;
    const extra = fields.map((f) => h("label", { class: f.inline ? "check" : "field" }, f.inline ? [f.input, f.label] : [f.label, f.input]));
    const error = h("div", { class: "confirm-error", role: "alert" });
    const dialog = h("dialog", { class: "confirm-dialog", id: "confirm-dialog" });
    const close = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    const ok = h("button", { type: "button", class: danger ? "primary danger-fill" : "primary", id: "confirm-ok", text: confirmLabel });
    ok.addEventListener("click", () => {
      const r = input ? input.value.trim() : "";
      if (input && !r) { error.textContent = t("confirm.reasonNeeded"); input.focus(); return; }
      close(input ? r : true);
    });
    const cancel = h("button", { type: "button", id: "confirm-cancel", text: t("action.cancel"), onclick: () => close(null) });
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(null); });
    append(dialog, [h("h2", { text: title }), body ? h("p", {}, body) : null, extra,
      input ? h("label", { class: "field" }, reasonLabel ?? t("confirm.reason"), input) : null, error,
      h("div", { class: "actions end" }, cancel, ok)]);
    document.body.append(dialog);
    dialog.showModal();
    (input ?? ok).focus();
  });
}
