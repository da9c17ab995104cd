import { expect } from "chai";
import { usccFor } from "../support/uscc";
import request from "supertest";
import { ethers } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { issueApiKey, Role } from "../../src/api/auth";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";

const BEAUTY = 4;
const PET_CARE = 7; // no responsible regulator designated at first

for (const engine of engines()) {
  describe(`12345 hotline routing, "1+N" (${engine.name})`, function () {
    this.timeout(120_000);
    let node: AnvilNode;
    let db: Db;
    let gw: Gateway;
    const key: Record<string, string> = {};
    let salon = 0, petShop = 0;
    let commerce = "", education = "";

    const as = (who: string) => ({
      get: (p: string) => request(gw.app).get(p).set("x-api-key", key[who]),
      post: (p: string, body: object = {}) => request(gw.app).post(p).set("x-api-key", key[who]).send(body),
    });
    const ticket = (id: string, merchantId: number) => ({ ticketId: id, merchantId, category: "refund", summary: "shop closed, refund refused", receivedAt: 1_790_000_000 });

    before(async () => {
      node = await startAnvil();
      const district = await deployDistrict(node.url);
      db = await engine.open();
      const p = district.provider;
      const keys = createKeyRing({ dir: "/nonexistent", provider: p });
      for (const i of [1, 2, 3]) keys.add(devWallet(i, p) as unknown as ethers.Wallet);
      const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-gw" });
      gw = await createGateway(config, createLogger("silent"), { db, deployment: district.deployment, keys });
      await gw.start();
      education = devWallet(2, p).address.toLowerCase();
      commerce = devWallet(3, p).address.toLowerCase();
      const issue = async (name: string, role: Role, subject: string | null) => (key[name] = (await issueApiKey(db, { role, subject, label: name })).key);
      await issue("bureau", "platform_regulator", devWallet(1, p).address.toLowerCase());
      await issue("education", "industry_regulator", education);
      await issue("commerce", "industry_regulator", commerce);
      await issue("auditor", "auditor", null);
      salon = (await as("bureau").post("/v1/merchants", { account: ethers.Wallet.createRandom().address, industryId: BEAUTY, bankId: 1, registrationNumber: usccFor("S1") }).expect(201)).body.merchantId;
      petShop = (await as("bureau").post("/v1/merchants", { account: ethers.Wallet.createRandom().address, industryId: PET_CARE, bankId: 1, registrationNumber: usccFor("P1") }).expect(201)).body.merchantId;
    });
    after(async () => {
      await gw?.stop();
      await db?.close();
      await node?.stop();
    });

    it("routes a ticket to its industry's responsible regulator", async () => {
      const r = await as("bureau").post("/v1/hotline/tickets", ticket("T-1", salon)).expect(201);
      expect(r.body.assignee).to.equal(commerce);
      expect(r.body.queue).to.equal("industry");
      const mine = await as("commerce").get("/v1/hotline/tickets").expect(200);
      expect(mine.body.items.map((t: { ticketId: string }) => t.ticketId)).to.deep.equal(["T-1"]);
      expect((await as("education").get("/v1/hotline/tickets").expect(200)).body.items).to.have.length(0);
    });

    it("a ticket's dispatch record is read by its assignee, the bureau and auditors, not by another regulator", async () => {
      const other = await as("education").get("/v1/hotline/tickets/T-1/history").expect(403);
      expect(other.body.error.code).to.equal("Forbidden");
      for (const who of ["commerce", "bureau", "auditor"]) {
        expect((await as(who).get("/v1/hotline/tickets/T-1/history").expect(200)).body.items.map((h: { action: string }) => h.action), who).to.deep.equal(["route"]);
      }
      await as("education").get("/v1/hotline/tickets/T-404/history").expect(404);
    });

    it("the same ticket again changes nothing", async () => {
      const r = await as("bureau").post("/v1/hotline/tickets", ticket("T-1", salon)).expect(200);
      expect(r.body.assignee).to.equal(commerce);
      expect((await as("auditor").get("/v1/hotline/tickets/T-1/history").expect(200)).body.items).to.have.length(1);
    });

    it("sends a ticket whose industry has no regulator to the bureau's queue", async () => {
      const r = await as("bureau").post("/v1/hotline/tickets", ticket("T-2", petShop)).expect(201);
      expect(r.body.assignee).to.equal("bureau");
      expect(r.body.queue).to.equal("bureau");
    });

    it("the district designates a regulator: recorded on chain, waiting tickets move, later ones go there", async () => {
      await as("commerce").post(`/v1/industries/${PET_CARE}/designation`, { regulator: commerce }).expect(403);
      const d = await as("bureau").post(`/v1/industries/${PET_CARE}/designation`, { regulator: commerce }).expect(200);
      expect(d.body.ticketsMoved).to.equal(1);
      expect(d.body.events.map((e: { event: string }) => e.event)).to.include("IndustryDefined");
      const later = await as("bureau").post("/v1/hotline/tickets", ticket("T-3", petShop)).expect(201);
      expect(later.body.assignee).to.equal(commerce);
      const hist = await as("auditor").get("/v1/hotline/tickets/T-2/history").expect(200);
      expect(hist.body.items.map((h: { action: string }) => h.action)).to.deep.equal(["route", "designate"]);
    });

    it("only the assignee acts on a ticket; transfers and wrong dispatches are counted per industry", async () => {
      await as("education").post("/v1/hotline/tickets/T-1/accept").expect(403);
      await as("commerce").post("/v1/hotline/tickets/T-1/transfer", { to: education, wrongDispatch: true, note: "a training school, not a salon" }).expect(200);
      await as("commerce").post("/v1/hotline/tickets/T-1/accept").expect(403);
      await as("education").post("/v1/hotline/tickets/T-1/accept").expect(200);
      await as("education").post("/v1/hotline/tickets/T-1/close", { resolution: "refund agreed" }).expect(200);
      const again = await as("education").post("/v1/hotline/tickets/T-1/close", { resolution: "again" }).expect(409);
      expect(again.body.error.code).to.equal("TicketClosed");
      const stats = await as("auditor").get("/v1/hotline/dispatch-stats").expect(200);
      const beauty = stats.body.items.find((x: { industryId: number }) => x.industryId === BEAUTY);
      expect(beauty).to.include({ tickets: 1, transfers: 1, wrongDispatches: 1, closed: 1, routedToBureau: 0 });
      const pet = stats.body.items.find((x: { industryId: number }) => x.industryId === PET_CARE);
      expect(pet).to.include({ tickets: 2, routedToBureau: 1, transfers: 0 });
    });

    it("refuses bad tickets with the fields named, and unknown merchants with 404", async () => {
      const r = await as("bureau").post("/v1/hotline/tickets", { ticketId: "bad id!", merchantId: 0, category: "anger" }).expect(400);
      expect(r.body.error.details.map((d: { field: string }) => d.field)).to.include.members(["body.ticketId", "body.merchantId", "body.category", "body.summary", "body.receivedAt"]);
      await as("bureau").post("/v1/hotline/tickets", ticket("T-9", 999)).expect(404);
      await as("commerce").post("/v1/hotline/tickets/T-3/transfer", { to: "0x" + "44".repeat(20), note: "x" }).expect(422);
    });
  });
}
