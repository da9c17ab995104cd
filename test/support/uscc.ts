import { createHash } from "node:crypto";
import { usccCheckCharacter } from "../../src/web-public/shared/uscc";

/**
 * A well-formed 统一社会信用代码 for a test merchant, the same for the same seed: 91 (enterprise) 110105 (Chaoyang),
 * nine digits from the seed's hash, and the check character GB 32100-2015 calls for.
 */
export function usccFor(seed: string | number): string {
  const digits = BigInt("0x" + createHash("sha256").update(String(seed)).digest("hex").slice(0, 15)).toString().padStart(9, "0").slice(-9);
  const body = `91110105${digits}`;
  return body + usccCheckCharacter(body);
}
