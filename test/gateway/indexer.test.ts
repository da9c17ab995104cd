import { expect } from "chai";
import { startAnvil, AnvilNode } from "../../src/chain/anvil";
import { createRpc } from "../../src/chain/rpc";
import { createIndexer } from "../../src/sync/indexer";
import { createLogger } from "../../src/logger";
import { Db } from "../../src/store/db";
import { engines, dumpIndex } from "../support/db";
import { deployDistrict, driveActivity } from "../support/chain";

const logger = createLogger("silent");

for (const engine of engines()) {
  describe(`indexer (${engine.name}, against a separate Anvil process)`, function () {
    this.timeout(180_000);
    let node: AnvilNode;
    let district: Awaited<ReturnType<typeof deployDistrict>>;
    const dbs: Db[] = [];

    const open = async () => {
      const db = await engine.open();
      dbs.push(db);
      return db;
    };
    const indexerFor = (db: Db, extra: Partial<Parameters<typeof createIndexer>[0]> = {}) =>
      createIndexer({
        db,
        rpc: createRpc({ urls: [node.url] }),
        contracts: { escrow: district.deployment.escrow, registry: district.deployment.registry },
        startBlock: district.deployment.startBlock,
        confirmations: 0,
        logger,
        pollIntervalMs: 50,
        ...extra,
      });
    /** A full sync of `db` by a fresh indexer, started and stopped; the indexer is returned for its status. */
    const fullSync = async (db: Db, extra: Partial<Parameters<typeof createIndexer>[0]> = {}) => {
      const indexer = indexerFor(db, extra);
      await indexer.start();
      await indexer.syncTo();
      await indexer.stop();
      return indexer;
    };

    before(async () => {
      node = await startAnvil();
      district = await deployDistrict(node.url);
      await driveActivity(district);
    });
    after(async () => {
      for (const db of dbs) await db.close().catch(() => undefined);
      await node?.stop();
    });

    it("indexes every event, and the state it derives equals the contracts' own", async () => {
      const db = await open();
      await fullSync(db);

      const logs = await district.provider.send("eth_getLogs", [
        { address: [district.deployment.escrow, district.deployment.registry], fromBlock: "0x0", toBlock: "latest" },
      ]);
      const [{ n }] = await db.query<{ n: string }>("SELECT count(*) AS n FROM ledger");
      expect(Number(n)).to.equal(logs.length);

      const merchants = await db.query("SELECT * FROM merchants ORDER BY merchant_id");
      expect(merchants.length).to.be.greaterThan(0);
      for (const m of merchants) {
        const onChain = await district.escrow.merchantOf(Number(m.merchant_id));
        expect(BigInt(m.paid_in as string), `paid_in of ${m.merchant_id}`).to.equal(onChain.paidIn);
        expect(BigInt(m.released as string), `released of ${m.merchant_id}`).to.equal(onChain.released);
        expect(BigInt(m.refunded as string), `refunded of ${m.merchant_id}`).to.equal(onChain.refunded);
        expect(BigInt(m.paid_out as string), `paid_out of ${m.merchant_id}`).to.equal(onChain.paidOut);
      }
      const cards = await db.query("SELECT * FROM cards ORDER BY card_id");
      expect(cards.length).to.be.greaterThan(5);
      for (const c of cards) {
        const onChain = await district.escrow.cardOf(BigInt(c.card_id as string));
        expect(BigInt(c.held as string), `held of ${c.card_id}`).to.equal(onChain.held);
        expect(Number(c.units_left)).to.equal(Number(onChain.unitsLeft));
        expect(Number(c.units_used)).to.equal(Number(onChain.unitsUsed));
        expect(BigInt(c.pending_direct as string), `pending direct share of ${c.card_id}`).to.equal(onChain.pendingDirect);
        expect(Number(c.started_at), `started_at of ${c.card_id}`).to.equal(Number(onChain.startedAt));
      }
      const statuses = (await db.query<{ status: string }>("SELECT DISTINCT status FROM cards")).map((r) => r.status);
      expect(statuses).to.include.members(["active", "refunded"]);
      const [{ frozen }] = await db.query<{ frozen: string }>("SELECT count(*) AS frozen FROM merchants WHERE status = 'frozen'");
      expect(Number(frozen)).to.equal(1);
      const disputes = await db.query("SELECT * FROM disputes");
      expect(disputes).to.have.length(1);
      expect(disputes[0].status).to.equal("refunded");
      // The custody floors the bureau set (education and youth sports: everything in custody).
      const industries = await db.query<{ industry_id: number; custody_floor_bps: number }>(
        "SELECT industry_id, custody_floor_bps FROM industries WHERE industry_id > 0 ORDER BY industry_id");
      expect(industries.length).to.be.greaterThan(2);
      for (const i of industries) {
        const onChain = await district.registry.industryOf(Number(i.industry_id));
        expect(Number(i.custody_floor_bps), `custody floor of industry ${i.industry_id}`).to.equal(Number(onChain.custodyFloorBps));
      }
      expect(industries.filter((i) => Number(i.custody_floor_bps) === 10_000).map((i) => Number(i.industry_id))).to.include(1);
    });

    it("resumes after being stopped mid-sync and ends with the same index as a clean full sync", async () => {
      const clean = await open();
      await fullSync(clean);

      const resumed = await open();
      let batches = 0;
      const first = indexerFor(resumed, { initialRange: 1, maxRange: 1 });
      const stopped = new Promise<void>((resolve) => {
        (first as unknown as { onBatch?: unknown });
        const check = setInterval(() => {
          if (first.status.eventsIndexed > 5 || batches > 5) {
            clearInterval(check);
            resolve();
          }
        }, 5);
      });
      await first.start();
      await stopped;
      await first.stop();
      const midway = await resumed.query<{ block_number: string }>("SELECT block_number FROM checkpoint");
      const head = await district.provider.getBlockNumber();
      expect(Number(midway[0].block_number)).to.be.lessThan(head);

      await fullSync(resumed, { onBatch: () => batches++ });
      expect(await dumpIndex(resumed)).to.deep.equal(await dumpIndex(clean));
    });

    it("a range write that fails with the next range already planned drops the plan and the cached state; the index ends equal to a clean sync", async () => {
      const clean = await open();
      await fullSync(clean);

      // The real store, with some range writes failing after all their statements ran (so rolled back whole): the
      // 1st, 2nd (its retry) and 4th writes that update cards already stored, i.e. ranges whose events change state
      // the range planned behind them builds on. One-block ranges, so each failure has a planned range behind it.
      const db = await open();
      let cardWrites = 0;
      const failAt = new Set([1, 2, 4]);
      const failures: number[] = [];
      const flaky: Db = {
        engine: db.engine,
        query: (sql, params, o) => db.query(sql, params, o),
        close: () => db.close(),
        transaction: (fn) => db.transaction(async (tx) => {
          let updatesCards = false;
          const out = await fn({
            query: (sql, params) => {
              if (/^\s*UPDATE cards/.test(sql)) updatesCards = true;
              return tx.query(sql, params);
            },
            copyFrom: tx.copyFrom?.bind(tx),
          });
          if (updatesCards && failAt.has(++cardWrites)) {
            failures.push(cardWrites);
            throw new Error(`injected failure of card write ${cardWrites}`);
          }
          return out;
        }),
      };
      let batches = 0;
      const indexer = indexerFor(flaky, { initialRange: 1, maxRange: 1, onBatch: () => batches++ });
      await indexer.start();
      await indexer.syncTo();
      await indexer.stop();
      expect(failures).to.deep.equal([1, 2, 4]);
      expect(batches).to.be.greaterThan(10);
      expect(await dumpIndex(db)).to.deep.equal(await dumpIndex(clean));
    });

    it("defers the ledger's query indexes on a first sync, builds them at the head, and resumes a deferred sync", async () => {
      const clean = await open();
      await fullSync(clean);
      const indexDefs = async (db: Db) =>
        (await db.query<{ indexname: string; indexdef: string }>("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ledger' ORDER BY indexname"))
          .map((r) => `${r.indexname}: ${r.indexdef}`);
      const full = await indexDefs(clean);
      expect(full.join("\n")).to.match(/ledger_card/).and.match(/ledger_time/).and.match(/tx_hash, log_index/);

      const db = await open();
      // Small ranges, so the sync can be stopped halfway; any first sync of 1 block or more defers.
      const first = indexerFor(db, { deferIndexesBlocks: 1, initialRange: 2, maxRange: 2, readAhead: 0 });
      await first.start();
      expect(first.status.ledgerIndexesDeferred).to.equal(true);
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (first.status.eventsIndexed > 5) {
            clearInterval(check);
            resolve();
          }
        }, 5);
      });
      await first.stop();
      const midway = await indexDefs(db);
      expect(midway.some((d) => d.startsWith("ledger_card"))).to.equal(false);
      // Never deferred: the primary key and the uniqueness of (tx hash, log index).
      expect(midway.filter((d) => /UNIQUE/.test(d))).to.have.length(2);
      expect((await db.query("SELECT 1 FROM meta WHERE key = 'ledger_indexes_deferred'")).length).to.equal(1);
      const [{ n }] = await db.query<{ n: string }>("SELECT count(*) AS n FROM ledger");
      expect(Number(n)).to.be.greaterThan(0);

      // Restarted with deferral switched off: the record in the store still has the indexes built at the head.
      const second = indexerFor(db, { deferIndexesBlocks: 0 });
      await second.start();
      expect(second.status.ledgerIndexesDeferred).to.equal(true);
      await second.syncTo();
      expect(second.status.ledgerIndexesDeferred).to.equal(false);
      await second.stop();
      expect(await indexDefs(db)).to.deep.equal(full);
      expect((await db.query("SELECT 1 FROM meta WHERE key = 'ledger_indexes_deferred'")).length).to.equal(0);
      expect(await dumpIndex(db)).to.deep.equal(await dumpIndex(clean));

      // A store that already holds a ledger is never deferred.
      const third = indexerFor(db, { deferIndexesBlocks: 1 });
      await third.start();
      expect(third.status.ledgerIndexesDeferred).to.equal(false);
      await third.stop();
      expect(await indexDefs(db)).to.deep.equal(full);
    });

    it("splits ranges whose answer is over the byte limit, reading them in parts, and ends with the same index", async () => {
      const clean = await open();
      await fullSync(clean);

      // ~3 logs' worth of bytes: every range of several blocks with more is refused unread and split.
      const capped = await open();
      let batches = 0;
      await fullSync(capped, { maxResponseBytes: 2_000, onBatch: () => batches++ });
      expect(batches).to.be.greaterThan(10); // one range holds the whole chain without the limit
      expect(await dumpIndex(capped)).to.deep.equal(await dumpIndex(clean));
    });

    it("shortens a range that runs from a quiet stretch into a busy one, from a sample of its blocks, instead of having the node build an answer it refuses", async () => {
      await district.provider.send("anvil_mine", ["0x190"]); // 400 empty blocks
      await driveActivity(district, 1); // then a busy stretch
      const clean = await open();
      await fullSync(clean);
      const run = async (sampleBlocks: number) => {
        const db = await open();
        // ~12 logs' worth of bytes and ranges of about 4 logs: a range over the quiet stretch grows to hundreds of blocks.
        const ix = await fullSync(db, { sampleBlocks, maxResponseBytes: 8_000, targetLogsPerRange: 4 });
        expect(await dumpIndex(db), `sampleBlocks ${sampleBlocks}`).to.deep.equal(await dumpIndex(clean));
        return ix.status;
      };
      const blind = await run(0);
      const sampled = await run(8);
      expect(blind.rangesShortened).to.equal(0);
      expect(blind.rangesRefused).to.be.greaterThan(0);
      expect(sampled.rangesShortened).to.be.greaterThan(0);
      expect(sampled.rangesRefused).to.be.lessThan(blind.rangesRefused);
    });

    it("undoes a reorg back to the common ancestor", async () => {
      const db = await open();
      const idx = indexerFor(db);
      await idx.start();
      const snapshot = await district.provider.send("evm_snapshot", []);
      await driveActivity(district, 1);
      await idx.syncTo();
      const before = await dumpIndex(db);
      await district.provider.send("evm_revert", [snapshot]);
      // A different history of at least as many blocks replaces the one indexed.
      await district.provider.send("anvil_mine", ["0x40"]);
      await idx.syncTo();
      await idx.stop();

      const clean = await open();
      await fullSync(clean);
      const after = await dumpIndex(db);
      expect(after.ledger.length).to.be.lessThan(before.ledger.length);
      expect(after).to.deep.equal(await dumpIndex(clean));
    });

    it("refuses to start on a chain that was reset, saying how to rebuild", async () => {
      const db = await open();
      await fullSync(db);
      const other = await startAnvil();
      try {
        const wrong = createIndexer({
          db, rpc: createRpc({ urls: [other.url] }), contracts: { escrow: district.deployment.escrow, registry: district.deployment.registry },
          startBlock: 0, confirmations: 0, logger,
        });
        let message = "";
        await wrong.start().catch((e: Error) => (message = e.message));
        expect(message).to.match(/genesis_hash/).and.match(/chain was reset/).and.match(/rebuild-index/);
      } finally {
        await other.stop();
      }
    });
  });
}
