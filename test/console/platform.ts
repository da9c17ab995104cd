import { ethers } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing } from "../../src/chain/signers";
import { issueApiKey, Role } from "../../src/api/auth";
import { Db } from "../../src/store/db";
import { EngineFactory } from "../support/db";
import { deployDistrict, devWallet, driveActivity } from "../support/chain";
import { custodyClient } from "../../src/client";

export const DAY = 86_400;

/**
 * A gateway listening on a real port, on a separate Anvil process, with a little of everything on chain spread over
 * several days (the chain's clock is moved forward between rounds) so the charts have something to draw.
 */
export async function startPlatform(engine: EngineFactory) {
  const node: AnvilNode = await startAnvil();
  let db: Db | null = null;
  let gw: Gateway | null = null;
  try {
    db = await engine.open();
    return await setUp(node, db, (g) => { gw = g; });
  } catch (err) {
    // Nothing may outlive a failed start: the gateway, the store and the node process.
    await (gw as Gateway | null)?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await node.stop().catch(() => undefined);
    throw err;
  }
}

async function setUp(node: AnvilNode, db: Db, created: (gw: Gateway) => void) {
  const district = await deployDistrict(node.url);
  const p = district.provider;
  const keys = createKeyRing({ dir: "/nonexistent", provider: p });
  for (const i of [1, 2, 3, 4, 5, 6, 7, 8, 9]) keys.add(devWallet(i, p) as unknown as ethers.Wallet);
  const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "silent", BATCH_INTERVAL_MS: "50", POLL_INTERVAL_MS: "50", DATA_DIR: "/tmp/unused-console" });
  const gw: Gateway = await createGateway(config, createLogger("silent"), { db, deployment: district.deployment, keys });
  created(gw);

  await driveActivity(district, 0);
  await p.send("evm_increaseTime", [3 * DAY]);
  await p.send("evm_mine", []);
  await driveActivity(district, 1);

  const { port } = await gw.start();
  const base = `http://127.0.0.1:${port}`;
  await waitIndexed(gw, Number(await p.getBlockNumber()));

  const merchantIds = await Promise.all(district.parties.merchantWallets.map(async (w) => Number(await district.escrow.merchantIdOf(w.address))));
  const key: Record<string, string> = {};
  const issue = async (name: string, role: Role, subject: string | null) => (key[name] = (await issueApiKey(db, { role, subject, label: name })).key);
  await issue("bureau", "platform_regulator", devWallet(1, p).address.toLowerCase());
  await issue("education", "industry_regulator", devWallet(2, p).address.toLowerCase());
  await issue("bank", "bank", "1");
  await issue("auditor", "auditor", null);
  await issue("school", "merchant", String(merchantIds[0]));
  await issue("salon", "merchant", String(merchantIds[1]));
  await issue("alice", "consumer", devWallet(10, p).address.toLowerCase());

  return {
    node, district, db, gw, base, key, merchantIds,
    /** The typed client with the key issued to `who` (as an integrator's system would call the API). */
    api: (who: string) => custodyClient({ baseUrl: base, apiKey: key[who] }),
    /** Waits until the index holds the chain's current head (for activity sent straight to the contracts). */
    synced: async () => waitIndexed(gw, Number(await p.getBlockNumber())),
    async stop() {
      await gw.stop().catch(() => undefined);
      await db.close().catch(() => undefined);
      await node.stop().catch(() => undefined);
    },
  };
}

export type Platform = Awaited<ReturnType<typeof setUp>>;

async function waitIndexed(gw: Gateway, block: number) {
  const deadline = Date.now() + 60_000;
  while ((gw.services.indexer.status.indexedBlock ?? -1) < block) {
    if (Date.now() > deadline) throw new Error(`the index did not reach block ${block} (at ${gw.services.indexer.status.indexedBlock})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
