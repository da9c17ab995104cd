// Words for people: one catalogue per language (./i18n/zh-CN.js, ./i18n/en.js), shared by the staff console (/), the
// public look-up (/public/) and the consumer's page (/me/). Chinese is the default whatever the browser's language;
// English is one switch away and the choice is remembered by this browser (localStorage). Dates are Beijing time and
// money is ¥ from integer fen strings, whatever the browser's own zone and locale.

import zh from "./i18n/zh-CN.js";
import en from "./i18n/en.js";

const KEY = "custody.lang";
const CATALOGUES = { "zh-CN": zh, en };

function stored() {
  try { return localStorage.getItem(KEY); } catch { return null; }
}

/** "zh-CN" (the default) or "en". */
export const lang = () => (stored() === "en" ? "en" : "zh-CN");

/** Remembers the choice and reloads the page, so every word on it follows. */
export function setLang(l) {
  try { localStorage.setItem(KEY, l === "en" ? "en" : "zh-CN"); } catch { /* private mode: this page only */ }
  location.reload();
}

/** The text of `key` with {name} replaced from `params`; the key itself (visible in tests) when missing. */
export function t(key, params) {
  const text = CATALOGUES[lang()][key] ?? CATALOGUES["zh-CN"][key] ?? key;
  return params ? text.replace(/\{(\w+)\}/g, (m, k) => (params[k] === undefined || params[k] === null ? m : String(params[k]))) : text;
}

/** The word for a state (merchant, card, ticket, dispute, queue, risk level…): its catalogue entry, or the raw value. */
export function state(value) {
  if (value === null || value === undefined || value === "") return "—";
  const k = `state.${value}`;
  const text = CATALOGUES[lang()][k] ?? CATALOGUES["zh-CN"][k];
  return text ?? String(value).replace(/_/g, " ");
}

/** Headers asking the gateway for its messages in the page's language. */
export const langHeaders = () => ({ "accept-language": lang() === "en" ? "en" : "zh-CN,zh;q=0.9" });

// ---------------------------------------------------------------- dates and money

const timeFmt = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
const dayFmt = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" });

/** Unix seconds → "2026-11-23 14:53", Beijing time (the district's clock), whatever the browser's zone. */
export const when = (sec) => (sec === null || sec === undefined || Number(sec) === 0 ? "—" : timeFmt.format(new Date(Number(sec) * 1000)));
/** Unix seconds → "2026-11-23", the Beijing calendar day. */
export const day = (sec) => dayFmt.format(new Date(Number(sec) * 1000));

const group = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** "123456" fen → "¥1,234.56", with BigInt only (never a float for money). */
export function yuan(fen) {
  if (fen === null || fen === undefined || fen === "") return "—";
  let v = BigInt(fen);
  const neg = v < 0n;
  if (neg) v = -v;
  return `${neg ? "-" : ""}¥${group((v / 100n).toString())}.${(v % 100n).toString().padStart(2, "0")}`;
}

// ---------------------------------------------------------------- the page itself

/**
 * Fills the page's static words: an element with data-i18n="key" gets the text, data-i18n-placeholder /
 * data-i18n-title / data-i18n-aria-label the attribute. The HTML carries the Chinese text, so the first paint is
 * already right for most users.
 */
export function applyStatic(root = document) {
  document.documentElement.lang = lang();
  for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = t(e.getAttribute("data-i18n"));
  for (const attr of ["placeholder", "title", "aria-label"]) {
    for (const e of root.querySelectorAll(`[data-i18n-${attr}]`)) e.setAttribute(attr, t(e.getAttribute(`data-i18n-${attr}`)));
  }
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = title.textContent;
}

/** The language switch: a button naming the other language ("English" / "中文"). */
export function langSwitch() {
  const other = lang() === "en" ? "zh-CN" : "en";
  const b = document.createElement("button");
  b.type = "button";
  b.id = "lang-switch";
  b.className = "lang-switch";
  b.lang = other;
  b.setAttribute("data-lang", other);
  b.textContent = other === "en" ? "English" : "中文";
  b.title = t("lang.switch");
  b.addEventListener("click", () => setLang(other));
  return b;
}

/** The text of `key` when the catalogue has it, else `fallback` (a signal or event name the catalogue does not know). */
export function tOr(key, fallback, params) {
  return key in CATALOGUES[lang()] || key in CATALOGUES["zh-CN"] ? t(key, params) : fallback;
}
