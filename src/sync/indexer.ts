import { Logger } from "pino";
import { ChainEvent, RawLog, decodeLog } from "../chain/events";
import { Rpc, RangeTooLargeError, sleep } from "../chain/rpc";
import { FatalError, RetryableError } from "../errors";
import { Db } from "../store/db";
import { BatchWrite, planBatch, projectBatch, newProjectionCache, ProjectionCache } from "../indexing/projector";
import { buildLedgerIndexes, deferLedgerIndexes, ledgerIndexesDeferred } from "../store/ledger-indexes";

/**
 * Cards the indexer's projection cache holds at most (~0.5 KB each with their disputes' entries: ~10 MB of a
 * gateway's heap); past that it starts again empty (see ProjectionCache).
 */
const CACHE_MAX_CARDS = 20_000;

export interface IndexerOptions {
  db: Db;
  rpc: Rpc;
  contracts: { escrow: string; registry: string };
  /** The block the contracts were deployed in: nothing before it is read. */
  startBlock: number;
  /** Blocks behind the head that count as final: 0 on a BFT chain (QBFT, IBFT 2.0), more on others. */
  confirmations: number;
  logger: Logger;
  pollIntervalMs?: number;
  /** First and largest eth_getLogs block range; it shrinks on "too many results" or dense ranges and doubles when sparse. */
  initialRange?: number;
  maxRange?: number;
  /** Aim for about this many logs per range (bounds memory: at most readAhead + 1 ranges are held at a time). */
  targetLogsPerRange?: number;
  /**
   * Before reading a range of more than 16 blocks after a sparse one (or first), count the logs of this many of its
   * blocks, spread over it, in one JSON-RPC batch, and shorten the range if they promise far more than
   * targetLogsPerRange: a node builds its whole answer before the byte limit can refuse it, so one range that runs
   * from a quiet stretch into a busy one would otherwise cost it an answer of hundreds of MB. 0: never. Default 8.
   */
  sampleBlocks?: number;
  /** Ranges read ahead while one is written, catching up (default 1; 0: none). */
  readAhead?: number;
  /**
   * Largest eth_getLogs answer read for a range of several blocks (default 16 MiB, ~24,000 small logs); a larger one
   * is refused unread and its range split, so a burst of events after a sparse stretch cannot blow up memory.
   */
  maxResponseBytes?: number;
  /**
   * A first sync into an empty index with at least this many blocks to read drops the ledger's query indexes and
   * builds them when it reaches the head (see src/store/ledger-indexes.ts); 0: never. Default 1,000.
   */
  deferIndexesBlocks?: number;
  /** Fired after each committed batch. */
  onBatch?: (info: { from: number; to: number; events: number }) => void;
}

export interface IndexerStatus {
  chainId: number | null;
  headBlock: number | null;
  indexedBlock: number | null;
  lag: number | null;
  catchingUp: boolean;
  /** Ranges the node was asked for and answered too large (refused unread and split). */
  rangesRefused: number;
  /** Ranges shortened before asking, because a sample of their blocks promised too many logs. */
  rangesShortened: number;
  /** The ledger's query indexes are dropped until the first sync reaches the head: ledger reads are slow meanwhile. */
  ledgerIndexesDeferred: boolean;
  eventsIndexed: number;
  lastError: string | null;
  running: boolean;
}

interface BlockHeader {
  number: string;
  hash: string;
  parentHash: string;
  timestamp: string;
}

/** One range read from the chain and checked, ready to be written. */
interface FetchedRange {
  from: number;
  to: number;
  events: ChainEvent[];
  hdrs: Map<number, BlockHeader>;
}

/** The value a promise fulfils with, or undefined if it rejects (the rejection is surfaced where it is used). */
async function settled<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch {
    return undefined;
  }
}

/**
 * Follows the custody contracts' events into the store: historical sync in adaptive eth_getLogs ranges, then
 * live following. Each batch's rows and its checkpoint are committed in one transaction, so a crash resumes
 * from the checkpoint with nothing lost and nothing applied twice.
 */
export function createIndexer(opts: IndexerOptions) {
  const { db, rpc, logger } = opts;
  const contracts = { escrow: opts.contracts.escrow.toLowerCase(), registry: opts.contracts.registry.toLowerCase() };
  const pollIntervalMs = opts.pollIntervalMs ?? 500;
  const maxRange = opts.maxRange ?? 50_000;
  const targetLogs = opts.targetLogsPerRange ?? 5_000;
  const maxResponseBytes = opts.maxResponseBytes ?? 16 * 1024 * 1024;
  let range = Math.min(opts.initialRange ?? 2_000, maxRange);
  /** After a refused (too large) range: no range longer than `span` blocks until block `until` is passed. */
  let ceiling: { until: number; span: number } | null = null;
  /** The next ranges, in order, read while the current one is written (catching up only). */
  let ahead: { from: number; to: number; result: Promise<FetchedRange> }[] = [];
  const readAhead = Math.max(0, opts.readAhead ?? 1);
  const sampleBlocks = Math.max(0, opts.sampleBlocks ?? 8);
  /** Logs in the last range read (null: none read yet), to know when the next one may run into a busier stretch. */
  let lastLogs: number | null = null;
  /**
   * Catching up, range i+1 is planned (projected in memory, its statements' values written out) while range i is
   * written: `cache` holds the state the planned ranges leave, `planned` the last of them, `writing` its write.
   */
  let cache: ProjectionCache | null = null;
  let planned: { number: number; hash: string } | null = null;
  let writing: Promise<void> | null = null;
  /** Whether the store takes the ledger's rows as COPY input (known at start). */
  let copy = false;
  /** When the head was last asked for (status.headBlock). */
  let headAt = 0;
  let stopping = false;
  let loop: Promise<void> | null = null;
  let wake: (() => void) | null = null;
  const status: IndexerStatus = {
    chainId: null, headBlock: null, indexedBlock: null, lag: null, catchingUp: true, rangesRefused: 0, rangesShortened: 0,
    ledgerIndexesDeferred: false, eventsIndexed: 0,
    lastError: null, running: false,
  };

  async function meta(key: string): Promise<string | null> {
    const rows = await db.query<{ value: string }>("SELECT value FROM meta WHERE key = $1", [key]);
    return rows[0]?.value ?? null;
  }

  /** Refuses to index a different chain or contract than the index was built on. */
  async function checkIdentity(): Promise<void> {
    const chainId = Number(await rpc.send<string>("eth_chainId"));
    const genesis = await rpc.send<BlockHeader | null>("eth_getBlockByNumber", ["0x0", false]);
    if (!genesis) throw new FatalError("the node has no genesis block");
    status.chainId = chainId;
    const known = { chain_id: String(chainId), genesis_hash: genesis.hash, escrow: contracts.escrow, registry: contracts.registry };
    for (const [key, value] of Object.entries(known)) {
      const stored = await meta(key);
      if (stored === null) {
        await db.query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", [key, value]);
      } else if (stored !== value) {
        throw new FatalError(
          `the index was built on ${key} ${stored}, but the chain now gives ${value}: the chain was reset or the ` +
            `configuration points elsewhere. To rebuild the index from this chain, stop the gateway and run ` +
            `\`npm run cli -- rebuild-index\` (or delete the database), then start again.`,
        );
      }
    }
  }

  async function checkpoint(): Promise<{ number: number; hash: string } | null> {
    const rows = await db.query<{ block_number: string; block_hash: string }>("SELECT block_number, block_hash FROM checkpoint WHERE id = 1");
    return rows[0] ? { number: Number(rows[0].block_number), hash: rows[0].block_hash } : null;
  }

  async function headers(numbers: number[]): Promise<Map<number, BlockHeader>> {
    const out = new Map<number, BlockHeader>();
    const unique = [...new Set(numbers)];
    for (let i = 0; i < unique.length; i += 200) {
      const chunk = unique.slice(i, i + 200);
      const res = await rpc.batch<BlockHeader | null>(chunk.map((n) => ({ method: "eth_getBlockByNumber", params: ["0x" + n.toString(16), false] })));
      chunk.forEach((n, j) => {
        const h = res[j];
        if (!h) throw new RetryableError(`block ${n} not available yet`);
        out.set(n, h);
      });
    }
    return out;
  }

  /** Finds the newest stored block still on the chain and undoes everything after it. */
  async function handleReorg(fromBlock: number): Promise<void> {
    const stored = await db.query<{ number: string; hash: string }>("SELECT number, hash FROM blocks WHERE number <= $1 ORDER BY number DESC LIMIT 512", [fromBlock]);
    let ancestor = opts.startBlock - 1;
    for (let i = 0; i < stored.length; i += 50) {
      const chunk = stored.slice(i, i + 50);
      const onChain = await headers(chunk.map((b) => Number(b.number)));
      const match = chunk.find((b) => onChain.get(Number(b.number))?.hash === b.hash);
      if (match) {
        ancestor = Number(match.number);
        break;
      }
    }
    logger.warn({ fromBlock, ancestor }, "reorg: undoing the index back to the common ancestor");
    await db.transaction(async (tx) => {
      await tx.query("DELETE FROM ledger WHERE block_number > $1", [ancestor]);
      await tx.query("DELETE FROM blocks WHERE number > $1", [ancestor]);
      await rebuildState(tx);
      const hash = (await tx.query<{ hash: string }>("SELECT hash FROM blocks WHERE number = $1", [ancestor]))[0]?.hash ?? "";
      await tx.query(
        `INSERT INTO checkpoint (id, block_number, block_hash) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash, updated_at = now()`,
        [ancestor, hash],
      );
    });
  }

  /**
   * The end of a range starting at `from` that a sample of its blocks expects to hold about targetLogs (see
   * sampleBlocks); `to` itself when the last range was not sparse, the range is short, or the node takes no batch.
   */
  async function sampledEnd(from: number, to: number): Promise<number> {
    const span = to - from + 1;
    if (sampleBlocks === 0 || span <= 16 || (lastLogs !== null && lastLogs >= targetLogs / 2)) return to;
    const k = Math.min(sampleBlocks, span);
    const blocks = Array.from({ length: k }, (_, i) => from + Math.floor(((i + 0.5) * span) / k));
    let counts: number[];
    try {
      const answers = await rpc.batch<RawLog[]>(blocks.map((b) => ({
        method: "eth_getLogs",
        params: [{ address: [contracts.escrow, contracts.registry], fromBlock: "0x" + b.toString(16), toBlock: "0x" + b.toString(16) }],
      })));
      counts = answers.map((a) => (Array.isArray(a) ? a.length : 0));
    } catch (err) {
      logger.debug({ err: (err as Error).message }, "could not sample a range's blocks; reading it whole");
      return to;
    }
    const expected = (counts.reduce((a, b) => a + b, 0) * span) / k;
    if (expected <= targetLogs * 2) return to;
    const cut = Math.max(1, Math.floor((span * targetLogs) / expected));
    range = cut;
    status.rangesShortened++;
    logger.debug({ from, to, expected: Math.round(expected), cut }, "a sample of the range promises many logs: shortened");
    return from + cut - 1;
  }

  /** Reads [from, to] (or a first part of it, when the node refuses the whole) and checks it against the headers. */
  async function fetchRange(from: number, to: number, sample = true): Promise<FetchedRange> {
    if (sample) to = await sampledEnd(from, to);
    let logs: RawLog[];
    try {
      logs = await rpc.send<RawLog[]>(
        "eth_getLogs",
        [{ address: [contracts.escrow, contracts.registry], fromBlock: "0x" + from.toString(16), toBlock: "0x" + to.toString(16) }],
        // One block cannot be split: it is read whatever its size.
        { maxResponseBytes: to > from ? maxResponseBytes : undefined },
      );
    } catch (err) {
      if (err instanceof RangeTooLargeError && to > from) {
        status.rangesRefused++;
        const span = to - from + 1;
        // Aim at a quarter of the byte limit when the node said how large the answer was; halve otherwise.
        const next = err.bytes ? Math.floor((span * maxResponseBytes) / 4 / err.bytes) : Math.floor(span / 2);
        range = Math.max(1, Math.min(Math.floor(span / 2), next));
        // The refused range may be sparse first and dense later: do not grow back past this size inside it, or
        // the node would build the same oversized answer again.
        ceiling = { until: Math.max(to, ceiling?.until ?? 0), span: Math.min(range, ceiling?.span ?? range) };
        logger.debug({ from, to, range, bytes: err.bytes }, "log range too large, splitting");
        return fetchRange(from, from + range - 1, false); // the refusal measured the range: no new sample
      }
      throw err;
    }
    const events: ChainEvent[] = [];
    // `from` too: its parent hash links the range to the checkpoint it will be written after (see step()).
    const blockNumbers = new Set<number>([from, to]);
    for (const log of logs) {
      if (log.removed) continue;
      const e = decodeLog(log, contracts);
      if (e) {
        events.push(e);
        blockNumbers.add(e.blockNumber);
      }
    }
    const hdrs = await headers([...blockNumbers]);
    for (const e of events) {
      if (hdrs.get(e.blockNumber)!.hash !== e.blockHash) throw new RetryableError(`block ${e.blockNumber} changed while reading it`);
    }
    lastLogs = logs.length;
    // Grow the range when sparse, shrink when dense, to keep each answer about targetLogs.
    if (logs.length < targetLogs / 2) range = Math.min(maxRange, range * 2);
    else if (logs.length > targetLogs * 2) range = Math.max(1, Math.floor((range * targetLogs) / logs.length));
    if (ceiling && to >= ceiling.until) ceiling = null;
    if (ceiling) range = Math.min(range, ceiling.span);
    return { from, to, events, hdrs };
  }

  /** Builds the ledger's query indexes deferred during the first sync (see src/store/ledger-indexes.ts). */
  async function buildDeferredIndexes(block: number): Promise<void> {
    const t0 = Date.now();
    logger.info({ block }, "building the ledger's query indexes (deferred during the first sync)");
    await buildLedgerIndexes(db);
    status.ledgerIndexesDeferred = false;
    logger.info({ block, ms: Date.now() - t0 }, "ledger's query indexes built");
  }

  /**
   * Writes a planned range's rows, blocks and checkpoint in one transaction; after the range that reaches the head
   * (`last`) the ledger's query indexes are built if they were deferred, before the range is reported (onBatch).
   */
  async function commitRange(r: FetchedRange, write: BatchWrite, last: boolean): Promise<void> {
    const { to, events, hdrs } = r;
    const toHeader = hdrs.get(to)!;
    const blockRows = JSON.stringify([...hdrs.values()].map((h) => ({ number: Number(h.number), hash: h.hash, parent_hash: h.parentHash, timestamp: Number(h.timestamp) })));
    await db.transaction(async (tx) => {
      await write(tx);
      await tx.query(
        `INSERT INTO blocks SELECT * FROM json_to_recordset($1::json) AS x(number bigint, hash text, parent_hash text, timestamp bigint)
         ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash, timestamp = EXCLUDED.timestamp`,
        [blockRows],
      );
      await tx.query(
        `INSERT INTO checkpoint (id, block_number, block_hash) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash, updated_at = now()`,
        [to, toHeader.hash],
      );
    });
    if (last && status.ledgerIndexesDeferred) await buildDeferredIndexes(to);
    status.eventsIndexed += events.length;
    status.indexedBlock = to;
    status.lag = Math.max(0, (status.headBlock ?? to) - opts.confirmations - to);
    opts.onBatch?.({ from: r.from, to, events: events.length });
  }

  /** Waits for the range being written, if any; rejects if its write failed. */
  async function drain(): Promise<void> {
    const w = writing;
    writing = null;
    await w;
  }

  /** After any failure: waits out a write still running, then forgets everything not in the store. */
  async function resetPipeline(): Promise<void> {
    await drain().catch(() => undefined);
    cache = null;
    planned = null;
    ahead = [];
  }

  async function step(): Promise<boolean> {
    // Where the next range starts: after the last range planned (its write may still be running), else the checkpoint.
    const cp = planned ?? (await checkpoint());
    const from = cp ? cp.number + 1 : opts.startBlock;
    // The head is asked for again when the index has reached the last one seen, or a second later: not before every
    // range while catching up (each ask waits behind the node's work on the range being read ahead).
    if (status.headBlock === null || from > status.headBlock - opts.confirmations || Date.now() - headAt >= 1_000) {
      status.headBlock = Number(await rpc.send<string>("eth_blockNumber"));
      headAt = Date.now();
    }
    const target = status.headBlock - opts.confirmations;
    if (cp && cp.number > status.headBlock) {
      // The chain came back shorter than the index (a node restored from an older state): the index goes back to the
      // last block both have and follows the chain again; what the gateway sends again comes back through it.
      await resetPipeline();
      await handleReorg(status.headBlock);
      return true;
    }
    // A range read ahead whose first block's parent is the checkpoint's block continues the chain the index holds.
    const first = ahead[0];
    const linked = cp !== null && first?.from === from && (await settled(first.result))?.hdrs.get(from)?.parentHash === cp.hash;
    if (cp && cp.number >= opts.startBlock && !linked) {
      // The block we stopped at must still be on the chain; if not, a reorg happened under us.
      const h = (await headers([cp.number])).get(cp.number);
      if (h?.hash !== cp.hash) {
        await resetPipeline();
        await handleReorg(cp.number);
        return true;
      }
    }
    const next = planStep(from, target, range, first);
    if (next.kind === "at-head") {
      await drain();
      status.lag = Math.max(0, target - (from - 1));
      // At the head with the indexes still deferred: their build was cut short (a crash or stop after the last
      // range's commit). Build them now.
      if (status.ledgerIndexesDeferred) await buildDeferredIndexes(from - 1);
      status.catchingUp = false;
      return false;
    }
    // A range read ahead is used only if it starts here and is still final. It was checked against the headers
    // when read; a reorg after that shows as a changed checkpoint hash at the next step, as for any committed range.
    let current: FetchedRange;
    if (next.kind === "use-ahead") {
      ahead.shift();
      current = await next.ahead.result;
    } else {
      ahead = [];
      current = await fetchRange(next.from, next.to);
    }
    // A range read shorter than asked (the node refused the whole, or a sample shortened it) leaves a gap before the
    // next one read ahead: that one is dropped.
    if (ahead[0] && ahead[0].from !== current.to + 1) ahead = [];
    // Catching up: read the next ranges while this one is written (the node works while the store does).
    for (const r of rangesAhead(ahead.at(-1)?.to ?? current.to, target, range, stopping ? 0 : readAhead - ahead.length)) {
      const result = fetchRange(r.from, r.to);
      result.catch(() => undefined); // surfaced when used
      ahead.push({ ...r, result });
    }
    // Plan this range while the previous one is written: the store's work overlaps this process's.
    if (cache && cache.cards.size > CACHE_MAX_CARDS) {
      await drain(); // nothing in flight may depend on what is dropped
      cache = null;
    }
    cache ??= newProjectionCache();
    const { hdrs } = current;
    const write = await planBatch(db, current.events, { get: (n) => Number(hdrs.get(n)!.timestamp) }, { copy, cache });
    await drain();
    const last = current.to >= target;
    const w = commitRange(current, write, last);
    w.catch(() => undefined); // surfaced by the next drain()
    writing = w;
    planned = { number: current.to, hash: hdrs.get(current.to)!.hash };
    // The range that reaches the head is committed (and the deferred indexes built) before the step ends.
    if (last) await drain();
    return true;
  }

  async function run(): Promise<void> {
    status.running = true;
    let backoff = 250;
    let lastReport = Date.now();
    let reportEvents = status.eventsIndexed;
    let reportBlock = status.indexedBlock ?? opts.startBlock;
    while (!stopping) {
      try {
        const more = await step();
        status.lastError = null;
        backoff = 250;
        const now = Date.now();
        if (now - lastReport >= 5_000 && status.catchingUp) {
          const secs = (now - lastReport) / 1000;
          const eps = (status.eventsIndexed - reportEvents) / secs;
          const bps = ((status.indexedBlock ?? 0) - reportBlock) / secs;
          logger.info(
            {
              indexedBlock: status.indexedBlock, headBlock: status.headBlock, lag: status.lag,
              eventsPerSecond: Math.round(eps), etaSeconds: bps > 0 ? Math.round((status.lag ?? 0) / bps) : null,
            },
            "catching up",
          );
          lastReport = now;
          reportEvents = status.eventsIndexed;
          reportBlock = status.indexedBlock ?? 0;
        }
        if (!more) {
          if (status.catchingUp === false && reportEvents !== -1) {
            logger.info({ indexedBlock: status.indexedBlock, events: status.eventsIndexed }, "index caught up; following the chain");
            reportEvents = -1;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, pollIntervalMs);
          });
          wake = null;
        }
      } catch (err) {
        status.lastError = (err as Error).message;
        await resetPipeline();
        if (err instanceof FatalError) {
          logger.error({ err: (err as Error).message }, "indexer stopped");
          status.running = false;
          throw err;
        }
        logger.warn({ err: (err as Error).message, retryInMs: backoff }, "indexer retrying");
        await sleep(backoff);
        backoff = Math.min(10_000, backoff * 2);
      }
    }
    // Stopping: the range being written is committed (or, if its write fails, read again at the next start).
    await drain().catch((err) => logger.warn({ err: (err as Error).message }, "the last range's write failed; it is read again at the next start"));
    status.running = false;
  }

  return {
    status,
    /** Checks the chain's identity, then follows it until stop(). Rejects on a fatal error. */
    async start(): Promise<void> {
      await checkIdentity();
      copy = await db.transaction(async (tx) => Boolean(tx.copyFrom));
      const cp = await checkpoint();
      status.ledgerIndexesDeferred = await ledgerIndexesDeferred(db);
      const deferBlocks = opts.deferIndexesBlocks ?? 1_000;
      if (!status.ledgerIndexesDeferred && cp === null && deferBlocks > 0) {
        // The head read here serves the first step too (status.headBlock, headAt).
        status.headBlock = Number(await rpc.send<string>("eth_blockNumber"));
        headAt = Date.now();
        const toRead = status.headBlock - opts.confirmations - opts.startBlock + 1;
        const empty = (await db.query("SELECT 1 FROM ledger LIMIT 1")).length === 0;
        if (empty && toRead >= deferBlocks) {
          await deferLedgerIndexes(db);
          status.ledgerIndexesDeferred = true;
          logger.info({ blocks: toRead }, "first sync into an empty index: the ledger's query indexes are built when it reaches the head");
        }
      }
      // Before anything reads the index: it never shows an event of a block the chain no longer has.
      if (cp && cp.number >= opts.startBlock) {
        const head = Number(await rpc.send<string>("eth_blockNumber"));
        const same = cp.number <= head && (await headers([cp.number])).get(cp.number)?.hash === cp.hash;
        if (!same) await handleReorg(Math.min(cp.number, head));
      }
      const now = await checkpoint();
      status.indexedBlock = now?.number ?? opts.startBlock - 1;
      loop = run();
      loop.catch(() => undefined);
    },
    /** Resolves when the loop is idle at the head (or rejects if it stopped on a fatal error). */
    done(): Promise<void> {
      return loop ?? Promise.resolve();
    },
    /** Indexes until `block` (default: the current head minus confirmations) is in the store. */
    async syncTo(block?: number): Promise<void> {
      const target = block ?? Number(await rpc.send<string>("eth_blockNumber")) - opts.confirmations;
      for (;;) {
        const cp = await checkpoint();
        // At the head, the deferred indexes are part of being there (they are built right after its range's commit).
        const atHead = status.headBlock !== null && target >= status.headBlock - opts.confirmations;
        if (cp && cp.number >= target && !(atHead && status.ledgerIndexesDeferred)) return;
        if (!status.running && loop) await loop; // surfaces a fatal error
        wake?.();
        await sleep(20);
      }
    },
    async stop(): Promise<void> {
      stopping = true;
      wake?.();
      await loop?.catch(() => undefined);
    },
  };
}

/**
 * What a step does from block `from`, the chain being final up to `target`: nothing when the index is at the head;
 * the range read ahead when it starts at `from` and is still final; else it reads up to `range` blocks.
 */
export function planStep<R extends { from: number; to: number }>(from: number, target: number, range: number, firstAhead: R | undefined):
  { kind: "at-head" } | { kind: "use-ahead"; ahead: R } | { kind: "read"; from: number; to: number } {
  if (from > target) return { kind: "at-head" };
  if (firstAhead && firstAhead.from === from && firstAhead.to <= target) return { kind: "use-ahead", ahead: firstAhead };
  return { kind: "read", from, to: Math.min(target, from + range - 1) };
}

/** The next ranges to read ahead after block `lastTo`, `range` blocks each, at most `room` of them, none past `target`. */
export function rangesAhead(lastTo: number, target: number, range: number, room: number): { from: number; to: number }[] {
  const out: { from: number; to: number }[] = [];
  let from = lastTo + 1;
  while (out.length < room && from <= target) {
    const to = Math.min(target, from + range - 1);
    out.push({ from, to });
    from = to + 1;
  }
  return out;
}

export type Indexer = ReturnType<typeof createIndexer>;

/** Recomputes the current-state tables from the ledger (after a reorg, or on demand). */
export async function rebuildState(tx: Pick<Db, "query">): Promise<void> {
  await tx.query("DELETE FROM industries");
  for (const t of ["banks", "merchants", "plans", "cards", "payouts", "refunds", "disputes", "risk_history"]) await tx.query(`DELETE FROM ${t}`);
  let lastId = 0;
  for (;;) {
    const rows = await tx.query<Record<string, unknown>>("SELECT * FROM ledger WHERE id > $1 ORDER BY id LIMIT 5000", [lastId]);
    const last = rows.at(-1);
    if (!last) break;
    lastId = Number(last.id);
    const times = new Map<number, number>();
    const events: ChainEvent[] = rows.map((r) => {
      times.set(Number(r.block_number), Number(r.block_time));
      return {
        event: String(r.event), contract: String(r.contract), blockNumber: Number(r.block_number), blockHash: String(r.block_hash),
        txHash: String(r.tx_hash), txIndex: Number(r.tx_index), logIndex: Number(r.log_index),
        args: (typeof r.args === "string" ? JSON.parse(r.args) : r.args) as ChainEvent["args"],
      };
    });
    await projectBatch(tx, events, { get: (n) => times.get(n)! }, { replay: true });
  }
}
