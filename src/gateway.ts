import fs from "node:fs";
import http from "node:http";
import { Network } from "ethers";
import { FailoverProvider } from "./chain/provider";
import { Logger } from "pino";
import { Config, storeOptions } from "./config";
import { createApp, AppOptions } from "./api/app";
import { createMetrics } from "./api/metrics";
import { Deployment } from "./chain/bootstrap";
import { createRpc } from "./chain/rpc";
import { createKeyRing, KeyRing } from "./chain/signers";
import { FatalError } from "./errors";
import { createConsumptionQueue } from "./services/consumptions";
import { createTxJournal } from "./services/journal";
import { anchorAllPending } from "./services/enforcement";
import { Services } from "./services/context";
import { Db, openDb } from "./store/db";
import { migrate } from "./store/migrations";
import { createIndexer } from "./sync/indexer";
import { createRiskRuntime, riskOracleAccount } from "./risk/runtime";
import { runLawUpkeep } from "./services/lawJobs";
import { CustodyRegistry__factory, PrepaidEscrow__factory } from "../typechain-types";

/** How often the gateway releases direct shares whose cooling-off ended and completes key recoveries due. */
export const LAW_UPKEEP_INTERVAL_MS = 30_000;

export function readDeployment(file: string): Deployment {
  if (!fs.existsSync(file)) {
    throw new FatalError(`no deployment at ${file}: deploy with \`npm run cli -- deploy\` (or run \`npm start\` for a local platform), or set DEPLOYMENT_FILE`);
  }
  return JSON.parse(fs.readFileSync(file, "utf8")) as Deployment;
}

/**
 * Builds the whole gateway from its configuration: store (migrated), RPC with fail-over, indexer,
 * consumption queue, keys and the HTTP app. Nothing listens or syncs until start().
 */
export async function createGateway(
  config: Config,
  logger: Logger,
  overrides: { db?: Db; deployment?: Deployment; keys?: KeyRing; app?: AppOptions } = {},
) {
  const urls = config.CHAIN_RPC_URL ?? [];
  if (urls.length === 0) throw new FatalError("CHAIN_RPC_URL is not set");
  const deployment = overrides.deployment ?? readDeployment(config.deploymentFile);
  const db = overrides.db ?? (await openDb(storeOptions(config)));
  const applied = await migrate(db);
  if (applied.length) logger.info({ applied, engine: db.engine }, "database migrated");
  const metrics = createMetrics();
  const rpc = createRpc({
    urls,
    onError: metrics.rpcError,
    onFailover: (from, to, reason) => logger.warn({ from, to, reason }, "RPC fail-over"),
  });
  const network = Network.from(deployment.chainId);
  const provider = new FailoverProvider(rpc, network);
  const escrow = PrepaidEscrow__factory.connect(deployment.escrow, provider);
  const registry = CustodyRegistry__factory.connect(deployment.registry, provider);
  const journal = createTxJournal({ db, rpc, logger: logger.child({ part: "journal" }) });
  const keys = overrides.keys ?? createKeyRing({ dir: config.keystoreDir, provider });
  keys.attachJournal(journal);
  const indexer = createIndexer({
    db, rpc, contracts: { escrow: deployment.escrow, registry: deployment.registry }, startBlock: deployment.startBlock,
    confirmations: config.CONFIRMATIONS, logger: logger.child({ part: "indexer" }), pollIntervalMs: config.POLL_INTERVAL_MS,
    deferIndexesBlocks: config.DEFER_LEDGER_INDEXES_BLOCKS,
  });
  const queue = createConsumptionQueue({
    db, escrow, provider, rpc, keys, chainId: deployment.chainId, logger: logger.child({ part: "queue" }),
    intervalMs: config.BATCH_INTERVAL_MS, maxPerTx: config.BATCH_MAX_VOUCHERS,
  });
  const services: Services = { db, rpc, provider, escrow, registry, deployment, chainId: deployment.chainId, keys, indexer, queue, logger, journal };
  services.risk = createRiskRuntime(services, {
    rateIntervalMs: config.RISK_RATE_INTERVAL_MS, pushIntervalMs: config.RISK_PUSH_INTERVAL_MS, oracle: riskOracleAccount(config),
    webhookUrl: config.RISK_WEBHOOK_URL, webhookSecret: config.RISK_WEBHOOK_SECRET,
    webhookBackoffMs: config.RISK_WEBHOOK_BACKOFF_MS, webhookMaxBackoffMs: config.RISK_WEBHOOK_MAX_BACKOFF_MS,
  });
  metrics.watch({ indexer, queue });
  const app = createApp(services, { bodyLimit: config.BODY_LIMIT, metrics, ...overrides.app });
  let server: http.Server | null = null;
  let sweeper: NodeJS.Timeout | null = null;
  /** The 2025 rules' upkeep: direct shares whose cooling-off ended, key recoveries whose wait is over. */
  let upkeep: NodeJS.Timeout | null = null;
  let upkeepRun: Promise<unknown> | null = null;

  return {
    services,
    app,
    metrics,
    /**
     * Sends again what the chain lost (see services/journal.ts), brings the index back to what the chain has, then
     * starts indexing, the queue, risk and the HTTP server. `lostAfterBlock`: the head of the state a local chain was
     * restored from (transactions seen in later blocks are checked too).
     */
    async start(opts: { lostAfterBlock?: number } = {}): Promise<{ port: number }> {
      const chainId = Number(await rpc.send<string>("eth_chainId"));
      if (chainId !== deployment.chainId) {
        throw new FatalError(`the node at ${rpc.url} is chain ${chainId}, but the deployment is on chain ${deployment.chainId}`);
      }
      const recovered = await journal.recover({ lostAfterBlock: opts.lostAfterBlock });
      const lostBatches = recovered.failed.filter((f) => f.origin === "vouchers").map((f) => f.hash);
      if (lostBatches.length) {
        // Their vouchers wait again; sent one by one, each is confirmed or recorded as failed with the contract's reason.
        await db.query("UPDATE voucher_queue SET status = 'queued', updated_at = now() WHERE tx_hash = ANY($1::text[]) AND status IN ('sent', 'confirmed')", [lostBatches]);
      }
      await indexer.start();
      await anchorAllPending(services);
      sweeper = setInterval(() => void journal.sweep().catch((err) => logger.warn({ err: (err as Error).message }, "journal sweep failed")), 5_000);
      sweeper.unref();
      upkeep = setInterval(() => {
        if (upkeepRun) return;
        upkeepRun = runLawUpkeep(services)
          .then((done) => { if (done.directReleases || done.keyRecoveries) logger.info(done, "upkeep: direct shares released, key recoveries completed"); })
          .catch((err) => logger.warn({ err: (err as Error).message }, "upkeep failed"))
          .finally(() => { upkeepRun = null; });
      }, LAW_UPKEEP_INTERVAL_MS);
      upkeep.unref();
      await queue.start();
      services.risk?.start();
      server = await new Promise<http.Server>((resolve, reject) => {
        const srv = http.createServer(app);
        srv.once("error", (err: NodeJS.ErrnoException) => {
          reject(err.code === "EADDRINUSE" ? new FatalError(`cannot listen on ${config.HOST}:${config.PORT}: the port is in use (EADDRINUSE); stop what holds it or set PORT`) : err);
        });
        srv.listen(config.PORT, config.HOST, () => resolve(srv));
      });
      server.keepAliveTimeout = 5_000;
      const port = (server.address() as { port: number }).port;
      logger.info({ host: config.HOST, port, chainId, escrow: deployment.escrow }, "gateway listening");
      return { port };
    },
    /** Stops taking requests, drains the queue's in-flight work, stops indexing, closes the store. */
    async stop(): Promise<void> {
      if (server) {
        const srv = server;
        server = null;
        await new Promise<void>((resolve) => {
          srv.close(() => resolve());
          srv.closeIdleConnections?.();
          setTimeout(() => srv.closeAllConnections?.(), 3_000).unref();
        });
      }
      if (sweeper) clearInterval(sweeper);
      if (upkeep) clearInterval(upkeep);
      await upkeepRun;
      await services.risk?.stop();
      await queue.stop();
      await indexer.stop();
      if (!overrides.db) await db.close();
      provider.destroy();
    },
  };
}

export type Gateway = Awaited<ReturnType<typeof createGateway>>;
