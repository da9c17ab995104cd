import crypto from "node:crypto";
import { ethers } from "ethers";
import { z } from "zod";
import { Refusal } from "../errors";
import { Db } from "../store/db";
import { readCsv } from "../csv";

/**
 * The onboarding ledger (存管纳入台账): the district's prepaid businesses that must put their cards in custody, as
 * the district sends them (CSV or JSON), and how far each is: not started, started (an application is in, it is not
 * admitted yet) or onboarded (admitted in the escrow). A business is linked to its merchant by the registration
 * number's keccak-256 hash, which is what the escrow stores for a merchant; nobody has to type merchant ids.
 */

const dateText = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date is YYYY-MM-DD");
const yes = z.union([z.boolean(), z.enum(["true", "false", "1", "0", "yes", "no", ""])]).transform((v) => (typeof v === "boolean" ? v : v === "" ? true : ["true", "1", "yes"].includes(v)));

export const onboardingRowSchema = z.object({
  registrationNumber: z.string().trim().min(1).max(64),
  name: z.string().trim().min(1).max(200),
  district: z.string().trim().max(100).optional().transform((v) => v || null),
  industryId: z.coerce.number().int().min(0).max(65535),
  required: yes.default(true),
  startedOn: z.union([dateText, z.literal("")]).optional().transform((v) => v || null),
  note: z.string().max(500).optional().transform((v) => v || null),
}).strict();
export type OnboardingRow = z.output<typeof onboardingRowSchema>;

const CSV_COLUMNS: Record<string, keyof z.input<typeof onboardingRowSchema>> = {
  registration_number: "registrationNumber", name: "name", district: "district", industry_id: "industryId", required: "required",
  started_on: "startedOn", note: "note",
};

/** Reads a CSV (header: registration_number,name,district,industry_id,required,started_on,note) or JSON array of rows. */
export function parseOnboardingFile(body: unknown): { format: "csv" | "json"; rows: OnboardingRow[] } {
  let raw: Record<string, unknown>[];
  let format: "csv" | "json";
  const problems: { field: string; reason: string }[] = [];
  if (typeof body === "string") {
    format = "csv";
    const csv = readCsv(body);
    if (csv.problem) throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: `body.line ${csv.problem.line}`, reason: csv.problem.reason }]);
    const [header, ...lines] = csv.records.map((r) => r.cells);
    if (!header) throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: "body", reason: "the CSV is empty" }]);
    const cols = header.map((h) => CSV_COLUMNS[h.trim().toLowerCase()]);
    header.forEach((h, i) => { if (!cols[i]) problems.push({ field: `body.header.${i}`, reason: `unknown column ${h}; known: ${Object.keys(CSV_COLUMNS).join(", ")}` }); });
    if (problems.length) throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", problems);
    raw = lines.map((l) => Object.fromEntries(cols.map((c, i) => [c, l[i] ?? ""]).filter(([, v]) => v !== "")));
  } else if (Array.isArray(body) || (body && typeof body === "object" && Array.isArray((body as { rows?: unknown }).rows))) {
    format = "json";
    raw = (Array.isArray(body) ? body : (body as { rows: Record<string, unknown>[] }).rows) as Record<string, unknown>[];
  } else {
    throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: "body", reason: "send text/csv, or JSON: an array of rows or {rows: [...]}" }]);
  }
  if (raw.length === 0) throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: "body", reason: "no rows" }]);
  if (raw.length > 200_000) throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: "body", reason: "at most 200,000 rows per file" }]);
  const rows: OnboardingRow[] = [];
  const seen = new Set<string>();
  raw.forEach((r, i) => {
    const parsed = onboardingRowSchema.safeParse(r);
    if (!parsed.success) {
      for (const issue of parsed.error.issues.slice(0, 5)) problems.push({ field: `rows.${i}.${issue.path.join(".")}`, reason: issue.message });
      return;
    }
    if (seen.has(parsed.data.registrationNumber)) problems.push({ field: `rows.${i}.registrationNumber`, reason: `${parsed.data.registrationNumber} appears twice in the file` });
    seen.add(parsed.data.registrationNumber);
    rows.push(parsed.data);
  });
  if (problems.length) throw new Refusal("unprocessable", "InvalidRows", `${problems.length} problem(s) in the file; nothing was imported`, problems.slice(0, 200));
  return { format, rows };
}

/** Applies a file: rows are inserted or replaced by registration number, all or none. Fills missing merchant profiles. */
export async function importOnboarding(db: Db, body: unknown, importedBy: string) {
  const { format, rows } = parseOnboardingFile(body);
  const json = JSON.stringify(rows.map((r) => ({ ...r, registry_ref: ethers.id(r.registrationNumber) })));
  const id = crypto.createHash("sha256").update(json).digest("hex").slice(0, 32);
  return db.transaction(async (tx) => {
    const out = await tx.query<{ inserted: boolean }>(
      `INSERT INTO onboarding_businesses (registration_number, registry_ref, name, district, industry_id, required, started_on, note, import_id)
       SELECT "registrationNumber", registry_ref, name, district, "industryId", required, "startedOn", note, $2
       FROM jsonb_to_recordset($1::jsonb) AS x("registrationNumber" text, registry_ref text, name text, district text, "industryId" int, required boolean, "startedOn" text, note text)
       ON CONFLICT (registration_number) DO UPDATE SET name = EXCLUDED.name, district = EXCLUDED.district, industry_id = EXCLUDED.industry_id,
         required = EXCLUDED.required, started_on = EXCLUDED.started_on, note = EXCLUDED.note, import_id = EXCLUDED.import_id, updated_at = now()
       RETURNING (xmax = 0) AS inserted`,
      [json, id],
    );
    const inserted = out.filter((r) => r.inserted).length;
    await tx.query(
      `INSERT INTO onboarding_imports (id, format, rows, inserted, updated, imported_by) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO NOTHING`,
      [id, format, rows.length, inserted, rows.length - inserted, importedBy],
    );
    const linked = await tx.query(
      `INSERT INTO merchant_profiles (merchant_id, name, registration_number, district, source)
       SELECT m.merchant_id, o.name, o.registration_number, o.district, 'onboarding' FROM onboarding_businesses o
       JOIN merchants m ON m.registry_ref = o.registry_ref WHERE o.import_id = $1
       ON CONFLICT (merchant_id) DO NOTHING RETURNING merchant_id`,
      [id],
    );
    return { importId: id, format, rows: rows.length, inserted, updated: rows.length - inserted, profilesFilled: linked.length };
  });
}

/** The profile a regulator gives at admission; without one, the onboarding ledger's entry for the registration number. */
export async function recordProfile(db: Db, merchantId: number, p: { registrationNumber: string; name?: string; district?: string }) {
  let { name, district } = p;
  if (!name) {
    const [o] = await db.query<{ name: string; district: string | null }>("SELECT name, district FROM onboarding_businesses WHERE registration_number = $1", [p.registrationNumber]);
    if (!o) return false;
    name = o.name;
    district = district ?? o.district ?? undefined;
  }
  await db.query(
    `INSERT INTO merchant_profiles (merchant_id, name, registration_number, district, source) VALUES ($1, $2, $3, $4, 'admission')
     ON CONFLICT (merchant_id) DO UPDATE SET name = EXCLUDED.name, registration_number = EXCLUDED.registration_number, district = EXCLUDED.district, source = 'admission', updated_at = now()`,
    [merchantId, name, p.registrationNumber, district ?? null],
  );
  return true;
}

export const ONBOARDING_STATES = ["not_started", "started", "onboarded"] as const;
export type OnboardingState = (typeof ONBOARDING_STATES)[number];

const STATE_SQL = `CASE WHEN m.merchant_id IS NOT NULL THEN 'onboarded' WHEN o.started_on IS NOT NULL THEN 'started' ELSE 'not_started' END`;

/** Counts of required businesses per industry and overall: required, not started, started, onboarded. */
export async function onboardingProgress(db: Db, industries?: number[]) {
  const args: unknown[] = [];
  let where = "o.required";
  if (industries) {
    args.push(industries);
    where += " AND o.industry_id = ANY($1::int[])";
  }
  const rows = await db.query<{ industry_id: number; state: OnboardingState; n: string }>(
    `SELECT o.industry_id, ${STATE_SQL} AS state, count(*) AS n FROM onboarding_businesses o
     LEFT JOIN LATERAL (SELECT merchant_id FROM merchants WHERE registry_ref = o.registry_ref ORDER BY merchant_id LIMIT 1) m ON true
     WHERE ${where} GROUP BY 1, 2 ORDER BY 1`,
    args,
  );
  const empty = () => ({ required: 0, notStarted: 0, started: 0, onboarded: 0 });
  const overall = empty();
  const by = new Map<number, ReturnType<typeof empty>>();
  for (const r of rows) {
    const c = by.get(Number(r.industry_id)) ?? empty();
    const n = Number(r.n);
    const key = r.state === "not_started" ? "notStarted" : r.state;
    c[key] += n;
    c.required += n;
    overall[key] += n;
    overall.required += n;
    by.set(Number(r.industry_id), c);
  }
  const pct = (c: ReturnType<typeof empty>) => (c.required ? Math.round((c.onboarded * 10_000) / c.required) / 100 : null);
  return {
    overall: { ...overall, onboardedPercent: pct(overall) },
    industries: [...by].map(([industryId, c]) => ({ industryId, ...c, onboardedPercent: pct(c) })),
  };
}

/** The ledger's rows with their state and linked merchant, by registration number. */
export async function onboardingList(db: Db, opts: { state?: OnboardingState; industries?: number[]; industryId?: number; after?: string | null; limit: number }) {
  const args: unknown[] = [opts.after ?? ""];
  const where = ["o.registration_number > $1"];
  if (opts.industries) { args.push(opts.industries); where.push(`o.industry_id = ANY($${args.length}::int[])`); }
  if (opts.industryId !== undefined) { args.push(opts.industryId); where.push(`o.industry_id = $${args.length}`); }
  if (opts.state) { args.push(opts.state); where.push(`${STATE_SQL} = $${args.length}`); }
  const rows = await db.query(
    `SELECT o.*, m.merchant_id, m.status AS merchant_status, ${STATE_SQL} AS state FROM onboarding_businesses o
     LEFT JOIN LATERAL (SELECT merchant_id, status FROM merchants WHERE registry_ref = o.registry_ref ORDER BY merchant_id LIMIT 1) m ON true
     WHERE ${where.join(" AND ")} ORDER BY o.registration_number LIMIT ${opts.limit + 1}`,
    args,
  );
  const page = rows.slice(0, opts.limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      registrationNumber: r.registration_number, name: r.name, district: r.district, industryId: Number(r.industry_id), required: r.required,
      startedOn: r.started_on, note: r.note, state: r.state, merchantId: r.merchant_id == null ? null : Number(r.merchant_id), merchantStatus: r.merchant_status ?? null,
    })),
    next: rows.length > opts.limit && last ? String(last.registration_number) : null,
  };
}
