import express, { NextFunction, Request, Response } from "express";
import { z } from "zod";
import { Logger } from "pino";
import { Refusal, RetryableError } from "../errors";
import { ApiError, apiErrorOf } from "./errors";
import { bodyParsers, sendJson, defineRoute, Gate } from "./http";
import { PUBLIC } from "./access";
import { auditRoutes } from "./routes/audit";
import { createAuthenticator, ROLES } from "./auth";
import { openApiDocument } from "./openapi";
import { Services } from "../services/context";
import { merchantRoutes } from "./routes/merchants";
import { bankRoutes } from "./routes/banks";
import { regulatorRoutes } from "./routes/regulators";
import { auditorRoutes } from "./routes/auditors";
import { consumerRoutes } from "./routes/consumers";
import { hotlineRoutes } from "./routes/hotline";
import { riskRoutes } from "./routes/risk";
import { statsRoutes } from "./routes/stats";
import { mountConsole } from "../console/serve";
import { docs } from "./http";
import type { Metrics } from "./metrics";
import { apiKeyRoutes } from "./routes/apiKeys";
import { publicRoutes, PublicRateOptions } from "./routes/public";
import { enforcementRoutes } from "./routes/enforcement";
import { withConsumerSessions } from "../services/consumerSessions";
import { mountPublicWeb } from "../web-public/serve";
import { errorBody } from "./messages";
import { directoryRoutes } from "./routes/directory";

export interface AppOptions {
  bodyLimit?: string;
  version?: string;
  /** Extra routers (the console's static files, metrics). */
  mount?: (app: express.Express) => void;
  /** Prometheus metrics: GET /metrics and request timing (src/api/metrics.ts). */
  metrics?: Metrics;
  /** The per-IP limit on the public (no sign-in) routes; see src/api/routes/public.ts. */
  publicRate?: PublicRateOptions;
  /**
   * Mount only the routes this accepts (method in capitals, the route's path template) and none of the pages, docs
   * or console: a read worker's app (src/cluster.ts) holds just the routes it answers, so a request is matched
   * against a few routes instead of every one. Unset: everything.
   */
  serves?: (method: string, path: string) => boolean;
}

/** The gateway's HTTP API, apart from `listen` so tests can drive it directly. */
export function createApp(s: Services, opts: AppOptions = {}) {
  const app = express();
  app.disable("x-powered-by");
  app.set("query parser", "simple");
  opts.metrics?.mount(app);
  const logger: Logger = s.logger;
  const authenticate = withConsumerSessions(s.db, createAuthenticator(s.db));
  const gate: Gate = { authenticate, db: s.db };

  // One line per request at debug. Below debug nothing is timed or listened for per request: the 5xx answers, which
  // are logged at every level, all come from the error handler at the end, which logs them.
  if (logger.isLevelEnabled("debug")) {
    app.use((req, res, next) => {
      const start = process.hrtime.bigint();
      res.on("finish", () => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        const level = res.statusCode >= 500 ? "error" : "debug";
        logger[level]({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, "request");
      });
      next();
    });
  }
  app.use(...bodyParsers(opts.bodyLimit ?? "1mb"));

  const router = opts.serves ? onlyRoutes(express.Router(), opts.serves) : express.Router();
  docs.length = 0;
  defineRoute(router, {
    method: "get", path: "/health", tag: "system", summary: "Report chain and index health", access: PUBLIC,
    response: z.looseObject({ status: z.enum(["ok", "degraded"]), chainId: z.number(), headBlock: z.number().nullable(), indexedBlock: z.number().nullable(), lag: z.number().nullable() }),
    handler: async () => {
      const st = s.indexer.status;
      return {
        status: st.running && !st.lastError ? "ok" : "degraded",
        chainId: s.chainId, headBlock: st.headBlock, indexedBlock: st.indexedBlock, lag: st.lag, catchingUp: st.catchingUp,
        ledgerIndexesDeferred: st.ledgerIndexesDeferred, lastError: st.lastError, rpcUrl: s.rpc.url, queue: await s.queue.stats(), rpcCalls: s.rpc.stats.calls,
      };
    },
  }, gate);
  merchantRoutes(router, s, gate);
  bankRoutes(router, s, gate);
  regulatorRoutes(router, s, gate);
  auditorRoutes(router, s, gate);
  consumerRoutes(router, s, gate);
  hotlineRoutes(router, s, gate);
  riskRoutes(router, s, gate);
  apiKeyRoutes(router, s, gate);
  statsRoutes(router, s, gate);
  publicRoutes(router, s, gate, opts.publicRate);
  enforcementRoutes(router, s, gate);
  auditRoutes(router, gate);
  directoryRoutes(router, s, gate);
  defineRoute(router, {
    method: "get", path: "/v1/me", tag: "system", summary: "Read who the API key belongs to",
    access: { roles: Object.fromEntries(ROLES.map((r) => [r, "scoped"])), notes: Object.fromEntries(ROLES.map((r) => [r, "its own key"])) },
    responds: "the key's role, subject (bank id, merchant id or account) and label",
    response: z.object({ role: z.enum(ROLES), subject: z.string().nullable(), label: z.string(), keyId: z.string() }),
    handler: async ({ principal }) => ({ role: principal!.role, subject: principal!.subject, label: principal!.label, keyId: principal!.keyId }),
  }, gate);

  const doc = (req: Request) => openApiDocument({ version: opts.version ?? "0.1.0", chainId: s.chainId, escrow: s.deployment.escrow, server: `${req.protocol}://${req.get("host") ?? "127.0.0.1"}` });
  if (!opts.serves) {
    app.get("/openapi.json", (req, res) => sendJson(res, 200, doc(req)));
    app.get("/docs", (_req, res) => res.type("html").send(docsPage()));
    mountPublicWeb(app);
    mountConsole(app);
  }
  opts.mount?.(app);
  app.use(router);

  app.use((req: Request, _res: Response, next: NextFunction) => next(new ApiError(404, "NotFound", `no route ${req.method} ${req.path}`)));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof Refusal) {
      const e = apiErrorOf(err);
      if (e.status >= 500) logger.error({ method: req.method, path: req.path, status: e.status, code: e.code }, "request");
      return sendJson(res, e.status, errorBody(req, e.code, e.message, e.details));
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e?.type === "entity.too.large") return sendJson(res, 413, errorBody(req, "PayloadTooLarge", `the body is larger than ${opts.bodyLimit ?? "1mb"}`));
    if (e?.type === "entity.parse.failed") return sendJson(res, 400, errorBody(req, "InvalidJson", "the body is not valid JSON", [{ field: "body", reason: "malformed JSON" }]));
    if (e?.status && e.status >= 400 && e.status < 500) {
      // express's own refusals (a path segment that is not valid percent-encoding, an unsupported charset): name the part
      const message = e.message ?? "bad request";
      const field = /decode param/i.test(message) ? "path" : /charset|encoding/i.test(message) ? "headers.content-type" : "body";
      return sendJson(res, e.status, errorBody(req, "BadRequest", message, [{ field, reason: message }]));
    }
    if (err instanceof RetryableError) {
      logger.warn({ err: (err as Error).message, path: req.path }, "chain or database unavailable");
      return sendJson(res, 503, errorBody(req, "Unavailable", "the chain or the database did not answer; try again shortly"));
    }
    logger.error({ err: { message: (err as Error)?.message, stack: (err as Error)?.stack }, path: req.path }, "unhandled error");
    return sendJson(res, 500, errorBody(req, "Internal", "the gateway failed; the error is logged"));
  });
  return app;
}

/** `router` registering only the routes `serves` accepts; anything not declared by method and path goes through. */
function onlyRoutes(router: express.Router, serves: (method: string, path: string) => boolean): express.Router {
  const methods = new Set(["get", "post", "put", "patch", "delete"]);
  return new Proxy(router, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof prop !== "string" || !methods.has(prop)) return v;
      return (path: unknown, ...handlers: unknown[]) =>
        typeof path === "string" && !serves(prop.toUpperCase(), path) ? target : (v as (...a: unknown[]) => unknown).call(target, path, ...handlers);
    },
  });
}

function docsPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Custody gateway API</title>
<style>body{font:14px system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em}code{background:#f3f3f3;padding:1px 4px}
h2{border-bottom:1px solid #ddd;margin-top:2em}.op{margin:.6em 0}.m{display:inline-block;width:4em;font-weight:bold}</style></head>
<body><h1>Prepaid-card custody gateway</h1><p>Send your key as <code>X-API-Key</code>. Money is in fen as decimal strings.
The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p><div id="ops">loading…</div>
<script>fetch('/openapi.json').then(r=>r.json()).then(d=>{const by={};for(const[p,ops]of Object.entries(d.paths))for(const[m,o]of Object.entries(ops))(by[o.tags[0]]??=[]).push([m,p,o]);
const el=document.getElementById('ops');el.textContent='';for(const[t,list]of Object.entries(by)){const h=document.createElement('h2');h.textContent=t;el.append(h);
for(const[m,p,o]of list){const div=document.createElement('div');div.className='op';div.innerHTML='<span class="m"></span><code></code> <span></span>';
div.children[0].textContent=m.toUpperCase();div.children[1].textContent=p;div.children[2].textContent='— '+o.summary+'. '+o.description;el.append(div);}}});</script></body></html>`;
}
