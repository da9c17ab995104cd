import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

/**
 * The gateway's layers, lowest first: a file may import its own layer and those below it, never one above, and no
 * import cycle may exist between files. Data flows one way: chain → sync → store → API.
 */
const LAYERS: { name: string; paths: string[] }[] = [
  { name: "base", paths: ["src/errors.ts", "src/logger.ts", "src/rng.ts", "src/csv.ts", "src/pidFile.ts"] },
  { name: "store", paths: ["src/store/"] },
  { name: "config", paths: ["src/config.ts"] },
  { name: "chain", paths: ["src/chain/"] },
  { name: "indexing/sync", paths: ["src/indexing/", "src/sync/"] },
  { name: "risk/services", paths: ["src/risk/", "src/services/"] },
  { name: "api", paths: ["src/api/", "src/console/", "src/web-public/", "src/client/"] },
  { name: "gateway/main/cluster", paths: ["src/gateway.ts", "src/main.ts", "src/cluster.ts"] },
];

const ROOT = path.join(__dirname, "..", "..");
const rel = (abs: string) => path.relative(ROOT, abs).split(path.sep).join("/");

function layerOf(file: string): number {
  const i = LAYERS.findIndex((l) => l.paths.some((p) => (p.endsWith("/") ? file.startsWith(p) : file === p)));
  if (i < 0) throw new Error(`${file} is in no layer: add it to LAYERS in test/gateway/layers.test.ts`);
  return i;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const abs = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === "node_modules" || d.name === "public" ? [] : sourceFiles(abs);
    return /\.ts$/.test(d.name) && !/\.d\.ts$/.test(d.name) ? [abs] : [];
  });
}

/** The project files `file` imports (type-only imports included), as paths from the repository's root. */
function importsOf(file: string): { spec: string; target: string }[] {
  const info = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith("."))
    .flatMap((spec) => {
      const base = path.resolve(path.dirname(file), spec);
      const target = [`${base}.ts`, path.join(base, "index.ts"), base].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
      return target ? [{ spec, target: rel(target) }] : [];
    })
    .filter((i) => i.target.startsWith("src/"));
}

const files = sourceFiles(path.join(ROOT, "src")).map(rel).sort();
const graph = new Map(files.map((f) => [f, importsOf(path.join(ROOT, f))]));

describe("the gateway's layers", () => {
  it("every file of src/ is in a layer", () => {
    expect(files.length).to.be.greaterThan(50);
    for (const f of files) layerOf(f);
  });

  it("no file imports a layer above its own", () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      for (const { spec, target } of imports) {
        if (layerOf(target) > layerOf(file)) {
          wrong.push(`${file} (${LAYERS[layerOf(file)]!.name}) imports "${spec}" = ${target} (${LAYERS[layerOf(target)]!.name})`);
        }
      }
    }
    expect(wrong, wrong.join("\n")).to.deep.equal([]);
  });

  it("only the API speaks HTTP: no file below it imports express or the API's errors", () => {
    const api = LAYERS.findIndex((l) => l.name === "api");
    const wrong: string[] = [];
    for (const file of files) {
      if (layerOf(file) >= api) continue;
      const text = fs.readFileSync(path.join(ROOT, file), "utf8");
      const modules = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
      for (const m of modules) if (m === "express" || m === "supertest") wrong.push(`${file} imports "${m}"`);
      if (/\bApiError\b/.test(text)) wrong.push(`${file} names ApiError (throw a Refusal: src/api/errors.ts gives it its status)`);
    }
    expect(wrong, wrong.join("\n")).to.deep.equal([]);
  });

  it("the API holds no SQL: its reads and writes are in the store's modules or the services", () => {
    const wrong: string[] = [];
    for (const file of files.filter((f) => f.startsWith("src/api/"))) {
      fs.readFileSync(path.join(ROOT, file), "utf8").split("\n").forEach((line, i) => {
        if (/\b(?:db|tx|gate\.db|s\.db)\.query\s*[<(]/.test(line) || /\b(?:SELECT\s+[\w*]|INSERT INTO|DELETE FROM|UPDATE\s+\w+\s+SET)\b/.test(line)) {
          wrong.push(`${file}:${i + 1}: ${line.trim().slice(0, 120)}`);
        }
      });
    }
    expect(wrong, wrong.join("\n")).to.deep.equal([]);
  });

  it("no import cycle exists", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, "open");
      stack.push(f);
      for (const { target } of graph.get(f) ?? []) {
        if (state.get(target) === "open") cycles.push([...stack.slice(stack.indexOf(target)), target].join(" → "));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(f, "done");
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles, cycles.join("\n")).to.deep.equal([]);
  });

  it("would name a file that imports a layer above it", () => {
    // The check itself: a service importing the API is caught.
    expect(layerOf("src/services/context.ts")).to.be.lessThan(layerOf("src/api/auth.ts"));
    expect(layerOf("src/store/db.ts")).to.be.lessThan(layerOf("src/chain/rpc.ts"));
  });
});
