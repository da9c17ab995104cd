import { signConsumptionDocument, voucherJsonOfDocument } from "../../src/chain/vouchers";
import { ethers } from "ethers";
import request from "supertest";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { issueApiKey, Role } from "../../src/api/auth";
import { Db } from "../../src/store/db";
import { EngineFactory } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";

export const EDUCATION = 1;
export const FITNESS = 3;
export const BEAUTY = 4;

/**
 * A gateway on a separate Anvil process with two merchants admitted through the API with public profiles (a school
 * and a salon), a plan each, and cards sold to two holders, one lesson consumed. Listens on a real port (the browser
 * test needs one).
 */
export async function startPublicPlatform(engine: EngineFactory) {
  const node: AnvilNode = await startAnvil();
  const district = await deployDistrict(node.url);
  const db: Db = await engine.open();
  const p = district.provider;
  const keys = createKeyRing({ dir: "/nonexistent", provider: p });
  for (const i of [1, 2, 3, 5, 6, 7, 8]) keys.add(devWallet(i, p) as unknown as ethers.Wallet);
  const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", BATCH_INTERVAL_MS: "50", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-public" });
  const gw: Gateway = await createGateway(config, createLogger("silent"), { db, deployment: district.deployment, keys });
  const { port } = await gw.start();
  const base = `http://127.0.0.1:${port}`;

  const key: Record<string, string> = {};
  const issue = async (name: string, role: Role, subject: string | null) => (key[name] = (await issueApiKey(db, { role, subject, label: name })).key);
  await issue("bureau", "platform_regulator", devWallet(1, p).address.toLowerCase());
  await issue("education", "industry_regulator", devWallet(2, p).address.toLowerCase());
  await issue("commerce", "industry_regulator", devWallet(3, p).address.toLowerCase());
  await issue("bank", "bank", "1");
  await issue("auditor", "auditor", null);
  await issue("alice", "consumer", devWallet(10, p).address.toLowerCase());

  const api = () => request(gw.app);
  const as = (who: string) => ({
    get: (path: string) => api().get(path).set("x-api-key", key[who]),
    post: (path: string, body?: object | string) => {
      const r = api().post(path).set("x-api-key", key[who]);
      return typeof body === "string" ? r.set("content-type", "text/csv").send(body) : r.send(body ?? {});
    },
  });
  const ok = async <T extends { status: number; body: unknown }>(r: Promise<T> | T, status: number): Promise<T> => {
    const res = await r;
    if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
    return res;
  };

  const school = (await ok(as("bureau").post("/v1/merchants", {
    account: devWallet(6, p).address, industryId: EDUCATION, bankId: 1, registrationNumber: "91110105MA0100001L", name: "Sunshine Dance School", district: "Chaoyang",
  }), 201)).body.merchantId as number;
  const salon = (await ok(as("bureau").post("/v1/merchants", {
    account: devWallet(7, p).address, industryId: BEAUTY, bankId: 1, registrationNumber: "91110105MA0100002P", name: "Lotus Beauty Salon", district: "Haidian",
  }), 201)).body.merchantId as number;
  await issue("school", "merchant", String(school));
  await issue("salon", "merchant", String(salon));
  await ok(as("school").post(`/v1/merchants/${school}/plans`, { kind: "lesson", units: 10, validityDays: 90, priceFen: 300000 }), 201);
  await ok(as("salon").post(`/v1/merchants/${salon}/plans`, { kind: "lesson", units: 5, validityDays: 90, priceFen: 100000 }), 201);
  const holders = [devWallet(10, p), devWallet(11, p)];
  const cards: string[] = [];
  for (const [m, h] of [[school, holders[0]], [school, holders[1]], [salon, holders[0]]] as const) {
    cards.push((await ok(as("bank").post("/v1/banks/1/cards", { merchantId: m, planIndex: 1, holder: h.address }), 201)).body.cardId as string);
  }
  // One lesson on the first card, through the merchant's queue, so there are releases to keep private.
  const tv = await ok(as("alice").get(`/v1/cards/${cards[0]}/voucher?lessons=1`), 200);
  const doc = tv.body.typedData;
  await ok(as("school").post(`/v1/merchants/${school}/consumptions`, { vouchers: [voucherJsonOfDocument(doc, await signConsumptionDocument(holders[0], doc))] }), 202);
  await waitFor(async () => (await db.query("SELECT 1 FROM ledger WHERE event = 'LessonsConsumed' AND card_id = $1", [cards[0]])).length > 0);

  return {
    node, district, db, gw, base, key, api, as, ok, school, salon, cards, holders, provider: p,
    async stop() {
      await gw.stop().catch(() => undefined);
      await db.close().catch(() => undefined);
      await node.stop().catch(() => undefined);
    },
  };
}

export type PublicPlatform = Awaited<ReturnType<typeof startPublicPlatform>>;

export async function waitFor(cond: () => Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}
