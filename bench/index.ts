/**
 * Indexer throughput benchmark: how fast the gateway turns a chain's custody events into its store, against the
 * rate at which the node can merely hand the same logs out.
 *
 *   npm run bench:index        (ts-node --transpile-only bench/index.ts; run `npx hardhat compile` first)
 *
 * 1. Starts Anvil as a separate process (automine) and builds a chain with >= BENCH_EVENTS (200,000) custody
 *    events: the district is deployed, merchants admitted (retail and beauty: no lesson cap), lesson plans
 *    published, cards bought, and then mostly consumeBatch transactions of real EIP-712 vouchers signed by the
 *    card holders (one lesson each), plus payouts, cooling-off refunds and risk levels. The vouchers are signed in
 *    worker threads while Anvil executes earlier batches. The chain is saved (Anvil --state) under the OS temp
 *    dir and reused by the next run on this machine while the contracts and parameters are unchanged
 *    (BENCH_FRESH=1 rebuilds it, BENCH_CACHE=0 neither reads nor writes it).
 * 2. Raw rate: plain eth_getLogs over the same block span in the ranges the indexer used, fetched and parsed as
 *    the indexer's RPC client does, not decoded or stored.
 * 3. Indexes from scratch into a fresh file-backed PGlite database, the gateway's default engine (the headline
 *    figures; the child runs with the V8 flags of package.json's `gateway` script, its heap cap, as the gateway
 *    does), then into a fresh in-memory PGlite (BENCH_MEMORY_DB=0 skips it; its database files count in its RSS) and
 *    into a PostgreSQL server's when BENCH_DATABASE_URL is set, with confirmations 0, timed until the checkpoint
 *    reaches the head, sampling the RSS every 100 ms. Each run is a fresh child process running the indexer
 *    in-process (the PGlite database is created the way the gateway creates it: initialised by a short-lived child
 *    process, see src/store/db.ts), so its RSS is the indexer's and PGlite's, not the set-up's or an earlier run's.
 *    The machine's load average at the start and end of each run is recorded with it.
 * 4. Checks the index: one ledger row per log, and cards' and merchants' balances equal the contract's.
 * 5. Prints a table and writes bench/results/index.json. Exits non-zero when a target is missed.
 *
 * Targets: indexing >= 50% of the raw eth_getLogs rate, >= 5,000 events/s on a 2-core machine, peak RSS <= 512 MB.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { Client as PgClient } from "pg";
import { fork } from "node:child_process";
import { ethers, HDNodeWallet, JsonRpcProvider, NonceManager, TypedDataEncoder } from "ethers";
import { AnvilNode, DEV_MNEMONIC, anvilBinary, startAnvil } from "../src/chain/anvil";
import { bootstrapDistrict, Deployment } from "../src/chain/bootstrap";
import { createRpc, Rpc, sleep } from "../src/chain/rpc";
import { allPids, procStat } from "./proc";
import { consumptionDigest, consumptionDomain, consumptionsAhead, consumptionStructPreimage } from "../src/chain/vouchers";
import { createLogger } from "../src/logger";
import { openDb, Db } from "../src/store/db";
import { migrate } from "../src/store/migrations";
import { createIndexer } from "../src/sync/indexer";
import { CustodyRegistry__factory, CustodyToken__factory, PrepaidEscrow, PrepaidEscrow__factory } from "../typechain-types";

// ---------------------------------------------------------------- parameters

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const MERCHANTS = Number(process.env.BENCH_MERCHANTS ?? 20);
const CARDS_PER_MERCHANT = Number(process.env.BENCH_CARDS_PER_MERCHANT ?? 100);
const VOUCHERS_PER_BATCH = Number(process.env.BENCH_BATCH ?? 500);
const LESSONS_PER_CARD = Math.ceil(EVENTS / (MERCHANTS * CARDS_PER_MERCHANT));
const HOLDERS = 200;
const FIRST_MERCHANT_ACCOUNT = 6; // dev accounts 0-5: deployer, regulator, two industry regulators, risk oracle, bank
const RETAIL = 6;
const BEAUTY = 4;
const LESSON = 1;
/** Lesson plans (units, price in fen): both under the 5,000 CNY named-card cap and above LESSONS_PER_CARD. */
const PLANS = [
  { units: Math.max(120, LESSONS_PER_CARD + 20), price: 360_000n },
  { units: Math.max(150, LESSONS_PER_CARD + 50), price: 450_000n },
];
const PAYOUT_EVERY = 5; // a merchant asks for a payout after every 5th batch of its own
const USE_CACHE = process.env.BENCH_CACHE !== "0";
const FRESH = process.env.BENCH_FRESH === "1";
/** Also index into an in-memory PGlite (its database files then count in the process's RSS). */
const MEMORY_DB = process.env.BENCH_MEMORY_DB !== "0";
/**
 * Also index into file-backed PGlite with V8's old space capped at this many MB (--max-old-space-size; 0: not
 * run): the heap the indexer needs is far below what V8 lets garbage grow to by default.
 */
const HEAP_CAP_MB = Number(process.env.BENCH_HEAP_CAP_MB ?? 0);
/** Also index into a fresh database on this PostgreSQL server (its process's memory is not the bench's). */
const PG_URL = process.env.BENCH_DATABASE_URL;
const TARGETS = { ratioToRaw: 0.5, eventsPerSecond: 5_000, peakRssMb: 512 };
/**
 * The V8 flags the gateway is launched with (`npm run gateway` / `npm start` in package.json: its heap cap), so
 * that the headline run's process is configured as the gateway's is.
 */
const GATEWAY_NODE_FLAGS: string[] = (() => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")) as { scripts: Record<string, string> };
  return pkg.scripts.gateway.match(/--max-old-space-size=\d+/g) ?? [];
})();

if (LESSONS_PER_CARD > 60_000) throw new Error("too many lessons per card: raise BENCH_MERCHANTS or BENCH_CARDS_PER_MERCHANT");

const hex = (n: number | bigint) => "0x" + n.toString(16);
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

function devKey(index: number): HDNodeWallet {
  return HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
}

// ---------------------------------------------------------------- chain set-up

interface ChainInfo {
  key: string;
  deployment: Deployment;
  head: number;
  merchants: { merchantId: number; account: string }[];
  /** Every card: id, holder index, lessons consumed. */
  cards: { cardId: string; holder: number; used: number }[];
  setupSeconds: number;
}

/** Sends transactions from Anvil's unlocked dev accounts (and impersonated holders) with explicit nonces, a few at a time. */
function createSender(rpc: Rpc, window = 4) {
  const nonces = new Map<string, number>();
  const inflight: Promise<string>[] = [];
  const latest = new Map<string, Promise<string>>();
  const sent: { hash: Promise<string>; from: string; to: string; data: string }[] = [];
  let count = 0;
  return {
    async nonceOf(from: string) {
      if (!nonces.has(from)) nonces.set(from, Number(await rpc.send<string>("eth_getTransactionCount", [from, "pending"])));
      return nonces.get(from)!;
    },
    async send(from: string, to: string, data: string, gas: number): Promise<void> {
      const nonce = await this.nonceOf(from);
      nonces.set(from, nonce + 1);
      while (inflight.length >= window) await inflight.shift();
      // One transaction in flight per sender: a nonce arriving before its predecessor would wait in Anvil's pool.
      await latest.get(from)?.catch(() => undefined);
      const hash = rpc.send<string>("eth_sendTransaction", [{ from, to, data, gas: hex(gas), gasPrice: "0x0", nonce: hex(nonce) }]);
      hash.catch(() => undefined);
      latest.set(from, hash);
      inflight.push(hash);
      sent.push({ hash, from, to, data });
      count++;
    },
    get count() {
      return count;
    },
    /** Waits for every transaction to be mined and throws, with the revert reason, on the first that failed. */
    async settle(escrow: PrepaidEscrow, checkAll = true): Promise<void> {
      await Promise.all(inflight.splice(0));
      const list = sent.splice(0);
      const hashes = await Promise.all(list.map((s) => s.hash));
      if (!checkAll && hashes.length) {
        await this.check(escrow, list.slice(-1), hashes.slice(-1));
        return;
      }
      await this.check(escrow, list, hashes);
    },
    async check(escrow: PrepaidEscrow, list: { from: string; to: string; data: string }[], hashes: string[]) {
      for (let i = 0; i < hashes.length; i += 100) {
        // eth_sendTransaction answers before Anvil has mined the block: wait for the receipts.
        let receipts: ({ status: string; blockNumber: string } | null)[] = [];
        for (const deadline = Date.now() + 120_000; ; await sleep(50)) {
          receipts = await rpc.batch<{ status: string; blockNumber: string } | null>(
            hashes.slice(i, i + 100).map((h) => ({ method: "eth_getTransactionReceipt", params: [h] })),
          );
          if (receipts.every((r) => r !== null) || Date.now() > deadline) break;
        }
        for (const [j, r] of receipts.entries()) {
          if (r && r.status === "0x1") continue;
          const tx = list[i + j];
          let reason = r ? "reverted" : "not mined";
          if (r) {
            try {
              await rpc.send("eth_call", [{ from: tx.from, to: tx.to, data: tx.data }, hex(Number(r.blockNumber) - 1)]);
            } catch (err) {
              const data = (err as { data?: string }).data;
              const parsed = typeof data === "string" ? escrow.interface.parseError(data) : null;
              reason = parsed ? `${parsed.name}(${parsed.args.join(", ")})` : (err as Error).message;
            }
          }
          throw new Error(`set-up transaction ${hashes[i + j]} from ${tx.from} failed: ${reason}`);
        }
      }
    },
  };
}

/** Signs vouchers and ABI-encodes consumeBatch calls in worker threads (plain JS, so it runs under ts-node too). */
function createSigningPool(size: number, shared: { keys: string[]; domainSeparator: string; abi: unknown; deadline: number }) {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { SigningKey, Interface, keccak256 } = require(workerData.ethersPath);
    // The voucher codec (TypeScript): its struct preimage and its consume tuple, so the workers know no encoding.
    require(workerData.tsNodePath).register({ transpileOnly: true });
    const { consumptionStructPreimage, voucherArg } = require(workerData.codecPath);
    const keys = workerData.keys.map((k) => new SigningKey(k));
    const iface = new Interface(workerData.abi);
    const prefix = "0x1901" + workerData.domainSeparator.slice(2);
    const deadline = workerData.deadline;
    parentPort.on("message", (job) => {
      const vouchers = [];
      for (let i = 0; i < job.cardIds.length; i++) {
        const cardId = BigInt(job.cardIds[i]);
        const message = { cardId, lessons: 1, amount: BigInt(job.amounts[i]), sequence: job.sequences[i], deadline };
        // The EIP-712 digest of the voucher: PrepaidEscrow.consumptionDigest.
        const structHash = keccak256("0x" + consumptionStructPreimage(message)).slice(2);
        const digest = keccak256(prefix + structHash);
        const sig = keys[job.holders[i]].sign(digest);
        vouchers.push(voucherArg({ ...message, v: sig.v, r: sig.r, s: sig.s }));
      }
      parentPort.postMessage({ id: job.id, data: iface.encodeFunctionData("consumeBatch", [vouchers]) });
    });`;
  const workers = Array.from({ length: size }, () =>
    new Worker(code, {
      eval: true,
      workerData: { ...shared, ethersPath: require.resolve("ethers"), tsNodePath: require.resolve("ts-node"), codecPath: require.resolve("../src/chain/vouchers") },
    }),
  );
  const pending = new Map<number, { resolve: (data: string) => void; reject: (e: Error) => void }>();
  for (const w of workers) {
    w.on("message", (m: { id: number; data: string }) => {
      pending.get(m.id)?.resolve(m.data);
      pending.delete(m.id);
    });
    w.on("error", (e) => {
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    });
  }
  let next = 0;
  return {
    run(job: { cardIds: string[]; sequences: number[]; amounts: string[]; holders: number[] }): Promise<string> {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        workers[id % workers.length].postMessage({ id, ...job });
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

function cacheKey(): string {
  const h = createHash("sha256");
  h.update(JSON.stringify({ v: 1, EVENTS, MERCHANTS, CARDS_PER_MERCHANT, VOUCHERS_PER_BATCH, PLANS: PLANS.map((p) => [p.units, String(p.price)]) }));
  h.update(PrepaidEscrow__factory.bytecode).update(CustodyRegistry__factory.bytecode).update(CustodyToken__factory.bytecode);
  h.update(String(fs.statSync(anvilBinary()).size));
  return h.digest("hex").slice(0, 16);
}

async function buildChain(node: AnvilNode, key: string): Promise<ChainInfo> {
  const t0 = Date.now();
  const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, pollingInterval: 50 });
  const rpc = createRpc({ urls: [node.url], timeoutMs: 120_000 });
  const w = (i: number) => devKey(i).connect(provider);
  const [regulatorAddr, bankAddr, oracleAddr] = [w(1).address, w(5).address, w(4).address];
  log("deploying the district");
  const { deployment, escrow } = await bootstrapDistrict({
    deployer: new NonceManager(w(0)),
    platformRegulator: new NonceManager(w(1)),
    riskOracle: oracleAddr,
    bank: { account: bankAddr, name: "Bench Bank custody fen", symbol: "BBC" },
    regulators: { "education-commission": w(2).address, "sports-bureau": w(2).address, "commerce-bureau": w(3).address },
  });
  const escrowAddr = deployment.escrow;
  const bankId = deployment.banks[0].bankId;
  const sender = createSender(rpc);
  const I = escrow.interface;

  // Merchants: dev accounts from FIRST_MERCHANT_ACCOUNT on, admitted in order, so their ids are 1..MERCHANTS.
  log(`admitting ${MERCHANTS} merchants and publishing ${MERCHANTS * PLANS.length} lesson plans`);
  const merchants = Array.from({ length: MERCHANTS }, (_, i) => ({ merchantId: i + 1, account: w(FIRST_MERCHANT_ACCOUNT + i).address }));
  for (const [i, m] of merchants.entries()) {
    const industry = i % 2 === 0 ? RETAIL : BEAUTY;
    await sender.send(regulatorAddr, escrowAddr, I.encodeFunctionData("admitMerchant", [m.account, industry, bankId, ethers.id(`bench-merchant-${i}`)]), 300_000);
  }
  await sender.settle(escrow);
  for (const m of [merchants[0], merchants[merchants.length - 1]]) {
    const id = Number(await escrow.merchantIdOf(m.account));
    if (id !== m.merchantId) throw new Error(`merchant ${m.account} got id ${id}, expected ${m.merchantId}`);
  }
  for (const m of merchants) {
    for (const p of PLANS) await sender.send(m.account, escrowAddr, I.encodeFunctionData("publishPlan", [m.merchantId, LESSON, p.units, 0, 0, p.price]), 300_000);
  }
  await sender.settle(escrow);

  // Cards: the bank opens them in a fixed order, so card ids are known without reading receipts.
  const holderKeys = Array.from({ length: HOLDERS }, (_, i) => devKey(1000 + i));
  const cards: ChainInfo["cards"] = [];
  const extraCards: { cardId: string; holder: number }[] = [];
  log(`buying ${MERCHANTS * CARDS_PER_MERCHANT} cards`);
  for (let c = 0; c < CARDS_PER_MERCHANT + 1; c++) {
    for (const m of merchants) {
      const holder = (m.merchantId * 7919 + c) % HOLDERS;
      const cardId = ((BigInt(m.merchantId) << 32n) | BigInt(c + 1)).toString();
      await sender.send(bankAddr, escrowAddr, I.encodeFunctionData("purchase", [m.merchantId, 1 + (c % PLANS.length), holderKeys[holder].address, true]), 500_000);
      if (c < CARDS_PER_MERCHANT) cards.push({ cardId, holder, used: 0 });
      else extraCards.push({ cardId, holder }); // refunded in cooling-off below
    }
    if (c % 20 === 19) log(`  ${sender.count} transactions sent`);
  }
  await sender.settle(escrow);

  // Cooling-off refunds of one card per merchant, by its holder (impersonated: gas price is 0, no funds needed).
  for (const e of extraCards) {
    const addr = holderKeys[e.holder].address;
    await rpc.send("anvil_impersonateAccount", [addr]);
    await sender.send(addr, escrowAddr, I.encodeFunctionData("refundCoolingOff", [e.cardId]), 300_000);
  }
  await sender.settle(escrow);
  // Risk levels for a few merchants (medium caps new sales; consumption goes on).
  for (const m of merchants.slice(0, 3)) {
    await sender.send(oracleAddr, escrowAddr, I.encodeFunctionData("setRiskLevel", [m.merchantId, 1, ethers.id("bench complaints")]), 300_000);
  }
  await sender.settle(escrow);

  // Consumption: vouchers signed by the holders, one lesson each, in consumeBatch calls of VOUCHERS_PER_BATCH.
  const chainId = (await provider.getNetwork()).chainId;
  const domainSeparator = TypedDataEncoder.hashDomain(consumptionDomain(chainId, escrowAddr));
  const deadline = (await provider.getBlock("latest"))!.timestamp + 365 * 86_400;
  // The workers' digest must be the contract's: check one against escrow.consumptionDigest and ethers' encoder.
  // Each voucher's amount: a card's share at its sequence. Cards of one merchant and plan are alike (the bank opens them
  // in turn on the plans), so the amounts of lesson r are read once per merchant and plan from its first card.
  const amountsOf = new Map<string, bigint[]>();
  for (const m of merchants) {
    for (let plan = 0; plan < PLANS.length; plan++) {
      const cardId = (BigInt(m.merchantId) << 32n) | BigInt(plan + 1);
      const c = await escrow.cardOf(cardId);
      const ahead = consumptionsAhead({ cardId, held: c.held, unitsLeft: Number(c.unitsLeft), unitsUsed: 0 }, Array(LESSONS_PER_CARD).fill(1), deadline);
      amountsOf.set(`${m.merchantId}/${plan}`, ahead.map((x) => x.amount));
    }
  }
  const amountOf = (cardId: string, seq: number) => {
    const id = BigInt(cardId);
    return amountsOf.get(`${id >> 32n}/${Number((id & 0xffffffffn) - 1n) % PLANS.length}`)![seq].toString();
  };
  const sample = { cardId: BigInt(cards[0].cardId), lessons: 1, amount: BigInt(amountOf(cards[0].cardId, 0)), sequence: 0, deadline };
  const ours = ethers.keccak256(ethers.concat(["0x1901", domainSeparator, ethers.keccak256("0x" + consumptionStructPreimage(sample))]));
  const theirs = await escrow.consumptionDigest(sample.cardId, 1, sample.amount, 0, deadline);
  if (ours !== theirs || ours !== consumptionDigest(chainId, escrowAddr, sample)) {
    throw new Error(`voucher digest mismatch: ours ${ours}, escrow.consumptionDigest ${theirs}`);
  }
  const workers = Math.max(1, Math.min(4, os.cpus().length));
  const pool = createSigningPool(workers, { keys: holderKeys.map((k) => k.privateKey), domainSeparator, abi: PrepaidEscrow__factory.abi, deadline });
  try {
    // Per merchant: lesson r of every card, then lesson r+1, ...; a batch is VOUCHERS_PER_BATCH consecutive vouchers.
    const jobs: { merchant: number; cardIds: string[]; sequences: number[]; amounts: string[]; holders: number[] }[] = [];
    const perMerchant = merchants.map((_, mi) => {
      const own = cards.filter((c) => Number(BigInt(c.cardId) >> 32n) === mi + 1);
      const list: { card: (typeof cards)[number]; seq: number }[] = [];
      for (let r = 0; r < LESSONS_PER_CARD; r++) for (const card of own) list.push({ card, seq: r });
      const batches: typeof jobs = [];
      for (let i = 0; i < list.length; i += VOUCHERS_PER_BATCH) {
        const part = list.slice(i, i + VOUCHERS_PER_BATCH);
        batches.push({
          merchant: mi, cardIds: part.map((x) => x.card.cardId), sequences: part.map((x) => x.seq), amounts: part.map((x) => amountOf(x.card.cardId, x.seq)),
          holders: part.map((x) => x.card.holder),
        });
      }
      return batches;
    });
    const rounds = Math.max(...perMerchant.map((b) => b.length));
    for (let b = 0; b < rounds; b++) for (const batches of perMerchant) if (batches[b]) jobs.push(batches[b]);
    const totalVouchers = jobs.reduce((s, j) => s + j.cardIds.length, 0);
    log(`consuming: ${totalVouchers} vouchers in ${jobs.length} consumeBatch transactions (${workers} signing workers)`);
    const ahead = workers * 3;
    const results: Promise<string>[] = [];
    let queued = 0;
    let done = 0;
    let lastReport = Date.now();
    const batchesOf = new Array<number>(merchants.length).fill(0);
    const gas = Math.min(58_000_000, 500_000 + VOUCHERS_PER_BATCH * 25_000); // ~10k a voucher used
    for (let j = 0; j < jobs.length; j++) {
      while (queued < jobs.length && queued < j + ahead) {
        const job = jobs[queued];
        results[queued++] = pool.run({ cardIds: job.cardIds, sequences: job.sequences, amounts: job.amounts, holders: job.holders });
      }
      const data = await results[j];
      delete results[j];
      const job = jobs[j];
      const m = merchants[job.merchant];
      await sender.send(m.account, escrowAddr, data, gas);
      done += job.cardIds.length;
      if (++batchesOf[job.merchant] % PAYOUT_EVERY === 0) {
        await sender.send(m.account, escrowAddr, I.encodeFunctionData("payOut", [m.merchantId]), 300_000);
      }
      if (j % 50 === 49) await sender.settle(escrow, false); // fail early: the latest must have succeeded
      if (Date.now() - lastReport > 5_000) {
        const s = (Date.now() - t0) / 1000;
        log(`  ${done}/${totalVouchers} vouchers consumed (${j + 1}/${jobs.length} batches), ${s.toFixed(0)} s into set-up`);
        lastReport = Date.now();
      }
    }
    await sender.settle(escrow, false); // every card's consumption is checked below
  } finally {
    await pool.close();
  }
  for (const c of cards) c.used = LESSONS_PER_CARD;
  // Every card must show every lesson consumed.
  const onChain = await cardStates(rpc, escrow, cards.map((c) => c.cardId));
  const wrong = cards.find((c, i) => onChain[i].unitsUsed !== c.used);
  if (wrong) throw new Error(`card ${wrong.cardId} used ${onChain[cards.indexOf(wrong)].unitsUsed} lessons, expected ${wrong.used}`);
  const head = await provider.getBlockNumber();
  provider.destroy();
  return { key, deployment, head, merchants, cards, setupSeconds: (Date.now() - t0) / 1000 };
}

async function cardStates(rpc: Rpc, escrow: PrepaidEscrow, ids: string[]) {
  const out: { held: bigint; unitsLeft: number; unitsUsed: number }[] = [];
  const to = await escrow.getAddress();
  for (let i = 0; i < ids.length; i += 200) {
    const res = await rpc.batch<string>(
      ids.slice(i, i + 200).map((id) => ({ method: "eth_call", params: [{ to, data: escrow.interface.encodeFunctionData("cardOf", [id]) }, "latest"] })),
    );
    for (const r of res) {
      const c = escrow.interface.decodeFunctionResult("cardOf", r)[0];
      out.push({ held: c.held as bigint, unitsLeft: Number(c.unitsLeft), unitsUsed: Number(c.unitsUsed) });
    }
  }
  return out;
}

/** The chain, from the temp-dir cache when it matches, otherwise built now (and saved when Anvil stops). */
async function chain(): Promise<{ node: AnvilNode; info: ChainInfo; reused: boolean }> {
  const dir = path.join(os.tmpdir(), "custody-bench-index");
  fs.mkdirSync(dir, { recursive: true });
  const key = cacheKey();
  const stateFile = path.join(dir, `${key}.anvil-state.json`);
  const metaFile = path.join(dir, `${key}.meta.json`);
  const logFile = path.join(dir, "anvil.log");
  if (USE_CACHE && !FRESH && fs.existsSync(stateFile) && fs.existsSync(metaFile)) {
    const info = JSON.parse(fs.readFileSync(metaFile, "utf8")) as ChainInfo;
    log(`loading the cached chain ${stateFile} (${mb(fs.statSync(stateFile).size)} MB; BENCH_FRESH=1 rebuilds it)`);
    let node: AnvilNode | null = null;
    try {
      node = await startAnvil({ stateFile, accounts: FIRST_MERCHANT_ACCOUNT + MERCHANTS, logFile });
      const rpc = createRpc({ urls: [node.url] });
      const head = Number(await rpc.send<string>("eth_blockNumber"));
      const code = await rpc.send<string>("eth_getCode", [info.deployment.escrow, "latest"]);
      const logs = await rpc.send<unknown[]>("eth_getLogs", [{ address: [info.deployment.escrow], fromBlock: hex(info.head), toBlock: hex(info.head) }]);
      if (head !== info.head || code.length < 10 || logs.length === 0) throw new Error(`cached chain does not match (head ${head}, expected ${info.head})`);
      return { node, info, reused: true };
    } catch (err) {
      log(`cannot reuse the cached chain (${(err as Error).message}): rebuilding it`);
      if (node) await node.stop(5_000);
    }
  }
  for (const f of fs.readdirSync(dir)) if (f.endsWith(".anvil-state.json") || f.endsWith(".meta.json")) fs.rmSync(path.join(dir, f), { force: true });
  fs.rmSync(logFile, { force: true });
  const node = await startAnvil({ stateFile: USE_CACHE ? stateFile : undefined, accounts: FIRST_MERCHANT_ACCOUNT + MERCHANTS, logFile });
  try {
    const info = await buildChain(node, key);
    if (USE_CACHE) fs.writeFileSync(metaFile + ".pending", JSON.stringify(info));
    return { node, info, reused: false };
  } catch (err) {
    await node.stop(5_000);
    fs.rmSync(stateFile, { force: true });
    throw err;
  }
}

// ---------------------------------------------------------------- measurements

/** eth_getLogs over `ranges`, fetched and JSON-parsed like the indexer's client does; nothing decoded or stored. */
async function rawGetLogs(rpc: Rpc, addresses: string[], ranges: [number, number][]) {
  const t = process.hrtime.bigint();
  let logs = 0;
  for (const [from, to] of ranges) {
    const res = await rpc.send<unknown[]>("eth_getLogs", [{ address: addresses, fromBlock: hex(from), toBlock: hex(to) }]);
    logs += res.length;
  }
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  return { logs, seconds, eventsPerSecond: logs / seconds };
}

/** Block ranges holding about `perRange` logs each, from the per-block counts of an index. */
async function rangesOfLogs(db: Db, from: number, head: number, perRange: number): Promise<[number, number][]> {
  const rows = await db.query<{ b: string; n: string }>("SELECT block_number AS b, count(*) AS n FROM ledger GROUP BY block_number");
  const counts = new Map(rows.map((r) => [Number(r.b), Number(r.n)]));
  const ranges: [number, number][] = [];
  let start = from;
  let n = 0;
  for (let b = from; b <= head; b++) {
    n += counts.get(b) ?? 0;
    if (n >= perRange || b === head) {
      ranges.push([start, b]);
      start = b + 1;
      n = 0;
    }
  }
  return ranges;
}

/** CPU ticks (1/100 s) of this machine's Anvil and PostgreSQL processes by pid, from /proc (null where there is none). */
function nodeAndDatabaseTicks(): Map<string, { group: "anvil" | "postgres"; ticks: number }> | null {
  const pids = allPids();
  if (pids.length === 0) return null;
  const out = new Map<string, { group: "anvil" | "postgres"; ticks: number }>();
  for (const pid of pids) {
    const st = procStat(pid);
    const group = st?.comm.startsWith("anvil") ? "anvil" : st?.comm.startsWith("postgres") ? "postgres" : null;
    if (st && group) out.set(pid, { group, ticks: st.ticks });
  }
  return out;
}

/** CPU seconds Anvil and the local PostgreSQL processes used between two snapshots (processes that ended are missed). */
function otherCpuSeconds(before: ReturnType<typeof nodeAndDatabaseTicks>, after: ReturnType<typeof nodeAndDatabaseTicks>) {
  if (!before || !after) return null;
  const sum = { anvil: 0, postgres: 0 };
  for (const [pid, a] of after) sum[a.group] += a.ticks - (before.get(pid)?.ticks ?? 0);
  return { anvil: round(sum.anvil / 100, 2), postgres: round(sum.postgres / 100, 2) };
}

interface IndexRun {
  label: string;
  events: number;
  seconds: number;
  /** CPU time of the indexing process (PGlite runs in it) over `seconds`. */
  cpuSeconds: number;
  /** CPU time of Anvil and of this machine's PostgreSQL processes over `seconds` (Linux; null elsewhere). */
  otherCpuSeconds: { anvil: number; postgres: number } | null;
  eventsPerSecond: number;
  peakRssMb: number;
  rssBeforeMb: number;
  atPeak: { heapTotalMb: number; externalMb: number };
  /** The machine's 1-minute load average when the run started and ended (other work slows every figure). */
  loadAverage: [number, number];
  batches: number;
  ranges: [number, number][];
  /** The index, left open for checks; the caller closes it. */
  db: Db;
}

interface IndexRunReport extends Omit<IndexRun, "db"> {
  logs: number;
  verified: string;
  /** The child's kernel high-water mark (getrusage), PGlite's start-up and the checks included. */
  maxRssMb: number;
  /** Ranges of ~10,000 logs, from the index's per-block counts. */
  bigRanges: [number, number][];
}

/**
 * One indexing run in a fresh child process (this file with --index-run), so that its RSS is the indexer's and
 * PGlite's alone: not the set-up's, nor an earlier run's.
 */
function indexRunInChild(label: string, dataDir: string, url: string, info: ChainInfo, nodeArgs: string[] = []): Promise<IndexRunReport> {
  const infoFile = path.join(os.tmpdir(), `custody-bench-info-${process.pid}.json`);
  fs.writeFileSync(infoFile, JSON.stringify(info));
  // BENCH_CPU_PROF=dir: a V8 CPU profile of each index run (node --cpu-prof), for finding where the time goes.
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = fork(__filename, ["--index-run", label, dataDir, url, infoFile], {
    execArgv: [...nodeArgs, ...prof, "-r", require.resolve("ts-node/register/transpile-only")],
    stdio: "inherit",
  });
  return new Promise<IndexRunReport>((resolve, reject) => {
    let report: IndexRunReport | null = null;
    child.on("message", (m: { report?: IndexRunReport; error?: string }) => {
      if (m.report) report = m.report;
      if (m.error) reject(new Error(`${label} index run: ${m.error}`));
    });
    child.on("exit", (code) => {
      fs.rmSync(infoFile, { force: true });
      if (report) resolve(report);
      else reject(new Error(`${label} index run exited with code ${code}`));
    });
  });
}

async function childMain(label: string, dataDir: string, url: string, infoFile: string): Promise<void> {
  const info = JSON.parse(fs.readFileSync(infoFile, "utf8")) as ChainInfo;
  const run = await indexRun(label, dataDir, url, info);
  try {
    const { db, ...rest } = run;
    const rpc = createRpc({ urls: [url], timeoutMs: 120_000 });
    const { logs } = await rawGetLogs(rpc, [info.deployment.escrow, info.deployment.registry], run.ranges);
    const verified = await verify(db, url, info, logs);
    const bigRanges = await rangesOfLogs(db, info.deployment.startBlock, info.head, 10_000);
    const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    process.send!({ report: { ...rest, logs, verified, bigRanges, maxRssMb } });
  } finally {
    await run.db.close();
  }
}

async function indexRun(label: string, store: string, url: string, info: ChainInfo): Promise<IndexRun> {
  // `store`: a PGlite data dir (":memory:" for none) or a PostgreSQL URL.
  const db: Db = await openDb(/^postgres(ql)?:\/\//.test(store) ? { databaseUrl: store } : { dataDir: store });
  try {
    await migrate(db);
    (global as { gc?: () => void }).gc?.();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    /** What the RSS held when it peaked: V8's heap (JS objects and garbage), external memory (PGlite's WebAssembly heap). */
    let atPeak = { heapTotalMb: 0, externalMb: 0 };
    const sample = () => {
      const m = process.memoryUsage();
      if (m.rss > peak) {
        peak = m.rss;
        atPeak = { heapTotalMb: mb(m.heapTotal), externalMb: mb(m.external) };
      }
    };
    const sampler = setInterval(sample, 100);
    const ranges: [number, number][] = [];
    let events = 0;
    let lastReport = Date.now();
    let reached!: () => void;
    const atHead = new Promise<void>((resolve) => (reached = resolve));
    const load0 = os.loadavg()[0];
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const others0 = nodeAndDatabaseTicks();
    const indexer = createIndexer({
      db,
      rpc: createRpc({ urls: [url], timeoutMs: 120_000 }),
      contracts: { escrow: info.deployment.escrow, registry: info.deployment.registry },
      startBlock: info.deployment.startBlock,
      confirmations: 0,
      logger: createLogger(process.env.LOG_LEVEL ?? "warn"),
      pollIntervalMs: 50,
      onBatch: (b) => {
        ranges.push([b.from, b.to]);
        events += b.events;
        sample();
        if (Date.now() - lastReport > 5_000) {
          const s = Number(process.hrtime.bigint() - t0) / 1e9;
          log(`  ${label}: ${events} events, block ${b.to}/${info.head}, ${Math.round(events / s)} events/s, RSS ${mb(peak)} MB peak`);
          lastReport = Date.now();
        }
        if (b.to >= info.head) reached();
      },
    });
    let seconds: number;
    let cpuSeconds: number;
    let others: IndexRun["otherCpuSeconds"];
    try {
      await indexer.start();
      await Promise.race([atHead, indexer.done().then(() => Promise.reject(new Error(`indexer stopped: ${indexer.status.lastError}`)))]);
      seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      cpuSeconds = (cpu.user + cpu.system) / 1e6;
      others = otherCpuSeconds(others0, nodeAndDatabaseTicks());
    } finally {
      clearInterval(sampler);
      await indexer.stop();
    }
    sample();
    return {
      label, events, seconds, cpuSeconds, otherCpuSeconds: others, eventsPerSecond: events / seconds, peakRssMb: mb(peak), rssBeforeMb: mb(rssBefore), atPeak,
      loadAverage: [round(load0, 2), round(os.loadavg()[0], 2)],
      batches: ranges.length, ranges, db,
    };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/** The index must hold one ledger row per log, and the contract's own balances for cards and merchants. */
async function verify(db: Db, url: string, info: ChainInfo, expectedLogs: number): Promise<string> {
  const [{ rows: ledgerRows }] = await db.query<{ rows: string }>("SELECT count(*) AS rows FROM ledger");
  if (Number(ledgerRows) !== expectedLogs) throw new Error(`ledger holds ${ledgerRows} rows, the chain ${expectedLogs} logs`);
  const provider = new JsonRpcProvider(url, undefined, { staticNetwork: true });
  try {
    const escrow = PrepaidEscrow__factory.connect(info.deployment.escrow, provider);
    const rpc = createRpc({ urls: [url] });
    const n = Math.min(100, info.cards.length);
    const sample = [...new Set(Array.from({ length: n }, (_, i) => info.cards[Math.floor((i * info.cards.length) / n)].cardId))];
    const rows = await db.query<{ card_id: string; held: string; units_left: number; units_used: number }>(
      "SELECT card_id::text AS card_id, held, units_left, units_used FROM cards WHERE card_id = ANY($1::numeric[])",
      [sample],
    );
    if (rows.length !== sample.length) throw new Error(`index has ${rows.length} of ${sample.length} sampled cards`);
    const byId = new Map(rows.map((r) => [r.card_id, r]));
    const onChain = await cardStates(rpc, escrow, sample);
    sample.forEach((id, i) => {
      const r = byId.get(id)!;
      const c = onChain[i];
      if (BigInt(r.held) !== c.held || Number(r.units_left) !== c.unitsLeft || Number(r.units_used) !== c.unitsUsed) {
        throw new Error(`card ${id}: index held ${r.held}/left ${r.units_left}/used ${r.units_used}, chain ${c.held}/${c.unitsLeft}/${c.unitsUsed}`);
      }
    });
    const merchants = await db.query<{ merchant_id: string; paid_in: string; released: string; refunded: string; paid_out: string }>(
      "SELECT merchant_id, paid_in, released, refunded, paid_out FROM merchants ORDER BY merchant_id",
    );
    if (merchants.length !== info.merchants.length) throw new Error(`index has ${merchants.length} merchants, chain ${info.merchants.length}`);
    for (const m of merchants) {
      const c = await escrow.merchantOf(Number(m.merchant_id));
      for (const [col, v] of [["paid_in", c.paidIn], ["released", c.released], ["refunded", c.refunded], ["paid_out", c.paidOut]] as const) {
        if (BigInt(m[col]) !== v) throw new Error(`merchant ${m.merchant_id}: index ${col} ${m[col]}, chain ${v}`);
      }
    }
    return `ledger ${ledgerRows} rows = ${expectedLogs} logs; ${sample.length} cards and ${merchants.length} merchants match the chain`;
  } finally {
    provider.destroy();
  }
}

// ---------------------------------------------------------------- main

async function main() {
  let node: AnvilNode | null = null;
  const onSignal = () => {
    node?.kill();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const t0 = Date.now();
  const loadAtStart = os.loadavg()[0];
  try {
    const c = await chain();
    node = c.node;
    const { info } = c;
    const setupSeconds = c.reused ? 0 : (Date.now() - t0) / 1000;
    log(c.reused ? `chain reused: head ${info.head}` : `chain built in ${setupSeconds.toFixed(1)} s: head ${info.head}`);
    const rpc = createRpc({ urls: [node.url], timeoutMs: 120_000 });
    const addresses = [info.deployment.escrow, info.deployment.registry];
    const from = info.deployment.startBlock;

    // The headline run: file-backed PGlite, the gateway's default engine (./data/pglite), from scratch.
    const headDir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-bench-pglite-"));
    log(`indexing into file-backed PGlite (the default engine) under ${headDir} (in a fresh child process, node ${GATEWAY_NODE_FLAGS.join(" ") || "without flags"} as the gateway is launched)`);
    let head: IndexRunReport;
    try {
      head = await indexRunInChild("file", headDir, node.url, info, GATEWAY_NODE_FLAGS);
    } finally {
      fs.rmSync(headDir, { recursive: true, force: true });
    }
    log(`  ${head.events} events in ${head.seconds.toFixed(2)} s: ${Math.round(head.eventsPerSecond)} events/s, peak RSS ${head.peakRssMb} MB (${head.rssBeforeMb} MB before; at the peak V8 heap ${head.atPeak.heapTotalMb} MB, external ${head.atPeak.externalMb} MB), ${head.cpuSeconds.toFixed(1)} CPU-s`);
    log(`  checked: ${head.verified}`);
    if (head.logs < EVENTS) throw new Error(`the chain holds ${head.logs} custody events, fewer than ${EVENTS}`);
    const verified = head.verified;

    log(`raw eth_getLogs over the indexer's ${head.ranges.length} ranges (twice)`);
    const rawTicks0 = nodeAndDatabaseTicks();
    const rawCpu0 = process.cpuUsage();
    const rawA = await rawGetLogs(rpc, addresses, head.ranges);
    const rawB = await rawGetLogs(rpc, addresses, head.ranges);
    const rawCpu = process.cpuUsage(rawCpu0);
    /** CPU seconds of one raw pass: the node's (Anvil) and the client's (this process: HTTP, text, JSON.parse). */
    const rawPassCpu = { anvil: (otherCpuSeconds(rawTicks0, nodeAndDatabaseTicks())?.anvil ?? NaN) / 2, client: (rawCpu.user + rawCpu.system) / 1e6 / 2 };
    const raw = rawA.eventsPerSecond >= rawB.eventsPerSecond ? rawA : rawB;
    log(`  ${raw.logs} logs in ${raw.seconds.toFixed(2)} s: ${Math.round(raw.eventsPerSecond)} events/s (best of 2)`);
    log(`raw eth_getLogs in ${head.bigRanges.length} ranges of ~10,000 logs (reference)`);
    const rawBig = await rawGetLogs(rpc, addresses, head.bigRanges);
    log(`  ${rawBig.logs} logs in ${rawBig.seconds.toFixed(2)} s: ${Math.round(rawBig.eventsPerSecond)} events/s`);

    let memRun: IndexRunReport | null = null;
    if (MEMORY_DB) {
      log(`indexing into in-memory PGlite (in a fresh child process)`);
      memRun = await indexRunInChild("memory", ":memory:", node.url, info);
      log(`  ${memRun.events} events in ${memRun.seconds.toFixed(2)} s: ${Math.round(memRun.eventsPerSecond)} events/s, peak RSS ${memRun.peakRssMb} MB (${memRun.rssBeforeMb} MB before)`);
      log(`  checked: ${memRun.verified}`);
    }

    let capped: IndexRunReport | null = null;
    if (HEAP_CAP_MB > 0) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-bench-pglite-"));
      try {
        log(`indexing into file-backed PGlite with node --max-old-space-size=${HEAP_CAP_MB} (in a fresh child process)`);
        capped = await indexRunInChild("file-capped", dir, node.url, info, [`--max-old-space-size=${HEAP_CAP_MB}`]);
        log(`  ${capped.events} events in ${capped.seconds.toFixed(2)} s: ${Math.round(capped.eventsPerSecond)} events/s, peak RSS ${capped.peakRssMb} MB (${capped.rssBeforeMb} MB before)`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }

    let pgRun: IndexRunReport | null = null;
    if (PG_URL) {
      const name = `custody_bench_${process.pid}_${Date.now()}`;
      const admin = new PgClient({ connectionString: PG_URL });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
        const u = new URL(PG_URL);
        u.pathname = "/" + name;
        log(`indexing into PostgreSQL database ${name} (in a fresh child process)`);
        pgRun = await indexRunInChild("postgres", u.toString(), node.url, info);
        log(`  ${pgRun.events} events in ${pgRun.seconds.toFixed(2)} s: ${Math.round(pgRun.eventsPerSecond)} events/s, peak RSS ${pgRun.peakRssMb} MB (${pgRun.rssBeforeMb} MB before)`);
        log(`  checked: ${pgRun.verified}`);
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name}`).catch(() => undefined);
        await admin.end();
      }
    }

    const rawRate = raw.eventsPerSecond;
    const ratioToRaw = head.eventsPerSecond / rawRate;
    const targets = {
      ratioToRaw: { target: `>= ${TARGETS.ratioToRaw}`, value: round(ratioToRaw, 3), met: ratioToRaw >= TARGETS.ratioToRaw },
      eventsPerSecond: { target: `>= ${TARGETS.eventsPerSecond}`, value: Math.round(head.eventsPerSecond), met: head.eventsPerSecond >= TARGETS.eventsPerSecond },
      peakRssMb: { target: `<= ${TARGETS.peakRssMb}`, value: head.peakRssMb, met: head.peakRssMb <= TARGETS.peakRssMb },
    };
    const result = {
      events: head.events,
      seconds: round(head.seconds, 2),
      eventsPerSecond: Math.round(head.eventsPerSecond),
      rawGetLogsEventsPerSecond: Math.round(rawRate),
      peakRssMb: head.peakRssMb,
      ratioToRaw: round(ratioToRaw, 3),
      targets,
      details: {
        database: "PGlite, file-backed (the default engine: DATA_DIR/pglite), a fresh directory",
        nodeFlags: GATEWAY_NODE_FLAGS.join(" ") || "(none)",
        loadAverageDuringRun: head.loadAverage,
        rssBeforeIndexingMb: head.rssBeforeMb,
        atPeakRss: head.atPeak,
        processMaxRssMb: head.maxRssMb,
        cpuSeconds: round(head.cpuSeconds, 1),
        otherCpuSeconds: head.otherCpuSeconds,
        rawPassCpuSeconds: { anvil: round(rawPassCpu.anvil, 2), client: round(rawPassCpu.client, 2) },
        indexerRanges: head.batches,
        logsPerRange: Math.round(head.events / head.batches),
        rawGetLogsEventsPerSecondAt10kLogs: Math.round(rawBig.eventsPerSecond),
        inMemory: memRun && {
          seconds: round(memRun.seconds, 2), eventsPerSecond: Math.round(memRun.eventsPerSecond), peakRssMb: memRun.peakRssMb,
          rssBeforeIndexingMb: memRun.rssBeforeMb, processMaxRssMb: memRun.maxRssMb, cpuSeconds: round(memRun.cpuSeconds, 1), loadAverageDuringRun: memRun.loadAverage,
          ratioToRaw: round(memRun.eventsPerSecond / rawRate, 3),
        },
        fileBackedHeapCapped: capped && {
          nodeOptions: `--max-old-space-size=${HEAP_CAP_MB}`, seconds: round(capped.seconds, 2), eventsPerSecond: Math.round(capped.eventsPerSecond),
          peakRssMb: capped.peakRssMb, rssBeforeIndexingMb: capped.rssBeforeMb, processMaxRssMb: capped.maxRssMb,
          cpuSeconds: round(capped.cpuSeconds, 1), loadAverageDuringRun: capped.loadAverage, ratioToRaw: round(capped.eventsPerSecond / rawRate, 3),
        },
        postgres: pgRun && {
          seconds: round(pgRun.seconds, 2), eventsPerSecond: Math.round(pgRun.eventsPerSecond), peakRssMb: pgRun.peakRssMb,
          rssBeforeIndexingMb: pgRun.rssBeforeMb, cpuSecondsOfTheIndexerProcess: round(pgRun.cpuSeconds, 1),
          otherCpuSeconds: pgRun.otherCpuSeconds, loadAverageDuringRun: pgRun.loadAverage,
          ratioToRaw: round(pgRun.eventsPerSecond / rawRate, 3),
        },
        chain: {
          blocks: info.head - from + 1, merchants: info.merchants.length, cards: info.cards.length,
          vouchersPerBatch: VOUCHERS_PER_BATCH, setupSeconds: round(info.setupSeconds, 1), reusedFromCache: c.reused,
        },
        verified,
      },
      machine: {
        cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, totalMemoryMb: mb(os.totalmem()),
        // Other work on the machine slows every figure here: the 1-minute load average at the start and the end.
        loadAverage: [round(loadAtStart, 2), round(os.loadavg()[0], 2)],
      },
    };

    console.log("");
    const rows: [string, string, string][] = [
      ["events indexed", String(result.events), ""],
      ["indexing time (file-backed PGlite)", `${result.seconds} s`, ""],
      ["indexing rate", `${result.eventsPerSecond} events/s`, `${targets.eventsPerSecond.target}: ${targets.eventsPerSecond.met ? "ok" : "MISSED"}`],
      ["raw eth_getLogs rate (same ranges)", `${result.rawGetLogsEventsPerSecond} events/s`, ""],
      ["indexing / raw", String(result.ratioToRaw), `${targets.ratioToRaw.target}: ${targets.ratioToRaw.met ? "ok" : "MISSED"}`],
      ["peak RSS", `${result.peakRssMb} MB`, `${targets.peakRssMb.target}: ${targets.peakRssMb.met ? "ok" : "MISSED"}`],
      ["raw eth_getLogs, ~10k logs/request", `${result.details.rawGetLogsEventsPerSecondAt10kLogs} events/s`, ""],
    ];
    rows.push(["CPU time of the indexing process", `${round(head.cpuSeconds, 1)} s`, `load average ${head.loadAverage.join(" / ")} (1-min: start / end of the run)`]);
    const cpuLine = (r: IndexRunReport) => `indexer ${round(r.cpuSeconds, 1)}` +
      (r.otherCpuSeconds ? `, Anvil ${r.otherCpuSeconds.anvil}, PostgreSQL processes ${r.otherCpuSeconds.postgres}` : "");
    rows.push(["CPU-s while indexing (file-backed PGlite)", cpuLine(head), `one raw pass: Anvil ${round(rawPassCpu.anvil, 2)}, client ${round(rawPassCpu.client, 2)}`]);
    if (pgRun) rows.push(["CPU-s while indexing (PostgreSQL)", cpuLine(pgRun), ""]);
    if (capped) {
      rows.push([`peak RSS (file-backed, --max-old-space-size=${HEAP_CAP_MB})`, `${capped.peakRssMb} MB`, `${Math.round(capped.eventsPerSecond)} events/s`]);
    }
    if (pgRun) {
      rows.push(["indexing rate (PostgreSQL server)", `${Math.round(pgRun.eventsPerSecond)} events/s`, `${round(pgRun.seconds, 2)} s, peak RSS ${pgRun.peakRssMb} MB`]);
    }
    if (memRun) {
      rows.push(["indexing rate (in-memory PGlite)", `${Math.round(memRun.eventsPerSecond)} events/s`, `${round(memRun.seconds, 2)} s, ratio ${round(memRun.eventsPerSecond / rawRate, 3)}`]);
      rows.push(["peak RSS (in-memory)", `${memRun.peakRssMb} MB`, "the database's files are in the process's memory"]);
    }
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    for (const r of rows) console.log(`${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
    console.log(`\nfile-backed index: ${verified}${memRun ? `\nin-memory index: ${memRun.verified}` : ""}`);
    console.log(`set-up: ${c.reused ? "chain reused from cache" : `${round(info.setupSeconds, 1)} s`}; machine: ${result.machine.cpus} CPUs, Node ${process.version}`);

    const outDir = path.join(__dirname, "results");
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, "index.json"), JSON.stringify(result, null, 2) + "\n");
    log(`wrote ${path.relative(process.cwd(), path.join(outDir, "index.json"))}`);
    if (!Object.values(targets).every((t) => t.met)) process.exitCode = 1;
  } finally {
    if (node) {
      log(USE_CACHE ? "stopping Anvil (it saves the chain for the next run)" : "stopping Anvil");
      await node.stop(180_000);
      // The chain is reusable only when Anvil saved its state on a clean stop.
      const clean = node.process.signalCode === "SIGTERM" || node.process.exitCode === 0;
      const dir = path.join(os.tmpdir(), "custody-bench-index");
      for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
        if (!f.endsWith(".meta.json.pending")) continue;
        if (clean) fs.renameSync(path.join(dir, f), path.join(dir, f.slice(0, -".pending".length)));
        else fs.rmSync(path.join(dir, f), { force: true });
      }
    }
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

if (process.argv[2] === "--index-run") {
  const [label, dataDir, url, infoFile] = process.argv.slice(3);
  childMain(label, dataDir, url, infoFile).catch((err) => {
    console.error(err);
    process.send?.({ error: (err as Error).message });
    process.exitCode = 1;
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
