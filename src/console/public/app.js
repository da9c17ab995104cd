// The console's shell: sign-in with an API key, who is signed in (GET /v1/me), the pages of that audience, and a
// hash router. Each page gets an AbortSignal that fires when the user leaves it (it stops live streams).

import { api, session, loadFeatures, ApiError } from "./lib/api.js";
import { h, clear, errorBox } from "./lib/dom.js";
import { t, applyStatic, langSwitch } from "/web-public/shared/i18n.js";
import { loadBanks, bankName, loadMerchantNames, merchantName } from "./lib/names.js";
import * as regulator from "./pages/regulator.js";
import * as bank from "./pages/bank.js";
import * as auditor from "./pages/auditor.js";
import * as merchant from "./pages/merchant.js";
import * as charts from "./pages/charts.js";
import * as admin from "./pages/admin.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

const roleName = (role) => t(`role.${role}`);

/** Each audience's pages: [hash prefix, label, render(ctx, el, params)], the first is home. */
function pagesOf(me) {
  switch (me.role) {
    case "platform_regulator":
    case "industry_regulator":
      return [
        ["merchants", t("nav.merchants"), regulator.merchants], ["admit", t("nav.admit"), admin.admit], ["hotline", t("nav.hotline"), regulator.hotline],
        ["disputes", t("nav.disputes"), regulator.disputes], ["policies", t("nav.policies"), admin.policies],
        ...(me.role === "platform_regulator" ? [["keys", t("nav.keys"), admin.keys]] : []),
        ["charts", t("nav.charts"), charts.render], ["ledger", t("nav.ledger"), auditor.ledger],
      ];
    case "bank":
      return [
        ["positions", t("nav.positions"), bank.positions], ["cards", t("nav.bankCards"), bank.cards], ["reconcile", t("nav.reconcile"), bank.reconcile],
        ["payouts", t("nav.payouts.bank"), bank.payouts], ["charts", t("nav.charts"), charts.render],
      ];
    case "auditor":
      return [["ledger", t("nav.ledgerExplorer"), auditor.ledger], ["merchants", t("nav.merchants"), regulator.merchants], ["charts", t("nav.charts"), charts.render]];
    case "merchant":
      return [
        ["plans", t("nav.plans"), merchant.plans], ["cards", t("nav.cards"), merchant.cards], ["consumptions", t("nav.consumptions"), merchant.consumptions],
        ["payouts", t("nav.payouts.merchant"), merchant.payouts], ["staff", t("nav.staff"), merchant.staff], ["charts", t("nav.charts"), charts.render],
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
    h("h1", { text: t("signin.title") }),
    h("p", { class: "muted", text: t("signin.help") }),
    h("label", { class: "field" }, t("signin.key"), input),
    h("p", {}, h("button", { class: "primary", type: "submit", text: t("signin.submit") })),
    out,
    h("p", { class: "muted" }, t("signin.elsewhere"), " ", h("a", { href: "/public/", text: t("signin.public") }), " · ", h("a", { href: "/me/", text: t("signin.me") })));
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
    const msg = err instanceof ApiError && err.status === 401 ? h("div", { class: "notice error", role: "alert", text: t("signin.refused") }) : errorBox(err);
    return signInPage(msg);
  }
  await loadBanks().catch(() => undefined);
  if (me.role === "merchant") await loadMerchantNames([me.subject]).catch(() => undefined);
  // Who is signed in, by name: the bank's or the merchant's own, else the key's label.
  const label = me.role === "bank" ? bankName(me.subject) : me.role === "merchant" ? merchantName(me.subject) : me.label;
  clear(who,
    h("span", { class: "role", id: "who-role", "data-role": me.role, text: roleName(me.role) }),
    h("span", { class: "muted", id: "who-label", title: me.label, text: label }),
    h("button", { class: "small", id: "signout", type: "button", text: t("signout"), onclick: signOut }));
  route();
}

function route() {
  if (!me) return;
  pageAbort?.abort();
  pageAbort = new AbortController();
  const pages = pagesOf(me);
  if (!pages.length) {
    nav.textContent = "";
    clear(main, h("div", { class: "card" }, h("h1", { text: t("consumer.title") }),
      h("p", {}, t("consumer.body"), " ", h("a", { href: "/me/", text: t("signin.me") }), " · ", h("a", { href: "/public/", text: t("signin.public") }))));
    return;
  }
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  const page = pages.find(([p]) => p === parts[0]) ?? pages[0];
  clear(nav, pages.map(([p, label]) => h("a", { href: `#/${p}`, class: p === page[0] ? "on" : undefined, "data-page": p, text: label })));
  const el = h("div", { id: `page-${page[0]}` });
  clear(main, el);
  const ctx = { me, signal: pageAbort.signal, go: (hash) => { location.hash = hash; } };
  document.title = `${page[1]} · ${t("console.title")}`;
  Promise.resolve(page[2](ctx, el, parts.slice(1))).catch((err) => {
    if (err?.name !== "AbortError") el.append(errorBox(err));
  });
}

applyStatic();
document.getElementById("lang-slot").append(langSwitch());
window.addEventListener("hashchange", route);
start();
