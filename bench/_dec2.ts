import { isDeepStrictEqual } from "node:util";
import { decodeLog, decodeLogByAbi } from "../src/chain/events";
import { PrepaidEscrow__factory, CustodyRegistry__factory } from "../typechain-types";
import { Interface, ZeroAddress } from "ethers";
const esc = new Interface(PrepaidEscrow__factory.abi), reg = new Interface(CustodyRegistry__factory.abi);
const escrow = "0x5fbdb2315678afecb367f032d93f642f64180aa3", registry = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512";
const c = { escrow, registry };
const base = { blockNumber: "0x10", blockHash: "0x" + "11".repeat(32), transactionHash: "0x" + "22".repeat(32), transactionIndex: "0x0", logIndex: "0x1" };
const M64 = (1n << 64n) - 1n, M48 = (1n << 48n) - 1n, M40 = (1n << 40n) - 1n;
const cases: [Interface, string, string, unknown[]][] = [
  [esc, escrow, "CardPurchased", [M64, 0xffffffffn, "0x" + "fe".repeat(20), 0xffffffffn, 2, 0xffff, M48, M48, 0, M40, M40, false]],
  [esc, escrow, "PaidOut", [7, 3, M64, ZeroAddress]],
  [esc, escrow, "DisputeOpened", [(1n << 63n) | 1n, 5, "0x" + "0A".repeat(20), "0x" + "ff".repeat(32)]],
  [esc, escrow, "MerchantAdmitted", [1, "0x" + "12".repeat(20), 6, 1, "0x" + "00".repeat(31) + "01"]],
  [reg, registry, "IndustryPolicySet", [9, [10000, 255, 65535, 0, 92, M48, 1n, 0n]]],
  [esc, escrow, "LessonsConsumed", [M64, 65535, M48, 65535]],
];
let bad = 0;
for (const [iface, addr, name, args] of cases) {
  const enc = iface.encodeEventLog(iface.getEvent(name)!, args);
  const log = { ...base, address: addr, topics: enc.topics, data: enc.data };
  const a = decodeLog(log, c)!.args, b = decodeLogByAbi(log, c);
  const ok = isDeepStrictEqual(a, b) && JSON.stringify(a) === JSON.stringify(b);
  if (!ok) bad++;
  console.log(ok ? "ok " : "BAD", name, JSON.stringify(a), ok ? "" : JSON.stringify(b));
}
// dirty address word and wrong data length fall back to ethers (and its error)
const enc = esc.encodeEventLog(esc.getEvent("BankAdded")!, [1, "0x" + "12".repeat(20), "0x" + "34".repeat(20)]);
const dirty = { ...base, address: escrow, topics: enc.topics, data: "0x" + "ff".repeat(12) + enc.data.slice(26) };
for (const l of [dirty, { ...dirty, data: enc.data + "00".repeat(32) }]) {
  let e1 = "", e2 = "";
  try { e1 = JSON.stringify(decodeLog(l, c)!.args); } catch (e) { e1 = "throws " + (e as Error).name + ": " + (e as Error).message.slice(0, 80); }
  try { e2 = JSON.stringify(decodeLogByAbi(l, c)); } catch (e) { e2 = "throws " + (e as Error).name + ": " + (e as Error).message.slice(0, 80); }
  console.log(e1 === e2 ? "ok " : "BAD", e1, e2);
}
console.log(bad ? "FAILED" : "all equal");
