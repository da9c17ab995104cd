import path from "node:path";
import { expect } from "chai";
import { AnvilNode, freePort, startAnvil } from "../../src/chain/anvil";
import { driveActivity } from "../support/chain";
import {
  District, drained, expectConserved, expectEachVoucherOnce, expectSameAsCleanResync, faultChain, gatewayFiles, intervalMining, issueKeys,
  scratch, submitVouchers, Submitted, usedNow, voucherPlan, VoucherPlan, withDb,
} from "./harness";
import { call, GatewayProcess, rpcProxy, spawnGateway, until } from "./support";

/**
 * The chain side failing under a running gateway (a separate process on embedded PGlite): the node stopped and
 * restarted from its state file, one of several RPC URLs down, and RPC answers slow or erroring. Vouchers keep being
 * accepted durably throughout; each case ends with every accepted voucher on chain exactly once, the index equal to a
 * clean re-sync and balances conserved.
 */
describe("faults: the chain node and its RPC", function () {
  this.timeout(300_000);
  let node: AnvilNode;
  let district: District;
  let work: ReturnType<typeof scratch>;
  let env: Record<string, string>;
  let keys: Awaited<ReturnType<typeof issueKeys>>;
  let gw: GatewayProcess | null = null;
  let port: number;
  let stateFile: string;
  const accepted: Submitted[] = [];
  let usedAtStart: Map<string, number>;
  let plan: VoucherPlan;
  const pglite = () => path.join(work.dir, "pglite");

  before(async () => {
    work = scratch("chain");
    stateFile = path.join(work.dir, "anvil-state.json");
    port = await freePort();
    ({ node, district } = await faultChain({ stateFile, port }));
    await driveActivity(district, 0);
    await intervalMining(node.url, 1);
    ({ env } = await gatewayFiles(work.dir, district));
    keys = await withDb({ dataDir: pglite() }, (db) => issueKeys(db, district));
    usedAtStart = await usedNow(district);
    plan = await voucherPlan(district);
  });
  afterEach(async () => {
    await gw?.kill();
    gw = null;
  });
  after(async () => {
    await node?.stop();
    work?.cleanup();
  });

  /** Stops the gateway, then: every voucher accepted so far on chain once, index = clean re-sync, balances conserve. */
  async function stopAndCheck(): Promise<void> {
    await gw!.stop();
    gw = null;
    await withDb({ dataDir: pglite() }, async (db) => {
      await expectEachVoucherOnce(db, district, accepted, usedAtStart);
      await expectSameAsCleanResync(db, node.url, district);
      await expectConserved(db, district);
    });
  }

  it("the node stopped and restarted from its state: vouchers accepted meanwhile go on chain after, once", async () => {
    gw = await spawnGateway({ ...env, CHAIN_RPC_URL: node.url, LOG_LEVEL: "info" });
    await drained(gw.url, node.url);
    accepted.push(...(await submitVouchers(gw.url, keys.merchants, district, 1, plan)));
    await node.stop(); // SIGTERM: Anvil writes its state file; its pool of pending transactions is lost
    const down = await until("the gateway to notice", async () => {
      const h = await call(gw!.url, null, "GET", "/health");
      return h.body.status === "degraded" ? h.body : null;
    }, 60_000, 200);
    expect(down.lastError).to.be.a("string");
    // Accepted while the node is down: checked against the index, signatures recovered by the gateway itself.
    accepted.push(...(await submitVouchers(gw.url, keys.merchants, district, 1, plan)));
    node = await startAnvil({ stateFile, port, blockTime: 1 });
    await drained(gw.url, node.url, 120_000);
    await stopAndCheck();
  });

  it("one of several RPC URLs down: the gateway fails over and carries on", async () => {
    const first = await rpcProxy(node.url);
    try {
      gw = await spawnGateway({ ...env, CHAIN_RPC_URL: `${first.url},${node.url}`, LOG_LEVEL: "info" });
      await drained(gw.url, node.url);
      first.mode = "down";
      accepted.push(...(await submitVouchers(gw.url, keys.merchants, district, 1, plan)));
      await drained(gw.url, node.url);
      expect(gw.log()).to.match(/RPC fail-over/);
      const h = await call(gw.url, null, "GET", "/health");
      expect(h.body.rpcUrl).to.equal(node.url);
      await stopAndCheck();
    } finally {
      await first.close();
    }
  });

  it("RPC answers slow, then erroring: bounded retries, a clear error, and it catches up once the node answers", async () => {
    const proxy = await rpcProxy(node.url);
    try {
      gw = await spawnGateway({ ...env, CHAIN_RPC_URL: proxy.url, LOG_LEVEL: "info" });
      await drained(gw.url, node.url);
      proxy.delayMs = 400; // slow: everything still works
      accepted.push(...(await submitVouchers(gw.url, keys.merchants, district, 1, plan)));
      await drained(gw.url, node.url);
      proxy.delayMs = 0;
      proxy.mode = "error"; // every call answered HTTP 503
      const [merchantId, key] = [...keys.merchants][0];
      const started = Date.now();
      const r = await call(gw.url, key, "POST", `/v1/merchants/${merchantId}/payouts`, {});
      expect(r.status).to.equal(503);
      expect(r.body.error.code).to.equal("Unavailable");
      expect(Date.now() - started, "bounded retries").to.be.lessThan(30_000);
      const h = await until("the indexer to report the failure", async () => {
        const x = await call(gw!.url, null, "GET", "/health");
        return /all RPC nodes failed after \d+ attempts/.test(x.body.lastError ?? "") ? x.body : null;
      }, 60_000, 200);
      expect(h.status).to.equal("degraded");
      expect(gw.log()).to.match(/HTTP 503/);
      // Still accepted durably while the node errs.
      accepted.push(...(await submitVouchers(gw.url, keys.merchants, district, 1, plan)));
      proxy.mode = "pass";
      await drained(gw.url, node.url, 120_000);
      await stopAndCheck();
    } finally {
      await proxy.close();
    }
  });
});
