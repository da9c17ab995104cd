import http from "node:http";
import { usccFor } from "../support/uscc";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import request from "supertest";
import { ethers } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { issueApiKey, Role } from "../../src/api/auth";
import { Db } from "../../src/store/db";
import { createRiskPusher } from "../../src/risk/push";
import { createRiskRuntime } from "../../src/risk/runtime";
import { recordRatings } from "../../src/risk/ratings";
import { MODEL_V1 } from "../../src/risk/model";
import { engines } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";

const EDUCATION = 1;
const BEAUTY = 4;

/** A local webhook receiver that answers 500 to its first `failFirst` posts, then 204. */
async function webhookReceiver(failFirst: number) {
  const received: { status: number; alertId: number; body: { type: string; alert: { merchantId: number; to: string } } }[] = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const status = received.length < failFirst ? 500 : 204;
      received.push({ status, alertId: Number(req.headers["x-risk-alert-id"]), body: JSON.parse(text) });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { server, received, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const engine of engines()) {
  describe(`risk early warning through the API (${engine.name}, against a separate Anvil process)`, function () {
    this.timeout(180_000);
    let node: AnvilNode;
    let db: Db;
    let gw: Gateway;
    let port = 0;
    let district: Awaited<ReturnType<typeof deployDistrict>>;
    let hook: Awaited<ReturnType<typeof webhookReceiver>>;
    const key: Record<string, string> = {};
    const m: Record<string, number> = {};
    const now = Math.floor(Date.now() / 1000);
    const daysAgo = (d: number) => now - d * 86_400;

    const as = (who: string) => ({
      get: (p: string) => request(gw.app).get(p).set("x-api-key", key[who]),
      post: (p: string, body?: object) => request(gw.app).post(p).set("x-api-key", key[who]).send(body ?? {}),
      file: (p: string, type: string, text: string) => request(gw.app).post(p).set("x-api-key", key[who]).set("content-type", type).send(text),
    });
    const issue = async (name: string, role: Role, subject: string | null) => (key[name] = (await issueApiKey(db, { role, subject, label: name })).key);
    const admit = async (name: string, industryId: number, account = ethers.Wallet.createRandom().address) => {
      m[name] = (await as("bureau").post("/v1/merchants", { account, industryId, bankId: 1, registrationNumber: usccFor(`R-${name}`) }).expect(201)).body.merchantId;
    };

    before(async () => {
      node = await startAnvil();
      district = await deployDistrict(node.url);
      db = await engine.open();
      hook = await webhookReceiver(2);
      const p = district.provider;
      const keys = createKeyRing({ dir: "/nonexistent", provider: p });
      for (const i of [1, 2, 3, 4, 5, 6]) keys.add(devWallet(i, p) as unknown as ethers.Wallet);
      const config = loadConfig({
        CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-gw",
        RISK_ORACLE_ADDRESS: devWallet(4, p).address, RISK_PUSH_INTERVAL_MS: "3600000",
        RISK_WEBHOOK_URL: hook.url, RISK_WEBHOOK_BACKOFF_MS: "50", RISK_WEBHOOK_MAX_BACKOFF_MS: "200",
      });
      gw = await createGateway(config, createLogger(process.env.RISK_TEST_LOG ?? "silent"), { db, deployment: district.deployment, keys });
      port = (await gw.start()).port;
      await issue("bureau", "platform_regulator", devWallet(1, p).address.toLowerCase());
      await issue("education", "industry_regulator", devWallet(2, p).address.toLowerCase());
      await issue("commerce", "industry_regulator", devWallet(3, p).address.toLowerCase());
      await issue("bank", "bank", "1");
      await issue("bank2", "bank", "2");
      await issue("auditor", "auditor", null);
      await admit("school", EDUCATION, devWallet(6, p).address);
      for (const name of ["salon", "abnormal", "debtor", "deregistering", "quiet"]) await admit(name, BEAUTY);
      await issue("school", "merchant", String(m.school));
      await issue("salon", "merchant", String(m.salon));
    });
    after(async () => {
      await gw?.stop();
      await db?.close();
      await node?.stop();
      hook?.server.close();
    });

    const complaint = (recordId: string, merchantId: number, extra: object = {}) => ({
      recordId, kind: "hotline_ticket", source: "12345", merchantId, occurredAt: daysAgo(3), category: "service", refundRelated: false, ...extra,
    });

    describe("signals in", () => {
      it("stores one signal (201), and the same record id again changes nothing (200)", async () => {
        const a = await as("commerce").post("/v1/risk/signals", complaint("c-1", m.salon)).expect(201);
        expect(a.body).to.deep.equal({ status: "inserted", recordId: "c-1", merchantId: m.salon, kind: "hotline_ticket" });
        const b = await as("commerce").post("/v1/risk/signals", { ...complaint("c-1", m.salon), category: "changed" }).expect(200);
        expect(b.body.status).to.equal("duplicate");
        const [{ category }] = await db.query<{ category: string }>("SELECT fields->>'category' AS category FROM risk_signals WHERE record_id = 'c-1'");
        expect(category).to.equal("service");
      });
      it("names each bad field of a signal in a 400", async () => {
        const r = await as("bureau").post("/v1/risk/signals", { recordId: "x", kind: "litigation", source: "court", merchantId: m.salon, occurredAt: "yesterday", role: "judge", amountFen: 1.5, caseType: "lease" }).expect(400);
        const fields = r.body.error.details.map((d: { field: string }) => d.field);
        expect(fields).to.include.members(["body.occurredAt", "body.role", "body.amountFen"]);
        const u = await as("bureau").post("/v1/risk/signals", complaint("c-unknown", 999_999)).expect(400);
        expect(u.body.error.details[0]).to.deep.include({ field: "body.merchantId" });
      });
      it("an industry regulator may add signals only about its industries' merchants", async () => {
        const r = await as("commerce").post("/v1/risk/signals", complaint("c-school", m.school)).expect(403);
        expect(r.body.error.code).to.equal("Forbidden");
        await as("school").post("/v1/risk/signals", complaint("c-self", m.school)).expect(403);
        await as("bank").post("/v1/risk/signals", complaint("c-bank", m.school)).expect(403);
      });
      it("imports a good CSV file in one go, and the same file again is all duplicates", async () => {
        const csv = [
          "recordId,kind,source,merchantId,occurredAt,category,refundRelated,fact,action,detail,role,amountFen,caseType",
          `r-1,registry_fact,gsxt,${m.abnormal},${daysAgo(10)},,,abnormal_operation,listed,"unreachable at its address, 2 checks",,,`,
          `r-2,registry_fact,court,${m.debtor},${daysAgo(12)},,,dishonest_debtor,listed,,,,`,
          `r-3,registry_fact,gsxt,${m.deregistering},${daysAgo(5)},,,deregistration,listed,,,,`,
          `c-2,hotline_ticket,12345,${m.salon},${daysAgo(2)},service,false,,,,,,`,
          `c-3,hotline_ticket,12345,${m.salon},${daysAgo(1)},service,false,,,,,,`,
          `l-1,litigation,court,${m.quiet},${daysAgo(30)},,,,,,plaintiff,120000,contract`,
        ].join("\n") + "\n";
        const a = await as("bureau").file("/v1/risk/signals/import", "text/csv", csv).expect(200);
        expect(a.body).to.deep.include({ status: "applied", format: "csv", rows: 6, inserted: 6, duplicates: 0 });
        const b = await as("bureau").file("/v1/risk/signals/import", "text/csv", csv).expect(200);
        expect(b.body).to.deep.include({ rows: 6, inserted: 0, duplicates: 6 });
      });
      it("rejects a JSON Lines file with bad rows whole, listing every bad row's line and reason", async () => {
        const lines = [
          JSON.stringify(complaint("j-1", m.salon)),
          JSON.stringify({ ...complaint("j-2", m.salon), refundRelated: "maybe" }),
          JSON.stringify(complaint("j-3", m.salon)),
          "{not json",
          JSON.stringify(complaint("j-5", 424242)),
        ].join("\n");
        const r = await as("bureau").file("/v1/risk/signals/import", "application/x-ndjson", lines).expect(400);
        expect(r.body.error.code).to.equal("InvalidSignalFile");
        expect(r.body.error.details.map((d: { line: number; field: string }) => [d.line, d.field])).to.deep.equal([[2, "refundRelated"], [4, "line"], [5, "merchantId"]]);
        const stored = await db.query("SELECT record_id FROM risk_signals WHERE record_id LIKE 'j-%'");
        expect(stored).to.have.length(0);
      });
      it("streams progress for a file when asked, then the result", async () => {
        const lines = Array.from({ length: 2500 }, (_v, i) => JSON.stringify(complaint(`p-${i}`, m.quiet, { occurredAt: daysAgo(700) }))).join("\n");
        const r = await as("bureau").file("/v1/risk/signals/import", "application/x-ndjson", lines).set("accept", "application/x-ndjson").expect(200);
        const out = r.text.trim().split("\n").map((l) => JSON.parse(l));
        expect(out.filter((o) => o.progress).map((o) => o.progress.phase)).to.include.members(["validating", "applying"]);
        expect(out[out.length - 1].result).to.deep.include({ rows: 2500, inserted: 2500 });
      });
      it("an industry regulator's file with another industry's merchant is refused (403) on that line, before its rows are validated", async () => {
        const lines = [JSON.stringify(complaint("k-1", m.salon)), JSON.stringify(complaint("k-2", m.school)), JSON.stringify({ ...complaint("k-3", m.salon), refundRelated: "maybe" })].join("\n");
        const r = await as("commerce").file("/v1/risk/signals/import", "application/x-ndjson", lines).expect(403);
        expect(r.body.error.code).to.equal("Forbidden");
        expect(r.body.error.details).to.deep.equal([{ field: "line 2.merchantId", reason: `merchant ${m.school} is not yours` }]);
        expect(await db.query("SELECT 1 FROM risk_signals WHERE record_id LIKE 'k-%'")).to.have.length(0);
        // the same file without the other industry's row is the regulator's own: now its bad row is what it hears of
        const own = [JSON.stringify(complaint("k-1", m.salon)), JSON.stringify({ ...complaint("k-3", m.salon), refundRelated: "maybe" })].join("\n");
        const bad = await as("commerce").file("/v1/risk/signals/import", "application/x-ndjson", own).expect(400);
        expect(bad.body.error.code).to.equal("InvalidSignalFile");
      });
      it("a 12345 hotline ticket about a merchant becomes a risk signal", async () => {
        await as("bureau").post("/v1/hotline/tickets", { ticketId: "T-9", merchantId: m.salon, category: "refund", summary: "refund refused", receivedAt: daysAgo(1) }).expect(201);
        const r = await as("commerce").get(`/v1/merchants/${m.salon}/risk`).expect(200);
        const s = r.body.recentSignals.find((x: { recordId: string }) => x.recordId === "12345-T-9");
        expect(s).to.deep.include({ kind: "hotline_ticket", source: "12345", merchantId: m.salon });
        expect(s.fields).to.deep.equal({ category: "refund", refund_related: true });
      });
    });

    describe("ratings, explanations, alerts", () => {
      it("only the bureau rates everyone now", async () => {
        await as("commerce").post("/v1/risk/rate").expect(403);
        const r = await as("bureau").post("/v1/risk/rate").expect(200);
        expect(r.body.rated).to.equal(6);
        expect(r.body.byLevel).to.deep.equal({ low: 2, medium: 1, high: 3 });
        expect(r.body.alerts).to.equal(4);
        expect(r.body.modelVersion).to.equal(MODEL_V1.version);
      });
      it("rates as of a moment asked for, never after now", async () => {
        const now = Math.floor(Date.now() / 1000);
        const future = await as("bureau").post("/v1/risk/rate").send({ asOf: now + 3600 }).expect(400);
        expect(future.body.error.details.map((d: { field: string }) => d.field)).to.deep.equal(["body.asOf"]);
        // As of the current ratings' moment (or now): the same moment again replaces them. (An older moment is refused
        // with RatingOutOfOrder: test/risk/ratings.test.ts.)
        const current = (await as("bureau").get("/v1/risk/ratings?limit=100").expect(200)).body.items as { computedAt: number }[];
        const at = Math.max(now, ...current.map((i) => i.computedAt));
        const r = await as("bureau").post("/v1/risk/rate").send({ asOf: at }).expect(200);
        expect(r.body.asOf).to.equal(at);
        const list = await as("bureau").get("/v1/risk/ratings?limit=100").expect(200);
        expect(list.body.items.map((i: { computedAt: number }) => i.computedAt)).to.include(at);
      });
      for (const [name, fact] of [["abnormal", "abnormal_operation"], ["debtor", "dishonest_debtor"], ["deregistering", "deregistration"]]) {
        it(`hard rule: ${fact} rates the merchant at least high, and says so`, async () => {
          const r = await as("commerce").get(`/v1/merchants/${m[name]}/risk`).expect(200);
          expect(r.body.rating.level).to.equal("high");
          const first = r.body.rating.explanation[0];
          expect(first.signal).to.equal(fact);
          expect(first.rule).to.match(/^at least high: 北京市单用途预付卡管理条例/);
          expect(first.detail.recordId).to.be.a("string");
          expect(r.body.lastChange).to.deep.include({ from: null, to: "high" });
        });
      }
      it("explains a score: which signals, with what weight, moved it", async () => {
        const r = await as("commerce").get(`/v1/merchants/${m.salon}/risk`).expect(200);
        expect(r.body.rating.level).to.equal("medium");
        const item = r.body.rating.explanation.find((e: { signal: string }) => e.signal === "hotline_tickets");
        expect(item.weight).to.equal(MODEL_V1.default.signals.hotline_tickets.weight);
        expect(item.detail.count).to.equal(4); // c-1, c-2, c-3 and the 12345 ticket T-9
        expect(item.contribution).to.be.greaterThan(MODEL_V1.default.levels.medium);
        expect(r.body.rating.score).to.equal(item.contribution);
        const quiet = await as("commerce").get(`/v1/merchants/${m.quiet}/risk`).expect(200);
        expect(quiet.body.rating).to.deep.include({ level: "low", score: 0 });
        expect(quiet.body.rating.explanation).to.deep.equal([]); // a plaintiff's case and old tickets weigh nothing
      });
      it("lists current ratings by level and industry, within the caller's industries", async () => {
        const high = await as("bureau").get("/v1/risk/ratings?level=high").expect(200);
        expect(high.body.items.map((i: { merchantId: number }) => i.merchantId)).to.deep.equal([m.abnormal, m.debtor, m.deregistering]);
        const page = await as("bureau").get("/v1/risk/ratings?limit=4").expect(200);
        expect(page.body.items).to.have.length(4);
        const rest = await as("bureau").get(`/v1/risk/ratings?limit=4&cursor=${page.body.nextCursor}`).expect(200);
        expect(rest.body.items).to.have.length(2);
        expect((await as("education").get("/v1/risk/ratings").expect(200)).body.items.map((i: { merchantId: number }) => i.merchantId)).to.deep.equal([m.school]);
        await as("bank").get("/v1/risk/ratings").expect(403);
      });
      it("counts merchants per level per day for a chart", async () => {
        const r = await as("bureau").get("/v1/risk/levels-over-time").expect(200);
        expect(r.body.days).to.have.length(90);
        expect(r.body.days[89]).to.deep.include({ low: 2, medium: 1, high: 3 });
        expect(r.body.days[0]).to.deep.include({ low: 0, medium: 0, high: 0 });
        const edu = await as("bureau").get(`/v1/risk/levels-over-time?industryId=${EDUCATION}`).expect(200);
        expect(edu.body.days[89]).to.deep.include({ low: 1, medium: 0, high: 0 });
        await as("bureau").get("/v1/risk/levels-over-time?from=2025-02-30x").expect(400);
      });
      it("alerts the regulators of each rise, and an industry regulator sees its own", async () => {
        const all = await as("bureau").get("/v1/risk/alerts").expect(200);
        expect(all.body.items.map((a: { merchantId: number; to: string }) => [a.merchantId, a.to])).to.have.deep.members([
          [m.salon, "medium"], [m.abnormal, "high"], [m.debtor, "high"], [m.deregistering, "high"],
        ]);
        expect(all.body.items[0]).to.include.keys("explanation", "score", "from", "industryId", "cause");
        expect((await as("commerce").get("/v1/risk/alerts").expect(200)).body.items).to.have.length(4);
        expect((await as("education").get("/v1/risk/alerts").expect(200)).body.items).to.have.length(0);
      });
      it("delivers every alert to the webhook, retrying after the receiver's failures", async () => {
        const rows = await until("webhook deliveries", async () => {
          const r = await db.query<{ status: string; attempts: number; alert_id: string }>("SELECT status, attempts, alert_id FROM risk_webhook_outbox ORDER BY id");
          return r.length === 4 && r.every((x) => x.status === "delivered") && r;
        });
        expect(hook.received.filter((x) => x.status === 500)).to.have.length(2);
        expect(rows.reduce((n, x) => n + Number(x.attempts), 0)).to.equal(6);
        const accepted = hook.received.filter((x) => x.status === 204);
        expect(accepted.map((x) => x.alertId).sort()).to.deep.equal(rows.map((x) => Number(x.alert_id)).sort());
        expect(accepted[0].body.type).to.equal("risk.level_rose");
      });
    });

    describe("on chain", () => {
      it("pushes rated levels through the risk oracle and records them when mined", async () => {
        for (const name of ["abnormal", "debtor", "deregistering", "salon"]) {
          await until(`${name} on chain`, async () => {
            const r = await as("bureau").get(`/v1/merchants/${m[name]}/risk`).expect(200);
            return r.body.onChainLevel === r.body.rating.level && r.body.lastPush?.status === "mined";
          });
        }
        const h = await as("bureau").get(`/v1/merchants/${m.abnormal}/risk/history`).expect(200);
        expect(h.body.onChain[0]).to.deep.include({ from: "low", to: "high" });
        expect(h.body.pushes[0]).to.deep.include({ level: "high", status: "mined" });
        expect(h.body.pushes[0].txHash).to.equal(h.body.onChain[0].txHash);
      });
      it("the chain enforces a high override: the bank's card purchase is refused with Custody_HighRiskNoSales", async () => {
        await as("school").post(`/v1/merchants/${m.school}/plans`, { kind: "lesson", units: 20, validityDays: 90, priceFen: 300000 }).expect(201);
        const holder = devWallet(10, district.provider).address;
        await as("bank").post("/v1/banks/1/cards", { merchantId: m.school, planIndex: 1, holder }).expect(201);
        await as("commerce").post(`/v1/merchants/${m.school}/risk/override`, { level: "high", reason: "not mine" }).expect(403);
        await as("education").post(`/v1/merchants/${m.school}/risk/override`, { level: "high" }).expect(400);
        const o = await as("education").post(`/v1/merchants/${m.school}/risk/override`, { level: "high", reason: "joint interview: rent unpaid, teachers leaving" }).expect(201);
        expect(o.body.override).to.deep.include({ level: "high", reason: "joint interview: rent unpaid, teachers leaving" });
        expect(o.body.rating.explanation[0]).to.deep.include({ signal: "regulator_override" });
        expect(o.body.push).to.deep.include({ level: "high", status: "mined" });
        expect(o.body.onChainLevel).to.equal("high");
        const r = await as("bank").post("/v1/banks/1/cards", { merchantId: m.school, planIndex: 1, holder }).expect(409);
        expect(r.body.error.code).to.equal("Custody_HighRiskNoSales");
        expect(r.body.error.details).to.deep.equal({ merchantId: m.school });
        const h = await as("education").get(`/v1/merchants/${m.school}/risk/history`).expect(200);
        expect(h.body.overrides[0].officer).to.match(/^industry_regulator:0x/);
        expect(h.body.ratings[0]).to.deep.include({ level: "high", computedLevel: "low" });
      });
      it("a failed push is retried, also by a restarted gateway (what is pending is derived from the ratings)", async () => {
        const s = gw.services;
        const [current] = await db.query<{ computed_at: string }>("SELECT computed_at FROM risk_ratings WHERE merchant_id = $1 AND superseded_at IS NULL", [m.quiet]);
        await recordRatings(db, [{ merchantId: m.quiet, industryId: BEAUTY, level: "medium", computedLevel: "medium", score: 1.5, explanation: [], modelVersion: "test", asOf: Number(current.computed_at) + 1 }]);
        const base = { db, provider: s.provider, escrow: s.escrow, keys: s.keys, syncTo: (b: number) => s.indexer.syncTo(b), logger: createLogger("silent"), backoffMs: 10, maxBackoffMs: 100 };
        // the bank's key is not the risk oracle: the contract refuses, the attempt is recorded as failed
        const wrong = createRiskPusher({ ...base, oracle: devWallet(5, district.provider).address });
        const first = await wrong.pass([m.quiet]);
        expect(first.failed).to.have.length(1);
        expect(first.failed[0].error).to.match(/Custody_NotRiskOracle/);
        // a fresh pusher (as after a restart) finds the level still to push and sends it after the back-off
        const restarted = createRiskPusher({ ...base, oracle: devWallet(4, district.provider).address });
        await new Promise((r) => setTimeout(r, 20));
        const [push] = await restarted.pushAndWait([m.quiet]);
        expect(push).to.deep.include({ level: "medium", status: "mined" });
        expect((await as("bureau").get(`/v1/merchants/${m.quiet}`).expect(200)).body.riskLevel).to.equal("medium");
        expect((await restarted.pass()).sent).to.have.length(0); // nothing twice
      });
      it("streams an alert as a Server-Sent Event when a level rises", async () => {
        const ctrl = new AbortController();
        const res = await fetch(`http://127.0.0.1:${port}/v1/risk/alerts/stream`, { headers: { "x-api-key": key.commerce }, signal: ctrl.signal });
        expect(res.status).to.equal(200);
        expect(res.headers.get("content-type")).to.match(/^text\/event-stream/);
        const reader = res.body!.getReader();
        let text = "";
        const got = (async () => {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return null;
            text += Buffer.from(value).toString();
            const ev = text.split("\n\n").find((e) => e.includes("event: alert"));
            if (ev) return ev;
          }
        })();
        await until("stream connected", async () => text.includes(": connected"));
        await as("commerce").post(`/v1/merchants/${m.salon}/risk/override`, { level: "high", reason: "refunds refused for a month" }).expect(201);
        const ev = await Promise.race([got, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
        ctrl.abort();
        expect(ev, "an alert event").to.be.a("string");
        const data = JSON.parse(ev!.split("\n").find((l) => l.startsWith("data: "))!.slice(6));
        expect(data).to.deep.include({ merchantId: m.salon, from: "medium", to: "high", cause: "override" });
        expect(ev).to.match(/^id: \d+$/m);
      });
    });

    describe("credit profile for banks", () => {
      it("gives the custodian bank the merchant's custody record, each figure with its period", async () => {
        const r = await as("bank").get(`/v1/banks/1/merchants/${m.school}/credit-profile`).expect(200);
        const p = r.body;
        expect(p.monthsOnPlatform.value).to.equal(0);
        expect(p.monthsOnPlatform.period.from).to.be.a("number");
        expect(p.cardSales.lifetime).to.deep.include({ cards: 1, renewals: 0, valueFen: "300000" });
        expect(p.cardSales.last12Months.period.to).to.be.greaterThan(p.cardSales.last12Months.period.from - 1);
        expect(p.consumptionRate.lifetime).to.deep.include({ value: 0, releasedFen: "0", custodiedFen: "300000" });
        expect(p.refundRate.lifetime).to.deep.include({ value: 0, refunds: 0 });
        expect(p.disputeRate.lifetime).to.deep.include({ value: 0, disputes: 0 });
        expect(p.complaintRate.last12Months).to.deep.include({ complaints: 0, hotlineTickets: 0 });
        expect(p.risk.onChainLevel).to.equal("high");
        expect(p.risk.history.onChain.map((h: { to: string }) => h.to)).to.deep.equal(["high"]);
        expect(p.risk.history.ratingChanges[0]).to.deep.include({ level: "high" });
      });
      it("only the merchant's custodian bank and its regulators may read it", async () => {
        await as("bank2").get(`/v1/banks/1/merchants/${m.school}/credit-profile`).expect(403);
        await as("bank2").get(`/v1/banks/2/merchants/${m.school}/credit-profile`).expect(403);
        await as("school").get(`/v1/banks/1/merchants/${m.school}/credit-profile`).expect(403);
        await as("auditor").get(`/v1/banks/1/merchants/${m.school}/credit-profile`).expect(403);
        await as("commerce").get(`/v1/banks/1/merchants/${m.school}/credit-profile`).expect(403);
        await as("education").get(`/v1/banks/1/merchants/${m.school}/credit-profile`).expect(200);
        await as("bureau").get(`/v1/banks/1/merchants/${m.school}/credit-profile`).expect(200);
        await as("bank").get(`/v1/banks/1/merchants/999999/credit-profile`).expect(404);
      });
      it("the periodic job rates every merchant on its schedule", async () => {
        const before = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM risk_ratings"))[0].n);
        const rt = createRiskRuntime(gw.services, { rateIntervalMs: 100, pushIntervalMs: 3_600_000, oracle: null, webhookBackoffMs: 50, webhookMaxBackoffMs: 100 });
        rt.start();
        try {
          await until("a scheduled rating", async () => Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM risk_ratings"))[0].n) >= before + 6);
        } finally {
          await rt.stop();
        }
        const [quiet] = await db.query<{ level: string; model_version: string }>("SELECT level, model_version FROM risk_ratings WHERE merchant_id = $1 AND superseded_at IS NULL", [m.quiet]);
        expect(quiet).to.deep.equal({ level: "low", model_version: MODEL_V1.version }); // the hand-made medium rating is rated over
      });
      it("a merchant reads its own rating, not another's", async () => {
        await as("salon").get(`/v1/merchants/${m.salon}/risk`).expect(200);
        await as("salon").get(`/v1/merchants/${m.school}/risk`).expect(403);
        await as("salon").post(`/v1/merchants/${m.salon}/risk/override`, { level: "low", reason: "please" }).expect(403);
      });
    });
  });
}
