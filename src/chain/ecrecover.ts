import { Rpc } from "./rpc";

/**
 * Signers of many (digest, v, r, s) at once, recovered by the node's ecrecover precompile in one eth_call per chunk
 * (all chunks in one JSON-RPC batch): the node's native secp256k1 recovers a signature in ~50 µs of its CPU, where
 * JavaScript takes 1-3 ms, and one call for a whole request replaces a call per voucher (which cost the node ~130 µs
 * each in JSON-RPC overhead alone).
 *
 * The call carries no `to`: its data is creation code followed by the signatures, so it runs on any node (nothing is
 * deployed, no state override is needed). The code copies the records into memory, calls the precompile (address 1)
 * for each, and returns the 32-byte answers one after another; a record the precompile refuses leaves its answer zero.
 *
 *   PUSH2 K DUP1 CODESIZE SUB DUP1 SWAP2 PUSH1 0 CODECOPY      memory[0, len) = the records; stack: len
 *   PUSH1 0                                                    i = 0
 *   loop: JUMPDEST DUP2 DUP2 LT ISZERO PUSH2 end JUMPI         while i < len
 *     PUSH1 32 DUP3 DUP3 PUSH1 2 SHR ADD                         out = len + i/4, 32 bytes
 *     PUSH1 128 DUP4 PUSH1 1 GAS STATICCALL POP                  ecrecover(memory[i, i+128)) → memory[out]
 *     PUSH1 128 ADD PUSH1 loop JUMP                              i += 128
 *   end: JUMPDEST POP DUP1 PUSH1 2 SHR SWAP1 RETURN            return memory[len, len + len/4)
 */
const RECOVER_ALL = "0x610034" + "80380380916000396000" + "5b8181101561002c57" + "602082826002" + "1c01" + "608083" + "60015afa50" + "608001600d56" + "5b508060021c90f3";

/** Records per call: creation code is limited to 49,152 bytes (EIP-3860), the answer to 24,576 (EIP-170). */
const PER_CALL = 256;

export interface SignatureToRecover {
  /** The 32-byte digest that was signed, 0x-prefixed. */
  digest: string;
  v: number;
  r: string;
  s: string;
}

const word = (x: number) => x.toString(16).padStart(64, "0");

/** Each record's signer, lower-case, or "" where the precompile recovers nothing. Throws if the node does not answer. */
export async function recoverSigners(rpc: Rpc, items: SignatureToRecover[]): Promise<string[]> {
  if (items.length === 0) return [];
  const calls: { method: string; params: unknown[] }[] = [];
  for (let i = 0; i < items.length; i += PER_CALL) {
    const chunk = items.slice(i, i + PER_CALL);
    const parts = [RECOVER_ALL];
    for (const it of chunk) parts.push(it.digest.slice(2), word(it.v), it.r.slice(2), it.s.slice(2));
    // Gas is free in a call; enough for the intrinsic cost, 3,000 per recovery and the 200-per-byte answer deposit.
    const gas = 200_000 + chunk.length * 15_000;
    calls.push({ method: "eth_call", params: [{ data: parts.join(""), gas: "0x" + gas.toString(16) }, "latest"] });
  }
  const answers = await rpc.batch<string>(calls);
  const out: string[] = [];
  answers.forEach((hex, c) => {
    const n = Math.min(PER_CALL, items.length - c * PER_CALL);
    if (typeof hex !== "string" || hex.length !== 2 + n * 64) throw new Error(`the node answered ${String(hex).length} hex digits for ${n} recoveries`);
    for (let j = 0; j < n; j++) {
      const w = hex.slice(2 + j * 64, 2 + (j + 1) * 64);
      out.push(/^0+$/.test(w) ? "" : "0x" + w.slice(24).toLowerCase());
    }
  });
  return out;
}
