/**
 * Live work against a running platform, through its API only, with a record of every write the API acknowledged:
 * cards opened by the bank, consumption vouchers signed by holders and handed in by the merchant, API keys issued and
 * 12345 tickets taken in. `verify` then proves each acknowledged write is there (on chain and in the index, or in the
 * off-chain store) exactly once.
 */
import { ConsumptionTypedData, signConsumptionDocument, voucherJsonOfDocument } from "../../src/chain/vouchers";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { Wallet, encryptKeystoreJson } from "ethers";

const ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/** A 统一社会信用代码 with a right check character (GB 32100-2015). */
export function creditCode(): string {
  let body = "91110105";
  while (body.length < 17) body += ALPHABET[crypto.randomInt(ALPHABET.length)];
  const sum = [...body].reduce((s, c, i) => s + ALPHABET.indexOf(c) * WEIGHTS[i], 0);
  return body + ALPHABET[(31 - (sum % 31)) % 31];
}

export interface Acked {
  cards: { cardId: string; holder: string; txHash: string }[];
  vouchers: { cardId: string; sequence: number; id: string }[];
  keys: { id: string; key: string }[];
  tickets: string[];
  /** Enforcement entries (their hashes), each anchored on chain by the regulator's key. */
  entries: string[];
  /** Every card-open request sent, acknowledged or not (a holder is never used twice). */
  openAttempts: number;
  /**
   * Voucher hand-ins sent per card, acknowledged or not: one whose answer was cut off by a kill may still have been
   * accepted (and is then carried out), so a card may use up to this many lessons, and at least the acknowledged ones.
   */
  voucherAttempts: Record<string, number>;
  /** Answers other than the acknowledgement, by operation, status and code (a platform going away is not counted). */
  refusals: Record<string, number>;
}

interface Holder {
  wallet: Wallet;
  cardId: string | null;
  busy: boolean;
}

export interface Workload {
  base: string;
  merchantId: number;
  acked: Acked;
  /** Runs random operations, `concurrency` at a time, until `stop()` is called or `count` operations were tried. */
  run(opts: { concurrency: number; count?: number; signal: { stopped: boolean } }): Promise<{ tried: number; failed: number }>;
}

export async function api<T = unknown>(base: string, key: string | null, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(base + p, {
    method,
    headers: { ...(key ? { "x-api-key": key } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* CSV or text */
  }
  return { status: res.status, body: parsed as T };
}

export function keysOf(dataDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(dataDir, "api-keys.txt"), "utf8").split("\n")) {
    const m = /^(\S+)\s+(\S+)\s+#\s*(.*)$/.exec(line.trim());
    if (m && !out[m[1]]) out[m[1]] = m[2];
  }
  return out;
}

/** Admits a merchant whose key the gateway holds, issues its API key and publishes a 48-lesson plan. */
export async function setUpWorkload(base: string, dataDir: string): Promise<Workload & { merchantKey: string }> {
  const keys = keysOf(dataDir);
  const regulator = keys.platform_regulator;
  const bank = keys.bank;
  const merchant = Wallet.createRandom();
  const password = fs.readFileSync(path.join(dataDir, "keystore-password"), "utf8").trim();
  const json = await encryptKeystoreJson({ address: merchant.address, privateKey: merchant.privateKey }, password, { scrypt: { N: 1 << 12 } });
  fs.writeFileSync(path.join(dataDir, "keystores", `${merchant.address.toLowerCase()}.json`), json, { mode: 0o600 });
  const industries = await api<{ items: { industryId: number }[] }>(base, regulator, "GET", "/v1/industries");
  const industryId = industries.body.items.find((i) => i.industryId > 0)!.industryId;
  const admitted = await api<{ merchantId: number }>(base, regulator, "POST", "/v1/merchants", {
    account: merchant.address, industryId, bankId: 1, registrationNumber: creditCode(), name: "耐久测试健身房", district: "朝阳区",
  });
  expect(admitted.status, JSON.stringify(admitted.body)).to.equal(201);
  const merchantId = Number(admitted.body.merchantId);
  const mk = await api<{ key: string }>(base, regulator, "POST", "/v1/api-keys", { role: "merchant", subject: String(merchantId), label: "durability merchant" });
  expect(mk.status).to.equal(201);
  const merchantKey = mk.body.key;
  const plan = await api(base, merchantKey, "POST", `/v1/merchants/${merchantId}/plans`, { kind: "lesson", units: 48, periodSeconds: 0, validityDays: 90, priceFen: 48_000 });
  expect(plan.status, JSON.stringify(plan.body)).to.equal(201);
  const planIndex = Number((plan.body as { events: { event: string; args: Record<string, string> }[] }).events.find((e) => e.event === "PlanPublished")!.args.planIndex);

  const acked: Acked = { cards: [], vouchers: [], keys: [], tickets: [], entries: [], openAttempts: 0, voucherAttempts: {}, refusals: {} };
  const refused = (what: string, r: { status: number; body: unknown }) => {
    const k = `${what} ${r.status} ${(r.body as { error?: { code?: string } } | null)?.error?.code ?? ""}`;
    acked.refusals[k] = (acked.refusals[k] ?? 0) + 1;
    return false;
  };
  const holders: Holder[] = [];

  async function openCard(): Promise<boolean> {
    const h: Holder = { wallet: Wallet.createRandom() as unknown as Wallet, cardId: null, busy: true };
    acked.openAttempts++;
    const r = await api<{ cardId: string; txHash: string }>(base, bank, "POST", "/v1/banks/1/cards", { merchantId, planIndex, holder: h.wallet.address, named: true });
    if (r.status !== 201) return refused("open card", r);
    h.cardId = String(r.body.cardId);
    acked.cards.push({ cardId: h.cardId, holder: h.wallet.address.toLowerCase(), txHash: r.body.txHash });
    h.busy = false;
    holders.push(h);
    return true;
  }

  async function consume(): Promise<boolean> {
    const h = holders.find((x) => !x.busy && x.cardId);
    if (!h) return openCard();
    h.busy = true;
    try {
      const td = await api<{ typedData: ConsumptionTypedData }>(base, merchantKey, "GET", `/v1/cards/${h.cardId}/voucher?lessons=1`);
      if (td.status !== 200) return refused("voucher typed data", td);
      const message = td.body.typedData.message;
      const voucher = voucherJsonOfDocument(td.body.typedData, await signConsumptionDocument(h.wallet, td.body.typedData));
      acked.voucherAttempts[h.cardId!] = (acked.voucherAttempts[h.cardId!] ?? 0) + 1;
      const out = await api<{ ids: string[] }>(base, merchantKey, "POST", `/v1/merchants/${merchantId}/consumptions`, { vouchers: [voucher] });
      if (out.status !== 202) return refused("voucher", out);
      acked.vouchers.push({ cardId: h.cardId!, sequence: Number(message.sequence), id: out.body.ids[0] });
      return true;
    } finally {
      h.busy = false;
    }
  }

  async function issueKey(): Promise<boolean> {
    const r = await api<{ id: string; key: string }>(base, regulator, "POST", "/v1/api-keys", { role: "auditor", subject: null, label: `durability auditor ${acked.keys.length}` });
    if (r.status !== 201) return refused("api key", r);
    acked.keys.push({ id: r.body.id, key: r.body.key });
    return true;
  }

  async function ticket(): Promise<boolean> {
    const ticketId = `D-${crypto.randomBytes(6).toString("hex")}`;
    const r = await api(base, regulator, "POST", "/v1/hotline/tickets", {
      ticketId, merchantId, category: "service", summary: "教练临时取消课程，未提前通知", receivedAt: Math.floor(Date.now() / 1000),
    });
    if (r.status !== 201) return refused("ticket", r);
    acked.tickets.push(ticketId);
    return true;
  }

  async function inspection(): Promise<boolean> {
    const n = acked.entries.length + 1;
    const r = await api<{ entryHash: string }>(base, regulator, "POST", `/v1/merchants/${merchantId}/enforcement`, {
      kind: "inspection", occurredOn: "2026-12-07", documentRef: `京朝市监检〔2026〕${n}号`, summary: "现场检查：预付卡存管协议与公示信息一致",
    });
    if (r.status !== 201) return refused("enforcement entry", r);
    acked.entries.push(r.body.entryHash);
    return true;
  }

  const ops: [number, () => Promise<boolean>][] = [[3, openCard], [6, consume], [1, issueKey], [1, ticket], [1, inspection]];
  const total = ops.reduce((s, [w]) => s + w, 0);
  const pick = () => {
    let x = crypto.randomInt(total);
    for (const [w, f] of ops) {
      if (x < w) return f;
      x -= w;
    }
    return consume;
  };

  return {
    base, merchantId, merchantKey, acked,
    async run({ concurrency, count, signal }) {
      let tried = 0;
      let failed = 0;
      const lane = async () => {
        while (!signal.stopped && (count === undefined || tried < count)) {
          tried++;
          try {
            if (!(await pick()())) failed++;
          } catch {
            failed++; // the platform went away mid-request: not acknowledged
            if (signal.stopped) return;
          }
        }
      };
      await Promise.all(Array.from({ length: concurrency }, lane));
      return { tried, failed };
    },
  };
}

/**
 * Every acknowledged write is there, once: each card's open transaction is on chain and the card indexed; each card
 * has used exactly as many lessons as vouchers were acknowledged for it (none lost, none applied twice), unless the
 * queue records one as failed with the contract's reason; no holder has two cards; every issued key works; every
 * ticket is listed.
 */
export async function verifyAcked(base: string, chainUrl: string, dataDir: string, w: { acked: Acked; merchantId: number; merchantKey: string }): Promise<{ lost: number; duplicated: number; failedWithReason: number; what: string[] }> {
  const keys = keysOf(dataDir);
  const rpc = async <T>(method: string, params: unknown[]): Promise<T> => {
    const res = await fetch(chainUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    return ((await res.json()) as { result: T }).result;
  };
  let duplicated = 0;
  const what: string[] = [];
  for (const c of w.acked.cards) {
    const rc = await rpc<{ status: string } | null>("eth_getTransactionReceipt", [c.txHash]);
    const card = await api<{ holder: string }>(base, keys.bank, "GET", `/v1/cards/${c.cardId}`);
    if (!rc || Number(rc.status) !== 1 || card.status !== 200) what.push(`card ${c.cardId} (${c.txHash})`);
  }
  // The queue's record of each acknowledged voucher.
  const status = new Map<string, { status: string; error: unknown }>();
  let cursor: string | null = null;
  do {
    const page: { body: { items: { id: string; status: string; error?: unknown }[]; nextCursor: string | null } } = await api(base, w.merchantKey, "GET", `/v1/merchants/${w.merchantId}/consumptions?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
    for (const it of page.body.items) status.set(String(it.id), { status: it.status, error: it.error });
    cursor = page.body.nextCursor;
  } while (cursor);
  let failedWithReason = 0;
  const expected = new Map<string, number>();
  for (const v of w.acked.vouchers) {
    const s = status.get(v.id);
    if (s?.status === "failed" && s.error) failedWithReason++;
    else expected.set(v.cardId, (expected.get(v.cardId) ?? 0) + 1);
  }
  for (const c of w.acked.cards) {
    const card = await api<{ unitsUsed: number | string }>(base, keys.bank, "GET", `/v1/cards/${c.cardId}`);
    const used = Number(card.body.unitsUsed);
    const want = expected.get(c.cardId) ?? 0;
    if (used < want) what.push(`card ${c.cardId}: ${want - used} voucher(s)`);
    // More than was ever handed in would be a voucher applied twice; between the acknowledged and the sent ones is a
    // hand-in whose answer a kill cut off, accepted all the same.
    const sent = w.acked.voucherAttempts[c.cardId] ?? 0;
    if (used > sent) duplicated += used - sent;
  }
  // No holder has two cards: an open request is never applied twice.
  const holders = new Map<string, number>();
  for (const c of w.acked.cards) holders.set(c.holder, (holders.get(c.holder) ?? 0) + 1);
  duplicated += [...holders.values()].filter((n) => n > 1).length;
  for (const k of w.acked.keys) {
    const me = await api(base, k.key, "GET", "/v1/me");
    if (me.status !== 200) what.push(`key ${k.id}`);
  }
  const tickets = new Set<string>();
  cursor = null;
  do {
    const page: { body: { items: { ticketId: string }[]; nextCursor: string | null } } = await api(base, keys.platform_regulator, "GET", `/v1/hotline/tickets?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
    for (const t of page.body.items) tickets.add(t.ticketId);
    cursor = page.body.nextCursor;
  } while (cursor);
  what.push(...w.acked.tickets.filter((t) => !tickets.has(t)).map((t) => `ticket ${t}`));
  // The enforcement record holds every acknowledged entry, and its hash chain checks out against the chain's anchors.
  const record = await api<{ items: { entryHash: string }[] }>(base, keys.platform_regulator, "GET", `/v1/merchants/${w.merchantId}/enforcement`);
  const hashes = new Set(record.body.items.map((e) => e.entryHash));
  what.push(...w.acked.entries.filter((h) => !hashes.has(h)).map((h) => `enforcement entry ${h}`));
  if (w.acked.entries.length) {
    const verified = await api<{ ok: boolean }>(base, keys.platform_regulator, "GET", `/v1/merchants/${w.merchantId}/enforcement/verify`);
    expect(verified.body.ok, `enforcement record against the chain: ${JSON.stringify(verified.body)}`).to.equal(true);
  }
  // The merchant's name, kept off chain, is still there.
  const m = await api<{ name: string | null }>(base, null, "GET", `/v1/public/merchants/${w.merchantId}`);
  if (m.body.name !== "耐久测试健身房") what.push(`merchant name: ${JSON.stringify(m.body)}`);
  return { lost: what.length, duplicated, failedWithReason, what };
}
