import fs from "node:fs";
import { declaredRoutes } from "../src/api/access-table";
import { openApiDocument } from "../src/api/openapi";

/** Writes the OpenAPI document the gateway serves at /openapi.json (to a file, or stdout): for linters and client generators. */
declaredRoutes();
const doc = JSON.stringify(openApiDocument({ version: "0.1.0", chainId: 31337, escrow: "0x0000000000000000000000000000000000000000" }), null, 2);
if (process.argv[2]) fs.writeFileSync(process.argv[2], doc);
else process.stdout.write(doc + "\n");
