import { JsonRpcApiProvider } from "ethers";
import { Logger } from "pino";
import { CustodyRegistry, PrepaidEscrow } from "../../typechain-types";
import { Deployment } from "../chain/bootstrap";
import { KeyRing } from "../chain/signers";
import { Rpc } from "../chain/rpc";
import { Db } from "../store/db";
import { Indexer } from "../sync/indexer";
import { Refusal } from "../errors";
import { Principal } from "./principal";
import type { ConsumptionQueue } from "./consumptions";
import type { RiskRuntime } from "../risk/runtime";
import type { TxJournal } from "./journal";

/** Everything a service needs, built once by the gateway. */
export interface Services {
  db: Db;
  rpc: Rpc;
  provider: JsonRpcApiProvider;
  escrow: PrepaidEscrow;
  registry: CustodyRegistry;
  deployment: Deployment;
  chainId: number;
  keys: KeyRing;
  indexer: Indexer;
  queue: ConsumptionQueue;
  logger: Logger;
  /** Every transaction signed or relayed, kept before it is sent (the gateway builds it). */
  journal?: TxJournal;
  /** The risk engine (ratings, alerts, on-chain pushes); the gateway builds it. */
  risk?: RiskRuntime;
}

export interface MerchantRecord {
  merchant_id: string;
  account: string;
  industry_id: number;
  bank_id: number;
  status: string;
  risk_level: string;
  [k: string]: unknown;
}

export async function getMerchant(db: Db, merchantId: number): Promise<MerchantRecord> {
  const rows = await db.query<MerchantRecord>("SELECT * FROM merchants WHERE merchant_id = $1", [merchantId]);
  if (!rows[0]) throw new Refusal("not_found", "UnknownMerchant", `no merchant ${merchantId} in the index`, { merchantId });
  return rows[0];
}

/** Industries an industry regulator's account is responsible for. */
export async function industriesOf(db: Db, regulator: string): Promise<number[]> {
  const rows = await db.query<{ industry_id: number }>("SELECT industry_id FROM industries WHERE regulator = $1", [regulator.toLowerCase()]);
  return rows.map((r) => Number(r.industry_id));
}

/** The chain account that signs for `p`. */
export async function accountOf(db: Db, p: Principal): Promise<string> {
  if (p.role === "merchant") return (await getMerchant(db, Number(p.subject))).account;
  if (p.role === "bank") {
    const rows = await db.query<{ account: string }>("SELECT account FROM banks WHERE bank_id = $1", [Number(p.subject)]);
    if (!rows[0]) throw new Refusal("not_found", "UnknownBank", `no bank ${p.subject} in the index`);
    return rows[0].account;
  }
  if (p.subject && /^0x[0-9a-f]{40}$/i.test(p.subject)) return p.subject;
  throw new Refusal("forbidden", "Forbidden", `a ${p.role} has no chain account`);
}

const clockCache = new WeakMap<Services, { at: number; chainSec: number; wallSec: number }>();

/**
 * "Now" as the contracts see it: the latest block's timestamp, or the wall clock if that is later (a block is
 * mined only every second or so). Voucher deadlines and card expiry shown by the API use it, so a chain whose clock
 * runs ahead of the wall clock (a local node moved forward, a validator's skew) does not get vouchers that are
 * already past their deadline or cards shown active that the contract treats as expired. Cached for two seconds.
 */
export async function chainNow(s: Services): Promise<number> {
  const wallSec = Math.floor(Date.now() / 1000);
  const hit = clockCache.get(s);
  if (hit && Date.now() - hit.at < 2000) return Math.max(hit.chainSec + (wallSec - hit.wallSec), wallSec);
  try {
    const block = await s.provider.getBlock("latest");
    const chainSec = block ? Number(block.timestamp) : wallSec;
    clockCache.set(s, { at: Date.now(), chainSec, wallSec });
    return Math.max(chainSec, wallSec);
  } catch {
    return wallSec;
  }
}
