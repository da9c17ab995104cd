/**
 * The gateway alone (indexer, consumption queue, HTTP API) against an existing chain and store: what runs in
 * production next to the consortium member's node(s) and PostgreSQL, and what the benchmarks and fault tests start
 * as a separate process (to kill it with SIGKILL). `npm start` instead runs a whole local platform around it.
 *
 *   CHAIN_RPC_URL=http://node:8545 DATABASE_URL=postgres://… DEPLOYMENT_FILE=… KEYSTORE_DIR=… \
 *     node --max-old-space-size=256 -r ts-node/register/transpile-only src/main.ts
 *
 * (The heap cap is what `npm start` and `npm run gateway` use: without it V8 lets garbage grow and a catching-up
 * indexer's RSS peaks near 600 MB instead of about 420.)
 *
 * Configuration is src/config.ts's; a bad variable stops it with exit code 2, one line per problem. It logs
 * "gateway listening" (with the port) once it serves, and stops cleanly on SIGTERM or SIGINT.
 */
import { loadConfigOrExit } from "./config";
import { createGateway } from "./gateway";
import { createLogger } from "./logger";

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL);
  const gateway = await createGateway(config, logger);
  await gateway.start();
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    setTimeout(() => process.exit(1), 20_000).unref();
    gateway.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err: (err as Error).message }, "stopping failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err) => {
  console.error(`gateway failed: ${(err as Error).message}`);
  process.exit(1);
});
