import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

/**
 * A throwaway PostgreSQL server of a test's own: `initdb` into a directory under the OS temp dir, `pg_ctl start`
 * on a free port of 127.0.0.1 (socket in that directory too), trust logins for the user `custody`. Restarting or
 * stopping it disturbs no other test, unlike the shared server of TEST_DATABASE_URL.
 *
 * The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the highest version there; `.ci/postgres.sh`
 * installs them). PostgreSQL refuses to run as root, so as root everything runs as the `postgres` user through
 * `runuser` (CI and the dev machines run as root); otherwise as the current user.
 */
export interface PgCluster {
  /** postgres://custody@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** Fast shutdown (the server ends every session), then start again; returns once it accepts connections. */
  restart(): void;
  /** Fast shutdown; the server stays down until `resume`. */
  halt(): void;
  resume(): void;
  /** Stops the server (immediately) and removes its directory. */
  destroy(): void;
}

const ROOT = "/usr/lib/postgresql";

/** The directory of the newest PostgreSQL server binaries on this machine, or null. */
export function pgBinDir(): string | null {
  if (!fs.existsSync(ROOT)) return null;
  const versions = fs.readdirSync(ROOT).filter((v) => fs.existsSync(path.join(ROOT, v, "bin", "initdb")) && fs.existsSync(path.join(ROOT, v, "bin", "pg_ctl")));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(ROOT, versions[0], "bin") : null;
}

/** Why a cluster of a test's own cannot be made here (no binaries, root without a `postgres` user), or null. */
export function pgClusterUnavailable(): string | null {
  if (!pgBinDir()) return `no PostgreSQL server binaries under ${ROOT} (bash .ci/postgres.sh installs them)`;
  if (process.getuid?.() === 0) {
    try {
      execFileSync("id", ["postgres"], { stdio: "ignore" });
    } catch {
      return "running as root and there is no `postgres` user to run the server as";
    }
  }
  return null;
}

async function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPgCluster(): Promise<PgCluster> {
  const why = pgClusterUnavailable();
  if (why) throw new Error(`cannot start a PostgreSQL server of the test's own: ${why}`);
  const bin = (x: string) => path.join(pgBinDir()!, x);
  const asRoot = process.getuid?.() === 0;
  const run = (args: string[]) => {
    const [cmd, ...rest] = asRoot ? ["runuser", "-u", "postgres", "--", ...args] : args;
    // stdin closed and output captured: a daemon must not keep the caller's pipes open.
    return execFileSync(cmd, rest, { stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
  };
  // As root, under /tmp: the postgres user must be able to reach it (a TMPDIR under /root it could not).
  const dir = fs.mkdtempSync(path.join(asRoot ? "/tmp" : os.tmpdir(), "custody-test-pg-"));
  fs.chmodSync(dir, 0o777); // the postgres user writes here
  const data = path.join(dir, "data");
  const log = path.join(dir, "server.log");
  const port = await freeLocalPort();
  const describe = (err: unknown) => {
    const e = err as { stderr?: Buffer; message: string };
    const tail = fs.existsSync(log) ? fs.readFileSync(log, "utf8").slice(-2000) : "";
    return new Error(`${e.message}\n${e.stderr?.toString() ?? ""}\n${tail}`);
  };
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const ctl = (...args: string[]) => {
    try {
      run([bin("pg_ctl"), "-D", data, ...args]);
    } catch (err) {
      throw describe(err);
    }
  };
  const start = () => ctl("-o", opts, "-l", log, "-w", "-t", "60", "start");
  try {
    run([bin("initdb"), "-D", data, "-A", "trust", "-U", "custody", "--no-sync", "-E", "UTF8", "--locale", "C"]);
    start();
  } catch (err) {
    const e = describe(err);
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `postgres://custody@127.0.0.1:${port}/postgres`,
    port,
    restart: () => ctl("-o", opts, "-l", log, "-m", "fast", "-w", "-t", "60", "restart"),
    halt: () => ctl("-m", "fast", "-w", "-t", "60", "stop"),
    resume: start,
    destroy: () => {
      try {
        run([bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        /* not running */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
