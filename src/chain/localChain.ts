/**
 * The local chain of `npm start`, kept across any number of restarts and crashes.
 *
 * Anvil's own `--state` is a development convenience, not a store (see chainState.ts and the toolchain notes): every
 * start adds a genesis block to the file, nothing is written before a clean exit unless `--state-interval` is given,
 * and a write cut short leaves a file that cannot be loaded. So the node never writes a file here. This module:
 * - takes snapshots through `anvil_dumpState` (gzip) every few seconds while blocks are being made, and at a clean
 *   stop: written to a temporary file, flushed to disk, then renamed over `state.json.gz`; the copy it replaces is
 *   kept as `state.1.json.gz`, the one before as `state.2.json.gz`. A snapshot whose head is lower than the last good
 *   one never replaces it.
 * - at start, loads the newest copy that is good: checked and repaired (extra genesis blocks dropped) in a worker
 *   thread with its own heap, written as `state.load.json`, loaded with `--load-state`. A damaged copy is moved aside
 *   (`…damaged-<time>`), never deleted, and the start says what it did.
 * - checks that the loaded chain has the genesis recorded at the first start (`genesis.json`).
 * - starts the node mining on demand (each transaction its own block), so the gateway can send again what the crash
 *   lost in the order it was first sent, then switches to a block a second (`startMining`).
 * - records the node's pid (`anvil.pid`), so a start after a crash of the parent stops a node left holding the port.
 *
 * What a crash (kill -9, power cut) loses on the chain is at most the blocks after the last snapshot; the gateway
 * keeps every transaction it signs or relays (tx_journal) and sends again whatever the loaded chain lacks.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { Worker } from "node:worker_threads";
import { AnvilNode, startAnvil } from "./anvil";
import { DamagedStateError, inspectState, Inspection } from "./chainState";
import { livePid, processAlive } from "../pidFile";

export interface GenesisRecord {
  hash: string;
  timestamp: number;
  chainId: number;
}

export interface LocalChainOptions {
  dir: string;
  port: number;
  /** Seconds between blocks once mining starts. */
  blockTime?: number;
  /** Milliseconds between snapshots while the head moves (stretched to 10× the time a dump takes). */
  snapshotIntervalMs?: number;
  /**
   * Unix seconds of the genesis block of a NEW chain (nothing to load): a demo's history lies in the past and its
   * clock is then moved forward up to now. Ignored when a state is loaded (its clock goes on at the wall clock).
   */
  genesisTimestamp?: number;
  log: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void; error(o: object, msg?: string): void };
}

export interface LocalChain {
  url: string;
  node: AnvilNode;
  /** The head of the loaded state (-1 for a new chain): blocks after it were made since this start. */
  loadedHead: number;
  /** What the start repaired or fell back to, in words. */
  notes: string[];
  genesis: GenesisRecord;
  /** Switches from a block per transaction to a block every `blockTime` seconds, and starts the snapshots. */
  startMining(): Promise<void>;
  /** Takes a snapshot now (after a deployment, before the record of it is written). */
  snapshot(reason: string): Promise<void>;
  /** A last snapshot, then the node stopped. */
  stop(): Promise<void>;
}

export const STATE = "state.json.gz";
const COPIES = [STATE, "state.1.json.gz", "state.2.json.gz"] as const;
/** Written by Anvil's `--state` in earlier versions of this platform: read once, if nothing newer is there. */
const LEGACY = "state.json";

function fsyncDir(dir: string) {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* some file systems refuse a directory fsync: the rename is still atomic */
  }
}

function writeDurably(file: string, data: Buffer | string) {
  const fd = fs.openSync(file, "w", 0o600);
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function readGenesis(dir: string): GenesisRecord | null {
  const file = path.join(dir, "genesis.json");
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, "utf8")) as GenesisRecord;
}

/** Reads a state copy (gzip or plain JSON), checks and repairs it, and writes what the node should load. */
export function prepareStateFile(src: string, out: string, genesisTimestamp?: number): Inspection {
  let bytes = fs.readFileSync(src);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (err) {
      throw new DamagedStateError(`not a whole gzip file (${(err as Error).message})`);
    }
  }
  let state: unknown;
  try {
    state = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new DamagedStateError(`not JSON (${(err as Error).message.slice(0, 120)})`);
  }
  const inspection = inspectState(state, { genesisTimestamp });
  writeDurably(out, JSON.stringify(state));
  return inspection;
}

/** prepareStateFile in a worker thread with its own heap: a large state is parsed outside the gateway's heap limit. */
function prepareInWorker(src: string, out: string, genesisTimestamp?: number): Promise<Inspection> {
  const self = __filename;
  const hook = self.endsWith(".ts") ? `require(${JSON.stringify(require.resolve("ts-node/register/transpile-only"))});` : "";
  const code = `${hook}
    const { parentPort, workerData } = require("node:worker_threads");
    try {
      const r = require(${JSON.stringify(self)}).prepareStateFile(workerData.src, workerData.out, workerData.genesisTimestamp);
      parentPort.postMessage({ ok: r });
    } catch (err) {
      parentPort.postMessage({ damaged: err && err.constructor && err.constructor.name === "DamagedStateError", message: String(err && err.message || err) });
    }`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { src, out, genesisTimestamp }, resourceLimits: { maxOldGenerationSizeMb: 4096 } });
    w.once("message", (m: { ok?: Inspection; damaged?: boolean; message?: string }) => {
      if (m.ok) resolve(m.ok);
      else reject(m.damaged ? new DamagedStateError(m.message) : new Error(m.message));
      void w.terminate();
    });
    // The worker itself failing (out of memory, say) says nothing of the file: the start stops rather than set it aside.
    w.once("error", (err) => reject(new Error(`reading ${src} failed: ${err.message}`)));
    w.once("exit", (code) => reject(new Error(`reading ${src} stopped (worker exit ${code})`)));
  });
}

/** Stops a chain node an earlier start left running (its parent was killed), so its port is free again. */
async function stopLeftover(dir: string, log: LocalChainOptions["log"]) {
  const file = path.join(dir, "anvil.pid");
  const pid = livePid(file, "anvil");
  fs.rmSync(file, { force: true });
  if (!pid) return;
  process.kill(pid, "SIGKILL");
  for (let i = 0; i < 100 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  log.warn({ pid }, "stopped a chain node an earlier start left running");
}

/** The copies to try, newest first: the current one, the two before it, then a legacy Anvil --state file. */
function candidates(dir: string): string[] {
  const list = COPIES.map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f));
  const legacy = path.join(dir, LEGACY);
  if (fs.existsSync(legacy)) list.push(legacy);
  return list;
}

export async function startLocalChain(opts: LocalChainOptions): Promise<LocalChain> {
  const { dir, log } = opts;
  fs.mkdirSync(dir, { recursive: true });
  await stopLeftover(dir, log);
  // A temporary snapshot left by a crash mid-write is not trusted (the copy it was to replace is whole).
  fs.rmSync(path.join(dir, `${STATE}.tmp`), { force: true });
  const notes: string[] = [];
  let genesis = readGenesis(dir);
  const loadFile = path.join(dir, "state.load.json");
  let loaded: { file: string; inspection: Inspection } | null = null;
  const refused: string[] = [];
  for (const file of candidates(dir)) {
    try {
      const inspection = await prepareInWorker(file, loadFile, genesis?.timestamp);
      loaded = { file, inspection };
      break;
    } catch (err) {
      if (!(err instanceof DamagedStateError)) throw err;
      refused.push(`${path.basename(file)}: ${err.message}`);
    }
  }
  const tried = candidates(dir);
  if (!loaded && tried.length > 0) {
    throw new Error(
      `cannot load the local chain: no copy in ${dir} is good (${refused.join("; ")}). ` +
        `Restore a copy you trust with \`npm run cli -- chain-state restore <file>\` (\`npm run cli -- chain-state list\` shows them), ` +
        `or move ${path.dirname(dir)} aside to start a new platform`,
    );
  }
  if (loaded) {
    // Every copy newer than the one loaded was damaged: moved aside, never deleted, so a worse copy replaces nothing.
    for (const file of tried.slice(0, tried.indexOf(loaded.file))) {
      const aside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      fs.renameSync(file, aside);
      notes.push(`${path.basename(file)} could not be loaded (${refused.find((r) => r.startsWith(path.basename(file) + ":"))?.split(": ").slice(1).join(": ")}); moved to ${path.basename(aside)}`);
    }
    if (tried.indexOf(loaded.file) > 0 || path.basename(loaded.file) === LEGACY) notes.push(`loaded ${path.basename(loaded.file)} (head ${loaded.inspection.best})`);
    notes.push(...loaded.inspection.repairs.map((r) => `${path.basename(loaded!.file)}: ${r}`));
  }

  const node = await startAnvil({ port: opts.port, loadStateFile: loaded ? loadFile : undefined, genesisTimestamp: loaded ? undefined : opts.genesisTimestamp, logFile: path.join(dir, "anvil.log"), ownGroup: true });
  fs.writeFileSync(path.join(dir, "anvil.pid"), String(node.process.pid));
  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(node.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    const body = (await res.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  };
  const stopNode = async () => {
    await node.stop();
    fs.rmSync(path.join(dir, "anvil.pid"), { force: true });
  };

  let loadedHead = -1;
  try {
    const g = await rpc<{ hash: string; timestamp: string }>("eth_getBlockByNumber", ["0x0", false]);
    const chainId = Number(await rpc<string>("eth_chainId"));
    const onChain: GenesisRecord = { hash: g.hash, timestamp: Number(g.timestamp), chainId };
    if (genesis && (genesis.hash !== onChain.hash || genesis.chainId !== onChain.chainId)) {
      throw new Error(
        `the local chain loaded from ${loaded ? path.basename(loaded.file) : "nothing"} has genesis ${onChain.hash}, but this platform's chain began with ${genesis.hash} (${path.join(dir, "genesis.json")}): ` +
          "restore a copy of that chain with `npm run cli -- chain-state restore <file>`, or move the data directory aside to start a new platform",
      );
    }
    if (!genesis) {
      genesis = onChain;
      writeDurably(path.join(dir, "genesis.json"), JSON.stringify(genesis, null, 2));
      fsyncDir(dir);
    }
    loadedHead = loaded ? Number(await rpc<string>("eth_blockNumber")) : -1;
  } catch (err) {
    await stopNode();
    throw err;
  }

  let lastGoodHead = loadedHead;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = false;
  let lastFailure = 0;
  const interval = opts.snapshotIntervalMs ?? 2_000;
  let nextDelay = interval;

  async function takeSnapshot(reason: string, force: boolean): Promise<void> {
    const head = Number(await rpc<string>("eth_blockNumber"));
    if (!force && head === lastGoodHead) return;
    if (head < lastGoodHead) {
      log.error({ head, lastGoodHead }, "the chain's head is below the last snapshot's: not replacing it");
      return;
    }
    const t0 = Date.now();
    const hex = await rpc<string>("anvil_dumpState");
    const buf = Buffer.from(hex.slice(2), "hex");
    if (buf.length < 20 || buf[0] !== 0x1f || buf[1] !== 0x8b) throw new Error("anvil_dumpState did not return a gzip state");
    const tmp = path.join(dir, `${STATE}.tmp`);
    writeDurably(tmp, buf);
    const [cur, one, two] = [path.join(dir, COPIES[0]), path.join(dir, COPIES[1]), path.join(dir, COPIES[2])];
    if (fs.existsSync(one)) fs.renameSync(one, two);
    if (fs.existsSync(cur)) fs.linkSync(cur, one);
    fs.renameSync(tmp, cur);
    fsyncDir(dir);
    lastGoodHead = head;
    const ms = Date.now() - t0;
    nextDelay = Math.max(interval, ms * 10);
    if (reason !== "interval") log.info({ reason, head, bytes: buf.length, ms }, "chain snapshot written");
  }

  function snapshot(reason: string, force = true): Promise<void> {
    const run = (running ?? Promise.resolve()).then(() => takeSnapshot(reason, force));
    running = run.catch(() => undefined).then(() => {
      running = null;
    });
    return run;
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(() => {
      snapshot("interval", false)
        .catch((err) => {
          // Full disk, a node that stopped answering: the last good copy stays; said once a minute at most.
          if (Date.now() - lastFailure > 60_000) log.error({ err: (err as Error).message }, "chain snapshot failed; the last good copy is kept");
          lastFailure = Date.now();
        })
        .finally(schedule);
    }, nextDelay);
    timer.unref();
  }

  return {
    url: node.url,
    node,
    loadedHead,
    notes,
    genesis,
    async startMining() {
      await rpc("evm_setIntervalMining", [opts.blockTime ?? 1]);
      schedule();
    },
    snapshot: (reason: string) => snapshot(reason, true),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      try {
        await rpc("evm_setAutomine", [false]).catch(() => undefined);
        await rpc("evm_setIntervalMining", [0]).catch(() => undefined);
        await snapshot("stop", false);
      } catch (err) {
        log.error({ err: (err as Error).message }, "the last chain snapshot failed; the previous copy is kept");
      } finally {
        await stopNode();
      }
    },
  };
}
