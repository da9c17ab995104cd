// Hand-written SVG charts: lines, grouped bars, stacked areas and stacked horizontal bars. Small enough to read in one
// sitting and nothing to load from anywhere else. Values arrive as exact strings (fen, counts); Number is used only
// to place them on the canvas, and the tooltip shows the exact strings.

import { h } from "./dom.js";
import { t } from "/web-public/shared/i18n.js";

const NS = "http://www.w3.org/2000/svg";
const WIDE = 1100, H = 280, M = { l: 84, r: 16, t: 10, b: 26 };

function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of kids.flat()) if (c) el.append(c);
  return el;
}

/** Round tick steps (1, 2, 5 × 10^n) covering 0..max. */
function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((x) => x >= raw);
  const out = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(v);
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

const legend = (series) => h("div", { class: "legend" }, series.map((x) => h("span", {}, h("span", { class: `sw ${x.cls}` }), x.name)));

/**
 * A chart over time. `x`: unix seconds, one per point; `series`: { name, cls, values: string[] } (exact figures);
 * `kind`: "line" | "bars" | "stack"; `fmt(v: string)` shows a figure; `axis(n: number)` labels the y axis;
 * `xfmt(sec)` labels the x axis.
 */
export function timeChart({ x, series, kind = "line", fmt = String, axis = (n) => String(n), xfmt = String, title, id, width = WIDE }) {
  const W = width;
  const wrap = h("div", { class: "chart", id, "data-points": x.length });
  if (title) wrap.append(h("h3", { text: title }));
  if (!x.length) {
    wrap.append(h("div", { class: "notice", text: t("charts.noData") }));
    return wrap;
  }
  const nums = series.map((sr) => sr.values.map((v) => Number(v)));
  const max = kind === "stack" ? Math.max(...x.map((_, i) => nums.reduce((a, n) => a + n[i], 0))) : Math.max(...nums.flat());
  const yt = ticks(max);
  const top = yt[yt.length - 1] || 1;
  const iw = W - M.l - M.r, ih = H - M.t - M.b;
  const n = x.length;
  const band = iw / n;
  const px = (i) => (kind === "bars" ? M.l + band * (i + 0.5) : M.l + (n === 1 ? iw / 2 : (iw * i) / (n - 1)));
  const py = (v) => M.t + ih - (ih * v) / top;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title ?? "chart" });
  const grid = s("g", { class: "grid" }), ax = s("g", { class: "axis" });
  for (const tick of yt) {
    grid.append(s("line", { x1: M.l, x2: W - M.r, y1: py(tick), y2: py(tick) }));
    ax.append(s("text", { x: M.l - 6, y: py(tick) + 4, "text-anchor": "end" }, document.createTextNode(axis(tick))));
  }
  const every = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += every) {
    const anchor = kind === "bars" || n === 1 ? "middle" : i === 0 ? "start" : i + every >= n && i === n - 1 ? "end" : "middle";
    ax.append(s("text", { x: px(i), y: H - 8, "text-anchor": anchor }, document.createTextNode(xfmt(x[i]))));
  }
  svg.append(grid, ax);

  if (kind === "bars") {
    const bw = Math.max(2, (band * 0.8) / series.length);
    series.forEach((sr, k) => nums[k].forEach((v, i) => {
      const x0 = M.l + band * i + band * 0.1 + bw * k;
      svg.append(s("rect", { class: sr.cls, x: x0, y: py(v), width: bw - 1, height: Math.max(0, py(0) - py(v)) }));
    }));
  } else if (kind === "stack") {
    const base = x.map(() => 0);
    series.forEach((sr, k) => {
      const lower = base.slice();
      nums[k].forEach((v, i) => { base[i] += v; });
      const upper = base.slice();
      let d = upper.map((v, i) => `${i ? "L" : "M"}${px(i)},${py(v)}`).join("");
      d += lower.map((v, i) => i).reverse().map((i) => `L${px(i)},${py(lower[i])}`).join("") + "Z";
      if (n === 1) d = `M${px(0) - 20},${py(upper[0])}L${px(0) + 20},${py(upper[0])}L${px(0) + 20},${py(lower[0])}L${px(0) - 20},${py(lower[0])}Z`;
      svg.append(s("path", { class: sr.cls, d, "fill-opacity": 0.85, "stroke-width": 1 }));
    });
  } else {
    series.forEach((sr, k) => {
      const d = nums[k].map((v, i) => `${i ? "L" : "M"}${px(i)},${py(v)}`).join("");
      svg.append(s("path", { class: `line ${sr.cls}`, d }));
      if (n <= 40) nums[k].forEach((v, i) => svg.append(s("circle", { class: `dot ${sr.cls}`, cx: px(i), cy: py(v), r: 3 })));
    });
  }

  // Hover: the nearest point's exact figures under the chart.
  const tip = h("div", { class: "tip", text: t("charts.pointChart") });
  const cursor = s("line", { class: "hover-line", x1: 0, x2: 0, y1: M.t, y2: M.t + ih, visibility: "hidden" });
  svg.append(cursor);
  svg.addEventListener("mousemove", (e) => {
    const r = svg.getBoundingClientRect();
    const vx = ((e.clientX - r.left) / r.width) * W;
    let i = kind === "bars" ? Math.floor((vx - M.l) / band) : Math.round(((vx - M.l) / iw) * (n - 1));
    i = Math.min(n - 1, Math.max(0, Number.isFinite(i) ? i : 0));
    cursor.setAttribute("x1", px(i)); cursor.setAttribute("x2", px(i)); cursor.setAttribute("visibility", "visible");
    tip.textContent = `${xfmt(x[i])} — ` + series.map((sr) => `${sr.name} ${fmt(sr.values[i])}`).join(" · ");
  });
  svg.addEventListener("mouseleave", () => cursor.setAttribute("visibility", "hidden"));
  wrap.append(svg, legend(series), tip);
  return wrap;
}

/**
 * Horizontal stacked bars, one row per item: `rows` { label, parts: string[] } with parts in the order of `series`
 * ({ name, cls }); each row's length is the sum of its parts.
 */
export function stackedBars({ rows, series, fmt = String, title, id }) {
  const W = WIDE;
  const wrap = h("div", { class: "chart", id, "data-rows": rows.length });
  if (title) wrap.append(h("h3", { text: title }));
  if (!rows.length) {
    wrap.append(h("div", { class: "notice", text: t("charts.noData") }));
    return wrap;
  }
  const rh = 28, lw = 330, w = W, height = rows.length * rh + 8;
  const totals = rows.map((r) => r.parts.reduce((a, p) => a + Number(p), 0));
  const max = Math.max(...totals) || 1;
  const svg = s("svg", { viewBox: `0 0 ${w} ${height}`, role: "img", "aria-label": title ?? "chart" });
  const tip = h("div", { class: "tip", text: t("charts.pointBar") });
  rows.forEach((r, i) => {
    const y = 4 + i * rh;
    svg.append(s("text", { x: lw - 8, y: y + 16, "text-anchor": "end", class: "axis-label", "font-size": 13, fill: "#475467" }, document.createTextNode(r.label)));
    let x0 = lw;
    const g = s("g", {});
    r.parts.forEach((p, k) => {
      const wd = ((w - lw - 10) * Number(p)) / max;
      if (wd > 0) g.append(s("rect", { class: series[k].cls, x: x0, y, width: wd, height: rh - 8 }));
      x0 += wd;
    });
    g.addEventListener("mousemove", () => { tip.textContent = `${r.label} — ` + series.map((sr, k) => `${sr.name} ${fmt(r.parts[k])}`).join(" · "); });
    svg.append(g);
  });
  wrap.append(svg, legend(series), tip);
  return wrap;
}
