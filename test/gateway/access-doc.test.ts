import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { accessTableMarkdown } from "../../src/api/access-table";

describe("docs/access.md", () => {
  it("is what the routes' access declarations give (regenerate it with npm run docs:access)", () => {
    const committed = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "access.md"), "utf8");
    const generated = accessTableMarkdown();
    expect(generated.split("\n").length).to.be.greaterThan(100);
    expect(committed, "docs/access.md is out of date: run npm run docs:access").to.equal(generated);
  });
});
