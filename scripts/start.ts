/**
 * `npm start`: the whole platform on one machine with no set-up. With no CHAIN_RPC_URL it runs a local chain
 * (Anvil, a block a second like a QBFT validator, state kept under ./data/chain), deploys the contracts once,
 * creates the first parties (platform regulator, a custodian bank, industry regulators, the risk oracle) with
 * encrypted keystores and API keys under ./data, then runs the indexer and the gateway. Ctrl-C stops it all
 * cleanly; the next start has everything it had.
 *
 * `npm start -- --demo [demo options]` also fills the platform with the demo's district (scripts/demo.ts, through the
 * API) once it is up. On a new data folder the local chain then begins in the past (the demo's months before today),
 * and the demo moves its clock forward to now month by month: the story's history lies in the past and ends today.
 */
import { ChildProcess, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { JsonRpcProvider, NonceManager, Wallet, ethers } from "ethers";
import { loadConfigOrExit, Config, storeOptions } from "../src/config";
import { createLogger } from "../src/logger";
import { LocalChain, startLocalChain } from "../src/chain/localChain";
import { livePid } from "../src/pidFile";
import { bootstrapDistrict, Deployment, ensureEnforcementAnchor } from "../src/chain/bootstrap";
import { writeKeystore } from "../src/chain/signers";
import { createGateway } from "../src/gateway";
import { issueApiKey, Role } from "../src/api/auth";
import { openDb } from "../src/store/db";
import { migrate } from "../src/store/migrations";
import { PrepaidEscrow__factory } from "../typechain-types";

const PARTIES = ["platform-regulator", "bank", "risk-oracle", "education-commission", "sports-bureau", "commerce-bureau"] as const;
type Party = (typeof PARTIES)[number];

function passwordFile(config: Config): string {
  return path.join(config.dataDir, "keystore-password");
}

/** Locally, one generated keystore password kept in ./data (0600), unless KEYSTORE_PASSWORD is given. */
function ensurePassword(config: Config): string {
  if (process.env.KEYSTORE_PASSWORD) return process.env.KEYSTORE_PASSWORD;
  const file = passwordFile(config);
  if (!fs.existsSync(file)) fs.writeFileSync(file, crypto.randomBytes(24).toString("base64url"), { mode: 0o600 });
  const pw = fs.readFileSync(file, "utf8").trim();
  process.env.KEYSTORE_PASSWORD = pw;
  return pw;
}

async function deployLocal(config: Config, provider: JsonRpcProvider, password: string, log: ReturnType<typeof createLogger>, chain: LocalChain) {
  const wallets = Object.fromEntries(PARTIES.map((p) => [p, Wallet.createRandom()])) as Record<Party, ethers.HDNodeWallet>;
  // Dev chain only: give the new accounts ether, in case the node prices gas (the gateway itself sends at gas price 0).
  for (const w of Object.values(wallets)) await provider.send("anvil_setBalance", [w.address, "0x3635c9adc5dea00000"]);
  log.info("deploying the custody contracts to the local chain");
  const bureau = new NonceManager(wallets["platform-regulator"].connect(provider));
  const { deployment } = await bootstrapDistrict({
    deployer: bureau,
    platformRegulator: bureau,
    riskOracle: wallets["risk-oracle"].address,
    bank: { account: wallets.bank.address, name: "北京银行", symbol: "BOB" }, // the name people read: the console and the public look-up show it
    regulators: { "education-commission": wallets["education-commission"].address, "sports-bureau": wallets["sports-bureau"].address, "commerce-bureau": wallets["commerce-bureau"].address },
  });
  const parties: Record<string, string> = {};
  for (const p of PARTIES) {
    await writeKeystore(config.keystoreDir, wallets[p], password);
    parties[p] = wallets[p].address.toLowerCase();
  }
  fs.writeFileSync(path.join(config.dataDir, "parties.json"), JSON.stringify(parties, null, 2));
  // The contracts are in a snapshot before the record of them is written: a crash from here on finds both.
  await chain.snapshot("deployed");
  fs.writeFileSync(config.deploymentFile, JSON.stringify(deployment, null, 2));
  return deployment;
}

/** A deployment recorded before the enforcement anchor existed: the bureau's key deploys it now and the record is updated. */
async function addEnforcementAnchor(config: Config, provider: JsonRpcProvider, deployment: Deployment, password: string, log: ReturnType<typeof createLogger>) {
  const partiesFile = path.join(config.dataDir, "parties.json");
  const bureau: string | undefined = fs.existsSync(partiesFile) ? JSON.parse(fs.readFileSync(partiesFile, "utf8"))["platform-regulator"] : undefined;
  const file = bureau && path.join(config.keystoreDir, `${bureau.toLowerCase()}.json`);
  if (!file || !fs.existsSync(file)) {
    log.warn("the deployment has no enforcement anchor and no platform regulator's keystore is here to deploy one: enforcement entries will not be anchored");
    return deployment;
  }
  const wallet = (await Wallet.fromEncryptedJson(fs.readFileSync(file, "utf8"), password)).connect(provider);
  const out = await ensureEnforcementAnchor(deployment, new NonceManager(wallet));
  fs.writeFileSync(config.deploymentFile, JSON.stringify(out.deployment, null, 2));
  log.info({ enforcementAnchor: out.deployment.enforcementAnchor }, "deployed the enforcement anchor for a deployment recorded before it existed");
  return out.deployment;
}

/** Refuses to start a second platform on the same data directory (the chain node and PGlite take one owner). */
function claimDataDir(config: Config): string {
  const file = path.join(config.dataDir, "platform.pid");
  const pid = livePid(file, "start");
  if (pid && pid !== process.pid) throw new Error(`another \`npm start\` (pid ${pid}) is running on ${config.dataDir}: stop it first (kill ${pid})`);
  fs.writeFileSync(file, String(process.pid));
  return file;
}

/** `--demo` and the demo's own options after it (`--months` also sets how far back a new chain begins). */
function parseArgs(argv: string[]): { demo: string[] | null; historyDays: number } {
  const at = argv.indexOf("--demo");
  const unknown = argv.slice(0, at < 0 ? argv.length : at);
  if (unknown.length) throw new Error(`unknown option ${unknown[0]}: npm start takes only --demo [demo options] (see \`npm run demo -- --help\`)`);
  if (at < 0) return { demo: null, historyDays: 0 };
  const demo = argv.slice(at + 1);
  const m = demo.indexOf("--months");
  const monthsText = m >= 0 ? demo[m + 1] : undefined;
  const months = monthsText !== undefined && /^\d+$/.test(monthsText) ? Number(monthsText) : 4; // the demo's default
  // A month of the story is 30 days and an hour; two days more for the set-up before the first month.
  return { demo, historyDays: months * 30 + 2 };
}

/** Runs the demo against this platform; its lines go to this terminal. Resolves with its exit code. */
function runDemo(args: string[], base: string, config: Config, log: ReturnType<typeof createLogger>): { child: ChildProcess; done: Promise<number | null> } {
  const script = path.join(__dirname, "demo.ts");
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", script, "--url", base, "--data-dir", config.dataDir, ...args], {
    env: { ...process.env, KEYSTORE_DIR: config.keystoreDir },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const done = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  void done.then((code) => {
    if (code === 0) log.info("the demo's district is in place");
    else if (code !== null) log.error({ code }, "the demo stopped with an error (the platform keeps running)");
  });
  return { child, done };
}

/** What a start began and must stop if it fails half-way (the chain node never keeps holding its port). */
const cleanups: (() => Promise<void>)[] = [];

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const config = loadConfigOrExit();
  const log = createLogger(config.LOG_LEVEL);
  fs.mkdirSync(config.dataDir, { recursive: true });
  const platformPid = claimDataDir(config);
  cleanups.push(async () => fs.rmSync(platformPid, { force: true }));
  let chain: LocalChain | null = null;
  if (!config.CHAIN_RPC_URL) {
    const t0 = Date.now();
    // With --demo, a new chain begins the demo's months ago (a loaded chain keeps its own genesis).
    const genesisTimestamp = args.demo ? Math.floor(Date.now() / 1000) - args.historyDays * 86_400 : undefined;
    chain = await startLocalChain({ dir: path.join(config.dataDir, "chain"), port: config.CHAIN_PORT, blockTime: 1, genesisTimestamp, log });
    const node = chain;
    cleanups.unshift(() => node.stop());
    config.CHAIN_RPC_URL = [chain.url];
    for (const note of chain.notes) log.warn({ note }, "local chain state repaired");
    log.info({ url: chain.url, head: chain.loadedHead, ms: Date.now() - t0 }, "local chain loaded");
  }
  const password = ensurePassword(config);
  const provider = new JsonRpcProvider(config.CHAIN_RPC_URL[0], undefined, { pollingInterval: 250 });

  let deployment: Deployment | null = null;
  if (fs.existsSync(config.deploymentFile)) {
    deployment = JSON.parse(fs.readFileSync(config.deploymentFile, "utf8")) as Deployment;
    // The record is trusted only if this chain has that code: same chain id, contracts at both addresses, the escrow
    // wired to the registry, each bank's token present.
    const chainId = Number((await provider.getNetwork()).chainId);
    const hasCode = async (a: string) => (await provider.getCode(a)) !== "0x";
    const ok = chainId === deployment.chainId && (await hasCode(deployment.escrow)) && (await hasCode(deployment.registry))
      && (await PrepaidEscrow__factory.connect(deployment.escrow, provider).registry().catch(() => "")).toLowerCase() === deployment.registry.toLowerCase()
      && (await Promise.all(deployment.banks.map((b) => hasCode(b.token)))).every(Boolean);
    if (!ok) {
      throw new Error(`${config.deploymentFile} names contracts the chain at ${config.CHAIN_RPC_URL[0]} does not have; remove ./data to start afresh, or point CHAIN_RPC_URL at the right chain`);
    }
    log.info({ escrow: deployment.escrow }, "reusing the recorded deployment");
    if (!deployment.enforcementAnchor) deployment = await addEnforcementAnchor(config, provider, deployment, password, log);
  } else if (chain) {
    deployment = await deployLocal(config, provider, password, log, chain);
  } else {
    throw new Error(`no deployment at ${config.deploymentFile}: deploy with \`npm run cli -- deploy\` first`);
  }
  provider.destroy();

  // Tells the operator CLI that a gateway holds the embedded database (PGlite takes one process at a time).
  const pidFile = path.join(config.dataDir, "gateway.pid");
  if (!config.DATABASE_URL) fs.writeFileSync(pidFile, String(process.pid));
  const db = await openDb(storeOptions(config));
  cleanups.unshift(async () => {
    await db.close();
    fs.rmSync(pidFile, { force: true });
  });
  await migrate(db);
  const keysFile = path.join(config.dataDir, "api-keys.txt");
  let newKeys: string | null = null;
  const [{ n }] = await db.query<{ n: string }>("SELECT count(*) AS n FROM api_keys");
  if (Number(n) === 0) {
    const parties = fs.existsSync(path.join(config.dataDir, "parties.json")) ? JSON.parse(fs.readFileSync(path.join(config.dataDir, "parties.json"), "utf8")) : {};
    const issue: [string, Role, string | null][] = [
      ["platform regulator (market regulation bureau)", "platform_regulator", parties["platform-regulator"] ?? null],
      ["custodian bank 1", "bank", "1"],
      ["auditor", "auditor", null],
      ["education commission", "industry_regulator", parties["education-commission"] ?? null],
      ["sports bureau", "industry_regulator", parties["sports-bureau"] ?? null],
      ["commerce bureau", "industry_regulator", parties["commerce-bureau"] ?? null],
    ];
    // The file is on disk before the keys are committed: a crash in between issues them again at the next start.
    newKeys = await db.transaction(async (tx) => {
      const lines = [];
      for (const [label, role, subject] of issue) {
        if (role !== "auditor" && role !== "bank" && !subject) continue;
        const { key } = await issueApiKey(tx, { role, subject, label });
        lines.push(`${role.padEnd(20)} ${key}  # ${label}`);
      }
      const text = lines.join("\n") + "\n";
      const fd = fs.openSync(keysFile, "w", 0o600);
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      return text;
    });
  }

  const gateway = await createGateway(config, log, { db, deployment });
  cleanups.unshift(() => gateway.stop());
  const { port } = await gateway.start({ lostAfterBlock: chain && chain.loadedHead >= 0 ? chain.loadedHead : undefined });
  await chain?.startMining();
  const base = `http://${config.HOST === "0.0.0.0" ? "127.0.0.1" : config.HOST}:${port}`;
  const lines = [
    "",
    "  Prepaid-card custody platform is running.",
    `  Console:     ${base}/`,
    `  API docs:    ${base}/docs   (OpenAPI ${base}/openapi.json; the API under ${base}/v1)`,
    `  Health:      ${base}/health   (Prometheus metrics ${base}/metrics)`,
    `  Chain:       ${config.CHAIN_RPC_URL.join(", ")} (chain ${deployment.chainId}), escrow ${deployment.escrow}`,
    `  Keystores:   ${config.keystoreDir}` + (process.env.KEYSTORE_PASSWORD && fs.existsSync(passwordFile(config)) ? ` (password in ${passwordFile(config)})` : ""),
    `  API keys:    ${keysFile}   (sign in to the console with one of them)`,
  ];
  if (newKeys) lines.push("", "  New API keys (shown once; also saved in the file above):", ...newKeys.trim().split("\n").map((l) => "    " + l));
  if (chain) {
    lines.push(
      "",
      `  Durability:  the local chain is kept in ${path.join(config.dataDir, "chain")} (a snapshot every few seconds, the two before it kept);`,
      "               a crash loses at most the last seconds of blocks, and the gateway sends again every transaction it",
      "               had signed or relayed since. A power cut can also lose what the operating system had not written.",
    );
    for (const note of chain.notes) lines.push(`  Repaired:    ${note}`);
  }
  if (args.demo) {
    const behind = chain ? Math.floor(Date.now() / 1000) - chain.genesis.timestamp > 86_400 && chain.loadedHead < 0 : false;
    lines.push("", behind
      ? `  Demo:        filling the platform with a district; the chain began ${args.historyDays} days ago and its clock moves to now as the story goes`
      : "  Demo:        filling the platform with a district; this chain's clock is already today, so the demo's chain events are dated today");
  }
  lines.push("", "  Ctrl-C stops everything cleanly.", "");
  process.stdout.write(lines.join("\n") + "\n");
  if (args.demo) {
    const demo = runDemo(args.demo, base, config, log);
    cleanups.unshift(async () => {
      if (demo.child.exitCode === null && demo.child.signalCode === null) {
        demo.child.kill("SIGTERM");
        await demo.done;
      }
    });
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    const force = setTimeout(() => process.exit(1), 60_000);
    force.unref();
    await runCleanups(log);
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

/** Stops what was started, the last first: the gateway, the store, the chain node (after its last snapshot). */
async function runCleanups(log?: { error(o: object, msg?: string): void }) {
  while (cleanups.length) {
    const step = cleanups.shift()!;
    try {
      await step();
    } catch (err) {
      log?.error({ err: (err as Error).message }, "stopping a part failed");
    }
  }
}

main().catch(async (err) => {
  console.error(`npm start failed: ${(err as Error).message}`);
  await runCleanups();
  process.exit(1);
});
