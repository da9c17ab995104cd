import { expect } from "chai";
import fs from "node:fs";
import { CLIENT_SCHEMA, clientSchemaSource } from "../../scripts/client-schema";

describe("src/client/schema.ts", () => {
  it("is what openapi-typescript generates from /openapi.json (regenerate it with npm run client:schema)", async function () {
    this.timeout(120_000);
    const committed = fs.readFileSync(CLIENT_SCHEMA, "utf8");
    const generated = await clientSchemaSource();
    expect(generated).to.include('"/v1/merchants/{merchantId}"');
    expect(committed, "src/client/schema.ts is out of date: run npm run client:schema").to.equal(generated);
  });
});
