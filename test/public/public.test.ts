import { expect } from "chai";
import request from "supertest";
import { signConsumptionDocument, voucherJsonOfDocument } from "../../src/chain/vouchers";
import { ethers } from "ethers";
import { createApp } from "../../src/api/app";
import { EnforcementAnchor__factory } from "../../typechain-types";
import { entryHash, EntryContent } from "../../src/services/enforcement";
import { ensureEnforcementAnchor } from "../../src/chain/bootstrap";
import { engines } from "../support/db";
import { devWallet } from "../support/chain";
import { startPublicPlatform, PublicPlatform, FITNESS } from "./platform";

/** Every key and string value in a JSON document, recursively. */
function walk(v: unknown, keys: string[] = [], values: string[] = []) {
  if (Array.isArray(v)) v.forEach((x) => walk(x, keys, values));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) { keys.push(k); walk(x, keys, values); }
  else if (v !== null && v !== undefined) values.push(String(v));
  return { keys, values };
}

for (const engine of engines()) {
  describe(`public look-up, enforcement record, onboarding ledger (${engine.name}, Anvil)`, function () {
    this.timeout(240_000);
    let t: PublicPlatform;

    before(async () => {
      t = await startPublicPlatform(engine);
    });
    after(async () => {
      await t?.stop();
    });

    const record = (who: string, merchantId: number, body: object) => t.as(who).post(`/v1/merchants/${merchantId}/enforcement`, body);

    describe("the enforcement record", () => {
      it("lets the platform regulator and the industry's regulator record, and no one else", async () => {
        const warning = { kind: "warning", public: true, occurredOn: "2025-03-01", documentRef: "朝市监警〔2025〕1号", summary: "Sold cards above the 5,000 CNY cap" };
        const a = await t.ok(record("education", t.school, warning), 201);
        expect(a.body.entry.seq).to.equal(1);
        expect(a.body.entry.officer).to.deep.include({ role: "industry_regulator", account: devWallet(2, t.provider).address.toLowerCase() });
        expect(a.body.anchor.txHash).to.match(/^0x[0-9a-f]{64}$/);
        expect((await record("commerce", t.school, warning)).status).to.equal(403); // beauty's regulator, not education's
        for (const who of ["bank", "school", "auditor", "alice"]) expect((await record(who, t.school, warning)).status, who).to.equal(403);
        await t.ok(record("bureau", t.salon, { ...warning, public: false, summary: "Internal note: late refunds" }), 201);
        await t.ok(record("commerce", t.salon, { ...warning, summary: "Refused refunds during cooling-off", occurredOn: "2025-03-05" }), 201);
      });

      it("the contract itself refuses a regulator of another industry, and anything but the next entry", async () => {
        const anchor = EnforcementAnchor__factory.connect(t.district.deployment.enforcementAnchor!, devWallet(3, t.provider));
        const fail = async (p: Promise<unknown>) => {
          try {
            await p;
          } catch (err) {
            return anchor.interface.parseError((err as { data: string }).data);
          }
          throw new Error("it did not revert");
        };
        const [count, last] = await anchor.headOf(t.school);
        const e1 = await fail(anchor.anchor.staticCall(t.school, count + 1n, ethers.id("x"), last));
        expect(e1?.name).to.equal("EnforcementAnchor_NotRegulatorOf");
        const bureau = anchor.connect(devWallet(1, t.provider));
        const e2 = await fail(bureau.anchor.staticCall(t.school, count + 2n, ethers.id("x"), last));
        expect(e2?.name).to.equal("EnforcementAnchor_SequenceMismatch");
        const e3 = await fail(bureau.anchor.staticCall(t.school, count + 1n, ethers.id("x"), ethers.id("not the last")));
        expect(e3?.name).to.equal("EnforcementAnchor_PrevHashMismatch");
        const e4 = await fail(bureau.anchor.staticCall(999, 1, ethers.id("x"), ethers.ZeroHash));
        expect(e4?.name).to.equal("EnforcementAnchor_UnknownMerchant");
      });

      it("records each kind of action with its facts, and names a missing fact in a 400", async () => {
        const base = { occurredOn: "2025-03-10", documentRef: "朝市监约〔2025〕3号", summary: "x" };
        await t.ok(record("education", t.school, { ...base, kind: "interview", summary: "Joint interview (约谈) with the education commission", details: { attendees: "owner, two officers" } }), 201);
        await t.ok(record("education", t.school, { ...base, kind: "inspection", summary: "On-site inspection", details: { findings: "no refund desk" } }), 201);
        await t.ok(record("education", t.school, { ...base, kind: "order", summary: "No new cards until refunds are paid", details: { order: "no_new_cards", until: "2025-06-30" } }), 201);
        const pen = await t.ok(record("bureau", t.school, { ...base, kind: "penalty", summary: "Fine", details: { amountFen: "5000000", discretion: "heavier", basis: "条例第三十六条" } }), 201);
        expect(pen.body.entry.details).to.deep.equal({ amountFen: "5000000", discretion: "heavier", basis: "条例第三十六条" });
        await t.ok(record("bureau", t.school, { ...base, kind: "dishonesty_listing", occurredOn: "2025-04-01", summary: "Collapsed owing consumers 2 million CNY" }), 201);
        await t.ok(record("bureau", t.school, { ...base, kind: "police_handover", summary: "Handed to the police", details: { receivingAuthority: "Chaoyang PSB economic crimes unit" } }), 201);
        const bad = await record("bureau", t.school, { ...base, kind: "penalty", details: { amountFen: 1.5 } });
        expect(bad.status).to.equal(400);
        const fields = bad.body.error.details.map((d: { field: string }) => d.field);
        expect(fields).to.include.members(["body.details.amountFen", "body.details.discretion"]);
        expect((await record("bureau", t.school, { ...base, kind: "order", details: { order: "close_the_shop" } })).status).to.equal(400);
        expect((await record("bureau", t.school, { ...base, kind: "warning", public: true, occurredOn: "2025-02-30" })).status).to.equal(400);
      });

      it("corrects by appending: the public sees the corrected warning, and a removal takes a merchant off the list", async () => {
        const before = (await t.ok(t.as("auditor").get(`/v1/merchants/${t.school}/enforcement`), 200)).body.items.length;
        await t.ok(record("education", t.school, { kind: "correction", corrects: 1, occurredOn: "2025-03-02", documentRef: "朝市监更〔2025〕1号", summary: "wording", details: { summary: "Sold cards above the 5,000 CNY cap per card" } }), 201);
        const items = (await t.ok(t.as("auditor").get(`/v1/merchants/${t.school}/enforcement`), 200)).body.items;
        expect(items.length).to.equal(before + 1);
        expect(items[0].entry.summary).to.equal("Sold cards above the 5,000 CNY cap"); // the original stays as it was
        const w = (await t.ok(t.api().get("/v1/public/warnings"), 200)).body.items;
        expect(w.map((x: { summary: string }) => x.summary)).to.include("Sold cards above the 5,000 CNY cap per card");
        expect(w.map((x: { summary: string }) => x.summary)).not.to.include("Internal note: late refunds");

        await t.ok(record("bureau", t.salon, { kind: "dishonesty_listing", occurredOn: "2025-04-02", documentRef: "D-2", summary: "Listed" }), 201);
        let list = (await t.ok(t.api().get("/v1/public/dishonesty-list"), 200)).body.items.map((x: { merchantId: number }) => x.merchantId);
        expect(list).to.have.members([t.school, t.salon]);
        await t.ok(record("bureau", t.salon, { kind: "dishonesty_removal", occurredOn: "2025-05-02", documentRef: "D-3", summary: "Rectified; removed" }), 201);
        list = (await t.ok(t.api().get("/v1/public/dishonesty-list"), 200)).body.items.map((x: { merchantId: number }) => x.merchantId);
        expect(list).to.deep.equal([t.school]);
      });

      it("a deployment recorded before the anchor existed gets one at start; one that has it is left alone", async () => {
        // any account may deploy it (it has no owner); not one the gateway sends for, whose nonces it keeps
        const bureau = new ethers.NonceManager(devWallet(15, t.provider));
        const { enforcementAnchor: _had, ...old } = t.district.deployment;
        const up = await ensureEnforcementAnchor(old, bureau);
        expect(up.deployed).to.equal(true);
        expect(up.deployment.enforcementAnchor).to.match(/^0x[0-9a-fA-F]{40}$/).and.not.equal(t.district.deployment.enforcementAnchor);
        const fresh = EnforcementAnchor__factory.connect(up.deployment.enforcementAnchor!, t.provider);
        expect((await fresh.escrow()).toLowerCase()).to.equal(t.district.deployment.escrow.toLowerCase());
        const same = await ensureEnforcementAnchor(t.district.deployment, bureau);
        expect(same).to.deep.equal({ deployment: t.district.deployment, deployed: false });
      });

      it("the database refuses UPDATE, DELETE and TRUNCATE of the record", async () => {
        for (const sql of ["UPDATE enforcement_entries SET entry_hash = 'x'", "DELETE FROM enforcement_entries", "TRUNCATE enforcement_entries CASCADE", "DELETE FROM enforcement_anchors"]) {
          let refused = "";
          try {
            await t.db.query(sql);
          } catch (err) {
            refused = (err as Error).message;
          }
          expect(refused, sql).to.match(/append-only/);
        }
      });

      it("verifies a clean record against the chain", async () => {
        for (const m of [t.school, t.salon]) {
          const v = (await t.ok(t.as("auditor").get(`/v1/merchants/${m}/enforcement/verify`), 200)).body;
          expect(v.problems).to.deep.equal([]);
          expect(v.ok).to.equal(true);
          expect(v.anchoredOnChain).to.equal(v.entries);
        }
        const anchor = EnforcementAnchor__factory.connect(t.district.deployment.enforcementAnchor!, t.provider);
        const logs = await anchor.queryFilter(anchor.filters.EntryAnchored(t.school));
        const items = (await t.ok(t.as("auditor").get(`/v1/merchants/${t.school}/enforcement`), 200)).body.items;
        expect(logs.map((l) => l.args.entryHash)).to.deep.equal(items.map((i: { entryHash: string }) => i.entryHash));
        expect(logs.map((l) => l.args.prevHash)).to.deep.equal(items.map((i: { entry: { prevHash: string } }) => i.entry.prevHash));
      });

      /** Changes rows as the tables' owner, with the append-only triggers switched off for the moment. */
      const tamper = (fn: (q: (sql: string, args?: unknown[]) => Promise<unknown>) => Promise<void>) =>
        t.db.transaction(async (tx) => {
          await tx.query("ALTER TABLE enforcement_entries DISABLE TRIGGER enforcement_entries_append_only");
          await fn((sql, args) => tx.query(sql, args));
          await tx.query("ALTER TABLE enforcement_entries ENABLE TRIGGER enforcement_entries_append_only");
        });

      it("detects an entry changed in the database", async () => {
        await tamper(async (q) => {
          await q(`UPDATE enforcement_entries SET content = jsonb_set(content, '{summary}', '"Nothing happened"') WHERE merchant_id = $1 AND seq = 2`, [t.school]);
        });
        const v = (await t.ok(t.as("education").get(`/v1/merchants/${t.school}/enforcement/verify`), 200)).body;
        expect(v.ok).to.equal(false);
        const problems = v.problems.filter((p: { seq: number }) => p.seq === 2).map((p: { problem: string }) => p.problem);
        expect(problems).to.include.members(["content does not match its stored hash", "content does not match the hash anchored on chain"]);
      });

      it("detects a rewritten chain whose hashes were all recomputed, and a deleted entry, from what is on chain", async () => {
        const rows = await t.db.query<{ seq: number; content: EntryContent }>("SELECT seq, content FROM enforcement_entries WHERE merchant_id = $1 ORDER BY seq", [t.salon]);
        await tamper(async (q) => {
          let prev = ethers.ZeroHash;
          for (const r of rows) {
            const content = { ...r.content, prevHash: prev, ...(r.seq === 1 ? { summary: "rewritten" } : {}) };
            const h = entryHash(content);
            await q("UPDATE enforcement_entries SET content = $3::jsonb, entry_hash = $4 WHERE merchant_id = $1 AND seq = $2", [t.salon, r.seq, JSON.stringify(content), h]);
            prev = h;
          }
        });
        let v = (await t.ok(t.as("auditor").get(`/v1/merchants/${t.salon}/enforcement/verify`), 200)).body;
        expect(v.ok).to.equal(false);
        expect(v.problems.map((p: { problem: string }) => p.problem)).to.include("content does not match the hash anchored on chain");
        expect(v.problems.filter((p: { problem: string }) => p.problem === "content does not match its stored hash")).to.deep.equal([]);

        const last = rows[rows.length - 1].seq;
        await t.db.transaction(async (tx) => {
          await tx.query("ALTER TABLE enforcement_anchors DISABLE TRIGGER enforcement_anchors_append_only");
          await tx.query("ALTER TABLE enforcement_entries DISABLE TRIGGER enforcement_entries_append_only");
          await tx.query("DELETE FROM enforcement_anchors WHERE merchant_id = $1 AND seq = $2", [t.salon, last]);
          await tx.query("DELETE FROM enforcement_entries WHERE merchant_id = $1 AND seq = $2", [t.salon, last]);
          await tx.query("ALTER TABLE enforcement_entries ENABLE TRIGGER enforcement_entries_append_only");
          await tx.query("ALTER TABLE enforcement_anchors ENABLE TRIGGER enforcement_anchors_append_only");
        });
        v = (await t.ok(t.as("auditor").get(`/v1/merchants/${t.salon}/enforcement/verify`), 200)).body;
        expect(v.problems.map((p: { problem: string }) => p.problem)).to.include.members(["the chain holds a different number of entries", "anchored on chain but missing from the record"]);
      });
    });

    describe("public look-up", () => {
      const responses: { path: string; text: string; body: unknown }[] = [];

      it("finds merchants by name, registration number and district, with their public facts", async () => {
        const get = async (path: string) => {
          const r = await t.ok(t.api().get(path), 200);
          responses.push({ path, text: r.text, body: r.body });
          return r.body;
        };
        const byName = await get("/v1/public/merchants?q=sunshine");
        expect(byName.items).to.have.length(1);
        const m = byName.items[0];
        expect(m).to.deep.include({ merchantId: t.school, name: "Sunshine Dance School", registrationNumber: "91110105MA0100001L", district: "Chaoyang", status: "active", inCustody: true, requiredCustodyPercent: 100 });
        expect(m.custodian).to.deep.equal({ bankId: 1, name: "Test Bank custody fen" });
        expect(m.industry.id).to.equal(1);
        expect(m.riskLevel).to.be.oneOf(["low", "medium", "high"]);
        expect(m.warnings.map((w: { date: string }) => w.date)).to.deep.equal(["2025-03-01"]);
        expect(m.seriousDishonesty).to.deep.include({ listed: true, since: "2025-04-01" });
        expect((await get("/v1/public/merchants?registrationNumber=91110105MA0100002P")).items.map((x: { merchantId: number }) => x.merchantId)).to.deep.equal([t.salon]);
        expect((await get("/v1/public/merchants?q=91110105MA0100002P")).items.map((x: { merchantId: number }) => x.merchantId)).to.deep.equal([t.salon]);
        expect((await get("/v1/public/merchants?district=haidian")).items.map((x: { merchantId: number }) => x.merchantId)).to.deep.equal([t.salon]);
        const salon = (await get(`/v1/public/merchants/${t.salon}`));
        expect(salon.requiredCustodyPercent).to.equal(40); // Beijing's floor for every industry (beauty was 30% before the 2025 rules)
        expect(salon.warnings.map((w: { summary: string }) => w.summary)).to.deep.equal(["Refused refunds during cooling-off"]);
        const page1 = await get("/v1/public/merchants?limit=1");
        expect(page1.items).to.have.length(1);
        expect(page1.nextCursor).to.be.a("string");
        const page2 = await get(`/v1/public/merchants?limit=1&cursor=${page1.nextCursor}`);
        expect(page2.items[0].merchantId).to.be.greaterThan(page1.items[0].merchantId);
        await get("/v1/public/warnings");
        await get("/v1/public/dishonesty-list");
        const rss = await t.ok(t.api().get("/v1/public/warnings.rss"), 200);
        expect(rss.headers["content-type"]).to.match(/application\/rss\+xml/);
        expect(rss.text).to.contain("<rss version=\"2.0\">").and.contain("Sunshine Dance School").and.contain("5,000 CNY cap per card");
        responses.push({ path: "/v1/public/warnings.rss", text: rss.text, body: null });
        const rss2 = await t.ok(t.api().get("/v1/public/dishonesty-list.rss"), 200);
        expect(rss2.text).to.contain("Listed: Sunshine Dance School");
        responses.push({ path: "/v1/public/dishonesty-list.rss", text: rss2.text, body: null });
        expect((await t.api().get("/v1/public/merchants?q=")).status).to.equal(400);
        expect((await t.api().get("/v1/public/merchants/0")).status).to.equal(400);
        expect((await t.api().get("/v1/public/merchants/4000")).status).to.equal(404);
      });

      it("shows nothing private: no holders, no cards, no balances, no accounts", async () => {
        const cards = await t.db.query<{ card_id: string; holder: string; held: string; paid_in: string; released: string }>("SELECT card_id, holder, held, paid_in, released FROM cards");
        const merchants = await t.db.query<{ account: string; paid_in: string }>("SELECT account, paid_in FROM merchants");
        expect(cards.length).to.be.greaterThan(0);
        expect(responses.length).to.be.greaterThan(8);
        const secrets = [
          ...cards.flatMap((c) => [c.holder, ethers.getAddress(c.holder), String(c.card_id)]),
          ...merchants.map((m) => m.account),
          ...t.holders.map((h) => h.address),
        ].map((x) => x.toLowerCase());
        const money = new Set([...cards.flatMap((c) => [String(c.held), String(c.paid_in), String(c.released)]), ...merchants.map((m) => String(m.paid_in))].filter((x) => x !== "0"));
        for (const r of responses) {
          const text = r.text.toLowerCase();
          for (const s of secrets) expect(text, `${r.path} shows ${s}`).not.to.contain(s);
          if (r.body) {
            const { keys, values } = walk(r.body);
            expect(keys.filter((k) => /holder|card|held|balance|paid|released|refunded|fen|account/i.test(k)), r.path).to.deep.equal([]);
            expect(values.filter((v) => money.has(v)), r.path).to.deep.equal([]);
          }
        }
      });

      it("is cache-friendly: Cache-Control and an ETag that answers 304", async () => {
        const r = await t.ok(t.api().get(`/v1/public/merchants/${t.school}`), 200);
        expect(r.headers["cache-control"]).to.match(/public, max-age=\d+/);
        expect(r.headers.etag).to.be.a("string");
        await t.api().get(`/v1/public/merchants/${t.school}`).set("if-none-match", r.headers.etag).expect(304);
      });

      it("limits each client's rate with a JSON 429 and Retry-After; other routes are not counted", async () => {
        const app = createApp(t.gw.services, { publicRate: { burst: 3, perSecond: 0.01 } });
        for (let i = 0; i < 3; i++) await request(app).get("/v1/public/warnings").expect(200);
        const r = await request(app).get("/v1/public/merchants?q=x").expect(429);
        expect(r.body.error.code).to.equal("RateLimited");
        expect(Number(r.headers["retry-after"])).to.be.greaterThan(0);
        expect(r.headers["ratelimit-remaining"]).to.equal("0");
        await request(app).get("/health").expect(200);
        await request(app).get("/v1/merchants").set("x-api-key", t.key.auditor).expect(200);
      });
    });

    describe("consumer sign-in with the card's key", () => {
      const signIn = async (w: ethers.Wallet | ethers.HDNodeWallet) => {
        const c = (await t.ok(t.api().post("/v1/public/consumer-sessions/challenge").send({ address: w.address }), 200)).body;
        expect(c.message).to.contain(w.address.toLowerCase()).and.contain("moves no money");
        return { c, sig: await w.signMessage(c.message) };
      };

      it("a signed challenge opens a session that reads the holder's own cards only", async () => {
        const alice = t.holders[0];
        const { c, sig } = await signIn(alice);
        const s = (await t.ok(t.api().post("/v1/public/consumer-sessions").send({ address: alice.address, nonce: c.nonce, signature: sig }), 200)).body;
        expect(s.token).to.match(/^cs_/);
        const mine = await t.ok(t.api().get(`/v1/consumers/${alice.address.toLowerCase()}/cards`).set("authorization", `Bearer ${s.token}`), 200);
        expect(mine.body.items.map((x: { cardId: string }) => x.cardId)).to.include(t.cards[0]);
        await t.api().get(`/v1/cards/${t.cards[1]}`).set("authorization", `Bearer ${s.token}`).expect(403); // bob's card
        await t.api().get("/v1/merchants").set("authorization", `Bearer ${s.token}`).expect(403);
        // a challenge is good once
        expect((await t.api().post("/v1/public/consumer-sessions").send({ address: alice.address, nonce: c.nonce, signature: sig })).status).to.equal(401);
      });

      it("refuses a challenge signed by another key, and a forged token", async () => {
        const { c } = await signIn(t.holders[0]);
        const sig = await t.holders[1].signMessage(c.message);
        const r = await t.api().post("/v1/public/consumer-sessions").send({ address: t.holders[0].address, nonce: c.nonce, signature: sig });
        expect(r.status).to.equal(401);
        expect(r.body.error.code).to.equal("InvalidSignature");
        await t.api().get("/v1/cards/1").set("authorization", `Bearer cs_000000000000_${"a".repeat(32)}`).expect(401);
      });

      it("hands a holder-signed voucher to the merchant's queue, and refuses one signed by someone else", async () => {
        const card = t.cards[1]; // bob's
        const tv = (await t.ok(t.as("bureau").get(`/v1/cards/${card}/voucher?lessons=1`), 200)).body.typedData;
        const { c, sig } = await signIn(t.holders[1]);
        const token = (await t.ok(t.api().post("/v1/public/consumer-sessions").send({ address: t.holders[1].address, nonce: c.nonce, signature: sig }), 200)).body.token;
        const forged = voucherJsonOfDocument(tv, await signConsumptionDocument(t.holders[0], tv));
        const bad = await t.api().post(`/v1/cards/${card}/consumptions`).set("authorization", `Bearer ${token}`).send(forged);
        expect(bad.status).to.equal(422);
        expect(bad.body.error.details[0].field).to.equal("body.signature");
        const good = voucherJsonOfDocument(tv, await signConsumptionDocument(t.holders[1], tv));
        const r = await t.ok(t.api().post(`/v1/cards/${card}/consumptions`).set("authorization", `Bearer ${token}`).send(good), 202);
        expect(r.body.merchantId).to.equal(t.school);
        const ask = await t.ok(t.as("school").post(`/v1/cards/${card}/consumption-requests`, { lessons: 2 }), 201);
        // what the holder will sign, for the merchant's screen: the merchant, the lessons and the money they release
        expect(ask.body).to.include({ merchantId: t.school, merchantName: "Sunshine Dance School", lessons: 2 });
        expect(ask.body.releasesFen).to.match(/^\d+$/);
        expect(ask.body.path).to.equal(`/me/#confirm=${card}.2`);
        expect(ask.body.link).to.match(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/me/#confirm=${card}\\.2$`));
        expect(ask.body.qrSvg).to.match(/^<svg [^>]*viewBox/).and.contain("<path");
        expect((await t.as("salon").post(`/v1/cards/${card}/consumption-requests`, { lessons: 2 })).status).to.equal(403);
      });
    });

    describe("the onboarding ledger", () => {
      const csv = [
        "registration_number,name,district,industry_id,required,started_on,note",
        "91110105MA0100001L,Sunshine Dance School,Chaoyang,1,true,2024-11-01,",
        "91110105MA0100002P,Lotus Beauty Salon,Haidian,4,yes,,",
        "91110105MA0100003T,\"Star Tutoring, Ltd.\",Chaoyang,1,true,2025-01-15,application in",
        "91110105MA0100004X,Iron Gym,Chaoyang,3,true,,",
        "91110105MA01000051,Corner Bakery,Chaoyang,1,false,,sells no prepaid cards",
      ].join("\n");

      it("imports a CSV ledger and counts required, not started, started and onboarded per industry", async () => {
        const r = await t.ok(t.as("bureau").post("/v1/onboarding/imports", csv), 201);
        expect(r.body).to.deep.include({ rows: 5, inserted: 5, updated: 0, format: "csv" });
        const p = (await t.ok(t.as("auditor").get("/v1/onboarding/progress"), 200)).body;
        expect(p.overall).to.deep.include({ required: 4, notStarted: 1, started: 1, onboarded: 2, onboardedPercent: 50 });
        const by = Object.fromEntries(p.industries.map((i: { industryId: number }) => [i.industryId, i]));
        expect(by[1]).to.deep.include({ required: 2, started: 1, onboarded: 1, notStarted: 0 });
        expect(by[3]).to.deep.include({ required: 1, notStarted: 1, onboarded: 0 });
        expect(by[4]).to.deep.include({ required: 1, onboarded: 1 });
        const notYet = (await t.ok(t.as("auditor").get("/v1/onboarding?state=not_started"), 200)).body.items;
        expect(notYet.map((x: { registrationNumber: string }) => x.registrationNumber)).to.deep.equal(["91110105MA0100004X", "91110105MA01000051"]);
        const started = (await t.ok(t.as("auditor").get("/v1/onboarding?state=started"), 200)).body.items;
        expect(started[0]).to.deep.include({ name: "Star Tutoring, Ltd.", note: "application in", merchantId: null });
      });

      it("links a merchant admitted later by its registration number and fills its public profile from the ledger", async () => {
        const a = await t.ok(t.as("bureau").post("/v1/merchants", { account: devWallet(8, t.provider).address, industryId: FITNESS, bankId: 1, registrationNumber: "91110105MA0100004X" }), 201);
        const p = (await t.ok(t.as("auditor").get("/v1/onboarding/progress"), 200)).body;
        expect(p.overall).to.deep.include({ required: 4, notStarted: 0, onboarded: 3 });
        const pub = (await t.ok(t.api().get(`/v1/public/merchants/${a.body.merchantId}`), 200)).body;
        expect(pub).to.deep.include({ name: "Iron Gym", district: "Chaoyang", registrationNumber: "91110105MA0100004X", requiredCustodyPercent: 40 });
        const list = (await t.ok(t.as("auditor").get("/v1/onboarding?state=onboarded&limit=2"), 200)).body;
        expect(list.items).to.have.length(2);
        const rest = (await t.ok(t.as("auditor").get(`/v1/onboarding?state=onboarded&cursor=${list.nextCursor}`), 200)).body;
        expect([...list.items, ...rest.items].map((x: { merchantId: number }) => x.merchantId)).to.have.members([t.school, t.salon, a.body.merchantId]);
      });

      it("an industry regulator counts its own industries; a bad file imports nothing and names each bad row", async () => {
        const p = (await t.ok(t.as("education").get("/v1/onboarding/progress"), 200)).body;
        // the test district gives the education commission's account the sports bureau's industries too (2, 3)
        expect(p.industries.map((i: { industryId: number }) => i.industryId)).to.deep.equal([1, 3]);
        expect(p.overall.required).to.equal(3);
        expect((await t.as("education").post("/v1/onboarding/imports", csv)).status).to.equal(403);
        const bad = await t.as("bureau").post("/v1/onboarding/imports", [
          { registrationNumber: "91110105MA0100009D", name: "New Pool", industryId: 3 },
          { registrationNumber: "91110105MA0100010J", industryId: "x", startedOn: "yesterday" },
        ]);
        expect(bad.status).to.equal(422);
        const fields = bad.body.error.details.map((d: { field: string }) => d.field);
        expect(fields).to.include.members(["rows.1.name", "rows.1.industryId", "rows.1.startedOn"]);
        const all = (await t.ok(t.as("auditor").get("/v1/onboarding?limit=100"), 200)).body.items;
        expect(all.map((x: { registrationNumber: string }) => x.registrationNumber)).not.to.include("91110105MA0100009D");
      });
    });
  });
}
