/**
 * The indexer's decisions, as pure functions of what it knows: which range to read next, how long the next range may
 * be after an answer or a refusal, which ranges to read ahead, where the chain and the index part. The indexer
 * (indexer.ts) gathers the facts (the checkpoint, the head, the node's answers) and carries the decisions out; these
 * functions are tested without a chain or a database (test/gateway/indexer-plan.test.ts).
 */

export interface BlockRef {
  number: number;
  hash: string;
}

export interface Span {
  from: number;
  to: number;
}

/** How long the next range may be. */
export interface RangeState {
  /** Blocks in the next range. */
  range: number;
  /** After a refused (too large) range: no range longer than `span` blocks until block `until` is passed. */
  ceiling: { until: number; span: number } | null;
  /** Logs in the last range read (null: none read yet), to know when the next one may run into a busier stretch. */
  lastLogs: number | null;
}

export interface RangeLimits {
  maxRange: number;
  /** The number of logs an answer should hold. */
  targetLogs: number;
}

/**
 * After an answer of `logs` logs for [from, to]: grow the range when sparse, shrink it when dense, to keep each
 * answer about targetLogs; a ceiling from an earlier refusal holds until its stretch is passed.
 */
export function afterAnswer(s: RangeState, read: Span & { logs: number }, limits: RangeLimits): RangeState {
  let range = s.range;
  if (read.logs < limits.targetLogs / 2) range = Math.min(limits.maxRange, range * 2);
  else if (read.logs > limits.targetLogs * 2) range = Math.max(1, Math.floor((range * limits.targetLogs) / read.logs));
  const ceiling = s.ceiling && read.to >= s.ceiling.until ? null : s.ceiling;
  if (ceiling) range = Math.min(range, ceiling.span);
  return { range, ceiling, lastLogs: read.logs };
}

/**
 * After the node refused [from, to] as too large (`bytes`: the answer's size when the node said it): the next range
 * aims at a quarter of the byte limit, or half the span; no range inside the refused stretch grows back past it (it
 * may be sparse first and dense later, and the node would build the same oversized answer again).
 */
export function afterRefusal(s: RangeState, refused: Span & { bytes?: number }, maxResponseBytes: number): RangeState {
  const span = refused.to - refused.from + 1;
  const next = refused.bytes ? Math.floor((span * maxResponseBytes) / 4 / refused.bytes) : Math.floor(span / 2);
  const range = Math.max(1, Math.min(Math.floor(span / 2), next));
  return {
    range,
    ceiling: { until: Math.max(refused.to, s.ceiling?.until ?? 0), span: Math.min(range, s.ceiling?.span ?? range) },
    lastLogs: s.lastLogs,
  };
}

/**
 * The blocks of [from, to] to count logs in before reading it (none: read it whole): only when the range is long
 * and the last answer was sparse, since a sparse stretch may end in a dense one.
 */
export function blocksToSample(s: RangeState, range: Span, sampleBlocks: number, targetLogs: number): number[] {
  const span = range.to - range.from + 1;
  if (sampleBlocks === 0 || span <= 16 || (s.lastLogs !== null && s.lastLogs >= targetLogs / 2)) return [];
  const k = Math.min(sampleBlocks, span);
  return Array.from({ length: k }, (_, i) => range.from + Math.floor(((i + 0.5) * span) / k));
}

/**
 * From the logs counted in the sampled blocks: the end of the range to read (about targetLogs logs), and the range
 * to use from now on when it was shortened (null: read it whole).
 */
export function cutBySample(range: Span, counts: number[], targetLogs: number): { to: number; range: number | null } {
  const span = range.to - range.from + 1;
  if (!counts.length) return { to: range.to, range: null };
  const expected = (counts.reduce((a, b) => a + b, 0) * span) / counts.length;
  if (expected <= targetLogs * 2) return { to: range.to, range: null };
  const cut = Math.max(1, Math.floor((span * targetLogs) / expected));
  return { to: range.from + cut - 1, range: cut };
}

/** What the index and the chain say at the start of a step, and what the indexer does about it. */
export type StepStart =
  /** The chain came back shorter than the index: go back to the last block both have (at most the head). */
  | { kind: "rewind"; toBlock: number }
  /** The block the index stopped at must still be on the chain (a range read ahead does not link to it). */
  | { kind: "verify"; block: BlockRef }
  | { kind: "go" };

export function stepStart(f: { checkpoint: BlockRef | null; head: number; startBlock: number; linked: boolean }): StepStart {
  if (f.checkpoint && f.checkpoint.number > f.head) return { kind: "rewind", toBlock: f.head };
  if (f.checkpoint && f.checkpoint.number >= f.startBlock && !f.linked) return { kind: "verify", block: f.checkpoint };
  return { kind: "go" };
}

/** The range to index now: none (at the head), the first range read ahead, or a range to read. */
export type NextRange = { kind: "atHead"; lag: number } | { kind: "ahead" } | { kind: "read"; from: number; to: number };

export function nextRange(f: { from: number; target: number; range: number; firstAhead: Span | null }): NextRange {
  if (f.from > f.target) return { kind: "atHead", lag: Math.max(0, f.target - (f.from - 1)) };
  // A range read ahead is used only if it starts here and is still final.
  if (f.firstAhead && f.firstAhead.from === f.from && f.firstAhead.to <= f.target) return { kind: "ahead" };
  return { kind: "read", from: f.from, to: Math.min(f.target, f.from + f.range - 1) };
}

/**
 * Catching up, the ranges to read while `current` is written: the ranges already read ahead are kept only if they
 * follow `current` without a gap (a range read shorter than asked leaves one), then more up to `readAhead`.
 */
export function readAheadPlan(f: { current: Span; ahead: Span[]; target: number; range: number; readAhead: number }): { keep: boolean; add: Span[] } {
  const keep = f.ahead.length > 0 && f.ahead[0]?.from === f.current.to + 1;
  const add: Span[] = [];
  let last = keep ? (f.ahead.at(-1)?.to ?? f.current.to) : f.current.to;
  for (let n = keep ? f.ahead.length : 0; n < f.readAhead; n++) {
    const from = last + 1;
    if (from > f.target) break;
    const to = Math.min(f.target, from + f.range - 1);
    add.push({ from, to });
    last = to;
  }
  return { keep, add };
}

/**
 * The newest stored block (newest first in `stored`) the chain still has with the same hash: the index is undone
 * back to it. null: none of these (look further back, or start over before the first block).
 */
export function commonAncestor(stored: BlockRef[], onChain: Map<number, string>): number | null {
  const match = stored.find((b) => onChain.get(b.number) === b.hash);
  return match ? match.number : null;
}
