import { EventFragment, getAddress, Interface, ParamType, Result } from "ethers";
import { PrepaidEscrow__factory, CustodyRegistry__factory } from "../../typechain-types";
import { FatalError, RetryableError } from "../errors";

export const MERCHANT_STATUS = ["none", "active", "restricted", "frozen", "winding_down", "exited"] as const;
export const RISK_LEVEL = ["low", "medium", "high"] as const;
export const PLAN_KIND = ["none", "lesson", "periodic"] as const;
export const REFUND_REASON = ["cooling_off", "accepted", "dispute", "small_balance", "expired", "frozen", "exit", "breach"] as const;

/** The name an on-chain enum's number stands for; a FatalError for a number the contracts do not define. */
export function enumName<T extends string>(names: readonly T[], i: number, what: string): T {
  const name = names[i];
  if (name === undefined) throw new FatalError(`${what} ${i} is not one the contracts define`);
  return name;
}

export type ArgValue = string | number | boolean | Record<string, string | number | boolean>;

/** One contract event, decoded, with where it happened. Values that can exceed 2^53 are decimal strings. */
export interface ChainEvent {
  event: string;
  contract: string;
  blockNumber: number;
  blockHash: string;
  txHash: string;
  txIndex: number;
  logIndex: number;
  args: Record<string, ArgValue>;
}

/** A raw log as eth_getLogs returns it. */
export interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  transactionHash: string;
  transactionIndex: string;
  logIndex: string;
  removed?: boolean;
}

const escrowIface = new Interface(PrepaidEscrow__factory.abi);
const registryIface = new Interface(CustodyRegistry__factory.abi);

export const LESSONS_CONSUMED_TOPIC = escrowIface.getEvent("LessonsConsumed")!.topicHash;

/** Decodes an event's topics and data by position, or answers null when the log is not in the expected shape. */
type PositionalDecoder = (topics: string[], data: string) => Record<string, ArgValue> | null;

interface KnownEvent {
  fragment: EventFragment;
  /** For events whose fields are all static (every custody event): ~100x cheaper than ethers' ABI decoding. */
  fast: PositionalDecoder | null;
}

/** Each contract's events by topic, computed once (ethers' parseLog hashes every event's signature on each call). */
function byTopic(iface: Interface): Map<string, KnownEvent> {
  const out = new Map<string, KnownEvent>();
  iface.forEachEvent((e) => {
    if (!e.anonymous) out.set(e.topicHash, { fragment: e, fast: positionalDecoder(e) });
  });
  return out;
}

const checksummed = new Map<string, string>();
const ZERO_PAD_20 = "0".repeat(24);

/**
 * One 32-byte word (64 hex digits) as ethers decodes it followed by `plain`: uintN masked to N bits, then a number
 * when safe and a decimal string otherwise; intN likewise from two's complement; bool; bytesN as lowercase hex;
 * address checksummed. Undefined for anything else, or an address word with high bits set (ethers refuses it):
 * the caller then falls back to ethers, errors included.
 */
function wordValue(type: string, hex: string): string | number | boolean | undefined {
  let m: RegExpExecArray | null;
  if ((m = /^uint(\d+)$/.exec(type))) {
    const bits = Number(m[1]);
    if (bits <= 48) return parseInt(hex.slice(64 - bits / 4), 16);
    const v = BigInt("0x" + hex) & ((1n << BigInt(bits)) - 1n);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if ((m = /^int(\d+)$/.exec(type))) {
    const bits = BigInt(Number(m[1]));
    let v = BigInt("0x" + hex) & ((1n << bits) - 1n);
    if (v >> (bits - 1n)) v -= 1n << bits;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if (type === "address") {
    if (hex.slice(0, 24) !== ZERO_PAD_20) return undefined;
    const lower = hex.slice(24).toLowerCase();
    let a = checksummed.get(lower);
    if (a === undefined) {
      a = getAddress("0x" + lower);
      if (checksummed.size < 100_000) checksummed.set(lower, a);
    }
    return a;
  }
  if (type === "bool") return /[^0]/.test(hex);
  if ((m = /^bytes(\d+)$/.exec(type))) return "0x" + hex.slice(0, 2 * Number(m[1])).toLowerCase();
  return undefined;
}

const STATIC_WORD = /^(u?int\d+|address|bool|bytes([1-9]|[12]\d|3[0-2]))$/;

/** A positional decoder for an event whose inputs are static value types or static tuples of them; else null. */
function positionalDecoder(e: EventFragment): PositionalDecoder | null {
  const isWord = (t: ParamType) => STATIC_WORD.test(t.type);
  let indexed = 0;
  let words = 0;
  for (const input of e.inputs) {
    if (input.indexed) {
      if (!isWord(input)) return null; // hashed in the topic
      indexed++;
    } else if (isWord(input)) words++;
    else if (input.isTuple() && input.components.every(isWord)) words += input.components.length;
    else return null;
  }
  const inputs = e.inputs;
  return (topics, data) => {
    if (topics.length !== 1 + indexed || data.length !== 2 + 64 * words) return null;
    const args: Record<string, ArgValue> = {};
    let t = 1;
    let w = 0;
    for (const input of inputs) {
      if (input.indexed) {
        const topic = topics[t++];
        if (topic === undefined) return null;
        const v = wordValue(input.type, topic.slice(2));
        if (v === undefined) return null;
        args[input.name] = v;
      } else if (input.isTuple()) {
        const obj: Record<string, string | number | boolean> = {};
        for (const c of input.components) {
          const v = wordValue(c.type, data.slice(2 + 64 * w, 66 + 64 * w));
          w++;
          if (v === undefined) return null;
          obj[c.name] = v;
        }
        args[input.name] = obj;
      } else {
        const v = wordValue(input.type, data.slice(2 + 64 * w, 66 + 64 * w));
        w++;
        if (v === undefined) return null;
        args[input.name] = v;
      }
    }
    return args;
  };
}

const escrowEvents = byTopic(escrowIface);
const registryEvents = byTopic(registryIface);

/** Every event topic the indexer follows, for eth_getLogs. */
export function followedTopics(): string[] {
  const topics = new Set<string>();
  escrowIface.forEachEvent((e) => topics.add(e.topicHash));
  registryIface.forEachEvent((e) => topics.add(e.topicHash));
  return [...topics];
}

function plain(value: unknown): ArgValue {
  if (typeof value === "bigint") return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (value instanceof Result) {
    const obj = value.toObject();
    const out: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = plain(v) as string | number | boolean;
    return out;
  }
  return value as ArgValue;
}

const HASH = /^0x[0-9a-fA-F]{64}$/;

/** Word `i` of the data as a number: for fields of at most 48 bits, exact. */
function smallWord(data: string, i: number): number {
  return parseInt(data.slice(2 + 64 * i, 66 + 64 * i), 16);
}

/**
 * Decodes one log. Events whose fields are all static (every custody event) are decoded by position, 30-100 times
 * cheaper than ethers' generic ABI decoding (LessonsConsumed, by far the most frequent, by a dedicated path); the
 * result is the same as ethers' (decodeLogByAbi), which remains the fallback for anything else.
 */
export function decodeLog(log: RawLog, contracts: { escrow: string; registry: string }): ChainEvent | null {
  // The hashes go into the ledger as they come and into API answers unescaped (src/services/ledger.ts, ROW_JSON):
  // anything but 32 bytes of hex is a broken node, not an event.
  if (!HASH.test(log.blockHash) || !HASH.test(log.transactionHash)) {
    throw new RetryableError(`the node gave a log with a malformed block or transaction hash (${String(log.transactionHash).slice(0, 80)})`);
  }
  const contract = log.address.toLowerCase();
  const topic0 = log.topics[0];
  const base = {
    contract,
    blockNumber: Number(log.blockNumber),
    blockHash: log.blockHash,
    txHash: log.transactionHash,
    txIndex: Number(log.transactionIndex),
    logIndex: Number(log.logIndex),
  };
  if (topic0 === LESSONS_CONSUMED_TOPIC && contract === contracts.escrow) {
    const cardTopic = log.topics[1];
    if (log.topics.length !== 2 || cardTopic === undefined || log.data.length !== 2 + 64 * 3) throw new FatalError(`malformed LessonsConsumed log in ${log.transactionHash}`);
    const args = {
      cardId: BigInt(cardTopic).toString(),
      lessons: smallWord(log.data, 0), // uint16
      amount: smallWord(log.data, 1), // uint48
      sequence: smallWord(log.data, 2), // uint16
    };
    return { ...base, event: "LessonsConsumed", args };
  }
  const [iface, events] =
    contract === contracts.escrow ? [escrowIface, escrowEvents] : contract === contracts.registry ? [registryIface, registryEvents] : [null, null];
  if (!iface) return null;
  const known = topic0 === undefined ? undefined : events.get(topic0);
  if (!known) return null; // not an event of the contract's ABI (as parseLog)
  const args = known.fast?.(log.topics, log.data) ?? decodeByAbi(iface, known.fragment, log, base.logIndex);
  // Ids and amounts as strings where they are keys, so every consumer treats them alike.
  if (args.cardId !== undefined) args.cardId = String(args.cardId);
  return { ...base, event: known.fragment.name, args };
}

/** ethers' generic ABI decoding: the reference the positional decoders match, and their fallback. */
function decodeByAbi(iface: Interface, fragment: EventFragment, log: RawLog, logIndex: number): Record<string, ArgValue> {
  const args: Record<string, ArgValue> = {};
  try {
    const values: Result = iface.decodeEventLog(fragment, log.data, log.topics);
    // Inside the try: ethers defers some decoding errors until a value is read.
    fragment.inputs.forEach((input, i) => {
      args[input.name] = plain(values[i]);
    });
  } catch (err) {
    throw new FatalError(`cannot decode log ${log.transactionHash}#${logIndex}: ${(err as Error).message}`);
  }
  return args;
}

/** For checks: decodes like decodeLog but always through ethers' ABI decoding (null: not a custody event). */
export function decodeLogByAbi(log: RawLog, contracts: { escrow: string; registry: string }): Record<string, ArgValue> | null {
  const contract = log.address.toLowerCase();
  const iface = contract === contracts.escrow ? escrowIface : contract === contracts.registry ? registryIface : null;
  const known = iface && log.topics[0] !== undefined ? (contract === contracts.escrow ? escrowEvents : registryEvents).get(log.topics[0]) : undefined;
  if (!iface || !known) return null;
  const args = decodeByAbi(iface, known.fragment, log, Number(log.logIndex));
  if (args.cardId !== undefined) args.cardId = String(args.cardId);
  return args;
}
