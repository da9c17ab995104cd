import { z } from "zod";
import { docs } from "./http";
import { PUBLIC, accessDoc, roleLines } from "./access";

function schemaOf(t: z.ZodType | undefined, io: "input" | "output" = "input") {
  if (!t) return undefined;
  try {
    return z.toJSONSchema(t, { io, unrepresentable: "any" });
  } catch {
    return {};
  }
}

/** The OpenAPI 3.1 document, generated from the zod schemas the routes validate with. */
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
    const isPublic = d.access === PUBLIC;
    const consumers = !isPublic && d.access !== PUBLIC && "consumer" in d.access.roles;
    const who = roleLines(d.access).map((l) => `- ${l.name}: ${l.rule}`).join("\n");
    const op: Record<string, unknown> = {
      summary: d.summary,
      tags: [d.tag],
      description: (d.responds ? d.responds + ".\n\n" : "") + (isPublic ? "Public: no key needed." : `Who may call it:\n${who}`),
      parameters,
      security: isPublic ? [] : consumers ? [{ apiKey: [] }, { consumerSession: [] }] : [{ apiKey: [] }],
      "x-access": accessDoc(d.access),
      responses: {
        "200": { description: "OK" },
        "400": { description: "Invalid fields", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
        ...(isPublic ? {} : { "401": { description: "No or bad API key" }, "403": { description: "Not allowed for this principal, or not its tenant's data" } }),
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
      description: `Money is in fen (1/100 CNY), as decimal strings in answers. Chain ${info.chainId}, escrow ${info.escrow}.`,
    },
    components: {
      securitySchemes: {
        apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        consumerSession: { type: "http", scheme: "bearer", description: "a consumer's session token (cs_…) from POST /v1/public/consumer-sessions" },
      },
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
