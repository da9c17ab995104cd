import { ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import fs from "node:fs";

/** Anvil's (and Hardhat's) well-known development mnemonic: local chains only, never a real network. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

export interface AnvilOptions {
  port?: number;
  host?: string;
  /** Seconds between blocks, like a QBFT validator; omitted: a block per transaction. */
  blockTime?: number;
  /** Loads state from this file at start and writes it back on a clean stop. */
  stateFile?: string;
  /** With stateFile: also write the state every this many seconds (a crash loses at most that much). */
  stateInterval?: number;
  /** Loads state from this file at start and writes nothing (localChain.ts keeps the snapshots). */
  loadStateFile?: string;
  /**
   * The node in a process group of its own, so a terminal's Ctrl-C (sent to the whole foreground group) reaches only
   * the parent, which takes a last snapshot before it stops the node; a watchdog kills the node the moment the parent
   * dies in any other way (kill -9), so it never keeps holding its port.
   */
  ownGroup?: boolean;
  chainId?: number;
  accounts?: number;
  /** Write the node's output here (default: discarded). */
  logFile?: string;
  /** A new chain only (no state loaded): Unix seconds of its genesis block, in the past for a chain with a history. */
  genesisTimestamp?: number;
}

export interface AnvilNode {
  url: string;
  port: number;
  process: ChildProcess;
  /** SIGTERM (Anvil saves --state on it), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  kill(): void;
}

export function anvilBinary(): string {
  const pkg = require.resolve("@foundry-rs/anvil-linux-amd64/package.json");
  const bin = path.join(path.dirname(pkg), "bin", "anvil");
  if (!fs.existsSync(bin)) throw new Error(`anvil binary not found at ${bin}: run npm ci`);
  return bin;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts Anvil as a separate process on loopback and waits until it answers JSON-RPC. */
export async function startAnvil(opts: AnvilOptions = {}): Promise<AnvilNode> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? (await freePort());
  const args = ["--host", host, "--port", String(port), "--mnemonic", DEV_MNEMONIC, "--accounts", String(opts.accounts ?? 20),
    "--chain-id", String(opts.chainId ?? 31337), "--hardfork", "cancun", "--gas-price", "0", "--base-fee", "0",
    "--code-size-limit", "24576", "--gas-limit", "60000000"];
  if (opts.blockTime) args.push("--block-time", String(opts.blockTime));
  if (opts.stateFile) args.push("--state", opts.stateFile);
  if (opts.stateFile && opts.stateInterval) args.push("--state-interval", String(opts.stateInterval));
  if (opts.loadStateFile) args.push("--load-state", opts.loadStateFile);
  // A new chain whose genesis lies in the past: its clock then runs on from there (Anvil keeps the offset).
  if (opts.genesisTimestamp !== undefined && !opts.loadStateFile) args.push("--timestamp", String(opts.genesisTimestamp));
  const out = opts.logFile ? fs.openSync(opts.logFile, "a") : "ignore";
  const child = spawn(anvilBinary(), args, { stdio: ["ignore", out, out], detached: Boolean(opts.ownGroup) });
  if (opts.ownGroup) {
    // Reads its stdin, a pipe from this process, until it closes: when this process dies, the node goes with it.
    const watchdog = spawn("/bin/sh", ["-c", `read _ignored; kill -KILL ${child.pid} 2>/dev/null`], { stdio: ["pipe", "ignore", "ignore"], detached: true });
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
    child.once("exit", () => watchdog.kill("SIGKILL"));
  }
  const url = `http://${host}:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`anvil exited with code ${child.exitCode} (args: ${args.join(" ")})`);
    try {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }) });
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`anvil did not answer on ${url} within 20 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    process: child,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
    kill() {
      child.kill("SIGKILL");
    },
  };
}
