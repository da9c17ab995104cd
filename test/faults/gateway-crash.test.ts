import path from "node:path";
import { expect } from "chai";
import { AnvilNode } from "../../src/chain/anvil";
import { createRpc } from "../../src/chain/rpc";
import { driveActivity } from "../support/chain";
import {
  District, drained, expectConserved, expectEachVoucherOnce, expectSameAsCleanResync, faultChain, gatewayFiles, intervalMining, issueKeys,
  scratch, submitVouchers, usedNow, withDb,
} from "./harness";
import { call, GatewayProcess, rpcProxy, spawnGateway, until } from "./support";

/**
 * The gateway (src/main.ts, a separate process, its store embedded PGlite on disk) killed with SIGKILL at the worst
 * moments. Each case ends by proving nothing was lost or doubled: the index equals a clean re-sync of the chain,
 * balances conserve, and every accepted voucher is on chain exactly once. Killing the process that holds the PGlite
 * data directory is also the "embedded store closed uncleanly" case: the directory is reopened after each kill.
 */
describe("faults: the gateway killed with SIGKILL", function () {
  this.timeout(300_000);
  let node: AnvilNode;
  let district: District;
  let work: ReturnType<typeof scratch>;
  let env: Record<string, string>;
  let proxy: Awaited<ReturnType<typeof rpcProxy>>;
  let keys: Awaited<ReturnType<typeof issueKeys>>;
  let gw: GatewayProcess | null = null;
  const pglite = () => path.join(work.dir, "pglite");
  const head = async () => Number(await createRpc({ urls: [node.url] }).send<string>("eth_blockNumber"));

  before(async () => {
    work = scratch("crash");
    ({ node, district } = await faultChain());
    await driveActivity(district, 0);
    await driveActivity(district, 1);
    proxy = await rpcProxy(node.url);
    ({ env } = await gatewayFiles(work.dir, district));
    keys = await withDb({ dataDir: pglite() }, (db) => issueKeys(db, district));
  });
  afterEach(async () => {
    await gw?.kill();
    gw = null;
  });
  after(async function () {
    await proxy?.close();
    await node?.stop();
    if (process.env.FAULTS_KEEP === "1") console.log(`kept ${work.dir}`);
    else work?.cleanup();
  });

  let runs = 0;
  const start = () => spawnGateway({ ...env, CHAIN_RPC_URL: proxy.url }, { logFile: path.join(work.dir, `gateway-${++runs}.log`) });

  /** Stops the gateway cleanly, then checks its store against a clean re-sync and the chain's balances. */
  async function stopAndCheck(): Promise<void> {
    await gw!.stop();
    gw = null;
    await withDb({ dataDir: pglite() }, async (db) => {
      await expectSameAsCleanResync(db, node.url, district);
      await expectConserved(db, district);
    });
  }

  it("during historical sync: the reopened store is consistent at its checkpoint, and the resumed index equals a clean re-sync", async () => {
    // A node that refuses log ranges over 8 blocks, slowly: historical sync takes many ranges, each committed on its own.
    proxy.maxLogsRange = 8;
    proxy.logsDelayMs = 300;
    gw = await start();
    const target = await head();
    const at = await until("a first range committed", async () => {
      const h = await call(gw!.url, null, "GET", "/health");
      return h.body.indexedBlock >= district.deployment.startBlock ? h.body : null;
    }, 60_000, 25);
    await gw.kill();
    gw = null;
    expect(at.indexedBlock, "killed before the index reached the head").to.be.lessThan(target);
    // The embedded store, closed uncleanly by the kill: it opens, and holds nothing past its checkpoint.
    await withDb({ dataDir: pglite() }, async (db) => {
      const [cp] = await db.query<{ block_number: string }>("SELECT block_number FROM checkpoint WHERE id = 1");
      expect(Number(cp.block_number)).to.be.lessThan(target);
      const [beyond] = await db.query<{ n: string }>("SELECT count(*) AS n FROM ledger WHERE block_number > $1", [cp.block_number]);
      expect(Number(beyond.n)).to.equal(0);
    });
    proxy.logsDelayMs = 0;
    proxy.maxLogsRange = 0;
    gw = await start();
    await drained(gw.url, node.url);
    await stopAndCheck();
  });

  it("during live sync: restarted, it indexes what happened while it was dead, once", async () => {
    gw = await start();
    await drained(gw.url, node.url);
    const activity = driveActivity(district, 3);
    // Killed while the chain is busy (the node mines a block per transaction here).
    await until("new events indexed", async () => (await call(gw!.url, null, "GET", "/health")).body.indexedBlock > (await head()) - 30 || null, 60_000, 50);
    await gw.kill();
    gw = null;
    await activity;
    gw = await start();
    await drained(gw.url, node.url);
    await stopAndCheck();
  });

  it("while batched submissions are in flight: every accepted voucher is on chain exactly once, none dropped", async () => {
    await intervalMining(node.url, 1); // a block a second, so batches wait in the node's pool
    gw = await start();
    await drained(gw.url, node.url);
    const before = await usedNow(district);
    const accepted = await submitVouchers(gw.url, keys.merchants, district, 3);
    // Killed with vouchers accepted and not yet confirmed (queued, or sent and waiting for a block).
    const [merchantId, key] = [...keys.merchants][0];
    const open = await call(gw.url, key, "GET", `/v1/merchants/${merchantId}/consumptions?limit=500`);
    await gw.kill();
    gw = null;
    const unconfirmed = (open.body.items as { status: string }[]).filter((i) => i.status !== "confirmed").length;
    expect(unconfirmed, "vouchers in flight at the kill").to.be.greaterThan(0);
    gw = await start();
    await drained(gw.url, node.url);
    await gw.stop();
    gw = null;
    await withDb({ dataDir: pglite() }, async (db) => {
      await expectEachVoucherOnce(db, district, accepted, before);
      await expectSameAsCleanResync(db, node.url, district);
      await expectConserved(db, district);
    });
  });
});
