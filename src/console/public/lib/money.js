// Money arrives as decimal strings of fen and is only ever added or compared as BigInt; Number appears only where a
// chart needs a pixel position.

import { t, yuan } from "/web-public/shared/i18n.js";

// One formatter for the three pages: "123456" fen → "¥1,234.56" (src/web-public/shared/i18n.js).
export { yuan };

const group = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** A short form for chart axes: whole yuan, or 亿 (10^8 yuan) for very large figures. */
export function yuanShort(fen) {
  const v = BigInt(fen);
  const neg = v < 0n;
  const a = neg ? -v : v;
  if (a >= 10_000_000_000n) {
    const tenths = (a * 10n) / 10_000_000_000n; // rounds down: an axis label, not an amount
    return `${neg ? "-" : ""}¥${group((tenths / 10n).toString())}${tenths % 10n === 0n ? "" : "." + (tenths % 10n)}亿`;
  }
  return `${neg ? "-" : ""}¥${group((a / 100n).toString())}`;
}

/** "1,234.5" yuan → "123450" fen, exactly; throws with a message a person can act on. */
export function fenOf(text) {
  const typed = String(text).trim().replace(/,/g, "").replace(/^¥/, "");
  const m = /^(\d{1,16})(?:\.(\d{0,2}))?$/.exec(typed);
  if (!m) throw new Error(t("form.yuan"));
  return (BigInt(m[1]) * 100n + BigInt((m[2] ?? "").padEnd(2, "0"))).toString();
}

export const sumFen = (...xs) => xs.reduce((a, x) => a + BigInt(x ?? 0), 0n).toString();

/** For chart geometry only. */
export const fenToPlot = (fen) => Number(BigInt(fen));
