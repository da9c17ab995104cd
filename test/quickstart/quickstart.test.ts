import { expect } from "chai";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../src/chain/anvil";

/**
 * The README's quick start on a fresh copy of the repository: `npm start -- --demo` (a small district) in a temporary
 * folder, wait for the demo to reconcile, check that its history lies in the past and ends now, stop with SIGTERM,
 * start again, and find every ledger row, merchant, card balance and custody position as it was.
 *
 * The copy is the files a clone would have (`git ls-files`: tracked, plus new files not ignored, so uncommitted
 * work is tested too), without data; node_modules is a symlink to this checkout's (no install), and the compiled
 * contracts are copied with Hardhat's cache (see copyTree), so `npm start`'s compile step has nothing to do.
 */
const ROOT = path.resolve(__dirname, "../..");

function copyTree(to: string) {
  const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
  for (const f of files) {
    if (f.startsWith(".briefs/")) continue;
    const src = path.join(ROOT, f);
    if (!fs.existsSync(src) || fs.statSync(src).isDirectory()) continue; // deleted in the working tree, or a submodule
    fs.mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
    fs.copyFileSync(src, path.join(to, f));
  }
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(to, "node_modules"), "dir");
  // The compiled contracts are reused too (solc-js with viaIR takes minutes on a busy 2-core machine): Hardhat's
  // cache is keyed by absolute path and content hash, so with the paths rewritten `hardhat compile` (which
  // `npm start` runs) finds nothing to do, unless a contract differs from what this checkout compiled.
  for (const d of ["artifacts", "typechain-types"]) {
    if (fs.existsSync(path.join(ROOT, d))) fs.cpSync(path.join(ROOT, d), path.join(to, d), { recursive: true });
  }
  const cache = path.join(ROOT, "cache", "solidity-files-cache.json");
  if (fs.existsSync(cache)) {
    fs.mkdirSync(path.join(to, "cache"), { recursive: true });
    fs.writeFileSync(path.join(to, "cache", "solidity-files-cache.json"), fs.readFileSync(cache, "utf8").split(ROOT + "/").join(to + "/")
      // Libraries resolve through the node_modules symlink to their real path, which stays this checkout's.
      .split(to + "/node_modules/").join(ROOT + "/node_modules/"));
  }
}

interface Platform {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function npmStart(dir: string, env: NodeJS.ProcessEnv, args: string[] = []): Platform {
  // Its own process group, so SIGTERM reaches npm, the gateway and the chain node as Ctrl-C would in a terminal.
  const child = spawn("npm", ["start", ...(args.length ? ["--", ...args] : [])], { cwd: dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitForHealth(base: string, p: Platform, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.child.exitCode !== null) throw new Error(`npm start exited with ${p.child.exitCode}:\n${p.output().slice(-3000)}`);
    try {
      const res = await fetch(`${base}/health`);
      if (res.ok) {
        const h = (await res.json()) as Record<string, unknown>;
        if (h.status === "ok" && h.catchingUp === false) return h;
      }
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`no healthy /health at ${base} within ${timeoutMs / 1000} s:\n${p.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGTERM to the whole process group (npm, the gateway, the chain node), as Ctrl-C in a terminal sends SIGINT to
 * it. Resolves once every process of the group is gone; true if that took no SIGKILL.
 */
async function stop(p: Platform): Promise<boolean> {
  const pid = p.child.pid!;
  if (!groupAlive(pid)) return true;
  process.kill(-pid, "SIGTERM");
  const deadline = Date.now() + 30_000;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (!groupAlive(pid)) return true;
  process.kill(-pid, "SIGKILL");
  return false;
}

async function get<T>(base: string, route: string, key: string): Promise<T> {
  const res = await fetch(base + route, { headers: { "x-api-key": key } });
  if (!res.ok) throw new Error(`GET ${route}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function all<T>(base: string, route: string, key: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = route.includes("?") ? "&" : "?";
    const page: { items: T[]; nextCursor: string | null } = await get(base, `${route}${sep}limit=500${cursor ? `&cursor=${cursor}` : ""}`, key);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/** Everything a user would look for after a restart: the ledger, the merchants, every card's balance, custody positions. */
async function snapshot(base: string, keys: Record<string, string>) {
  const ledger = await all<Record<string, unknown>>(base, "/v1/ledger", keys.auditor);
  const merchants = await all<{ merchantId: number }>(base, "/v1/merchants", keys.platform_regulator);
  const cards: unknown[] = [];
  for (const m of merchants) cards.push(...(await all(base, `/v1/merchants/${m.merchantId}/cards`, keys.platform_regulator)));
  const positions = await get<{ total: unknown; items: unknown[] }>(base, "/v1/banks/1/positions?limit=500", keys.bank);
  return { ledger, merchants, cards, positions };
}

describe("quick start: npm start -- --demo on a fresh copy, SIGTERM, start again", function () {
  this.timeout(420_000);
  let dir = "";
  let platform: Platform | null = null;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-quickstart-"));
    copyTree(dir);
  });

  after(async function () {
    if (platform) await stop(platform);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps every card, balance and ledger row across a restart", async function () {
    const [port, chainPort] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), CHAIN_PORT: String(chainPort), LOG_LEVEL: "warn" };
    for (const k of ["DATA_DIR", "DATABASE_URL", "CHAIN_RPC_URL", "DEPLOYMENT_FILE", "KEYSTORE_DIR", "KEYSTORE_PASSWORD", "HOST"]) delete env[k];
    const base = `http://127.0.0.1:${port}`;

    // The platform with a small demo district: three merchants, a few dozen cards, two months ending in a collapse.
    platform = npmStart(dir, env, ["--demo", "--merchants", "3", "--cards", "30", "--months", "2", "--concurrency", "8"]);
    await waitForHealth(base, platform, 240_000);
    const first = platform.output();
    expect(first).to.contain(`Console:     ${base}/`);
    expect(first).to.contain(`${base}/docs`);
    expect(first).to.contain(path.join(dir, "data", "api-keys.txt"));
    const keys: Record<string, string> = {};
    for (const line of fs.readFileSync(path.join(dir, "data", "api-keys.txt"), "utf8").split("\n")) {
      const m = /^(\S+)\s+(ck_\S+)/.exec(line);
      if (m && !keys[m[1]]) keys[m[1]] = m[2];
    }
    expect(keys).to.include.keys("platform_regulator", "bank", "auditor");
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).to.match(/custody_indexed_block \d+/);

    const started = Date.now();
    while (!/reconciled: paid in|the district does NOT reconcile|demo failed/.test(platform.output())) {
      if (platform.child.exitCode !== null || Date.now() - started > 300_000) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(platform.output(), platform.output().slice(-4000)).to.contain("reconciled: paid in");
    expect(platform.output()).to.contain("the chain began 62 days ago");

    // The story lies in the past and ends now: the chain's first events two months back, none after now, and the
    // chain's clock within a minute of the wall clock.
    const rpc = async <T>(method: string, params: unknown[]) => ((await (await fetch(`http://127.0.0.1:${chainPort}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    })).json()) as { result: T }).result;
    const head = await rpc<{ timestamp: string }>("eth_getBlockByNumber", ["latest", false]);
    const wall = Math.floor(Date.now() / 1000);
    expect(Math.abs(wall - Number(head.timestamp)), "the chain's clock against the wall clock (s)").to.be.below(120);
    const rows = await all<{ blockTime: number; event: string }>(base, "/v1/ledger", keys.auditor);
    const times = rows.map((r) => r.blockTime);
    expect(Math.max(...times)).to.be.at.most(wall + 5);
    expect(wall - Math.min(...times), "the first ledger row's age (s)").to.be.above(55 * 86_400);
    const days = new Set(times.map((t) => Math.floor((t + 8 * 3600) / 86_400)));
    expect(days.size, "Beijing days with ledger rows").to.be.at.least(5);
    const before = await snapshot(base, keys);
    const deploymentBefore = fs.readFileSync(path.join(dir, "data", "deployment.json"), "utf8");
    expect(before.ledger.length).to.be.greaterThan(40);
    expect(before.cards.length).to.be.greaterThan(20);
    expect(before.merchants.some((m) => (m as { status?: string }).status === "frozen")).to.equal(true);

    // Every process ends on SIGTERM, and the gateway's shutdown ran to its end (it removes the pid file last).
    expect(await stop(platform), platform.output().slice(-3000)).to.equal(true);
    expect(fs.existsSync(path.join(dir, "data", "gateway.pid"))).to.equal(false);
    expect(platform.output()).to.not.contain("npm start failed");

    platform = npmStart(dir, env);
    await waitForHealth(base, platform, 240_000);
    // The recorded deployment was checked against the chain and reused: same contracts, no new keys.
    expect(fs.readFileSync(path.join(dir, "data", "deployment.json"), "utf8")).to.equal(deploymentBefore);
    expect(platform.output()).to.contain(`escrow ${JSON.parse(deploymentBefore).escrow}`);
    expect(platform.output()).not.to.contain("New API keys");
    const after = await snapshot(base, keys);
    expect(after.ledger).to.deep.equal(before.ledger);
    expect(after.merchants).to.deep.equal(before.merchants);
    expect(after.cards).to.deep.equal(before.cards);
    expect(after.positions).to.deep.equal(before.positions);
  });
});
