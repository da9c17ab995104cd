// The gateway's API as the console uses it: the key from sessionStorage in X-API-Key, JSON in and out, errors as
// ApiError with the gateway's { code, message, details }. Every request asks for the page's language, so the gateway's
// messages (a contract's refusal in words) come back in it.

import { langHeaders } from "/web-public/shared/i18n.js";

const KEY = "custody.console.apiKey";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, body) {
    const e = body?.error ?? {};
    super(e.message ?? `the gateway answered ${status}`);
    this.status = status;
    this.code = e.code ?? `HTTP ${status}`;
    this.details = e.details;
  }
}

/** "?a=1&b=x" from the filled-in fields of an object. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

function headers(extra = {}) {
  const h = { accept: "application/json", ...langHeaders(), ...extra };
  if (session.key) h["x-api-key"] = session.key;
  return h;
}

export async function api(path, { method = "GET", body, csv, signal } = {}) {
  const extra = {};
  let payload;
  if (csv !== undefined) { extra["content-type"] = "text/csv"; payload = csv; }
  else if (body !== undefined) { extra["content-type"] = "application/json"; payload = JSON.stringify(body); }
  const res = await fetch(path, { method, headers: headers(extra), body: payload, signal });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: { code: `HTTP ${res.status}`, message: text.slice(0, 200) } }; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

const BOM = "\uFEFF";

/**
 * Downloads a file the API streams (the ledger's CSV) and hands it to the browser under `name`. A CSV starts with a
 * UTF-8 byte-order mark, without which Excel reads Chinese text as mojibake.
 */
export async function download(path, name) {
  const res = await fetch(path, { headers: headers({ accept: "text/csv" }) });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  const body = await res.blob();
  const head = new Uint8Array(await body.slice(0, 3).arrayBuffer());
  const hasBom = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf;
  return saveFile(/\.csv$/i.test(name) && !hasBom ? new Blob([BOM, body], { type: "text/csv;charset=utf-8" }) : body, name);
}

/** Rows (arrays of cells) as a CSV file with a UTF-8 BOM, saved under `name`: what Excel opens with Chinese intact. */
export function downloadCsv(name, header, rows) {
  const cell = (v) => {
    const raw = v === null || v === undefined ? "" : String(v);
    const s = /^[=+@]/.test(raw) ? `'${raw}` : raw; // a cell Excel would run as a formula stays text
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const text = [header, ...rows].map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
  return saveFile(new Blob([BOM, text], { type: "text/csv;charset=utf-8" }), name);
}

function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return blob.size;
}

/**
 * Server-Sent Events read with fetch (EventSource cannot send the API key): yields { id, event, data } until the
 * stream ends or `signal` aborts.
 */
export async function* events(path, { signal, lastEventId, onopen } = {}) {
  const extra = { accept: "text/event-stream" };
  if (lastEventId) extra["last-event-id"] = String(lastEventId);
  const res = await fetch(path, { headers: headers(extra), signal, cache: "no-store" });
  if (!res.ok || !res.body) throw new ApiError(res.status, await res.json().catch(() => null));
  onopen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
      const ev = { id: null, event: "message", data: "" };
      const data = [];
      for (const line of frame.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const k = i < 0 ? line : line.slice(0, i);
        const v = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (k === "data") data.push(v);
        else if (k === "event") ev.event = v;
        else if (k === "id") ev.id = v;
      }
      if (!data.length) continue;
      ev.data = data.join("\n");
      yield ev;
    }
  }
}

// ---------------------------------------------------------------- what this gateway offers

let paths = null;

/** Reads /openapi.json once, so pages can tell a route the gateway lacks from a failure (and never call it). */
export async function loadFeatures() {
  if (paths) return;
  try {
    const doc = await (await fetch("/openapi.json")).json();
    paths = new Set();
    for (const [p, ops] of Object.entries(doc.paths ?? {})) for (const m of Object.keys(ops)) paths.add(`${m.toLowerCase()} ${p}`);
  } catch {
    paths = new Set();
  }
}

/** has("get", "/v1/merchants/{merchantId}/risk") */
export const has = (method, path) => Boolean(paths?.has(`${method} ${path}`));
