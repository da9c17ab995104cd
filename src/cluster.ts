import cluster from "node:cluster";
import http from "node:http";
import { Logger } from "pino";
import { Config, loadConfigOrExit } from "./config";
import { createGateway, Gateway } from "./gateway";
import { createLogger } from "./logger";
import { FatalError } from "./errors";

/**
 * Several gateway processes on one port (GATEWAY_WORKERS > 1, PostgreSQL only: PGlite lives inside one process).
 *
 * - The primary process is the whole gateway: the indexer, the consumption queue, signing and nonces, the risk
 *   engine, and every route. It listens on a loopback port of its own, not on PORT.
 * - GATEWAY_WORKERS read workers (node:cluster) share PORT; the primary hands each new connection to the next
 *   worker in turn. A worker answers the high-traffic reads itself from the shared database (GET under
 *   /v1/cards, /v1/ledger, /v1/consumers, /v1/merchants: plain queries, the same routes and code as the primary's)
 *   and passes every other request, writes included, unchanged to the primary, so that everything that
 *   needs one owner (nonces, the queue, the indexer's status) keeps exactly one.
 *
 * Each worker keeps its own API-key cache (a revoked key stops working within the cache's 5 s TTL in each). A worker's
 * app holds only the routes it answers (no pages, docs or other routes to match a request against) and keeps no
 * request metrics: /metrics is the primary's and counts the requests the primary answers.
 */

/** Requests a read worker answers itself; everything else goes to the primary. */
const LOCAL_READ = /^\/v1\/(cards|ledger|consumers|merchants)(\/|\?|$)/;

export function readLocally(method: string | undefined, url: string | undefined): boolean {
  return (method === "GET" || method === "HEAD") && LOCAL_READ.test(url ?? "");
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

/** Passes one request to the primary on loopback and its answer back, bodies streamed. */
function forwarder(primaryPort: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    if (req.headers["transfer-encoding"]) headers["transfer-encoding"] = req.headers["transfer-encoding"];
    const prior = req.headers["x-forwarded-for"];
    headers["x-forwarded-for"] = (prior ? `${prior}, ` : "") + (req.socket.remoteAddress ?? "");
    const up = http.request({ host: "127.0.0.1", port: primaryPort, method: req.method, path: req.url, headers, agent }, (r) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(r.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(r.statusCode ?? 502, out);
      r.pipe(res);
    });
    up.on("error", () => {
      if (res.headersSent) return void res.destroy();
      const body = JSON.stringify({ error: { code: "Unavailable", message: "the gateway's primary process did not answer; try again shortly" } });
      res.writeHead(503, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
    req.pipe(up);
  };
}

/**
 * The read workers' node flags: the primary's, and a young generation of 32 MB semi-spaces (V8's default is 16 MB)
 * unless the primary's flags set one. A worker allocates a ledger page's text (~26 KB) and its response per request;
 * with the default size its old generation filled every few seconds (mark-compacts of 7-26 ms under bench:api, seen
 * with --trace-gc), likely pages still being written out when a scavenge came and so promoted. bench:api on 200,000
 * rows, PostgreSQL, read workers' CPU, four runs each way: 0.29-0.32 -> 0.22-0.24 ms a ledger page by card,
 * 0.30-0.38 -> 0.24-0.30 a page by cursor. The young generation may take up to 32 MB more per worker.
 */
export function readWorkerExecArgv(primary: string[]): string[] {
  return primary.some((a) => a.startsWith("--max-semi-space-size")) ? primary : [...primary, "--max-semi-space-size=32"];
}

export interface RunningGateway {
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts the gateway: in this process alone (GATEWAY_WORKERS <= 1, or PGlite), or as a primary with read workers.
 * In a worker process (started by the primary through node:cluster) it runs the worker's part instead.
 */
export async function startGateway(config: Config, logger: Logger): Promise<RunningGateway> {
  if (cluster.isWorker) return startWorker(config, logger);
  const workers = config.GATEWAY_WORKERS;
  if (workers <= 1 || !config.DATABASE_URL) {
    if (workers > 1) logger.warn({ workers }, "GATEWAY_WORKERS needs DATABASE_URL (PGlite lives inside one process): one process serves");
    const gw = await createGateway(config, logger);
    const { port } = await gw.start();
    return { port, stop: () => gw.stop() };
  }
  return startPrimary(config, logger, workers);
}

async function startPrimary(config: Config, logger: Logger, count: number): Promise<RunningGateway> {
  // The whole gateway, on a loopback port of its own; forwarded requests say who the client was.
  const gw: Gateway = await createGateway({ ...config, PORT: 0, HOST: "127.0.0.1" }, logger, {
    app: { mount: (app) => app.set("trust proxy", "loopback") },
  });
  const { port: primaryPort } = await gw.start();
  cluster.setupPrimary({ exec: process.argv[1], args: process.argv.slice(2), execArgv: readWorkerExecArgv(process.execArgv) });
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let stopping = false;
  const env = { GATEWAY_PRIMARY_PORT: String(primaryPort) };
  const fork = () => cluster.fork(env);
  const listening = new Promise<number>((resolve, reject) => {
    let up = 0;
    const onListening = (_w: unknown, address: { port: number }) => {
      if (++up === count) {
        cluster.off("listening", onListening);
        resolve(address.port);
      }
    };
    cluster.on("listening", onListening);
    cluster.on("exit", (w, code, signal) => {
      if (stopping) return;
      if (up < count) return reject(new FatalError(`a gateway worker exited while starting (code ${code}, signal ${signal})`));
      logger.error({ pid: w.process.pid, code, signal }, "gateway worker exited; starting another");
      fork();
    });
  });
  for (let i = 0; i < count; i++) fork();
  let port: number;
  try {
    port = await listening;
  } catch (err) {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    await gw.stop();
    throw err;
  }
  logger.info({ host: config.HOST, port, workers: count, primaryPort }, "gateway listening (read workers)");
  return {
    port,
    async stop() {
      stopping = true;
      const exits = Object.values(cluster.workers ?? {}).map(
        (w) =>
          new Promise<void>((resolve) => {
            if (!w || w.isDead()) return resolve();
            w.once("exit", () => resolve());
            w.send({ stop: true });
            setTimeout(() => w.kill("SIGKILL"), 10_000).unref();
          }),
      );
      await Promise.all(exits);
      await gw.stop();
    },
  };
}

async function startWorker(config: Config, logger: Logger): Promise<RunningGateway> {
  const primaryPort = Number(process.env.GATEWAY_PRIMARY_PORT);
  if (!primaryPort) throw new FatalError("a gateway worker needs GATEWAY_PRIMARY_PORT");
  // The same app and services as the primary's (the store is already migrated); nothing here indexes, queues or
  // signs: those requests are forwarded.
  // Its app holds only the routes it answers (readLocally), and no request metrics: GET /metrics is the primary's, so
  // a worker's would never be read.
  const gw = await createGateway(config, logger.child({ worker: cluster.worker?.id }), {
    app: { metrics: undefined, serves: (method, routePath) => readLocally(method, routePath) },
  });
  const forward = forwarder(primaryPort);
  const server = http.createServer((req, res) => (readLocally(req.method, req.url) ? gw.app(req, res) : forward(req, res)));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const stop = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 3_000).unref();
    });
    await gw.services.db.close();
    gw.services.provider.destroy();
  };
  process.on("message", (m: { stop?: boolean }) => {
    if (m?.stop) void stop().finally(() => process.exit(0));
  });
  return { port: (server.address() as { port: number }).port, stop };
}

/** `node -r ts-node/register/transpile-only src/cluster.ts`: the gateway from the environment, stopped on SIGTERM. */
if (require.main === module) {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL);
  startGateway(config, logger)
    .then((gw) => {
      if (cluster.isWorker) return;
      process.send?.({ listening: gw.port });
      const shutdown = () => void gw.stop().finally(() => process.exit(0));
      process.once("SIGTERM", shutdown);
      process.once("SIGINT", shutdown);
    })
    .catch((err) => {
      logger.fatal({ err: (err as Error).message }, "gateway failed to start");
      process.exit(1);
    });
}
