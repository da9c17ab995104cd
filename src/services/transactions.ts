import { Interface, Transaction } from "ethers";
import { CustodyRegistry__factory, PrepaidEscrow__factory } from "../../typechain-types";
import { Principal } from "./principal";
import { revertRefusal, waitReceipt } from "../chain/signers";
import { Refusal } from "../errors";
import { Services, accountOf } from "./context";
import type { TxActor } from "./journal";

const escrowIface = new Interface(PrepaidEscrow__factory.abi);
const registryIface = new Interface(CustodyRegistry__factory.abi);

export interface TxResult {
  txHash: string;
  blockNumber: number;
  events: { event: string; args: Record<string, unknown> }[];
}

function plain(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

/**
 * A transaction that passed its gas estimate but reverted when mined: another transaction in between changed the
 * state (a risk push, a freeze landing in the same block). Replaying it as a call on the state after its block
 * recovers the contract's custom error, so the caller still learns the reason, e.g. Custody_HighRiskNoSales.
 */
async function minedRevert(s: Services, hash: string, blockNumber: number): Promise<Refusal> {
  try {
    const tx = await s.provider.getTransaction(hash);
    if (tx) await s.provider.call({ to: tx.to, from: tx.from, data: tx.data, value: tx.value, blockTag: blockNumber });
  } catch (err) {
    const api = revertRefusal(err);
    if (api) {
      api.message = `${api.message} (transaction ${hash} reverted on chain)`;
      return api;
    }
  }
  return new Refusal("conflict", "Reverted", `transaction ${hash} reverted on chain`);
}

async function settle(s: Services, hash: string): Promise<TxResult> {
  const rc = await waitReceipt(s.provider, hash);
  await s.journal?.mined(hash, rc.blockNumber, rc.status === 1);
  if (rc.status !== 1) throw await minedRevert(s, hash, rc.blockNumber);
  const events: TxResult["events"] = [];
  for (const log of rc.logs) {
    const iface = log.address.toLowerCase() === s.deployment.registry.toLowerCase() ? registryIface : escrowIface;
    try {
      const parsed = iface.parseLog(log);
      if (parsed) {
        const args: Record<string, unknown> = {};
        parsed.fragment.inputs.forEach((inp, i) => (args[inp.name] = plain(parsed.args[i])));
        events.push({ event: parsed.name, args });
      }
    } catch {
      /* a token Transfer: not ours to report */
    }
  }
  // Answer once the index holds the result, so the caller's next read sees it.
  await Promise.race([s.indexer.syncTo(rc.blockNumber), new Promise((r) => setTimeout(r, 10_000))]);
  return { txHash: hash, blockNumber: rc.blockNumber, events };
}

/** Sends `data` to the escrow (or registry) signed by the principal's key, and waits for it to be mined and indexed. */
export async function executeAs(s: Services, p: Principal, data: string, to: "escrow" | "registry" = "escrow"): Promise<TxResult> {
  const account = await accountOf(s.db, p);
  const sender = await s.keys.sender(account);
  const sent = await sender.send({ to: to === "escrow" ? s.deployment.escrow : s.deployment.registry, data }, { origin: "api", actor: actorOf(p) });
  return settle(s, sent.hash);
}

function actorOf(p: Principal | undefined): TxActor | null {
  return p ? { keyId: p.keyId, role: p.role, subject: p.subject } : null;
}

/**
 * Relays a transaction its sender signed itself (a consumer's refund request, a party holding its own key). It is
 * kept in the journal before it is sent, like the gateway's own, so a chain that loses it gets it again.
 */
export async function relaySigned(s: Services, raw: string, p?: Principal): Promise<TxResult> {
  let tx: Transaction;
  try {
    tx = Transaction.from(raw);
  } catch {
    throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: "body.signedTransaction", reason: "not a signed transaction" }]);
  }
  const targets = [s.deployment.escrow.toLowerCase(), s.deployment.registry.toLowerCase()];
  if (!tx.to || !targets.includes(tx.to.toLowerCase())) {
    throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: "body.signedTransaction", reason: "it is not addressed to the custody contracts" }]);
  }
  if (!tx.from) throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: "body.signedTransaction", reason: "it is not signed" }]);
  if (Number(tx.chainId) !== s.chainId) {
    throw new Refusal("invalid", "InvalidRequest", "the request has invalid fields", [{ field: "body.signedTransaction", reason: `signed for chain ${tx.chainId}, this is chain ${s.chainId}` }]);
  }
  try {
    await s.provider.call({ from: tx.from, to: tx.to, data: tx.data });
  } catch (err) {
    throw revertRefusal(err) ?? new Refusal("conflict", "Reverted", "the contract would refuse this transaction");
  }
  await s.journal?.record({ hash: tx.hash!, sender: tx.from, nonce: tx.nonce, raw, origin: "relay", actor: actorOf(p) });
  let hash: string;
  try {
    hash = await s.provider.send("eth_sendRawTransaction", [raw]);
  } catch (err) {
    await s.journal?.refused(tx.hash!, (err as Error).message);
    throw revertRefusal(err) ?? new Refusal("conflict", "Rejected", `the node refused the transaction: ${(err as Error).message.slice(0, 200)}`);
  }
  return settle(s, hash);
}
