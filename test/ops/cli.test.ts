import { expect } from "chai";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonRpcProvider } from "ethers";
import crypto from "node:crypto";
import { Wallet, encryptKeystoreJson, ethers } from "ethers";
import { Client } from "pg";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { runCli } from "../../scripts/cli";
import { openDb } from "../../src/store/db";
import { CustodyRegistry__factory } from "../../typechain-types";
import { dropDatabase } from "../support/db";

/** Runs the CLI in this process, as `npm run cli -- ...argv` would, capturing its output. */
async function cli(env: NodeJS.ProcessEnv, ...argv: string[]) {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env });
  return { code, out, err };
}

/** A fresh PostgreSQL database on the test server, by URL (the CLI opens it itself). */
async function freshPostgres(url: string): Promise<string> {
  const name = `custody_cli_${process.pid}_${Date.now()}`;
  const admin = new Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = "/" + name;
  return u.toString();
}

const COMMANDS = [["account", "new"], ["deploy"], ["admit-merchant"], ["set-policy"], ["api-key", "issue"], ["api-key", "revoke"], ["api-key", "list"], ["import-signals"], ["rebuild-index"], ["export-ledger"]];

describe("operator CLI", function () {
  this.timeout(180_000);

  it("prints --help for every command and exits 0", async function () {
    for (const cmd of COMMANDS) {
      const r = await cli({}, ...cmd, "--help");
      expect(r.code, cmd.join(" ")).to.equal(0);
      expect(r.out, cmd.join(" ")).to.match(new RegExp(`^Usage: cli ${cmd.join(" ")}`));
    }
  });

  it("names the problem in one line and exits non-zero", async function () {
    const missing = await cli({}, "admit-merchant", "--account", "0x1111111111111111111111111111111111111111");
    expect(missing.code).to.not.equal(0);
    expect(missing.err).to.match(/required option '--industry <id>' not specified/);
    const bad = await cli({}, "admit-merchant", "--account", "0x12", "--industry", "1", "--bank", "1", "--registration", "x");
    expect(bad.code).to.equal(1);
    expect(bad.err).to.equal('error: --account must be an address (0x and 40 hex digits), not "0x12"\n');
    const config = await cli({ PORT: "not-a-port" }, "api-key", "list");
    expect(config.code).to.equal(2);
    expect(config.err.trim().split("\n")).to.have.length(1);
    expect(config.err).to.match(/^error: PORT: /);
    const noNode = await cli({ DATA_DIR: os.tmpdir() }, "set-policy", "--industry", "1", "--custody-bps", "100", "--rpc", "http://127.0.0.1:9", "--as", "0x1111111111111111111111111111111111111111");
    expect(noNode.code).to.equal(1);
    expect(noNode.err).to.match(/^error: no deployment record at .*|^error: no JSON-RPC node answers at http:\/\/127\.0\.0\.1:9/);
  });

  it("exits 1 with one line on stderr as a separate process (npm run cli)", async function () {
    const root = path.resolve(__dirname, "../..");
    const r = await new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
      execFile(process.execPath, [require.resolve("ts-node/dist/bin.js"), "--transpile-only", "scripts/cli.ts", "api-key", "revoke", "nonsense"], { cwd: root }, (e, stdout, stderr) => {
        resolve({ code: e ? (e as { code?: number }).code ?? 1 : 0, stdout, stderr });
      });
    });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal('error: "nonsense" is not a key id (12 hex digits, as in ck_<id>_…)\n');
  });

  describe("against a separate Anvil node", function () {
    let anvil: AnvilNode;
    let dir: string;
    let chainEnv: NodeJS.ProcessEnv;
    const accounts: Record<string, string> = {};

    before(async function () {
      anvil = await startAnvil();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-cli-"));
      chainEnv = { DATA_DIR: dir, KEYSTORE_PASSWORD: "correct horse battery staple", CHAIN_RPC_URL: anvil.url, LOG_LEVEL: "silent" };
      // Keystores written directly with a light scrypt (fast to decrypt); `account new` is tested on its own below.
      for (const who of ["bureau", "oracle", "bank", "merchant"]) {
        const w = new Wallet(ethers.hexlify(crypto.randomBytes(32)));
        const json = await encryptKeystoreJson({ address: w.address, privateKey: w.privateKey }, chainEnv.KEYSTORE_PASSWORD!, { scrypt: { N: 1 << 10 } });
        fs.mkdirSync(path.join(dir, "keystores"), { recursive: true });
        fs.writeFileSync(path.join(dir, "keystores", `${w.address.toLowerCase()}.json`), json);
        accounts[who] = w.address;
      }
    });

    after(async function () {
      await anvil?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("creates an account's encrypted keystore", async function () {
      const r = await cli(chainEnv, "account", "new", "--label", "education commission");
      expect(r.code, r.err).to.equal(0);
      accounts.education = r.out.split(" ")[0];
      const file = path.join(dir, "keystores", `${accounts.education.toLowerCase()}.json`);
      expect(fs.existsSync(file)).to.equal(true);
      const w = await Wallet.fromEncryptedJson(fs.readFileSync(file, "utf8"), chainEnv.KEYSTORE_PASSWORD!);
      expect(w.address).to.equal(accounts.education);
      const nopw = await cli({ DATA_DIR: path.join(dir, "nowhere") }, "account", "new");
      expect(nopw.code).to.equal(1);
      expect(nopw.err).to.equal("error: set KEYSTORE_PASSWORD: the new keystore is encrypted with it\n");
    });

    it("deploys, admits a merchant and sets a policy, signing with keystores", async function () {
      const env = chainEnv;
      const dep = await cli(env, "deploy", "--deployer", accounts.bureau, "--risk-oracle", accounts.oracle, "--bank-account", accounts.bank,
        "--regulator", `education-commission=${accounts.education}`, "--bank-name", "Test custody fen", "--bank-symbol", "TCF");
      expect(dep.code, dep.err).to.equal(0);
      expect(dep.out).to.match(/^deployed: escrow 0x[0-9a-fA-F]{40}/);
      const deployment = JSON.parse(fs.readFileSync(path.join(dir, "deployment.json"), "utf8"));
      const provider = new JsonRpcProvider(anvil.url);
      expect(await provider.getCode(deployment.escrow)).to.not.equal("0x");
      expect(deployment.banks[0].account.toLowerCase()).to.equal(accounts.bank.toLowerCase());

      const again = await cli(env, "deploy", "--deployer", accounts.bureau, "--risk-oracle", accounts.oracle, "--bank-account", accounts.bank);
      expect(again.code).to.equal(1);
      expect(again.err).to.match(/already records a deployment; pass --force/);

      const admit = await cli(env, "admit-merchant", "--account", accounts.merchant, "--industry", "1", "--bank", "1", "--registration", "91110105MA01", "--as", accounts.bureau);
      expect(admit.code, admit.err).to.equal(0);
      expect(admit.out).to.match(/^merchant 1 admitted/);
      const twice = await cli(env, "admit-merchant", "--account", accounts.merchant, "--industry", "1", "--bank", "1", "--registration", "91110105MA01", "--as", accounts.bureau);
      expect(twice.code).to.equal(1);
      expect(twice.err).to.match(/^error: the contract refused: Custody_AccountInUse\(account=0x[0-9a-fA-F]{40}\)\n$/);
      const notRegulator = await cli(env, "admit-merchant", "--account", accounts.oracle, "--industry", "1", "--bank", "1", "--registration", "x", "--as", accounts.bank);
      expect(notRegulator.code).to.equal(1);
      expect(notRegulator.err).to.match(/^error: the contract refused: Custody_Not/);

      const registry = CustodyRegistry__factory.connect(deployment.registry, provider);
      const before = await registry.policyOf(1);
      // Education keeps everything in custody (教监管函〔2021〕2号): its regulator cannot go below 100%.
      const lower = await cli(env, "set-policy", "--industry", "1", "--custody-bps", "9000", "--as", accounts.education);
      expect(lower.code).to.equal(1);
      expect(lower.err).to.match(/^error: the contract refused: Registry_PolicyCrossesDistrict\(industryId=1, field=0, value=9000, limit=10000\)\n$/);
      const pol = await cli(env, "set-policy", "--industry", "1", "--cooling-off-days", "9", "--as", accounts.education);
      expect(pol.code, pol.err).to.equal(0);
      const after = await registry.policyOf(1);
      expect(after.coolingOffDays).to.equal(9n);
      expect(after.custodyBps).to.equal(10_000n);
      expect(after.maxLessons).to.equal(before.maxLessons);
      expect(after.maxCardValue).to.equal(before.maxCardValue);
      const nothing = await cli(env, "set-policy", "--industry", "1", "--as", accounts.education);
      expect(nothing.code).to.equal(1);
      expect(nothing.err).to.match(/give at least one policy field/);
      provider.destroy();
    });

    const engines: { name: string; databaseUrl: () => Promise<string | undefined> }[] = [{ name: "pglite", databaseUrl: async () => undefined }];
    if (process.env.TEST_DATABASE_URL) engines.push({ name: "postgres", databaseUrl: () => freshPostgres(process.env.TEST_DATABASE_URL!) });
    for (const engine of engines) describe(`database on ${engine.name}`, function () {
      let env: NodeJS.ProcessEnv;
      before(async function () {
        const url = await engine.databaseUrl();
        env = { ...chainEnv, ...(url ? { DATABASE_URL: url } : {}) };
      });
      after(async function () {
        if (env?.DATABASE_URL) await dropDatabase(process.env.TEST_DATABASE_URL!, new URL(env.DATABASE_URL).pathname.slice(1));
      });

      it("rebuilds the index from the chain, then from its own ledger", async function () {
        const wiped = await cli(env, "rebuild-index", "--wipe");
        expect(wiped.code, wiped.err).to.equal(0);
        expect(wiped.out).to.match(/^index rebuilt from the chain: \d+ events/);
        expect(wiped.err).to.match(/rebuild-index: index wiped; re-reading blocks/);
        const replay = await cli(env, "rebuild-index");
        expect(replay.code, replay.err).to.equal(0);
        expect(replay.out).to.match(/^state rebuilt from \d+ ledger rows/);
        const db = await openDb({ databaseUrl: env.DATABASE_URL, dataDir: path.join(dir, "pglite") });
        try {
          const [m] = await db.query<{ account: string; industry_id: number }>("SELECT account, industry_id FROM merchants WHERE merchant_id = 1");
          expect(m.account.toLowerCase()).to.equal(accounts.merchant.toLowerCase());
          const [p] = await db.query<{ policy: { custodyBps: number } }>("SELECT policy FROM industries WHERE industry_id = 1");
          expect(JSON.stringify(p.policy)).to.match(/"coolingOffDays":9[,}]/);
        } finally {
          await db.close();
        }
      });

      it("issues, lists and revokes API keys, checking the subject against the index", async function () {
        const issued = await cli(env, "api-key", "issue", "--role", "merchant", "--subject", "1", "--label", "merchant one's till");
        expect(issued.code, issued.err).to.equal(0);
        const [key] = issued.out.split(" ");
        expect(key).to.match(/^ck_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/);
        const id = key.slice(3, 15);
        const list = await cli(env, "api-key", "list");
        expect(list.out).to.contain(id).and.to.contain("merchant one's till");
        expect(list.out).to.not.contain(key);
        const unknownBank = await cli(env, "api-key", "issue", "--role", "bank", "--subject", "99", "--label", "x");
        expect(unknownBank.code).to.equal(1);
        expect(unknownBank.err).to.equal("error: --subject: no bank 99 in the index\n");
        const badRole = await cli(env, "api-key", "issue", "--role", "king", "--label", "x");
        expect(badRole.code).to.equal(1);
        const revoked = await cli(env, "api-key", "revoke", key);
        expect(revoked.code, revoked.err).to.equal(0);
        const again = await cli(env, "api-key", "revoke", id);
        expect(again.code).to.equal(1);
        expect(again.err).to.equal(`error: API key ${id} is already revoked\n`);
        expect((await cli(env, "api-key", "list")).out).to.not.contain(id);
        expect((await cli(env, "api-key", "list", "--all")).out).to.contain(`${id}`).and.to.contain("(revoked)");
      });

      it("imports a signal file all or nothing, and exports the ledger as CSV", async function () {
        const header = "recordId,kind,source,merchantId,occurredAt,category,refundRelated";
        const good = path.join(dir, "signals.csv");
        fs.writeFileSync(good, `${header}\nc-1,complaint,12315,1,2025-01-05,refund,true\nc-2,hotline_ticket,12345,1,2025-01-06,service,false\n`);
        const ok = await cli(env, "import-signals", good);
        expect(ok.code, ok.err).to.equal(0);
        expect(ok.out).to.match(/2 rows, 2 new, 0 already known/);
        const bad = path.join(dir, "bad.csv");
        fs.writeFileSync(bad, `${header}\nc-3,complaint,12315,1,2025-01-05,refund,true\nc-4,complaint,12315,77,2025-01-05,refund,true\n`);
        const rejected = await cli(env, "import-signals", bad);
        expect(rejected.code).to.equal(1);
        expect(rejected.err).to.match(/line 3 \(c-4\): merchantId: merchant 77 is not on the platform/);
        expect(rejected.err.trim().split("\n").pop()).to.match(/^error: .*bad\.csv rejected: 1 bad row\(s\) of 2; nothing was imported$/);
        const noFormat = path.join(dir, "signals.txt");
        fs.writeFileSync(noFormat, "x");
        expect((await cli(env, "import-signals", noFormat)).err).to.match(/pass --format csv or --format jsonl/);

        const out = path.join(dir, "ledger.csv");
        const exp = await cli(env, "export-ledger", "--out", out);
        expect(exp.code, exp.err).to.equal(0);
        const lines = fs.readFileSync(out, "utf8").trim().split("\n");
        expect(lines[0]).to.equal("id,block_number,block_time,tx_hash,log_index,event,merchant_id,card_id,holder,amount_fen,args");
        expect(lines.some((l) => l.includes(",MerchantAdmitted,1,"))).to.equal(true);
        expect(lines.some((l) => l.includes(",BankAdded,"))).to.equal(true);
        const one = await cli(env, "export-ledger", "--merchant", "1");
        expect(one.out.trim().split("\n").slice(1).every((l) => l.split(",")[6] === "1")).to.equal(true);
      });

      if (engine.name === "pglite") {
        it("refuses the embedded database while a gateway holds it", async function () {
          fs.writeFileSync(path.join(dir, "gateway.pid"), String(process.pid));
          try {
            // A command that only the database can do is refused, naming the gateway ...
            const r = await cli(env, "rebuild-index");
            expect(r.code).to.equal(1);
            expect(r.err).to.match(new RegExp(`^error: a gateway \\(pid ${process.pid}\\) is running on the embedded database`));
            // ... one the API also does goes through the running gateway, with a key from data/api-keys.txt.
            const k = await cli(env, "api-key", "list");
            expect(k.code).to.equal(1);
            expect(k.err).to.match(/^error: a gateway is running on the embedded database, and no platform_regulator key is in .*api-keys\.txt/);
          } finally {
            fs.rmSync(path.join(dir, "gateway.pid"));
          }
          fs.writeFileSync(path.join(dir, "gateway.pid"), "999999999");
          try {
            expect((await cli(env, "api-key", "list")).code).to.equal(0); // a stale pid file from a crash does not block
          } finally {
            fs.rmSync(path.join(dir, "gateway.pid"));
          }
        });
      }
    });
  });
});
