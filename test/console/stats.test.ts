import { expect } from "chai";
import request from "supertest";
import { engines } from "../support/db";
import { startPlatform, Platform, DAY } from "./platform";
import { CustodyApiError, ok, operations } from "../../src/client";

type MoneyQuery = NonNullable<operations["getStatsMoney"]["parameters"]["query"]>;

for (const engine of engines()) {
  describe(`GET /v1/stats/money (${engine.name})`, function () {
    this.timeout(180_000);
    let pf: Platform;
    let starting: Promise<Platform> | undefined;
    const get = (who: string, path: string) => request(pf.gw.app).get(path).set("x-api-key", pf.key[who]);
    /** GET /v1/stats/money through the typed client, as `who`. */
    const money = (who: string, query: MoneyQuery = {}) => ok(pf.api(who).GET("/v1/stats/money", { params: { query } }));
    /** The CustodyApiError a call is refused with. */
    const refusal = (call: Promise<unknown>) => call.then(
      () => { throw new Error("the call was answered, not refused"); },
      (err: unknown) => { if (err instanceof CustodyApiError) return err; throw err; },
    );

    before(async function () {
      this.timeout(360_000); // a district on chain over two rounds, on a machine that may be busy
      starting = startPlatform(engine);
      pf = await starting;
    });
    after(async function () {
      this.timeout(120_000);
      // A start that outlived its hook's timeout still gets stopped.
      await (pf ?? (await starting?.catch(() => undefined)))?.stop();
    });

    /** The index's current totals, straight from the merchants table. */
    async function merchantTotals(where = "", args: unknown[] = []) {
      const [r] = await pf.db.query<Record<string, string>>(
        `SELECT coalesce(sum(paid_in), 0)::text AS paid_in, coalesce(sum(released), 0)::text AS released, coalesce(sum(refunded), 0)::text AS refunded,
           coalesce(sum(paid_out), 0)::text AS paid_out FROM merchants ${where}`, args);
      return {
        paidInFen: r.paid_in, releasedFen: r.released, refundedFen: r.refunded, paidOutFen: r.paid_out,
        heldFen: (BigInt(r.paid_in) - BigInt(r.released) - BigInt(r.refunded)).toString(),
      };
    }

    it("sums the ledger per day to the same totals as the merchants' balances, and held = paid in − released − refunded at every point", async () => {
      const r = await money("bureau", { bucket: "day" });
      expect(r.totals).to.deep.equal(await merchantTotals());
      expect(r.series.length).to.be.at.least(2); // the chain's clock moved three days between the two rounds
      let paid = 0n, out = 0n;
      for (const p of r.series) {
        paid += BigInt(p.paidInFen);
        out += BigInt(p.releasedFen) + BigInt(p.refundedFen);
        expect(BigInt(p.heldFen)).to.equal(paid - out);
        expect((p.start + 8 * 3600) % DAY).to.equal(0); // days start at midnight, Beijing time
      }
      // every day from the first to the last, quiet days included as zeros
      r.series.slice(1).forEach((p, i) => expect(p.start - r.series[i].start).to.equal(DAY));
      expect(r.series.some((p) => p.paidInFen === "0")).to.equal(true);
      expect(BigInt(r.totals.paidInFen) > 0n).to.equal(true);
      expect(BigInt(r.totals.refundedFen) > 0n).to.equal(true);
    });

    it("gives the same totals whatever the bucket, and a window keeps the opening balance", async () => {
      const day = await money("bureau", { bucket: "day" });
      for (const bucket of ["hour", "week", "month"] as const) {
        const r = await money("bureau", { bucket });
        expect(r.totals, bucket).to.deep.equal(day.totals);
      }
      const last = day.series[day.series.length - 1];
      const w = await money("bureau", { bucket: "day", fromTime: last.start });
      expect(w.series).to.have.length(1);
      expect(w.series[0].heldFen).to.equal(last.heldFen);
      expect(w.totals.paidInFen).to.equal(last.paidInFen);
      const first = day.series[0];
      const upTo = await money("bureau", { bucket: "day", toTime: first.start + 60 });
      expect(upTo.series).to.have.length(1);
      expect(upTo.totals.heldFen).to.equal(first.heldFen);
    });

    it("filters by industry and by merchant", async () => {
      const [school, salon] = pf.merchantIds;
      const ind = await money("bureau", { industryId: 1 });
      expect(ind.totals).to.deep.equal(await merchantTotals("WHERE industry_id = $1", [1]));
      const m = await money("bureau", { merchantId: salon });
      expect(m.totals).to.deep.equal(await merchantTotals("WHERE merchant_id = $1", [salon]));
      const per = (await ok(pf.api("auditor").GET("/v1/stats/money/industries"))).items;
      const edu = per.find((x) => x.industryId === 1);
      if (!edu) throw new Error("no figures for industry 1");
      expect(edu.heldFen).to.equal(ind.totals.heldFen);
      expect(edu.merchants).to.be.at.least(1);
      expect(school).to.not.equal(salon);
    });

    it("keeps each caller to what it may see", async () => {
      const [school, salon] = pf.merchantIds;
      const own = await money("school");
      expect(own.totals).to.deep.equal(await merchantTotals("WHERE merchant_id = $1", [school]));
      expect((await refusal(money("school", { merchantId: salon }))).code).to.equal("Forbidden");
      // the education commission regulates industries 1 and 2 (the test district), not beauty (4)
      expect((await refusal(money("education", { industryId: 4 }))).code).to.equal("Forbidden");
      const edu = await money("education");
      expect(edu.totals).to.deep.equal(await merchantTotals("WHERE industry_id = ANY($1::int[])", [[1, 2]]));
      expect((await refusal(money("alice"))).status).to.equal(403);
      await request(pf.gw.app).get("/v1/stats/money").expect(401);
    });

    it("names a bad parameter in a 400", async () => {
      const r = await get("bureau", "/v1/stats/money?bucket=fortnight&merchantId=x").expect(400);
      const fields = r.body.error.details.map((d: { field: string }) => d.field);
      expect(fields).to.include.members(["query.bucket", "query.merchantId"]);
    });

    it("GET /v1/me says who the key belongs to", async () => {
      const r = await ok(pf.api("bank").GET("/v1/me"));
      expect(r).to.include({ role: "bank", subject: "1", label: "bank" });
      await request(pf.gw.app).get("/v1/me").expect(401);
    });

    it("serves the console at / with a policy that keeps it to this origin", async () => {
      const r = await request(pf.gw.app).get("/").expect(200);
      expect(r.text).to.contain('<script type="module" src="/console/app.js">');
      expect(r.headers["content-security-policy"]).to.contain("default-src 'self'");
      const js = await request(pf.gw.app).get("/console/app.js").expect(200);
      expect(js.headers["content-type"]).to.match(/javascript/);
      await request(pf.gw.app).get("/console/nope.js").expect(404);
    });
  });
}
