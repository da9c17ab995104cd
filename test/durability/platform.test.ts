import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import { freePort } from "../../src/chain/anvil";
import { startLocalChain } from "../../src/chain/localChain";
import { processAlive } from "../../src/pidFile";
import { createLogger } from "../../src/logger";
import { PrepaidEscrow__factory } from "../../typechain-types";
import { Client } from "pg";
import { expectConserved, expectSameAsCleanResync, withDb } from "../faults/harness";
import { dropDatabase } from "../support/db";
import { runCli } from "../../scripts/cli";
import { api, keysOf, setUpWorkload, verifyAcked, Workload } from "./workload";

/**
 * The one-command platform (scripts/start.ts: local chain node, embedded PGlite, gateway) as a user runs it, stopped
 * every way it can stop: clean stops (SIGINT to its process group, as Ctrl-C in a terminal) many times over, and
 * kill -9 of the whole process group, chain node included, at random moments under live work. After each start:
 * the same genesis, nothing acknowledged lost or applied twice, the index equal to a clean re-sync of the chain.
 */
const ROOT = path.resolve(__dirname, "../..");
const CYCLES = Number(process.env.DURABILITY_CYCLES ?? 20);
const KILLS = Number(process.env.DURABILITY_KILLS ?? 10);

/** The engines: embedded PGlite (the default, the full counts), and a PostgreSQL server when the tests have one. */
const ENGINES: { name: string; cycles: number; kills: number; server?: string }[] = [{ name: "embedded PGlite", cycles: CYCLES, kills: KILLS }];
if (process.env.TEST_DATABASE_URL) ENGINES.push({ name: "PostgreSQL", cycles: Math.min(CYCLES, 3), kills: Math.min(KILLS, 3), server: process.env.TEST_DATABASE_URL });

interface Platform {
  child: ChildProcess;
  base: string;
  chainUrl: string;
  output(): string;
  exited: Promise<number | null>;
  startMs: number;
}

async function startPlatform(dataDir: string, port: number, chainPort: number, extra: Record<string, string> = {}): Promise<Platform> {
  const t0 = Date.now();
  const child = spawn(process.execPath, ["--max-old-space-size=256", "-r", "ts-node/register/transpile-only", path.join(ROOT, "scripts/start.ts")], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json"),
      DATA_DIR: dataDir, PORT: String(port), CHAIN_PORT: String(chainPort), LOG_LEVEL: "info", RISK_RATE_INTERVAL_MS: "0", ...extra,
    },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out = (out + d).slice(-400_000)));
  child.stderr!.on("data", (d) => (out = (out + d).slice(-400_000)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the platform exited with ${child.exitCode}:\n${out.slice(-3000)}`);
    if (out.includes("is running")) {
      const h = await fetch(`${base}/health`).then((r) => r.json() as Promise<{ catchingUp: boolean }>).catch(() => null);
      if (h && h.catchingUp === false) break;
    }
    if (Date.now() > deadline) throw new Error(`the platform did not start within 120 s:\n${out.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, base, chainUrl: `http://127.0.0.1:${chainPort}`, output: () => out, exited, startMs: Date.now() - t0 };
}

async function portFree(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}`, { method: "POST", body: "{}", signal: AbortSignal.timeout(1000) }).then(() => false, () => true);
}

async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  return ((await res.json()) as { result: T }).result;
}

async function drained(p: Platform): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const h = (await api<{ queue: Record<string, number>; indexedBlock: number; headBlock: number }>(p.base, null, "GET", "/health")).body;
    const head = Number(await rpc<string>(p.chainUrl, "eth_blockNumber"));
    if (!h.queue.queued && !h.queue.sent && h.indexedBlock >= head - 1) return;
    if (Date.now() > deadline) throw new Error(`not drained: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The store against a clean re-sync of the chain the platform left, and balances against the contract. */
async function expectIndexEqualsChain(dataDir: string, databaseUrl?: string): Promise<void> {
  const deployment = JSON.parse(fs.readFileSync(path.join(dataDir, "deployment.json"), "utf8"));
  const chain = await startLocalChain({ dir: path.join(dataDir, "chain"), port: await freePort(), log: createLogger("silent") });
  try {
    const provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true });
    const district = { deployment, provider, escrow: PrepaidEscrow__factory.connect(deployment.escrow, provider) } as never;
    await withDb(databaseUrl ? { databaseUrl } : { dataDir: path.join(dataDir, "pglite") }, async (db) => {
      await expectSameAsCleanResync(db, chain.url, district);
      await expectConserved(db, district);
    });
    provider.destroy();
  } finally {
    await chain.stop();
  }
}

/** Sums what the gateway's journal sent again at each start (its log line). */
function resentIn(output: string): number {
  let n = 0;
  for (const m of output.matchAll(/"resent":(\d+)/g)) n += Number(m[1]);
  return n;
}

for (const engine of ENGINES) describe(`durability: the one-command platform stopped every way (${engine.name})`, function () {
  const CYCLES = engine.cycles;
  const KILLS = engine.kills;
  this.timeout(1_800_000);
  let databaseUrl: string | undefined;
  let dbName: string | undefined;
  let dir: string;
  let dataDir: string;
  let port: number;
  let chainPort: number;
  let p: Platform | null = null;
  let work: Workload & { merchantKey: string };
  const startTimes: number[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "durability-"));
    dataDir = path.join(dir, "data");
    port = await freePort();
    chainPort = await freePort();
    if (engine.server) {
      dbName = `custody_durability_${process.pid}_${Date.now()}`;
      const admin = new Client({ connectionString: engine.server });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${dbName}`);
      await admin.end();
      const u = new URL(engine.server);
      u.pathname = "/" + dbName;
      databaseUrl = u.toString();
    }
  });
  afterEach(async () => {
    if (p && p.child.exitCode === null) {
      try {
        process.kill(-p.child.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
      await p.exited;
    }
  });
  after(async () => {
    if (engine.server && dbName) await dropDatabase(engine.server, dbName);
    if (process.env.DURABILITY_KEEP === "1") console.log(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`keeps its genesis, head and every balance and ledger row over ${CYCLES} clean stops (Ctrl-C) with work between them`, async () => {
    p = await startPlatform(dataDir, port, chainPort, databaseUrl ? { DATABASE_URL: databaseUrl } : {});
    work = await setUpWorkload(p.base, dataDir);
    const genesis = (await rpc<{ hash: string }>(p.chainUrl, "eth_getBlockByNumber", ["0x0", false])).hash;
    let lastHead = 0;
    let lastRows = 0;
    let lastCards = new Map<string, number>();
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      if (cycle > 0) {
        p = await startPlatform(dataDir, port, chainPort, databaseUrl ? { DATABASE_URL: databaseUrl } : {});
        startTimes.push(p.startMs);
      }
      // What the last cycle left is all here.
      expect((await rpc<{ hash: string }>(p.chainUrl, "eth_getBlockByNumber", ["0x0", false])).hash, `cycle ${cycle}: genesis`).to.equal(genesis);
      const head = Number(await rpc<string>(p.chainUrl, "eth_blockNumber"));
      expect(head, `cycle ${cycle}: head`).to.be.at.least(lastHead);
      const auditor = keysOf(dataDir).auditor;
      const csv = (await api<string>(p.base, auditor, "GET", "/v1/ledger.csv")).body;
      const rows = csv.trim().split("\n").length - 1;
      expect(rows, `cycle ${cycle}: ledger rows`).to.be.at.least(lastRows);
      for (const [cardId, used] of lastCards) {
        const c = await api<{ unitsUsed: number; heldFen: string }>(p.base, keysOf(dataDir).bank, "GET", `/v1/cards/${cardId}`);
        expect(c.status).to.equal(200);
        expect(Number(c.body.unitsUsed), `cycle ${cycle}: card ${cardId}`).to.equal(used);
      }
      if (cycle === 0) {
        // The operator's CLI works while the platform holds the embedded database: through the gateway's API.
        const out: string[] = [];
        const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t), env: { ...process.env, DATA_DIR: dataDir, PORT: String(port), GATEWAY_API_KEY: undefined, DATABASE_URL: databaseUrl } };
        expect(await runCli(["api-key", "list"], io), out.join("")).to.equal(0);
        expect(out.join("")).to.include("platform_regulator").and.to.include("auditor");
        out.length = 0;
        expect(await runCli(["export-ledger"], io), out.join("")).to.equal(0);
        expect(out.join("").trim().split("\n").length - 1, "the CSV has every ledger row").to.equal(rows);
      }
      // Work, then a clean stop as Ctrl-C gives it: SIGINT to the whole process group.
      await work.run({ concurrency: 2, count: 6, signal: { stopped: false } });
      await drained(p);
      const now = await verifyAcked(p.base, p.chainUrl, dataDir, work);
      expect(now, `cycle ${cycle}`).to.deep.equal({ lost: 0, duplicated: 0, failedWithReason: 0, what: [] });
      lastHead = Number(await rpc<string>(p.chainUrl, "eth_blockNumber"));
      lastRows = (await api<string>(p.base, auditor, "GET", "/v1/ledger.csv")).body.trim().split("\n").length - 1;
      lastCards = new Map();
      for (const c of work.acked.cards) {
        lastCards.set(c.cardId, Number((await api<{ unitsUsed: number }>(p.base, keysOf(dataDir).bank, "GET", `/v1/cards/${c.cardId}`)).body.unitsUsed));
      }
      process.kill(-p.child.pid!, "SIGINT");
      expect(await p.exited, `cycle ${cycle}: exit code\n${p.output().slice(-2000)}`).to.equal(0);
      expect(await portFree(chainPort), "the chain node's port is free after a stop").to.equal(true);
    }
    expect(lastRows).to.be.greaterThan(0);
    expect(work.acked.cards.length, JSON.stringify(work.acked.refusals)).to.be.greaterThan(0);
    expect(work.acked.vouchers.length).to.be.greaterThan(0);
    await expectIndexEqualsChain(dataDir, databaseUrl);
    console.log(`      ${CYCLES} clean stops: ${work.acked.cards.length} cards, ${work.acked.vouchers.length} vouchers, ${work.acked.keys.length} keys, ${work.acked.tickets.length} tickets, ${work.acked.entries.length} enforcement entries acknowledged; ` +
      `restart ${Math.min(...startTimes)}-${Math.max(...startTimes)} ms`);
  });

  it(`loses no acknowledged write over ${KILLS} kill -9 of the whole process group at random moments under live work`, async () => {
    const killStarts: number[] = [];
    let resent = 0;
    for (let round = 0; round < KILLS; round++) {
      p = await startPlatform(dataDir, port, chainPort, databaseUrl ? { DATABASE_URL: databaseUrl } : {});
      killStarts.push(p.startMs);
      // What every earlier round acknowledged is here, once, and the index is the chain's.
      await drained(p);
      const check = await verifyAcked(p.base, p.chainUrl, dataDir, work);
      expect(check.what, `round ${round}: acknowledged writes lost`).to.deep.equal([]);
      expect(check.duplicated, `round ${round}: applied twice`).to.equal(0);
      // Live work (three lanes), killed at a random moment 0.5-4 s in, chain node included.
      const signal = { stopped: false };
      const running = work.run({ concurrency: 3, signal });
      await new Promise((r) => setTimeout(r, 500 + Math.floor(Math.random() * 3500)));
      const anvilPid = Number(fs.readFileSync(path.join(dataDir, "chain", "anvil.pid"), "utf8"));
      process.kill(-p.child.pid!, "SIGKILL");
      signal.stopped = true;
      await p.exited;
      await running;
      resent += resentIn(p.output());
      // The chain node runs in a process group of its own (Ctrl-C reaches only the parent): its watchdog kills it when
      // the parent dies, so it never keeps holding its port.
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        gone = !processAlive(anvilPid) || !fs.existsSync(`/proc/${anvilPid}/cmdline`) || fs.readFileSync(`/proc/${anvilPid}/cmdline`, "utf8") === "";
        if (!gone) await new Promise((r) => setTimeout(r, 50));
      }
      expect(gone, `round ${round}: the chain node outlived its parent`).to.equal(true);
    }
    p = await startPlatform(dataDir, port, chainPort, databaseUrl ? { DATABASE_URL: databaseUrl } : {});
    await drained(p);
    resent += resentIn(p.output());
    const final = await verifyAcked(p.base, p.chainUrl, dataDir, work);
    console.log(`      ${KILLS} kills: ${work.acked.cards.length} cards, ${work.acked.vouchers.length} vouchers, ${work.acked.keys.length} keys, ${work.acked.tickets.length} tickets, ${work.acked.entries.length} enforcement entries acknowledged in all; ` +
      `lost ${final.lost}, duplicated ${final.duplicated}, failed with a reason ${final.failedWithReason}; sent again after a crash ${resent}; restart after a kill ${Math.min(...killStarts)}-${Math.max(...killStarts)} ms`);
    expect(final.what).to.deep.equal([]);
    expect(final.duplicated).to.equal(0);
    process.kill(-p.child.pid!, "SIGINT");
    expect(await p.exited).to.equal(0);
    await expectIndexEqualsChain(dataDir, databaseUrl);
  });
});
