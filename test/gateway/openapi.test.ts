import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { declaredRoutes } from "../../src/api/access-table";
import { openApiDocument } from "../../src/api/openapi";

type Operation = { operationId?: string; responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }> };

describe("the OpenAPI document", function () {
  this.timeout(60_000);
  const routes = declaredRoutes();
  const doc = openApiDocument({ version: "0.1.0", chainId: 31337, escrow: "0x" + "00".repeat(20), server: "http://127.0.0.1:8080" });
  const ops: [string, Operation][] = Object.entries(doc.paths).flatMap(([p, byMethod]) => Object.entries(byMethod).map(([m, op]) => [`${m.toUpperCase()} ${p}`, op as Operation] as [string, Operation]));

  it("has every route, each with a unique operationId", () => {
    expect(ops).to.have.length(routes.length);
    const ids = ops.map(([, op]) => op.operationId);
    expect(ids.filter((id) => !id)).to.deep.equal([]);
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it("declares each success answer with its schema, and each error status with the error's", () => {
    const missing: string[] = [];
    for (const [name, op] of ops) {
      const ok = Object.entries(op.responses).filter(([s]) => s.startsWith("2"));
      if (!ok.length) missing.push(`${name}: no 2xx`);
      for (const [status, r] of ok) {
        const schema = Object.values(r.content ?? {})[0]?.schema;
        if (!schema || !Object.keys(schema).length) missing.push(`${name}: ${status} without a schema`);
      }
      for (const [status, r] of Object.entries(op.responses).filter(([s]) => /^[45]/.test(s))) {
        if (r.content?.["application/json"]?.schema?.$ref !== "#/components/schemas/Error") missing.push(`${name}: ${status} without the error schema`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it("passes redocly lint with the recommended rules, without an error", () => {
    const file = path.join(os.tmpdir(), `custody-openapi-${process.pid}.json`);
    fs.writeFileSync(file, JSON.stringify(doc));
    try {
      const bin = path.join(__dirname, "..", "..", "node_modules", ".bin", "redocly");
      const r = spawnSync(bin, ["lint", "--extends", "recommended", "--format", "json", file], { encoding: "utf8" });
      const out = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as { totals: { errors: number; warnings: number }; problems: { message: string; ruleId: string; severity: string }[] };
      const errors = out.problems.filter((p) => p.severity === "error").map((p) => `${p.ruleId}: ${p.message}`);
      expect(errors).to.deep.equal([]);
      expect(out.totals.errors).to.equal(0);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
