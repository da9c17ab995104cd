import { Interface, Log, Result } from "ethers";
import { PrepaidEscrow__factory, CustodyRegistry__factory } from "../../typechain-types";
import { FatalError } from "../errors";

export const MERCHANT_STATUS = ["none", "active", "restricted", "frozen", "winding_down", "exited"] as const;
export const RISK_LEVEL = ["low", "medium", "high"] as const;
export const PLAN_KIND = ["none", "lesson", "periodic"] as const;
export const REFUND_REASON = ["cooling_off", "accepted", "dispute", "small_balance", "expired", "frozen", "exit"] as const;

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

function word(data: string, i: number): bigint {
  return BigInt("0x" + data.slice(2 + 64 * i, 66 + 64 * i));
}

/**
 * Decodes one log. LessonsConsumed, by far the most frequent event, is decoded by position (its fields are all
 * static), which is several times cheaper than generic ABI decoding; the rest go through the ABI.
 */
export function decodeLog(log: RawLog, contracts: { escrow: string; registry: string }): ChainEvent | null {
  const base = {
    contract: log.address.toLowerCase(),
    blockNumber: Number(log.blockNumber),
    blockHash: log.blockHash,
    txHash: log.transactionHash,
    txIndex: Number(log.transactionIndex),
    logIndex: Number(log.logIndex),
  };
  const topic0 = log.topics[0];
  if (topic0 === LESSONS_CONSUMED_TOPIC && base.contract === contracts.escrow) {
    if (log.topics.length !== 2 || log.data.length !== 2 + 64 * 3) throw new FatalError(`malformed LessonsConsumed log in ${log.transactionHash}`);
    const cardId = BigInt(log.topics[1]);
    return {
      ...base,
      event: "LessonsConsumed",
      args: {
        cardId: cardId.toString(),
        lessons: Number(word(log.data, 0)),
        amount: Number(word(log.data, 1)),
        sequence: Number(word(log.data, 2)),
      },
    };
  }
  const iface = base.contract === contracts.escrow ? escrowIface : base.contract === contracts.registry ? registryIface : null;
  if (!iface) return null;
  let parsed;
  try {
    parsed = iface.parseLog({ topics: log.topics, data: log.data });
  } catch (err) {
    throw new FatalError(`cannot decode log ${log.transactionHash}#${base.logIndex}: ${(err as Error).message}`);
  }
  if (!parsed) return null;
  const args: Record<string, ArgValue> = {};
  parsed.fragment.inputs.forEach((input, i) => {
    args[input.name] = plain(parsed!.args[i]);
  });
  // Ids and amounts as strings where they are keys, so every consumer treats them alike.
  if (args.cardId !== undefined) args.cardId = String(args.cardId);
  return { ...base, event: parsed.name, args };
}
