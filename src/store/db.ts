import path from "node:path";
import fs from "node:fs";
import { InvariantError, RetryableError } from "../errors";
import os from "node:os";
import { execFile } from "node:child_process";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** A row as the SQL engine returns it. */
export type Row = Record<string, unknown>;

/**
 * The single row of a query that always returns one (an aggregate without GROUP BY, an INSERT … RETURNING that
 * cannot conflict); an InvariantError when it returns none.
 */
export async function queryOne<T extends Row = Row>(db: Pick<Db, "query">, sql: string, params?: unknown[], opts?: QueryOptions): Promise<T> {
  const [row] = await db.query<T>(sql, params, opts);
  if (row === undefined) throw new InvariantError(`a query that always returns a row returned none: ${sql.slice(0, 80)}`);
  return row;
}

/** The one interface the store speaks: PostgreSQL's dialect, on PGlite (embedded) or a PostgreSQL server. */
export interface Db {
  readonly engine: "pglite" | "postgres";
  query<T extends Row = Row>(sql: string, params?: unknown[], opts?: QueryOptions): Promise<T[]>;
  /** Runs `fn` in one transaction: all of it is applied, or none. */
  transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type DbTx = Pick<Db, "query"> & {
  /**
   * Runs a script of several statements (no parameters, no rows back), as psql would: a migration's text. Both
   * engines' transactions have it; wrappers made for tests may leave it out.
   */
  exec?(sql: string): Promise<void>;
  /**
   * `COPY <target> FROM …` with `data` (COPY's text format) as the input, `target` a table and its columns; each
   * engine reads it its own way. File-backed PGlite and a PostgreSQL server (the indexer's bulk path; absent on
   * in-memory PGlite, where callers use INSERT).
   */
  copyFrom?(target: string, data: string): Promise<void>;
};

export interface QueryOptions {
  /**
   * A statement the API sends very often with the same text (values only as $n parameters): on a PostgreSQL server it
   * becomes a named prepared statement, parsed and planned once per connection instead of on every call, which
   * halves the server's CPU for a small read. Ignored by PGlite. Name only statements whose columns are listed: a
   * prepared `SELECT *` fails after a migration adds a column while the process runs.
   */
  prepared?: boolean;
}

/** At most this many statement texts get a prepared statement per process; more are sent unnamed, as before. */
const MAX_PREPARED = 100;

/** Connections a process keeps to a PostgreSQL server at most, unless told otherwise (DATABASE_POOL_MAX). */
export const DEFAULT_POOL_MAX = 10;

/** Opens PostgreSQL at `databaseUrl`, or the embedded PGlite under `dataDir` (":memory:" for a throwaway one). */
export async function openDb(opts: { databaseUrl?: string; dataDir?: string; poolMax?: number }): Promise<Db> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, opts.poolMax);
  return openPglite(opts.dataDir ?? ":memory:");
}

/**
 * PGlite's initdb runs in a WebAssembly instance of its own whose memory (~400 MB resident) a process keeps for
 * its whole life. So a new database is never initialised in this process: a new data directory is initialised by
 * a short-lived child process and then opened here; an in-memory database is loaded from an initialised, empty
 * data directory archived once (by such a child) under the OS temp dir, per PGlite version. Without either (the
 * child failed, or PGLITE_INIT_IN_CHILD=0) PGlite runs initdb in-process as it would by itself.
 */
function pgliteInChild(main: string, script: string, ...args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ["-e", script, main, ...args], { timeout: 300_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`PGlite set-up in a child process failed: ${stderr || err.message}`)) : resolve(),
    );
  });
}

const pgliteMain = () => require.resolve("@electric-sql/pglite"); // <package>/dist/index.cjs

/**
 * PGlite's buffer pool in the databases made here (initdb's default is 128 MB, all of it resident once touched).
 * The database's files are in the OS page cache (file-backed) or in memory already (in-memory), so a smaller pool
 * costs little: indexing the bench chain ran as fast with 32 MB, and the process's peak RSS fell by ~100 MB.
 */
export const PGLITE_SHARED_BUFFERS = "32MB";
const SET_BUFFERS = `await pg.exec("ALTER SYSTEM SET shared_buffers = '${PGLITE_SHARED_BUFFERS}'");`;

/** Initialises an empty data directory at `dir` in a child process. */
async function initDataDir(dir: string): Promise<void> {
  await pgliteInChild(pgliteMain(), `
    const { PGlite } = require(process.argv[1]);
    (async () => { const pg = new PGlite(process.argv[2]); await pg.waitReady; ${SET_BUFFERS} await pg.close(); })()
      .catch((e) => { console.error(e); process.exit(1); });`, dir);
}

let template: Promise<string | null> | null = null;

/** The path of an archived, initialised, empty data directory (made on first use), or null. */
export function pgliteTemplate(): Promise<string | null> {
  template ??= makeTemplate().catch(() => null);
  return template;
}

async function makeTemplate(): Promise<string | null> {
  const main = pgliteMain();
  const version = (JSON.parse(fs.readFileSync(path.join(path.dirname(main), "..", "package.json"), "utf8")) as { version: string }).version;
  const file = path.join(os.tmpdir(), `custody-pglite-template-${version}-sb${PGLITE_SHARED_BUFFERS}.tar`);
  // A tar archive of a data directory: tens of MB, PG_VERSION among its entries.
  const valid = () => fs.existsSync(file) && fs.statSync(file).size > 1_000_000 && fs.readFileSync(file).includes("PG_VERSION");
  if (valid()) return file;
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await pgliteInChild(main, `
      const { PGlite } = require(process.argv[1]);
      const fs = require("node:fs");
      (async () => {
        const pg = new PGlite();
        await pg.waitReady;
        ${SET_BUFFERS}
        const blob = await pg.dumpDataDir("none");
        fs.writeFileSync(process.argv[2], Buffer.from(await blob.arrayBuffer()));
        await pg.close();
      })().catch((e) => { console.error(e); process.exit(1); });`, tmp);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.renameSync(tmp, file); // atomic: a concurrent maker's file is as good as ours
  return valid() ? file : null;
}

async function openPglite(dataDir: string): Promise<Db> {
  const { PGlite } = await import("@electric-sql/pglite");
  let dir: string | undefined;
  if (dataDir !== ":memory:") {
    dir = path.resolve(dataDir);
    fs.mkdirSync(dir, { recursive: true });
  }
  // No initdb in this process (see pgliteInChild): a new directory is initialised by a child, a new in-memory
  // database loaded from the template; an existing directory opens as is.
  const inChild = process.env.PGLITE_INIT_IN_CHILD !== "0";
  if (dir && inChild && !fs.existsSync(path.join(dir, "PG_VERSION")) && fs.readdirSync(dir).length === 0) {
    const d = dir;
    // On failure PGlite initialises it here, in the empty directory it would have had.
    await initDataDir(d).catch(() => {
      for (const f of fs.readdirSync(d)) fs.rmSync(path.join(d, f), { recursive: true, force: true });
    });
  }
  const tar = !dir && inChild ? await pgliteTemplate() : null;
  const pg = dir ? new PGlite(dir) : new PGlite(tar ? { loadDataDir: new Blob([await fs.promises.readFile(tar)]) } : {});
  await pg.waitReady;
  // PGlite runs one query at a time; a queue keeps transactions from interleaving with other queries.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  };
  const q = async <T extends Row>(sql: string, params?: unknown[]) =>
    (await pg.query<T>(sql, params as unknown[] | undefined)).rows;
  return {
    engine: "pglite",
    query: (sql, params) => serial(() => q(sql, params)),
    transaction: (fn) =>
      serial(() =>
        pg.transaction(async (tx) =>
          fn({
            query: async (sql, params) => (await tx.query(sql, params as unknown[] | undefined)).rows as never,
            exec: async (sql) => {
              await tx.exec(sql);
            },
            // File-backed only: measured on the bench chain, COPY made in-memory PGlite three times slower (and
            // file-backed no faster than INSERT, with ~30 MB less peak RSS: no JSON parameter in the WASM heap).
            copyFrom: dir
              ? async (target, data) => {
                  await tx.query(`COPY ${target} FROM '/dev/blob'`, [], { blob: new Blob([data]) });
                }
              : undefined,
          }),
        ),
      ),
    close: () => serial(() => pg.close()),
  };
}

/**
 * The server unreachable, restarting or shutting down (connection refused or reset, SQLSTATE class 08, 57P01-57P03):
 * a RetryableError, so the API answers 503 and the indexer and queue back off, instead of an internal error.
 */
function retryableIfDown(err: unknown): unknown {
  const e = err as { code?: string; message?: string };
  const down = /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|08...|57P0[123])$/.test(e?.code ?? "") ||
    /Connection terminated|connection (was )?closed|Client has encountered a connection error/i.test(e?.message ?? "");
  return down ? new RetryableError(`the database is unavailable: ${e.message}`, { cause: err }) : err;
}

async function openPostgres(url: string, poolMax = DEFAULT_POOL_MAX): Promise<Db> {
  const { Pool, types } = await import("pg");
  const { from: copyFrom } = await import("pg-copy-streams");
  // int8 and numeric as strings: money is parsed to bigint by the repositories, never through a float.
  types.setTypeParser(20, (v: string) => v);
  const pool = new Pool({ connectionString: url, max: poolMax });
  pool.on("error", () => undefined); // a dropped idle client is replaced on next use
  await pool.query("select 1");
  const prepared = new Map<string, string>();
  const nameOf = (sql: string): string | undefined => {
    let name = prepared.get(sql);
    if (name === undefined && prepared.size < MAX_PREPARED) prepared.set(sql, (name = `custody_${prepared.size + 1}`));
    return name;
  };
  return {
    engine: "postgres",
    query: async (sql, params, opts) => {
      try {
        const name = opts?.prepared ? nameOf(sql) : undefined;
        if (name) return (await pool.query({ name, text: sql, values: params as unknown[] | undefined })).rows;
        return (await pool.query(sql, params as unknown[] | undefined)).rows;
      } catch (err) {
        throw retryableIfDown(err);
      }
    },
    transaction: async (fn) => {
      const client = await pool.connect().catch((err) => Promise.reject(retryableIfDown(err)));
      let broken = false;
      // A checked-out client has no listener of the pool's: the server going away between two of its queries (a
      // restart's "terminating connection", then the socket closing) is emitted as an 'error' event, which would
      // be an uncaught exception that kills the process. Here it only marks the client broken; the query in
      // progress, or the next one, fails and the transaction is retried by its caller.
      const onError = () => {
        broken = true;
      };
      client.on("error", onError);
      try {
        await client.query("BEGIN");
        const out = await fn({
          query: async (sql, params) => (await client.query(sql, params as unknown[] | undefined)).rows,
          // Without parameters pg sends the simple query protocol, which takes several statements in one message.
          exec: async (sql) => {
            await client.query(sql);
          },
          // COPY ... FROM STDIN through the client's stream: the ledger's rows as text lines, parsed by the server
          // far faster than the same rows as JSON taken apart by json_to_recordset.
          copyFrom: async (target, data) => {
            const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
            await pipeline(Readable.from([Buffer.from(data)]), stream);
          },
        });
        await client.query("COMMIT");
        return out;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        const mapped = retryableIfDown(err);
        broken ||= mapped instanceof RetryableError; // a dead connection is not given back to the pool
        throw mapped;
      } finally {
        client.removeListener("error", onError);
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
