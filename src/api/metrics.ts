import express, { NextFunction, Request, Response } from "express";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The gateway's Prometheus metrics, served at GET /metrics (text exposition format, no key: put it behind the
 * operations network, like /health). One registry per gateway, so tests and several gateways in one process
 * do not share counters.
 *
 *   custody_sync_lag_blocks            blocks between the final head and the indexed block
 *   custody_indexed_block              last block whose events are in the store
 *   custody_head_block                 the chain's head as the indexer last saw it
 *   custody_indexer_up                 1 while the indexer runs without error
 *   custody_rpc_errors_total           failed JSON-RPC requests, by method, node URL and kind (transport | response)
 *   custody_http_request_duration_seconds   request latencies, by method, route template and status
 *   custody_queue_vouchers             consumption vouchers in the queue, by status
 *   custody_process_*, custody_nodejs_*   the process: CPU, memory, event-loop lag (prom-client defaults)
 */
export interface MetricsSources {
  indexer: { status: { headBlock: number | null; indexedBlock: number | null; lag: number | null; running: boolean; lastError: string | null } };
  queue: { stats(): Promise<Record<string, number>> };
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "custody_" });
  let sources: MetricsSources | null = null;

  const gauge = (name: string, help: string, read: (s: MetricsSources) => number | null) =>
    new Gauge({
      name, help, registers: [registry],
      collect() {
        const v = sources ? read(sources) : null;
        if (v === null || v === undefined) this.reset();
        else this.set(v);
      },
    });
  gauge("custody_sync_lag_blocks", "Blocks between the final chain head and the last indexed block", (s) => s.indexer.status.lag);
  gauge("custody_indexed_block", "Last block whose events are in the store", (s) => s.indexer.status.indexedBlock);
  gauge("custody_head_block", "The chain head as the indexer last saw it", (s) => s.indexer.status.headBlock);
  gauge("custody_indexer_up", "1 while the indexer runs without error, 0 otherwise", (s) => (s.indexer.status.running && !s.indexer.status.lastError ? 1 : 0));

  new Gauge({
    name: "custody_queue_vouchers", help: "Consumption vouchers in the queue, by status", labelNames: ["status"], registers: [registry],
    async collect() {
      this.reset();
      if (!sources) return;
      const stats = await sources.queue.stats().catch(() => null);
      if (!stats) return;
      for (const status of ["queued", "sent", "confirmed", "failed"]) this.set({ status }, stats[status] ?? 0);
    },
  });

  const rpcErrors = new Counter({
    name: "custody_rpc_errors_total", help: "Failed JSON-RPC requests, by method, node and kind (transport: no answer; response: the node answered an error)",
    labelNames: ["method", "url", "kind"], registers: [registry],
  });

  const latency = new Histogram({
    name: "custody_http_request_duration_seconds", help: "HTTP request latencies, by method, route template and status",
    labelNames: ["method", "route", "status"], registers: [registry],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });

  /** Times every request; the label is the route's template (/v1/cards/:cardId), never the raw path. */
  function middleware(req: Request, res: Response, next: NextFunction) {
    const end = latency.startTimer();
    res.on("finish", () => {
      const template = req.route?.path as string | undefined;
      const route = template ? (req.baseUrl ?? "") + template : res.statusCode === 404 ? "(unmatched)" : "(other)";
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  }

  return {
    registry,
    /** Where the gauges read from; set once the indexer and the queue exist. */
    watch(s: MetricsSources) {
      sources = s;
    },
    /** For createRpc's onError. The URL label is the node's origin only (no path, no credentials). */
    rpcError(method: string, url: string, kind: "transport" | "response") {
      let origin = url;
      try {
        origin = new URL(url).origin;
      } catch {
        /* keep as given */
      }
      rpcErrors.inc({ method, url: origin, kind });
    },
    middleware,
    /** Mounts the timing middleware and GET /metrics on `app`; call before the API's routes. */
    mount(app: express.Express) {
      app.use(middleware);
      app.get("/metrics", async (_req, res, next) => {
        try {
          res.type(registry.contentType).send(await registry.metrics());
        } catch (err) {
          next(err);
        }
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
