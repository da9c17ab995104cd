import { expect } from "chai";
import { usccFor } from "../support/uscc";
import express from "express";
import { ethers } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { addCustodianBank } from "../../src/chain/deploy";
import { issueApiKey, revokeApiKey, Role } from "../../src/api/auth";
import { defineRoute } from "../../src/api/http";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";

/**
 * Every operation of /openapi.json, called by every role on its own tenant's ids and on another tenant's, on a real
 * platform (a separate Anvil process, PGlite): two industry regulators, two banks (each with a merchant in custody
 * with it), two merchants, two consumers (each holding a card of one of them), the bureau, an auditor, and no key, a
 * malformed, an unknown and a revoked key. What each may do is read from the operation's `x-access` (the access
 * declaration the gateway enforces), so a route added later is covered without touching this file, and a route
 * without a declaration fails here. The test fails on any 5xx, on any 2xx the declaration forbids (a role it does
 * not list, or another tenant's id where the role's scope is its own), on anything but 401 without a good key, and on
 * another tenant's ids in a 2xx answer (JSON, CSV or event stream) to a role whose scope is its own. Writes that the
 * declaration allows are not sent (they would change what later calls see); every refusal is.
 */

type Scope = "any" | "own" | "scoped";
interface XAccess { public?: true; roles?: Partial<Record<Role, Scope>>; tenant?: Record<string, string>; fileMerchants?: boolean }
interface Op { method: string; path: string; access: XAccess | undefined }

/** The tenant kinds each role can own: what makes "another tenant's id" a refusal for it. */
const OWNS: Record<Role, string[]> = {
  platform_regulator: [], auditor: [],
  industry_regulator: ["merchant", "industry", "card", "ticket", "ledger"],
  bank: ["merchant", "bank", "card", "ledger"],
  merchant: ["merchant", "card", "ledger"],
  consumer: ["card", "holder"],
};

const EDUCATION = 1;
const BEAUTY = 4;

const engine = engines()[0];

describe(`access matrix: every operation × every role × own and foreign tenants (${engine.name}, against a separate Anvil process)`, function () {
  this.timeout(300_000);
  let node: AnvilNode;
  let db: Db;
  let gw: Gateway;
  let base = "";
  const key: Record<string, string> = {};
  /** The industry regulators' accounts (their tickets' assignee). */
  const account: Record<string, string> = {};
  /** Per caller: its own tenant's ids, and the other tenant's. */
  const world: Record<string, { own: Ids; foreign: Ids; role: Role | null }> = {};
  let ops: Op[] = [];
  const failures: string[] = [];
  let calls = 0;

  interface Ids { merchant: number; bank: number; industry: number; card: string; holder: string; ticket: string; ledger: string; keyId: string }

  before(async () => {
    node = await startAnvil();
    const district = await deployDistrict(node.url);
    const p = district.provider;
    // A second custodian bank (dev account 9), so that banks have tenants to keep apart.
    const bank2 = await addCustodianBank(district.escrow, district.parties.regulator, district.parties.deployer, { account: devWallet(9, p).address, name: "Second Bank", symbol: "SBC" });
    expect(bank2.bankId).to.equal(2n);
    db = await engine.open();
    const keys = createKeyRing({ dir: "/nonexistent", provider: p });
    for (const i of [1, 2, 3, 5, 6, 7, 9]) keys.add(devWallet(i, p) as unknown as ethers.Wallet);
    const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", BATCH_INTERVAL_MS: "50", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-matrix" });
    gw = await createGateway(config, createLogger("silent"), { db, deployment: district.deployment, keys, app: { publicRate: { burst: 100_000, perSecond: 100_000 } } });
    const { port } = await gw.start();
    base = `http://127.0.0.1:${port}`;

    const issue = async (name: string, role: Role, subject: string | null) => {
      const k = await issueApiKey(db, { role, subject, label: name });
      key[name] = k.key;
      return k.id;
    };
    const addr = (i: number) => devWallet(i, p).address.toLowerCase();
    await issue("bureau", "platform_regulator", addr(1));
    await issue("education", "industry_regulator", (account.education = addr(2)));
    await issue("commerce", "industry_regulator", (account.commerce = addr(3)));
    await issue("bank1", "bank", "1");
    await issue("auditor", "auditor", null);
    await issue("alice", "consumer", addr(10));
    await issue("bob", "consumer", addr(11));
    const ok = async (r: Response, status: number) => {
      const text = await r.text();
      if (r.status !== status) throw new Error(`set-up: expected ${status}, got ${r.status}: ${text}`);
      return JSON.parse(text);
    };
    const post = (who: string, path: string, body: unknown) =>
      fetch(base + path, { method: "POST", headers: { "x-api-key": key[who], "content-type": "application/json" }, body: JSON.stringify(body) });

    const school = (await ok(await post("bureau", "/v1/merchants", { account: addr(6), industryId: EDUCATION, bankId: 1, registrationNumber: usccFor("school"), name: "School" }), 201)).merchantId as number;
    const salon = (await ok(await post("bureau", "/v1/merchants", { account: addr(7), industryId: BEAUTY, bankId: 2, registrationNumber: usccFor("salon"), name: "Salon" }), 201)).merchantId as number;
    await issue("school", "merchant", String(school));
    await issue("salon", "merchant", String(salon));
    // Bank 2 is in the index now (the salon's admission came after it): its key can be issued.
    await issue("bank2", "bank", "2");
    await ok(await post("school", `/v1/merchants/${school}/plans`, { kind: "lesson", units: 10, validityDays: 90, priceFen: 300000 }), 201);
    await ok(await post("salon", `/v1/merchants/${salon}/plans`, { kind: "lesson", units: 5, validityDays: 90, priceFen: 100000 }), 201);
    const aliceCard = (await ok(await post("bank1", "/v1/banks/1/cards", { merchantId: school, planIndex: 1, holder: addr(10) }), 201)).cardId as string;
    const bobCard = (await ok(await post("bank2", "/v1/banks/2/cards", { merchantId: salon, planIndex: 1, holder: addr(11) }), 201)).cardId as string;
    await ok(await post("bureau", "/v1/hotline/tickets", { ticketId: "T-SCHOOL", merchantId: school, category: "refund", summary: "refund refused", receivedAt: 1_790_000_000 }), 201);
    await ok(await post("bureau", "/v1/hotline/tickets", { ticketId: "T-SALON", merchantId: salon, category: "service", summary: "closed early", receivedAt: 1_790_000_000 }), 201);
    const rowOf = async (m: number) => String((await db.query<{ id: string }>("SELECT id FROM ledger WHERE merchant_id = $1 ORDER BY id LIMIT 1", [m]))[0].id);
    const spareKey = await issue("spare", "auditor", null);
    // Keys that must get 401 everywhere a key is needed.
    const revokedId = await issue("revoked", "platform_regulator", addr(1));
    await revokeApiKey(db, revokedId);
    key.none = "";
    key.malformed = "not-a-key";
    key.unknown = "ck_000000000000_" + "a".repeat(32);

    const schoolIds: Ids = { merchant: school, bank: 1, industry: EDUCATION, card: aliceCard, holder: addr(10), ticket: "T-SCHOOL", ledger: await rowOf(school), keyId: spareKey };
    const salonIds: Ids = { merchant: salon, bank: 2, industry: BEAUTY, card: bobCard, holder: addr(11), ticket: "T-SALON", ledger: await rowOf(salon), keyId: spareKey };
    const roleOf: Record<string, Role | null> = {
      bureau: "platform_regulator", auditor: "auditor", education: "industry_regulator", commerce: "industry_regulator", bank1: "bank", bank2: "bank",
      school: "merchant", salon: "merchant", alice: "consumer", bob: "consumer", none: null, malformed: null, unknown: null, revoked: null,
    };
    const onSalonSide = new Set(["commerce", "bank2", "salon", "bob"]);
    for (const [who, role] of Object.entries(roleOf)) {
      world[who] = onSalonSide.has(who) ? { own: salonIds, foreign: schoolIds, role } : { own: schoolIds, foreign: salonIds, role };
    }

    const doc = await (await fetch(base + "/openapi.json")).json() as { paths: Record<string, Record<string, { "x-access"?: XAccess }>> };
    for (const [path, byMethod] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(byMethod)) ops.push({ method: method.toUpperCase(), path, access: op["x-access"] });
    }
    ops = ops.sort((a, b) => (a.path + a.method).localeCompare(b.path + b.method));
  });

  after(async () => {
    await gw?.stop();
    await db?.close();
    await node?.stop();
  });

  it("every operation in /openapi.json carries its access declaration, and every API route the app serves is in /openapi.json", () => {
    expect(ops.length).to.be.greaterThan(80);
    expect(ops.filter((o) => !o.access).map((o) => `${o.method} ${o.path}`), "operations without x-access").to.deep.equal([]);
    // The express app's own route table: a route registered around defineRoute would be missing from the document.
    const documented = new Set(ops.map((o) => `${o.method} ${o.path}`));
    const served: string[] = [];
    const walk = (stack: { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }[]) => {
      for (const layer of stack) {
        if (layer.route) for (const m of Object.keys(layer.route.methods)) served.push(`${m.toUpperCase()} ${layer.route.path.replace(/:([A-Za-z]+)/g, "{$1}")}`);
        else if (layer.handle?.stack) walk(layer.handle.stack as never);
      }
    };
    walk((gw.app as unknown as { router: { stack: never[] } }).router.stack);
    const api = served.filter((r) => / \/(v1|health)\b/.test(r) && !r.startsWith("_ALL"));
    expect(api.length).to.equal(documented.size);
    expect(api.filter((r) => !documented.has(r))).to.deep.equal([]);
  });

  it("a role that can own what an operation names is held to its own, but where the declaration says why not", () => {
    // Deliberately open to every role: a merchant's plans are what a consumer buys, shown to anyone with a key.
    const open = new Set(["GET /v1/merchants/{merchantId}/plans"]);
    const wide: string[] = [];
    for (const op of ops) {
      if (!op.access || op.access.public || open.has(`${op.method} ${op.path}`)) continue;
      const kinds = Object.keys(op.access.tenant ?? {});
      for (const [role, scope] of Object.entries(op.access.roles ?? {}) as [Role, Scope][]) {
        if (scope === "any" && kinds.some((k) => OWNS[role].includes(k))) wide.push(`${op.method} ${op.path}: ${role} is "any"`);
      }
    }
    expect(wide).to.deep.equal([]);
  });

  it("a route without an access declaration does not register", () => {
    const router = express.Router();
    const gate = { authenticate: async () => null, db };
    expect(() => defineRoute(router, { method: "get", path: "/v1/nobody", tag: "t", summary: "Nothing", handler: async () => ({}) } as never, gate)).to.throw(/no access declaration/);
    expect(() => defineRoute(router, { method: "get", path: "/v1/x/:merchantId", tag: "t", summary: "Nothing", access: { roles: { bank: "own" } }, handler: async () => ({}) } as never, gate))
      .to.throw(/names no tenant/);
    expect(() => defineRoute(router, { method: "get", path: "/v1/x", tag: "t", summary: "Nothing", access: { roles: { bank: "scoped" } }, handler: async () => ({}) } as never, gate))
      .to.throw(/note must say/);
  });

  it("every role, on its own and on another tenant's ids: no 5xx, no 2xx the declaration forbids, no other tenant's data", async () => {
    const before = await writeState();
    const jobs: (() => Promise<void>)[] = [];
    for (const op of ops) {
      for (const who of Object.keys(world)) {
        for (const variant of ["own", "foreign"] as const) jobs.push(() => check(op, who, variant));
      }
    }
    const started = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }));
    expect(failures, failures.slice(0, 40).join("\n")).to.deep.equal([]);
    // Nothing it refused changed anything; the writes it allowed were not sent.
    expect(await writeState()).to.deep.equal(before);
    expect(calls).to.be.greaterThan(1500);
    console.log(`      ${calls} calls in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it("a write the API acknowledges leaves who made it and when, readable by the bureau and the auditor only", async () => {
    const { merchant } = world.school.own;
    const started = Date.now() - 1000;
    const r = await fetch(base + `/v1/merchants/${merchant}/plans`, {
      method: "POST", headers: { "x-api-key": key.school, "content-type": "application/json" }, body: JSON.stringify({ kind: "lesson", units: 4, validityDays: 30, priceFen: 4000 }),
    });
    expect(r.status).to.equal(201);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const get = async (who: string, path: string): Promise<any> => (await fetch(base + path, { headers: { "x-api-key": key[who] } })).json();
    const me = await get("school", "/v1/me");
    for (const who of ["bureau", "auditor"]) {
      const log = await get(who, `/v1/audit-log?keyId=${me.keyId}&limit=1`);
      expect(log.items[0], who).to.deep.include({ role: "merchant", subject: String(merchant), keyId: me.keyId, method: "POST", route: "/v1/merchants/:merchantId/plans", path: `/v1/merchants/${merchant}/plans`, status: 201 });
      expect(Date.parse(log.items[0].at)).to.be.within(started, Date.now() + 1000);
    }
    // every write of the set-up is there too, newest first, paged by cursor
    const first = await get("auditor", "/v1/audit-log?limit=2");
    const second = await get("auditor", `/v1/audit-log?limit=2&cursor=${first.nextCursor}`);
    expect(Number(second.items[0].id)).to.be.lessThan(Number(first.items[1].id));
    const bureauWrites = await get("auditor", "/v1/audit-log?role=platform_regulator&limit=500");
    expect(bureauWrites.items.map((i: { route: string }) => i.route)).to.include.members(["/v1/merchants", "/v1/hotline/tickets"]);
    for (const who of ["education", "bank1", "school", "alice"]) {
      expect((await fetch(base + "/v1/audit-log", { headers: { "x-api-key": key[who] } })).status, who).to.equal(403);
    }
  });

  // ---------------------------------------------------------------- one call

  async function check(op: Op, who: string, variant: "own" | "foreign") {
    const acc = op.access;
    if (!acc) return;
    const w = world[who];
    const ids = w[variant];
    const role = w.role;
    const scope = acc.public ? "any" : role ? acc.roles?.[role] : undefined;
    const kinds = new Set(Object.keys(acc.tenant ?? {}));
    if (acc.fileMerchants) kinds.add("merchant");
    const namesOwnable = role ? [...kinds].some((k) => OWNS[role].includes(k)) : false;
    const write = op.method !== "GET";
    const authenticated = !!role && who !== "revoked";
    // What the declaration says of this call.
    const refusedBy = acc.public ? null
      : !authenticated ? 401
        : !scope ? 403
          : scope === "own" && variant === "foreign" && namesOwnable ? 403
            : null;
    if (write && refusedBy === null) return; // an allowed write: not sent (see above)
    if (acc.public && variant === "foreign") return; // public operations have no tenants
    const { url, init } = request(op, ids, who);
    const label = `${op.method} ${op.path} as ${who} (${variant}): ${url}`;
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), 15_000);
    let status = 0;
    let text = "";
    let type = "";
    try {
      const r = await fetch(base + url, { ...init, signal: ctrl.signal });
      calls++;
      status = r.status;
      type = r.headers.get("content-type") ?? "";
      if (type.includes("text/event-stream")) {
        // An alert stream does not end: its first chunk is read, then it is closed.
        const reader = r.body!.getReader();
        const first = await reader.read();
        text = new TextDecoder().decode(first.value ?? new Uint8Array());
        ctrl.abort();
      } else text = await r.text();
    } catch (err) {
      if (!status) { failures.push(`${label}: no answer (${(err as Error).message})`); return; }
    } finally {
      clearTimeout(timer);
    }
    if (status >= 500) failures.push(`${label}: ${status} ${text.slice(0, 200)}`);
    else if (refusedBy === 401 && status !== 401) failures.push(`${label}: expected 401 without a good key, got ${status}`);
    else if (refusedBy === 403 && ![403, 404].includes(status)) failures.push(`${label}: the declaration refuses it, got ${status} ${text.slice(0, 160)}`);
    else if (status >= 200 && status < 300 && role && scope && scope !== "any") {
      const foreign = foreignIn(text, type, who);
      if (foreign) failures.push(`${label}: another tenant's ${foreign} in a 2xx answer`);
    }
  }

  /** The request for `op` naming the tenants in `ids`. */
  function request(op: Op, ids: Ids, who: string): { url: string; init: RequestInit } {
    const tenant = op.access?.tenant ?? {};
    const valueOf = (name: string): string => {
      const kind = Object.entries(tenant).find(([, loc]) => loc.endsWith(`.${name}`))?.[0] ?? name.replace(/Id$/, "");
      switch (kind) {
        case "merchant": return String(ids.merchant);
        case "bank": return String(ids.bank);
        case "industry": return String(ids.industry);
        case "card": return ids.card;
        case "holder": return ids.holder;
        case "ticket": return ids.ticket;
        case "ledger": case "id": return ids.ledger;
        case "key": return ids.keyId;
        default: return "1";
      }
    };
    const path = op.path.replace(/\{([A-Za-z]+)\}/g, (_m, name: string) => encodeURIComponent(valueOf(name)));
    const query = new URLSearchParams();
    const body: Record<string, unknown> = {};
    for (const [, loc] of Object.entries(tenant)) {
      const [part, name] = loc.split(".");
      if (part === "query") query.set(name, valueOf(name));
      if (part === "body") body[name] = /Id$/.test(name) ? Number(valueOf(name)) : valueOf(name);
    }
    const headers: Record<string, string> = key[who] ? { "x-api-key": key[who] } : {};
    const qs = query.size ? `?${query}` : "";
    if (op.method === "GET") return { url: path + qs, init: { headers } };
    if (op.access?.fileMerchants) {
      const line = JSON.stringify({ recordId: `m-${who}-${ids.merchant}`, kind: "complaint", source: "test", merchantId: ids.merchant, occurredAt: 1_700_000_000, category: "service", refundRelated: false });
      return { url: path + qs, init: { method: op.method, headers: { ...headers, "content-type": "application/x-ndjson" }, body: line } };
    }
    return { url: path + qs, init: { method: op.method, headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) } };
  }

  /** The first id in an answer that is not the caller's: merchants, cards, holders, banks, tickets' assignees. */
  function foreignIn(text: string, type: string, who: string): string | null {
    const mine = world[who].own;
    const role = world[who].role;
    const merchantOk = (m: unknown) => role === "consumer" ? true : Number(m) === mine.merchant;
    if (type.includes("text/csv")) {
      const lines = text.trim().split("\n");
      const col = lines[0].split(",").indexOf("merchant_id");
      for (const l of lines.slice(1)) {
        const m = l.split(",")[col];
        if (m !== "" && !merchantOk(m)) return `merchant ${m} (CSV)`;
      }
      return null;
    }
    if (type.includes("text/event-stream")) {
      for (const l of text.split("\n")) if (l.startsWith("data: ")) { const f = scan(JSON.parse(l.slice(6))); if (f) return f; }
      return null;
    }
    if (!type.includes("json") || !text) return null;
    let body: unknown;
    try { body = JSON.parse(text); } catch { return null; }
    return scan(body);

    function scan(v: unknown, depth = 0): string | null {
      if (depth > 8 || v === null || typeof v !== "object") return null;
      if (Array.isArray(v)) { for (const x of v) { const f = scan(x, depth + 1); if (f) return f; } return null; }
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if ((k === "merchantId" || k === "merchant_id") && x !== null && x !== undefined && !merchantOk(x)) return `merchant ${x}`;
        if ((k === "cardId" || k === "card_id") && typeof x === "string" && /^\d+$/.test(x)) {
          if (role === "consumer" ? x !== mine.card : !merchantOk(Number(BigInt(x) >> 32n))) return `card ${x}`;
        }
        if (k === "holder" && role === "consumer" && typeof x === "string" && x.toLowerCase() !== mine.holder) return `holder ${x}`;
        if (k === "bankId" && role === "bank" && x !== null && Number(x) !== mine.bank) return `bank ${x}`;
        if (k === "assignee" && role === "industry_regulator" && x !== account[who]) return `ticket assigned to ${x}`;
        const f = scan(x, depth + 1);
        if (f) return f;
      }
      return null;
    }
  }

  /** What a refused write must not change: the chain's head and the index's written tables. */
  async function writeState() {
    const counts: Record<string, string> = {};
    for (const t of ["ledger", "merchants", "plans", "cards", "api_keys", "hotline_tickets", "hotline_dispatches", "risk_signals", "risk_overrides", "enforcement_entries", "enforcement_anchors", "onboarding_businesses", "industry_designations", "risk_ratings", "voucher_queue", "audit_log"]) {
      try {
        counts[t] = String((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`))[0].n);
      } catch {
        counts[t] = "no table";
      }
    }
    const merchants = await db.query("SELECT merchant_id, status, risk_level FROM merchants ORDER BY merchant_id");
    const revoked = await db.query("SELECT id FROM api_keys WHERE revoked_at IS NOT NULL ORDER BY id");
    const tickets = await db.query("SELECT ticket_id, status, assignee FROM hotline_tickets ORDER BY ticket_id");
    return { counts, merchants, revoked, tickets, head: await gw.services.provider.getBlockNumber() };
  }
});
