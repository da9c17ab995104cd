import { ethers } from "ethers";
import { EnforcementAnchor, EnforcementAnchor__factory } from "../../typechain-types";
import { Principal } from "./principal";
import { revertRefusal, waitReceipt } from "../chain/signers";
import { Refusal } from "../errors";
import { Db } from "../store/db";
import { Services, accountOf, getMerchant } from "./context";

/**
 * The regulators' enforcement record (执法记录): per merchant, an append-only hash chain of actions. Each entry's
 * hash is keccak-256 of the canonical JSON of its content (previous entry's hash included) and goes on chain in
 * EnforcementAnchor, which accepts only the next entry of each merchant's chain from a regulator of its industry.
 * Entries are stored before they are anchored; an entry not yet anchored (the chain was down, the gateway stopped)
 * is anchored by the next append or by anchorPending. Public warnings and the serious-dishonesty list are read
 * from this record.
 */

export const ENTRY_KINDS = [
  "warning", "interview", "inspection", "order", "penalty", "dishonesty_listing", "dishonesty_removal", "police_handover", "correction",
] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

export const ORDER_TYPES = ["no_new_cards", "no_renewals", "rectify", "suspend_sales", "other"] as const;
/** Discretion levels of an administrative penalty (行政处罚裁量): none, mitigated (减轻), lighter (从轻), ordinary (一般), heavier (从重). */
export const DISCRETION_LEVELS = ["none", "mitigated", "lighter", "ordinary", "heavier"] as const;

export interface EntryInput {
  kind: EntryKind;
  /** The day the action was taken, YYYY-MM-DD. */
  occurredOn: string;
  /** The document's reference (文书编号), e.g. 朝市监警〔2024〕12号. */
  documentRef: string;
  summary: string;
  /** For a warning: published (警示公示) or not. Listings are always public; other actions never. */
  public?: boolean;
  officerTitle?: string;
  /** Kind-specific facts: an order's type and term, a penalty's amount and discretion level, the police unit. */
  details?: Record<string, string | number | boolean | null>;
  /** A correction: the seq of the entry it corrects, and what changes (withdraw, or replaced fields). */
  corrects?: number;
}

/** The content hashed for an entry. Money is a decimal string; every number is a safe integer. */
export interface EntryContent {
  v: 1;
  merchantId: number;
  industryId: number;
  seq: number;
  kind: EntryKind;
  occurredOn: string;
  recordedAt: string;
  officer: { role: string; account: string; title: string | null };
  documentRef: string;
  summary: string;
  public: boolean;
  details: Record<string, string | number | boolean | null>;
  corrects: number | null;
  prevHash: string;
}

/** RFC 8785-style canonical JSON for the values entries hold: keys sorted, no spaces, integers only. */
export function canonicalJson(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string" || typeof v === "boolean") return JSON.stringify(v);
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new Error(`canonical JSON holds integers only, not ${v}`);
    return String(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  throw new Error(`canonical JSON cannot hold a ${typeof v}`);
}

export const entryHash = (content: EntryContent | Record<string, unknown>) => ethers.keccak256(ethers.toUtf8Bytes(canonicalJson(content)));

const ZERO = ethers.ZeroHash;

export interface StoredEntry {
  content: EntryContent;
  entryHash: string;
  anchor: { txHash: string; blockNumber: number } | null;
}

function anchorOf(s: Services): EnforcementAnchor | null {
  return s.deployment.enforcementAnchor ? EnforcementAnchor__factory.connect(s.deployment.enforcementAnchor, s.provider) : null;
}

/** Anchoring runs one merchant at a time per process: a chain accepts only its next entry. */
const locks = new WeakMap<Services, Map<number, Promise<unknown>>>();
function serially<T>(s: Services, merchantId: number, fn: () => Promise<T>): Promise<T> {
  let m = locks.get(s);
  if (!m) locks.set(s, (m = new Map()));
  const prev = m.get(merchantId) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  m.set(merchantId, tail);
  void tail.then(() => { if (m!.get(merchantId) === tail) m!.delete(merchantId); });
  return run;
}

async function readEntries(db: Db, merchantId: number): Promise<StoredEntry[]> {
  const rows = await db.query<{ content: EntryContent; entry_hash: string; tx_hash: string | null; block_number: string | null }>(
    `SELECT e.content, e.entry_hash, a.tx_hash, a.block_number FROM enforcement_entries e
     LEFT JOIN enforcement_anchors a ON a.merchant_id = e.merchant_id AND a.seq = e.seq
     WHERE e.merchant_id = $1 ORDER BY e.seq`,
    [merchantId],
  );
  return rows.map((r) => ({
    content: typeof r.content === "string" ? JSON.parse(r.content) : r.content,
    entryHash: r.entry_hash,
    anchor: r.tx_hash ? { txHash: r.tx_hash, blockNumber: Number(r.block_number) } : null,
  }));
}

/** Appends an action to the merchant's record and anchors it. Answers with the entry and where it is anchored. */
export async function appendEntry(s: Services, p: Principal, merchantId: number, input: EntryInput): Promise<StoredEntry & { anchorError: unknown }> {
  // Who may record on this merchant is the API's access rule (src/api/routes/enforcement.ts), checked before this runs.
  const m = await getMerchant(s.db, merchantId);
  const account = (await accountOf(s.db, p)).toLowerCase();
  const existing = await readEntries(s.db, merchantId);
  if (input.kind === "correction") {
    const target = existing.find((e) => e.content.seq === input.corrects);
    if (!target) throw new Refusal("unprocessable", "InvalidRequest", "the request has invalid fields", [{ field: "body.corrects", reason: `merchant ${merchantId} has no entry ${input.corrects}` }]);
  }
  let stored: StoredEntry | null = null;
  for (let attempt = 0; attempt < 5 && !stored; attempt++) {
    const [last] = await s.db.query<{ seq: number; entry_hash: string }>(
      "SELECT seq, entry_hash FROM enforcement_entries WHERE merchant_id = $1 ORDER BY seq DESC LIMIT 1", [merchantId]);
    const seq = last ? Number(last.seq) + 1 : 1;
    const content: EntryContent = {
      v: 1, merchantId, industryId: Number(m.industry_id), seq, kind: input.kind, occurredOn: input.occurredOn, recordedAt: new Date().toISOString(),
      officer: { role: p.role, account, title: input.officerTitle ?? null }, documentRef: input.documentRef, summary: input.summary,
      public: input.kind === "dishonesty_listing" || input.kind === "dishonesty_removal" ? true : input.kind === "warning" ? Boolean(input.public) : false,
      details: input.details ?? {}, corrects: input.kind === "correction" ? input.corrects ?? null : null, prevHash: last ? last.entry_hash : ZERO,
    };
    const hash = entryHash(content);
    try {
      await s.db.query("INSERT INTO enforcement_entries (merchant_id, seq, content, entry_hash) VALUES ($1, $2, $3::jsonb, $4)",
        [merchantId, seq, JSON.stringify(content), hash]);
      stored = { content, entryHash: hash, anchor: null };
    } catch (err) {
      if (!/unique|duplicate/i.test((err as Error).message)) throw err; // another officer took this seq: read again
    }
  }
  if (!stored) throw new Refusal("conflict", "Busy", `merchant ${merchantId}'s record is being written by others; try again`);
  let anchorError: unknown = null;
  try {
    await anchorPending(s, merchantId);
  } catch (err) {
    anchorError = err instanceof Refusal ? { code: err.code, message: err.message, details: err.details } : { code: "Unavailable", message: (err as Error).message };
    s.logger.warn({ merchantId, seq: stored.content.seq, err: anchorError }, "enforcement entry recorded but not anchored yet");
  }
  const [a] = await s.db.query<{ tx_hash: string; block_number: string }>("SELECT tx_hash, block_number FROM enforcement_anchors WHERE merchant_id = $1 AND seq = $2", [merchantId, stored.content.seq]);
  return { ...stored, anchor: a ? { txHash: a.tx_hash, blockNumber: Number(a.block_number) } : null, anchorError };
}

/**
 * Anchors the merchant's entries that are not on chain yet, in order, each signed by the officer who recorded it.
 * An entry the chain already has (sent before a crash) is only recorded as anchored. Stops at the first failure.
 */
export async function anchorPending(s: Services, merchantId: number): Promise<number> {
  const anchor = anchorOf(s);
  if (!anchor) throw new Refusal("unavailable", "NoAnchor", "this deployment has no enforcement anchor contract; restart the platform to deploy it");
  return serially(s, merchantId, async () => {
    const rows = await s.db.query<{ seq: number; content: EntryContent; entry_hash: string }>(
      `SELECT e.seq, e.content, e.entry_hash FROM enforcement_entries e
       LEFT JOIN enforcement_anchors a ON a.merchant_id = e.merchant_id AND a.seq = e.seq
       WHERE e.merchant_id = $1 AND a.seq IS NULL ORDER BY e.seq`, [merchantId]);
    let done = 0;
    for (const r of rows) {
      const content: EntryContent = typeof r.content === "string" ? JSON.parse(r.content) : r.content;
      const onChain = await anchor.entryHashOf(merchantId, r.seq);
      let txHash: string, blockNumber: number;
      if (onChain !== ZERO) {
        if (onChain.toLowerCase() !== r.entry_hash.toLowerCase()) {
          throw new Refusal("conflict", "AnchorMismatch", `entry ${r.seq} of merchant ${merchantId} differs from the hash on chain`, { seq: r.seq, stored: r.entry_hash, onChain });
        }
        const logs = await anchor.queryFilter(anchor.filters.EntryAnchored(merchantId, r.seq), s.deployment.startBlock);
        txHash = logs[0]?.transactionHash ?? ZERO;
        blockNumber = logs[0]?.blockNumber ?? 0;
      } else {
        const data = anchor.interface.encodeFunctionData("anchor", [merchantId, r.seq, r.entry_hash, content.prevHash]);
        const sender = await s.keys.sender(content.officer.account);
        let sent;
        try {
          sent = await sender.send({ to: await anchor.getAddress(), data }, { origin: "enforcement" });
        } catch (err) {
          throw revertRefusal(err) ?? err;
        }
        const rc = await waitReceipt(s.provider, sent.hash);
        if (rc.status !== 1) throw new Refusal("conflict", "Reverted", `anchoring entry ${r.seq} of merchant ${merchantId} reverted`);
        txHash = sent.hash;
        blockNumber = rc.blockNumber;
      }
      await s.db.query("INSERT INTO enforcement_anchors (merchant_id, seq, entry_hash, tx_hash, block_number) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [merchantId, r.seq, r.entry_hash, txHash, blockNumber]);
      done++;
    }
    return done;
  });
}

/**
 * Anchors every merchant's entries recorded but not on chain yet: a crash between an entry's commit and its anchoring
 * (or an anchoring that failed) leaves them so. Run at the gateway's start; a merchant whose anchoring fails is logged
 * and left for the next start or POST …/enforcement/anchor.
 */
export async function anchorAllPending(s: Services): Promise<number> {
  const rows = await s.db.query<{ merchant_id: string }>(
    `SELECT DISTINCT e.merchant_id FROM enforcement_entries e
     LEFT JOIN enforcement_anchors a ON a.merchant_id = e.merchant_id AND a.seq = e.seq WHERE a.seq IS NULL`);
  let done = 0;
  for (const r of rows) {
    try {
      done += await anchorPending(s, Number(r.merchant_id));
    } catch (err) {
      s.logger.warn({ merchantId: Number(r.merchant_id), err: (err as Error).message }, "enforcement entries not anchored yet");
    }
  }
  if (done) s.logger.info({ anchored: done }, "anchored enforcement entries recorded before a stop");
  return done;
}

export async function listEntries(s: Services, merchantId: number): Promise<StoredEntry[]> {
  return readEntries(s.db, merchantId);
}

export interface VerifyResult {
  merchantId: number;
  ok: boolean;
  entries: number;
  anchoredOnChain: number;
  problems: { seq: number | null; problem: string; details?: Record<string, unknown> }[];
}

/**
 * Recomputes the merchant's hash chain from the stored contents and checks every hash against the chain: a row
 * changed, removed, inserted or reordered in the database, or an entry never anchored, is reported.
 */
export async function verifyRecord(s: Services, merchantId: number): Promise<VerifyResult> {
  const anchor = anchorOf(s);
  const entries = await readEntries(s.db, merchantId);
  const problems: VerifyResult["problems"] = [];
  let prev = ZERO;
  entries.forEach((e, i) => {
    const seq = i + 1;
    const c = e.content;
    if (c.seq !== seq) problems.push({ seq, problem: "sequence gap or reorder", details: { expected: seq, found: c.seq } });
    if (Number(c.merchantId) !== merchantId) problems.push({ seq, problem: "entry names another merchant", details: { merchantId: c.merchantId } });
    if (c.prevHash !== prev) problems.push({ seq, problem: "previous hash does not match the previous entry", details: { expected: prev, found: c.prevHash } });
    const recomputed = entryHash(c);
    if (recomputed !== e.entryHash) problems.push({ seq, problem: "content does not match its stored hash", details: { stored: e.entryHash, recomputed } });
    prev = recomputed;
  });
  let anchoredOnChain = 0;
  if (!anchor) {
    if (entries.length) problems.push({ seq: null, problem: "no enforcement anchor contract in this deployment" });
  } else {
    const [count] = await anchor.headOf(merchantId);
    if (Number(count) !== entries.length) {
      problems.push({ seq: null, problem: "the chain holds a different number of entries", details: { onChain: Number(count), stored: entries.length } });
    }
    const n = Math.max(Number(count), entries.length);
    for (let seq = 1; seq <= n; seq++) {
      const onChain = await anchor.entryHashOf(merchantId, seq);
      const e = entries[seq - 1];
      if (onChain === ZERO) {
        if (e) problems.push({ seq, problem: "not anchored on chain" });
        continue;
      }
      anchoredOnChain++;
      if (!e) problems.push({ seq, problem: "anchored on chain but missing from the record", details: { onChain } });
      else if (entryHash(e.content) !== onChain) problems.push({ seq, problem: "content does not match the hash anchored on chain", details: { onChain, recomputed: entryHash(e.content) } });
    }
  }
  return { merchantId, ok: problems.length === 0, entries: entries.length, anchoredOnChain, problems };
}

// ---------------------------------------------------------------- the public's view

/** An entry with its corrections applied; null when a correction withdrew it. */
export interface EffectiveEntry {
  merchantId: number;
  seq: number;
  kind: EntryKind;
  occurredOn: string;
  documentRef: string;
  summary: string;
  public: boolean;
  entryHash: string;
  correctedBy: number[];
}

/** Folds corrections into the entries they correct (in order) and drops withdrawn ones and the corrections. */
export function effectiveEntries(entries: { content: EntryContent; entryHash: string }[]): EffectiveEntry[] {
  const out = new Map<number, EffectiveEntry | null>();
  for (const { content: c, entryHash: h } of entries) {
    if (c.kind !== "correction") {
      out.set(c.seq, { merchantId: c.merchantId, seq: c.seq, kind: c.kind, occurredOn: c.occurredOn, documentRef: c.documentRef, summary: c.summary, public: c.public, entryHash: h, correctedBy: [] });
      continue;
    }
    const target = c.corrects == null ? undefined : out.get(c.corrects);
    if (!target) continue;
    const d = c.details ?? {};
    if (d.withdraw === true) {
      out.set(target.seq, null);
      continue;
    }
    target.correctedBy.push(c.seq);
    if (typeof d.summary === "string") target.summary = d.summary;
    if (typeof d.documentRef === "string") target.documentRef = d.documentRef;
    if (typeof d.occurredOn === "string") target.occurredOn = d.occurredOn;
    if (typeof d.public === "boolean" && target.kind === "warning") target.public = d.public;
  }
  return [...out.values()].filter((e): e is EffectiveEntry => e !== null);
}

async function entriesOfKinds(db: Db, kinds: string[], merchantIds?: number[]): Promise<Map<number, { content: EntryContent; entryHash: string }[]>> {
  // Corrections are read with them: a correction's target may be of any of these kinds.
  const args: unknown[] = [[...kinds, "correction"]];
  let sql = "SELECT merchant_id, content, entry_hash FROM enforcement_entries WHERE kind = ANY($1::text[])";
  if (merchantIds) {
    args.push(merchantIds);
    sql += " AND merchant_id = ANY($2::bigint[])";
  }
  const rows = await db.query<{ merchant_id: string; content: EntryContent; entry_hash: string }>(`${sql} ORDER BY merchant_id, seq`, args);
  const by = new Map<number, { content: EntryContent; entryHash: string }[]>();
  for (const r of rows) {
    const list = by.get(Number(r.merchant_id)) ?? [];
    list.push({ content: typeof r.content === "string" ? JSON.parse(r.content) : r.content, entryHash: r.entry_hash });
    by.set(Number(r.merchant_id), list);
  }
  return by;
}

/** Public warnings (警示公示), newest first; per merchant when `merchantIds` is given. */
export async function publicWarnings(db: Db, merchantIds?: number[]): Promise<EffectiveEntry[]> {
  const by = await entriesOfKinds(db, ["warning"], merchantIds);
  const out: EffectiveEntry[] = [];
  for (const list of by.values()) out.push(...effectiveEntries(list).filter((e) => e.kind === "warning" && e.public));
  return out.sort((a, b) => b.occurredOn.localeCompare(a.occurredOn) || b.merchantId - a.merchantId || b.seq - a.seq);
}

/** Merchants on the serious-dishonesty list (严重违法失信名单): their last listing or removal is a listing. */
export async function dishonestyList(db: Db, merchantIds?: number[]): Promise<EffectiveEntry[]> {
  const by = await entriesOfKinds(db, ["dishonesty_listing", "dishonesty_removal"], merchantIds);
  const out: EffectiveEntry[] = [];
  for (const list of by.values()) {
    const eff = effectiveEntries(list).filter((e) => e.kind === "dishonesty_listing" || e.kind === "dishonesty_removal");
    const last = eff[eff.length - 1];
    if (last?.kind === "dishonesty_listing") out.push(last);
  }
  return out.sort((a, b) => b.occurredOn.localeCompare(a.occurredOn) || b.merchantId - a.merchantId);
}
