/**
 * The operator CLI: `npm run cli -- <command> [options]`, `npm run cli -- <command> --help`.
 *
 * Chain commands (deploy, admit-merchant, set-policy) sign with the encrypted keystores in KEYSTORE_DIR
 * (default ./data/keystores); passwords come from KEYSTORE_PASSWORD_<0xaddress> or KEYSTORE_PASSWORD (locally,
 * from ./data/keystore-password when neither is set). Database commands (api-key, import-signals, rebuild-index,
 * export-ledger) open DATABASE_URL, or the embedded database in ./data/pglite when no gateway is running on it.
 * Every failure ends with one line naming the problem and a non-zero exit code (1; 2 for a bad configuration).
 *
 * Arguments are parsed by commander (14.x, Node 20): per-command --help, required options, unknown options and
 * missing arguments reported without hand-written parsing for a dozen commands.
 */
import fs from "node:fs";
import os from "node:os";
import zlib from "node:zlib";
import { prepareStateFile, readGenesis, STATE } from "../src/chain/localChain";
import { livePid } from "../src/pidFile";
import path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { FeeData, JsonRpcProvider, NonceManager, Signer, Wallet, ethers } from "ethers";
import pino from "pino";
import { Config, ConfigError, keystorePassword, loadConfig, storeOptions } from "../src/config";
import { bootstrapDistrict, Deployment } from "../src/chain/bootstrap";
import { BEIJING_INDUSTRIES } from "../src/chain/policies";
import { decodeRevert, writeKeystore } from "../src/chain/signers";
import { createRpc } from "../src/chain/rpc";
import { ROLES, Role, issueApiKey, revokeApiKey } from "../src/api/auth";
import { checkKeySubject } from "../src/api/routes/apiKeys";
import { openDb, Db } from "../src/store/db";
import { migrate } from "../src/store/migrations";
import { createIndexer, rebuildState } from "../src/sync/indexer";
import { ledgerChunks, LedgerFilter } from "../src/services/ledger";
import { importSignalFile, SignalFileFormat } from "../src/risk/ingest";
import { CustodyRegistry__factory, PrepaidEscrow__factory } from "../typechain-types";
import { CustodyApiError, CustodyClient, custodyClient, errorOf, ok } from "../src/client";

/** A problem the operator can fix; printed as one line. */
export class CliError extends Error {}

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
};

// ---------------------------------------------------------------- shared helpers

function config(io: CliIo): Config {
  return loadConfig(io.env);
}

function rpcUrls(c: Config, given?: string[]): string[] {
  if (given && given.length) return given.flatMap((u) => u.split(",")).map((u) => u.trim()).filter(Boolean);
  return c.CHAIN_RPC_URL ?? [`http://127.0.0.1:${c.CHAIN_PORT}`];
}

/** Sends at a fixed gas price (0 on a consortium chain) as legacy transactions, whatever fee market the node reports. */
class FixedGasProvider extends JsonRpcProvider {
  constructor(url: string, private readonly gasPrice: bigint) {
    super(url, undefined, { pollingInterval: 250 });
  }
  async getFeeData(): Promise<FeeData> {
    return new FeeData(this.gasPrice, null, null);
  }
}

async function connect(url: string, gasPrice: bigint): Promise<FixedGasProvider> {
  const provider = new FixedGasProvider(url, gasPrice);
  try {
    await provider.send("eth_chainId", []);
  } catch (err) {
    provider.destroy();
    throw new CliError(`no JSON-RPC node answers at ${url}: ${(err as Error).message.split("\n")[0]}`);
  }
  return provider;
}

function password(c: Config, io: CliIo, address: string): string {
  const pw = keystorePassword(address, io.env);
  if (pw) return pw;
  const local = path.join(c.dataDir, "keystore-password");
  if (fs.existsSync(local)) return fs.readFileSync(local, "utf8").trim();
  throw new CliError(`no password for the keystore of ${address}: set KEYSTORE_PASSWORD_${address.toLowerCase()} or KEYSTORE_PASSWORD`);
}

function keystoreFile(c: Config, address: string): string {
  const want = address.toLowerCase().replace(/^0x/, "");
  const found = fs.existsSync(c.keystoreDir) ? fs.readdirSync(c.keystoreDir).find((f) => f.toLowerCase().includes(want) && f.endsWith(".json")) : undefined;
  if (!found) throw new CliError(`no keystore for ${address} in ${c.keystoreDir} (set KEYSTORE_DIR, or create one with \`cli account new\`)`);
  return path.join(c.keystoreDir, found);
}

async function signer(c: Config, io: CliIo, address: string, provider: JsonRpcProvider): Promise<Signer> {
  if (!ethers.isAddress(address)) throw new CliError(`--as ${address} is not an address (0x and 40 hex digits)`);
  const file = keystoreFile(c, address);
  let wallet: Wallet;
  try {
    wallet = (await Wallet.fromEncryptedJson(fs.readFileSync(file, "utf8"), password(c, io, address))) as Wallet;
  } catch {
    throw new CliError(`cannot decrypt ${file}: wrong password for ${address}?`);
  }
  return new NonceManager(wallet.connect(provider));
}

/** The platform regulator recorded by `npm start` (./data/parties.json), when --as is not given. */
function defaultRegulator(c: Config, given?: string): string {
  if (given) return given;
  const file = path.join(c.dataDir, "parties.json");
  const parties = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>) : {};
  if (parties["platform-regulator"]) return parties["platform-regulator"];
  throw new CliError("say which account signs: --as <0xaddress> (a platform regulator, or the industry's regulator)");
}

function readDeploymentFile(c: Config): Deployment {
  if (!fs.existsSync(c.deploymentFile)) throw new CliError(`no deployment record at ${c.deploymentFile}: run \`cli deploy\` first, or set DEPLOYMENT_FILE`);
  return JSON.parse(fs.readFileSync(c.deploymentFile, "utf8")) as Deployment;
}

/** A contract's refusal as one line: `Custody_NotPlatformRegulator(caller=0x…)`. */
function chainProblem(err: unknown): CliError {
  if (err instanceof CliError) return err;
  const r = decodeRevert(err);
  if (r) return new CliError(`the contract refused: ${r.name}(${Object.entries(r.args).map(([k, v]) => `${k}=${v}`).join(", ")})`);
  return new CliError(`the chain refused or failed: ${(err as Error).message.split("\n")[0].slice(0, 300)}`);
}

/** The embedded database can be open in one process only: refuse while `npm start` holds it. */
function assertDbFree(c: Config) {
  if (c.DATABASE_URL) return;
  const pid = livePid(path.join(c.dataDir, "gateway.pid"));
  if (pid) {
    throw new CliError(`a gateway (pid ${pid}) is running on the embedded database ${path.join(c.dataDir, "pglite")}; stop it first, use --gateway <url> where the command has it, or run on PostgreSQL (DATABASE_URL)`);
  }
}

/**
 * The gateway `npm start` runs on this data directory, when it holds the embedded database: its URL and the key of
 * `role` from data/api-keys.txt (GATEWAY_API_KEY overrides it). The CLI then works through the API instead.
 */
function runningGateway(c: Config, io: CliIo, role: "platform_regulator" | "auditor"): { url: string; key: string } | null {
  if (c.DATABASE_URL) return null;
  if (!livePid(path.join(c.dataDir, "gateway.pid"))) return null;
  const keysFile = path.join(c.dataDir, "api-keys.txt");
  const line = fs.existsSync(keysFile) ? fs.readFileSync(keysFile, "utf8").split("\n").find((l) => l.startsWith(role + " ")) : undefined;
  const key = io.env.GATEWAY_API_KEY ?? line?.split(/\s+/)[1];
  if (!key) throw new CliError(`a gateway is running on the embedded database, and no ${role} key is in ${keysFile} or GATEWAY_API_KEY to ask it with`);
  return { url: `http://${c.HOST === "0.0.0.0" ? "127.0.0.1" : c.HOST}:${c.PORT}`, key };
}

async function withDb<T>(c: Config, fn: (db: Db) => Promise<T>): Promise<T> {
  assertDbFree(c);
  let db: Db;
  try {
    db = await openDb(storeOptions(c));
  } catch (err) {
    throw new CliError(`cannot open the database ${c.DATABASE_URL ? c.DATABASE_URL.replace(/\/\/[^@]*@/, "//…@") : path.join(c.dataDir, "pglite")}: ${(err as Error).message.split("\n")[0]}`);
  }
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

const intArg = (name: string, min = 0, max = Number.MAX_SAFE_INTEGER) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new CliError(`${name} must be a whole number from ${min} to ${max}, not "${v}"`);
  return Number(v);
};
const fenArg = (name: string) => (v: string) => {
  if (!/^\d{1,15}$/.test(v)) throw new CliError(`${name} is a whole number of fen, not "${v}"`);
  return BigInt(v);
};
const addressArg = (name: string) => (v: string) => {
  if (!ethers.isAddress(v)) throw new CliError(`${name} must be an address (0x and 40 hex digits), not "${v}"`);
  return ethers.getAddress(v);
};
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Progress on stderr: at most a line a second (and the last one). */
function progress(io: CliIo, label: string) {
  let last = 0;
  return (text: string, final = false) => {
    const now = Date.now();
    if (final || now - last >= 1000) {
      last = now;
      io.err(`${label}: ${text}\n`);
    }
  };
}

/** A call to a running gateway through the typed client; its refusals and silence as the CLI's errors. */
async function viaGateway<D>(running: { url: string; key?: string }, call: (api: CustodyClient) => Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  if (!running.key) throw new CliError("with --gateway, give a platform regulator's API key in GATEWAY_API_KEY");
  try {
    return await ok(call(custodyClient({ baseUrl: running.url, apiKey: running.key })));
  } catch (err) {
    if (!(err instanceof CustodyApiError)) throw err;
    if (err.status === 0) throw new CliError(`the gateway at ${running.url} did not answer: ${err.message}`);
    throw new CliError(`the gateway refused (HTTP ${err.status}): ${err.code}: ${err.message}${err.details ? " " + JSON.stringify(err.details) : ""}`);
  }
}

// ---------------------------------------------------------------- commands

function defineCommands(program: Command, io: CliIo) {
  const print = (text: string) => io.out(text.endsWith("\n") ? text : text + "\n");

  const account = program.command("account").description("Keystores: the encrypted keys the CLI and the gateway sign with");
  account
    .command("new")
    .description("Create a new account and write its encrypted keystore to KEYSTORE_DIR (password from KEYSTORE_PASSWORD)")
    .option("--label <text>", "printed with the address, for your records")
    .action(async (opts: { label?: string }) => {
      const c = config(io);
      const local = path.join(c.dataDir, "keystore-password");
      const pw = io.env.KEYSTORE_PASSWORD ?? (fs.existsSync(local) ? fs.readFileSync(local, "utf8").trim() : undefined);
      if (!pw) throw new CliError("set KEYSTORE_PASSWORD: the new keystore is encrypted with it");
      const w = Wallet.createRandom();
      const file = await writeKeystore(c.keystoreDir, w, pw);
      print(`${w.address}  ${file}${opts.label ? "  # " + opts.label : ""}`);
    });

  program
    .command("deploy")
    .description("Deploy the custody contracts and set up the district (default policy, industries, one custodian bank) on a chain")
    .option("--rpc <url>", "the node's JSON-RPC URL (repeatable; default CHAIN_RPC_URL, else the local node)", collect)
    .requiredOption("--deployer <address>", "account that deploys and administers roles (keystore in KEYSTORE_DIR)", addressArg("--deployer"))
    .option("--platform-regulator <address>", "the market regulation bureau's account (keystore needed: it defines the industries); default: the deployer", addressArg("--platform-regulator"))
    .requiredOption("--risk-oracle <address>", "account allowed to set merchants' risk levels", addressArg("--risk-oracle"))
    .requiredOption("--bank-account <address>", "the first custodian bank's account", addressArg("--bank-account"))
    .option("--bank-name <name>", "the bank's deposit token name", "Custodian Bank custody fen")
    .option("--bank-symbol <symbol>", "the bank's deposit token symbol", "CUST")
    .option("--regulator <code=address>", `an industry regulator's account; codes: ${[...new Set(BEIJING_INDUSTRIES.map((i) => i.regulator).filter(Boolean))].join(", ")} (repeatable)`, collect)
    .option("--gas-price <wei>", "gas price of every transaction (0 on a consortium chain)", "0")
    .option("--out <file>", "where to write the deployment record (default DEPLOYMENT_FILE)")
    .option("--force", "overwrite an existing deployment record")
    .action(async (opts: {
      rpc?: string[]; deployer: string; platformRegulator?: string; riskOracle: string; bankAccount: string; bankName: string; bankSymbol: string;
      regulator?: string[]; gasPrice: string; out?: string; force?: boolean;
    }) => {
      const c = config(io);
      const out = path.resolve(opts.out ?? c.deploymentFile);
      if (fs.existsSync(out) && !opts.force) throw new CliError(`${out} already records a deployment; pass --force to replace it, or --out elsewhere`);
      if (!/^\d+$/.test(opts.gasPrice)) throw new CliError(`--gas-price is a whole number of wei, not "${opts.gasPrice}"`);
      const regulators: Record<string, string> = {};
      const codes = new Set(BEIJING_INDUSTRIES.map((i) => i.regulator).filter(Boolean) as string[]);
      for (const r of opts.regulator ?? []) {
        const [code, addr] = r.split("=");
        if (!codes.has(code)) throw new CliError(`--regulator ${r}: unknown code "${code}" (one of ${[...codes].join(", ")})`);
        regulators[code] = addressArg(`--regulator ${code}`)(addr ?? "");
      }
      const url = rpcUrls(c, opts.rpc)[0];
      const provider = await connect(url, BigInt(opts.gasPrice));
      try {
        const deployer = await signer(c, io, opts.deployer, provider);
        const bureau = !opts.platformRegulator || opts.platformRegulator.toLowerCase() === opts.deployer.toLowerCase()
          ? deployer : await signer(c, io, opts.platformRegulator, provider);
        io.err(`deploy: deploying to ${url} as ${opts.deployer} (this takes a few blocks)\n`);
        const { deployment } = await bootstrapDistrict({
          deployer, platformRegulator: bureau, riskOracle: opts.riskOracle,
          bank: { account: opts.bankAccount, name: opts.bankName, symbol: opts.bankSymbol }, regulators,
        }).catch((err) => {
          throw chainProblem(err);
        });
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(out, JSON.stringify(deployment, null, 2));
        print(`deployed: escrow ${deployment.escrow}, registry ${deployment.registry}, chain ${deployment.chainId}, from block ${deployment.startBlock}; recorded in ${out}`);
      } finally {
        provider.destroy();
      }
    });

  program
    .command("admit-merchant")
    .description("Admit a merchant (signed by a platform regulator or the industry's regulator)")
    .requiredOption("--account <address>", "the merchant's chain account", addressArg("--account"))
    .requiredOption("--industry <id>", "industry id (1 education, 2 youth sports, 3 fitness, …)", intArg("--industry", 0, 65535))
    .requiredOption("--bank <id>", "custodian bank id", intArg("--bank", 1, 65535))
    .requiredOption("--registration <number>", "business registration number (its hash goes on chain)")
    .option("--as <address>", "signing account (default: the local platform regulator)")
    .option("--rpc <url>", "the node's JSON-RPC URL (default CHAIN_RPC_URL, else the local node)", collect)
    .action(async (opts: { account: string; industry: number; bank: number; registration: string; as?: string; rpc?: string[] }) => {
      const c = config(io);
      const d = readDeploymentFile(c);
      const provider = await connect(rpcUrls(c, opts.rpc)[0], 0n);
      try {
        const s = await signer(c, io, defaultRegulator(c, opts.as), provider);
        const escrow = PrepaidEscrow__factory.connect(d.escrow, s);
        const rc = await escrow.admitMerchant(opts.account, opts.industry, opts.bank, ethers.id(opts.registration)).then((tx) => tx.wait()).catch((err) => {
          throw chainProblem(err);
        });
        const ev = rc!.logs.map((l) => { try { return escrow.interface.parseLog(l); } catch { return null; } }).find((e) => e?.name === "MerchantAdmitted");
        print(`merchant ${ev?.args.merchantId} admitted: account ${opts.account}, industry ${opts.industry}, bank ${opts.bank} (tx ${rc!.hash})`);
      } finally {
        provider.destroy();
      }
    });

  const policyFields = [
    ["custodyBps", "--custody-bps <n>", "custody ratio in basis points (10000 = 100%)", intArg("--custody-bps", 0, 10000)],
    ["coolingOffDays", "--cooling-off-days <n>", "days a new card is refundable in full", intArg("--cooling-off-days", 0, 255)],
    ["exitNoticeDays", "--exit-notice-days <n>", "notice a leaving merchant gives", intArg("--exit-notice-days", 0, 65535)],
    ["maxLessons", "--max-lessons <n>", "most lessons on a card (65535: no cap)", intArg("--max-lessons", 1, 65535)],
    ["maxValidityDays", "--max-validity-days <n>", "longest validity, days (65535: no cap)", intArg("--max-validity-days", 1, 65535)],
    ["maxCardValue", "--max-card-value-fen <fen>", "largest named card", fenArg("--max-card-value-fen")],
    ["maxAnonymousValue", "--max-anonymous-value-fen <fen>", "largest anonymous card", fenArg("--max-anonymous-value-fen")],
    ["mediumRiskCap30d", "--medium-risk-cap-fen <fen>", "new-card value a medium-risk merchant may sell per 30 days", fenArg("--medium-risk-cap-fen")],
    ["filingThreshold", "--filing-threshold-fen <fen>", "prepaid balance at which a merchant files (at most 50000000)", fenArg("--filing-threshold-fen")],
  ] as const;
  const setPolicy = program
    .command("set-policy")
    .description("Set the district's default policy (--industry 0) or an industry's own; fields not given keep their current value")
    .requiredOption("--industry <id>", "industry id; 0 is the district default", intArg("--industry", 0, 65535))
    .option("--as <address>", "signing account (default: the local platform regulator)")
    .option("--rpc <url>", "the node's JSON-RPC URL (default CHAIN_RPC_URL, else the local node)", collect);
  for (const [, flag, help, parse] of policyFields) setPolicy.addOption(new Option(flag, help).argParser(parse as (v: string) => unknown));
  setPolicy.action(async (opts: Record<string, unknown> & { industry: number; as?: string; rpc?: string[] }) => {
    const c = config(io);
    const d = readDeploymentFile(c);
    const provider = await connect(rpcUrls(c, opts.rpc)[0], 0n);
    try {
      const s = await signer(c, io, defaultRegulator(c, opts.as), provider);
      const registry = CustodyRegistry__factory.connect(d.registry, s);
      const current = opts.industry === 0 ? await registry.defaultPolicy() : await registry.policyOf(opts.industry);
      const policy = {
        custodyBps: Number(current.custodyBps), coolingOffDays: Number(current.coolingOffDays), exitNoticeDays: Number(current.exitNoticeDays),
        maxLessons: Number(current.maxLessons), maxValidityDays: Number(current.maxValidityDays), maxCardValue: current.maxCardValue,
        maxAnonymousValue: current.maxAnonymousValue, mediumRiskCap30d: current.mediumRiskCap30d, filingThreshold: current.filingThreshold,
      } as Record<string, number | bigint>;
      let changed = 0;
      for (const [key] of policyFields) {
        if (opts[key] !== undefined) {
          policy[key] = opts[key] as number | bigint;
          changed++;
        }
      }
      if (!changed) throw new CliError("give at least one policy field to change (see `set-policy --help`)");
      const tx = opts.industry === 0 ? registry.setDefaultPolicy(policy as never) : registry.setIndustryPolicy(opts.industry, policy as never);
      const rc = await tx.then((t) => t.wait()).catch((err) => {
        throw chainProblem(err);
      });
      print(`policy of ${opts.industry === 0 ? "the district (default)" : `industry ${opts.industry}`} set: ${JSON.stringify(policy, (_k, v) => (typeof v === "bigint" ? v.toString() : v))} (tx ${rc!.hash})`);
    } finally {
      provider.destroy();
    }
  });

  const apiKey = program.command("api-key").description("Issue, list and revoke the gateway's API keys");
  apiKey
    .command("issue")
    .description("Issue an API key; the key is printed once (only its hash is stored)")
    .requiredOption("--role <role>", `one of ${ROLES.join(", ")}`)
    .option("--subject <subject>", "bank id (bank), merchant id (merchant), account address (regulators, consumer); none for an auditor")
    .requiredOption("--label <text>", "who holds it, for the records")
    .option("--gateway <url>", "issue through a running gateway's API (with a platform regulator key in GATEWAY_API_KEY) instead of the database")
    .action(async (opts: { role: string; subject?: string; label: string; gateway?: string }) => {
      if (!(ROLES as readonly string[]).includes(opts.role)) throw new CliError(`--role must be one of ${ROLES.join(", ")}, not "${opts.role}"`);
      const role = opts.role as Role;
      const running = opts.gateway ? { url: opts.gateway, key: io.env.GATEWAY_API_KEY } : runningGateway(config(io), io, "platform_regulator");
      if (running) {
        const r = await viaGateway(running, (api) => api.POST("/v1/api-keys", { body: { role, subject: opts.subject ?? null, label: opts.label } }));
        print(`${r.key}  # id ${r.id}, ${role}${r.subject ? " " + r.subject : ""}, ${opts.label}`);
        return;
      }
      const c = config(io);
      await withDb(c, async (db) => {
        const checked = await checkKeySubject(db, role, opts.subject);
        if ("problem" in checked) throw new CliError(`--subject: ${checked.problem}`);
        const { id, key } = await issueApiKey(db, { role, subject: checked.subject, label: opts.label });
        print(`${key}  # id ${id}, ${role}${checked.subject ? " " + checked.subject : ""}, ${opts.label}`);
      });
    });
  apiKey
    .command("revoke")
    .description("Revoke an API key by its id (the 12 hex digits after ck_)")
    .argument("<id>", "the key's id")
    .option("--gateway <url>", "revoke through a running gateway's API (GATEWAY_API_KEY)")
    .action(async (id: string, opts: { gateway?: string }) => {
      const keyId = /^(?:ck_)?([0-9a-f]{12})/.exec(id)?.[1];
      if (!keyId) throw new CliError(`"${id}" is not a key id (12 hex digits, as in ck_<id>_…)`);
      const running = opts.gateway ? { url: opts.gateway, key: io.env.GATEWAY_API_KEY } : runningGateway(config(io), io, "platform_regulator");
      if (running) {
        await viaGateway(running, (api) => api.POST("/v1/api-keys/{keyId}/revoke", { params: { path: { keyId } } }));
        print(`revoked ${keyId}`);
        return;
      }
      await withDb(config(io), async (db) => {
        if (!(await revokeApiKey(db, keyId))) {
          const rows = await db.query("SELECT 1 FROM api_keys WHERE id = $1", [keyId]);
          throw new CliError(rows.length ? `API key ${keyId} is already revoked` : `no API key ${keyId}`);
        }
        print(`revoked ${keyId} (a running gateway stops accepting it within 5 s)`);
      });
    });
  apiKey
    .command("list")
    .description("List API keys (ids, roles, subjects, labels; never secrets)")
    .option("--all", "include revoked keys")
    .action(async (opts: { all?: boolean }) => {
      const running = runningGateway(config(io), io, "platform_regulator");
      if (running) {
        // `npm start` holds the embedded database: the same list through its API.
        const r = await viaGateway(running, (api) => api.GET("/v1/api-keys", { params: { query: { includeRevoked: opts.all ? "true" : "false" } } }));
        for (const k of r.items) print(`${k.id}  ${k.role.padEnd(18)} ${(k.subject ?? "-").padEnd(42)} ${k.label}${k.revokedAt ? "  (revoked)" : ""}`);
        if (!r.items.length) print("(no keys)");
        return;
      }
      await withDb(config(io), async (db) => {
        const rows = await db.query<{ id: string; role: string; subject: string | null; label: string; revoked_at: unknown }>(
          `SELECT id, role, subject, label, revoked_at FROM api_keys ${opts.all ? "" : "WHERE revoked_at IS NULL"} ORDER BY created_at, id`,
        );
        for (const r of rows) print(`${r.id}  ${r.role.padEnd(18)} ${(r.subject ?? "-").padEnd(42)} ${r.label}${r.revoked_at ? "  (revoked)" : ""}`);
        if (!rows.length) print("(no keys)");
      });
    });

  program
    .command("import-signals")
    .description("Import a risk-signal file (complaints, hotline tickets, registry facts, litigation): all rows or none")
    .argument("<file>", "CSV with a header line, or JSON Lines")
    .addOption(new Option("--format <format>", "file format (default: from the extension)").choices(["csv", "jsonl"]))
    .option("--allow-unknown-merchants", "accept rows about merchants the index does not know")
    .action(async (file: string, opts: { format?: SignalFileFormat; allowUnknownMerchants?: boolean }) => {
      if (!fs.existsSync(file)) throw new CliError(`no file ${file}`);
      const format: SignalFileFormat = opts.format ?? (/\.jsonl?$/i.test(file) ? "jsonl" : /\.csv$/i.test(file) ? "csv" : (() => {
        throw new CliError(`cannot tell the format of ${file} from its name: pass --format csv or --format jsonl`);
      })());
      const text = fs.readFileSync(file, "utf8");
      const tell = progress(io, "import-signals");
      await withDb(config(io), async (db) => {
        const r = await importSignalFile(db, text, {
          format, knownMerchantsOnly: !opts.allowUnknownMerchants,
          onProgress: (p) => tell(`${p.phase} ${p.done}/${p.total}`, p.done === p.total),
        });
        if (r.status === "rejected") {
          for (const b of r.badRows.slice(0, 20)) io.err(`  line ${b.line}${b.recordId ? ` (${b.recordId})` : ""}: ${b.problems.map((p) => `${p.field}: ${p.reason}`).join("; ")}\n`);
          if (r.badRows.length > 20) io.err(`  … and ${r.badRows.length - 20} more\n`);
          throw new CliError(`${file} rejected: ${r.badRows.length} bad row(s) of ${r.rows}; nothing was imported`);
        }
        print(`imported ${file}: ${r.rows} rows, ${r.inserted} new, ${r.duplicates} already known (import ${r.importId})`);
      });
    });

  program
    .command("rebuild-index")
    .description("Recompute the index's current state from its ledger; with --wipe, drop everything read from the chain and index it again from the deployment block (stop the gateway first)")
    .option("--wipe", "delete the ledger, blocks, checkpoint and state, then re-read the chain")
    .option("--rpc <url>", "node(s) to re-read from with --wipe (default CHAIN_RPC_URL, else the local node)", collect)
    .action(async (opts: { wipe?: boolean; rpc?: string[] }) => {
      const c = config(io);
      const tell = progress(io, "rebuild-index");
      await withDb(c, async (db) => {
        if (!opts.wipe) {
          const [{ n }] = await db.query<{ n: string }>("SELECT count(*) AS n FROM ledger");
          tell(`replaying ${n} ledger rows`, true);
          await db.transaction((tx) => rebuildState(tx));
          print(`state rebuilt from ${n} ledger rows`);
          return;
        }
        const d = readDeploymentFile(c);
        const urls = rpcUrls(c, opts.rpc);
        const rpc = createRpc({ urls, maxAttempts: 1 });
        let head: number | null = null;
        try {
          head = Number(await rpc.send<string>("eth_blockNumber")) - c.CONFIRMATIONS;
        } catch (err) {
          if (opts.rpc) throw new CliError(`no JSON-RPC node answers at ${urls.join(", ")}: ${(err as Error).message.split("\n")[0]}`);
        }
        await db.transaction(async (tx) => {
          for (const t of ["ledger", "blocks", "checkpoint", "banks", "merchants", "plans", "cards", "payouts", "refunds", "disputes", "risk_history", "industries"]) {
            await tx.query(`DELETE FROM ${t}`);
          }
          await tx.query("DELETE FROM meta WHERE key IN ('chain_id', 'genesis_hash', 'escrow', 'registry')");
        });
        if (head === null) {
          // The platform's own node runs only with `npm start`: the next start indexes the chain from the deployment block.
          print(`index wiped (no node answers at ${urls.join(", ")}): the next \`npm start\` or gateway start indexes the chain again from block ${d.startBlock}`);
          return;
        }
        tell(`index wiped; re-reading blocks ${d.startBlock}…${head} from ${urls.join(", ")}`, true);
        const indexer = createIndexer({
          db, rpc, contracts: { escrow: d.escrow, registry: d.registry }, startBlock: d.startBlock, confirmations: c.CONFIRMATIONS,
          logger: pino({ level: "silent" }),
          onBatch: (b) => tell(`block ${b.to}/${head}, ${indexer.status.eventsIndexed} events`),
        });
        await indexer.start();
        try {
          await indexer.syncTo(head);
        } finally {
          await indexer.stop();
        }
        tell(`block ${head}/${head}, ${indexer.status.eventsIndexed} events`, true);
        print(`index rebuilt from the chain: ${indexer.status.eventsIndexed} events up to block ${head}`);
      });
    });

  const chainState = program.command("chain-state").description("The local chain's state copies under DATA_DIR/chain (npm start's chain node)");
  chainState
    .command("list")
    .description("Each copy, newest first: whether it loads, its head block, size and time")
    .action(async () => {
      const dir = path.join(config(io).dataDir, "chain");
      const genesis = readGenesis(dir);
      const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^state.*\.json(\.gz)?(\.damaged-.*|\.replaced-.*)?$/.test(f) && f !== "state.load.json") : [];
      if (!files.length) throw new CliError(`no chain state copies in ${dir}`);
      const tmp = path.join(os.tmpdir(), `chain-state-${process.pid}.json`);
      const rows = files.map((f) => ({ f, st: fs.statSync(path.join(dir, f)) })).sort((a, b) => b.st.mtimeMs - a.st.mtimeMs);
      for (const { f, st } of rows) {
        let what: string;
        try {
          const r = prepareStateFile(path.join(dir, f), tmp, genesis?.timestamp);
          what = `good, head ${r.best}`;
        } catch (err) {
          what = `cannot be loaded: ${(err as Error).message}`;
        }
        print(`${f.padEnd(44)} ${String(st.size).padStart(10)} bytes  ${st.mtime.toISOString()}  ${what}`);
      }
      fs.rmSync(tmp, { force: true });
    });
  chainState
    .command("restore <file>")
    .description("Make <file> (a copy listed by `chain-state list`) the state the next `npm start` loads; the current one is kept beside it")
    .action(async (file: string) => {
      const c = config(io);
      assertDbFree(c);
      const pid = livePid(path.join(c.dataDir, "platform.pid"));
      if (pid) throw new CliError(`\`npm start\` (pid ${pid}) is running on ${c.dataDir}: stop it first`);
      const dir = path.join(c.dataDir, "chain");
      const src = path.isAbsolute(file) || fs.existsSync(file) ? path.resolve(file) : path.join(dir, file);
      if (!fs.existsSync(src)) throw new CliError(`no file ${src} (\`npm run cli -- chain-state list\` shows the copies)`);
      const tmp = path.join(os.tmpdir(), `chain-state-${process.pid}.json`);
      let head: number;
      try {
        head = prepareStateFile(src, tmp, readGenesis(dir)?.timestamp).best;
      } catch (err) {
        throw new CliError(`${src} cannot be loaded: ${(err as Error).message}`);
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      const current = path.join(dir, STATE);
      if (path.resolve(src) === current) {
        print(`${current} is already the current state (head ${head})`);
        return;
      }
      let kept = "";
      if (fs.existsSync(current)) {
        kept = `${current}.replaced-${new Date().toISOString().replace(/[:.]/g, "-")}`;
        fs.renameSync(current, kept);
      }
      const bytes = fs.readFileSync(src);
      fs.writeFileSync(current, bytes[0] === 0x1f && bytes[1] === 0x8b ? bytes : zlib.gzipSync(bytes), { mode: 0o600 });
      print(`restored ${path.basename(src)} (head ${head}) as ${STATE}${kept ? `; the copy it replaces is kept as ${path.basename(kept)}` : ""}. Start with \`npm start\`.`);
    });

  program
    .command("export-ledger")
    .description("Export the ledger as CSV (the same columns as GET /v1/ledger.csv)")
    .option("--out <file>", "write here instead of standard output")
    .option("--merchant <id>", "one merchant's rows", intArg("--merchant", 1))
    .option("--event <name>", "one event, e.g. LessonsConsumed")
    .option("--from-block <n>", "first block", intArg("--from-block"))
    .option("--to-block <n>", "last block", intArg("--to-block"))
    .action(async (opts: { out?: string; merchant?: number; event?: string; fromBlock?: number; toBlock?: number }) => {
      const filter: LedgerFilter = { merchantId: opts.merchant, event: opts.event, fromBlock: opts.fromBlock, toBlock: opts.toBlock };
      const tell = progress(io, "export-ledger");
      const running = runningGateway(config(io), io, "auditor");
      if (running) {
        // `npm start` holds the embedded database: the same CSV, streamed from its API with the auditor's key.
        const query = { merchantId: opts.merchant, event: opts.event, fromBlock: opts.fromBlock, toBlock: opts.toBlock };
        let answer;
        try {
          answer = await custodyClient({ baseUrl: running.url, apiKey: running.key }).GET("/v1/ledger.csv", { params: { query }, parseAs: "stream" });
        } catch (err) {
          throw new CliError(`the gateway at ${running.url} did not answer: ${(err as Error).message}`);
        }
        const body = answer.data;
        if (!answer.response.ok || !body) {
          const e = errorOf(answer.response.status, answer.error);
          throw new CliError(`the gateway refused the export (HTTP ${e.status}): ${e.code}: ${e.message}`.slice(0, 400));
        }
        const fd = opts.out ? fs.openSync(opts.out, "w") : null;
        let rows = -1;
        const decoder = new TextDecoder(); // a character split between two chunks is kept whole
        try {
          for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
            for (const b of chunk) if (b === 0x0a) rows++;
            if (fd === null) io.out(decoder.decode(chunk, { stream: true }));
            else fs.writeSync(fd, chunk);
          }
          if (fd === null) io.out(decoder.decode());
        } finally {
          if (fd !== null) fs.closeSync(fd);
        }
        if (opts.out) io.err(`export-ledger: ${Math.max(0, rows)} rows written to ${opts.out} (through the running gateway)\n`);
        return;
      }
      await withDb(config(io), async (db) => {
        const fd = opts.out ? fs.openSync(opts.out, "w") : null;
        const write = (t: string) => (fd === null ? io.out(t) : fs.writeSync(fd, t));
        const q = (v: unknown) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
        let rows = 0;
        try {
          write("id,block_number,block_time,tx_hash,log_index,event,merchant_id,card_id,holder,amount_fen,args\n");
          for await (const chunk of ledgerChunks(db, filter)) {
            write(chunk.map((r) => [r.id, r.blockNumber, r.blockTime, r.txHash, r.logIndex, r.event, r.merchantId, r.cardId, r.holder, r.amountFen, JSON.stringify(r.args)].map(q).join(",")).join("\n") + "\n");
            rows += chunk.length;
            if (opts.out) tell(`${rows} rows`);
          }
        } finally {
          if (fd !== null) fs.closeSync(fd);
        }
        if (opts.out) io.err(`export-ledger: ${rows} rows written to ${opts.out}\n`);
      });
    });
}

/** Runs the CLI on `argv` (the arguments after the command name); returns the exit code. */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = new Command("cli")
    .description("Operator commands for the prepaid-card custody platform")
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.out(t), writeErr: (t) => io.err(t) })
    .showHelpAfterError("(add --help for usage)");
  defineCommands(program, io);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ConfigError) {
      io.err(`error: ${err.problems.join("; ")}\n`);
      return 2;
    }
    const msg = err instanceof CliError ? err.message : `${(err as Error)?.message ?? String(err)}`.split("\n")[0];
    io.err(`error: ${msg}\n`);
    return 1;
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
