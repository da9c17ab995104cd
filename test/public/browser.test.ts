import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { chromium, Browser, BrowserContext, Page } from "playwright-core";
import { engines } from "../support/db";
import { startPublicPlatform, PublicPlatform, waitFor } from "./platform";

/**
 * The public look-up and the consumer's page in a real browser at a phone's size: Debian's Chromium, headless, driven
 * by playwright-core against a gateway on a separate Anvil process. The merchant asks (API), the consumer confirms on
 * the page (their key made in the browser), and the release lands in the ledger. Screenshots go to
 * test-output/public/; any console error, page error or request to another origin fails the test.
 */
const SHOTS = path.join(__dirname, "..", "..", "test-output", "public");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PHONE = { width: 390, height: 844 };

describe("public look-up and the consumer's page (headless Chromium, phone viewport, Anvil)", function () {
  this.timeout(240_000);
  let t: PublicPlatform;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  /** Answers a step expects (a refusal it provokes); any other 4xx/5xx fails the test. */
  const allowed: RegExp[] = [];
  const sent: string[] = []; // every URL and body the pages sent

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run .ci/chromium.sh (apt-get install chromium)`);
    fs.mkdirSync(SHOTS, { recursive: true });
    const [pglite] = engines();
    [t, browser] = await Promise.all([
      startPublicPlatform(pglite),
      chromium.launch({
        executablePath: CHROMIUM, headless: true,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      }),
    ]);
    context = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2, locale: "en-GB", timezoneId: "Europe/London" });
    // These steps read the English words; the Chinese default is its own test below.
    await context.addInitScript("if (!localStorage.getItem(\"custody.lang\")) localStorage.setItem(\"custody.lang\", \"en\");");
    context.on("requestfailed", (r) => { if (!/aborted/i.test(r.failure()?.errorText ?? "")) problems.push(`failed request: ${r.url()} ${r.failure()?.errorText}`); });
    context.on("response", (r) => { if (r.status() >= 400 && !allowed.some((re) => re.test(`${r.status()} ${r.url()}`))) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(t.base + "/") || url.startsWith("data:")) return route.continue();
      problems.push(`request to another origin: ${url}`);
      return route.abort();
    });
    page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error" && !allowed.some((re) => re.test(m.text()))) problems.push(`console error: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("request", (r) => sent.push(`${r.method()} ${r.url()} ${r.postData() ?? ""}`));
    page.on("dialog", (d) => void (d.type() === "prompt" ? d.accept(promptAnswer) : d.accept()));
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
  });
  afterEach(() => {
    expect(problems, "browser console errors, page errors or requests elsewhere").to.deep.equal([]);
  });

  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const fitsPhone = async () => expect(await page.evaluate<number>("document.documentElement.scrollWidth")).to.be.at.most(PHONE.width);

  it("anyone looks a merchant up and reads the warnings, on a phone", async () => {
    await t.ok(t.as("education").post(`/v1/merchants/${t.school}/enforcement`, {
      kind: "warning", public: true, occurredOn: "2025-03-01", documentRef: "朝市监警〔2025〕1号", summary: "Sold cards above the cap",
    }), 201);
    await page.goto(`${t.base}/public/`);
    await page.fill("#q", "sunshine");
    await page.click("#search button[type=submit]");
    const item = page.locator(`#results li[data-merchant-id="${t.school}"]`);
    await item.waitFor();
    const text = await item.innerText();
    expect(text).to.contain("Sunshine Dance School").and.contain("Yes — held by Test Bank custody fen").and.contain("100% of each card").and.contain("2025-03-01 — Sold cards above the cap");
    await page.locator("#warnings li a").first().waitFor();
    expect(await page.locator("#warnings").innerText()).to.contain("Sunshine Dance School");
    await fitsPhone();
    await shot("1-public-lookup");
  });

  let address = "";
  const cards: string[] = [];
  let promptAnswer = "";

  it("the consumer's page makes a key in the browser on first visit and lists the cards it holds", async () => {
    await page.goto(`${t.base}/me/`);
    await page.waitForFunction(`/^0x[0-9a-fA-F]{40}$/.test(document.getElementById("address")?.textContent ?? "")`);
    address = (await page.locator("#address").innerText()).trim();
    for (let i = 0; i < 2; i++) cards.push((await t.ok(t.as("bank").post("/v1/banks/1/cards", { merchantId: t.school, planIndex: 1, holder: address }), 201)).body.cardId);
    await page.click("#reload");
    await page.locator(`li[data-card-id="${cards[1]}"]`).waitFor();
    const first = await page.locator(`li[data-card-id="${cards[0]}"]`).innerText();
    expect(first).to.contain("Sunshine Dance School").and.contain("10 lessons for ¥3,000.00");
    expect(await page.locator(`li[data-card-id="${cards[0]}"] .balance`).innerText()).to.equal("¥3,000.00");
    await fitsPhone();
    await shot("2-my-cards");
  });

  it("the merchant asks, the page shows exactly what is confirmed, and signs only when told", async () => {
    const ask = await t.ok(t.as("school").post(`/v1/cards/${cards[0]}/consumption-requests`, { lessons: 2 }), 201);
    await page.goto(`${t.base}${ask.body.path}`);
    await page.locator("#confirm").waitFor({ state: "visible" });
    expect(await page.locator("#confirm-merchant").innerText()).to.equal("Sunshine Dance School");
    expect(await page.locator("#confirm-card").innerText()).to.equal(cards[0]);
    expect(await page.locator("#confirm-lessons").innerText()).to.equal("2");
    expect(await page.locator("#confirm-amount").innerText()).to.equal("¥600.00"); // 2 of 10 lessons of ¥3,000
    expect(await page.locator("#confirm-words").innerText()).to.equal(`Merchant: Sunshine Dance School (no. ${t.school}) Lessons: 2 Amount: ¥600.00`);
    const queued = async () => (await t.db.query("SELECT 1 FROM voucher_queue WHERE card_id = $1", [cards[0]])).length;
    expect(await queued(), "nothing is signed before the consumer confirms").to.equal(0);
    await fitsPhone();
    await shot("3-confirm");

    await page.click("#confirm-sign");
    await page.locator("[data-released=true]").waitFor({ timeout: 60_000 });
    expect(await page.locator("#status").innerText()).to.contain("Released on chain: ¥600.00");
    await shot("4-released");

    const ledger = (await t.ok(t.as("auditor").get(`/v1/ledger?cardId=${cards[0]}`), 200)).body.items;
    const consumed = ledger.filter((e: { event: string }) => e.event === "LessonsConsumed");
    expect(consumed).to.have.length(1);
    expect(consumed[0].holder).to.equal(address.toLowerCase());
    expect(consumed[0].amountFen).to.equal("60000");
    expect(consumed[0].args).to.deep.include({ lessons: 2, sequence: 0 });
    await page.locator(`li[data-card-id="${cards[0]}"] .units-left`).filter({ hasText: "8" }).waitFor();
  });

  it("cancelling signs nothing", async () => {
    const ask = await t.ok(t.as("school").post(`/v1/cards/${cards[0]}/consumption-requests`, { lessons: 1 }), 201);
    await page.goto(`${t.base}${ask.body.path}`);
    await page.locator("#confirm").waitFor({ state: "visible" });
    await page.click("#confirm-cancel");
    expect(await page.locator("#status").innerText()).to.contain("Nothing was signed");
    expect((await t.db.query("SELECT 1 FROM voucher_queue WHERE card_id = $1", [cards[0]])).length).to.equal(1);
  });

  it("asks for a cooling-off refund with the holder's own signed transaction, and follows it", async () => {
    const li = page.locator(`li[data-card-id="${cards[1]}"]`);
    await li.locator("button[data-action=cooling-off]").click();
    await page.locator("#status .success").waitFor({ timeout: 60_000 });
    expect(await page.locator("#status").innerText()).to.contain("card refunded");
    expect(await page.getAttribute("#status [data-events]", "data-events")).to.contain("CardRefunded");
    await waitFor(async () => (await t.db.query("SELECT status FROM cards WHERE card_id = $1", [cards[1]]))[0]?.status === "refunded");
    await li.locator(".card-status").filter({ hasText: "refunded" }).waitFor();
    await shot("5-refunded");
  });

  it("transfers a card by notice: the new holder's address asked, the card leaves this page, the merchant cannot block it", async () => {
    const card = (await t.ok(t.as("bank").post("/v1/banks/1/cards", { merchantId: t.school, planIndex: 1, holder: address }), 201)).body.cardId as string;
    await page.click("#reload");
    const li = page.locator(`li[data-card-id="${card}"]`);
    await li.waitFor();
    const to = "0x" + "ab".repeat(20);
    promptAnswer = to;
    await li.locator("button[data-action=transfer]").click();
    await page.locator("#status .success").waitFor({ timeout: 60_000 });
    expect(await page.getAttribute("#status [data-events]", "data-events")).to.contain("CardTransferred");
    await waitFor(async () => (await t.db.query("SELECT holder FROM cards WHERE card_id = $1", [card]))[0]?.holder === to);
    await li.waitFor({ state: "detached" });
    promptAnswer = "";
    await shot("6-transferred");
  });

  it("takes the balance back from a merchant the regulator froze", async () => {
    const card = (await t.ok(t.as("bank").post("/v1/banks/1/cards", { merchantId: t.salon, planIndex: 1, holder: address }), 201)).body.cardId as string;
    await t.ok(t.as("bureau").post(`/v1/merchants/${t.salon}/freeze`, { reason: "collapsed" }), 200);
    await page.click("#reload");
    const li = page.locator(`li[data-card-id="${card}"]`);
    await li.waitFor();
    expect(await li.innerText()).to.contain("The regulator froze this merchant");
    expect(await li.locator("button[data-action=cooling-off]").count()).to.equal(0);
    await li.locator("button[data-action=claim]").click();
    await waitFor(async () => (await t.db.query("SELECT status FROM cards WHERE card_id = $1", [card]))[0]?.status === "refunded");
    await li.locator(".card-status").filter({ hasText: "refunded" }).waitFor();
    await shot("7-claimed-from-frozen");
  });

  it("after the regulator records the merchant's breach, the holder is told and cancels at once, without the merchant", async () => {
    const card = (await t.ok(t.as("bank").post("/v1/banks/1/cards", { merchantId: t.school, planIndex: 1, holder: address }), 201)).body.cardId as string;
    const rec = await t.ok(t.as("bureau").post(`/v1/merchants/${t.school}/breach`, { reason: "moved to another district without notice" }), 200);
    expect(rec.body.events.map((e: { event: string }) => e.event)).to.include("BreachRecorded");
    await page.click("#reload");
    const li = page.locator(`li[data-card-id="${card}"]`);
    await li.waitFor();
    expect(await li.innerText()).to.contain("The regulator recorded this merchant's breach");
    await li.locator("button[data-action=breach]").click();
    await waitFor(async () => (await t.db.query("SELECT status FROM cards WHERE card_id = $1", [card]))[0]?.status === "refunded");
    await li.locator(".card-status").filter({ hasText: "refunded" }).waitFor();
    await shot("8-cancelled-for-breach");
    await t.ok(t.as("bureau").post(`/v1/merchants/${t.school}/clear-breach`, { reason: "remedied" }), 200);
  });

  it("挂失补办: a key recovery the bank started shows with its deadline in Beijing time, and the holder's key cancels it", async () => {
    const card = (await t.ok(t.as("bank").post("/v1/banks/1/cards", { merchantId: t.school, planIndex: 1, holder: address }), 201)).body.cardId as string;
    const other = t.holders[1].address.toLowerCase();
    const started = await t.ok(t.as("bank").post(`/v1/cards/${card}/key-recovery`, { newHolder: other }), 201);
    const effectiveAt = Number(started.body.events.find((e: { event: string }) => e.event === "KeyRecoveryStarted").args.effectiveAt);
    await page.click("#reload");
    const li = page.locator(`li[data-card-id="${card}"]`);
    await li.locator(".recovery").waitFor();
    const beijing = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false })
      .format(new Date(effectiveAt * 1000));
    expect(await li.locator(".recovery").innerText()).to.contain(beijing).and.contain(other);
    await fitsPhone();
    await shot("9-key-recovery-pending");
    await li.locator("button[data-action=recovery-cancel]").click();
    await page.locator("#status [data-events*=KeyRecoveryCancelled]").waitFor();
    expect((await t.db.query("SELECT recovery_to FROM cards WHERE card_id = $1", [card]))[0].recovery_to).to.equal(null);
    await li.locator(".recovery").waitFor({ state: "detached" });
    expect((await t.db.query("SELECT holder FROM cards WHERE card_id = $1", [card]))[0].holder).to.equal(address.toLowerCase());
  });

  it("签到: a time-based card's holder checks in on the page, signing the typed data with the key in the browser", async () => {
    const plan = await t.ok(t.as("school").post(`/v1/merchants/${t.school}/plans`, { kind: "periodic", units: 3, periodSeconds: 30 * 86_400, priceFen: 90000 }), 201);
    const planIndex = Number(plan.body.events.find((e: { event: string }) => e.event === "PlanPublished").args.planIndex);
    const card = (await t.ok(t.as("bank").post("/v1/banks/1/cards", { merchantId: t.school, planIndex, holder: address }), 201)).body.cardId as string;
    const [before] = await t.db.query<{ started_at: string }>("SELECT started_at FROM cards WHERE card_id = $1", [card]);
    await page.click("#reload");
    const li = page.locator(`li[data-card-id="${card}"]`);
    await li.locator("button[data-action=check-in]").click();
    await page.locator("#status [data-events=PeriodsStarted]").waitFor();
    const [after] = await t.db.query<{ started_at: string }>("SELECT started_at FROM cards WHERE card_id = $1", [card]);
    expect(Number(after.started_at)).to.be.lessThan(Number(before.started_at));
    await li.locator("button[data-action=check-in]").waitFor({ state: "detached" });
    await shot("10-checked-in");
  });

  it("the key can be exported, and never left the browser", async () => {
    await page.click("#export");
    const key = await page.locator("#export-text").inputValue();
    expect(key).to.match(/^0x[0-9a-f]{64}$/);
    expect(await page.evaluate<string | null>(`localStorage.getItem("custody.consumer.key")`)).to.equal(key);
    expect(sent.length).to.be.greaterThan(10);
    expect(sent.filter((s) => s.toLowerCase().includes(key.slice(2).toLowerCase()))).to.deep.equal([]);
  });
  it("in Chinese by default whatever the browser's language, on a phone; English one switch away and remembered", async () => {
    const zh = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2, locale: "en-US", timezoneId: "America/Los_Angeles" });
    const p = await zh.newPage();
    const own: string[] = [];
    p.on("console", (m) => { if (m.type() === "error") own.push(`console error: ${m.text()}`); });
    p.on("pageerror", (e) => own.push(`page error: ${e.message}`));
    zh.on("requestfailed", (r) => { if (!/aborted/i.test(r.failure()?.errorText ?? "")) own.push(`failed request: ${r.url()}`); });
    zh.on("response", (r) => { if (r.status() >= 400) own.push(`HTTP ${r.status()}: ${r.url()}`); });
    try {
      await p.goto(`${t.base}/public/`);
      expect(await p.locator("h1").innerText()).to.equal("预付卡商户查询");
      expect(await p.getAttribute("html", "lang")).to.equal("zh-CN");
      await p.fill("#q", "Sunshine");
      await p.click("#search button[type=submit]");
      const item = p.locator(`#results li[data-merchant-id="${t.school}"]`);
      await item.waitFor();
      const text = await item.innerText();
      expect(text).to.contain("统一社会信用代码").and.contain("是，由 Test Bank custody fen 存管").and.contain("每张卡的 100%").and.contain("教育培训");
      expect(await p.locator("#search-status").innerText()).to.equal("找到 1 家商户。");
      await p.screenshot({ path: path.join(SHOTS, "zh-1-public-lookup.png"), fullPage: true });
      // A frozen merchant says so, warnings or not.
      await p.fill("#q", "Lotus");
      await p.click("#search button[type=submit]");
      const salon = p.locator(`#results li[data-merchant-id="${t.salon}"]`);
      await salon.waitFor();
      expect(await salon.locator(".status-notice").innerText()).to.contain("监管部门已冻结该商户");
      await p.screenshot({ path: path.join(SHOTS, "zh-2-public-frozen.png"), fullPage: true });

      await p.click("#lang-switch");
      await p.locator("h1", { hasText: "Check a merchant before you buy" }).waitFor();
      await p.reload();
      expect(await p.locator("h1").innerText()).to.equal("Check a merchant before you buy");
      await p.click("#lang-switch");
      await p.locator("h1", { hasText: "预付卡商户查询" }).waitFor();

      // The consumer's page, in Chinese, with Beijing time and a refusal in words.
      await p.goto(`${t.base}/me/`);
      await p.waitForFunction(`/^0x[0-9a-fA-F]{40}$/.test(document.getElementById("address")?.textContent ?? "")`);
      const me = (await p.locator("#address").innerText()).trim();
      const card = (await t.ok(t.as("bank").post("/v1/banks/1/cards", { merchantId: t.school, planIndex: 1, holder: me }), 201)).body.cardId as string;
      await p.click("#reload");
      const li = p.locator(`li[data-card-id="${card}"]`);
      await li.waitFor();
      const cardText = await li.innerText();
      expect(cardText).to.contain("剩余课时").and.contain("存管余额").and.contain("¥3,000.00").and.contain("冷静期退款");
      expect(cardText).to.match(/有效期至\s*\d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
      expect(await p.evaluate<number>("document.documentElement.scrollWidth")).to.be.at.most(PHONE.width);
      await p.screenshot({ path: path.join(SHOTS, "zh-3-my-cards.png"), fullPage: true });
      // Eleven lessons on a ten-lesson card: the gateway refuses, in Chinese.
      await p.goto(`${t.base}/me/#confirm=${card}.11`);
      await p.locator("#status .notice.error").waitFor();
      expect(await p.locator("#status").innerText()).to.contain("剩余课时不足");
      await p.screenshot({ path: path.join(SHOTS, "zh-4-refused.png"), fullPage: true });
      own.splice(0, own.length, ...own.filter((x) => !/409/.test(x))); // that one refusal was asked for
    } finally {
      await zh.close();
    }
    expect(own, "browser console errors, page errors or failed requests").to.deep.equal([]);
  });
});
