import path from "node:path";
import { z } from "zod";
import { DEFAULT_POOL_MAX } from "./store/db";

/**
 * The gateway's whole configuration, from environment variables, validated once at start. Each bad variable
 * gets its own line in the error, naming the variable and what is wrong with it.
 */
const urlList = z
  .string()
  .transform((s) => s.split(",").map((u) => u.trim()).filter(Boolean))
  .pipe(z.array(z.url({ protocol: /^https?$/ })).min(1, "give at least one http(s) URL"));

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATA_DIR: z.string().min(1).default("./data"),
  CHAIN_RPC_URL: urlList.optional(),
  /** With no CHAIN_RPC_URL, `npm start` runs a local Anvil node on this loopback port. */
  CHAIN_PORT: z.coerce.number().int().min(1).max(65535).default(8545),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** With DATABASE_URL: connections each gateway process (primary, every read worker) keeps to the server at most. */
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(1000).default(DEFAULT_POOL_MAX),
  /** Blocks behind the head treated as final: 0 on a BFT chain (QBFT/IBFT), more on a probabilistic one. */
  CONFIRMATIONS: z.coerce.number().int().min(0).max(1000).default(0),
  /** Where the contracts' addresses come from (written by `npm start` or `npm run cli -- deploy`). */
  DEPLOYMENT_FILE: z.string().min(1).optional(),
  KEYSTORE_DIR: z.string().min(1).optional(),
  /** Password of every keystore file, or per account KEYSTORE_PASSWORD_<0xADDRESS>. */
  KEYSTORE_PASSWORD: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  /** A first sync into an empty index with at least this many blocks to read builds the ledger's query indexes at the head; 0: never. */
  DEFER_LEDGER_INDEXES_BLOCKS: z.coerce.number().int().min(0).default(1_000),
  BODY_LIMIT: z.string().regex(/^\d+(kb|mb)$/, "like 1mb or 512kb").default("1mb"),
  /** Read workers sharing PORT (src/cluster.ts); > 1 needs DATABASE_URL. 1: one process serves everything. */
  GATEWAY_WORKERS: z.coerce.number().int().min(1).max(64).default(1),
  /** Batched consumptions go on chain at least this often. */
  BATCH_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  BATCH_MAX_VOUCHERS: z.coerce.number().int().min(1).max(2000).default(500),
  /** Rate every merchant's risk this often (ms); 0: only on POST /v1/risk/rate. */
  RISK_RATE_INTERVAL_MS: z.coerce.number().int().min(0).max(7 * 86_400_000).default(900_000),
  /** How often rated levels not yet on chain are pushed through the risk oracle (ms). */
  RISK_PUSH_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(5_000),
  /** The risk oracle's account (its keystore in KEYSTORE_DIR); default: the local platform's "risk-oracle" party. */
  RISK_ORACLE_ADDRESS: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an address: 0x and 40 hex digits").optional(),
  /** Alerts (a merchant's risk level rose) are POSTed here as JSON, retried with back-off until a 2xx. */
  RISK_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Signs each webhook body: X-Signature: sha256=HMAC(secret, body). */
  RISK_WEBHOOK_SECRET: z.string().min(16, "at least 16 characters").optional(),
  /** First webhook retry after this many ms, doubling up to RISK_WEBHOOK_MAX_BACKOFF_MS. */
  RISK_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(10).max(3_600_000).default(1_000),
  RISK_WEBHOOK_MAX_BACKOFF_MS: z.coerce.number().int().min(10).max(86_400_000).default(600_000),
});

export type Config = z.infer<typeof schema> & {
  dataDir: string;
  deploymentFile: string;
  keystoreDir: string;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super("invalid configuration:\n" + problems.map((p) => `  - ${p}`).join("\n"));
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input = Object.fromEntries(Object.entries(env).filter(([k, v]) => k in schema.shape && v !== undefined && v !== ""));
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${String(i.path[0] ?? "?")}: ${i.message}`));
  }
  const c = parsed.data;
  const dataDir = path.resolve(c.DATA_DIR);
  return {
    ...c,
    dataDir,
    deploymentFile: path.resolve(c.DEPLOYMENT_FILE ?? path.join(dataDir, "deployment.json")),
    keystoreDir: path.resolve(c.KEYSTORE_DIR ?? path.join(dataDir, "keystores")),
  };
}

/**
 * The configuration for a command's entry point: on a bad variable it prints one line per problem and exits with
 * status 2 (no stack trace), as `npm start`, `npm run gateway` and `src/main.ts` all do.
 */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}

/** The password for one account's keystore, from the environment. */
export function keystorePassword(address: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[`KEYSTORE_PASSWORD_${address.toLowerCase()}`] ?? env[`KEYSTORE_PASSWORD_${address}`] ?? env.KEYSTORE_PASSWORD;
}

/** Where the configured store is: what openDb takes (a PostgreSQL server, or PGlite under DATA_DIR/pglite). */
export function storeOptions(c: Config): { databaseUrl?: string; dataDir: string; poolMax: number } {
  return { databaseUrl: c.DATABASE_URL, dataDir: path.join(c.dataDir, "pglite"), poolMax: c.DATABASE_POOL_MAX };
}
