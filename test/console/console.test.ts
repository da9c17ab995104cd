import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { chromium, Browser, BrowserContext, Page } from "playwright-core";
import { ethers } from "ethers";
import { engines } from "../support/db";
import { devWallet } from "../support/chain";
import { consumptionFor, signConsumption, voucherJson } from "../../src/chain/vouchers";
import { startPlatform, Platform } from "./platform";
import { ok } from "../../src/client";

/**
 * The web console in a real browser: Debian's Chromium, headless, driven by playwright-core against a gateway on a
 * separate Anvil process. Each test clicks through one audience's main task, saves a screenshot under
 * test-output/console/, and fails on any console error, page error or request to another origin.
 */
const SHOTS = path.join(__dirname, "..", "..", "test-output", "console");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

describe("web console (headless Chromium, gateway on Anvil)", function () {
  this.timeout(180_000);
  let pf: Platform;
  let starting: Promise<Platform> | undefined;
  let browser: Browser;
  let context: BrowserContext | null = null;
  let page: Page;
  let problems: string[] = [];
  /** Messages a test expects (e.g. the 401 of a wrong key); anything else is a failure. */
  let allowed: RegExp[] = [];

  before(async function () {
    this.timeout(360_000); // a district on chain over two rounds, on a machine that may be busy
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run .ci/chromium.sh (apt-get install chromium)`);
    fs.mkdirSync(SHOTS, { recursive: true });
    const [pglite] = engines();
    starting = startPlatform(pglite);
    [pf, browser] = await Promise.all([
      starting,
      chromium.launch({
        executablePath: CHROMIUM, headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync"],
      }),
    ]);
  });
  after(async function () {
    this.timeout(120_000);
    await browser?.close();
    // A start that outlived its hook's timeout still gets stopped.
    await (pf ?? (await starting?.catch(() => undefined)))?.stop();
  });

  /** A fresh browser for one audience: English unless `lang` says zh-CN (the pages' default), desktop unless `phone`. */
  async function open(who: string | null, hash = "", opts: { lang?: "en" | "zh-CN"; phone?: boolean } = {}) {
    problems = [];
    allowed = [];
    context = await browser.newContext({
      viewport: opts.phone ? { width: 390, height: 844 } : { width: 1366, height: 860 }, isMobile: Boolean(opts.phone), hasTouch: Boolean(opts.phone),
      acceptDownloads: true, locale: opts.lang === "zh-CN" ? "zh-CN" : "en-GB", timezoneId: "America/New_York",
    });
    if ((opts.lang ?? "en") === "en") await context.addInitScript("if (!localStorage.getItem(\"custody.lang\")) localStorage.setItem(\"custody.lang\", \"en\");");
    context.on("requestfailed", (r) => { if (!r.url().startsWith("data:") && !/aborted/i.test(r.failure()?.errorText ?? "")) problems.push(`failed request: ${r.url()} ${r.failure()?.errorText}`); });
    context.on("response", (r) => { if (r.status() >= 400 && !allowed.some((re) => re.test(`${r.status()} ${r.url()}`))) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
    // Everything must come from the gateway itself.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(pf.base + "/") || url.startsWith("blob:") || url.startsWith("data:")) return route.continue();
      problems.push(`request to another origin: ${url}`);
      return route.abort();
    });
    page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" && !allowed.some((re) => re.test(m.text()))) problems.push(`console error: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(`${pf.base}/${hash}`);
    if (who) await signIn(pf.key[who]);
    return page;
  }

  async function signIn(key: string) {
    await page.fill("#api-key", key);
    await page.click("#signin button[type=submit]");
    await page.waitForSelector("#who-role");
  }

  /** Waits (polling from the test) until `ok` holds; fails naming what it waited for. */
  async function until(what: string, ok: () => Promise<boolean>, ms = 30_000) {
    const end = Date.now() + ms;
    while (!(await ok().catch(() => false))) {
      if (Date.now() > end) throw new Error(`gave up waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const rowsOf = (list: string) => page.locator(`${list} tbody tr[data-key]`).count();
  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const texts = (sel: string) => page.locator(sel).allInnerTexts();

  afterEach(async function () {
    if (context) {
      if (this.currentTest?.state === "failed") await shot(`FAILED-${this.currentTest.title.replace(/\W+/g, "-").slice(0, 60)}`).catch(() => undefined);
      await context.close();
      context = null;
    }
    expect(problems, "browser console errors, page errors or outside requests").to.deep.equal([]);
  });

  it("signs in with an API key, refuses a wrong one, and keeps the key for the tab only", async () => {
    await open(null);
    allowed = [/401/];
    await page.fill("#api-key", "ck_000000000000_" + "a".repeat(32));
    await page.click("#signin button[type=submit]");
    await page.waitForSelector("#signin-error .notice.error");
    expect(await page.textContent("#signin-error")).to.contain("unknown, revoked or malformed");
    allowed = [];
    await signIn(pf.key.auditor);
    expect(await page.getAttribute("#who-role", "data-role")).to.equal("auditor");
    // Money: fen strings shown as yuan and yuan typed in read as fen, exactly (beyond 2^53 too), never through floats.
    const money = await page.evaluate(`import("/console/lib/money.js").then((m) => {
      const accepted = [];
      for (const t of ["1.234", "-1", "1e3", "abc", "", "0.5.1"]) { try { m.fenOf(t); accepted.push(t); } catch { /* refused */ } }
      return [m.yuan("123456789"), m.yuan("-5"), m.yuan("0"), m.yuan("90071992547409931"), m.fenOf("1,200.5"), m.fenOf("0.07"), m.fenOf("¥12"), accepted];
    })`);
    expect(money).to.deep.equal(["¥1,234,567.89", "-¥0.05", "¥0.00", "¥900,719,925,474,099.31", "120050", "7", "1200", []]);
    // The key lives in the tab (sessionStorage); localStorage holds only the language choice.
    expect(await page.evaluate("[sessionStorage.length, Object.keys(localStorage)]")).to.deep.equal([1, ["custody.lang"]]);
    await page.reload();
    await page.waitForSelector("#who-role"); // still signed in after a reload
    await page.click("#signout");
    await page.waitForSelector("#api-key");
    expect(await page.evaluate("sessionStorage.length")).to.equal(0);
  });

  it("regulator: filters merchants, opens one, restricts it and sees its status change", async () => {
    const [, salon, third] = pf.merchantIds;
    // The risk service rates everyone, so the merchant's page has an explanation to show.
    const rate = await ok(pf.api("bureau").POST("/v1/risk/rate", {}));
    expect(rate.rated).to.be.at.least(3);
    await open("bureau");
    await page.waitForSelector("#merchant-list tbody tr[data-key]");
    expect(await page.locator("#merchant-list tbody tr[data-key]").count()).to.equal(3);
    await page.selectOption("#filter-status", "frozen");
    await until("one frozen merchant", async () => (await rowsOf("#merchant-list")) === 1);
    expect(await page.getAttribute("#merchant-list tbody tr[data-key]", "data-key")).to.equal(String(third));
    // A rising level arrives as it is raised, over the live stream.
    await page.waitForSelector("#alerts-live.on");
    const override = await pf.api("bureau").POST("/v1/merchants/{merchantId}/risk/override", {
      params: { path: { merchantId: salon } }, body: { level: "high", reason: "12345 tickets about a closed branch" },
    });
    expect(override.response.status, JSON.stringify(override.error)).to.equal(201);
    const alert = page.locator("#alert-list li.fresh", { hasText: `Merchant #${salon}` });
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.innerText()).to.match(/low\s*→\s*high/);
    await shot("regulator-merchants");
    await page.selectOption("#filter-status", "");
    await until("all merchants again", async () => (await rowsOf("#merchant-list")) === 3);
    await page.click(`#merchant-list tr[data-key="${salon}"] a`);
    await page.waitForSelector("#merchant-status .badge");
    expect(await page.textContent("#merchant-status")).to.equal("active");
    await page.waitForSelector("#merchant-cards tbody tr[data-key]");
    await page.waitForSelector("#merchant-money #chart-cumulative");
    await page.waitForSelector("#merchant-risk #risk-rating");
    expect(await page.textContent("#merchant-risk")).to.contain("high by regulator override: 12345 tickets about a closed branch");
    await page.click('button[data-action="restrict"]');
    await page.fill("#confirm-reason", "complaints about unpaid refunds");
    await page.click("#confirm-ok");
    await until("the status shows restricted", async () => (await page.textContent("#merchant-status")) === "restricted", 60_000);
    expect(await page.locator('button[data-action="unrestrict"]').count()).to.equal(1);
    await shot("regulator-merchant-restricted");
    const [m] = await pf.db.query<{ status: string }>("SELECT status FROM merchants WHERE merchant_id = $1", [salon]);
    expect(m.status).to.equal("restricted");
  });

  it("regulator: decides an open refund dispute", async () => {
    const [school] = pf.merchantIds;
    const { escrow, parties } = pf.district;
    const [card] = await pf.db.query<{ card_id: string; holder: string }>(
      "SELECT card_id::text, holder FROM cards WHERE merchant_id = $1 AND status = 'active' AND units_used > 0 ORDER BY card_id LIMIT 1", [school]);
    const holder = parties.holders.find((h) => h.address.toLowerCase() === card.holder)!;
    await (await escrow.connect(holder).requestRefund(BigInt(card.card_id))).wait();
    await (await escrow.connect(parties.merchants[0]).rejectRefund(BigInt(card.card_id), ethers.id("lessons were given"))).wait();
    await pf.synced();
    await open("bureau", "#/disputes");
    await page.waitForSelector("#dispute-list tbody tr");
    const row = page.locator("#dispute-list tbody tr", { hasText: card.card_id });
    await row.locator("input").fill("100.50");
    await shot("regulator-disputes");
    await row.locator("button", { hasText: "Decide" }).click();
    expect(await page.textContent("#confirm-dialog")).to.contain("¥100.50");
    await page.click("#confirm-ok");
    await until("the decided dispute leaves the open list", async () => !(await page.textContent("#dispute-list"))!.includes(card.card_id), 60_000);
    const [d] = await pf.db.query<{ status: string; refunded: string }>("SELECT status, refunded::text FROM disputes WHERE card_id = $1", [card.card_id]);
    expect(d).to.deep.equal({ status: "refunded", refunded: "10050" });
  });

  it("industry regulator: accepts a 12345 hotline ticket routed to it", async () => {
    const [school] = pf.merchantIds;
    const r = await pf.api("bureau").POST("/v1/hotline/tickets", {
      body: { ticketId: "T20261123-0001", merchantId: school, category: "refund", summary: "The school closed the Saturday class and refuses refunds", receivedAt: Math.floor(Date.now() / 1000) },
    });
    expect(r.response.status).to.equal(201);
    await open("education", "#/hotline");
    const row = page.locator("#ticket-list tr[data-key='T20261123-0001']");
    await row.waitFor();
    expect(await row.locator(".badge").last().textContent()).to.equal("routed");
    await row.locator("button", { hasText: "Accept" }).click();
    await until("the ticket shows accepted", async () => (await row.innerText()).includes("accepted"));
    await page.waitForSelector("#dispatch-stats tbody tr");
    await shot("regulator-hotline");
  });

  it("bank: sees positions agree with the chain, uploads a statement and sees the reconciliation", async () => {
    await open("bank");
    await page.waitForSelector("#position-agrees [data-agrees]");
    expect(await page.getAttribute("#position-agrees [data-agrees]", "data-agrees")).to.equal("true");
    const rows = await texts("#position-list tbody tr[data-key]");
    expect(rows.length).to.equal(3);
    for (const r of rows) expect(r).to.contain("agrees");
    await shot("bank-positions");

    // The custody account's statement, as the bank's own system would print it: every movement, and the closing balance.
    const bank = pf.api("bank");
    const ledger = (await ok(bank.GET("/v1/ledger", { params: { query: { limit: 500 } } }))).items;
    const lines: string[] = [];
    for (const e of ledger) {
      // Into custody: a card's whole price (the direct share waits there through the cooling-off); out: payouts and refunds.
      const into = e.event === "CardPurchased" || e.event === "CardRenewed";
      const out = ["PaidOut", "CardRefunded", "DirectShareReturned", "RenewalRefunded"].includes(e.event);
      const fen = (name: string) => BigInt(String(e.args[name] ?? 0)); // the ledger's args: money as decimal strings
      const amount = into ? fen("custodied") + fen("direct") : out ? fen("amount") : null;
      if (amount === null || amount === 0n) continue;
      lines.push(`S${lines.length + 1},${out ? "out" : "in"},${amount},${e.txHash},,`);
    }
    const closing = (await ok(bank.GET("/v1/banks/{bankId}/positions", { params: { path: { bankId: 1 } } }))).total.tokenSupplyFen;
    const csv = ["ref,direction,amountFen,txHash,cardId,merchantId", ...lines, `closing,,${closing}`].join("\n") + "\n";

    await page.click('#nav a[data-page="reconcile"]');
    await page.setInputFiles("#statement-file", { name: "statement.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await until("the file is read into the text box", async () => (await page.inputValue("#statement-text")).startsWith("ref,"));
    await page.click("#reconcile");
    await page.waitForSelector("#reconciled");
    expect(await page.textContent("#reconciled")).to.equal("reconciled");
    expect(await page.textContent("#matched-count .v")).to.equal(String(lines.length));
    await shot("bank-reconciled");

    // One line off by a fen: the result names it.
    const off = lines[0].split(",");
    off[2] = String(BigInt(off[2]) - 1n);
    await page.fill("#statement-text", csv.replace(lines[0], off.join(",")));
    await page.click("#reconcile");
    await until("the result shows not reconciled", async () => (await page.textContent("#reconciled")) === "not reconciled");
    expect(await page.textContent("#mismatched-count .v")).to.equal("1");
    await shot("bank-not-reconciled");

    await page.click('#nav a[data-page="payouts"]');
    await page.waitForSelector("#payout-total");
    expect(await page.locator("#payout-list tbody tr").count()).to.be.at.least(1);
    await page.selectOption("#payout-kind", "refund");
    await until("the refund queue shows holders", async () => (await page.textContent("#payout-list"))!.includes("0x"));
    await shot("bank-payout-queue");
  });

  it("auditor: filters the ledger, verifies a row against the chain and exports CSV", async () => {
    await open("auditor");
    await page.waitForSelector("#ledger-list tbody tr[data-key]");
    await page.selectOption("#f-event", "CardPurchased");
    await page.click("#ledger-apply");
    const eventsShown = () => page.locator("#ledger-list tbody tr[data-key] summary").evaluateAll((els) => els.map((e) => e.getAttribute("data-event")));
    await until("only CardPurchased rows", async () => (await eventsShown()).every((t) => t === "CardPurchased"));
    expect(await texts("#ledger-list tbody tr[data-key] summary")).to.include("card purchased");
    const events = await eventsShown();
    const [{ n }] = await pf.db.query<{ n: string }>("SELECT count(*)::text AS n FROM ledger WHERE event = 'CardPurchased'");
    expect(events.length).to.equal(Number(n));
    const first = page.locator("#ledger-list tbody tr[data-key]").first();
    await first.locator("button[data-verify]").click();
    await first.locator("[data-verified]").waitFor();
    expect(await first.locator("[data-verified]").getAttribute("data-verified")).to.equal("true");
    await shot("auditor-ledger-verified");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#ledger-csv")]);
    expect(download.suggestedFilename()).to.equal("ledger.csv");
    const raw = fs.readFileSync((await download.path())!);
    expect([...raw.subarray(0, 3)], "a UTF-8 byte-order mark, so Excel reads Chinese").to.deep.equal([0xef, 0xbb, 0xbf]);
    const text = raw.subarray(3).toString("utf8");
    const csvLines = text.trim().split("\n");
    expect(csvLines[0]).to.match(/^id,block_number,block_time,tx_hash/);
    expect(csvLines.length - 1).to.equal(Number(n));
    expect(csvLines.slice(1).every((l) => l.includes(",CardPurchased,"))).to.equal(true);
  });

  it("merchant: publishes a plan, sees its cards, submits a consumption and requests a payout", async () => {
    const [school] = pf.merchantIds;
    await open("school");
    await page.waitForSelector("#plan-list tbody tr[data-key]");
    const before = await page.locator("#plan-list tbody tr[data-key]").count();
    await page.fill("#plan-units", "12");
    await page.fill("#plan-validity", "90");
    await page.fill("#plan-price", "1,200.50");
    await page.click("#plan-publish");
    await page.waitForSelector("#plan-result .notice.success", { timeout: 60_000 });
    await until("the new plan is listed", async () => (await rowsOf("#plan-list")) === before + 1);
    expect(await page.locator("#plan-list tbody tr[data-key]").last().innerText()).to.contain("¥1,200.50");
    const [plan] = await pf.db.query<{ price: string; units: number }>("SELECT price::text, units FROM plans WHERE merchant_id = $1 ORDER BY plan_index DESC LIMIT 1", [school]);
    expect(plan).to.deep.equal({ price: "120050", units: 12 });
    await shot("merchant-plans");

    await page.click('#nav a[data-page="cards"]');
    await page.waitForSelector("#card-list tbody tr[data-key]");
    const [{ n }] = await pf.db.query<{ n: string }>("SELECT count(*)::text AS n FROM cards WHERE merchant_id = $1", [school]);
    expect(await page.locator("#card-list tbody tr[data-key]").count()).to.equal(Number(n));
    await shot("merchant-cards");

    // A holder signs a voucher for one lesson; the merchant pastes it in.
    const { provider, escrow, parties } = pf.district;
    const [card] = await pf.db.query<{ card_id: string; holder: string; units_used: number; units_left: number; held: string }>(
      "SELECT card_id::text, holder, units_used, units_left, held::text FROM cards WHERE merchant_id = $1 AND status = 'active' AND units_left > 0 ORDER BY card_id LIMIT 1", [school]);
    const holder = parties.holders.find((h) => h.address.toLowerCase() === card.holder)!;
    const deadline = (await provider.getBlock("latest"))!.timestamp + 3600;
    const at = { cardId: BigInt(card.card_id), held: BigInt(card.held), unitsLeft: Number(card.units_left), unitsUsed: Number(card.units_used) };
    const v = await signConsumption(holder, 31337n, await escrow.getAddress(), consumptionFor(at, 1, deadline));
    await page.click('#nav a[data-page="consumptions"]');
    await page.waitForSelector("#voucher-text");
    await page.fill("#voucher-text", JSON.stringify([voucherJson(v)], null, 1));
    await page.click("#voucher-submit");
    await page.waitForSelector("#voucher-result .notice.success");
    await until("the voucher is confirmed", async () => (await page.locator("#queue-list tbody tr").first().innerText()).includes("confirmed"), 60_000);
    await shot("merchant-consumptions");

    await page.click('#nav a[data-page="payouts"]');
    await page.waitForSelector("#payout-request");
    expect(await page.isDisabled("#payout-request")).to.equal(false);
    await page.click("#payout-request");
    await page.waitForSelector("#payout-result .notice.success", { timeout: 60_000 });
    await until("nothing is payable any more", async () => (await page.textContent("#payable .v")) === "¥0.00");
    await shot("merchant-payouts");
    void devWallet;
  });

  it("charts: money over time, per industry and per merchant, and risk levels", async () => {
    await open("bureau", "#/charts");
    await page.waitForSelector("#chart-cumulative svg");
    expect(Number(await page.getAttribute("#chart-cumulative", "data-points"))).to.be.at.least(2);
    await page.waitForSelector("#chart-industries svg");
    expect(Number(await page.getAttribute("#chart-industries", "data-rows"))).to.be.at.least(2);
    await page.waitForSelector("#risk-chart h2 + *");
    // The totals shown are the index's own, to the fen.
    const [t] = await pf.db.query<{ paid_in: string }>("SELECT sum(paid_in)::text AS paid_in FROM merchants");
    expect(await page.getAttribute('.money-totals [data-k="paidIn"]', "data-fen")).to.equal(t.paid_in);
    await page.hover("#chart-cumulative svg");
    expect(await page.textContent("#chart-cumulative .tip")).to.match(/Paid in ¥[\d,]+\.\d\d/);
    await shot("charts");
    await page.selectOption("#chart-industry", "1");
    await page.waitForSelector("#money-charts #chart-cumulative");
    await page.selectOption("#chart-bucket", "hour");
    await until("an hourly chart", async () => Number(await page.getAttribute("#chart-cumulative", "data-points").catch(() => "0")) >= 2);
    await shot("charts-education-hourly");
  });
});
