import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigError, loadConfig } from "../../src/config";

/** The gateway's configuration: environment variables validated once at start, one line per bad variable. */
describe("configuration from the environment", function () {
  const problems = (env: NodeJS.ProcessEnv): string[] => {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error("the configuration was accepted");
  };

  it("has a default for everything a local platform needs", () => {
    const c = loadConfig({});
    expect(c.PORT).to.equal(8080);
    expect(c.CONFIRMATIONS).to.equal(0);
    expect(c.GATEWAY_WORKERS).to.equal(1);
    expect(c.DATABASE_POOL_MAX).to.equal(10);
    expect(c.DATABASE_URL).to.equal(undefined);
    expect(c.dataDir).to.equal(path.resolve("./data"));
    expect(c.deploymentFile).to.equal(path.resolve("./data/deployment.json"));
    expect(c.keystoreDir).to.equal(path.resolve("./data/keystores"));
  });

  it("reads numbers, lists and URLs from their text, and treats an empty variable as unset", () => {
    const c = loadConfig({
      PORT: "0", CHAIN_RPC_URL: "http://a:8545, http://b:8545", DATABASE_URL: "postgres://u:p@db:5432/custody",
      DATABASE_POOL_MAX: "3", CONFIRMATIONS: "", DATA_DIR: "/srv/custody",
    });
    expect(c.PORT).to.equal(0);
    expect(c.CHAIN_RPC_URL).to.deep.equal(["http://a:8545", "http://b:8545"]);
    expect(c.DATABASE_POOL_MAX).to.equal(3);
    expect(c.CONFIRMATIONS).to.equal(0);
    expect(c.deploymentFile).to.equal("/srv/custody/deployment.json");
  });

  it("names every bad variable on its own line, and only those", () => {
    const found = problems({
      PORT: "70000", DATABASE_POOL_MAX: "0", CHAIN_RPC_URL: "ws://node:8546", DATABASE_URL: "mysql://db/custody",
      LOG_LEVEL: "loud", BODY_LIMIT: "1gb", CONFIRMATIONS: "-1", GATEWAY_WORKERS: "two", HOST: "0.0.0.0",
    });
    const named = found.map((p) => p.split(":")[0]).sort();
    expect(named).to.deep.equal(
      ["BODY_LIMIT", "CHAIN_RPC_URL", "CONFIRMATIONS", "DATABASE_POOL_MAX", "DATABASE_URL", "GATEWAY_WORKERS", "LOG_LEVEL", "PORT"],
    );
    for (const p of found) expect(p, p).to.match(/^[A-Z_]+: \S/);
    expect(found.find((p) => p.startsWith("BODY_LIMIT"))).to.contain("like 1mb or 512kb");
    const err = new ConfigError(found);
    expect(err.message.split("\n")).to.have.length(found.length + 1);
  });

  it("refuses a connection pool that is not a whole number from 1 to 1000", () => {
    for (const v of ["0", "1001", "2.5", "many"]) expect(problems({ DATABASE_POOL_MAX: v }), v).to.have.length(1);
    expect(loadConfig({ DATABASE_POOL_MAX: "1000" }).DATABASE_POOL_MAX).to.equal(1000);
  });

  // Each way the platform is started: a bad variable ends it with status 2 and one line per problem, no stack trace.
  for (const entry of ["scripts/start.ts", "src/main.ts", "src/cluster.ts"]) {
    it(`${entry} refuses a bad environment with the problems and exit status 2, before starting anything`, function () {
      this.timeout(60_000);
      const dataDir = path.join(os.tmpdir(), `custody-config-never-made-${process.pid}`);
      const run = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", entry], {
        cwd: path.resolve(__dirname, "../.."),
        env: { ...process.env, PORT: "70000", LOG_LEVEL: "loud", DATA_DIR: dataDir },
        encoding: "utf8",
        timeout: 50_000,
      });
      expect(run.status, run.stderr).to.equal(2);
      const lines = run.stderr.trim().split("\n");
      expect(lines[0]).to.equal("invalid configuration:");
      expect(lines.slice(1).map((l) => l.replace(/^\s*- /, "").split(":")[0]).sort()).to.deep.equal(["LOG_LEVEL", "PORT"]);
      expect(run.stderr).not.to.match(/\n\s+at /);
      expect(run.stdout).to.equal("");
      expect(fs.existsSync(dataDir), "DATA_DIR made").to.equal(false);
    });
  }
});
