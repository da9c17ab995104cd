import { z } from "zod";
import { docs, RouteDoc } from "./http";
import { PUBLIC, accessDoc, roleLines } from "./access";
import { errorAnswer } from "./answers";

function schemaOf(t: z.ZodType | undefined, io: "input" | "output" = "input") {
  if (!t) return undefined;
  try {
    const { $schema: _drop, ...schema } = z.toJSONSchema(t, { io, unrepresentable: "any" }) as Record<string, unknown>;
    return schema;
  } catch {
    return {};
  }
}

/** What a ledger row's amountFen means (src/indexing/ledgerRow.ts): the API's documentation says it once, here. */
const LEDGER_AMOUNTS =
  "A ledger row's amountFen is the money its event moved in custody, counted once, so the rows can be summed by event: " +
  "CardPurchased and CardRenewed: the whole price, into escrow (custodied + direct: the direct share waits there through the cooling-off); " +
  "LessonsConsumed, PeriodsReleased, DirectShareReleased: released to the merchant; " +
  "DisputeResolved: the merchant's released share of the decision (the refunded share is the CardRefunded row that follows); " +
  "CardRefunded, DirectShareReturned, RenewalRefunded: refunded to the holder; PaidOut: paid to the merchant. Every other event (RefundRequested included: " +
  "the sum asked is in args.amount) carries null. Paid in = released + refunded + held, per card, merchant and bank.";


const TAGS: Record<string, string> = {
  system: "health, API keys, the audit log of writes, the caller's own key",
  merchants: "a merchant's plans, cards, ledger, consumptions, payouts, refunds and exit",
  banks: "custodian banks: opening cards, positions, reconciliation, the payout queue",
  regulators: "merchants, industries and their policies, disputes",
  auditors: "the ledger, its CSV export and its verification against the chain",
  consumers: "a holder's cards, vouchers to sign, refund requests, relayed transactions",
  hotline: "12345 hotline tickets routed by the \"1+N\" plan",
  risk: "risk signals, ratings, overrides, alerts, banks' credit profiles",
  stats: "money over time and per industry",
  public: "what anyone may read without a key, and consumers' sign-in",
  enforcement: "the enforcement record and the onboarding ledger",
};

const ERRORS: Record<string, string> = {
  "400": "Invalid fields: each named with its reason",
  "401": "No key, or a malformed, unknown, revoked or expired one",
  "403": "Not allowed for this role, or not the caller's tenant's data (see who may call it above)",
  "404": "An unknown id",
  "409": "Refused by the contract (its custom error's name and arguments) or a conflicting state",
  "413": "The body is larger than the gateway accepts",
  "422": "Well-formed but refused: a voucher already used or signed by someone else, an unknown regulator",
  "429": "Too many requests from this address (Retry-After says when to try again)",
  "503": "The chain or the database did not answer; try again shortly",
};

const capitalized = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);

/** A stable operationId from the method and the path: GET /v1/merchants/:merchantId/cards is getMerchantsByMerchantIdCards. */
export function operationIdOf(method: string, path: string): string {
  const words = path.replace(/^\/v1\//, "/").split(/[/.-]/).filter(Boolean).map((w) => (w.startsWith(":") ? `By${capitalized(w.slice(1))}` : capitalized(w)));
  return method.toLowerCase() + words.join("");
}

function responsesOf(d: RouteDoc) {
  const out: Record<string, unknown> = {};
  for (const status of d.statuses ?? [200]) {
    const description = status === 201 ? "Created" : status === 202 ? "Accepted: queued" : "OK";
    const schema = schemaOf(d.response, "output") ?? (d.raw ? { type: "string" } : {});
    out[String(status)] = { description, content: { [d.produces ?? "application/json"]: { schema } } };
  }
  const hasBody = d.method !== "get" && d.method !== "delete";
  const codes = ["400", ...(d.access === PUBLIC ? [] : ["401", "403"]), "404", ...(hasBody ? ["409", "413", "422"] : ["409"]), ...(d.path.startsWith("/v1/public") ? ["429"] : []), "503"];
  for (const c of codes) out[c] = { description: ERRORS[c], content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
  return out;
}

/** The OpenAPI 3.1 document, generated from the zod schemas the routes validate with and answer in. */
export function openApiDocument(info: { version: string; chainId: number; escrow: string; server?: string }) {
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
    const consumers = d.access !== PUBLIC && "consumer" in d.access.roles;
    const who = roleLines(d.access).map((l) => `- ${l.name}: ${l.rule}`).join("\n");
    const op: Record<string, unknown> = {
      operationId: operationIdOf(d.method, d.path),
      summary: d.summary,
      tags: [d.tag],
      description: (d.responds ? d.responds + ".\n\n" : "") + (isPublic ? "Public: no key needed." : `Who may call it:\n${who}`),
      parameters,
      security: isPublic ? [] : consumers ? [{ apiKey: [] }, { consumerSession: [] }] : [{ apiKey: [] }],
      "x-access": accessDoc(d.access),
      responses: responsesOf(d),
    };
    if (d.body) {
      const json = schemaOf(d.body);
      op.requestBody = {
        // A body the route may go without (an optional zod schema) is optional for clients too.
        required: !d.body.safeParse(undefined).success,
        content: d.raw
          ? { "text/csv": { schema: { type: "string" } }, "application/x-ndjson": { schema: { type: "string" } } }
          : (json as { anyOf?: { type?: string }[] })?.anyOf?.some((a) => a.type === "string")
            ? { "application/json": { schema: json }, "text/csv": { schema: { type: "string" } } }
            : { "application/json": { schema: json } },
      };
    }
    paths[oaPath] = { ...(paths[oaPath] ?? {}), [d.method]: op };
  }
  const usedTags = [...new Set(docs.map((d) => d.tag))];
  return {
    openapi: "3.1.0",
    info: {
      title: "Prepaid-card custody gateway",
      version: info.version,
      description: `Money is in fen (1/100 CNY), as decimal strings in answers. Chain ${info.chainId}, escrow ${info.escrow}.\n\n${LEDGER_AMOUNTS}`,
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [{ url: info.server ?? "http://127.0.0.1:8080", description: "this gateway" }],
    tags: usedTags.map((name) => ({ name, description: TAGS[name] ?? name })),
    components: {
      securitySchemes: {
        apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        consumerSession: { type: "http", scheme: "bearer", description: "a consumer's session token (cs_…) from POST /v1/public/consumer-sessions" },
      },
      schemas: {
        Error: schemaOf(errorAnswer, "output"),
      },
    },
    paths,
  };
}
