/**
 * The local chain's state file (Anvil's `anvil_dumpState` JSON), checked and repaired before the node loads it.
 *
 * Anvil 1.7.1 builds a fresh genesis block at every start and keeps it beside the loaded ones, so each dump holds one
 * more block 0; loading keeps whichever block 0 comes last in the file's unordered list, and the genesis hash
 * changes. The chain's own genesis is the oldest block 0 (each start adds one stamped "now"), or the one whose
 * timestamp was recorded at the first start: the others are dropped here. A file that lacks a block between 0 and
 * its best block, or is not a state at all, is refused with the reason.
 */

export interface StateHeader {
  number: string;
  timestamp: string;
  parentHash: string;
}

export interface ChainStateJson {
  block?: unknown;
  accounts: Record<string, unknown>;
  best_block_number: number | string;
  blocks: { header: StateHeader }[];
  transactions?: unknown[];
  historical_states?: unknown;
}

export interface Inspection {
  /** The best (head) block the file holds. */
  best: number;
  /** Seconds since the epoch of the genesis kept. */
  genesisTimestamp: number;
  /** What was repaired, in words (empty when nothing was). */
  repairs: string[];
}

export class DamagedStateError extends Error {}

const num = (v: unknown): number => {
  if (typeof v === "number") return v;
  if (typeof v === "string") return v.startsWith("0x") ? parseInt(v, 16) : Number(v);
  return NaN;
};

/**
 * Checks a parsed state and repairs it in place: extra genesis blocks are dropped. Throws DamagedStateError when the
 * state cannot be loaded as the chain it was (no genesis, a block missing below the best one).
 */
export function inspectState(state: unknown, opts: { genesisTimestamp?: number } = {}): Inspection {
  if (!state || typeof state !== "object") throw new DamagedStateError("not a chain state (no JSON object)");
  const s = state as Partial<ChainStateJson>;
  if (!Array.isArray(s.blocks) || !s.accounts || typeof s.accounts !== "object" || s.best_block_number === undefined) {
    throw new DamagedStateError("not a chain state (blocks, accounts or best_block_number missing)");
  }
  const best = num(s.best_block_number);
  if (!Number.isInteger(best) || best < 0) throw new DamagedStateError(`best_block_number ${String(s.best_block_number)} is not a block number`);
  const geneses: { index: number; timestamp: number }[] = [];
  const seen = new Set<number>();
  s.blocks.forEach((b, index) => {
    const n = num(b?.header?.number);
    if (!Number.isInteger(n)) throw new DamagedStateError(`block entry ${index} has no header number`);
    if (n === 0) geneses.push({ index, timestamp: num(b.header.timestamp) });
    else seen.add(n);
  });
  if (geneses.length === 0) throw new DamagedStateError("the file holds no genesis block");
  let keep = geneses.find((g) => g.timestamp === opts.genesisTimestamp);
  if (!keep) keep = geneses.reduce((a, b) => (b.timestamp < a.timestamp ? b : a));
  const repairs: string[] = [];
  if (opts.genesisTimestamp !== undefined && keep.timestamp !== opts.genesisTimestamp) {
    throw new DamagedStateError(`the file's genesis blocks (timestamps ${geneses.map((g) => g.timestamp).join(", ")}) do not include the chain's genesis (timestamp ${opts.genesisTimestamp})`);
  }
  if (geneses.length > 1) {
    const drop = new Set(geneses.filter((g) => g !== keep).map((g) => g.index));
    s.blocks = s.blocks.filter((_, i) => !drop.has(i));
    repairs.push(`dropped ${drop.size} extra genesis block${drop.size === 1 ? "" : "s"} that the node added at its starts (kept the genesis of ${new Date(keep.timestamp * 1000).toISOString()})`);
  }
  for (let n = 1; n <= best; n++) {
    if (!seen.has(n)) throw new DamagedStateError(`block ${n} is missing (the file's best block is ${best})`);
  }
  return { best, genesisTimestamp: keep.timestamp, repairs };
}
