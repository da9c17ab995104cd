import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { encryptKeystoreJson, ethers, HDNodeWallet } from "ethers";
import { AnvilNode, DEV_MNEMONIC, startAnvil } from "../../src/chain/anvil";
import { createRpc } from "../../src/chain/rpc";
import { afterConsumption, consumptionFor, signConsumption, voucherJson } from "../../src/chain/vouchers";
import { issueApiKey } from "../../src/api/auth";
import { Db, openDb } from "../../src/store/db";
import { migrate } from "../../src/store/migrations";
import { createIndexer } from "../../src/sync/indexer";
import { createLogger } from "../../src/logger";
import { CustodyToken__factory } from "../../typechain-types";
import { deployDistrict, devWallet } from "../support/chain";
import { dumpIndex } from "../support/db";
import { call, until } from "./support";

export type District = Awaited<ReturnType<typeof deployDistrict>>;

export const PASSWORD = "fault-tests-only";
const dev = (i: number) => HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`);

/** A scratch directory under the OS temp dir, removed by `cleanup`. */
export function scratch(name: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `custody-fault-${name}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A chain for fault tests: Anvil as a separate process (optionally with a state file), the district deployed. Set-up
 * runs with a block per transaction; `intervalMining` then switches the node to a block a second.
 */
export async function faultChain(opts: { stateFile?: string; port?: number } = {}): Promise<{ node: AnvilNode; district: District }> {
  const node = await startAnvil({ stateFile: opts.stateFile, port: opts.port });
  const district = await deployDistrict(node.url);
  return { node, district };
}

export async function intervalMining(url: string, seconds = 1): Promise<void> {
  await createRpc({ urls: [url] }).send("evm_setIntervalMining", [seconds]);
}

/**
 * What a gateway process needs on disk: the deployment record and encrypted keystores of the parties it signs for
 * (the regulator, the bank, the three dev merchants), with a light scrypt (test keys).
 */
export async function gatewayFiles(dir: string, district: District): Promise<{ env: Record<string, string> }> {
  const keystoreDir = path.join(dir, "keystores");
  fs.mkdirSync(keystoreDir, { recursive: true });
  for (const i of [1, 5, 6, 7, 8]) {
    const w = dev(i);
    const json = await encryptKeystoreJson({ address: w.address, privateKey: w.privateKey }, PASSWORD, { scrypt: { N: 1 << 10 } });
    fs.writeFileSync(path.join(keystoreDir, `${w.address.toLowerCase()}.json`), json);
  }
  const deploymentFile = path.join(dir, "deployment.json");
  fs.writeFileSync(deploymentFile, JSON.stringify(district.deployment));
  return {
    env: {
      DEPLOYMENT_FILE: deploymentFile, KEYSTORE_DIR: keystoreDir, KEYSTORE_PASSWORD: PASSWORD, DATA_DIR: dir,
      BATCH_INTERVAL_MS: "100", POLL_INTERVAL_MS: "100",
    },
  };
}

/** API keys for the dev merchants (by merchant id) and an auditor, issued straight into the store. */
export async function issueKeys(db: Db, district: District): Promise<{ merchants: Map<number, string>; auditor: string }> {
  const merchants = new Map<number, string>();
  for (const w of district.parties.merchantWallets) {
    const id = Number(await district.escrow.merchantIdOf(w.address));
    if (id) merchants.set(id, (await issueApiKey(db, { role: "merchant", subject: String(id), label: `merchant ${id}` })).key);
  }
  const auditor = (await issueApiKey(db, { role: "auditor", subject: null, label: "auditor" })).key;
  return { merchants, auditor };
}

/** Opens (and migrates) the store at `dataDir` or `url`, runs `fn`, closes it. */
export async function withDb<T>(where: { dataDir?: string; databaseUrl?: string }, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDb(where);
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** A clean index of the chain up to `toBlock`, built from scratch in memory by the same indexer. */
export async function cleanIndex(url: string, district: District, toBlock: number): Promise<Db> {
  const db = await openDb({ dataDir: ":memory:" });
  await migrate(db);
  const indexer = createIndexer({
    db, rpc: createRpc({ urls: [url] }), contracts: { escrow: district.deployment.escrow, registry: district.deployment.registry },
    startBlock: district.deployment.startBlock, confirmations: 0, logger: createLogger("silent"), pollIntervalMs: 50,
  });
  await indexer.start();
  await indexer.syncTo(toBlock);
  await indexer.stop();
  return db;
}

/** The store's index equals a clean re-sync of the same chain: nothing lost, nothing applied twice. */
export async function expectSameAsCleanResync(db: Db, url: string, district: District): Promise<void> {
  const [cp] = await db.query<{ block_number: string }>("SELECT block_number FROM checkpoint WHERE id = 1");
  const clean = await cleanIndex(url, district, Number(cp.block_number));
  try {
    const a = await dumpIndex(db);
    const b = await dumpIndex(clean);
    for (const table of Object.keys(b)) expect(a[table], `table ${table}`).to.deep.equal(b[table]);
    expect(a.ledger.length).to.be.greaterThan(0);
  } finally {
    await clean.close();
  }
}

/**
 * Balances conserve: each merchant's indexed paid in = released + refunded + held and released = paid out + payable,
 * with held and payable as the contract reports them, and the escrow's token balance is the sum of what it holds.
 */
export async function expectConserved(db: Db, district: District): Promise<void> {
  const merchants = await db.query<{ merchant_id: string; paid_in: string; direct: string; released: string; refunded: string; paid_out: string }>(
    "SELECT merchant_id, paid_in, direct, released, refunded, paid_out FROM merchants ORDER BY merchant_id",
  );
  expect(merchants.length).to.be.greaterThan(0);
  let total = 0n;
  for (const m of merchants) {
    const [held, payable] = await district.escrow.balancesOf(Number(m.merchant_id));
    expect(BigInt(m.paid_in), `merchant ${m.merchant_id}: paid in`).to.equal(BigInt(m.released) + BigInt(m.refunded) + held);
    expect(BigInt(m.released), `merchant ${m.merchant_id}: released`).to.equal(BigInt(m.paid_out) + payable);
    total += held + payable;
  }
  const token = CustodyToken__factory.connect(district.deployment.banks[0].token, district.provider);
  expect(await token.balanceOf(district.deployment.escrow)).to.equal(total);
}

/** The lesson cards of the dev merchants that are still serving, with their holders and lessons used (from the chain). */
export async function activeCards(district: District): Promise<{ cardId: bigint; merchantId: number; holder: HDNodeWallet; used: number; left: number; held: bigint }[]> {
  const out = [];
  for (const w of district.parties.merchantWallets) {
    const merchantId = Number(await district.escrow.merchantIdOf(w.address));
    const m = await district.escrow.merchantOf(merchantId);
    if (Number(m.status) !== 1) continue;
    for (let n = 1n; n <= BigInt(m.cardCount); n++) {
      const cardId = (BigInt(merchantId) << 32n) | n;
      const c = await district.escrow.cardOf(cardId);
      if (Number(c.status) !== 1) continue;
      const holder = district.parties.holders.find((h) => h.address === c.holder)!;
      out.push({ cardId, merchantId, holder, used: Number(c.unitsUsed), left: Number(c.unitsLeft), held: c.held });
    }
  }
  return out;
}

export interface Submitted {
  cardId: string;
  sequence: number;
  merchantId: number;
}

/** The serving lesson cards and the next sequence of each, kept by the test across submissions (the node may be down). */
export async function voucherPlan(district: District) {
  const cards = await activeCards(district);
  return {
    cards, next: new Map(cards.map((c) => [c.cardId.toString(), c.used])), left: new Map(cards.map((c) => [c.cardId.toString(), c.left])),
    held: new Map(cards.map((c) => [c.cardId.toString(), c.held])),
  };
}
export type VoucherPlan = Awaited<ReturnType<typeof voucherPlan>>;

/**
 * Signs `perCard` one-lesson vouchers on each card (as its holder) and submits them through the API, one POST per
 * merchant and round, so they go on chain in batches. Returns the accepted ones.
 */
export async function submitVouchers(base: string, keys: Map<number, string>, district: District, perCard: number, plan?: VoucherPlan): Promise<Submitted[]> {
  const p = plan ?? (await voucherPlan(district));
  const chainId = district.deployment.chainId;
  const escrow = district.deployment.escrow;
  const deadline = Math.floor(Date.now() / 1000) + 24 * 3600;
  const cards = p.cards.filter((c) => p.left.get(c.cardId.toString())! >= perCard);
  const accepted: Submitted[] = [];
  for (let k = 0; k < perCard; k++) {
    const byMerchant = new Map<number, ReturnType<typeof voucherJson>[]>();
    for (const c of cards) {
      const id = c.cardId.toString();
      const at = { cardId: c.cardId, held: p.held.get(id)!, unitsLeft: p.left.get(id)!, unitsUsed: p.next.get(id)! };
      const v = await signConsumption(c.holder, chainId, escrow, consumptionFor(at, 1, deadline));
      const after = afterConsumption(at, 1);
      p.next.set(id, after.unitsUsed);
      p.left.set(id, after.unitsLeft);
      p.held.set(id, after.held);
      const list = byMerchant.get(c.merchantId) ?? [];
      list.push(voucherJson(v));
      byMerchant.set(c.merchantId, list);
    }
    for (const [merchantId, vouchers] of byMerchant) {
      const r = await call(base, keys.get(merchantId)!, "POST", `/v1/merchants/${merchantId}/consumptions`, { vouchers });
      expect(r.status, JSON.stringify(r.body)).to.equal(202);
      accepted.push(...vouchers.map((v) => ({ cardId: v.cardId, sequence: v.sequence, merchantId })));
    }
  }
  return accepted;
}

/** Until the gateway has nothing queued or in flight, then until its index reaches the head as it was then. */
export async function drained(base: string, url: string, timeoutMs = 90_000): Promise<void> {
  const rpc = createRpc({ urls: [url] });
  const deadline = Date.now() + timeoutMs;
  await until("the queue to drain", async () => {
    const q = (await call(base, null, "GET", "/health")).body.queue ?? {};
    return !q.queued && !q.sent;
  }, timeoutMs, 250);
  const head = Number(await rpc.send<string>("eth_blockNumber"));
  await until(`the index to reach block ${head}`, async () => (await call(base, null, "GET", "/health")).body.indexedBlock >= head, Math.max(10_000, deadline - Date.now()), 250);
}

/**
 * Every accepted voucher is on chain exactly once: one LessonsConsumed ledger row per (card, sequence) accepted, its
 * queue row confirmed, and each card's lessons used on chain grew by exactly its accepted vouchers.
 */
export async function expectEachVoucherOnce(db: Db, district: District, accepted: Submitted[], usedBefore: Map<string, number>): Promise<void> {
  const rows = await db.query<{ card_id: string; seq: number; n: string }>(
    "SELECT card_id, (args->>'sequence')::int AS seq, count(*) AS n FROM ledger WHERE event = 'LessonsConsumed' GROUP BY 1, 2",
  );
  const onLedger = new Map(rows.map((r) => [`${r.card_id}:${r.seq}`, Number(r.n)]));
  for (const v of accepted) expect(onLedger.get(`${v.cardId}:${v.sequence}`), `voucher ${v.cardId}:${v.sequence} on the ledger`).to.equal(1);
  for (const n of onLedger.values()) expect(n).to.equal(1);
  const queue = await db.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM voucher_queue GROUP BY status");
  expect(Object.fromEntries(queue.map((q) => [q.status, Number(q.n)]))).to.deep.equal({ confirmed: accepted.length });
  const perCard = new Map<string, number>();
  for (const v of accepted) perCard.set(v.cardId, (perCard.get(v.cardId) ?? 0) + 1);
  for (const [cardId, n] of perCard) {
    const c = await district.escrow.cardOf(BigInt(cardId));
    expect(Number(c.unitsUsed), `card ${cardId}: lessons used on chain`).to.equal((usedBefore.get(cardId) ?? 0) + n);
  }
}

export async function usedNow(district: District): Promise<Map<string, number>> {
  return new Map((await activeCards(district)).map((c) => [c.cardId.toString(), c.used]));
}

export { devWallet, ethers };

/**
 * Chain activity that does not use the merchants' accounts (the gateway sends from those): the bank opens `n` cards
 * on the serving dev merchants, one transaction after another.
 */
export async function buyCards(district: District, n: number): Promise<void> {
  const bank = district.escrow.connect(district.parties.bank);
  const serving: number[] = [];
  for (const w of district.parties.merchantWallets) {
    const id = Number(await district.escrow.merchantIdOf(w.address));
    if (Number((await district.escrow.merchantOf(id)).status) === 1) serving.push(id);
  }
  for (let i = 0; i < n; i++) {
    await (await bank.purchase(serving[i % serving.length], 1, district.parties.holders[i % district.parties.holders.length].address, true)).wait();
  }
}
