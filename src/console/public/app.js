// The console's shell: sign-in with an API key, who is signed in (GET /v1/me), the pages of that audience, and a
// hash router. Each page gets an AbortSignal that fires when the user leaves it (it stops live streams).

import { api, session, loadFeatures, ApiError } from "./lib/api.js";
import { h, clear, errorBox } from "./lib/dom.js";
import * as regulator from "./pages/regulator.js";
import * as bank from "./pages/bank.js";
import * as auditor from "./pages/auditor.js";
import * as merchant from "./pages/merchant.js";
import * as charts from "./pages/charts.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

const ROLE_NAMES = {
  platform_regulator: "Market regulation bureau", industry_regulator: "Industry regulator", bank: "Custodian bank",
  auditor: "Auditor", merchant: "Merchant", consumer: "Consumer",
};

/** Each audience's pages: [hash prefix, label, render(ctx, el, params)], the first is home. */
function pagesOf(me) {
  switch (me.role) {
    case "platform_regulator":
    case "industry_regulator":
      return [
        ["merchants", "Merchants", regulator.merchants], ["hotline", "Hotline tickets", regulator.hotline],
        ["disputes", "Disputes", regulator.disputes], ["charts", "Charts", charts.render], ["ledger", "Ledger", auditor.ledger],
      ];
    case "bank":
      return [
        ["positions", "Custody positions", bank.positions], ["reconcile", "Statement reconciliation", bank.reconcile],
        ["payouts", "Payout queue", bank.payouts], ["charts", "Charts", charts.render],
      ];
    case "auditor":
      return [["ledger", "Ledger explorer", auditor.ledger], ["merchants", "Merchants", regulator.merchants], ["charts", "Charts", charts.render]];
    case "merchant":
      return [
        ["plans", "Plans", merchant.plans], ["cards", "Cards", merchant.cards], ["consumptions", "Consumptions", merchant.consumptions],
        ["payouts", "Payouts", merchant.payouts], ["charts", "Charts", charts.render],
      ];
    default:
      return [];
  }
}

let me = null;
let pageAbort = null;

function signInPage(message) {
  nav.textContent = "";
  who.textContent = "";
  const input = h("input", { type: "password", id: "api-key", name: "api-key", autocomplete: "off", placeholder: "ck_…", required: true });
  const out = h("div", { id: "signin-error" });
  if (message) out.append(message);
  const form = h("form", { class: "card signin", id: "signin" },
    h("h1", { text: "Sign in" }),
    h("p", { class: "muted", text: "Paste the API key you were given (npm start prints them and keeps them in data/api-keys.txt). It stays in this tab only." }),
    h("p", {}, input),
    h("p", {}, h("button", { class: "primary", type: "submit", text: "Sign in" })),
    out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    session.set(input.value.trim());
    await start();
  });
  clear(main, form);
  input.focus();
}

function signOut() {
  pageAbort?.abort();
  session.clear();
  me = null;
  location.hash = "";
  signInPage();
}

async function start() {
  await loadFeatures();
  if (!session.key) return signInPage();
  try {
    me = await api("/v1/me");
  } catch (err) {
    session.clear();
    const msg = err instanceof ApiError && err.status === 401 ? h("div", { class: "notice error", role: "alert", text: "That key is unknown, revoked or malformed." }) : errorBox(err);
    return signInPage(msg);
  }
  clear(who,
    h("span", { class: "role", id: "who-role", "data-role": me.role, text: ROLE_NAMES[me.role] ?? me.role }),
    h("span", { class: "muted", id: "who-label", text: me.label + (me.subject && !/^0x/.test(me.subject) ? ` #${me.subject}` : "") }),
    h("button", { class: "small", id: "signout", type: "button", text: "Sign out", onclick: signOut }));
  route();
}

function route() {
  if (!me) return;
  pageAbort?.abort();
  pageAbort = new AbortController();
  const pages = pagesOf(me);
  if (!pages.length) {
    nav.textContent = "";
    clear(main, h("div", { class: "card" }, h("h1", { text: "Consumers" }),
      h("p", {}, "This console is for regulators, banks, auditors and merchants. Consumers see their cards on ", h("a", { href: "/me/", text: "their own page" }),
        "; anyone can look a merchant up on ", h("a", { href: "/public/", text: "the public look-up" }), ".")));
    return;
  }
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const page = pages.find(([p]) => p === parts[0]) ?? pages[0];
  clear(nav, pages.map(([p, label]) => h("a", { href: `#/${p}`, class: p === page[0] ? "on" : undefined, "data-page": p, text: label })));
  const el = h("div", { id: `page-${page[0]}` });
  clear(main, el);
  const ctx = { me, signal: pageAbort.signal, go: (hash) => { location.hash = hash; } };
  Promise.resolve(page[2](ctx, el, parts.slice(1))).catch((err) => {
    if (err?.name !== "AbortError") el.append(errorBox(err));
  });
}

window.addEventListener("hashchange", route);
start();
