import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startAnvil } from "../src/chain/anvil";
import { createRpc } from "../src/chain/rpc";
import { createIndexer } from "../src/sync/indexer";
import { createLogger } from "../src/logger";
import { openDb } from "../src/store/db";
import { migrate } from "../src/store/migrations";

async function main() {
  const dir = path.join(os.tmpdir(), "custody-bench-index");
  const meta = fs.readdirSync(dir).find((f) => f.endsWith(".meta.json"))!;
  const info = JSON.parse(fs.readFileSync(path.join(dir, meta), "utf8"));
  const src = path.join(dir, meta.replace(".meta.json", ".anvil-state.json"));
  const copy = "/tmp/prof-state.json";
  fs.copyFileSync(src, copy);
  let t = Date.now();
  const node = await startAnvil({ stateFile: copy, accounts: 26 });
  console.log("anvil loaded in", Date.now() - t, "ms");
  try {
    const db = await openDb({ dataDir: process.env.DATADIR ?? ":memory:" });
    const qt = new Map<string, { n: number; ms: number }>();
    const origTx = db.transaction.bind(db);
    (db as any).transaction = (fn: any) => origTx((tx: any) => fn({ query: async (sql: string, params?: unknown[]) => {
      const key = sql.replace(/\s+/g, " ").slice(0, 40);
      const t0 = process.hrtime.bigint();
      try { return await tx.query(sql, params); } finally {
        const e = qt.get(key) ?? { n: 0, ms: 0 }; e.n++; e.ms += Number(process.hrtime.bigint() - t0) / 1e6; qt.set(key, e);
      }
    } }));
    process.on("exit", () => { for (const [k, v] of [...qt].sort((a, b) => b[1].ms - a[1].ms)) console.log(String(Math.round(v.ms)).padStart(7), String(v.n).padStart(5), k); });
    await migrate(db);
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const iv = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
    const rpc = createRpc({ urls: [node.url], timeoutMs: 120_000 });
    const indexer = createIndexer({
      db, rpc, contracts: { escrow: info.deployment.escrow, registry: info.deployment.registry }, startBlock: info.deployment.startBlock,
      confirmations: 0, logger: createLogger(process.env.LOG_LEVEL ?? "warn"), pollIntervalMs: 50,
      initialRange: Number(process.env.INIT ?? 2000), maxRange: Number(process.env.MAXR ?? 50000),
      onBatch: (b) => { if (process.env.VERBOSE) console.log(Date.now() - t, b, Math.round(process.memoryUsage().rss / 1048576)); },
    });
    t = Date.now();
    const cpu0 = process.cpuUsage();
    await indexer.start();
    await indexer.syncTo(Number(process.env.SYNC_TO ?? info.head));
    const s = (Date.now() - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    console.log(`cpu user ${(cpu.user / 1e6).toFixed(1)}s sys ${(cpu.system / 1e6).toFixed(1)}s of wall ${s}s`);
    await indexer.stop();
    clearInterval(iv);
    console.log(`${indexer.status.eventsIndexed} events in ${s}s = ${Math.round(indexer.status.eventsIndexed / s)}/s; rss before ${Math.round(rssBefore / 1048576)} peak ${Math.round(peak / 1048576)}`);
    await db.close();
  } finally {
    await node.stop(1000); // do not wait for the dump
    node.kill();
  }
}
main();
