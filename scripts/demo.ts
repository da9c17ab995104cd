/**
 * `npm run demo`: fills the running platform (`npm start`) with a district, through the gateway's own HTTP API.
 *
 * Several industries, dozens of merchants (admitted by the platform regulator, each publishing plans), thousands of
 * cards opened by the custodian bank for generated consumers, months of consumption (each consumer signs EIP-712
 * vouchers for the lessons they had; merchants submit them in batches), periodic releases, payouts, renewals,
 * cooling-off refunds, refund requests accepted, refused and escalated into disputes the regulator decides, and one
 * merchant that collapses: restricted, then frozen, its customers taking their money back from the contract.
 * It ends with a summary that reconciles, from the API, paid in = released + refunded + held (held as the chain
 * reports it), and exits 1 if it does not.
 *
 * The district reads as it would in Beijing: merchants with Chinese names in its districts, each with a valid
 * 统一社会信用代码 (GB 32100-2015 check character); 12345 hotline tickets, complaints and registry facts feed the risk
 * engine, so ratings, rising-risk alerts, public warnings and the serious-dishonesty list have content, and the
 * collapsing merchant is seen rising (low → medium → high) before it is frozen.
 *
 * Time: the story never runs ahead of the wall clock. Months of history need a chain whose clock is behind the wall
 * clock: `npm start -- --demo` starts a new local chain the demo's months back and runs this script. The demo then
 * moves the clock forward (evm_increaseTime), days at a time within a month (sales, then lessons, refunds, payouts),
 * never past now; tickets, complaints and registry facts are dated on the same months. On a chain started today
 * nothing is moved and the months happen within minutes of chain time; the signals are then dated across the past
 * weeks of the wall clock, so the ratings still see a history. Afterwards the chain's clock is within a minute of the
 * wall clock; no date anywhere is after today. Pass --no-clock to leave the clock alone in any case.
 *
 * Keys: merchants need a chain account the gateway signs with (their plans, payouts and consumption batches). The
 * demo creates them as keystores in the gateway's keystore folder (KEYSTORE_DIR, password KEYSTORE_PASSWORD or the
 * local ./data/keystore-password), with a light scrypt setting fit for a demo only. API keys for merchants and for the
 * consumers who send their own transactions are issued through POST /v1/api-keys with the platform regulator's key;
 * the merchants' keys are added to data/api-keys.txt with the others, so anyone can sign in to the console as one.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import crypto from "node:crypto";
import { Command } from "commander";
import { Wallet, encryptKeystoreJson, ethers } from "ethers";
import { rng } from "../src/rng";
import { ConsumptionTypedData, signConsumptionDocument, voucherJsonOfDocument } from "../src/chain/vouchers";
import { usccCheckCharacter } from "../src/web-public/shared/uscc";
import { CustodyApiError, CustodyClient, custodyClient, ok, operations } from "../src/client";

/** The JSON body an operation takes. */
type RequestBody<Op extends keyof operations> = operations[Op] extends { requestBody: { content: { "application/json": infer B } } } ? B : never;
/** `T` without `K`, kind by kind. */
type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A signed voucher as POST /v1/merchants/:merchantId/consumptions takes it. */
type SignedVoucherBody = RequestBody<"postMerchantsByMerchantIdConsumptions">["vouchers"][number];

// ---------------------------------------------------------------- options

interface Options {
  url: string;
  dataDir: string;
  merchants: number;
  cards: number;
  months: number;
  concurrency: number;
  seed: number;
  clock: boolean;
  collapse: boolean;
}

function parseOptions(argv: string[]): Options {
  const int = (name: string, min: number, max: number) => (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`${name} must be a whole number from ${min} to ${max}`);
    return Number(v);
  };
  const p = new Command("demo")
    .description("Fill the running platform with a realistic district through its HTTP API")
    .option("--url <url>", "the gateway", process.env.GATEWAY_URL ?? `http://127.0.0.1:${process.env.PORT ?? 8080}`)
    .option("--data-dir <dir>", "the platform's data folder (API keys, keystores)", process.env.DATA_DIR ?? "./data")
    .option("--merchants <n>", "merchants to admit", int("--merchants", 1, 5000), 36)
    .option("--cards <n>", "cards to open over the months", int("--cards", 1, 1_000_000), 2000)
    .option("--months <n>", "months of activity", int("--months", 1, 24), 4)
    .option("--concurrency <n>", "requests in flight", int("--concurrency", 1, 256), 24)
    .option("--seed <n>", "seed of the district's random choices", int("--seed", 0, 2 ** 31), 7)
    .option("--no-clock", "do not move the local chain's clock")
    .option("--no-collapse", "no merchant collapses")
    .parse(argv, { from: "user" });
  const o = p.opts();
  return { url: String(o.url).replace(/\/$/, ""), dataDir: path.resolve(o.dataDir), merchants: o.merchants, cards: o.cards, months: o.months, concurrency: o.concurrency, seed: o.seed, clock: o.clock, collapse: o.collapse };
}

// ---------------------------------------------------------------- small tools

async function pool<T, R>(items: T[], n: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

const started = Date.now();
function say(text: string) {
  const s = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[${s}s] ${text}\n`);
}

const cny = (fen: bigint) => {
  const neg = fen < 0n;
  const v = neg ? -fen : fen;
  const yuan = (v / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${neg ? "-" : ""}${yuan}.${(v % 100n).toString().padStart(2, "0")}`;
};

/**
 * One HTTP request on a fresh connection. Reusing idle keep-alive connections races the server closing them (it
 * drops idle ones after 5 s): a POST sent on a connection being closed fails with ECONNRESET and cannot be safely
 * retried, since it may have reached the chain. On loopback a new connection per request costs little.
 */
const noKeepAlive = { "http:": new http.Agent({ keepAlive: false }), "https:": new https.Agent({ keepAlive: false }) };
function request(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; ok: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const tls = url.startsWith("https:");
    const options = { method, headers: body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) } };
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    };
    const req = tls ? https.request(url, { ...options, agent: noKeepAlive["https:"] }, onResponse) : http.request(url, { ...options, agent: noKeepAlive["http:"] }, onResponse);
    req.setTimeout(180_000, () => req.destroy(new Error("no answer within 180 s")));
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * The fetch under the typed client: each request on a fresh connection (see `request`), and reads tried again, up to
 * five times, when the gateway does not answer or answers 5xx. Writes are not: one that may have reached the chain
 * is not sent twice.
 */
async function transport(req: Request): Promise<Response> {
  const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.text();
  const headers: Record<string, string> = {};
  req.headers.forEach((v, k) => (headers[k] = v));
  for (let attempt = 0; ; attempt++) {
    let res: { status: number; ok: boolean; text: string };
    try {
      res = await request(req.url, req.method, headers, body || undefined);
    } catch (err) {
      if (req.method === "GET" && attempt < 4) {
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
        continue;
      }
      throw new Error(`${req.method} ${new URL(req.url).pathname}: the gateway did not answer (${(err as Error).message})`);
    }
    if (req.method === "GET" && res.status >= 500 && attempt < 4) {
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      continue;
    }
    const bytes = Buffer.byteLength(res.text);
    return new Response(res.status === 204 ? null : res.text, { status: res.status, headers: { "content-type": "application/json", "content-length": String(bytes) } });
  }
}

/** The typed client for the gateway at `base`, one per API key (null: no key, the public routes). */
function api(base: string): (key: string | null) => CustodyClient {
  const clients = new Map<string | null, CustodyClient>();
  return (key) => {
    let c = clients.get(key);
    if (!c) clients.set(key, (c = custodyClient({ baseUrl: base, apiKey: key ?? undefined, fetch: transport })));
    return c;
  };
}

/** Every item of a cursor-paged list, `page(cursor)` reading one page. */
async function allPages<T>(page: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    items.push(...p.items);
    cursor = p.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

/** A contract's refusal (4xx with a custom error) is part of the story; anything else stops the demo. */
function refused(err: unknown): CustodyApiError | null {
  if (err instanceof CustodyApiError && err.status >= 400 && err.status < 500) return err;
  throw err;
}

// ---------------------------------------------------------------- the district

interface PlanSpec {
  kind: "lesson" | "periodic";
  units: number;
  periodSeconds?: number;
  validityDays?: number;
  priceFen: number;
  label: string;
}

const DAY = 86_400;
/** What merchants of each industry sell (prices in fen; within Beijing's caps: training ≤ 60 lessons, 92 days, 5,000 CNY). */
const CATALOG: Record<number, { name: string; weight: number; plans: PlanSpec[] }> = {
  1: { name: "education", weight: 5, plans: [
    { kind: "lesson", units: 24, validityDays: 92, priceFen: 360_000, label: "24 tutoring lessons" },
    { kind: "lesson", units: 12, validityDays: 92, priceFen: 198_000, label: "12 tutoring lessons" },
  ] },
  2: { name: "youth sports", weight: 3, plans: [{ kind: "lesson", units: 20, validityDays: 92, priceFen: 240_000, label: "20 swimming lessons" }] },
  3: { name: "fitness", weight: 4, plans: [
    { kind: "periodic", units: 3, periodSeconds: 30 * DAY, priceFen: 150_000, label: "3-month gym membership" },
    { kind: "lesson", units: 30, priceFen: 300_000, label: "30 personal-training sessions" },
  ] },
  4: { name: "beauty", weight: 3, plans: [{ kind: "lesson", units: 10, priceFen: 200_000, label: "10 facials" }] },
  5: { name: "car wash", weight: 2, plans: [{ kind: "lesson", units: 20, priceFen: 60_000, label: "20 car washes" }] },
  7: { name: "pet care", weight: 1, plans: [{ kind: "lesson", units: 8, priceFen: 160_000, label: "8 grooming visits" }] },
};

/** Beijing's districts with their administrative codes (characters 3–8 of a 统一社会信用代码); shops gather in the busy ones. */
const DISTRICTS: { name: string; code: string; weight: number }[] = [
  { name: "朝阳区", code: "110105", weight: 8 }, { name: "海淀区", code: "110108", weight: 7 }, { name: "丰台区", code: "110106", weight: 4 },
  { name: "东城区", code: "110101", weight: 3 }, { name: "西城区", code: "110102", weight: 3 }, { name: "通州区", code: "110112", weight: 3 },
  { name: "昌平区", code: "110114", weight: 3 }, { name: "大兴区", code: "110115", weight: 2 }, { name: "石景山区", code: "110107", weight: 1 },
  { name: "顺义区", code: "110113", weight: 1 }, { name: "房山区", code: "110111", weight: 1 },
];
/** What a shop of each industry calls itself after its brand. */
const SHOP_KINDS: Record<number, string[]> = {
  1: ["教育培训学校", "艺术培训中心", "英语培训学校", "书画培训中心", "舞蹈培训学校"], 2: ["游泳俱乐部", "篮球训练营", "跆拳道馆", "足球俱乐部"],
  3: ["健身会所", "瑜伽馆", "健身中心"], 4: ["美容美发店", "美容会所", "美发沙龙"], 5: ["汽车美容店", "洗车行"], 7: ["宠物美容店", "宠物生活馆"],
};
const BRANDS = ["阳光", "启航", "博雅", "星辰", "青苗", "明德", "睿思", "乐学", "知行", "育才", "金桥", "晨曦", "蓝天", "彩虹", "海纳", "嘉禾", "云帆", "远航",
  "新起点", "小树苗", "向日葵", "春晖", "和悦", "悦动", "力美", "清逸", "锦绣", "华彩", "恒信", "安达", "鸿运", "瑞丰", "同心", "朝露", "长青", "佳音"];
const CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/** A made-up but well-formed 统一社会信用代码 of a company in `districtCode`: 91, the district, nine characters, the check character. */
function usccOf(districtCode: string): string {
  const bytes = crypto.randomBytes(9);
  const org = Array.from(bytes, (b, i) => (i < 8 ? String(b % 10) : CODE_ALPHABET[b % CODE_ALPHABET.length])).join("");
  const body = `91${districtCode}${org}`;
  return body + usccCheckCharacter(body);
}

/** The Beijing calendar day of unix seconds, YYYY-MM-DD. */
const beijingDay = (sec: number) => new Date((sec + 8 * 3600) * 1000).toISOString().slice(0, 10);

interface Merchant {
  id: number;
  name: string;
  district: string;
  industryId: number;
  wallet: Wallet;
  key: string;
  plans: { index: number; spec: PlanSpec }[];
  frozen: boolean;
}

interface Consumer {
  wallet: Wallet;
  nonce: number;
  key: string | null;
  busy: Promise<unknown>;
}

interface Card {
  id: string;
  merchant: Merchant;
  holder: Consumer;
  kind: "lesson" | "periodic";
  left: number;
  expiresAt: number;
  closed: boolean;
}

function readKeys(dataDir: string) {
  const file = path.join(dataDir, "api-keys.txt");
  if (!fs.existsSync(file)) throw new Error(`no ${file}: start the platform with \`npm start\` first (or pass --data-dir)`);
  const keys: { role: string; key: string; label: string }[] = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = /^(\S+)\s+(ck_\S+)\s+#\s*(.*)$/.exec(line.trim());
    if (m) keys.push({ role: m[1], key: m[2], label: m[3] });
  }
  const one = (role: string) => keys.find((k) => k.role === role)?.key;
  const regulator = one("platform_regulator");
  const bank = one("bank");
  const auditor = one("auditor");
  if (!regulator || !bank || !auditor) throw new Error(`${file} lacks the platform regulator's, the bank's or the auditor's key`);
  return { regulator, bank, auditor, industryRegulators: keys.filter((k) => k.role === "industry_regulator") };
}

function keystorePasswordOf(dataDir: string): string {
  if (process.env.KEYSTORE_PASSWORD) return process.env.KEYSTORE_PASSWORD;
  const file = path.join(dataDir, "keystore-password");
  if (fs.existsSync(file)) return fs.readFileSync(file, "utf8").trim();
  throw new Error("set KEYSTORE_PASSWORD to the gateway's keystore password: merchants' keys go into its keystore folder");
}

// ---------------------------------------------------------------- main

async function main() {
  const o = parseOptions(process.argv.slice(2));
  const r = rng(o.seed);
  const apiAs = api(o.url);
  const keys = readKeys(o.dataDir);
  const keystoreDir = path.resolve(process.env.KEYSTORE_DIR ?? path.join(o.dataDir, "keystores"));
  const password = keystorePasswordOf(o.dataDir);

  const health = await ok(apiAs(null).GET("/health")).catch((err) => {
    throw new Error(`the platform is not running at ${o.url} (${(err as Error).message}); start it with \`npm start\``);
  });
  const rpcUrl = String(health.rpcUrl); // beyond the declared fields (the answer allows more)
  const chainRpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    const j = (await res.json()) as { result?: T; error?: { message: string } };
    if (j.error) throw new Error(`${method}: ${j.error.message}`);
    return j.result as T;
  };
  const client = await chainRpc<string>("web3_clientVersion").catch(() => "unknown");
  const local = /anvil/i.test(client);
  const moveClock = o.clock && local;
  const chainNow = async () => Number((await chainRpc<{ timestamp: string }>("eth_getBlockByNumber", ["latest", false])).timestamp);
  const lag = Math.floor(Date.now() / 1000) - (await chainNow());
  say(`platform at ${o.url}: chain ${health.chainId} (${client}) via ${rpcUrl}; ${moveClock && lag > 3600 ? `its clock is ${(lag / DAY).toFixed(1)} days behind the wall clock: the demo moves it forward, never past now` : "the chain's clock is left alone (it is not behind the wall clock)"}`);
  say(`district: ${o.merchants} merchants, ${o.cards} cards over ${o.months} months (seed ${o.seed})`);

  const counts: Record<string, number> = {};
  const count = (k: string, n = 1) => (counts[k] = (counts[k] ?? 0) + n);
  const refusals: Record<string, number> = {};
  const refusal = (what: string, err: unknown) => {
    const e = refused(err)!;
    const k = `${what}: ${e.code}`;
    refusals[k] = (refusals[k] ?? 0) + 1;
  };

  // ------------------------------------------------------------ industries and policy
  const industries = (await ok(apiAs(keys.regulator).GET("/v1/industries"))).items;
  const known = new Set(industries.map((i) => i.industryId));
  const used = Object.keys(CATALOG).map(Number).filter((id) => known.has(id));
  if (!used.length) throw new Error("the platform defines none of the demo's industries (1-5, 7)");
  if (known.has(7) && !industries.find((i) => i.industryId === 7)?.policy) {
    // Pet care has no policy of its own: the district gives it one (40% custody, 7 days' cooling-off).
    await ok(apiAs(keys.regulator).PUT("/v1/industries/{industryId}/policy", { params: { path: { industryId: 7 } }, body: {
      custodyBps: 4000, coolingOffDays: 7, exitNoticeDays: 30, maxLessons: 65_535, maxValidityDays: 65_535,
      maxCardValueFen: 500_000, maxAnonymousValueFen: 100_000, mediumRiskCap30dFen: 2_000_000,
    } })).then(() => say("pet care (industry 7) given its own policy: 40% custody"), (err) => refusal("set policy", err));
  }
  const parties = fs.existsSync(path.join(o.dataDir, "parties.json")) ? (JSON.parse(fs.readFileSync(path.join(o.dataDir, "parties.json"), "utf8")) as Record<string, string>) : {};
  /** The key of the industry's own regulator when the data folder has it, else the bureau's. */
  const regulatorKeyFor = (industryId: number) => {
    const account = industries.find((i) => i.industryId === industryId)?.regulator?.toLowerCase();
    const code = Object.entries(parties).find(([, a]) => a.toLowerCase() === account)?.[0];
    const k = code ? keys.industryRegulators.find((x) => x.label === code.replace(/-/g, " ")) : undefined;
    return k?.key ?? keys.regulator;
  };

  // ------------------------------------------------------------ merchants
  const runTag = crypto.randomBytes(3).toString("hex");
  const takenNames = new Set<string>();
  const merchantSpecs = Array.from({ length: o.merchants }, (_, i) => {
    const industryId = i < used.length ? used[i] : r.weighted(used, (id) => CATALOG[id].weight);
    const district = r.weighted(DISTRICTS, (d) => d.weight);
    let name = `北京${BRANDS[(i * 7 + o.seed) % BRANDS.length]}${r.pick(SHOP_KINDS[industryId])}`;
    if (takenNames.has(name)) name = `${name}（${district.name.replace(/区$/, "")}店）`;
    for (let n = 2; takenNames.has(name); n++) name = `${name.replace(/\d*$/, "")}${n}`;
    takenNames.add(name);
    return { i, industryId, name, district: district.name, registrationNumber: usccOf(district.code), wallet: new Wallet(ethers.hexlify(crypto.randomBytes(32))) };
  });
  // A light scrypt (N = 2^12): these are throwaway demo accounts on a local chain, not keys to protect.
  await pool(merchantSpecs, 4, async (m) => {
    const json = await encryptKeystoreJson({ address: m.wallet.address, privateKey: m.wallet.privateKey }, password, { scrypt: { N: 1 << 12 } });
    fs.mkdirSync(keystoreDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(keystoreDir, `${m.wallet.address.toLowerCase()}.json`), json, { mode: 0o600 });
  });
  const merchants: Merchant[] = [];
  const merchantKeyLines: string[] = [];
  await pool(merchantSpecs, o.concurrency, async (m) => {
    const out = await ok(apiAs(keys.regulator).POST("/v1/merchants", { body: {
      account: m.wallet.address, industryId: m.industryId, bankId: 1, registrationNumber: m.registrationNumber, name: m.name, district: m.district,
    } }));
    if (out.merchantId === null) throw new Error(`the gateway admitted ${m.name} without a merchant id`);
    const label = `${m.name} (merchant ${out.merchantId})`;
    const k = await ok(apiAs(keys.regulator).POST("/v1/api-keys", { body: { role: "merchant", subject: String(out.merchantId), label } }));
    merchantKeyLines.push(`${"merchant".padEnd(20)} ${k.key}  # ${label}`);
    const merchant: Merchant = { id: out.merchantId, name: m.name, district: m.district, industryId: m.industryId, wallet: m.wallet, key: k.key, plans: [], frozen: false };
    for (const spec of CATALOG[m.industryId].plans) {
      const res = await ok(apiAs(merchant.key).POST("/v1/merchants/{merchantId}/plans", { params: { path: { merchantId: merchant.id } }, body: {
        kind: spec.kind, units: spec.units, periodSeconds: spec.periodSeconds ?? 0, validityDays: spec.validityDays ?? 0, priceFen: spec.priceFen,
      } }));
      const ev = res.events.find((e) => e.event === "PlanPublished");
      merchant.plans.push({ index: Number(ev!.args.planIndex), spec });
    }
    merchants.push(merchant);
    count("merchants");
    if (merchants.length % 10 === 0) say(`  ${merchants.length}/${o.merchants} merchants admitted with their plans`);
  });
  merchants.sort((a, b) => a.id - b.id);
  // The merchants' keys go with the others, so anyone can sign in to the console as one of them.
  merchantKeyLines.sort((a, b) => Number(/merchant (\d+)\)$/.exec(a)?.[1]) - Number(/merchant (\d+)\)$/.exec(b)?.[1]));
  fs.appendFileSync(path.join(o.dataDir, "api-keys.txt"), `# demo merchants (${new Date().toISOString().slice(0, 10)})\n${merchantKeyLines.join("\n")}\n`, { mode: 0o600 });
  say(`their ${merchantKeyLines.length} API keys added to ${path.join(o.dataDir, "api-keys.txt")}`);
  const inUse = used.filter((id) => merchants.some((m) => m.industryId === id));
  say(`${merchants.length} merchants admitted in ${inUse.length} industries (${inUse.map((id) => CATALOG[id].name).join(", ")}), ${merchants.reduce((s, m) => s + m.plans.length, 0)} plans published`);
  // A merchant's popularity: a few draw many customers.
  const popularity = new Map(merchants.map((m) => [m.id, 0.3 + r.next() * r.next() * 4]));
  // The one that will collapse: a popular training school selling hard (a sales surge is itself a warning sign).
  const schools = merchants.filter((m) => m.industryId === 1);
  const doomed: Merchant | null = o.collapse ? (schools.length ? schools : merchants).reduce((a, b) => (popularity.get(b.id)! > popularity.get(a.id)! ? b : a)) : null;
  if (doomed) popularity.set(doomed.id, Math.max(...popularity.values()) * 1.5);
  const wallNow = () => Math.floor(Date.now() / 1000);
  const storyStart = wallNow();
  const chainStart = await chainNow();
  const onChainTime = moveClock && storyStart - chainStart > o.months * 30 * DAY;
  // The dated signals (tickets, complaints, facts) of month `month`: on the chain's own months when its clock starts
  // that far back (it is moved a month at a time, so each month's signals are in its past when it is rated);
  // otherwise laid on the past weeks of the wall clock.
  const HISTORY_DAYS = Math.min(84, 21 * o.months);
  const MONTH = 30 * DAY + 3600;
  const dayOfMonth = (month: number, fraction: number) => onChainTime
    ? Math.min(storyStart - 3600, chainStart + month * MONTH + Math.round(fraction * 24 * DAY))
    : storyStart - Math.round(((o.months - month - 1 + (1 - fraction)) * HISTORY_DAYS * DAY) / o.months) - 3600;
  const year = beijingDay(storyStart).slice(0, 4);
  /**
   * On a chain that starts the story's months back, the clock moves `days` into month `month` (never past now), so
   * a month's sales, lessons, refunds and payouts are days apart on chain as they would be in a real month.
   */
  const advance = async (month: number, days: number) => {
    if (!onChainTime) return;
    const step = Math.min(wallNow() - 60, chainStart + month * MONTH + Math.round(days * DAY)) - (await chainNow());
    if (step <= 0) return;
    await chainRpc("evm_increaseTime", [step]);
    await chainRpc("evm_mine", []);
  };
  let ticketNo = 0;
  let docNo = 0;
  const TICKET_TEXT: Record<string, string[]> = {
    refund: ["家长反映：申请退课后商家拖延退费", "消费者反映：办卡后门店拒绝按剩余课时退款", "消费者反映：退卡申请提交一个月无人处理"],
    service: ["消费者反映：课程频繁调课、老师更换", "消费者反映：服务缩水，与办卡时承诺不符"],
    closure: ["消费者反映：门店突然停业，联系不上负责人", "家长反映：学校贴出装修停课通知，已多日未开门"],
    other: ["消费者咨询：预付卡是否纳入资金存管"],
  };
  /** A 12345 ticket about `m`, dated in the past: routed to its industry's regulator, who may accept and close it. */
  const hotlineTicket = async (m: Merchant, category: "refund" | "service" | "closure" | "other", at: number, handle: boolean) => {
    const ticketId = `T${beijingDay(at).replace(/-/g, "")}-${runTag}${String(++ticketNo).padStart(4, "0")}`;
    try {
      await ok(apiAs(keys.regulator).POST("/v1/hotline/tickets", { body: { ticketId, merchantId: m.id, category, summary: r.pick(TICKET_TEXT[category]), receivedAt: at } }));
      count("12345 tickets");
      if (!handle) return;
      const key = regulatorKeyFor(m.industryId);
      await ok(apiAs(key).POST("/v1/hotline/tickets/{ticketId}/accept", { params: { path: { ticketId } } }));
      if (r.chance(0.6)) {
        await ok(apiAs(key).POST("/v1/hotline/tickets/{ticketId}/close", { params: { path: { ticketId } }, body: { resolution: "已联系经营者，督促按规定退费，消费者表示认可" } }));
        count("12345 tickets closed");
      }
    } catch (err) {
      refusal("12345 ticket", err);
    }
  };
  /** A complaint or registry fact, dated in the past, as the platform's feeds would send it. */
  const riskSignal = async (body: Without<RequestBody<"postRiskSignals">, "source">) => {
    try {
      await ok(apiAs(keys.regulator).POST("/v1/risk/signals", { body: { source: body.kind === "registry_fact" ? "市场监管局企业信用信息" : "12315 投诉平台", ...body } }));
      count(`risk signals (${body.kind})`);
    } catch (err) {
      refusal("risk signal", err);
    }
  };
  const riskLevelOf = async (m: Merchant) => (await ok(apiAs(keys.regulator).GET("/v1/merchants/{merchantId}/risk", { params: { path: { merchantId: m.id } } })).catch(() => ({ rating: null }))).rating as { level: string; score: number } | null;
  /** The enforcement record: an entry anchored on chain; public warnings and listings show on the public look-up. */
  const enforce = async (m: Merchant, entry: Without<RequestBody<"postMerchantsByMerchantIdEnforcement">, "occurredOn">) => {
    try {
      await ok(apiAs(regulatorKeyFor(m.industryId)).POST("/v1/merchants/{merchantId}/enforcement", { params: { path: { merchantId: m.id } }, body: { occurredOn: beijingDay(onChainTime ? await chainNow() : wallNow()), ...entry } }));
      count(`enforcement entries (${entry.kind})`);
    } catch (err) {
      refusal("enforcement entry", err);
    }
  };

  // ------------------------------------------------------------ consumers and their transactions
  const consumers: Consumer[] = [];
  const newConsumer = (): Consumer => {
    const c: Consumer = { wallet: new Wallet(ethers.hexlify(crypto.randomBytes(32))), nonce: 0, key: null, busy: Promise.resolve() };
    consumers.push(c);
    return c;
  };
  /** A holder's own transaction (refund request, claim…): the gateway gives `{to, data}`, the wallet signs, the gateway relays. */
  const holderTx = (c: Consumer, cardId: string, kind: "request" | "cooling-off" | "escalate" | "claim" | "cancel") => {
    const run = c.busy.then(async () => {
      if (!c.key) c.key = (await ok(apiAs(keys.regulator).POST("/v1/api-keys", { body: { role: "consumer", subject: c.wallet.address, label: `demo consumer ${c.wallet.address.slice(0, 10)}` } }))).key;
      const req = await ok(apiAs(c.key).GET("/v1/cards/{cardId}/refund-request", { params: { path: { cardId }, query: { kind } } }));
      const signed = await c.wallet.signTransaction({ to: req.to, data: req.data, chainId: req.chainId, nonce: c.nonce, gasLimit: 400_000, gasPrice: 0, type: 0 });
      const out = await ok(apiAs(c.key).POST("/v1/transactions", { body: { signedTransaction: signed } }));
      c.nonce++;
      return out;
    });
    c.busy = run.catch(() => undefined);
    return run;
  };

  const cards: Card[] = [];
  const openCard = async (m: Merchant, plan: { index: number; spec: PlanSpec }, holder: Consumer) => {
    try {
      const out = await ok(apiAs(keys.bank).POST("/v1/banks/{bankId}/cards", { params: { path: { bankId: 1 } }, body: {
        merchantId: m.id, planIndex: plan.index, holder: holder.wallet.address, named: true,
      } }));
      const ev = out.events.find((e) => e.event === "CardPurchased")!;
      if (out.cardId === null) throw new Error("the gateway opened a card without an id");
      const card: Card = { id: out.cardId, merchant: m, holder, kind: plan.spec.kind, left: plan.spec.units, expiresAt: Number(ev.args.expiresAt), closed: false };
      cards.push(card);
      count("cards opened");
      return card;
    } catch (err) {
      refusal("open card", err);
      return null;
    }
  };

  /** A count of the consumption queue's in /health (beyond its declared fields). */
  const queued = (h: Record<string, unknown>, state: string) => Number((h.queue as Record<string, number> | undefined)?.[state] ?? 0);
  const waitForIndex = async () => {
    for (;;) {
      const h = await ok(apiAs(null).GET("/health"));
      if (queued(h, "queued") === 0 && queued(h, "sent") === 0 && h.indexedBlock !== null && h.headBlock !== null && h.indexedBlock >= h.headBlock) return h;
      await new Promise((res) => setTimeout(res, 500));
    }
  };

  const collapseMonth = o.collapse ? Math.max(0, o.months - 1) : -1;
  const perMonth = Array.from({ length: o.months }, (_, i) => Math.floor(o.cards / o.months) + (i < o.cards % o.months ? 1 : 0));
  let collapsed: Merchant | null = null;
  const before = await waitForIndex();
  let failedVouchersBefore = queued(before, "failed");

  for (let month = 0; month < o.months; month++) {
    say(`month ${month + 1}/${o.months}`);
    const selling = merchants.filter((m) => !m.frozen);

    // The collapse: a popular education (or any) merchant is restricted, then frozen, before this month's sales.
    if (month === collapseMonth && !collapsed) {
      const candidates = selling.filter((m) => cards.some((c) => c.merchant === m && !c.closed));
      const pickFrom = candidates.filter((m) => m.industryId === 1).length ? candidates.filter((m) => m.industryId === 1) : candidates;
      collapsed = doomed && candidates.includes(doomed) ? doomed
        : pickFrom.sort((a, b) => cards.filter((c) => c.merchant === b).length - cards.filter((c) => c.merchant === a).length)[0] ?? null;
      if (collapsed) {
        const regKey = regulatorKeyFor(collapsed.industryId);
        await ok(apiAs(regKey).POST("/v1/merchants/{merchantId}/restrict", { params: { path: { merchantId: collapsed.id } }, body: { reason: "refund complaints and 12345 tickets rising; no new cards" } })).then(
          () => say(`  merchant ${collapsed!.id} (${CATALOG[collapsed!.industryId].name}) restricted: complaints rising`), (err) => refusal("restrict", err));
        await ok(apiAs(regKey).POST("/v1/merchants/{merchantId}/freeze", { params: { path: { merchantId: collapsed.id } }, body: { reason: "premises closed, owner unreachable (暴雷跑路)" } })).then(
          () => say(`  merchant ${collapsed!.id} collapsed and was frozen by its regulator`), (err) => refusal("freeze", err));
        collapsed.frozen = true;
        count("merchants frozen");
        const theirs = cards.filter((c) => c.merchant === collapsed && !c.closed);
        let claimed = 0n;
        await pool(theirs, o.concurrency, async (c) => {
          try {
            const out = await holderTx(c.holder, c.id, "claim");
            const ev = out.events.find((e) => e.event === "CardRefunded");
            if (ev) {
              claimed += BigInt(String(ev.args.amount));
              count("claims after the freeze");
            }
            c.closed = true;
          } catch (err) {
            refusal("claim", err);
          }
        });
        say(`  ${counts["claims after the freeze"] ?? 0} of its ${theirs.length} customers took back ${cny(claimed)} CNY straight from the contract`);
        // The record the public reads: a warning, then the serious-dishonesty list.
        await enforce(collapsed, { kind: "warning", public: true, documentRef: `京朝市监警〔${year}〕${++docNo}号`,
          summary: `${collapsed.name}经营者失联、门店关闭，已冻结其预付卡资金；持卡人可在“我的预付卡”页面取回未消费余额。` });
        await enforce(collapsed, { kind: "dishonesty_listing", documentRef: `京朝市监信〔${year}〕${++docNo}号`,
          summary: `${collapsed.name}收取预付款后停业失联，拒不退还消费者预付资金，列入严重违法失信名单。` });
        say(`  a public warning and a serious-dishonesty listing recorded for ${collapsed.name}`);
      }
    }

    // Sales: the bank opens cards once the consumer's payment is in the custody account.
    const open = merchants.filter((m) => !m.frozen);
    const sales = Array.from({ length: perMonth[month] }, () => {
      const m = r.weighted(open, (x) => popularity.get(x.id)!);
      const returning = consumers.length > 0 && r.chance(0.2);
      return { m, plan: r.pick(m.plans), holder: returning ? r.pick(consumers) : newConsumer() };
    });
    let opened = 0;
    const monthCards: Card[] = [];
    await pool(sales, o.concurrency, async (s, i) => {
      const card = await openCard(s.m, s.plan, s.holder);
      if (card) {
        opened++;
        monthCards.push(card);
      }
      if ((i + 1) % 250 === 0) say(`  ${i + 1}/${sales.length} cards opened`);
    });
    say(`  ${opened} cards opened for ${consumers.length} consumers so far`);

    await advance(month, 2);
    // Cooling-off: a few buyers change their minds within the days allowed and get everything back.
    const regretful = monthCards.filter(() => r.chance(0.03));
    await pool(regretful, o.concurrency, async (c) => {
      try {
        await holderTx(c.holder, c.id, "cooling-off");
        c.closed = true;
        count("cooling-off refunds");
      } catch (err) {
        refusal("cooling-off refund", err);
      }
    });
    if (regretful.length) say(`  ${counts["cooling-off refunds"] ?? 0} cooling-off refunds so far`);

    // Renewals: some holders top up their lesson cards.
    if (month > 0) {
      const renew = cards.filter((c) => !c.closed && c.kind === "lesson" && !c.merchant.frozen && r.chance(0.03));
      await pool(renew, o.concurrency, async (c) => {
        const plan = c.merchant.plans.find((p) => p.spec.kind === "lesson")!;
        try {
          await ok(apiAs(keys.bank).POST("/v1/cards/{cardId}/renewals", { params: { path: { cardId: c.id } }, body: { planIndex: plan.index } }));
          c.left += plan.spec.units;
          count("renewals");
        } catch (err) {
          refusal("renewal", err);
        }
      });
    }

    await advance(month, 12);
    // Consumption: each holder confirms the lessons they had this month by signing a voucher; merchants batch them.
    const now = await chainNow();
    const active = cards.filter((c) => !c.closed && c.kind === "lesson" && !c.merchant.frozen && c.left > 0 && (c.expiresAt === 0 || c.expiresAt > now + DAY));
    const byMerchant = new Map<number, { m: Merchant; vouchers: SignedVoucherBody[] }>();
    let signedCount = 0;
    await pool(active, o.concurrency, async (c) => {
      const lessons = Math.min(c.left, r.int(1, Math.max(1, Math.ceil(c.left / Math.max(1, o.months - month)) + 1)));
      let td: { typedData: ConsumptionTypedData };
      try {
        td = (await ok(apiAs(c.merchant.key).GET("/v1/cards/{cardId}/voucher", { params: { path: { cardId: c.id }, query: { lessons } } }))) as typeof td; // typedData is declared as an open object
      } catch (err) {
        refusal("voucher", err);
        return;
      }
      // The gateway proposes a deadline by the wall clock; the chain's clock may be ahead (the demo moves it), so
      // the consumer's wallet gives the voucher a day from the chain's time.
      const doc: ConsumptionTypedData = { ...td.typedData, message: { ...td.typedData.message, deadline: Math.max(Number(td.typedData.message.deadline), now + DAY) } };
      const signature = await signConsumptionDocument(c.holder.wallet, doc);
      const entry = byMerchant.get(c.merchant.id) ?? { m: c.merchant, vouchers: [] };
      entry.vouchers.push(voucherJsonOfDocument(doc, signature));
      byMerchant.set(c.merchant.id, entry);
      c.left -= lessons;
      signedCount++;
      count("lessons confirmed", lessons);
    });
    await pool([...byMerchant.values()], o.concurrency, async ({ m, vouchers }) => {
      for (let i = 0; i < vouchers.length; i += 500) {
        try {
          await ok(apiAs(m.key).POST("/v1/merchants/{merchantId}/consumptions", { params: { path: { merchantId: m.id } }, body: { vouchers: vouchers.slice(i, i + 500) } }));
          count("vouchers submitted", Math.min(500, vouchers.length - i));
        } catch (err) {
          refusal("submit vouchers", err);
        }
      }
    });
    const drained = await waitForIndex();
    const failedNow = queued(drained, "failed");
    if (failedNow > failedVouchersBefore) count("vouchers refused on chain", failedNow - failedVouchersBefore);
    failedVouchersBefore = failedNow;
    say(`  ${signedCount} vouchers signed by holders, submitted in batches by ${byMerchant.size} merchants, on chain`);

    await advance(month, 20);
    // Refund requests: the merchant accepts most, refuses some (a dispute), ignores a few (the holder escalates).
    const asking = cards.filter((c) => !c.closed && !c.merchant.frozen && c.kind === "lesson" && c.left > 0 && (c.expiresAt === 0 || c.expiresAt > now + DAY) && r.chance(0.025));
    const disputes: Card[] = [];
    await pool(asking, o.concurrency, async (c) => {
      try {
        const out = await holderTx(c.holder, c.id, "request");
        if (out.events.some((e) => e.event === "CardRefunded")) {
          c.closed = true;
          count("refunds paid at once (small balance)");
          return;
        }
        count("refund requests");
        const roll = r.next();
        if (roll < 0.6) {
          await ok(apiAs(c.merchant.key).POST("/v1/cards/{cardId}/refund/accept", { params: { path: { cardId: c.id } }, body: {} }));
          c.closed = true;
          count("refunds accepted by the merchant");
        } else if (roll < 0.85) {
          await ok(apiAs(c.merchant.key).POST("/v1/cards/{cardId}/refund/reject", { params: { path: { cardId: c.id } }, body: { reason: ethers.id("lessons were delivered as agreed") } }));
          disputes.push(c);
          count("refunds refused (disputes)");
        } else {
          await holderTx(c.holder, c.id, "escalate");
          disputes.push(c);
          count("refund requests escalated by the holder");
        }
      } catch (err) {
        refusal("refund request", err);
      }
    });
    // The industry's regulator decides: mostly half back, sometimes all, sometimes the refund is denied.
    await pool(disputes, o.concurrency, async (c) => {
      try {
        const card = await ok(apiAs(keys.auditor).GET("/v1/cards/{cardId}", { params: { path: { cardId: c.id } } }));
        const held = BigInt(card.heldFen ?? 0);
        const roll = r.next();
        const refund = roll < 0.2 ? 0n : roll < 0.8 ? held / 2n : held;
        await ok(apiAs(regulatorKeyFor(c.merchant.industryId)).POST("/v1/disputes/{cardId}/decision", { params: { path: { cardId: c.id } }, body: { refundFen: refund.toString(), note: "decided on the hotline file" } }));
        if (refund > 0n) c.closed = true;
        count(refund === 0n ? "disputes denied" : "disputes decided with a refund");
      } catch (err) {
        refusal("dispute decision", err);
      }
    });
    if (asking.length) say(`  ${asking.length} refund requests this month, ${disputes.length} went to the regulator`);

    await advance(month, 24);
    // Payouts: merchants draw what service has released.
    let paidOut = 0;
    await pool(merchants.filter((m) => !m.frozen), o.concurrency, async (m) => {
      try {
        await ok(apiAs(m.key).POST("/v1/merchants/{merchantId}/payouts", { params: { path: { merchantId: m.id } } }));
        paidOut++;
        count("payouts");
      } catch (err) {
        refusal("payout", err);
      }
    });
    say(`  ${paidOut} merchants paid out their released money`);

    // What the hotline, the complaint platform and the registry heard this month, dated in the past weeks: a little
    // about many merchants, and more and more about the one that is about to collapse.
    const heardOf = merchants.filter((m) => !m.frozen && m !== doomed && r.chance(0.12));
    for (const m of heardOf) {
      const at = dayOfMonth(month, r.next());
      if (r.chance(0.5)) await hotlineTicket(m, r.pick(["refund", "service", "other"] as const), at, true);
      else await riskSignal({ recordId: `C-${runTag}-${month}-${m.id}`, kind: "complaint", merchantId: m.id, occurredAt: at, category: r.pick(["退费纠纷", "服务质量"]), refundRelated: r.chance(0.5) });
    }
    if (doomed && !doomed.frozen && month < collapseMonth) {
      const n = 2 + 3 * (month + 1) * (month + 1); // rising month after month
      for (let k = 0; k < n; k++) {
        const at = dayOfMonth(month, (k + 1) / (n + 1));
        if (k % 2 === 0) await hotlineTicket(doomed, k % 6 === 0 ? "closure" : "refund", at, k % 4 === 0);
        else await riskSignal({ recordId: `C-${runTag}-${month}-${doomed.id}-${k}`, kind: "complaint", merchantId: doomed.id, occurredAt: at, category: "退费纠纷", refundRelated: true });
      }
      if (month === collapseMonth - 1) {
        // The registry lists it: abnormal operation (the premises cannot be reached). Beijing's rule: at least high.
        await riskSignal({ recordId: `F-${runTag}-${doomed.id}`, kind: "registry_fact", merchantId: doomed.id, occurredAt: dayOfMonth(month, 0.9),
          fact: "abnormal_operation", action: "listed", detail: "通过登记的住所或者经营场所无法联系" });
      }
    }
    await advance(month, 25);
    // The risk engine rates everyone; a rise alerts the regulators and a high level goes on chain (no new cards).
    // On a chain that runs in the past, as of the chain's clock (the month's end), so the history has its dates.
    await ok(apiAs(keys.regulator).POST("/v1/risk/rate", { body: onChainTime ? { asOf: await chainNow() } : {} })).catch((err) => refusal("risk rating", err));
    if (doomed) {
      const rating = await riskLevelOf(doomed);
      say(`  risk: ${doomed.name} (merchant ${doomed.id}) rated ${rating?.level ?? "—"} (score ${rating?.score ?? "—"})`);
    }
    await waitForIndex();

    // A month passes: on a chain whose clock is behind the wall clock, by at most what is left up to now.
    if (onChainTime) {
      await advance(month + 1, 0);
      await waitForIndex();
      say(`  a month passed on chain (now ${beijingDay(await chainNow())})`);
    } else if (moveClock) {
      const behind = wallNow() - (await chainNow()) - 60;
      const step = Math.min(30 * DAY + 3600, Math.floor(behind / (o.months - month)));
      if (step > 0) {
        await chainRpc("evm_increaseTime", [step]);
        await chainRpc("evm_mine", []);
        await waitForIndex();
        say(`  the chain's clock moved ${(step / DAY).toFixed(1)} days (now ${beijingDay(await chainNow())})`);
      }
    }

    // Time-based plans release the periods that passed.
    const periodic = cards.filter((c) => !c.closed && c.kind === "periodic" && !c.merchant.frozen);
    let periods = 0;
    await pool(periodic, o.concurrency, async (c) => {
      try {
        const out = await ok(apiAs(c.merchant.key).POST("/v1/cards/{cardId}/periodic-release", { params: { path: { cardId: c.id } } }));
        if (out.events.some((e) => e.event === "PeriodsReleased")) periods++;
      } catch (err) {
        refusal("periodic release", err);
      }
    });
    if (periodic.length) {
      count("periodic releases", periods);
      say(`  ${periods} of ${periodic.length} membership cards released their elapsed periods`);
    }

    // Expired cards: about half their holders ask for the rest back, which is paid at once.
    const t = await chainNow();
    const expired = cards.filter((c) => !c.closed && !c.merchant.frozen && c.left > 0 && c.expiresAt !== 0 && c.expiresAt <= t && r.chance(0.5));
    await pool(expired, o.concurrency, async (c) => {
      try {
        const out = await holderTx(c.holder, c.id, "request");
        if (out.events.some((e) => e.event === "CardRefunded")) count("expired cards refunded");
        c.closed = true;
      } catch (err) {
        refusal("expired-card refund", err);
      }
    });
    if (expired.length) say(`  ${expired.length} holders of expired cards took back what was left`);
  }
  // The story ends today: what is left of the chain's lag is closed, so its clock is within a minute of the wall clock.
  if (moveClock) {
    const behind = wallNow() - (await chainNow()) - 30;
    if (behind > 0) {
      await chainRpc("evm_increaseTime", [behind]);
      await chainRpc("evm_mine", []);
      say(`  the chain's clock moved ${(behind / DAY).toFixed(1)} days to today (${beijingDay(await chainNow())})`);
    }
  }
  await waitForIndex();

  // ------------------------------------------------------------ the summary, from the API
  say("reconciling from the API: the ledger (auditor), merchants (regulator), custody positions with on-chain balances (bank)");
  const ledger = await allPages((cursor) => ok(apiAs(keys.auditor).GET("/v1/ledger", { params: { query: { limit: 500, cursor } } })));
  const big = (v: unknown) => BigInt(String(v ?? 0));
  const L = { paidIn: 0n, released: 0n, refunded: 0n, paidOut: 0n };
  const refundReasons: Record<string, bigint> = {};
  const REASONS = ["cooling-off", "accepted", "dispute", "small balance", "expired", "frozen", "exit"];
  const perIndustry = new Map<number, { paidIn: bigint; released: bigint; refunded: bigint }>();
  const merchantIndustry = new Map<number, number>();
  const merchantsApi = await allPages((cursor) => ok(apiAs(keys.regulator).GET("/v1/merchants", { params: { query: { limit: 500, cursor } } })));
  for (const m of merchantsApi) if (m.merchantId !== null && m.industryId !== null) merchantIndustry.set(m.merchantId, m.industryId);
  const ind = (merchantId: number | null) => {
    const id = merchantIndustry.get(Number(merchantId)) ?? -1;
    const v = perIndustry.get(id) ?? { paidIn: 0n, released: 0n, refunded: 0n };
    perIndustry.set(id, v);
    return v;
  };
  for (const row of ledger) {
    const a = row.args;
    switch (row.event) {
      case "CardPurchased":
      case "CardRenewed":
        // The whole price is in custody since the 2025 rules: the direct share waits there through the cooling-off.
        L.paidIn += big(a.custodied) + big(a.direct ?? 0);
        ind(row.merchantId).paidIn += big(a.custodied) + big(a.direct ?? 0);
        break;
      case "LessonsConsumed":
      case "PeriodsReleased":
      case "DirectShareReleased":
        L.released += big(a.amount);
        ind(row.merchantId).released += big(a.amount);
        break;
      case "DisputeResolved":
        L.released += big(a.released);
        ind(row.merchantId).released += big(a.released);
        break;
      case "CardRefunded": {
        L.refunded += big(a.amount);
        ind(row.merchantId).refunded += big(a.amount);
        const reason = REASONS[Number(a.reason)] ?? String(a.reason);
        refundReasons[reason] = (refundReasons[reason] ?? 0n) + big(a.amount);
        break;
      }
      case "DirectShareReturned":
      case "RenewalRefunded":
        L.refunded += big(a.amount);
        ind(row.merchantId).refunded += big(a.amount);
        break;
      case "PaidOut":
        L.paidOut += big(a.amount);
        break;
      default:
        break;
    }
  }
  let total = null as { indexedFen: string; onChainEscrowFen: string; tokenSupplyFen: string; agrees: boolean } | null;
  const positions = await allPages(async (cursor) => {
    const page = await ok(apiAs(keys.bank).GET("/v1/banks/{bankId}/positions", { params: { path: { bankId: 1 }, query: { limit: 200, cursor } } }));
    total = page.total;
    return page;
  });
  const chainHeld = positions.reduce((s, p) => s + BigInt(p.onChain.heldFen), 0n);
  const chainPayable = positions.reduce((s, p) => s + BigInt(p.onChain.payableFen), 0n);
  const M = merchantsApi.reduce((s, m) => ({
    paidIn: s.paidIn + BigInt(m.paidInFen), released: s.released + BigInt(m.releasedFen), refunded: s.refunded + BigInt(m.refundedFen), held: s.held + BigInt(m.heldFen),
  }), { paidIn: 0n, released: 0n, refunded: 0n, held: 0n });

  const checks: [string, boolean][] = [
    ["ledger: paid in = released + refunded + held on chain", L.paidIn === L.released + L.refunded + chainHeld],
    ["merchants' figures equal the ledger's (paid in, released, refunded)", M.paidIn === L.paidIn && M.released === L.released && M.refunded === L.refunded],
    ["indexed held equals held on chain", M.held === chainHeld],
    ["every merchant's indexed position agrees with the chain", positions.every((p) => p.agrees)],
    ["escrow's token balance = Σ (held + payable) = indexed total", total !== null && total.agrees && BigInt(total.onChainEscrowFen) === chainHeld + chainPayable],
    ["released = paid out + payable", L.released === L.paidOut + chainPayable],
  ];

  const line = (label: string, v: bigint) => `  ${label.padEnd(34)} ${cny(v).padStart(16)} CNY`;
  const out: string[] = ["", "District summary", ""];
  for (const k of Object.keys(counts).sort()) out.push(`  ${k.padEnd(44)} ${String(counts[k]).padStart(8)}`);
  out.push(`  ${"consumers".padEnd(44)} ${String(consumers.length).padStart(8)}`, `  ${"ledger rows".padEnd(44)} ${String(ledger.length).padStart(8)}`);
  if (Object.keys(refusals).length) {
    out.push("", "  Refused by the contract or the gateway (part of the story, not errors):");
    for (const [k, n] of Object.entries(refusals).sort()) out.push(`    ${k.padEnd(60)} ${String(n).padStart(6)}`);
  }
  out.push("", "  Per industry (money in custody, CNY):", `    ${"industry".padEnd(14)} ${"paid in".padStart(16)} ${"released".padStart(16)} ${"refunded".padStart(16)} ${"held".padStart(16)}`);
  for (const [id, v] of [...perIndustry].sort((a, b) => a[0] - b[0])) {
    out.push(`    ${(CATALOG[id]?.name ?? `industry ${id}`).padEnd(14)} ${cny(v.paidIn).padStart(16)} ${cny(v.released).padStart(16)} ${cny(v.refunded).padStart(16)} ${cny(v.paidIn - v.released - v.refunded).padStart(16)}`);
  }
  out.push("", line("paid in (into custody)", L.paidIn), line("released to merchants", L.released), line("  of which paid out", L.paidOut), line("  of which payable", chainPayable), line("refunded to holders", L.refunded));
  for (const [k, v] of Object.entries(refundReasons)) out.push(line(`  ${k}`, v));
  out.push(line("held in escrow (on chain)", chainHeld), line("released + refunded + held", L.released + L.refunded + chainHeld), "");
  for (const [label, ok] of checks) out.push(`  ${ok ? "ok  " : "FAIL"} ${label}`);
  process.stdout.write(out.join("\n") + "\n\n");
  const bad = checks.filter(([, ok]) => !ok);
  if (bad.length) {
    say(`the district does NOT reconcile: ${bad.map(([l]) => l).join("; ")}`);
    process.exit(1);
  }
  say(`reconciled: paid in ${cny(L.paidIn)} = released ${cny(L.released)} + refunded ${cny(L.refunded)} + held ${cny(chainHeld)} CNY`);
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
