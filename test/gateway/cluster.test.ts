import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ChildProcess, fork } from "node:child_process";
import { Client } from "pg";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { issueApiKey } from "../../src/api/auth";
import { readLocally, readWorkerExecArgv } from "../../src/cluster";
import { Db, openDb } from "../../src/store/db";
import { deployDistrict } from "../support/chain";

/**
 * GATEWAY_WORKERS: the gateway as a primary (indexer, queue, writes) and read workers on one port, as a separate
 * process tree (src/cluster.ts) over a real PostgreSQL server and a separate Anvil process. PostgreSQL only: the
 * workers share the database, which PGlite (inside one process) cannot.
 */
describe("gateway with read workers (GATEWAY_WORKERS=2, PostgreSQL, separate processes)", function () {
  this.timeout(300_000);
  const url = process.env.TEST_DATABASE_URL;
  let node: AnvilNode;
  let child: ChildProcess | null = null;
  let db: Db;
  let dbName = "";
  let dir = "";
  let base = "";
  let auditor = "";

  const workersOf = (pid: number) =>
    fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).filter((d) => {
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false;
      }
    });

  before(async function () {
    if (!url) return this.skip();
    node = await startAnvil();
    const district = await deployDistrict(node.url);
    district.provider.destroy();
    dbName = `custody_test_cluster_${process.pid}_${Date.now()}`;
    const admin = new Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const u = new URL(url);
    u.pathname = "/" + dbName;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-cluster-test-"));
    fs.writeFileSync(path.join(dir, "deployment.json"), JSON.stringify(district.deployment));
    child = fork(path.join(__dirname, "..", "..", "src", "cluster.ts"), [], {
      execArgv: ["-r", require.resolve("ts-node/register/transpile-only")],
      env: {
        ...process.env, CHAIN_RPC_URL: node.url, DATABASE_URL: u.toString(), PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "silent",
        DATA_DIR: dir, DEPLOYMENT_FILE: path.join(dir, "deployment.json"), KEYSTORE_DIR: path.join(dir, "keystores"),
        GATEWAY_WORKERS: "2", POLL_INTERVAL_MS: "50",
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const port = await new Promise<number>((resolve, reject) => {
      child!.on("message", (m: { listening?: number }) => m?.listening && resolve(m.listening));
      child!.once("exit", (code) => reject(new Error(`the gateway exited with code ${code}`)));
    });
    base = `http://127.0.0.1:${port}`;
    db = await openDb({ databaseUrl: u.toString() }); // migrated by the primary
    auditor = (await issueApiKey(db, { role: "auditor", subject: null, label: "auditor" })).key;
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await db?.close();
    if (url && dbName) {
      const admin = new Client({ connectionString: url });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    await node?.stop();
  });

  it("routes the high-traffic reads to the workers and everything else to the primary", () => {
    expect(readLocally("GET", "/v1/cards/4294967297")).to.equal(true);
    expect(readLocally("GET", "/v1/ledger?limit=5")).to.equal(true);
    expect(readLocally("GET", "/v1/consumers/0xabc/cards")).to.equal(true);
    expect(readLocally("GET", "/v1/merchants")).to.equal(true);
    expect(readLocally("POST", "/v1/merchants")).to.equal(false);
    expect(readLocally("GET", "/health")).to.equal(false);
    expect(readLocally("GET", "/v1/ledger.csv")).to.equal(false);
    expect(readLocally("GET", "/v1/cardsx")).to.equal(false);
  });

  it("starts the read workers with the primary's node flags and a 32 MB young generation, unless those set one", () => {
    expect(readWorkerExecArgv(["--max-old-space-size=256"])).to.deep.equal(["--max-old-space-size=256", "--max-semi-space-size=32"]);
    expect(readWorkerExecArgv(["--max-semi-space-size=8", "-r", "x"])).to.deep.equal(["--max-semi-space-size=8", "-r", "x"]);
    const workers = workersOf(child!.pid!);
    expect(workers).to.have.length(2);
    for (const pid of workers) {
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).to.include("--max-semi-space-size=32");
    }
  });

  it("runs a primary and two workers; reads, writes and the indexer's health all answer on one port", async () => {
    expect(workersOf(child!.pid!)).to.have.length(2);
    // /health comes from the primary, the only process that indexes
    let health: { status: string; indexedBlock: number | null } = { status: "", indexedBlock: null };
    for (let i = 0; i < 200 && !(health.indexedBlock && health.indexedBlock > 0); i++) {
      health = (await (await fetch(`${base}/health`)).json()) as typeof health;
      if (!health.indexedBlock) await new Promise((r) => setTimeout(r, 100));
    }
    expect(health.status).to.equal("ok");
    expect(health.indexedBlock).to.be.greaterThan(0);
    // a read served by a worker from the shared database: the district's set-up events the primary indexed
    const res = await fetch(`${base}/v1/ledger?limit=5`, { headers: { "x-api-key": auditor } });
    expect(res.status).to.equal(200);
    const page = (await res.json()) as { items: { event: string }[]; nextCursor: string | null };
    expect(page.items).to.have.length(5);
    expect(page.nextCursor).to.be.a("string");
    // many reads over several connections, all answered
    const statuses = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${base}/v1/ledger?limit=2`, { headers: { "x-api-key": auditor } }).then(async (r) => (await r.arrayBuffer(), r.status))),
    );
    expect(new Set(statuses)).to.deep.equal(new Set([200]));
    // a write is forwarded to the primary with its body: its validation names the bad field
    const bad = await fetch(`${base}/v1/merchants`, {
      method: "POST", headers: { "x-api-key": auditor, "content-type": "application/json" }, body: JSON.stringify({ account: "0x12" }),
    });
    expect(bad.status).to.equal(403); // an auditor may not admit merchants: the primary's role check answers
    const body = (await bad.json()) as { error: { code: string } };
    expect(body.error.code).to.equal("Forbidden");
    // unauthenticated and malformed requests get the API's errors through either path
    expect((await fetch(`${base}/v1/ledger`)).status).to.equal(401);
    const unknown = await fetch(`${base}/v1/nothing-here`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect([400, 404]).to.include(unknown.status);
  });

  it("replaces a worker that dies", async () => {
    const [first] = workersOf(child!.pid!);
    process.kill(Number(first), "SIGKILL");
    let now: string[] = [];
    for (let i = 0; i < 300; i++) {
      now = workersOf(child!.pid!);
      if (now.length === 2 && !now.includes(first)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(now).to.have.length(2);
    expect(now).to.not.include(first);
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await fetch(`${base}/v1/ledger?limit=1`, { headers: { "x-api-key": auditor } }).then(async (r) => (await r.arrayBuffer(), r.status)).catch(() => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).to.equal(200);
  });
});
