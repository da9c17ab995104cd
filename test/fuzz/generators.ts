import fc from "fast-check";

/**
 * fast-check generators of hostile HTTP requests, driven by the gateway's OpenAPI document: for each operation,
 * who calls (every role, other parties, no key, malformed, unknown and revoked keys), its path parameters (real ids
 * of this party and others', unknown ids, garbage), its query and its body (values that fit the JSON schema, mixed
 * with wrong types, huge, negative and fractional numbers and money, unknown fields, missing fields, malformed JSON,
 * wrong content types, deep nesting and oversized bodies).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Schema = any;

export interface Param {
  name: string;
  required: boolean;
  schema: Schema;
}

export interface Operation {
  method: string;
  path: string; // OpenAPI style: /v1/cards/{cardId}
  pathParams: Param[];
  queryParams: Param[];
  body?: Schema;
  /** Who may call it, from the operation's description ("Roles: a, b."); "public" needs no key. */
  roles: string[] | "public";
}

/** Ids and keys of the fuzzed world, so generated requests can aim at real things, their own and others'. */
export interface Pools {
  merchantIds: number[];
  cardIds: string[];
  bankIds: number[];
  industryIds: number[];
  addresses: string[];
  ticketIds: string[];
  rowIds: string[];
  keys: Record<string, string>;
  /** The role of each key in `keys`. */
  roleOf: Record<string, string>;
  signedTx: string;
}

/** A concrete request. */
export interface RequestSpec {
  op: { method: string; path: string };
  who: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export function operationsOf(doc: { paths: Record<string, Record<string, Schema>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params: Schema[] = op.parameters ?? [];
      ops.push({
        method,
        path,
        pathParams: params.filter((p) => p.in === "path").map((p) => ({ name: p.name, required: true, schema: p.schema ?? {} })),
        queryParams: params.filter((p) => p.in === "query").map((p) => ({ name: p.name, required: !!p.required, schema: p.schema ?? {} })),
        body: op.requestBody?.content?.["application/json"]?.schema,
        roles: /Public\./.test(op.description ?? "") ? "public" : (/Roles: ([^.]+)\./.exec(op.description ?? "")?.[1].split(/,\s*/) ?? []),
      });
    }
  }
  return ops;
}

// ------------------------------------------------------------------------------------------------ hostile values

/** Already URL-ready path segments that are not ids. */
const GARBAGE_SEGMENTS = [
  "-1", "0", "1.5", "1e3", "0x10", "abc", "%20", "%00", "%2F", "..", "%2e%2e", "%ZZ", "%", "9".repeat(25), "18446744073709551616",
  "4294967296", "4294967295", "NaN", "Infinity", "-0", "%201", "%EF%BC%91", "%F0%9F%92%A5", "null", "__proto__", "constructor",
  "1%3B%20DROP%20TABLE%20merchants", "0x" + "ab".repeat(20), "0x" + "AB".repeat(19), "T-1%0A", "a".repeat(300),
];

const HOSTILE_SCALARS: unknown[] = [
  null, -1, 0, 1.5, -0.5, 2 ** 53, 2 ** 64, 1e308, -1e308, 1e-7, "", " ", "-1", "1.5", "12.5", "1e5", "0x10", "9".repeat(40),
  "NaN", "Infinity", true, false, [], {}, [1, 2], { $gt: "" }, "\u0000", "😀", "__proto__", "a".repeat(3000), "1 ", "١٢٣",
];

/** Money: negative, fractional, float-looking, exponent, hex, huge, padded. */
const HOSTILE_MONEY: unknown[] = [
  -1, -0.01, 0.5, 1.5, 12.25, 1e21, 2 ** 53, 2 ** 63, Number.MAX_VALUE, "-1", "-0", "1.5", "12.5", "1e5", "0x10", " 1", "1 ", "+1",
  "99999999999999999999", "281474976710656", "18446744073709551616", "", "NaN", null, true, [], {}, "١٢",
];

const isMoney = (name: string) => /fen$|price|amount|balance/i.test(name);

function hostile(name: string): fc.Arbitrary<unknown> {
  return fc.constantFrom(...(isMoney(name) ? [...HOSTILE_MONEY, ...HOSTILE_SCALARS.slice(0, 8)] : HOSTILE_SCALARS));
}

// ------------------------------------------------------------------------------------------------ schema-shaped values

function idsFor(name: string, pools: Pools): unknown[] | null {
  if (/merchantId/i.test(name)) return pools.merchantIds;
  if (/cardId/i.test(name)) return pools.cardIds;
  if (/bankId/i.test(name)) return pools.bankIds;
  if (/industryId/i.test(name)) return pools.industryIds;
  if (/ticketId/i.test(name)) return pools.ticketIds;
  if (/^(holder|account|address|regulator|to|subject)$/i.test(name)) return pools.addresses;
  if (/^id$/.test(name)) return pools.rowIds;
  if (/signedTransaction/i.test(name)) return [pools.signedTx];
  if (/planIndex/i.test(name)) return [1, 2, 99];
  return null;
}

/** A value that fits `schema` (or nearly: ids come from the pools, whatever the schema says). */
function fitting(schema: Schema, name: string, pools: Pools, depth: number): fc.Arbitrary<unknown> {
  if (!schema || typeof schema !== "object") return fc.constant(1);
  const branches: Schema[] | undefined = schema.anyOf ?? schema.oneOf;
  if (branches?.length) return fc.oneof(...branches.map((b: Schema) => fitting(b, name, pools, depth)));
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (Array.isArray(schema.enum) && schema.enum.length) return fc.constantFrom(...schema.enum);
  const ids = idsFor(name, pools);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (ids && (type === "string" || type === "integer" || type === "number" || type === undefined)) {
    return fc.constantFrom(...ids).map((v) => (type === "string" ? String(v) : typeof v === "string" && /^\d+$/.test(v) && type ? Number(v) : v));
  }
  switch (type) {
    case "string": {
      const pattern: string = schema.pattern ?? "";
      if (pattern.includes("{40}")) return fc.constantFrom(...pools.addresses);
      if (pattern.includes("{64}")) return fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => "0x" + Buffer.from(b).toString("hex"));
      if (/\\d|0-9/.test(pattern) && !pattern.includes("A-Z")) return fc.bigInt({ min: 0n, max: 10n ** 12n }).map(String);
      const min = schema.minLength ?? 0;
      const max = Math.max(min, Math.min(schema.maxLength ?? 24, 48));
      return fc.string({ minLength: min, maxLength: max });
    }
    case "integer":
    case "number": {
      const lo = typeof schema.minimum === "number" ? schema.minimum : typeof schema.exclusiveMinimum === "number" ? schema.exclusiveMinimum + 1 : 0;
      const hi = typeof schema.maximum === "number" ? schema.maximum : 1_000_000;
      const clampedHi = Math.min(hi, lo + 1_000_000_000);
      return fc.oneof(fc.constantFrom(lo, clampedHi), fc.integer({ min: Math.max(lo, -1e9), max: Math.max(Math.min(clampedHi, 1e9), Math.max(lo, -1e9)) }));
    }
    case "boolean":
      return fc.boolean();
    case "array": {
      if (depth > 3) return fc.constant([]);
      const min = schema.minItems ?? 0;
      return fc.array(value(schema.items ?? {}, name, pools, depth + 1), { minLength: min, maxLength: Math.max(min, Math.min(schema.maxItems ?? 3, 3)) });
    }
    case "object": {
      if (depth > 3) return fc.constant({});
      const props: Record<string, Schema> = schema.properties ?? {};
      const required: string[] = schema.required ?? [];
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, s] of Object.entries(props)) model[k] = value(s, k, pools, depth + 1);
      return fc.record(model, { requiredKeys: Object.keys(props).filter((k) => required.includes(k)) });
    }
    default:
      return fc.oneof(fc.constant(1), fc.constant("x"), fc.constant(null));
  }
}

/** Mostly fitting, sometimes hostile: about one leaf in six is wrong. */
function value(schema: Schema, name: string, pools: Pools, depth: number): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 5, arbitrary: fitting(schema, name, pools, depth) }, { weight: 1, arbitrary: hostile(name) });
}

/** An object body: fitting, then maybe a required field dropped, an unknown field added, or a prototype key. */
function objectBody(schema: Schema, pools: Pools): fc.Arbitrary<string> {
  const required: string[] = schema.required ?? [];
  return fc.tuple(
    value(schema, "body", pools, 0),
    fc.constantFrom("none", "none", "none", "drop", "unknown", "proto", "duplicate"),
    fc.constantFrom(...(required.length ? required : ["x"])),
  ).map(([v, mutation, key]) => {
    if (!v || typeof v !== "object" || Array.isArray(v)) return JSON.stringify(v);
    const obj = { ...(v as Record<string, unknown>) };
    if (mutation === "drop") delete obj[key];
    if (mutation === "unknown") obj.unexpectedField = 1;
    const text = JSON.stringify(obj);
    if (mutation === "proto") return text.replace(/^\{/, '{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},').replace(",}", "}");
    if (mutation === "duplicate" && text.length > 2) return text.replace(/\}$/, `,${JSON.stringify(key)}:-1}`);
    return text;
  });
}

const MALFORMED_JSON = ["{bad", '{"a":', "", "[", "\u0000", "{'a':1}", '{"a":1,}', "nul", "{\"a\":1}}", "\uFEFF{}", "1".repeat(400)];

function bodyOf(op: Operation, pools: Pools): fc.Arbitrary<{ body?: string; type?: string }> {
  const json = (a: fc.Arbitrary<string>) => a.map((body) => ({ body, type: "application/json" }));
  const schema = op.body ?? { type: "object", properties: {}, additionalProperties: false };
  const objectSchemas: Schema[] = (schema.anyOf ?? [schema]).filter((s: Schema) => s?.type === "object");
  return fc.oneof(
    { weight: 12, arbitrary: json(objectSchemas.length ? fc.oneof(...objectSchemas.map((s) => objectBody(s, pools))) : fc.constant("{}")) },
    { weight: 2, arbitrary: json(fc.constantFrom("[]", "[{}]", "1", "-1", '"x"', "null", "true", "0.5", '{"vouchers":null}')) },
    { weight: 2, arbitrary: json(fc.constantFrom(...MALFORMED_JSON)) },
    { weight: 1, arbitrary: fc.constantFrom(
      { body: '{"a":1}', type: "text/plain" }, { body: "ref,direction,amountFen\nx,in,-1\n", type: "text/csv" },
      { body: "a=1&b=2", type: "application/x-www-form-urlencoded" }, { body: "<x/>", type: "application/xml" },
      { body: '{"a":1}', type: "application/json; charset=utf-16" }, { body: '{"a":1}', type: "" },
    ) },
    { weight: 1, arbitrary: json(fc.integer({ min: 100, max: 20_000 }).map((n) => "[".repeat(n) + "]".repeat(n))) },
    { weight: 1, arbitrary: json(fc.constant(JSON.stringify({ pad: "x".repeat(70 * 1024) }))) },
    { weight: 1, arbitrary: fc.constant({}) },
  );
}

function queryOf(op: Operation, pools: Pools): fc.Arbitrary<string> {
  const entries = op.queryParams.map((p) =>
    fc.option(
      fc.oneof(
        { weight: 5, arbitrary: fitting(p.schema, p.name, pools, 0).map((v) => [[p.name, String(v)]]) },
        { weight: 1, arbitrary: hostile(p.name).map((v) => [[p.name, typeof v === "string" ? v : JSON.stringify(v)]]) },
        { weight: 1, arbitrary: fc.tuple(fitting(p.schema, p.name, pools, 0), hostile(p.name)).map(([a, b]) => [[p.name, String(a)], [p.name, String(b)]]) },
      ),
      { freq: 2 },
    ),
  );
  return fc.tuple(
    fc.tuple(...(entries.length ? entries : [fc.constant(null)])),
    fc.constantFrom("", "", "", "&unknown=1", "&limit=-1", "&cursor=%%%", "&cursor=AAAA", "&__proto__[x]=1", "&a[b]=c"),
  ).map(([parts, extra]) => {
    const pairs = (parts as ([string, string][] | null)[]).filter((x): x is [string, string][] => !!x).flat();
    const q = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&") + extra;
    return q ? "?" + q.replace(/^&/, "") : "";
  });
}

const CALLERS = ["none", "malformed", "unknown", "bearer", "session"];

export function requestArbitrary(ops: Operation[], pools: Pools): fc.Arbitrary<RequestSpec> {
  const anyone = fc.constantFrom(...Object.keys(pools.keys), ...CALLERS);
  return fc.constantFrom(...ops).chain((op) => {
    // half the time someone the route admits, so requests get past authorisation to the validation behind it
    const admitted = op.roles === "public" ? [] : Object.keys(pools.keys).filter((k) => op.roles.includes(pools.roleOf[k]));
    const who = admitted.length ? fc.oneof(fc.constantFrom(...admitted), anyone) : anyone;
    return fc.record({
      who,
      segments: fc.tuple(
        fc.constant(null),
        ...op.pathParams.map((p) =>
          fc.oneof(
            { weight: 6, arbitrary: fitting(p.schema, p.name, pools, 0).map((v) => encodeURIComponent(String(v))) },
            { weight: 2, arbitrary: fc.constantFrom(...GARBAGE_SEGMENTS) },
          ),
        ),
      ),
      query: queryOf(op, pools),
      body: op.method === "get" || op.method === "delete" ? fc.constant<{ body?: string; type?: string }>({}) : bodyOf(op, pools),
    }).map(({ who: caller, segments, query, body }) => {
      let i = 1;
      const path = op.path.replace(/\{[A-Za-z]+\}/g, () => String(segments[i++])) + query;
      const headers: Record<string, string> = {};
      const anyKey = Object.values(pools.keys)[path.length % Object.keys(pools.keys).length];
      if (caller === "malformed") headers["x-api-key"] = "nope";
      else if (caller === "unknown") headers["x-api-key"] = "ck_000000000000_" + "a".repeat(32);
      else if (caller === "bearer") headers.authorization = "Bearer " + anyKey;
      else if (caller === "session") headers.authorization = "Bearer cs_0123456789ab_" + "b".repeat(32);
      else if (caller !== "none") headers["x-api-key"] = pools.keys[caller];
      if (body.type) headers["content-type"] = body.type;
      return { op: { method: op.method, path: op.path }, who: caller, path, headers, body: body.body };
    });
  });
}

export function renderRequest(spec: RequestSpec, _pools: Pools): { method: string; path: string; headers: Record<string, string>; body?: string } {
  return { method: spec.op.method.toUpperCase(), path: spec.path, headers: spec.headers, body: spec.body };
}
