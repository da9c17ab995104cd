import { createHash } from "node:crypto";
import { z } from "zod";
import { Db, DbTx } from "../store/db";
import { Refusal } from "../errors";
import { readCsv } from "../csv";

/**
 * Risk signals from outside the chain (complaints, 12345 hotline tickets, enterprise registry facts, litigation):
 * validation, bulk files (CSV with a header line, or JSON Lines) and the single-record path.
 *
 * A record is flat, with the same camelCase names in a CSV header, a JSON line and an API body:
 *
 *   recordId, kind, source, merchantId, occurredAt            every kind
 *   category, refundRelated                                    complaint, hotline_ticket
 *   fact, action, detail?                                      registry_fact
 *   role, amountFen, caseType                                  litigation
 *
 * `recordId` is the sender's id and the idempotency key: a record already stored is counted as a duplicate and
 * left as it is. `occurredAt` is unix seconds, or an ISO 8601 date (a bare date is midnight in Beijing, UTC+8).
 * In the database the kind's own fields are one jsonb column with snake_case keys (amount_fen as a decimal
 * string, like every money value in this project).
 */

export const SIGNAL_KINDS = ["complaint", "hotline_ticket", "registry_fact", "litigation"] as const;
export type SignalKind = (typeof SIGNAL_KINDS)[number];

/** 经营异常名录, 失信被执行人, 注销 under way, 许可证/登记事项变更. */
export const REGISTRY_FACTS = ["abnormal_operation", "dishonest_debtor", "deregistration", "licence_change"] as const;
export type RegistryFact = (typeof REGISTRY_FACTS)[number];

export const LITIGATION_ROLES = ["defendant", "plaintiff", "third_party"] as const;
export type LitigationRole = (typeof LITIGATION_ROLES)[number];

interface SignalBase {
  recordId: string;
  source: string;
  merchantId: number;
  /** Unix seconds. */
  occurredAt: number;
}

export interface ComplaintSignal extends SignalBase {
  kind: "complaint" | "hotline_ticket";
  category: string;
  refundRelated: boolean;
}

export interface RegistryFactSignal extends SignalBase {
  kind: "registry_fact";
  fact: RegistryFact;
  /** The merchant was put on (listed) or taken off (removed) the list; a licence change is "listed" when made. */
  action: "listed" | "removed";
  detail?: string;
}

export interface LitigationSignal extends SignalBase {
  kind: "litigation";
  role: LitigationRole;
  amountFen: bigint;
  caseType: string;
}

/** One validated risk signal. */
export type RiskSignal = ComplaintSignal | RegistryFactSignal | LitigationSignal;

// ---------------------------------------------------------------- schemas

const EARLIEST = Date.UTC(2000, 0, 1) / 1000;
const text = (max: number, what: string) => z.string({ message: `${what} is text` }).trim().min(1, `${what} is required`).max(max, `${what} is at most ${max} characters`);

const merchantId = z
  .union([z.number(), z.string()], { message: "merchantId is a whole number" })
  .refine((v) => (typeof v === "number" ? Number.isSafeInteger(v) : /^\d{1,10}$/.test(v.trim())), "merchantId is a whole number")
  .transform((v) => Number(v))
  .refine((v) => v >= 1 && v <= 2 ** 32 - 1, "merchantId is between 1 and 4294967295");

/** Unix seconds, or an ISO date or date-time. A bare date is taken in Beijing time (UTC+8). */
const occurredAt = z
  .union([z.number(), z.string()], { message: "occurredAt is unix seconds or an ISO 8601 date" })
  .transform((v, ctx) => {
    let secs: number;
    if (typeof v === "number") secs = v;
    else if (/^\d{1,12}$/.test(v.trim())) secs = Number(v.trim());
    else if (/^\d{4}-\d{2}-\d{2}$/.test(v.trim())) secs = Date.parse(`${v.trim()}T00:00:00+08:00`) / 1000;
    else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v.trim())) secs = Math.floor(Date.parse(v.trim()) / 1000);
    else secs = NaN;
    if (!Number.isSafeInteger(secs) || secs < EARLIEST) {
      ctx.addIssue({ code: "custom", message: "occurredAt is unix seconds or an ISO 8601 date (with a time zone when it has a time), from 2000 on" });
      return z.NEVER;
    }
    return secs;
  });

const bool = (what: string) =>
  z.union([z.boolean(), z.string()], { message: `${what} is true or false` }).transform((v, ctx) => {
    if (typeof v === "boolean") return v;
    const s = v.trim().toLowerCase();
    if (["true", "1", "yes"].includes(s)) return true;
    if (["false", "0", "no"].includes(s)) return false;
    ctx.addIssue({ code: "custom", message: `${what} is true or false` });
    return z.NEVER;
  });

const amountFen = z
  .union([z.number(), z.string()], { message: "amountFen is a whole number of fen" })
  .refine((v) => (typeof v === "number" ? Number.isSafeInteger(v) && v >= 0 : /^\d{1,18}$/.test(v.trim())), {
    message: "amountFen is a whole, non-negative number of fen (no fractions, no floats)",
  })
  .transform((v) => BigInt(typeof v === "string" ? v.trim() : v));

const base = {
  recordId: text(200, "recordId"),
  source: text(100, "source"),
  merchantId,
  occurredAt,
};

/**
 * One risk signal as sent (JSON body, JSON line, or CSV row with empty cells left out). Strict: a field that
 * belongs to another kind, or an unknown one, is an error, which catches shifted CSV columns.
 */
export const riskSignalSchema = z.discriminatedUnion("kind", [
  z.strictObject({ ...base, kind: z.enum(["complaint", "hotline_ticket"]), category: text(64, "category"), refundRelated: bool("refundRelated") }),
  z.strictObject({
    ...base,
    kind: z.literal("registry_fact"),
    fact: z.enum(REGISTRY_FACTS, { message: `fact is one of ${REGISTRY_FACTS.join(", ")}` }),
    action: z.enum(["listed", "removed"], { message: "action is listed or removed" }),
    detail: z.string().trim().max(500, "detail is at most 500 characters").optional(),
  }),
  z.strictObject({
    ...base,
    kind: z.literal("litigation"),
    role: z.enum(LITIGATION_ROLES, { message: `role is one of ${LITIGATION_ROLES.join(", ")}` }),
    amountFen,
    caseType: text(64, "caseType"),
  }),
]);

export type RiskSignalInput = z.input<typeof riskSignalSchema>;

const CSV_COLUMNS = ["recordId", "kind", "source", "merchantId", "occurredAt", "category", "refundRelated", "fact", "action", "detail", "role", "amountFen", "caseType"];
const REQUIRED_COLUMNS = ["recordId", "kind", "source", "merchantId", "occurredAt"];

/** A field's problem, in the API's error-detail shape. */
export interface FieldProblem {
  field: string;
  reason: string;
}

/** A row of a rejected file: its line number (1-based, the header is line 1 of a CSV) and what is wrong. */
export interface BadRow {
  line: number;
  recordId?: string;
  problems: FieldProblem[];
}

/** Validates one record; the same rules as a file's rows. */
export function validateSignal(input: unknown, opts: { now?: number } = {}): { ok: true; signal: RiskSignal } | { ok: false; problems: FieldProblem[] } {
  const parsed = riskSignalSchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => ({
        field: i.code === "unrecognized_keys" ? (i as { keys: string[] }).keys.join(",") : i.path.map(String).join(".") || "record",
        reason: i.code === "unrecognized_keys" ? `not a field of a ${(input as { kind?: string }).kind} record` : i.message,
      })),
    };
  }
  const signal = parsed.data as RiskSignal;
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (signal.occurredAt > now + 86_400) return { ok: false, problems: [{ field: "occurredAt", reason: "occurredAt is in the future" }] };
  return { ok: true, signal };
}

// ---------------------------------------------------------------- file parsing

export type SignalFileFormat = "csv" | "jsonl";

interface RawRecord {
  line: number;
  value: unknown;
  /** A problem found before validation (a malformed line). */
  problem?: FieldProblem;
}

function parseCsv(text: string): { records: RawRecord[]; fileProblem?: BadRow } {
  const { records: rows, problem } = readCsv(text);
  const malformed = problem && { line: problem.line, value: null, problem: { field: "line", reason: `${problem.reason}; the lines after it are not read` } };
  const first = rows[0];
  if (!first) {
    return { records: [], fileProblem: malformed ? { line: malformed.line, problems: [malformed.problem] } : { line: 1, problems: [{ field: "header", reason: "the file is empty: the first line is the header" }] } };
  }
  const header = first.cells.map((c) => c.trim());
  const unknown = header.filter((h) => !CSV_COLUMNS.includes(h));
  const missing = REQUIRED_COLUMNS.filter((c) => !header.includes(c));
  const dup = header.filter((h, i) => header.indexOf(h) !== i);
  if (unknown.length || missing.length || dup.length) {
    const problems: FieldProblem[] = [];
    if (missing.length) problems.push({ field: "header", reason: `missing column(s) ${missing.join(", ")}` });
    if (unknown.length) problems.push({ field: "header", reason: `unknown column(s) ${unknown.join(", ")}; the columns are ${CSV_COLUMNS.join(", ")}` });
    if (dup.length) problems.push({ field: "header", reason: `repeated column(s) ${dup.join(", ")}` });
    return { records: [], fileProblem: { line: first.line, problems } };
  }
  const records = rows.slice(1).map((r): RawRecord => {
    if (r.cells.length !== header.length) {
      return { line: r.line, value: null, problem: { field: "line", reason: `${r.cells.length} cells, the header has ${header.length}` } };
    }
    const value: Record<string, string> = {};
    header.forEach((h, k) => {
      const v = (r.cells[k] ?? "").trim(); // as many cells as the header: checked above
      if (v !== "") value[h] = v; // an empty cell is an absent field
    });
    return { line: r.line, value };
  });
  if (malformed) records.push(malformed);
  return { records };
}

function parseJsonLines(text: string): RawRecord[] {
  const out: RawRecord[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, k) => {
    const s = (k === 0 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw).trim();
    if (s === "") return;
    try {
      const value = JSON.parse(s);
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        out.push({ line: k + 1, value: null, problem: { field: "line", reason: "each line is one JSON object" } });
      } else out.push({ line: k + 1, value });
    } catch (err) {
      out.push({ line: k + 1, value: null, problem: { field: "line", reason: `not JSON: ${(err as Error).message}` } });
    }
  });
  return out;
}

export interface ParsedFile {
  /** Records in the file (a CSV's header and blank lines not counted). */
  rows: number;
  signals: { line: number; signal: RiskSignal }[];
  badRows: BadRow[];
}

/**
 * Parses and validates a whole file without touching the database. Every bad row is listed, not only the
 * first. A record id repeated within the file is a bad row unless the two records are identical.
 */
export function parseSignalFile(text: string, format: SignalFileFormat, opts: { now?: number; onRow?: (done: number, total: number) => void } = {}): ParsedFile {
  let records: RawRecord[];
  if (format === "csv") {
    const csv = parseCsv(text);
    if (csv.fileProblem) return { rows: 0, signals: [], badRows: [csv.fileProblem] };
    records = csv.records;
  } else {
    records = parseJsonLines(text);
  }
  const signals: { line: number; signal: RiskSignal }[] = [];
  const badRows: BadRow[] = [];
  const seen = new Map<string, { line: number; key: string }>();
  records.forEach((r, k) => {
    opts.onRow?.(k + 1, records.length);
    const recordId = typeof (r.value as { recordId?: unknown })?.recordId === "string" ? String((r.value as { recordId: string }).recordId).trim() : undefined;
    if (r.problem) { badRows.push({ line: r.line, recordId, problems: [r.problem] }); return; }
    const v = validateSignal(r.value, opts);
    if (!v.ok) { badRows.push({ line: r.line, recordId, problems: v.problems }); return; }
    const key = JSON.stringify(toRow(v.signal, null));
    const earlier = seen.get(v.signal.recordId);
    if (earlier) {
      if (earlier.key !== key) badRows.push({ line: r.line, recordId, problems: [{ field: "recordId", reason: `recordId ${v.signal.recordId} is also on line ${earlier.line} with different content` }] });
      return; // an identical repeat is a duplicate of the earlier line
    }
    seen.set(v.signal.recordId, { line: r.line, key });
    signals.push({ line: r.line, signal: v.signal });
  });
  return { rows: records.length, signals, badRows };
}

/**
 * The merchants a file's rows name, read before the rows are validated (an access check refuses a file that names
 * another's merchants before saying anything about its rows). Rows without a whole-number merchantId are left out:
 * validation reports them.
 */
export function merchantsNamedIn(text: string, format: SignalFileFormat): { line: number; merchantId: number }[] {
  const records = format === "csv" ? parseCsv(text).records : parseJsonLines(text);
  const out: { line: number; merchantId: number }[] = [];
  for (const r of records) {
    const v = (r.value as { merchantId?: unknown } | null)?.merchantId;
    const n = typeof v === "number" ? v : typeof v === "string" && /^\d{1,10}$/.test(v.trim()) ? Number(v) : NaN;
    if (Number.isSafeInteger(n) && n > 0) out.push({ line: r.line, merchantId: n });
  }
  return out;
}

// ---------------------------------------------------------------- storing

/** The kind's own fields as stored in risk_signals.fields. */
export function signalFields(s: RiskSignal): Record<string, string | boolean> {
  switch (s.kind) {
    case "complaint":
    case "hotline_ticket":
      return { category: s.category, refund_related: s.refundRelated };
    case "registry_fact":
      return s.detail ? { fact: s.fact, action: s.action, detail: s.detail } : { fact: s.fact, action: s.action };
    case "litigation":
      return { role: s.role, amount_fen: s.amountFen.toString(), case_type: s.caseType };
  }
}

function toRow(s: RiskSignal, importId: string | null) {
  return { record_id: s.recordId, kind: s.kind, source: s.source, merchant_id: s.merchantId, occurred_at: s.occurredAt, fields: signalFields(s), import_id: importId };
}

/** Inserts rows, leaving stored record ids alone; returns the record ids inserted. */
async function insertSignals(tx: DbTx, signals: RiskSignal[], importId: string | null): Promise<Set<string>> {
  const rows = await tx.query<{ record_id: string }>(
    `INSERT INTO risk_signals (record_id, kind, source, merchant_id, occurred_at, fields, import_id)
     SELECT record_id, kind, source, merchant_id, occurred_at, fields, import_id
     FROM jsonb_to_recordset($1::jsonb) AS x(record_id text, kind text, source text, merchant_id bigint, occurred_at bigint, fields jsonb, import_id text)
     ON CONFLICT (record_id) DO NOTHING
     RETURNING record_id`,
    [JSON.stringify(signals.map((s) => toRow(s, importId)))],
  );
  return new Set(rows.map((r) => r.record_id));
}

/** Which of `ids` are not merchants of the index. */
async function unknownMerchants(db: Pick<Db, "query">, ids: number[]): Promise<Set<number>> {
  if (!ids.length) return new Set();
  const known = await db.query<{ merchant_id: string | number }>("SELECT merchant_id FROM merchants WHERE merchant_id = ANY($1::bigint[])", [ids]);
  const set = new Set(known.map((r) => Number(r.merchant_id)));
  return new Set(ids.filter((id) => !set.has(id)));
}

export interface ImportProgress {
  phase: "validating" | "applying";
  done: number;
  total: number;
}

export interface ImportOptions {
  format: SignalFileFormat;
  /** Calls `onProgress` every this many rows (and at the end of each phase). Default 1,000. */
  progressEvery?: number;
  onProgress?: (p: ImportProgress) => void;
  /** Rows about a merchant the index does not know are bad rows (default true): a typo in merchantId is caught. */
  knownMerchantsOnly?: boolean;
  /** Rows per INSERT statement inside the one transaction. Default 2,000. */
  chunkRows?: number;
  /** "Now" for the occurredAt-in-the-future check, unix seconds. */
  now?: number;
  /** Further checks on the rows' merchants (e.g. an industry regulator's own industries): a reason per refused merchant. */
  refuseMerchants?: (ids: number[]) => Promise<Map<number, string>>;
}

export type ImportResult =
  | { status: "rejected"; rows: number; badRows: BadRow[] }
  | {
      status: "applied";
      /** Digest of the file: the same file sent again gets the same id. */
      importId: string;
      rows: number;
      inserted: number;
      /** Rows whose record id was already stored (or repeated identically within the file): left unchanged. */
      duplicates: number;
    };

/**
 * Imports a bulk file of risk signals: all rows are validated first; a file with any bad row is rejected
 * whole (nothing is written) with every bad row listed; a good file is applied in one transaction. Sending the
 * same file again inserts nothing and reports every row as a duplicate.
 */
export async function importSignalFile(db: Db, text: string, opts: ImportOptions): Promise<ImportResult> {
  const every = Math.max(1, opts.progressEvery ?? 1000);
  const progress = (phase: ImportProgress["phase"], done: number, total: number) => {
    if (opts.onProgress && (done % every === 0 || done === total)) opts.onProgress({ phase, done, total });
  };
  const parsed = parseSignalFile(text, opts.format, { now: opts.now, onRow: (d, t) => progress("validating", d, t) });
  const rows = parsed.rows;
  if (opts.knownMerchantsOnly ?? true) {
    const unknown = await unknownMerchants(db, [...new Set(parsed.signals.map((s) => s.signal.merchantId))]);
    for (const s of parsed.signals) {
      if (unknown.has(s.signal.merchantId)) {
        parsed.badRows.push({ line: s.line, recordId: s.signal.recordId, problems: [{ field: "merchantId", reason: `merchant ${s.signal.merchantId} is not on the platform` }] });
      }
    }
  }
  if (opts.refuseMerchants) {
    const refused = await opts.refuseMerchants([...new Set(parsed.signals.map((s) => s.signal.merchantId))]);
    for (const s of parsed.signals) {
      const reason = refused.get(s.signal.merchantId);
      if (reason && !parsed.badRows.some((b) => b.line === s.line)) {
        parsed.badRows.push({ line: s.line, recordId: s.signal.recordId, problems: [{ field: "merchantId", reason }] });
      }
    }
  }
  if (parsed.badRows.length) {
    parsed.badRows.sort((a, b) => a.line - b.line);
    return { status: "rejected", rows, badRows: parsed.badRows };
  }
  if (rows === 0) {
    return { status: "rejected", rows, badRows: [{ line: 1, problems: [{ field: "file", reason: "the file has no records" }] }] };
  }
  const importId = "imp_" + createHash("sha256").update(opts.format).update("\n").update(text).digest("hex").slice(0, 32);
  const chunk = Math.max(1, opts.chunkRows ?? 2000);
  const signals = parsed.signals.map((s) => s.signal);
  const inserted = await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO risk_imports (id, format, rows, inserted, duplicates, status) VALUES ($1, $2, $3, 0, 0, 'applying')
       ON CONFLICT (id) DO NOTHING`,
      [importId, opts.format, rows],
    );
    let count = 0;
    for (let k = 0; k < signals.length; k += chunk) {
      count += (await insertSignals(tx, signals.slice(k, k + chunk), importId)).size;
      progress("applying", Math.min(k + chunk, signals.length), signals.length);
    }
    // A re-sent file keeps its first import's counts: that is when its rows were inserted.
    await tx.query(
      `UPDATE risk_imports SET inserted = $2, duplicates = $3, status = 'applied' WHERE id = $1 AND status = 'applying'`,
      [importId, count, rows - count],
    );
    return count;
  });
  return { status: "applied", importId, rows, inserted, duplicates: rows - inserted };
}

/**
 * The single-record path (the API's POST of one signal): the same validation as a file's rows. Throws
 * an invalid-input Refusal with `[{ field, reason }]` details when the record is invalid.
 */
export async function addSignal(
  db: Db,
  input: unknown,
  opts: { knownMerchantsOnly?: boolean; now?: number; refuseMerchants?: ImportOptions["refuseMerchants"] } = {},
): Promise<{ status: "inserted" | "duplicate"; signal: RiskSignal }> {
  const v = validateSignal(input, opts);
  if (!v.ok) throw new Refusal("invalid", "InvalidRequest", "the risk signal is invalid", v.problems);
  if ((opts.knownMerchantsOnly ?? true) && (await unknownMerchants(db, [v.signal.merchantId])).size) {
    throw new Refusal("invalid", "InvalidRequest", "the risk signal is invalid", [{ field: "merchantId", reason: `merchant ${v.signal.merchantId} is not on the platform` }]);
  }
  const refused = opts.refuseMerchants ? (await opts.refuseMerchants([v.signal.merchantId])).get(v.signal.merchantId) : undefined;
  if (refused) throw new Refusal("forbidden", "Forbidden", refused, [{ field: "merchantId", reason: refused }]);
  const inserted = await db.transaction((tx) => insertSignals(tx, [v.signal], null));
  return { status: inserted.size ? "inserted" : "duplicate", signal: v.signal };
}

/** Stored signals of a merchant, newest first, as the API shows them. */
export async function listSignals(db: Db, merchantId: number, opts: { kind?: SignalKind; limit?: number } = {}): Promise<StoredSignal[]> {
  const rows = await db.query<{ record_id: string; kind: SignalKind; source: string; merchant_id: string; occurred_at: string; fields: Record<string, unknown>; import_id: string | null }>(
    `SELECT record_id, kind, source, merchant_id, occurred_at, fields, import_id FROM risk_signals
     WHERE merchant_id = $1 AND ($2::text IS NULL OR kind = $2) ORDER BY occurred_at DESC, record_id DESC LIMIT $3`,
    [merchantId, opts.kind ?? null, opts.limit ?? 100],
  );
  return rows.map((r) => ({
    recordId: r.record_id, kind: r.kind, source: r.source, merchantId: Number(r.merchant_id), occurredAt: Number(r.occurred_at),
    fields: r.fields, importId: r.import_id,
  }));
}

export interface StoredSignal {
  recordId: string;
  kind: SignalKind;
  source: string;
  merchantId: number;
  occurredAt: number;
  /** The kind's fields, snake_case as stored (amount_fen a decimal string). */
  fields: Record<string, unknown>;
  importId: string | null;
}

/** The record id a 12345 ticket has as a risk signal: bulk files of tickets should use the same, so each counts once. */
export const hotlineRecordId = (ticketId: string) => `12345-${ticketId}`;

/**
 * A hotline ticket about a merchant is a risk signal (kind hotline_ticket, source 12345): written in the
 * routing's transaction; a ticket already stored (by id) is left as it is.
 */
export async function recordHotlineTicketSignal(tx: DbTx, t: { ticketId: string; merchantId: number; category: string; receivedAt: number }): Promise<boolean> {
  const signal: RiskSignal = {
    recordId: hotlineRecordId(t.ticketId), kind: "hotline_ticket", source: "12345", merchantId: t.merchantId, occurredAt: t.receivedAt,
    category: t.category, refundRelated: t.category === "refund",
  };
  return (await insertSignals(tx, [signal], null)).size > 0;
}
