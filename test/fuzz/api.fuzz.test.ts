import { signConsumptionDocument, voucherJsonOfDocument } from "../../src/chain/vouchers";
import { expect } from "chai";
import fc from "fast-check";
import { ethers } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { issueApiKey, revokeApiKey, Role } from "../../src/api/auth";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";
import { CustodyToken__factory } from "../../typechain-types";
import {
  Operation, Pools, RequestSpec, operationsOf, requestArbitrary, renderRequest,
} from "./generators";

/**
 * Property-based fuzzing of every route in /openapi.json against a real gateway on a separate Anvil process.
 * Routes are read from the OpenAPI document, so routes added later are fuzzed without touching this file.
 * Properties, for FUZZ_REQUESTS generated requests (default 10,000; on PostgreSQL FUZZ_PG_REQUESTS, default 3,000):
 * never a 5xx; every 4xx is `{ error: { code, message } }`, and a 400 names each bad field with a reason; and a
 * rejected request changes nothing: requests go in batches of 80, and around every batch with no accepted write the index's tables
 * (every table, hashed) and the chain (block number, the parties' nonces, the deposit token's supply) must be
 * unchanged. FUZZ_SEED replays a run; a failure prints the request that caused it.
 */
const PGLITE_REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_123);
const BATCH = 80;
const IN_FLIGHT = 10;
const BODY_LIMIT = "64kb";

/** PostgreSQL (when TEST_DATABASE_URL is set) gets a shorter run: the routes' code is the same, the SQL engine differs. */
const PG_REQUESTS = Number(process.env.FUZZ_PG_REQUESTS ?? 3_000);

for (const engine of engines()) {
  const REQUESTS = engine.name === "pglite" ? PGLITE_REQUESTS : PG_REQUESTS;
  describe(`fuzzing every API route (${engine.name}, against a separate Anvil process)`, function () {
    this.timeout(600_000);
    let node: AnvilNode;
    let db: Db;
    let gw: Gateway;
    let base = "";
    let district: Awaited<ReturnType<typeof deployDistrict>>;
    const keys: Record<string, string> = {};
    let pools: Pools;
    let ops: Operation[] = [];
    let bankToken = "";

    const issue = async (name: string, role: Role, subject: string | null) => (keys[name] = (await issueApiKey(db, { role, subject, label: name })).key);
    const call = async (method: string, path: string, who: string, body?: unknown) => {
      const r = await fetch(base + path, {
        method, headers: { "x-api-key": keys[who], ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (r.status >= 300) throw new Error(`${method} ${path} as ${who}: ${r.status} ${text}`);
      return JSON.parse(text);
    };

    before(async () => {
      node = await startAnvil();
      district = await deployDistrict(node.url);
      db = await engine.open();
      const p = district.provider;
      const ring = createKeyRing({ dir: "/nonexistent", provider: p });
      for (const i of [1, 2, 3, 5, 6, 7]) ring.add(devWallet(i, p) as unknown as ethers.Wallet);
      const config = loadConfig({
        CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", BATCH_INTERVAL_MS: "50", POLL_INTERVAL_MS: "50",
        DATA_DIR: "/tmp/unused-fuzz", BODY_LIMIT, RISK_PUSH_INTERVAL_MS: "3600000",
      });
      gw = await createGateway(config, createLogger("silent"), {
        db, deployment: district.deployment, keys: ring, app: { publicRate: { burst: 1e9, perSecond: 1e9 } },
      });
      const { port } = await gw.start();
      base = `http://127.0.0.1:${port}`;
      await issue("bureau", "platform_regulator", devWallet(1, p).address.toLowerCase());
      await issue("education", "industry_regulator", devWallet(2, p).address.toLowerCase());
      await issue("commerce", "industry_regulator", devWallet(3, p).address.toLowerCase());
      await issue("bank", "bank", "1");
      await issue("bank2", "bank", "2");
      await issue("auditor", "auditor", null);
      await issue("alice", "consumer", devWallet(10, p).address.toLowerCase());
      await issue("bob", "consumer", devWallet(11, p).address.toLowerCase());
      const revoked = (await issueApiKey(db, { role: "platform_regulator", subject: devWallet(1, p).address.toLowerCase(), label: "revoked" }));
      await revokeApiKey(db, revoked.id);
      keys.revoked = revoked.key;

      // A little world for the fuzzer to aim at: two merchants of different industries, plans, cards, a consumption.
      const school = (await call("POST", "/v1/merchants", "bureau", { account: devWallet(6, p).address, industryId: 1, bankId: 1, registrationNumber: "91110105MA0100001L" })).merchantId;
      const salon = (await call("POST", "/v1/merchants", "bureau", { account: devWallet(7, p).address, industryId: 4, bankId: 1, registrationNumber: "91110105MA0100002P" })).merchantId;
      await issue("school", "merchant", String(school));
      await issue("salon", "merchant", String(salon));
      await call("POST", `/v1/merchants/${school}/plans`, "school", { kind: "lesson", units: 20, validityDays: 90, priceFen: 300000 });
      await call("POST", `/v1/merchants/${salon}/plans`, "salon", { kind: "lesson", units: 10, priceFen: 50000 });
      const aliceCard = (await call("POST", "/v1/banks/1/cards", "bank", { merchantId: school, planIndex: 1, holder: devWallet(10, p).address })).cardId;
      const bobCard = (await call("POST", "/v1/banks/1/cards", "bank", { merchantId: salon, planIndex: 1, holder: devWallet(11, p).address })).cardId;
      const t = await call("GET", `/v1/cards/${aliceCard}/voucher?lessons=1`, "alice");
      const signature = await signConsumptionDocument(devWallet(10, p), t.typedData);
      await call("POST", `/v1/merchants/${school}/consumptions`, "school", { vouchers: [voucherJsonOfDocument(t.typedData, signature)] });
      await call("POST", "/v1/hotline/tickets", "bureau", { ticketId: "T-1", merchantId: school, category: "refund", summary: "no refund", receivedAt: 1_700_000_000 });
      await settle();
      const [row] = await db.query<{ id: string }>("SELECT min(id) AS id FROM ledger");

      pools = {
        merchantIds: [school, salon, 424242],
        cardIds: [aliceCard, bobCard, ((BigInt(school) << 32n) | 999n).toString(), ((424242n << 32n) | 1n).toString()],
        bankIds: [1, 2, 77],
        industryIds: [0, 1, 4, 7, 99],
        addresses: [devWallet(10, p).address, devWallet(11, p).address, devWallet(6, p).address, devWallet(2, p).address, "0x" + "ab".repeat(20)],
        ticketIds: ["T-1", "T-404"],
        rowIds: [String(row.id), "999999"],
        keys: Object.fromEntries(Object.entries(keys)),
        roleOf: {
          bureau: "platform_regulator", revoked: "platform_regulator", education: "industry_regulator", commerce: "industry_regulator", bank: "bank",
          bank2: "bank", auditor: "auditor", school: "merchant", salon: "merchant", alice: "consumer", bob: "consumer",
        },
        signedTx: await devWallet(10, p).signTransaction({ to: district.deployment.escrow, data: "0x12345678", chainId: 31337, nonce: 0, gasLimit: 100_000, gasPrice: 0, type: 0 }),
      };
      bankToken = (await district.escrow.bankOf(1)).token;
      const doc = (await (await fetch(base + "/openapi.json")).json()) as Parameters<typeof operationsOf>[0];
      ops = operationsOf(doc);
    });
    after(async () => {
      await gw?.stop();
      await db?.close();
      await node?.stop();
    });

    /** Waits until the index has every block and the consumption queue has nothing in flight. */
    async function settle() {
      for (let i = 0; i < 300; i++) {
        const head = await district.provider.getBlockNumber();
        const q = await gw.services.queue.stats();
        if ((gw.services.indexer.status.indexedBlock ?? -1) >= head && !q.queued && !q.sent) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("the gateway did not settle");
    }

    /**
     * After accepted writes, their consequences in the background (a batch of queued vouchers, risk levels pushed on
     * chain after a rating) must be over before the next comparison: waits until two snapshots 200 ms apart agree.
     */
    async function quiesce(): Promise<string> {
      let last = "";
      for (let i = 0; i < 100; i++) {
        await settle();
        const now = await snapshot();
        if (now === last) return now;
        last = now;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error("the gateway's state kept changing with no requests");
    }

    async function snapshot(): Promise<string> {
      const tables = await db.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
      );
      // one statement for every table: a count and a hash of its rows
      // The transaction journal's rows are compared by what was signed, not by how each ended: the gateway marks its
      // own earlier transactions mined in the background, seconds later. A rejected request must add no row.
      const rowsOf = (t: string) => (t === "tx_journal" ? "(SELECT hash, raw FROM tx_journal)" : `"${t}"`);
      const sql = tables.map(({ table_name: t }) =>
        `SELECT '${t}' AS t, count(*)::text AS n, coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS h FROM ${rowsOf(t)} x`).join(" UNION ALL ");
      const rows = await db.query<{ t: string; n: string; h: string }>(sql);
      const parts = rows.map((r) => `${r.t}:${r.n}:${r.h}`);
      // the chain: ethers sends these in one JSON-RPC batch
      const p = district.provider;
      const accounts = [1, 2, 3, 4, 5, 6, 7, 10, 11].map((i) => devWallet(i, p).address);
      const [block, supply, ...nonces] = await Promise.all([
        p.getBlockNumber(), CustodyToken__factory.connect(bankToken, p).totalSupply(), ...accounts.map((a) => p.getTransactionCount(a)),
      ]);
      parts.push(`block:${block}`, `supply:${supply}`, ...nonces.map((n, i) => `nonce of ${accounts[i]}:${n}`));
      return parts.join("\n");
    }

    it(`answers ${REQUESTS} generated requests with no 5xx, the error shape on every 4xx, and no change from a rejection`, async () => {
      expect(ops.length, "routes in /openapi.json").to.be.greaterThan(40);
      const specs: RequestSpec[] = fc.sample(requestArbitrary(ops, pools), { numRuns: REQUESTS, seed: SEED });
      // every route of the document is fuzzed, including ones added after this test was written
      const generated = new Set(specs.map((x) => `${x.op.method} ${x.op.path}`));
      expect(ops.filter((o) => !generated.has(`${o.method} ${o.path}`)).map((o) => `${o.method} ${o.path}`), "routes never fuzzed").to.deep.equal([]);
      const problems: string[] = [];
      const statusCount: Record<string, number> = {};
      const routesHit = new Set<string>();
      let compared = 0;
      const ms = { requests: 0, snapshots: 0, settling: 0 };
      const timed = async <T>(k: keyof typeof ms, f: () => Promise<T>) => {
        const t0 = Date.now();
        try {
          return await f();
        } finally {
          ms[k] += Date.now() - t0;
        }
      };
      let before = await timed("settling", quiesce);
      for (let b = 0; b < specs.length && problems.length < 20; b += BATCH) {
        const batch = specs.slice(b, b + BATCH);
        let wrote = false;
        const results: { spec: RequestSpec; status: number; problem?: string }[] = [];
        await timed("requests", async () => {
          for (let i = 0; i < batch.length; i += IN_FLIGHT) {
            results.push(...(await Promise.all(batch.slice(i, i + IN_FLIGHT).map((spec) => send(spec)))));
          }
        });
        for (const r of results) {
          statusCount[r.status] = (statusCount[r.status] ?? 0) + 1;
          if (r.status < 400) routesHit.add(`${r.spec.op.method} ${r.spec.op.path}`);
          if (r.problem) problems.push(`#${specs.indexOf(r.spec)} ${r.problem}\n    ${describeSpec(r.spec)}`);
          if (r.spec.op.method !== "get" && r.status < 400) wrote = true;
        }
        if (wrote) {
          before = await timed("settling", quiesce);
          continue;
        }
        const after = await timed("snapshots", snapshot);
        compared++;
        if (after !== before) {
          const changed = after.split("\n").filter((l, i) => l !== before.split("\n")[i]);
          problems.push(`batch ${b / BATCH}: state changed with every write rejected (${changed.join(", ")}):\n    ` + results.map((r) => `${r.status} ${describeSpec(r.spec)}`).join("\n    "));
          before = after;
        }
      }
      // what the run covered, for the log
      console.log(`      ${specs.length} requests, statuses ${JSON.stringify(statusCount)}, ${compared} rejected-only batches compared, ${routesHit.size}/${ops.length} routes answered 2xx at least once; ms ${JSON.stringify(ms)}`);
      expect(problems, problems.join("\n")).to.deep.equal([]);
      expect(compared, "batches in which every request was rejected").to.be.greaterThan(specs.length / BATCH / 4);
    });

    async function send(spec: RequestSpec): Promise<{ spec: RequestSpec; status: number; problem?: string }> {
      const req = renderRequest(spec, pools);
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), 30_000);
      try {
        const r = await fetch(base + req.path, { method: req.method, headers: req.headers, body: req.body, signal: ctl.signal });
        const type = r.headers.get("content-type") ?? "";
        if (!type.includes("application/json")) {
          await r.body?.cancel();
          if (r.status >= 400) return { spec, status: r.status, problem: `${r.status} with content-type ${type}` };
          return { spec, status: r.status };
        }
        const text = await r.text();
        if (r.status >= 500) return { spec, status: r.status, problem: `${r.status}: ${text.slice(0, 300)}` };
        if (r.status >= 400) {
          const problem = errorShapeProblem(r.status, text);
          if (problem) return { spec, status: r.status, problem: `${r.status} ${problem}: ${text.slice(0, 300)}` };
        }
        return { spec, status: r.status };
      } catch (err) {
        return { spec, status: 0, problem: `no answer: ${(err as Error).message}` };
      } finally {
        clearTimeout(timer);
      }
    }
  });
}

/** What is wrong with a 4xx body, if anything. */
function errorShapeProblem(status: number, text: string): string | null {
  let body: { error?: { code?: unknown; message?: unknown; details?: unknown } };
  try {
    body = JSON.parse(text);
  } catch {
    return "body is not JSON";
  }
  const e = body?.error;
  if (!e || typeof e.code !== "string" || !e.code || typeof e.message !== "string" || !e.message) return "no { error: { code, message } }";
  if (status === 400) {
    const d = e.details as { field?: unknown; reason?: unknown }[] | undefined;
    if (!Array.isArray(d) || d.length === 0) return "a 400 without details naming the fields";
    if (!d.every((x) => typeof x?.field === "string" && x.field && typeof x.reason === "string" && x.reason)) return "a detail without field and reason";
  }
  return null;
}

function describeSpec(spec: RequestSpec): string {
  const s = JSON.stringify(spec, (_k, v) => (typeof v === "string" && v.length > 200 ? `${v.slice(0, 60)}…(${v.length} chars)` : v));
  return s.length > 1500 ? s.slice(0, 1500) + "…" : s;
}
