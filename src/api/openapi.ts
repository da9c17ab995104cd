import { z } from "zod";
import { docs } from "./http";

function schemaOf(t: z.ZodType | undefined, io: "input" | "output" = "input") {
  if (!t) return undefined;
  try {
    return z.toJSONSchema(t, { io, unrepresentable: "any" });
  } catch {
    return {};
  }
}

/** The OpenAPI 3.1 document, generated from the zod schemas the routes validate with. */
/** What a ledger row's amountFen means (src/indexing/ledgerRow.ts): the API's documentation says it once, here. */
const LEDGER_AMOUNTS =
  "A ledger row's amountFen is the money its event moved in custody, counted once, so the rows can be summed by event: " +
  "CardPurchased and CardRenewed: the custodied part, into escrow; LessonsConsumed, PeriodsReleased: released to the merchant; " +
  "DisputeResolved: the merchant's released share of the decision (the refunded share is the CardRefunded row that follows); " +
  "CardRefunded: refunded to the holder; PaidOut: paid to the merchant. Every other event (RefundRequested included: " +
  "the sum asked is in args.amount) carries null. Paid in = released + refunded + held, per card, merchant and bank.";

export function openApiDocument(info: { version: string; chainId: number; escrow: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of docs) {
    const oaPath = d.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const parameters: unknown[] = [];
    const params = schemaOf(d.params) as { properties?: Record<string, unknown>; required?: string[] } | undefined;
    for (const [name, schema] of Object.entries(params?.properties ?? {})) parameters.push({ name, in: "path", required: true, schema });
    const query = schemaOf(d.query) as { properties?: Record<string, unknown>; required?: string[] } | undefined;
    for (const [name, schema] of Object.entries(query?.properties ?? {})) {
      parameters.push({ name, in: "query", required: query?.required?.includes(name) ?? false, schema });
    }
    const op: Record<string, unknown> = {
      summary: d.summary,
      tags: [d.tag],
      description: (d.responds ? d.responds + ". " : "") + (d.roles === "public" ? "Public." : `Roles: ${d.roles.join(", ")}.`),
      parameters,
      security: d.roles === "public" ? [] : [{ apiKey: [] }],
      responses: {
        "200": { description: "OK" },
        "400": { description: "Invalid fields", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
        ...(d.roles === "public" ? {} : { "401": { description: "No or bad API key" }, "403": { description: "Not allowed for this principal" } }),
        "404": { description: "Unknown id" },
        "409": { description: "Refused by the contract (custom error name and arguments) or conflicting state" },
      },
    };
    if (d.body) op.requestBody = { required: true, content: { "application/json": { schema: schemaOf(d.body) } } };
    paths[oaPath] = { ...(paths[oaPath] ?? {}), [d.method]: op };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Prepaid-card custody gateway",
      version: info.version,
      description: `Money is in fen (1/100 CNY), as decimal strings in answers. Chain ${info.chainId}, escrow ${info.escrow}.\n\n${LEDGER_AMOUNTS}`,
    },
    components: {
      securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "X-API-Key" } },
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              properties: {
                code: { type: "string" },
                message: { type: "string" },
                details: { description: "for 400: [{ field, reason }]; for contract refusals: the custom error's arguments" },
              },
            },
          },
        },
      },
    },
    paths,
  };
}
