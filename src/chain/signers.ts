import fs from "node:fs";
import path from "node:path";
import { Interface, JsonRpcApiProvider, TransactionReceipt, TransactionRequest, Wallet, isError } from "ethers";
import { keccak, signLegacy } from "./rawtx";
import { CustodyRegistry__factory, CustodyToken__factory, EnforcementAnchor__factory, PrepaidEscrow__factory } from "../../typechain-types";
import { Refusal, FatalError, RetryableError } from "../errors";
import { keystorePassword } from "../config";

const ifaces = [new Interface(PrepaidEscrow__factory.abi), new Interface(CustodyRegistry__factory.abi), new Interface(CustodyToken__factory.abi), new Interface(EnforcementAnchor__factory.abi)];

/** A contract's refusal, decoded: the custom error's name and arguments. */
export interface DecodedRevert {
  name: string;
  args: Record<string, string | number | boolean>;
}

function findRevertData(err: unknown): string | null {
  const seen = new Set<unknown>();
  const walk = (e: unknown): string | null => {
    if (!e || typeof e !== "object" || seen.has(e)) return null;
    seen.add(e);
    const o = e as Record<string, unknown>;
    if (typeof o.data === "string" && /^0x[0-9a-f]{8}/i.test(o.data)) return o.data;
    for (const k of ["error", "info", "cause", "data"]) {
      const found = walk(o[k]);
      if (found) return found;
    }
    return null;
  };
  return walk(err);
}

export function decodeRevert(err: unknown): DecodedRevert | null {
  const data = findRevertData(err);
  if (!data) return null;
  for (const iface of ifaces) {
    try {
      const parsed = iface.parseError(data);
      if (!parsed) continue;
      const args: Record<string, string | number | boolean> = {};
      parsed.fragment.inputs.forEach((input, i) => {
        const v = parsed.args[i];
        args[input.name] = typeof v === "bigint" ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v;
      });
      return { name: parsed.name, args };
    } catch {
      /* try the next interface */
    }
  }
  return null;
}

/** A contract's refusal, by its custom error: forbidden for a role check, not found for an unknown id, else a conflict. */
export function revertRefusal(err: unknown): Refusal | null {
  const r = decodeRevert(err);
  if (!r) return null;
  const short = r.name.replace(/^[A-Za-z]+_/, "");
  const kind = /^Not[A-Z]/.test(short) ? "forbidden" : /^Unknown/.test(short) ? "not_found" : "conflict";
  return new Refusal(kind, r.name, `the contract refused: ${r.name}`, r.args);
}

export interface SentTx {
  hash: string;
  nonce: number;
  wait(): Promise<TransactionReceipt>;
}

/** A transaction was signed and sent but no node answered: it may or may not be in a node's pool. */
export class MaybeSentError extends RetryableError {}

export interface SendOptions {
  /**
   * The gas limit, when the caller knows it (a consumption batch: from its voucher count): no estimate is asked
   * of the node, so a refusal shows only when the transaction is mined (the caller must handle a mined revert).
   */
  gasLimit?: bigint;
  /**
   * Called with the signed transaction's hash before it is sent (to record it durably); if it throws, nothing is
   * sent and the nonce is kept for the next transaction.
   */
  beforeSend?: (hash: string, nonce: number) => Promise<void>;
  /** What the transaction is for, kept in the journal (default "api"). */
  origin?: TxOrigin;
  /** Who asked for it (the API key), kept in the journal. */
  actor?: TxActor | null;
}

/** What a transaction is for, kept in the journal. */
export type TxOrigin = "api" | "relay" | "vouchers" | "risk" | "enforcement";

/** Who asked for a transaction: the API key, its role and subject (absent for the gateway's own work). */
export interface TxActor {
  keyId: string;
  role: string;
  subject: string | null;
}

/** Where signed transactions are kept before they are sent (services/journal.ts); a crash then loses none. */
export interface SignedTxSink {
  record(r: { hash: string; sender: string; nonce: number; raw: string; origin: TxOrigin; actor?: TxActor | null }): Promise<void>;
  refused(hash: string, reason: string): Promise<void>;
}

/**
 * Signs and sends transactions for one account. Nonces are assigned here, in order, so concurrent requests
 * never collide; a failed send puts the nonce back by re-reading it from the chain. A transaction is estimated
 * first (unless its caller gives the gas limit), so a refusal comes back as the contract's custom error before
 * anything is sent.
 */
export function createAccountSender(wallet: Wallet, provider: JsonRpcApiProvider, gasPriceWei: bigint, journal?: SignedTxSink) {
  let nextNonce: number | null = null;
  let chainId: bigint | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  const address = wallet.address;

  async function sendNow(req: TransactionRequest, opts: SendOptions): Promise<SentTx> {
    let gasLimit: bigint;
    if (opts.gasLimit !== undefined) gasLimit = opts.gasLimit;
    else {
      try {
        const estimate = await provider.estimateGas({ ...req, from: address, gasPrice: gasPriceWei, type: 0 });
        gasLimit = (estimate * 12n) / 10n + 10_000n;
      } catch (err) {
        const api = revertRefusal(err);
        if (api) throw api;
        if (isError(err, "CALL_EXCEPTION")) throw new Refusal("conflict", "Reverted", "the contract refused the transaction without a known reason");
        throw new RetryableError(`estimating gas failed: ${(err as Error).message}`, { cause: err });
      }
    }
    if (nextNonce === null) nextNonce = await provider.getTransactionCount(address, "pending");
    const nonce = nextNonce;
    chainId ??= (await provider.getNetwork()).chainId;
    let signed: string;
    let signedHash: string;
    if (typeof req.to === "string" && Object.keys(req).every((k) => k === "to" || k === "data" || k === "value")) {
      // The common case (a call to a custody contract), signed without ethers' generic serializer: see rawtx.ts.
      ({ raw: signed, hash: signedHash } = signLegacy(wallet.signingKey, {
        nonce, gasPrice: gasPriceWei, gasLimit, to: req.to, value: req.value == null ? 0n : BigInt(req.value), data: req.data ?? "0x", chainId,
      }));
    } else {
      signed = await wallet.signTransaction({ ...req, from: address, nonce, gasLimit, gasPrice: gasPriceWei, type: 0, chainId });
      signedHash = "0x" + keccak(Buffer.from(signed.slice(2), "hex")).toString("hex");
    }
    if (journal) await journal.record({ hash: signedHash, sender: address, nonce, raw: signed, origin: opts.origin ?? "api", actor: opts.actor });
    if (opts.beforeSend) await opts.beforeSend(signedHash, nonce);
    try {
      const hash: string = await provider.send("eth_sendRawTransaction", [signed]);
      nextNonce = nonce + 1;
      return { hash, nonce, wait: () => waitReceipt(provider, hash) };
    } catch (err) {
      nextNonce = null; // re-read from the chain next time
      // No answer from any node (rather than a refusal): the transaction may be in a node's pool all the same.
      if (err instanceof RetryableError) throw new MaybeSentError(`sending the transaction got no answer: ${err.message}`, { cause: err });
      if (journal) await journal.refused(signedHash, (err as Error).message);
      const api = revertRefusal(err);
      if (api) throw api;
      throw new RetryableError(`sending the transaction failed: ${(err as Error).message}`, { cause: err });
    }
  }

  return {
    address,
    send(req: TransactionRequest, opts: SendOptions = {}): Promise<SentTx> {
      const run = queue.then(() => sendNow(req, opts));
      queue = run.catch(() => undefined);
      return run;
    },
    resetNonce() {
      nextNonce = null;
    },
  };
}

export type AccountSender = ReturnType<typeof createAccountSender>;

export async function waitReceipt(provider: JsonRpcApiProvider, hash: string, timeoutMs = 120_000): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await provider.getTransactionReceipt(hash);
    if (r) return r;
    if (Date.now() > deadline) throw new RetryableError(`transaction ${hash} not mined within ${timeoutMs / 1000} s`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/**
 * The parties' keys, from encrypted keystore files (ethers JSON wallets) in one folder, named by address.
 * Passwords come from the environment; a key is decrypted the first time it is needed and kept in memory.
 */
export function createKeyRing(opts: { dir: string; provider: JsonRpcApiProvider; gasPriceWei?: bigint; env?: NodeJS.ProcessEnv; journal?: SignedTxSink }) {
  const senders = new Map<string, AccountSender>();
  const pending = new Map<string, Promise<AccountSender>>();
  // Every sender writes to the journal attached now or later (the gateway attaches its own to a ring a test made).
  let journal = opts.journal;
  const sink: SignedTxSink = {
    record: (r) => (journal ? journal.record(r) : Promise.resolve()),
    refused: (hash, reason) => (journal ? journal.refused(hash, reason) : Promise.resolve()),
  };

  function fileFor(address: string): string | null {
    if (!fs.existsSync(opts.dir)) return null;
    const want = address.toLowerCase().replace(/^0x/, "");
    for (const f of fs.readdirSync(opts.dir)) {
      if (f.toLowerCase().includes(want) && f.endsWith(".json")) return path.join(opts.dir, f);
    }
    return null;
  }

  async function load(address: string): Promise<AccountSender> {
    const file = fileFor(address);
    if (!file) throw new Refusal("conflict", "NoKeystore", `the gateway holds no key for ${address}; sign the transaction yourself and POST it to /v1/transactions`);
    const password = keystorePassword(address, opts.env);
    if (!password) throw new FatalError(`no password for the keystore of ${address}: set KEYSTORE_PASSWORD or KEYSTORE_PASSWORD_${address.toLowerCase()}`);
    let wallet: Wallet;
    try {
      wallet = (await Wallet.fromEncryptedJson(fs.readFileSync(file, "utf8"), password)) as Wallet;
    } catch {
      throw new FatalError(`cannot decrypt the keystore of ${address} (${path.basename(file)}): wrong password?`);
    }
    return createAccountSender(wallet.connect(opts.provider) as Wallet, opts.provider, opts.gasPriceWei ?? 0n, sink);
  }

  return {
    has(address: string): boolean {
      return senders.has(address.toLowerCase()) || fileFor(address) !== null;
    },
    async sender(address: string): Promise<AccountSender> {
      const key = address.toLowerCase();
      const s = senders.get(key);
      if (s) return s;
      let p = pending.get(key);
      if (!p) {
        p = load(address).then((x) => {
          senders.set(key, x);
          return x;
        });
        pending.set(key, p);
        p.catch(() => pending.delete(key));
      }
      return p;
    },
    /** Keeps every transaction signed from now on in `j` before it is sent. */
    attachJournal(j: SignedTxSink) {
      journal = j;
    },
    /** Adds a key held in memory (tests, the local platform's first parties). */
    add(wallet: Wallet): AccountSender {
      const s = createAccountSender(wallet.connect(opts.provider) as Wallet, opts.provider, opts.gasPriceWei ?? 0n, sink);
      senders.set(wallet.address.toLowerCase(), s);
      return s;
    },
  };
}

export type KeyRing = ReturnType<typeof createKeyRing>;

/** Writes `wallet` as an encrypted keystore file named by its address; returns the path. */
export async function writeKeystore(dir: string, wallet: Wallet | { address: string; encrypt(p: string): Promise<string> }, password: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${wallet.address.toLowerCase()}.json`);
  fs.writeFileSync(file, await wallet.encrypt(password), { mode: 0o600 });
  return file;
}
