import { expect } from "chai";
import request from "supertest";
import { ethers } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { issueApiKey } from "../../src/api/auth";
import { createRpc } from "../../src/chain/rpc";
import { createMetrics } from "../../src/api/metrics";
import { runCli } from "../../scripts/cli";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";

/** Reads one sample's value from Prometheus text: `name{labels} value`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return null;
}

describe("metrics: RPC errors counted by method and node", function () {
  it("counts transport failures and error answers, with the node's origin only", async function () {
    const node = await startAnvil();
    try {
      const metrics = createMetrics({ defaultMetrics: false });
      const rpc = createRpc({ urls: ["http://user:secret@127.0.0.1:9/rpc", node.url], onError: metrics.rpcError, maxAttempts: 4 });
      expect(Number(await rpc.send<string>("eth_chainId"))).to.equal(31337); // first node refuses, fails over
      await rpc.send("eth_noSuchMethod").catch(() => undefined);
      const text = await metrics.registry.metrics();
      expect(sample(text, "custody_rpc_errors_total", { method: "eth_chainId", url: "http://127.0.0.1:9", kind: "transport" })).to.equal(1);
      expect(sample(text, "custody_rpc_errors_total", { method: "eth_noSuchMethod", url: node.url, kind: "response" })).to.equal(1);
      expect(text).to.not.contain("secret");
    } finally {
      await node.stop();
    }
  });
});

for (const engine of engines()) {
  describe(`metrics and API keys on the gateway (${engine.name}, separate Anvil process)`, function () {
    this.timeout(180_000);
    let node: AnvilNode;
    let db: Db;
    let gw: Gateway;
    let bureau = "";
    let auditor = "";
    let port = 0;

    before(async () => {
      node = await startAnvil();
      const district = await deployDistrict(node.url);
      db = await engine.open();
      const keys = createKeyRing({ dir: "/nonexistent", provider: district.provider });
      keys.add(devWallet(1, district.provider) as unknown as ethers.Wallet);
      const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-gw" });
      gw = await createGateway(config, createLogger("silent"), { db, deployment: district.deployment, keys });
      port = (await gw.start()).port;
      await gw.services.indexer.syncTo();
      bureau = (await issueApiKey(db, { role: "platform_regulator", subject: devWallet(1, district.provider).address.toLowerCase(), label: "bureau" })).key;
      auditor = (await issueApiKey(db, { role: "auditor", subject: null, label: "auditor" })).key;
    });
    after(async () => {
      await gw?.stop();
      await db?.close();
      await node?.stop();
    });

    it("serves /metrics: sync position, queue depth, latencies by route template and status", async () => {
      await request(gw.app).get("/v1/merchants/7").set("x-api-key", auditor).expect(404);
      await request(gw.app).get("/v1/merchants/8").set("x-api-key", auditor).expect(404);
      await request(gw.app).get("/v1/nothing/here").expect(404);
      const r = await request(gw.app).get("/metrics").expect(200);
      expect(r.headers["content-type"]).to.match(/^text\/plain/);
      const st = gw.services.indexer.status;
      expect(sample(r.text, "custody_indexed_block")).to.be.at.least(st.indexedBlock! - 1).and.at.most(st.headBlock!);
      expect(sample(r.text, "custody_head_block")).to.be.a("number");
      expect(sample(r.text, "custody_sync_lag_blocks")).to.be.at.least(0);
      expect(sample(r.text, "custody_indexer_up")).to.equal(1);
      expect(sample(r.text, "custody_queue_vouchers", { status: "queued" })).to.equal(0);
      // Two requests to one template, one label set; unmatched paths share one label, never the raw path.
      expect(sample(r.text, "custody_http_request_duration_seconds_count", { method: "GET", route: "/v1/merchants/:merchantId", status: "404" })).to.equal(2);
      expect(sample(r.text, "custody_http_request_duration_seconds_count", { route: "(unmatched)", status: "404" })).to.equal(1);
      expect(r.text).to.not.contain("/v1/merchants/7");
      expect(r.text).to.contain("custody_process_resident_memory_bytes");
    });

    it("issues, lists and revokes API keys for the platform regulator only", async () => {
      const denied = await request(gw.app).post("/v1/api-keys").set("x-api-key", auditor).send({ role: "auditor", label: "x" }).expect(403);
      expect(denied.body.error.code).to.equal("Forbidden");
      const bad = await request(gw.app).post("/v1/api-keys").set("x-api-key", bureau).send({ role: "merchant", subject: "99", label: "ghost" }).expect(400);
      expect(bad.body.error.details).to.deep.equal([{ field: "body.subject", reason: "no merchant 99 in the index" }]);
      const noAddr = await request(gw.app).post("/v1/api-keys").set("x-api-key", bureau).send({ role: "consumer", subject: "alice", label: "x" }).expect(400);
      expect(noAddr.body.error.details[0].field).to.equal("body.subject");
      const issued = await request(gw.app).post("/v1/api-keys").set("x-api-key", bureau).send({ role: "bank", subject: 1, label: "bank 1 treasury" }).expect(201);
      expect(issued.body).to.include({ role: "bank", subject: "1", label: "bank 1 treasury" });
      const me = await request(gw.app).get("/v1/banks/1/payouts").set("x-api-key", issued.body.key).expect(200);
      expect(me.body.items).to.be.an("array");
      const list = await request(gw.app).get("/v1/api-keys").set("x-api-key", bureau).expect(200);
      expect(list.body.items.map((k: { id: string }) => k.id)).to.include(issued.body.id);
      expect(JSON.stringify(list.body)).to.not.contain(issued.body.key);
      await request(gw.app).post(`/v1/api-keys/${issued.body.id}/revoke`).set("x-api-key", bureau).expect(200);
      const again = await request(gw.app).post(`/v1/api-keys/${issued.body.id}/revoke`).set("x-api-key", bureau).expect(409);
      expect(again.body.error.code).to.equal("AlreadyRevoked");
      await request(gw.app).post("/v1/api-keys/000000000000/revoke").set("x-api-key", bureau).expect(404);
      const after = await request(gw.app).get("/v1/api-keys?includeRevoked=true").set("x-api-key", bureau).expect(200);
      expect(after.body.items.find((k: { id: string }) => k.id === issued.body.id).revokedAt).to.be.a("string");
    });

    it("lets the operator CLI issue and revoke keys through a running gateway (--gateway)", async () => {
      const base = `http://127.0.0.1:${port}`;
      let out = "";
      let err = "";
      const io = { out: (t: string) => (out += t), err: (t: string) => (err += t), env: { GATEWAY_API_KEY: bureau } };
      expect(await runCli(["api-key", "issue", "--role", "auditor", "--label", "external auditor", "--gateway", base], io), err).to.equal(0);
      const key = out.split(" ")[0];
      await request(gw.app).get("/v1/ledger?limit=1").set("x-api-key", key).expect(200);
      expect(await runCli(["api-key", "revoke", key, "--gateway", base], io), err).to.equal(0);
      err = "";
      expect(await runCli(["api-key", "revoke", key, "--gateway", base], io)).to.equal(1);
      expect(err).to.match(/^error: the gateway refused \(HTTP 409\): AlreadyRevoked: /);
      err = "";
      expect(await runCli(["api-key", "issue", "--role", "auditor", "--label", "x", "--gateway", base], { ...io, env: {} })).to.equal(1);
      expect(err).to.equal("error: with --gateway, give a platform regulator's API key in GATEWAY_API_KEY\n");
    });
  });
}
