import { expect } from "chai";
import request from "supertest";
import { ethers, Signature } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { issueApiKey, Role } from "../../src/api/auth";
import { runLawUpkeep } from "../../src/services/lawJobs";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";

const EDUCATION = 1;
const BEAUTY = 4;
const DAY = 86_400;

/**
 * The API of the 2025 rules against a separate Anvil process: the filing threshold's alert, a time-based card's
 * check-in, the direct shares released after the cooling-off, a frozen merchant's released money decided to its
 * holders, a lost key's recovery (the bank starts, the holder cancels, the gateway completes), a payout account.
 */
for (const engine of engines()) {
  describe(`gateway API: the 2025 rules (${engine.name}, against a separate Anvil process)`, function () {
    this.timeout(240_000);
    let node: AnvilNode;
    let db: Db;
    let gw: Gateway;
    let district: Awaited<ReturnType<typeof deployDistrict>>;
    const key: Record<string, string> = {};
    let school = 0, salon = 0;
    let schoolCard = "", gymCard = "";
    const visitCards: string[] = [];

    const api = () => request(gw.app);
    const as = (who: string) => ({
      get: (p: string) => api().get(p).set("x-api-key", key[who]),
      post: (p: string, body?: object) => api().post(p).set("x-api-key", key[who]).send(body ?? {}),
      put: (p: string, body: object) => api().put(p).set("x-api-key", key[who]).send(body),
    });
    const issue = async (name: string, role: Role, subject: string | null) => (key[name] = (await issueApiKey(db, { role, subject, label: name })).key);
    const wallet = (who: "alice" | "bob") => devWallet(who === "alice" ? 10 : 11, district.provider);
    /** The holder signs the transaction the API prepared (its nonce included) and hands it back, as the consumer page does. */
    const holderSends = async (who: "alice" | "bob", cardId: string, kind: string) => {
      const t = await as(who).get(`/v1/cards/${cardId}/refund-request?kind=${kind}`);
      expect(t.status, `${kind} on card ${cardId}: ${JSON.stringify(t.body)}`).to.equal(200);
      const signed = await wallet(who).signTransaction({ to: t.body.to, data: t.body.data, chainId: 31337, nonce: t.body.nonce, gasLimit: BigInt(t.body.gasLimit), gasPrice: 0, type: 0 });
      const sent = await as(who).post("/v1/transactions", { signedTransaction: signed });
      expect(sent.status, `${kind} on card ${cardId}, sent: ${JSON.stringify(sent.body)}`).to.equal(200);
      return sent.body;
    };
    const travel = async (seconds: number) => {
      await district.provider.send("evm_increaseTime", [seconds]);
      await district.provider.send("evm_mine", []);
      await gw.services.indexer.syncTo(await district.provider.getBlockNumber());
    };
    const eventsOf = (body: { events: { event: string; args: Record<string, unknown> }[] }, name: string) => body.events.filter((e) => e.event === name);

    before(async () => {
      node = await startAnvil();
      district = await deployDistrict(node.url);
      db = await engine.open();
      const p = district.provider;
      const keys = createKeyRing({ dir: "/nonexistent", provider: p });
      for (const i of [1, 2, 3, 5, 6, 7]) keys.add(devWallet(i, p) as unknown as ethers.Wallet);
      const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", BATCH_INTERVAL_MS: "50", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-gw" });
      gw = await createGateway(config, createLogger("silent"), { db, deployment: district.deployment, keys });
      await gw.start();
      await issue("bureau", "platform_regulator", devWallet(1, p).address.toLowerCase());
      await issue("education", "industry_regulator", devWallet(2, p).address.toLowerCase());
      await issue("commerce", "industry_regulator", devWallet(3, p).address.toLowerCase());
      await issue("bank", "bank", "1");
      await issue("alice", "consumer", wallet("alice").address.toLowerCase());
      await issue("bob", "consumer", wallet("bob").address.toLowerCase());
      school = (await as("bureau").post("/v1/merchants", { account: devWallet(6, p).address, industryId: EDUCATION, bankId: 1, registrationNumber: "91110105MA0100001L" }).expect(201)).body.merchantId;
      salon = (await as("bureau").post("/v1/merchants", { account: devWallet(7, p).address, industryId: BEAUTY, bankId: 1, registrationNumber: "91110105MA0100002P" }).expect(201)).body.merchantId;
      await issue("school", "merchant", String(school));
      await issue("salon", "merchant", String(salon));
      await as("school").post(`/v1/merchants/${school}/plans`, { kind: "lesson", units: 20, validityDays: 90, priceFen: "300000" }).expect(201);
      await as("salon").post(`/v1/merchants/${salon}/plans`, { kind: "lesson", units: 10, priceFen: "50000" }).expect(201); // plan 1
      await as("salon").post(`/v1/merchants/${salon}/plans`, { kind: "periodic", units: 3, periodSeconds: 30 * DAY, priceFen: "90000" }).expect(201); // plan 2
    });
    after(async () => {
      await gw?.stop();
      await db?.close();
      await node?.stop();
    });

    it("备案提示: a sale that takes the merchant's prepaid balance to the district's filing threshold alerts its regulators", async () => {
      await as("bureau").put("/v1/industries/0/policy", {
        custodyBps: 4000, coolingOffDays: 7, exitNoticeDays: 30, maxLessons: 65535, maxValidityDays: 65535,
        maxCardValueFen: "500000", maxAnonymousValueFen: "100000", mediumRiskCap30dFen: "2000000", filingThresholdFen: "100000",
      }).expect(200);
      const buy = async () => (await as("bank").post("/v1/banks/1/cards", { merchantId: salon, planIndex: 1, holder: wallet("alice").address }).expect(201)).body;
      const first = await buy();
      expect(eventsOf(first, "FilingThresholdReached")).to.have.length(0);
      visitCards.push(first.cardId);
      const second = await buy();
      expect(eventsOf(second, "FilingThresholdReached")).to.have.length(1);
      visitCards.push(second.cardId);
      const alerts = (await as("commerce").get(`/v1/risk/alerts?merchantId=${salon}`).expect(200)).body.items;
      const filing = alerts.filter((a: { cause: string }) => a.cause === "filing");
      expect(filing).to.have.length(1);
      expect(filing[0].explanation[0]).to.include({ rule: "filing_threshold", balanceFen: "100000", thresholdFen: "100000" });
      // Not the education regulator's merchant: not in its list.
      const other = (await as("education").get(`/v1/risk/alerts?merchantId=${salon}`).expect(200)).body.items;
      expect(other).to.have.length(0);
    });

    it("签到开始计期: the holder of a time-based card signs the check-in the API prepares, and its periods start now", async () => {
      gymCard = (await as("bank").post("/v1/banks/1/cards", { merchantId: salon, planIndex: 2, holder: wallet("bob").address }).expect(201)).body.cardId;
      const before = (await as("bob").get(`/v1/cards/${gymCard}`).expect(200)).body;
      const t = (await as("bob").get(`/v1/cards/${gymCard}/check-in`).expect(200)).body;
      expect(t.startsAt).to.equal(before.startedAt);
      expect(t.typedData.primaryType).to.equal("CheckIn");
      const { domain, types, message } = t.typedData;
      const sig = Signature.from(await wallet("bob").signTypedData(domain, types, message));
      // Someone else's signature is refused before anything is sent.
      const bad = Signature.from(await wallet("alice").signTypedData(domain, types, message));
      const refused = await as("bob").post(`/v1/cards/${gymCard}/check-ins`, { deadline: message.deadline, v: bad.v, r: bad.r, s: bad.s }).expect(409);
      expect(refused.body.error.code).to.equal("Custody_InvalidSigner");
      await as("bob").post(`/v1/cards/${gymCard}/check-ins`, { deadline: message.deadline, v: sig.v, r: sig.r, s: sig.s }).expect(201);
      const after = (await as("bob").get(`/v1/cards/${gymCard}`).expect(200)).body;
      expect(after.startedAt).to.be.lessThan(before.startedAt);
      const history = (await as("bob").get(`/v1/cards/${gymCard}/history`).expect(200)).body.items.map((r: { event: string }) => r.event);
      expect(history).to.include("PeriodsStarted");
      await as("bob").get(`/v1/cards/${gymCard}/check-in`).expect(409);
    });

    it("冷静期满直付部分归经营者: the bank hands the merchant the direct shares whose cooling-off ended, shown in the ledger", async () => {
      const none = (await as("bank").post(`/v1/merchants/${salon}/direct-releases`).expect(200)).body;
      expect(none).to.deep.equal({ cardIds: [], txHash: null, blockNumber: null });
      await travel(9 * DAY);
      const done = (await as("salon").post(`/v1/merchants/${salon}/direct-releases`).expect(200)).body;
      expect(done.cardIds).to.have.members([...visitCards, gymCard]);
      const ledger = (await as("salon").get(`/v1/merchants/${salon}/ledger`).expect(200)).body.items;
      const released = ledger.filter((r: { event: string }) => r.event === "DirectShareReleased");
      expect(released.map((r: { amountFen: string }) => r.amountFen).sort()).to.deep.equal(["30000", "30000", "54000"]);
    });

    it("冻结前已结算资金退还持卡人: the regulator decides a frozen merchant's released money to its holders, and their claims take it", async () => {
      await as("commerce").post(`/v1/merchants/${salon}/freeze`, { reason: "collapse" }).expect(200);
      const m0 = (await as("bureau").get(`/v1/merchants/${salon}`).expect(200)).body;
      expect(m0.payableFen).to.equal("114000");
      await as("education").post(`/v1/merchants/${salon}/frozen-payable/to-holders`, { reason: "not its regulator" }).expect(403);
      const decided = (await as("commerce").post(`/v1/merchants/${salon}/frozen-payable/to-holders`, { reason: "京市监 2026-118" }).expect(200)).body;
      expect(eventsOf(decided, "FrozenPayableDecided")[0].args).to.include({ toHolders: true, amount: "114000" });
      const m1 = (await as("bureau").get(`/v1/merchants/${salon}`).expect(200)).body;
      expect([m1.payableFen, m1.holderPoolFen, m1.heldFen]).to.deep.equal(["0", "114000", String(BigInt(m0.heldFen) + 114_000n)]);
      let refunded = 0n;
      for (const [who, card] of [["alice", visitCards[0]], ["alice", visitCards[1]], ["bob", gymCard]] as const) {
        const out = await holderSends(who, card, "claim");
        for (const e of eventsOf(out, "CardRefunded")) refunded += BigInt(e.args.amount as string);
      }
      const m2 = (await as("bureau").get(`/v1/merchants/${salon}`).expect(200)).body;
      expect([m2.holderPoolFen, m2.heldFen, m2.payableFen]).to.deep.equal(["0", "0", "0"]);
      // Everything paid in came back to the holders: 50,000 + 50,000 + 90,000 fen.
      expect(refunded).to.equal(190_000n);
    });

    it("挂失补办: the bank starts moving a card to a new key, the holder cancels, and after 7 days the gateway completes it", async () => {
      schoolCard = (await as("bank").post("/v1/banks/1/cards", { merchantId: school, planIndex: 1, holder: wallet("alice").address }).expect(201)).body.cardId;
      await as("alice").post(`/v1/cards/${schoolCard}/key-recovery`, { newHolder: wallet("bob").address }).expect(403);
      const started = (await as("bank").post(`/v1/cards/${schoolCard}/key-recovery`, { newHolder: wallet("bob").address }).expect(201)).body;
      const effectiveAt = Number(eventsOf(started, "KeyRecoveryStarted")[0].args.effectiveAt);
      let card = (await as("alice").get(`/v1/cards/${schoolCard}`).expect(200)).body;
      expect([card.recoveryTo, card.recoveryEffectiveAt]).to.deep.equal([wallet("bob").address.toLowerCase(), effectiveAt]);
      // The key is not lost: its holder cancels with it.
      await holderSends("alice", schoolCard, "recovery-cancel");
      card = (await as("alice").get(`/v1/cards/${schoolCard}`).expect(200)).body;
      expect(card.recoveryTo).to.equal(null);
      await as("bank").post(`/v1/cards/${schoolCard}/key-recovery`, { newHolder: wallet("bob").address }).expect(201);
      expect(await runLawUpkeep(gw.services)).to.deep.include({ keyRecoveries: 0 });
      await travel(8 * DAY);
      expect(await runLawUpkeep(gw.services)).to.deep.include({ keyRecoveries: 1 });
      card = (await as("bob").get(`/v1/cards/${schoolCard}`).expect(200)).body;
      expect([card.holder, card.recoveryTo]).to.deep.equal([wallet("bob").address.toLowerCase(), null]);
      const history = (await as("bob").get(`/v1/cards/${schoolCard}/history`).expect(200)).body.items.map((r: { event: string }) => r.event);
      expect(history.filter((e: string) => e.startsWith("KeyRecovery"))).to.deep.equal(["KeyRecoveryStarted", "KeyRecoveryCancelled", "KeyRecoveryStarted", "KeyRecoveryCompleted"]);
    });

    it("变更收款账户: the merchant proposes, its regulator confirms, and the bank reads the account to pay", async () => {
      const proposed = (await as("school").post(`/v1/merchants/${school}/payout-account`, { bankName: "工商银行北京分行", accountNumber: "6222 0200 0000 0001" }).expect(201)).body;
      let accounts = (await as("bank").get(`/v1/merchants/${school}/payout-account`).expect(200)).body;
      expect(accounts).to.deep.equal({ confirmed: null, proposed: { ref: proposed.ref, bankName: "工商银行北京分行", accountNumber: "6222020000000001" } });
      await as("commerce").post(`/v1/merchants/${school}/payout-account/confirmation`, { account: proposed.ref }).expect(403);
      const wrong = await as("education").post(`/v1/merchants/${school}/payout-account/confirmation`, { account: ethers.id("other") }).expect(409);
      expect(wrong.body.error.code).to.equal("Custody_PayoutAccountNotProposed");
      await as("education").post(`/v1/merchants/${school}/payout-account/confirmation`, { account: proposed.ref }).expect(200);
      accounts = (await as("school").get(`/v1/merchants/${school}/payout-account`).expect(200)).body;
      expect(accounts.confirmed).to.deep.equal({ ref: proposed.ref, bankName: "工商银行北京分行", accountNumber: "6222020000000001" });
      expect(accounts.proposed).to.equal(null);
      expect((await as("bureau").get(`/v1/merchants/${school}`).expect(200)).body.payoutAccount).to.equal(proposed.ref);
    });
  });
}
