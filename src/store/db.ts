import path from "node:path";
import fs from "node:fs";

/** A row as the SQL engine returns it. */
export type Row = Record<string, unknown>;

/** The one interface the store speaks: PostgreSQL's dialect, on PGlite (embedded) or a PostgreSQL server. */
export interface Db {
  readonly engine: "pglite" | "postgres";
  query<T extends Row = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs `fn` in one transaction: all of it is applied, or none. */
  transaction<T>(fn: (tx: DbTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type DbTx = Pick<Db, "query">;

/** Opens PostgreSQL at `databaseUrl`, or the embedded PGlite under `dataDir` (":memory:" for a throwaway one). */
export async function openDb(opts: { databaseUrl?: string; dataDir?: string }): Promise<Db> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl);
  return openPglite(opts.dataDir ?? ":memory:");
}

async function openPglite(dataDir: string): Promise<Db> {
  const { PGlite } = await import("@electric-sql/pglite");
  let dir: string | undefined;
  if (dataDir !== ":memory:") {
    dir = path.resolve(dataDir);
    fs.mkdirSync(dir, { recursive: true });
  }
  const pg = dir ? new PGlite(dir) : new PGlite();
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
        pg.transaction(async (tx) => fn({ query: async (sql, params) => (await tx.query(sql, params as unknown[] | undefined)).rows as never })),
      ),
    close: () => serial(() => pg.close()),
  };
}

async function openPostgres(url: string): Promise<Db> {
  const { Pool, types } = await import("pg");
  // int8 and numeric as strings: money is parsed to bigint by the repositories, never through a float.
  types.setTypeParser(20, (v: string) => v);
  const pool = new Pool({ connectionString: url, max: 10 });
  pool.on("error", () => undefined); // a dropped idle client is replaced on next use
  await pool.query("select 1");
  return {
    engine: "postgres",
    query: async (sql, params) => (await pool.query(sql, params as unknown[] | undefined)).rows,
    transaction: async (fn) => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const out = await fn({ query: async (sql, params) => (await client.query(sql, params as unknown[] | undefined)).rows });
        await client.query("COMMIT");
        return out;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
