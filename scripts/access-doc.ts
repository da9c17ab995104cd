import fs from "node:fs";
import path from "node:path";
import { accessTableMarkdown } from "../src/api/access-table";

/** Writes docs/access.md from the routes' access declarations. */
const file = path.join(__dirname, "..", "docs", "access.md");
fs.writeFileSync(file, accessTableMarkdown());
console.log(`wrote ${path.relative(process.cwd(), file)}`);
