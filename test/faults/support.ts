import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

export interface GatewayProcess {
  child: ChildProcess;
  /** http://127.0.0.1:port once it listens. */
  url: string;
  pid: number;
  /** Everything it logged (pino JSON lines). */
  log(): string;
  /** SIGKILL: no clean-up of any kind runs. */
  kill(): Promise<void>;
  /** SIGTERM and wait for a clean exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * Starts src/main.ts (the gateway alone) as a separate process with `env` on top of a minimal environment, and
 * waits until it logs "gateway listening". PORT defaults to 0 (any free port); the port is read from the log.
 */
export async function spawnGateway(env: Record<string, string>, opts: { logFile?: string; timeoutMs?: number; execArgv?: string[] } = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...(opts.execArgv ?? []), "-r", "ts-node/register/transpile-only", path.join(ROOT, "src/main.ts")], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const sink = opts.logFile ? fs.createWriteStream(opts.logFile, { flags: "a" }) : null;
  const onData = (b: Buffer) => {
    const s = b.toString();
    // Keep the last 2 MB in memory; a long benchmark logs more than that.
    out = (out + s).slice(-2_000_000);
    sink?.write(s);
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => { sink?.end(); resolve(code); }));
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  let port = 0;
  while (!port) {
    const m = /"port":(\d+)[^\n]*"msg":"gateway listening"|"msg":"gateway listening"[^\n]*"port":(\d+)/.exec(out);
    if (m) port = Number(m[1] ?? m[2]);
    else if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the gateway exited (${child.exitCode ?? child.signalCode}) before listening:\n${out.slice(-3000)}`);
    else if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the gateway did not listen within ${(opts.timeoutMs ?? 90_000) / 1000} s:\n${out.slice(-3000)}`);
    } else await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    log: () => out,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** JSON over HTTP with an API key (the platform as its users see it). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON answer of any shape; callers name T where they read it
export async function call<T = any>(base: string, key: string | null, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const send = () => fetch(base + p, {
    method,
    headers: { ...(key ? { "x-api-key": key } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  // A kept-alive connection the server closed as it was reused (its keep-alive timeout) never reached the handler:
  // sent again once, on a new connection.
  const res = await send().catch((err) => (/ECONNRESET|other side closed/.test(String((err as Error).cause ?? "")) ? send() : Promise.reject(err)));
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed as T };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until `fn` returns a truthy value (re-trying after errors), or throws with `what` after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await sleep(everyMs);
  }
}

export type ProxyMode = "pass" | "down" | "error";

/**
 * A small HTTP proxy in front of a JSON-RPC node, to play a faulty node: "pass" forwards (after `delayMs`, and
 * eth_getLogs after `logsDelayMs`), "error" answers HTTP 503, "down" drops the connection without answering.
 */
export async function rpcProxy(target: string): Promise<{ url: string; mode: ProxyMode; delayMs: number; logsDelayMs: number; maxLogsRange: number; hits: number; close(): Promise<void> }> {
  const http = await import("node:http");
  const state = { mode: "pass" as ProxyMode, delayMs: 0, logsDelayMs: 0, maxLogsRange: 0, hits: 0 };
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      state.hits++;
      const body = Buffer.concat(chunks).toString();
      if (state.mode === "down") return req.socket.destroy();
      if (state.mode === "error") {
        res.statusCode = 503;
        return res.end("node unavailable");
      }
      const isLogs = body.includes('"eth_getLogs"');
      const delay = state.delayMs + (isLogs ? state.logsDelayMs : 0);
      if (delay) await sleep(delay);
      if (isLogs && state.maxLogsRange) {
        // Like a node with a result limit: a range of more than maxLogsRange blocks is refused.
        const q = JSON.parse(body) as { id: number; params: [{ fromBlock: string; toBlock: string }] };
        if (Number(q.params[0].toBlock) - Number(q.params[0].fromBlock) + 1 > state.maxLogsRange) {
          res.setHeader("content-type", "application/json");
          return res.end(JSON.stringify({ jsonrpc: "2.0", id: q.id, error: { code: -32005, message: "query returned more than 10000 results" } }));
        }
      }
      try {
        const r = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
        res.statusCode = r.status;
        res.setHeader("content-type", "application/json");
        res.end(Buffer.from(await r.arrayBuffer()));
      } catch {
        req.socket.destroy();
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  const proxy = {
    url: `http://127.0.0.1:${port}`,
    get mode() { return state.mode; },
    set mode(m: ProxyMode) { state.mode = m; },
    get delayMs() { return state.delayMs; },
    set delayMs(n: number) { state.delayMs = n; },
    get logsDelayMs() { return state.logsDelayMs; },
    get maxLogsRange() { return state.maxLogsRange; },
    set maxLogsRange(n: number) { state.maxLogsRange = n; },
    set logsDelayMs(n: number) { state.logsDelayMs = n; },
    get hits() { return state.hits; },
    close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }),
  };
  return proxy;
}
