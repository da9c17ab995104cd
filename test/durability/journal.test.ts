import { signConsumptionDocument, voucherJsonOfDocument } from "../../src/chain/vouchers";
import { expect } from "chai";
import request from "supertest";
import { ethers } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { issueApiKey } from "../../src/api/auth";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { deployDistrict, devWallet, driveActivity } from "../support/chain";
import { activeCards, expectConserved, expectSameAsCleanResync } from "../faults/harness";

/**
 * The transaction journal (src/services/journal.ts) against a chain that comes back shorter, as a local node restored
 * from an older snapshot does (here: Anvil's evm_revert). Acknowledged writes, an API write (a card opened by the
 * bank) and accepted vouchers, are sent again from the store with the same hashes; a voucher whose deadline passed
 * meanwhile is recorded as failed with the contract's reason and shown to the merchant who handed it in; the index
 * goes back to the last block the chain still has and follows it again.
 */
for (const engine of engines()) {
  describe(`durability: the transaction journal sends again what the chain lost (${engine.name})`, function () {
    this.timeout(180_000);
    let node: AnvilNode;
    let db: Db;
    let district: Awaited<ReturnType<typeof deployDistrict>>;
    let gw: Gateway | null = null;

    const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
      const res = await fetch(node.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
      const b = (await res.json()) as { result: T; error?: { message: string } };
      if (b.error) throw new Error(b.error.message);
      return b.result;
    };
    const gateway = async (lostAfterBlock?: number) => {
      const p = district.provider;
      const keys = createKeyRing({ dir: "/nonexistent", provider: p });
      for (const i of [1, 2, 3, 5, 6, 7, 8]) keys.add(devWallet(i, p) as unknown as ethers.Wallet);
      const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", BATCH_INTERVAL_MS: "50", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-gw" });
      const g = await createGateway(config, createLogger("silent"), { db, deployment: district.deployment, keys });
      await g.start({ lostAfterBlock });
      return g;
    };
    const until = async (what: string, fn: () => Promise<boolean>) => {
      const deadline = Date.now() + 60_000;
      while (!(await fn())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    before(async () => {
      node = await startAnvil();
      district = await deployDistrict(node.url);
      await driveActivity(district, 0);
      db = await engine.open();
    });
    after(async () => {
      await gw?.stop();
      await db?.close();
      await node?.stop();
    });

    it("sends again the writes the chain lost, records an expired voucher as failed with its reason, and the index follows", async () => {
      gw = await gateway();
      const cards = (await activeCards(district)).filter((c) => c.left >= 2);
      const [a, b] = [cards[0], cards.find((c) => c.merchantId === cards[0].merchantId && c.cardId !== cards[0].cardId)!];
      expect(b, "two serving lesson cards of one merchant").to.exist;
      const merchantKey = (await issueApiKey(db, { role: "merchant", subject: String(a.merchantId), label: "merchant" })).key;
      const bankKey = (await issueApiKey(db, { role: "bank", subject: "1", label: "bank" })).key;
      const api = () => request(gw!.app);

      const lostAfter = Number(await rpc<string>("eth_blockNumber"));
      const snapshot = await rpc<string>("evm_snapshot");
      // Acknowledged: a card opened by the bank (a transaction the gateway signs) ...
      const holder = ethers.Wallet.createRandom();
      const opened = await api().post("/v1/banks/1/cards").set("x-api-key", bankKey).send({ merchantId: a.merchantId, planIndex: 1, holder: holder.address, named: true });
      expect(opened.status, JSON.stringify(opened.body)).to.equal(201);
      // ... and two vouchers, one valid for a minute only, the other for a day, confirmed on chain.
      const now = Number((await rpc<{ timestamp: string }>("eth_getBlockByNumber", ["latest", false])).timestamp);
      const vouchers = [];
      for (const [card, valid] of [[a, 60], [b, 86_400]] as const) {
        const td = await api().get(`/v1/cards/${card.cardId}/voucher?lessons=1&validSeconds=${valid}`).set("x-api-key", merchantKey);
        expect(td.status, JSON.stringify(td.body)).to.equal(200);
        vouchers.push(voucherJsonOfDocument(td.body.typedData, await signConsumptionDocument(card.holder, td.body.typedData)));
      }
      expect(Number(vouchers[0].deadline)).to.be.at.most(now + 61);
      const accepted = await api().post(`/v1/merchants/${a.merchantId}/consumptions`).set("x-api-key", merchantKey).send({ vouchers });
      expect(accepted.status, JSON.stringify(accepted.body)).to.equal(202);
      const ids: string[] = accepted.body.ids;
      const statuses = async () => {
        const r = await api().get(`/v1/merchants/${a.merchantId}/consumptions?limit=500`).set("x-api-key", merchantKey);
        return new Map<string, { status: string; error: { name?: string; code?: string } | null }>(r.body.items.map((i: { id: string; status: string; error: never }) => [i.id, i]));
      };
      await until("both vouchers confirmed", async () => {
        const st = await statuses();
        return ids.every((id) => st.get(id)?.status === "confirmed");
      });
      const usedBefore = [Number((await district.escrow.cardOf(a.cardId)).unitsUsed), Number((await district.escrow.cardOf(b.cardId)).unitsUsed)];
      await gw.stop();
      gw = null;

      // The chain comes back shorter (its blocks after the snapshot lost), and two minutes later.
      await rpc("evm_revert", [snapshot]);
      await rpc("evm_increaseTime", [120]);
      await rpc("evm_mine");
      expect(Number((await district.escrow.cardOf(b.cardId)).unitsUsed)).to.equal(usedBefore[1] - 1);
      expect(await rpc("eth_getTransactionReceipt", [opened.body.txHash])).to.equal(null);

      gw = await gateway(lostAfter);
      // The card is back, with the same transaction hash.
      const rc = await rpc<{ status: string } | null>("eth_getTransactionReceipt", [opened.body.txHash]);
      expect(rc && Number(rc.status), "the bank's card, sent again").to.equal(1);
      await gw.services.indexer.syncTo(Number(await rpc<string>("eth_blockNumber")));
      expect((await request(gw.app).get(`/v1/cards/${opened.body.cardId}`).set("x-api-key", bankKey)).status).to.equal(200);
      // The day-long voucher is on chain again; the minute-long one failed, with the contract's reason, for the merchant to see.
      await until("the queue to settle", async () => {
        const s = await statuses();
        return ids.every((id) => ["confirmed", "failed"].includes(s.get(id)!.status)) && Number((await district.escrow.cardOf(b.cardId)).unitsUsed) === usedBefore[1];
      });
      const s = await statuses();
      expect(s.get(ids[1])!.status).to.equal("confirmed");
      expect(s.get(ids[0])!.status).to.equal("failed");
      expect(JSON.stringify(s.get(ids[0])!.error)).to.include("Custody_VoucherExpired");
      expect(Number((await district.escrow.cardOf(a.cardId)).unitsUsed)).to.equal(usedBefore[0] - 1);
      // The bank sees how its transaction ended; the journal says it was sent again.
      const mine = await request(gw.app).get("/v1/transactions").set("x-api-key", bankKey);
      expect(mine.status).to.equal(200);
      const entry = mine.body.items.find((t: { hash: string }) => t.hash === opened.body.txHash.toLowerCase());
      expect(entry).to.include({ state: "mined", resent: true, origin: "api" });
      // The index holds what the chain holds, nothing more.
      const head = Number(await rpc<string>("eth_blockNumber"));
      await gw.services.indexer.syncTo(head);
      await expectSameAsCleanResync(db, node.url, district);
      await expectConserved(db, district);
    });
  });
}
