import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { chromium, Browser, BrowserContext, Page } from "playwright-core";
import { ethers } from "ethers";
import { engines } from "../support/db";
import { devWallet } from "../support/chain";
import { startPlatform, Platform } from "./platform";
import { CustodyApiError, custodyClient, ok } from "../../src/client";

/**
 * A working day per audience in the browser, as the people of a Beijing district would have it: Chinese by default
 * (whatever the browser's own language and time zone), English one switch away; desktop and phone sizes. The
 * regulator admits a merchant (its 统一社会信用代码 checked), issues its key, records a public warning, takes in a
 * 12345 ticket, overrides a rating, edits a policy and freezes a collapsed merchant after a reason and a
 * confirmation; the merchant publishes plans (a refusal in words), the bank opens a card once paid, exports its queue
 * for Excel and reconciles a period; the merchant asks for a lesson's confirmation with a QR code and sees the
 * consumer's confirmation arrive; the auditor reads the ledger in English. Any console error, page error, failed
 * request or unexpected 4xx/5xx fails the test. Screenshots: test-output/console/workday-*.png.
 */
const SHOTS = path.join(__dirname, "..", "..", "test-output", "console");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1366, height: 860 };
const NAME = "阳光舞蹈学校";
const USCC = "91110105MA0100001L"; // check character L
const USCC_WRONG = "91110105MA0100001M";

describe("a working day per audience, in Chinese and English, desktop and phone (headless Chromium)", function () {
  this.timeout(240_000);
  let pf: Platform;
  let starting: Promise<Platform> | undefined;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let allowed: RegExp[] = [];
  // Facts one step hands the next.
  let merchantId = 0;
  let merchantKey = "";
  let cardId = "";
  const holder = ethers.Wallet.createRandom();

  before(async function () {
    this.timeout(360_000);
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
    fs.mkdirSync(SHOTS, { recursive: true });
    starting = startPlatform(engines()[0]);
    [pf, browser] = await Promise.all([starting, chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    })]);
  });
  after(async function () {
    this.timeout(120_000);
    await browser?.close();
    await (pf ?? (await starting?.catch(() => undefined)))?.stop();
  });
  afterEach(async function () {
    for (const c of contexts.splice(0)) {
      if (this.currentTest?.state === "failed") for (const p of c.pages()) await p.screenshot({ path: path.join(SHOTS, `FAILED-workday-${Date.now()}.png`), fullPage: true }).catch(() => undefined);
      await c.close();
    }
    expect(problems, "console errors, page errors, failed requests or unexpected error answers").to.deep.equal([]);
  });

  /** A browser of its own: Chinese unless told, the browser itself set to US English in New York (the pages must not care). */
  async function open(opts: { lang?: "en" | "zh-CN"; phone?: boolean; init?: string } = {}): Promise<Page> {
    const c = await browser.newContext({
      viewport: opts.phone ? PHONE : DESKTOP, isMobile: Boolean(opts.phone), hasTouch: Boolean(opts.phone), deviceScaleFactor: opts.phone ? 2 : 1,
      acceptDownloads: true, locale: "en-US", timezoneId: "America/New_York",
    });
    contexts.push(c);
    if (opts.lang === "en") await c.addInitScript("if (!localStorage.getItem('custody.lang')) localStorage.setItem('custody.lang', 'en')");
    if (opts.init) await c.addInitScript(opts.init);
    await c.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(pf.base + "/") || url.startsWith("blob:") || url.startsWith("data:")) return route.continue();
      problems.push(`request to another origin: ${url}`);
      return route.abort();
    });
    c.on("requestfailed", (r) => { if (!/aborted/i.test(r.failure()?.errorText ?? "")) problems.push(`failed request: ${r.url()} ${r.failure()?.errorText}`); });
    c.on("response", (r) => { if (r.status() >= 400 && !allowed.some((re) => re.test(`${r.status()} ${r.url()}`))) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
    const page = await c.newPage();
    page.on("console", (m) => { if (m.type() === "error" && !allowed.some((re) => re.test(m.text()))) problems.push(`console error: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    return page;
  }
  async function signIn(page: Page, key: string, hash = "") {
    await page.goto(`${pf.base}/${hash}`);
    await page.fill("#api-key", key);
    await page.click("#signin button[type=submit]");
    await page.waitForSelector("#who-role");
  }
  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(SHOTS, `workday-${name}.png`), fullPage: true });
  const go = async (page: Page, where: string) => { await page.click(`#nav a[data-page="${where}"]`); };
  async function until(what: string, ok: () => Promise<boolean>, ms = 60_000) {
    const end = Date.now() + ms;
    while (!(await ok().catch(() => false))) {
      if (Date.now() > end) throw new Error(`gave up waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  it("regulator (desktop, Chinese): admits a merchant, issues its key, warns publicly, takes in a 12345 ticket, edits a policy, freezes after a reason", async () => {
    const page = await open();
    await signIn(page, pf.key.bureau);
    expect(await page.textContent("#who-role")).to.equal("市场监管局");
    expect(await page.getAttribute("html", "lang")).to.equal("zh-CN");
    await page.waitForSelector("#merchant-list tbody tr[data-key]");
    expect(await page.textContent("#page-merchants h1")).to.equal("商户");
    await shot(page, "regulator-1-merchants");

    // Admit: a wrong check character is named before anything is sent.
    await go(page, "admit");
    await page.fill("#admit-name", NAME);
    await page.selectOption("#admit-district", "朝阳区");
    await page.fill("#admit-uscc", USCC_WRONG.toLowerCase());
    expect(await page.inputValue("#admit-uscc")).to.equal(USCC_WRONG); // capitals, as on the licence
    expect(await page.textContent("#admit-uscc-hint")).to.contain("校验位错误");
    await page.selectOption("#admit-industry", "1");
    await page.fill("#admit-account", devWallet(9, pf.district.provider).address);
    await page.click("#admit-submit");
    await page.waitForSelector("#admit-result .notice.error");
    expect(await page.textContent("#admit-result")).to.contain("校验位错误");
    await shot(page, "regulator-2-admit-refused");
    await page.fill("#admit-uscc", USCC);
    expect(await page.textContent("#admit-uscc-hint")).to.contain("校验通过");
    await page.click("#admit-submit");
    await page.waitForSelector("#admitted", { timeout: 60_000 });
    merchantId = Number(await page.getAttribute("#admitted", "data-merchant"));
    expect(await page.textContent("#admitted")).to.contain(`${NAME} #${merchantId}`).and.contain("Test Bank");
    await shot(page, "regulator-3-admitted");
    // The API refuses the same wrong code the page refused (same check).
    const refused = await ok(pf.api("bureau").POST("/v1/merchants", {
      headers: { "accept-language": "zh-CN" },
      body: { account: ethers.Wallet.createRandom().address, industryId: 1, bankId: 1, registrationNumber: USCC_WRONG, name: "x" },
    })).then(() => null, (err: unknown) => err);
    if (!(refused instanceof CustodyApiError)) throw new Error(`the API did not refuse the wrong code: ${refused}`);
    expect(refused.status).to.equal(400);
    expect(refused.message).to.equal("请求中有无效字段");
    expect(refused.details).to.deep.equal([{ field: "body.registrationNumber", reason: "the 统一社会信用代码's last character is not its check character (GB 32100-2015)" }]);

    // Its key, shown once.
    await go(page, "keys");
    await page.selectOption("#key-role", "merchant");
    await page.fill("#key-subject", String(merchantId));
    await page.fill("#key-label", `${NAME} 前台`);
    await page.click("#key-issue");
    await page.waitForSelector("#issued-key");
    merchantKey = await page.inputValue("#issued-key");
    expect(merchantKey).to.match(/^ck_/);
    await until("the key is listed by the merchant's name", async () => (await page.textContent("#key-list"))!.includes(`${NAME} #${merchantId}`));
    await shot(page, "regulator-4-keys");

    // A public warning on its record.
    await page.goto(`${pf.base}/#/merchants/${merchantId}`);
    await page.waitForSelector("#entry-form");
    expect(await page.textContent("#merchant-head h1")).to.contain(`${NAME} #${merchantId}`);
    expect(await page.textContent("#merchant-head")).to.contain(USCC).and.contain("朝阳区").and.contain("教育培训");
    await page.fill("#entry-document", "朝市监警〔2026〕7号");
    await page.fill("#entry-summary", "超范围收取预付费，责令整改");
    await page.click("#entry-submit");
    await page.waitForSelector("#enforcement-result .notice.success", { timeout: 60_000 });
    await page.waitForSelector("#enforcement-list tbody tr[data-key]");
    expect(await page.textContent("#enforcement-list")).to.contain("警示").and.contain("朝市监警〔2026〕7号");
    await shot(page, "regulator-5-warning");

    // A 12345 ticket, taken in and routed to the education regulator.
    await go(page, "hotline");
    await page.fill("#intake-ticket", "T20261207-0042");
    await page.fill("#intake-merchant", String(merchantId));
    await page.fill("#intake-summary", "家长反映：周六班停课不退费");
    await page.click("#intake-submit");
    await page.waitForSelector("#intake-result .notice.success");
    const row = page.locator("#ticket-list tr[data-key='T20261207-0042']");
    await row.waitFor();
    expect(await row.innerText()).to.contain(NAME).and.contain("已派单").and.contain("退款");
    // Transferred to the bureau (a wrong dispatch), then closed with its resolution.
    await row.locator("button[data-transfer]").click();
    await page.waitForSelector("#confirm-dialog #transfer-to");
    await page.check("#transfer-wrong");
    await page.fill("#confirm-reason", "涉及闭店风险，转市场监管局统筹处置");
    await shot(page, "regulator-6-hotline-transfer");
    await page.click("#confirm-ok");
    await until("the ticket is with the bureau", async () => (await row.innerText()).includes("市场监管局"));
    await row.locator("button[data-close]").click();
    await page.fill("#confirm-reason", "已约谈经营者，责令按剩余课时退费");
    await page.click("#confirm-ok");
    await until("the ticket is closed", async () => (await row.innerText()).includes("已办结"));
    expect(await row.innerText()).to.contain("已约谈经营者");
    const [d] = await pf.db.query<{ wrong: string }>("SELECT count(*)::text AS wrong FROM hotline_dispatches WHERE ticket_id = 'T20261207-0042' AND wrong_dispatch");
    expect(d.wrong).to.equal("1");
    await shot(page, "regulator-6-hotline");

    // Policy: fitness custody up to 50%.
    await go(page, "policies");
    await page.click('button[data-edit="3"]');
    await page.fill("#policy-custodyBps", "50");
    await page.click("#policy-save");
    await page.waitForSelector("#policy-result .notice.success", { timeout: 60_000 });
    await until("the policy list shows 50%", async () => (await page.locator('#policy-list tr[data-key="3"]').innerText()).includes("50%"));
    await shot(page, "regulator-7-policies");

    // Freeze the salon: a reason is required, then a confirmation.
    const salon = pf.merchantIds[1];
    await page.goto(`${pf.base}/#/merchants/${salon}`);
    await page.click('button[data-action="freeze"]');
    await page.waitForSelector("#confirm-dialog");
    expect(await page.textContent("#confirm-dialog h2")).to.contain("冻结");
    await page.click("#confirm-ok");
    expect(await page.textContent("#confirm-dialog .confirm-error")).to.equal("请填写理由。");
    await shot(page, "regulator-8-freeze-dialog");
    await page.fill("#confirm-reason", "经营者失联，门店关闭");
    await page.click("#confirm-ok");
    await until("the salon shows frozen", async () => (await page.textContent("#merchant-status")) === "已冻结");
    await shot(page, "regulator-9-frozen");
  });

  it("merchant (phone, Chinese): a plan beyond the lesson cap is refused in words, a lawful one is published; a staff key issued and revoked", async () => {
    const page = await open({ phone: true });
    await signIn(page, merchantKey);
    expect(await page.textContent("#who-role")).to.equal("商户");
    await page.waitForSelector("#plan-form");
    allowed = [/409/];
    await page.fill("#plan-units", "61");
    await page.fill("#plan-price", "3000");
    await page.click("#plan-publish");
    await page.waitForSelector("#plan-result .notice.error", { timeout: 60_000 });
    expect(await page.textContent("#plan-result")).to.contain("超出课时上限：61 > 60").and.contain("Custody_LessonCapExceeded");
    await shot(page, "merchant-1-refused");
    allowed = [];
    await page.fill("#plan-units", "10");
    await page.click("#plan-publish");
    await page.waitForSelector("#plan-result .notice.success", { timeout: 60_000 });
    await page.waitForSelector("#plan-list tbody tr[data-key]");
    expect(await page.textContent("#plan-list")).to.contain("¥3,000.00").and.contain("按课时");
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).to.be.at.most(PHONE.width);
    await shot(page, "merchant-2-plans");
    // The front desk gets a key of its own; it works as the merchant's, and stops working once revoked.
    await page.goto(`${pf.base}/#/staff`);
    await page.waitForSelector("#staff-form");
    expect(await page.textContent("#page-staff h1")).to.equal("员工密钥");
    await page.fill("#staff-label", "前台 王芳");
    await page.click("#staff-issue");
    await page.waitForSelector("#issued-staff-key");
    const staffKey = await page.inputValue("#issued-staff-key");
    const staff = custodyClient({ baseUrl: pf.base, apiKey: staffKey });
    const me = await ok(staff.GET("/v1/me"));
    expect(me).to.include({ role: "merchant", subject: String(merchantId) });
    await until("the staff key is listed", async () => (await page.textContent("#staff-list"))!.includes("前台 王芳"));
    await shot(page, "merchant-3-staff-keys");
    await page.click("#staff-list button[data-revoke]");
    await page.click("#confirm-ok");
    await until("the staff key is shown revoked", async () => (await page.textContent("#staff-list"))!.includes("已吊销"));
    await until("the revoked key is refused", async () => (await staff.GET("/v1/me")).response.status === 401, 15_000);
  });

  it("bank (phone, Chinese): opens a card once paid, exports the refund queue for Excel, reconciles one day's statement", async () => {
    const page = await open({ phone: true });
    await signIn(page, pf.key.bank);
    expect(await page.textContent("#who-role")).to.equal("存管银行");
    await page.waitForSelector("#position-agrees [data-agrees]");
    expect(await page.textContent("#position-list")).to.contain(`${NAME} #${merchantId}`);
    await shot(page, "bank-1-positions");

    await go(page, "cards");
    await page.selectOption("#open-merchant", String(merchantId));
    await until("the plan is offered", async () => (await page.locator("#open-plan option[value='1']").count()) === 1);
    await page.fill("#open-holder", holder.address);
    await page.click("#open-card");
    await page.waitForSelector("#confirm-dialog");
    expect(await page.textContent("#confirm-dialog")).to.contain("¥3,000.00").and.contain(NAME);
    await page.click("#confirm-ok");
    await page.waitForSelector("#opened", { timeout: 60_000 });
    cardId = (await page.getAttribute("#opened", "data-card"))!;
    expect(await page.textContent("#opened")).to.contain("¥3,000.00");
    await shot(page, "bank-2-opened");

    await go(page, "payouts");
    await page.selectOption("#payout-kind", "refund");
    await until("the refund queue", async () => (await page.locator("#payout-list tbody tr").count()) > 0 && (await page.textContent("#payout-list"))!.includes("0x"));
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#payout-csv")]);
    const raw = fs.readFileSync((await download.path())!);
    expect([...raw.subarray(0, 3)], "UTF-8 BOM for Excel").to.deep.equal([0xef, 0xbb, 0xbf]);
    const lines = raw.subarray(3).toString("utf8").trim().split("\r\n");
    expect(lines[0]).to.equal("时间（北京）,类别,商户编号,商户名称,统一社会信用代码,收款人,收款账户,卡号,原因,金额（元）,金额（分）,区块,交易哈希");
    const [{ n }] = await pf.db.query<{ n: string }>("SELECT count(*)::text AS n FROM refunds WHERE bank_id = 1");
    expect(lines.length - 1).to.equal(Number(n));
    expect(lines[1]).to.match(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2},退款,/);
    await shot(page, "bank-3-refund-queue");

    // One day's statement (the district's first day of sales), with that day's closing balance: reconciled, although
    // the bank's custody account has moved on since.
    const ledger = (await ok(pf.api("bank").GET("/v1/ledger", { params: { query: { limit: 500 } } }))).items;
    const beijingDay = (sec: number) => new Date((sec + 8 * 3600) * 1000).toISOString().slice(0, 10);
    const fen = (args: Record<string, unknown>, name: string) => BigInt(String(args[name] ?? 0)); // money as decimal strings
    const moves = ledger.map((e) => ({
      e, dir: e.event === "CardPurchased" || e.event === "CardRenewed" ? "in" : "out",
      amount: e.event === "CardPurchased" || e.event === "CardRenewed" ? String(fen(e.args, "custodied") + fen(e.args, "direct"))
        : ["PaidOut", "CardRefunded", "DirectShareReturned", "RenewalRefunded"].includes(e.event) ? String(fen(e.args, "amount")) : null,
    })).filter((m) => m.amount !== null && BigInt(m.amount) > 0n);
    const day = beijingDay(moves[0].e.blockTime);
    const thatDay = moves.filter((m) => beijingDay(m.e.blockTime) === day);
    expect(thatDay.length).to.be.lessThan(moves.length); // there was more after that day
    const closing = thatDay.reduce((a, m) => a + (m.dir === "in" ? 1n : -1n) * BigInt(m.amount!), 0n);
    const statement = ["ref,direction,amountFen,txHash,cardId,merchantId", ...thatDay.map((m, i) => `S${i + 1},${m.dir},${m.amount},${m.e.txHash},,`), `closing,,${closing}`].join("\n");
    await go(page, "reconcile");
    await page.fill("#period-from", day);
    await page.fill("#period-to", day);
    await page.setInputFiles("#statement-file", { name: "对账单.csv", mimeType: "text/csv", buffer: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(statement)]) });
    await until("the file is read", async () => (await page.inputValue("#statement-text")).startsWith("ref,"));
    await page.click("#reconcile");
    await page.waitForSelector("#reconciled");
    expect(await page.textContent("#reconciled")).to.equal("账实相符");
    expect(await page.textContent("#matched-count .v")).to.equal(String(thatDay.length));
    expect(await page.textContent("#reconciliation h2")).to.contain(`${day} 至 ${day}`);
    expect(await page.textContent("#period-end .v")).to.equal(`¥${(closing / 100n).toLocaleString("en-US")}.${(closing % 100n).toString().padStart(2, "0")}`);
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).to.be.at.most(PHONE.width);
    await shot(page, "bank-4-reconciled-period");
  });

  it("merchant (desktop) and consumer (phone), in Chinese: a QR code asks for a lesson, the consumer confirms, the merchant sees it live", async () => {
    const page = await open();
    await signIn(page, merchantKey, "#/cards");
    const ask = page.locator(`button[data-ask="${cardId}"]`);
    await ask.waitFor();
    await ask.click();
    await page.fill("#ask-lessons", "2");
    await page.click("#ask-go");
    await page.waitForSelector("#ask-qr");
    expect(await page.getAttribute("#ask-qr", "src")).to.match(/^data:image\/svg\+xml/);
    expect(await page.getAttribute("#ask-status", "data-confirmed")).to.equal("false");
    const link = (await page.getAttribute("#ask-link", "href"))!;
    expect(link).to.equal(`${pf.base}/me/#confirm=${cardId}.2`);
    // what the consumer will be asked to sign, in words, before the QR code is scanned
    const words = `商户：${NAME}（编号 ${BigInt(cardId) >> 32n}） 课时：2 节 金额：¥600.00`;
    expect(await page.textContent("#ask-words")).to.equal(words);
    await shot(page, "merchant-3-qr");

    // The consumer scans it on the phone holding the card's key.
    const phone = await open({ phone: true, init: `localStorage.setItem("custody.consumer.key", ${JSON.stringify(holder.privateKey)})` });
    await phone.goto(link);
    await phone.locator("#confirm").waitFor({ state: "visible" });
    expect(await phone.textContent("#confirm-merchant")).to.equal(NAME);
    expect(await phone.textContent("#confirm-amount")).to.equal("¥600.00");
    expect(await phone.textContent("#confirm-words")).to.equal(words);
    expect(await phone.textContent("#confirm-sign")).to.equal("确认并签名");
    await shot(phone, "consumer-1-confirm");
    await phone.click("#confirm-sign");
    await phone.locator("[data-released=true]").waitFor({ timeout: 60_000 });
    expect(await phone.textContent("#status")).to.contain("已在链上释放：¥600.00");
    await shot(phone, "consumer-2-released");

    await page.waitForSelector("#ask-status[data-confirmed=true]", { timeout: 60_000 });
    expect(await page.textContent("#ask-status")).to.equal("消费者已确认 2 课时，¥600.00 已释放。");
    await shot(page, "merchant-4-confirmed");
  });

  it("auditor (desktop, English): the ledger names merchants, and the switch goes back to Chinese and is remembered", async () => {
    const page = await open({ lang: "en" });
    await signIn(page, pf.key.auditor);
    expect(await page.textContent("#who-role")).to.equal("Auditor");
    await page.waitForSelector("#ledger-list tbody tr[data-key]");
    await page.fill("#f-merchant", String(merchantId));
    await page.click("#ledger-apply");
    await until("the merchant's rows", async () => (await page.locator("#ledger-list tbody tr[data-key]").count()) >= 3
      && (await page.locator("#ledger-list tbody tr[data-key]").allInnerTexts()).every((t) => t.includes(`${NAME} #${merchantId}`)));
    const text = await page.textContent("#ledger-list");
    expect(text).to.contain("merchant admitted").and.contain("lessons consumed").and.contain("¥600.00");
    expect(text).to.match(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    await shot(page, "auditor-1-ledger-en");
    await page.click("#lang-switch");
    await page.waitForSelector("#who-role");
    await until("the console in Chinese", async () => (await page.textContent("#who-role")) === "审计");
    await page.reload();
    await page.waitForSelector("#who-role");
    expect(await page.textContent("#who-role")).to.equal("审计");
    expect(await page.evaluate("localStorage.getItem('custody.lang')")).to.equal("zh-CN");
  });

  it("regulator (phone, English): merchants and alerts fit the screen; a wind-down asks for its reason in English", async () => {
    const page = await open({ phone: true, lang: "en" });
    await signIn(page, pf.key.bureau);
    await page.waitForSelector("#merchant-list tbody tr[data-key]");
    expect(await page.textContent("#merchant-list")).to.contain(`${NAME} #${merchantId}`).and.contain("朝阳区");
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).to.be.at.most(PHONE.width);
    await shot(page, "regulator-10-phone-en");
    await page.goto(`${pf.base}/#/merchants/${merchantId}`);
    await page.click('button[data-action="wind-down"]');
    await page.waitForSelector("#confirm-dialog");
    expect(await page.textContent("#confirm-dialog")).to.contain("This cannot be undone");
    await shot(page, "regulator-11-wind-down-dialog-en");
    await page.click("#confirm-cancel");
    expect(await page.locator("#confirm-dialog").count()).to.equal(0);
    expect(await page.textContent("#merchant-status")).to.equal("active");
  });

  it("the 2025 rules at the desk (Chinese): the bank starts a lost key's recovery, the merchant proposes a payout account, its regulator confirms it", async () => {
    const bank = await open({ phone: true });
    await signIn(bank, pf.key.bank);
    await go(bank, "cards");
    const newKey = ethers.Wallet.createRandom().address;
    await bank.fill("#recovery-card", cardId);
    await bank.fill("#recovery-holder", newKey);
    await bank.click("#recovery-start");
    await bank.waitForSelector("#recovery-started", { timeout: 60_000 });
    const effectiveAt = Number(await bank.getAttribute("#recovery-started", "data-effective-at"));
    const beijing = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false })
      .format(new Date(effectiveAt * 1000));
    expect(await bank.textContent("#recovery-started")).to.contain(beijing).and.contain("北京时间");
    await shot(bank, "law-1-key-recovery");

    const merchant = await open();
    await signIn(merchant, merchantKey);
    await go(merchant, "payouts");
    await merchant.waitForSelector("#payout-form");
    await merchant.fill("#payout-bank", "工商银行北京朝阳支行");
    await merchant.fill("#payout-number", "6222 0200 1234 5678");
    await merchant.click("#payout-propose");
    await until("the proposal shows", async () => (await merchant.textContent("#payout-proposed"))!.includes("6222020012345678"));
    expect(await merchant.textContent("#payout-confirmed")).to.equal("未设置");
    await shot(merchant, "law-2-payout-proposed");

    const regulator = await open();
    await signIn(regulator, pf.key.bureau, `#/merchants/${merchantId}`);
    await regulator.waitForSelector("#payout-account-confirm");
    expect(await regulator.textContent("#payout-account-proposed")).to.contain("6222020012345678");
    await regulator.click("#payout-account-confirm");
    await until("the account is in force", async () => (await regulator.textContent("#payout-account-confirmed"))!.includes("工商银行北京朝阳支行"));
    expect(await regulator.textContent("#payout-account-proposed")).to.equal("未设置");
    await shot(regulator, "law-3-payout-confirmed");
  });
});
