import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { Wallet } from "ethers";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/logger";
import { createGateway, Gateway } from "../../src/gateway";
import { createKeyRing, writeKeystore } from "../../src/chain/signers";
import { issueApiKey } from "../../src/api/auth";
import { Db } from "../../src/store/db";
import { engines } from "../support/db";
import { deployDistrict, devWallet } from "../support/chain";

/**
 * The gateway never logs a keystore password, an API key, a consumer session token or a private key, whatever it is
 * asked and at the most verbose level: a gateway logging at trace to a stream is driven through every route that
 * carries one (keys in X-API-Key and Authorization, issuing a key, unlocking keystores with the right and a wrong
 * password, relaying a signed transaction, consumer sign-in, failed authentication, secrets in bodies and queries),
 * and then every log line is searched for each secret, as text, hex and base64.
 */
describe("the gateway's logs hold no secrets (trace level, against a separate Anvil process)", function () {
  this.timeout(180_000);
  let node: AnvilNode;
  let db: Db;
  let gw: Gateway;
  let base = "";
  let district: Awaited<ReturnType<typeof deployDistrict>>;
  const lines: string[] = [];
  const secrets = new Map<string, string>(); // secret -> what it is
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-log-secrets-"));
  const goodPassword = "pw-" + crypto.randomBytes(12).toString("base64url");
  const wrongPassword = "wrong-" + crypto.randomBytes(12).toString("base64url");

  const send = async (method: string, p: string, headers: Record<string, string> = {}, body?: unknown) => {
    const r = await fetch(base + p, {
      method, headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await r.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: r.status, body: json as Record<string, never> };
  };

  before(async () => {
    node = await startAnvil();
    district = await deployDistrict(node.url);
    db = await engines()[0].open();
    const p = district.provider;
    const bureau = devWallet(1, p);
    const education = devWallet(2, p);
    // the bureau's key is unlocked from its keystore with its own password; the education commission's keystore is
    // given a wrong password, so unlocking it fails (and that failure is logged)
    await writeKeystore(dir, new Wallet(bureau.privateKey), goodPassword);
    await writeKeystore(dir, new Wallet(education.privateKey), goodPassword);
    const ring = createKeyRing({
      dir, provider: p,
      env: { [`KEYSTORE_PASSWORD_${bureau.address.toLowerCase()}`]: goodPassword, KEYSTORE_PASSWORD: wrongPassword },
    });
    for (const i of [5, 6]) ring.add(devWallet(i, p) as unknown as Wallet);
    const sink = { write: (s: string) => void lines.push(s) };
    const config = loadConfig({ CHAIN_RPC_URL: node.url, PORT: "0", LOG_LEVEL: "trace", BATCH_INTERVAL_MS: "50", POLL_INTERVAL_MS: "50", DATA_DIR: dir });
    gw = await createGateway(config, createLogger("trace", sink), { db, deployment: district.deployment, keys: ring });
    base = `http://127.0.0.1:${(await gw.start()).port}`;

    secrets.set(goodPassword, "the keystore password");
    secrets.set(wrongPassword, "a wrong keystore password");
    for (let i = 0; i < 14; i++) secrets.set(devWallet(i, p).privateKey, `dev account ${i}'s private key`);
  });
  after(async () => {
    await gw?.stop();
    await db?.close();
    await node?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("drives every secret-carrying route, then finds none of the secrets in any form in the logs", async () => {
    const p = district.provider;
    const issue = async (label: string, role: Parameters<typeof issueApiKey>[1]["role"], subject: string | null) => {
      const { key } = await issueApiKey(db, { role, subject, label });
      secrets.set(key, `API key ${label}`);
      return key;
    };
    const bureauKey = await issue("bureau", "platform_regulator", devWallet(1, p).address.toLowerCase());
    const eduKey = await issue("education", "industry_regulator", devWallet(2, p).address.toLowerCase());
    const bankKey = await issue("bank", "bank", "1");
    const aliceKey = await issue("alice", "consumer", devWallet(10, p).address.toLowerCase());

    // keys in both headers
    expect((await send("GET", "/v1/me", { "x-api-key": bureauKey })).status).to.equal(200);
    expect((await send("GET", "/v1/me", { authorization: `Bearer ${bankKey}` })).status).to.equal(200);
    // issuing a key through the API: the answer carries the secret
    const issued = await send("POST", "/v1/api-keys", { "x-api-key": bureauKey }, { role: "auditor", label: "auditor via the API" });
    expect(issued.status).to.equal(201);
    const auditorKey = String(issued.body.key);
    secrets.set(auditorKey, "an API key issued through the API");
    expect((await send("GET", "/v1/ledger?limit=1", { "x-api-key": auditorKey })).status).to.equal(200);
    // failed authentication: a key one character off, malformed, revoked-looking, and a session token that does not exist
    const offByOne = bureauKey.slice(0, -1) + (bureauKey.endsWith("A") ? "B" : "A");
    secrets.set(offByOne, "a wrong API key");
    const failing: Record<string, string>[] = [{ "x-api-key": offByOne }, { "x-api-key": bureauKey + "x" }, { authorization: `Bearer ${offByOne}` }, { authorization: "Bearer cs_0123456789ab_" + "c".repeat(32) }];
    for (const h of failing) {
      expect((await send("GET", "/v1/merchants", h)).status).to.equal(401);
    }
    secrets.set(bureauKey + "x", "a malformed API key");
    // secrets in the query and in the body of refused requests
    expect((await send("GET", `/v1/me?apiKey=${encodeURIComponent(bureauKey)}&password=${goodPassword}`, { "x-api-key": bureauKey })).status).to.equal(400);
    expect((await send("POST", "/v1/merchants", { "x-api-key": bureauKey }, { password: goodPassword, privateKey: devWallet(1, p).privateKey, key: bankKey })).status).to.equal(400);
    expect((await send("POST", "/v1/merchants", { "x-api-key": bureauKey }, `{"password":"${goodPassword}",`)).status).to.equal(400);

    // unlocking the bureau's keystore: admit a merchant (a transaction signed with the decrypted key)
    const admitted = await send("POST", "/v1/merchants", { "x-api-key": bureauKey }, { account: devWallet(6, p).address, industryId: 1, bankId: 1, registrationNumber: "91110105MA0100001L" });
    expect(admitted.status, JSON.stringify(admitted.body)).to.equal(201);
    const school = Number(admitted.body.merchantId);
    // a keystore that will not open with the password given: the education commission's
    const refused = await send("POST", `/v1/merchants/${school}/restrict`, { "x-api-key": eduKey }, { reason: "risk" });
    expect(refused.status).to.be.at.least(400);

    // a card for alice, then her own signed transaction relayed
    const schoolKey = await issue("school", "merchant", String(school));
    expect((await send("POST", `/v1/merchants/${school}/plans`, { "x-api-key": schoolKey }, { kind: "lesson", units: 10, validityDays: 90, priceFen: 100000 })).status).to.equal(201);
    const card = await send("POST", "/v1/banks/1/cards", { "x-api-key": bankKey }, { merchantId: school, planIndex: 1, holder: devWallet(10, p).address });
    expect(card.status, JSON.stringify(card.body)).to.equal(201);
    const tx = await send("GET", `/v1/cards/${card.body.cardId}/refund-request?kind=cooling-off`, { "x-api-key": aliceKey });
    const alice = devWallet(10, p);
    const signed = await alice.signTransaction({ to: String(tx.body.to), data: String(tx.body.data), chainId: 31337, nonce: await p.getTransactionCount(alice.address), gasLimit: 300_000, gasPrice: 0, type: 0 });
    expect((await send("POST", "/v1/transactions", { "x-api-key": aliceKey }, { signedTransaction: signed })).status).to.equal(200);
    // a relayed transaction that fails to decode, and one for another chain
    expect((await send("POST", "/v1/transactions", { "x-api-key": aliceKey }, { signedTransaction: "0xdeadbeef" })).status).to.equal(400);
    const otherChain = await alice.signTransaction({ to: String(tx.body.to), data: String(tx.body.data), chainId: 1, nonce: 0, gasLimit: 300_000, gasPrice: 0, type: 0 });
    expect((await send("POST", "/v1/transactions", { "x-api-key": aliceKey }, { signedTransaction: otherChain })).status).to.equal(400);

    // consumer sign-in: a challenge, its signature, a session token used and a forged one refused
    const challenge = await send("POST", "/v1/public/consumer-sessions/challenge", {}, { address: alice.address.toLowerCase() });
    if (challenge.status === 200) {
      const signature = await alice.signMessage(String(challenge.body.message));
      const session = await send("POST", "/v1/public/consumer-sessions", {}, { address: alice.address.toLowerCase(), nonce: challenge.body.nonce, signature });
      expect(session.status, JSON.stringify(session.body)).to.equal(200);
      const token = String(session.body.token);
      secrets.set(token, "a consumer session token");
      expect((await send("GET", `/v1/consumers/${alice.address}/cards`, { authorization: `Bearer ${token}` })).status).to.equal(200);
      const forged = token.slice(0, -2) + (token.endsWith("AA") ? "BB" : "AA");
      secrets.set(forged, "a forged session token");
      expect((await send("GET", `/v1/consumers/${alice.address}/cards`, { authorization: `Bearer ${forged}` })).status).to.equal(401);
    }
    await new Promise((r) => setTimeout(r, 300)); // the queue's and indexer's last lines

    const log = lines.join("");
    expect(lines.length, "the gateway logged at trace").to.be.greaterThan(20);
    expect(log).to.include('"msg":"request"');
    expect(log, "the failed keystore unlock is logged").to.match(/cannot decrypt the keystore of/);
    const leaks: string[] = [];
    for (const [secret, what] of secrets) {
      for (const [form, text] of formsOf(secret)) {
        if (text.length >= 12 && log.toLowerCase().includes(text.toLowerCase())) leaks.push(`${what} (${form})`);
      }
    }
    expect(leaks, "secrets found in the logs").to.deep.equal([]);
  });
});

/** A secret as it could appear in a log: as is, its own secret part, hex and base64 of its bytes. */
function formsOf(secret: string): [string, string][] {
  const forms: [string, string][] = [["text", secret]];
  const m = /^(ck|cs)_[0-9a-f]{12}_(.+)$/.exec(secret);
  if (m) forms.push(["its secret part", m[2]]);
  if (/^0x[0-9a-fA-F]{64}$/.test(secret)) {
    const bytes = Buffer.from(secret.slice(2), "hex");
    forms.push(["hex without 0x", secret.slice(2)], ["base64", bytes.toString("base64")], ["base64url", bytes.toString("base64url")]);
  } else {
    const bytes = Buffer.from(secret, "utf8");
    forms.push(["hex", bytes.toString("hex")], ["base64", bytes.toString("base64").replace(/=+$/, "")], ["base64url", bytes.toString("base64url")]);
  }
  return forms;
}
