// The consumer's page. The key is created here, kept in localStorage and never sent anywhere: the gateway sees a
// signed sign-in challenge, signed vouchers and signed transactions, never the key. Nothing is signed for a lesson
// until the confirm screen has shown what the voucher releases and the consumer pressed "Confirm and sign".
import { Wallet, Signature, getAddress } from "/web-public/vendor/ethers.js";
import { $, el } from "/web-public/shared/dom.js";
import { t, state, when, yuan, applyStatic, langSwitch, langHeaders } from "/web-public/shared/i18n.js";

const KEY = "custody.consumer.key";
const SESSION = "custody.consumer.session";

function say(text, kind = "") {
  $("status").replaceChildren(text ? el("div", { class: `notice ${kind}`, text }) : "");
}

// ---------------------------------------------------------------- the key

function loadWallet() {
  let pk = localStorage.getItem(KEY);
  if (!pk) {
    pk = Wallet.createRandom().privateKey;
    localStorage.setItem(KEY, pk);
  }
  return new Wallet(pk);
}
let wallet = loadWallet();

// ---------------------------------------------------------------- the gateway

let session = JSON.parse(sessionStorage.getItem(SESSION) ?? "null");

async function call(method, url, body, { auth = true } = {}) {
  const headers = { accept: "application/json", ...langHeaders() };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (auth) headers.authorization = `Bearer ${await token()}`;
  // no-cache: public answers may be cached for a minute, but a card's page must show a freeze at once (ETag keeps it cheap)
  const r = await fetch(url, { method, headers, cache: "no-cache", body: body === undefined ? undefined : JSON.stringify(body) });
  const out = await r.json().catch(() => null);
  if (r.status === 401 && auth && session) {
    session = null;
    sessionStorage.removeItem(SESSION);
    return call(method, url, body);
  }
  if (!r.ok) {
    const e = new Error(out?.error?.message ?? `${r.status} ${r.statusText}`);
    e.code = out?.error?.code;
    e.details = out?.error?.details;
    throw e;
  }
  return out;
}

/** Signs in with the key: a one-time challenge (a plain message, not a voucher), signed here. */
async function token() {
  const address = wallet.address.toLowerCase();
  if (session && session.address === address && session.expiresAt - 60 > Date.now() / 1000) return session.token;
  const c = await call("POST", "/v1/public/consumer-sessions/challenge", { address }, { auth: false });
  const signature = await wallet.signMessage(c.message);
  session = await call("POST", "/v1/public/consumer-sessions", { address, nonce: c.nonce, signature }, { auth: false });
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  return session.token;
}

const merchants = new Map();
async function merchant(id) {
  if (!merchants.has(id)) merchants.set(id, await call("GET", `/v1/public/merchants/${id}`, undefined, { auth: false }).catch(() => null));
  return merchants.get(id);
}

const plans = new Map();
async function planOf(c) {
  if (!plans.has(c.merchantId)) plans.set(c.merchantId, await call("GET", `/v1/merchants/${c.merchantId}/plans`).then((r) => r.items).catch(() => []));
  return plans.get(c.merchantId).find((p) => p.planIndex === c.planIndex) ?? null;
}

let chain = null;
async function chainInfo() {
  chain ??= await call("GET", "/v1/public/chain", undefined, { auth: false });
  return chain;
}

// ---------------------------------------------------------------- cards


async function refund(card, kind) {
  let to = "";
  if (kind === "transfer") {
    // Transfer by notice (法释〔2025〕4号): the holder names the new holder; the merchant is told and cannot block it.
    to = (prompt(t("me.transferTo")) ?? "").trim();
    if (!to) return;
    if (!/^0x[0-9a-fA-F]{40}$/.test(to)) return say(t("me.badAddress"), "error");
  }
  if (!confirm(t(`me.ask.${kind}`, { card: card.cardId, amount: yuan(card.heldFen), to }))) return;
  try {
    say(t("me.preparing"));
    const tx = await call("GET", `/v1/cards/${card.cardId}/refund-request?kind=${kind}${to ? `&to=${to}` : ""}`);
    const signed = await wallet.signTransaction({ type: 0, to: tx.to, data: tx.data, chainId: BigInt(tx.chainId), gasPrice: 0n, nonce: tx.nonce, gasLimit: BigInt(tx.gasLimit) });
    const out = await call("POST", "/v1/transactions", { signedTransaction: signed });
    const done = out.events.map((e) => t(`event.${e.event}`)).join("、") || t("me.sent");
    say(t("me.done", { what: done, tx: `${out.txHash.slice(0, 12)}…` }), "success");
    $("status").firstChild?.setAttribute("data-events", out.events.map((e) => e.event).join(","));
    await loadCards();
  } catch (err) {
    say(t("me.refused", { message: err.message }), "error");
    if (err.code) $("status").firstChild?.setAttribute("data-code", err.code);
  }
}

/**
 * A time-based card's first check-in: its periods start now instead of at the end of the cooling-off. The page checks
 * the typed data the gateway prepared (chain, contract, card) before signing it with the holder's key.
 */
async function checkIn(card) {
  if (!confirm(t("me.ask.checkIn", { card: card.cardId }))) return;
  try {
    say(t("me.checking"));
    const [ch, c] = await Promise.all([chainInfo(), call("GET", `/v1/cards/${card.cardId}/check-in`)]);
    const { domain, types, message } = c.typedData;
    if (Number(domain.chainId) !== ch.chainId || getAddress(domain.verifyingContract) !== getAddress(ch.escrow) || String(message.cardId) !== String(card.cardId)) {
      throw new Error(t("me.problem.card"));
    }
    const sig = Signature.from(await wallet.signTypedData(domain, types, message));
    await call("POST", `/v1/cards/${card.cardId}/check-ins`, { deadline: Number(message.deadline), v: sig.v, r: sig.r, s: sig.s });
    say(t("me.checkedIn"), "success");
    $("status").firstChild?.setAttribute("data-events", "PeriodsStarted");
    await loadCards();
  } catch (err) {
    say(t("me.refused", { message: err.message }), "error");
    if (err.code) $("status").firstChild?.setAttribute("data-code", err.code);
  }
}

async function cardItem(c) {
  const [m, plan] = await Promise.all([merchant(c.merchantId), planOf(c)]);
  const planText = !plan ? t("me.planNo", { n: c.planIndex }) : plan.kind === "lesson" ? t("me.planLessons", { n: plan.units, price: yuan(plan.priceFen) }) : t("me.planPeriods", { n: plan.units, price: yuan(plan.priceFen) });
  const li = el("li", { class: "item", "data-card-id": c.cardId });
  li.append(el("div", { class: "big", text: m?.name ?? t("merchant.numbered", { id: c.merchantId }) }));
  li.append(el("dl", { class: "facts" },
    el("dt", { text: t("col.card") }), el("dd", { class: "mono", text: c.cardId }),
    el("dt", { text: t("col.plan") }), el("dd", { class: "plan", text: planText }),
    el("dt", { text: c.kind === "lesson" ? t("me.lessonsLeft") : t("me.periodsLeft") }), el("dd", { class: "units-left", text: String(c.unitsLeft) }),
    el("dt", { text: t("me.balance") }), el("dd", { class: "balance", text: yuan(c.heldFen) }),
    el("dt", { text: t("col.expires") }), el("dd", { text: when(c.expiresAt) }),
    el("dt", { text: t("col.status") }), el("dd", { class: "card-status", "data-status": c.status, text: t(`me.status.${c.status}`) === `me.status.${c.status}` ? state(c.status) : t(`me.status.${c.status}`) }),
  ));
  const open = c.status === "active" || c.status === "expired";
  if (open && m?.status === "frozen") li.append(el("div", { class: "notice error", text: t("me.frozen") }));
  else if (open && m?.breachRecordedAt) li.append(el("div", { class: "notice error", text: t("me.breach") }));
  // A lost key's recovery the bank started: the card moves at the deadline unless this key (not lost) cancels it.
  if (c.recoveryTo) {
    li.append(el("div", { class: "notice error recovery", "data-recovery-to": c.recoveryTo, text: t("me.recoveryPending", { to: c.recoveryTo, deadline: when(c.recoveryEffectiveAt) }) }));
  }
  const actions = el("div", { class: "row" });
  const btn = (label, kind, cls = "secondary") => {
    const b = el("button", { class: cls, text: label, "data-action": kind });
    b.addEventListener("click", () => void refund(c, kind));
    actions.append(b);
  };
  if (open) {
    if (m?.status === "frozen") btn(t("me.claim"), "claim", "danger");
    else {
      if (m?.breachRecordedAt) btn(t("me.breachCancel"), "breach", "danger");
      if (c.unitsUsed === 0) btn(t("me.coolingOff"), "cooling-off");
      btn(t("me.requestRefund"), "request");
      btn(t("me.transfer"), "transfer");
    }
  }
  if (c.recoveryTo) btn(t("me.recoveryCancel"), "recovery-cancel", "danger");
  if (open && c.kind === "periodic" && c.startedAt > Date.now() / 1000) {
    const b = el("button", { class: "secondary", text: t("me.checkIn"), "data-action": "check-in" });
    b.addEventListener("click", () => void checkIn(c));
    actions.append(b);
  }
  if (c.status === "refund_requested") {
    btn(t("me.cancelRequest"), "cancel");
    // The merchant does not answer: the holder may hand the request to the industry regulator.
    btn(t("me.escalate"), "escalate");
  }
  const hist = el("button", { class: "secondary", text: t("me.history") });
  const list = el("ul", { class: "plain history", hidden: "" });
  hist.addEventListener("click", async () => {
    list.hidden = !list.hidden;
    if (list.hidden) return;
    const h = await call("GET", `/v1/cards/${c.cardId}/history?limit=50`);
    list.replaceChildren(...(h.items.length ? h.items.map((e) => el("li", { class: "muted", "data-event": e.event, text: `${when(e.blockTime)} · ${t(`event.${e.event}`)}${e.amountFen ? ` · ${yuan(e.amountFen)}` : ""}` })) : [el("li", { class: "muted", text: t("table.empty") })]));
  });
  actions.append(hist);
  li.append(actions, list);
  return li;
}

async function loadCards() {
  $("address").textContent = wallet.address;
  merchants.clear(); // a merchant's status (frozen, a breach on record) may have changed since the last look
  try {
    const page = await call("GET", `/v1/consumers/${wallet.address.toLowerCase()}/cards?limit=100`);
    const items = await Promise.all(page.items.map(cardItem));
    $("cards").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: t("me.noCards") })]));
  } catch (err) {
    $("cards").replaceChildren(el("li", { class: "notice error", text: t("me.cardsFailed", { message: err.message }) }));
  }
}

// ---------------------------------------------------------------- confirming a lesson

let pending = null;

/** Checks the voucher the gateway prepared against what the page knows, independently, before showing it. */
async function prepareConfirm(cardId, lessons) {
  const [card, ch, v] = await Promise.all([
    call("GET", `/v1/cards/${cardId}`), chainInfo(), call("GET", `/v1/cards/${cardId}/voucher?lessons=${lessons}&validSeconds=3600`),
  ]);
  const { domain, message } = v.typedData;
  const problems = [];
  if (Number(domain.chainId) !== ch.chainId) problems.push(t("me.problem.chain"));
  if (getAddress(domain.verifyingContract) !== getAddress(ch.escrow)) problems.push(t("me.problem.contract"));
  if (domain.name !== "PrepaidCustody" || domain.version !== "1") problems.push(t("me.problem.domain"));
  if (String(message.cardId) !== String(cardId) || Number(message.lessons) !== lessons) problems.push(t("me.problem.card"));
  if (Number(message.merchantId) !== card.merchantId || v.merchantId !== card.merchantId) problems.push(t("me.problem.merchant"));
  if (card.holder.toLowerCase() !== wallet.address.toLowerCase()) problems.push(t("me.problem.holder"));
  // The amount signed is what the lessons release: recomputed here from the card when no voucher of it is still queued
  // (the page cannot see the queue), and never more than the card holds.
  const held = BigInt(card.heldFen);
  const releases = BigInt(message.amount);
  if (String(message.amount) !== v.releasesFen || releases > held) problems.push(t("me.problem.release"));
  if (Number(message.sequence) === card.unitsUsed) {
    const share = lessons >= card.unitsLeft ? held : (held * BigInt(lessons)) / BigInt(card.unitsLeft);
    if (share !== releases) problems.push(t("me.problem.release"));
  }
  if (problems.length) throw new Error(t("me.problems", { problems: problems.join("、") }));
  const m = await merchant(card.merchantId);
  return { card, typedData: v.typedData, releases, merchant: m, merchantName: v.merchantName, lessons };
}

async function showConfirm(cardId, lessons) {
  try {
    say(t("me.checking"));
    pending = await prepareConfirm(cardId, lessons);
    const p = pending;
    $("confirm-facts").replaceChildren(
      el("dt", { text: t("voucher.signed") }), el("dd", { id: "confirm-words", text: t("voucher.signedWords", {
        merchant: p.merchantName ?? p.merchant?.name ?? t("voucher.noName"), id: p.card.merchantId, lessons: p.lessons, amount: yuan(p.releases),
      }) }),
      el("dt", { text: t("col.merchant") }), el("dd", { id: "confirm-merchant", text: p.merchant?.name ?? t("merchant.numbered", { id: p.card.merchantId }) }),
      el("dt", { text: t("col.card") }), el("dd", { id: "confirm-card", class: "mono", text: p.card.cardId }),
      el("dt", { text: t("me.lessons") }), el("dd", { id: "confirm-lessons", text: String(p.lessons) }),
      el("dt", { text: t("me.releasedToMerchant") }), el("dd", { id: "confirm-amount", class: "big", text: yuan(p.releases) }),
      el("dt", { text: t("me.balanceAfter") }), el("dd", { text: t("me.balanceAfterText", { amount: yuan(BigInt(p.card.heldFen) - p.releases), n: p.card.unitsLeft - p.lessons }) }),
      el("dt", { text: t("me.validUntil") }), el("dd", { text: when(Number(p.typedData.message.deadline)) }),
    );
    $("confirm").hidden = false;
    say("");
    $("confirm").scrollIntoView({ block: "start" });
  } catch (err) {
    $("confirm").hidden = true;
    say(t("me.cannotConfirm", { message: err.message }), "error");
  }
}

async function sign() {
  const p = pending;
  if (!p) return;
  $("confirm-sign").disabled = true;
  try {
    // The gateway's document is signed as it is (ethers derives EIP712Domain itself), and its message is the voucher.
    const { domain, types: { EIP712Domain: _domainFields, ...types }, message } = p.typedData;
    const sig = Signature.from(await wallet.signTypedData(domain, types, message));
    const voucher = { ...message, v: sig.v, r: sig.r, s: sig.s };
    const out = await call("POST", `/v1/cards/${p.card.cardId}/consumptions`, voucher);
    $("confirm").hidden = true;
    pending = null;
    history.replaceState(null, "", location.pathname);
    say(t("me.confirmedQueued", { amount: yuan(p.releases), id: out.ids[0] }), "success");
    await waitForRelease(p.card.cardId, voucher.sequence);
  } catch (err) {
    say(t("me.notSent", { message: err.message }), "error");
  } finally {
    $("confirm-sign").disabled = false;
  }
}

async function waitForRelease(cardId, sequence) {
  for (let i = 0; i < 60; i++) {
    const h = await call("GET", `/v1/cards/${cardId}/history?limit=200`);
    const hit = h.items.find((e) => e.event === "LessonsConsumed" && Number(e.args?.sequence) === sequence);
    if (hit) {
      say(t("me.released", { amount: yuan(hit.amountFen ?? "0"), block: hit.blockNumber }), "success");
      $("status").firstChild?.setAttribute("data-released", "true");
      await loadCards();
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  say(t("me.notYet"), "");
}

function route() {
  const m = /^#confirm=(\d{1,20})\.(\d{1,5})$/.exec(location.hash);
  if (m) void showConfirm(m[1], Number(m[2]));
}

// ---------------------------------------------------------------- wiring

applyStatic();
$("lang-slot").append(langSwitch());
$("confirm-sign").addEventListener("click", () => void sign());
$("confirm-cancel").addEventListener("click", () => {
  pending = null;
  $("confirm").hidden = true;
  history.replaceState(null, "", location.pathname);
  say(t("me.nothingSigned"));
});
$("reload").addEventListener("click", () => void loadCards());
$("export").addEventListener("click", () => {
  $("export-text").value = wallet.privateKey;
  $("export-box").hidden = !$("export-box").hidden;
});
$("import-show").addEventListener("click", () => { $("import-box").hidden = !$("import-box").hidden; });
$("import").addEventListener("click", () => {
  const pk = $("import-text").value.trim();
  if (!/^0x[0-9a-fA-F]{64}$/.test(pk)) return say(t("me.badKey"), "error");
  if (!confirm(t("me.replaceKey"))) return;
  localStorage.setItem(KEY, pk);
  wallet = new Wallet(pk);
  session = null;
  sessionStorage.removeItem(SESSION);
  $("import-text").value = "";
  $("import-box").hidden = true;
  say(t("me.nowUsing", { address: wallet.address }), "success");
  void loadCards();
});
window.addEventListener("hashchange", route);
await loadCards();
route();
