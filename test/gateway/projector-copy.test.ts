import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ChainEvent } from "../../src/chain/events";
import { FatalError } from "../../src/errors";
import { projectBatch } from "../../src/indexing/projector";
import { Db, DbTx, openDb } from "../../src/store/db";
import { migrate } from "../../src/store/migrations";
import { dumpIndex, engines } from "../support/db";

/**
 * On file-backed PGlite and a PostgreSQL server the projector writes the ledger with COPY (text format, built in JS);
 * on in-memory PGlite with INSERT ... SELECT FROM json_to_recordset. Both must store the same rows, whatever the
 * events' strings hold.
 */
const postgres = engines().find((e) => e.name === "postgres");
for (const engine of ["file-backed PGlite", ...(postgres ? ["PostgreSQL"] : [])]) describe(`projector: the ledger through COPY equals the ledger through INSERT (${engine})`, function () {
  this.timeout(120_000);
  const ESCROW = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512";
  const REGISTRY = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
  const HOLDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
  const card = ((1n << 32n) | 1n).toString();
  // Every character COPY's text format treats specially, a literal \N, quotes, non-ASCII and an emoji.
  const NASTY = 'back\\slash \\N tab\there new\nline cr\rend "quoted" 预付卡 ✓ \u{1F600} \\\\double';

  let n = 0;
  const ev = (event: string, contract: string, args: ChainEvent["args"], block: number, tx = 1): ChainEvent => ({
    event, contract, blockNumber: block, blockHash: "0x" + block.toString(16).padStart(64, "b"),
    txHash: "0x" + tx.toString(16).padStart(64, "a"), txIndex: 0, logIndex: n++, args,
  });
  const events: ChainEvent[] = [
    ev("RoleGranted", REGISTRY, { role: "0x" + "00".repeat(32), account: HOLDER, sender: HOLDER }, 1),
    ev("IndustryDefined", REGISTRY, { industryId: 6, regulator: HOLDER }, 1),
    ev("IndustryPolicySet", REGISTRY, { industryId: 6, policy: { custodyBps: 5000, coolingOffDays: 7, namedCapFen: "500000", exitNoticeDays: 30 } }, 1),
    ev("MerchantAdmitted", ESCROW, { merchantId: 1, account: HOLDER, industryId: 6, bankId: 1, registryRef: "0x" + "12".repeat(32) }, 2, 2),
    ev("PlanPublished", ESCROW, { merchantId: 1, planIndex: 1, kind: 1, units: 10, periodSeconds: 0, validityDays: 0, price: 10_000 }, 2, 2),
    ev("CardPurchased", ESCROW, {
      cardId: card, merchantId: 1, holder: HOLDER, planIndex: 1, kind: 1, units: 10, custodied: 9_000, direct: 1_000, named: true,
      startedAt: 1_700_000_000, expiresAt: 1_800_000_000,
    }, 3, 3),
    ev("LessonsConsumed", ESCROW, { cardId: card, lessons: 1, amount: 900, sequence: 0 }, 4, 4),
    ev("LessonsConsumed", ESCROW, { cardId: card, lessons: 2, amount: 1_800, sequence: 1 }, 4, 4),
    ev("RiskLevelSet", ESCROW, { merchantId: 1, from: 0, to: 1, reason: NASTY }, 5, 5),
    ev("DisputeOpened", ESCROW, { cardId: card, by: HOLDER, reason: NASTY }, 6, 6),
    ev("PaidOut", ESCROW, { merchantId: 1, bankId: 1, amount: 2_700, by: HOLDER }, 7, 7),
  ];
  const times = { get: (b: number) => 1_700_000_000 + b };

  const dirs: string[] = [];
  /** A fresh store of the engine: file-backed PGlite (COPY is not offered in memory) or a new PostgreSQL database. */
  async function fresh(): Promise<Db> {
    if (engine === "PostgreSQL") return postgres!.open();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "custody-copy-test-"));
    dirs.push(dir);
    const db = await openDb({ dataDir: dir });
    await migrate(db);
    return db;
  }
  /** The projector given the transaction as is (COPY) or without copyFrom (INSERT, as on PostgreSQL). */
  async function index(db: Db, useCopy: boolean, batches: ChainEvent[][]): Promise<void> {
    for (const batch of batches) {
      await db.transaction(async (tx) => {
        expect(tx.copyFrom, `${engine} transactions offer COPY`).to.be.a("function");
        const t: DbTx = useCopy ? tx : { query: tx.query };
        await projectBatch(t, batch, times);
      });
    }
  }

  let viaCopy: Db;
  let viaInsert: Db;
  before(async () => {
    [viaCopy, viaInsert] = await Promise.all([fresh(), fresh()]);
  });
  after(async () => {
    await Promise.all([viaCopy?.close(), viaInsert?.close()]);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("stores the same ledger and state, strings with backslashes, tabs, newlines and non-ASCII intact", async () => {
    // Two batches: the second updates rows the first wrote.
    const batches = [events.slice(0, 6), events.slice(6)];
    await index(viaCopy, true, batches);
    await index(viaInsert, false, batches);
    const a = await dumpIndex(viaCopy);
    const b = await dumpIndex(viaInsert);
    expect(a.ledger).to.have.length(events.length);
    expect(a).to.deep.equal(b);

    const rows = await viaCopy.query<{ event: string; args: { reason?: string; policy?: unknown }; holder: string | null; amount: string | null; card_id: string | null }>(
      "SELECT event, args, holder, amount::text AS amount, card_id::text AS card_id FROM ledger ORDER BY id",
    );
    expect(rows.map((r) => r.event)).to.deep.equal(events.map((e) => e.event));
    expect(rows.find((r) => r.event === "RiskLevelSet")!.args.reason).to.equal(NASTY);
    expect(rows.find((r) => r.event === "DisputeOpened")!.args.reason).to.equal(NASTY);
    expect(rows.find((r) => r.event === "IndustryPolicySet")!.args.policy).to.deep.equal(events[2].args.policy);
    const consumed = rows.filter((r) => r.event === "LessonsConsumed");
    expect(consumed.map((r) => [r.card_id, r.amount, r.holder])).to.deep.equal([
      [card, "900", HOLDER.toLowerCase()],
      [card, "1800", HOLDER.toLowerCase()],
    ]);
    expect(rows[0].card_id).to.equal(null);
    expect(rows[0].amount).to.equal(null);
  });

  it("refuses a batch whose events are out of chain order, storing nothing", async () => {
    const db = await fresh();
    try {
      const swapped = [events[1], events[0]];
      let err: unknown;
      await index(db, true, [swapped]).catch((e) => (err = e));
      expect(err).to.be.instanceOf(FatalError);
      expect((err as Error).message).to.match(/chain order/);
      const [{ n }] = await db.query<{ n: string }>("SELECT count(*)::text AS n FROM ledger");
      expect(n).to.equal("0");
    } finally {
      await db.close();
    }
  });
});
