import { expect } from "chai";
import request from "supertest";
import { ethers, HDNodeWallet, JsonRpcProvider, Network } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { createRpc, Rpc } from "../../src/chain/rpc";
import { FailoverProvider } from "../../src/chain/provider";
import { recoverSigners } from "../../src/chain/ecrecover";
import { batchGasLimit, encodeConsumeBatch } from "../../src/services/consumptions";
import { signLegacy } from "../../src/chain/rawtx";
import {
  afterConsumption, ConsumptionMessage, consumptionFor, consumptionTypedData, signConsumption, signConsumptionDocument, voucherArg, voucherJson, voucherJsonOfDocument,
} from "../../src/chain/vouchers";
import { PrepaidEscrow__factory } from "../../typechain-types";
import { issueApiKey } from "../../src/api/auth";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";

const BEAUTY = 4; // no lesson cap

/**
 * The consumption queue's path to the chain, against a separate Anvil process: the signatures of a request recovered
 * by the node in one call, a batch sent without a gas estimate and followed through blocks and the index (no receipt
 * polling), and a voucher that turns bad after it was accepted dropped without sinking the good ones.
 */
describe("consumption queue: signatures recovered by the node", function () {
  this.timeout(60_000);
  let node: AnvilNode;
  before(async () => {
    node = await startAnvil();
  });
  after(async () => {
    await node?.stop();
  });

  it("recovers each signer in one eth_call per 256 signatures, as ethers does, and nothing from a broken signature", async () => {
    const rpc = createRpc({ urls: [node.url] });
    const wallets = [1, 2, 3].map((i) => new ethers.Wallet(ethers.id(`signer ${i}`)));
    const items = Array.from({ length: 300 }, (_, i) => {
      const digest = ethers.id(`voucher ${i}`);
      const sig = wallets[i % 3].signingKey.sign(digest);
      return { digest, v: sig.v as number, r: sig.r, s: sig.s };
    });
    // Broken ones: a v the precompile refuses, r = 0, and a signature of another digest (recovers someone else).
    items[7] = { ...items[7], v: 29 };
    items[8] = { ...items[8], r: "0x" + "00".repeat(32) };
    items[9] = { ...items[9], digest: ethers.id("something else") };
    const before = rpc.stats.calls.eth_call ?? 0;
    const got = await recoverSigners(rpc, items);
    expect((rpc.stats.calls.eth_call ?? 0) - before, "eth_calls").to.equal(2);
    expect(rpc.stats.requests, "HTTP requests").to.equal(1);
    expect(got).to.have.length(300);
    items.forEach((it, i) => {
      if (i === 7 || i === 8) expect(got[i], `signature ${i}`).to.equal("");
      else expect(got[i], `signature ${i}`).to.equal(ethers.recoverAddress(it.digest, { v: it.v, r: it.r, s: it.s }).toLowerCase());
    });
    expect(got[9]).to.not.equal(wallets[0].address.toLowerCase());
    expect(got[10]).to.equal(wallets[1].address.toLowerCase());
  });
});

describe("consumption queue: calldata and signing", () => {
  it("is what the ABI coder makes of the same vouchers", async () => {
    const iface = PrepaidEscrow__factory.createInterface();
    const holder = new ethers.Wallet(ethers.id("holder"));
    const vouchers = [];
    for (const [i, cardId] of [1n, (7n << 32n) + 3n, 2n ** 64n - 1n].entries()) {
      const amount = [0n, 15_000n, 2n ** 64n - 1n][i];
      vouchers.push(await signConsumption(holder, 31337, "0x" + "12".repeat(20), { cardId, lessons: 1 + i * 300, amount, sequence: 65535 - i, deadline: 2 ** 40 - 1 - i }));
    }
    const rows = vouchers.map((v) => ({ ...v, card_id: v.cardId.toString(), amount: v.amount.toString() }));
    const selector = iface.getFunction("consumeBatch")!.selector;
    expect(encodeConsumeBatch(selector, rows)).to.equal(iface.encodeFunctionData("consumeBatch", [vouchers.map(voucherArg)]));
    expect(encodeConsumeBatch(selector, [])).to.equal(iface.encodeFunctionData("consumeBatch", [[]]));
  });

  it("a batch signed by the queue's sender is byte for byte what ethers signs, with the same hash", async () => {
    const wallet = new ethers.Wallet(ethers.id("merchant key"));
    const cases = [
      { nonce: 0, gasPrice: 0n, gasLimit: 21_000n, to: "0x" + "00".repeat(20), value: 0n, data: "0x", chainId: 31337n },
      { nonce: 1, gasPrice: 0n, gasLimit: batchGasLimit(500), to: "0x" + "ab".repeat(20), value: 0n, data: "0x" + "5a".repeat(112_000), chainId: 31337n },
      { nonce: 70_000, gasPrice: 10n ** 9n, gasLimit: 60_000n, to: "0x" + "01".repeat(20), value: 5n, data: "0x7f", chainId: 2n ** 40n + 7n },
      { nonce: 127, gasPrice: 1n, gasLimit: 1n, to: "0x" + "ff".repeat(20), value: 0n, data: "0x" + "00".repeat(55), chainId: 1n },
    ];
    for (const tx of cases) {
      const mine = signLegacy(wallet.signingKey, tx);
      const theirs = await wallet.signTransaction({ ...tx, type: 0 });
      expect(mine.raw, `nonce ${tx.nonce}`).to.equal(theirs);
      expect(mine.hash).to.equal(ethers.Transaction.from(theirs).hash);
    }
  });
});

for (const engine of engines()) {
  describe(`consumption queue: batches on chain (${engine.name}, against a separate Anvil process)`, function () {
    this.timeout(180_000);
    let node: AnvilNode;
    let db: Db;
    let gw: Gateway;
    let district: Awaited<ReturnType<typeof deployDistrict>>;
    let provider: JsonRpcProvider;
    let merchantId = 0;
    let merchantKey = "";
    let chainId = 0;
    const holders: HDNodeWallet[] = [];

    const api = () => request(gw.app);
    /** The merchant's key signs and sends through its own RPC client: what it asks of the node is counted apart. */
    let senderRpc: Rpc;
    const rpcCalls = () => {
      const out: Record<string, number> = { ...gw.services.rpc.stats.calls };
      for (const [m, n] of Object.entries(senderRpc.stats.calls)) out[m] = (out[m] ?? 0) + n;
      return out;
    };
    const delta = (a: Record<string, number>, b: Record<string, number>, m: string) => (b[m] ?? 0) - (a[m] ?? 0);

    /** The bank opens `n` cards of plan `plan` for the holders in turn; returns their ids once indexed. */
    async function openCards(n: number, plan: number): Promise<bigint[]> {
      const bank = district.escrow.connect(district.parties.bank);
      const ids: bigint[] = [];
      for (let i = 0; i < n; i++) {
        const rc = await (await bank.purchase(merchantId, plan, holders[i % holders.length].address, true)).wait();
        ids.push(rc!.logs.map((l) => district.escrow.interface.parseLog(l)).find((e) => e?.name === "CardPurchased")!.args.cardId as bigint);
      }
      await gw.services.indexer.syncTo();
      return ids;
    }

    async function vouchersFor(cardIds: bigint[], lessons = 1) {
      const deadline = (await provider.getBlock("latest"))!.timestamp + 3600;
      const out = [];
      for (const cardId of cardIds) {
        const c = await district.escrow.cardOf(cardId);
        const holder = holders.find((h) => h.address === c.holder)!;
        const at = { cardId, held: c.held, unitsLeft: Number(c.unitsLeft), unitsUsed: Number(c.unitsUsed) };
        out.push(voucherJson(await signConsumption(holder, chainId, district.deployment.escrow, consumptionFor(at, lessons, deadline))));
      }
      return out;
    }

    /** Follows the batches in flight until none is left (the node mines each transaction as it arrives). */
    async function settle() {
      for (let i = 0; i < 200; i++) {
        await gw.services.indexer.syncTo();
        await gw.services.queue.poll();
        const q = await gw.services.queue.stats();
        if (!q.sent) return q;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("batches still in flight");
    }

    before(async () => {
      node = await startAnvil();
      district = await deployDistrict(node.url);
      provider = district.provider;
      chainId = Number((await provider.getNetwork()).chainId);
      db = await engine.open();
      senderRpc = createRpc({ urls: [node.url] });
      const keys = createKeyRing({ dir: "/nonexistent", provider: new FailoverProvider(senderRpc, Network.from(chainId)) });
      const merchant = devWallet(6, provider);
      keys.add(merchant as unknown as ethers.Wallet);
      for (const i of [10, 11, 12, 13]) holders.push(devWallet(i, provider));
      // Rounds only when the test asks (flush): a long interval.
      const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", BATCH_INTERVAL_MS: "60000", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-queue" });
      gw = await createGateway(config, createLogger(process.env.QT_LOG ?? "silent"), { db, deployment: district.deployment, keys });
      await gw.start();
      const reg = district.escrow.connect(district.parties.regulator);
      const rc = await (await reg.admitMerchant(merchant.address, BEAUTY, 1, ethers.id("queue-test"))).wait();
      merchantId = Number(rc!.logs.map((l) => district.escrow.interface.parseLog(l)).find((e) => e?.name === "MerchantAdmitted")!.args.merchantId);
      const m = district.escrow.connect(district.parties.merchants[0]); // the same account (dev 6), its nonces kept in order
      await (await m.publishPlan(merchantId, 1, 30, 0, 365, 30_000n)).wait(); // plan 1: 30 lessons
      await (await m.publishPlan(merchantId, 1, 1, 0, 365, 1_001n)).wait(); // plan 2: a single lesson (the last-lesson path)
      merchantKey = (await issueApiKey(db, { role: "merchant", subject: String(merchantId), label: "queue test" })).key;
    });
    after(async () => {
      await gw?.stop();
      await db?.close();
      await node?.stop();
    });

    it("sends a merchant's vouchers in one transaction, without a gas estimate or receipt polling, within its gas limit", async () => {
      const cards = [...(await openCards(30, 1)), ...(await openCards(10, 2))];
      const first = await vouchersFor(cards.slice(0, 30), 2);
      const last = await vouchersFor(cards.slice(30), 1);
      const a = rpcCalls();
      const r = await api().post(`/v1/merchants/${merchantId}/consumptions`).set("x-api-key", merchantKey).send({ vouchers: [...first, ...last] }).expect(202);
      expect(r.body.accepted).to.equal(40);
      const b = rpcCalls();
      expect(delta(a, b, "eth_call"), "one eth_call recovers the request's 40 signatures").to.equal(1);
      await gw.services.queue.flush();
      const c = rpcCalls();
      expect(delta(b, c, "eth_sendRawTransaction"), "one transaction").to.equal(1);
      expect(delta(b, c, "eth_estimateGas"), "no estimate").to.equal(0);
      const q = await settle();
      expect(q).to.deep.equal({ confirmed: 40 });
      const d = rpcCalls();
      expect(delta(a, d, "eth_getTransactionReceipt"), "no receipt polled").to.equal(0);
      const [row] = await db.query<{ tx_hash: string }>("SELECT DISTINCT tx_hash FROM voucher_queue WHERE status = 'confirmed'");
      const rc = await provider.getTransactionReceipt(row.tx_hash);
      expect(rc!.status).to.equal(1);
      const tx = await provider.getTransaction(row.tx_hash);
      expect(tx!.gasLimit).to.equal(batchGasLimit(40));
      expect(Number(rc!.gasUsed), "gas used against the limit from the voucher count").to.be.lessThan(Number(batchGasLimit(40)) * 0.9);
      const ledger = await db.query("SELECT 1 FROM ledger WHERE event = 'LessonsConsumed' AND tx_hash = $1", [row.tx_hash]);
      expect(ledger).to.have.length(40);
      for (const id of cards.slice(0, 30)) expect(Number((await district.escrow.cardOf(id)).unitsUsed)).to.equal(2);
      for (const id of cards.slice(30)) expect(Number((await district.escrow.cardOf(id)).unitsLeft), "the last lesson taken").to.equal(0);
    });

    it("a voucher that turns bad after acceptance reverts its batch once; the rest go through, the bad one fails naming the error", async () => {
      const cards = await openCards(6, 1);
      const vouchers = await vouchersFor(cards);
      await api().post(`/v1/merchants/${merchantId}/consumptions`).set("x-api-key", merchantKey).send({ vouchers }).expect(202);
      // After acceptance, the holder of the third card asks for a refund: the contract now refuses its voucher.
      const bad = cards[2];
      const owner = (await district.escrow.cardOf(bad)).holder;
      const wallet = holders.find((h) => h.address === owner)!;
      await (await district.escrow.connect(wallet).requestRefund(bad)).wait();
      await gw.services.indexer.syncTo();
      const a = rpcCalls();
      await gw.services.queue.flush(); // sent without an estimate: reverts when mined
      await settle(); // the revert is seen; the vouchers wait again, to be estimated first
      const mid = await gw.services.queue.stats();
      expect(mid.queued, "back in the queue after the revert").to.equal(6);
      await gw.services.queue.flush(); // estimated: the bad card is dropped, the rest sent
      const q = await settle();
      expect(q).to.deep.equal({ confirmed: 45, failed: 1 });
      const b = rpcCalls();
      expect(delta(a, b, "eth_sendRawTransaction"), "the reverted batch, then the good vouchers").to.equal(2);
      const [failed] = await db.query<{ card_id: string; error: { name: string } }>("SELECT card_id, error FROM voucher_queue WHERE status = 'failed'");
      expect(String(failed.card_id)).to.equal(bad.toString());
      expect(failed.error.name).to.equal("Custody_CardNotActive");
      for (const id of cards) expect(Number((await district.escrow.cardOf(id)).unitsUsed), `card ${id}`).to.equal(id === bad ? 0 : 1);
      const f = await api().get(`/v1/merchants/${merchantId}/consumptions?status=failed`).set("x-api-key", merchantKey).expect(200);
      expect(f.body.items[0].error.name).to.equal("Custody_CardNotActive");
    });

    it("refuses a bad voucher among good ones with a 422 naming it, and accepts none of that request", async () => {
      const cards = await openCards(3, 1);
      const vouchers = await vouchersFor(cards);
      vouchers[1] = { ...vouchers[1], sequence: vouchers[1].sequence + 1 };
      const r = await api().post(`/v1/merchants/${merchantId}/consumptions`).set("x-api-key", merchantKey).send({ vouchers }).expect(422);
      const fields = r.body.error.details.map((d: { field: string }) => d.field);
      expect(fields).to.include("body.vouchers.1.sequence");
      expect(fields).to.include("body.vouchers.1.signature"); // signed over another sequence
      expect(fields.filter((f: string) => f.startsWith("body.vouchers.0") || f.startsWith("body.vouchers.2"))).to.deep.equal([]);
      expect((await gw.services.queue.stats()).queued ?? 0).to.equal(0);
    });

    it("refuses a voucher whose amount is not its lessons' share, or that names another merchant, with a 422 naming the field", async () => {
      const cards = await openCards(3, 1);
      const deadline = (await provider.getBlock("latest"))!.timestamp + 3600;
      const signed = async (cardId: bigint, change: (m: ConsumptionMessage) => ConsumptionMessage, merchant?: number) => {
        const c = await district.escrow.cardOf(cardId);
        const holder = holders.find((h) => h.address === c.holder)!;
        const m = change(consumptionFor({ cardId, held: c.held, unitsLeft: Number(c.unitsLeft), unitsUsed: Number(c.unitsUsed) }, 1, deadline));
        const doc = consumptionTypedData(chainId, district.deployment.escrow, m);
        if (merchant !== undefined) doc.message.merchantId = merchant;
        return voucherJsonOfDocument(doc, await signConsumptionDocument(holder, doc));
      };
      const good = await signed(cards[0], (m) => m);
      const more = await signed(cards[1], (m) => ({ ...m, amount: m.amount + 1n }));
      const elsewhere = await signed(cards[2], (m) => m, merchantId + 1);
      const r = await api().post(`/v1/merchants/${merchantId}/consumptions`).set("x-api-key", merchantKey).send({ vouchers: [good, more, elsewhere] }).expect(422);
      const problems = r.body.error.details as { field: string; reason: string }[];
      const fields = problems.map((d) => d.field);
      expect(fields).to.include("body.vouchers.1.amount");
      expect(problems.find((d) => d.field === "body.vouchers.1.amount")!.reason).to.match(new RegExp(`release ${BigInt(more.amount) - 1n} fen, the voucher says ${more.amount}`));
      expect(fields).to.include("body.vouchers.2.merchantId");
      expect(fields.filter((f) => f.startsWith("body.vouchers.0"))).to.deep.equal([]);
      expect((await gw.services.queue.stats()).queued ?? 0).to.equal(0);
      // the good one alone goes through, and the next voucher on its card carries the share of what the first leaves
      await api().post(`/v1/merchants/${merchantId}/consumptions`).set("x-api-key", merchantKey).send({ vouchers: [good] }).expect(202);
      const c = await district.escrow.cardOf(cards[0]);
      const after = afterConsumption({ cardId: cards[0], held: c.held, unitsLeft: Number(c.unitsLeft), unitsUsed: Number(c.unitsUsed) }, 1);
      const next = consumptionFor(after, 1, deadline);
      const holder = holders.find((h) => h.address === c.holder)!;
      const ahead = voucherJson(await signConsumption(holder, chainId, district.deployment.escrow, next));
      await api().post(`/v1/merchants/${merchantId}/consumptions`).set("x-api-key", merchantKey).send({ vouchers: [ahead] }).expect(202);
      for (let i = 0; i < 3; i++) {
        await gw.services.queue.flush();
        await settle();
      }
      const rows = await db.query<{ status: string }>("SELECT status FROM voucher_queue WHERE card_id = $1 ORDER BY sequence", [cards[0].toString()]);
      expect(rows.map((x) => x.status)).to.deep.equal(["confirmed", "confirmed"]);
      expect((await district.escrow.cardOf(cards[0])).held).to.equal(after.held - next.amount);
    });
  });
}
