import { expect } from "chai";
import { runCli } from "../../scripts/cli";
import { engines } from "../support/db";
import { startPlatform, Platform } from "../console/platform";

/** Runs the CLI in this process, as `npm run cli -- ...argv` would, capturing its output. */
async function cli(env: NodeJS.ProcessEnv, ...argv: string[]) {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env });
  return { code, out, err };
}

describe("the CLI through a running gateway's API (--gateway, the typed client)", function () {
  this.timeout(180_000);
  let pf: Platform;
  let starting: Promise<Platform> | undefined;

  before(async function () {
    this.timeout(360_000);
    const pglite = engines().find((e) => e.name === "pglite");
    if (!pglite) throw new Error("no embedded database engine");
    starting = startPlatform(pglite);
    pf = await starting;
  });
  after(async function () {
    this.timeout(120_000);
    await (pf ?? (await starting?.catch(() => undefined)))?.stop();
  });

  it("issues and revokes a key with a platform regulator's key, and names the gateway's refusal", async () => {
    const env = { GATEWAY_API_KEY: pf.key.bureau };
    const issued = await cli(env, "api-key", "issue", "--role", "auditor", "--label", "external auditor", "--gateway", pf.base);
    expect(issued.code, issued.err).to.equal(0);
    const id = /^ck_([0-9a-f]{12})_\S+ {2}# id \1, auditor, external auditor\n$/.exec(issued.out)?.[1];
    if (!id) throw new Error(`not a key and its id: ${issued.out}`);
    const revoked = await cli(env, "api-key", "revoke", id, "--gateway", pf.base);
    expect(revoked.code, revoked.err).to.equal(0);
    expect(revoked.out).to.equal(`revoked ${id}\n`);
    const again = await cli(env, "api-key", "revoke", id, "--gateway", pf.base);
    expect(again.code).to.not.equal(0);
    expect(again.err).to.contain(`the gateway refused (HTTP 409): AlreadyRevoked: API key ${id} is already revoked`);
    const badSubject = await cli(env, "api-key", "issue", "--role", "bank", "--subject", "99", "--label", "x", "--gateway", pf.base);
    expect(badSubject.code).to.not.equal(0);
    expect(badSubject.err).to.contain("the gateway refused (HTTP 400)");
  });

  it("says so when no key is given or the gateway does not answer", async () => {
    const noKey = await cli({}, "api-key", "revoke", "0123456789ab", "--gateway", pf.base);
    expect(noKey.err).to.contain("give a platform regulator's API key in GATEWAY_API_KEY");
    const silent = await cli({ GATEWAY_API_KEY: pf.key.bureau }, "api-key", "revoke", "0123456789ab", "--gateway", "http://127.0.0.1:9");
    expect(silent.code).to.not.equal(0);
    expect(silent.err).to.contain("the gateway at http://127.0.0.1:9 did not answer");
  });
});
