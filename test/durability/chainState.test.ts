import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { expect } from "chai";
import { freePort, startAnvil } from "../../src/chain/anvil";
import { inspectState, DamagedStateError } from "../../src/chain/chainState";
import { LocalChain, prepareStateFile, readGenesis, startLocalChain, STATE } from "../../src/chain/localChain";
import { runCli } from "../../scripts/cli";

/**
 * The local chain's state copies (src/chain/localChain.ts) on a real Anvil node: any number of restarts keep the
 * genesis; a copy with several genesis blocks is repaired; a copy cut short or not JSON is moved aside and the one
 * before it loaded, with a note saying so; when no copy is good the start refuses with one line naming the file and
 * the command, and that command works; a snapshot with a lower head never replaces the last good one.
 */
const ROOT = path.resolve(__dirname, "../..");
const silent = { info() {}, warn() {}, error() {} };

async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await res.json()) as { result: T; error?: { message: string } };
  if (body.error) throw new Error(body.error.message);
  return body.result;
}
const head = async (url: string) => Number(await rpc<string>(url, "eth_blockNumber"));
const genesisHash = async (url: string) => (await rpc<{ hash: string }>(url, "eth_getBlockByNumber", ["0x0", false])).hash;

describe("durability: the local chain's state copies", function () {
  this.timeout(300_000);
  let dir: string;
  let chain: LocalChain | null = null;
  const started: LocalChain[] = [];
  const start = async (d: string) => {
    chain = await startLocalChain({ dir: d, port: await freePort(), log: silent, snapshotIntervalMs: 200 });
    started.push(chain);
    return chain;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "chainstate-"));
  });
  afterEach(async () => {
    for (const c of started.splice(0)) await c.stop().catch(() => undefined);
    chain = null;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps its genesis and every block over repeated restarts, each start's extra genesis dropped", async () => {
    let c = await start(dir);
    const genesis = await genesisHash(c.url);
    let last = 0;
    for (let i = 0; i < 6; i++) {
      await rpc(c.url, "anvil_mine", ["0x3"]);
      last = await head(c.url);
      await c.stop();
      await new Promise((r) => setTimeout(r, 1100)); // a new second: a new start's genesis would differ
      c = await start(dir);
      expect(await genesisHash(c.url), `restart ${i}`).to.equal(genesis);
      expect(await head(c.url), `restart ${i}`).to.equal(last);
      expect(c.loadedHead).to.equal(last);
    }
    expect(readGenesis(dir)!.hash).to.equal(genesis);
  });

  it("repairs a file Anvil's own --state left with several genesis blocks, and says what it did", async () => {
    // Anvil 1.7.1's --state, restarted three times: the file holds a block 0 per start.
    const legacy = path.join(dir, "state.json");
    let first = "";
    for (let i = 0; i < 3; i++) {
      const node = await startAnvil({ stateFile: legacy });
      if (i === 0) first = await genesisHash(node.url);
      await rpc(node.url, "anvil_mine", ["0x2"]);
      await node.stop();
      await new Promise((r) => setTimeout(r, 1100));
    }
    const state = JSON.parse(fs.readFileSync(legacy, "utf8"));
    expect(state.blocks.filter((b: { header: { number: string } }) => Number(b.header.number) === 0).length).to.equal(3);
    const c = await start(dir);
    expect(await genesisHash(c.url)).to.equal(first);
    expect(await head(c.url)).to.equal(6);
    expect(c.notes.join("\n")).to.match(/dropped 2 extra genesis blocks/);
  });

  for (const [damage, how, reason] of [
    ["cut short", (f: string) => fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 300)), /not a whole gzip file/],
    ["not JSON", (f: string) => fs.writeFileSync(f, zlib.gzipSync("{ this is not a chain state")), /not JSON/],
  ] as const) {
    it(`a current copy ${damage} is moved aside and the one before it loaded, with a note`, async () => {
      let c = await start(dir);
      await rpc(c.url, "anvil_mine", ["0x2"]);
      await c.snapshot("test");
      const before = await head(c.url);
      await rpc(c.url, "anvil_mine", ["0x2"]);
      await c.stop();
      how(path.join(dir, STATE));
      c = await start(dir);
      expect(await head(c.url)).to.equal(before);
      const notes = c.notes.join("\n");
      expect(notes).to.match(reason);
      expect(notes).to.match(/moved to state\.json\.gz\.damaged-/);
      expect(fs.readdirSync(dir).some((f) => f.startsWith(`${STATE}.damaged-`)), "the damaged copy is kept").to.equal(true);
    });
  }

  it("with no good copy, refuses in one line naming the file and the command; the command works when followed", async () => {
    const dataDir = dir;
    const chainDir = path.join(dataDir, "chain");
    let c = await start(chainDir);
    await rpc(c.url, "anvil_mine", ["0x4"]);
    const want = await head(c.url);
    await c.stop();
    const backup = path.join(dataDir, "backup-state.json.gz");
    fs.copyFileSync(path.join(chainDir, STATE), backup);
    for (const f of fs.readdirSync(chainDir).filter((x) => x.startsWith("state") && x.endsWith(".gz"))) fs.writeFileSync(path.join(chainDir, f), "garbage");
    const err = await start(chainDir).then(() => null, (e: Error) => e);
    expect(err, "the start refuses").to.be.instanceOf(Error);
    expect(err!.message.split("\n")).to.have.length(1);
    expect(err!.message).to.include(STATE).and.to.include("npm run cli -- chain-state restore");
    expect(await portHolders(), "no node left running").to.equal(0);
    // Followed: list the copies, restore the backup, start.
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t), env: { ...process.env, DATA_DIR: dataDir } };
    expect(await runCli(["chain-state", "list"], io)).to.equal(0);
    expect(out.join("")).to.match(/cannot be loaded/);
    expect(await runCli(["chain-state", "restore", backup], io), out.join("")).to.equal(0);
    expect(out.join("")).to.match(/restored backup-state\.json\.gz \(head \d+\) as state\.json\.gz/);
    c = await start(chainDir);
    expect(await head(c.url)).to.equal(want);
  });

  it("a snapshot whose head is below the last good one never replaces it", async () => {
    const c = await start(dir);
    const id = await rpc<string>(c.url, "evm_snapshot");
    await rpc(c.url, "anvil_mine", ["0x5"]);
    await c.snapshot("five blocks");
    await rpc(c.url, "evm_revert", [id]);
    expect(await head(c.url)).to.equal(0);
    await c.snapshot("after the revert");
    const tmp = path.join(dir, "check.json");
    expect(prepareStateFile(path.join(dir, STATE), tmp).best).to.equal(5);
  });

  it("inspectState refuses a state missing a block below its best one, naming it", () => {
    const header = (n: number, t: number) => ({ header: { number: "0x" + n.toString(16), timestamp: "0x" + t.toString(16), parentHash: "0x" } });
    expect(() => inspectState({ accounts: {}, best_block_number: 3, blocks: [header(0, 10), header(1, 11), header(3, 13)] })).to.throw(DamagedStateError, /block 2 is missing/);
    expect(() => inspectState({ accounts: {}, best_block_number: 1, blocks: [header(1, 11)] })).to.throw(DamagedStateError, /no genesis/);
    const s = { accounts: {}, best_block_number: 1, blocks: [header(0, 20), header(1, 11), header(0, 10)] };
    expect(inspectState(s).genesisTimestamp).to.equal(10);
    expect(s.blocks).to.have.length(2);
  });

  it("a failed start (its port taken) stops the chain node it started: nothing keeps holding a port", async () => {
    const taken = net.createServer();
    const port = await freePort();
    await new Promise<void>((r) => taken.listen(port, "127.0.0.1", () => r()));
    const chainPort = await freePort();
    try {
      const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, "scripts/start.ts")], {
        cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), DATA_DIR: path.join(dir, "data"), PORT: String(port), CHAIN_PORT: String(chainPort), LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      child.stderr!.on("data", (d) => (out += d));
      const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
      expect(code, out).to.equal(1);
      expect(out).to.match(/npm start failed: cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
      const alive = await fetch(`http://127.0.0.1:${chainPort}`, { method: "POST", body: "{}", signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
      expect(alive, "the chain node's port is free").to.equal(false);
      expect(fs.existsSync(path.join(dir, "data", "chain", "anvil.pid")), "no node recorded as running").to.equal(false);
    } finally {
      taken.close();
    }
  });

  async function portHolders(): Promise<number> {
    const pidFile = path.join(dir, "chain", "anvil.pid");
    return fs.existsSync(pidFile) ? 1 : 0;
  }
});
