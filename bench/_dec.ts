import { decodeLog } from "../src/chain/events";
import { PrepaidEscrow__factory } from "../typechain-types";
import { Interface } from "ethers";
const iface = new Interface(PrepaidEscrow__factory.abi);
const ev = iface.getEvent("CardPurchased")!;
const holder = "0x" + "ab".repeat(20);
const enc = iface.encodeEventLog(ev, [(1n << 32n) | 5n, 1, holder, 1, 1, 120, 360000, 72000, 288000, 1700000000, 0, true]);
const escrow = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
const log = { address: escrow, topics: enc.topics, data: enc.data, blockNumber: "0x10", blockHash: "0x" + "11".repeat(32), transactionHash: "0x" + "22".repeat(32), transactionIndex: "0x0", logIndex: "0x1" };
const lcEv = iface.getEvent("LessonsConsumed")!;
const enc2 = iface.encodeEventLog(lcEv, [(1n << 32n) | 5n, 1, 600, 7]);
const log2 = { ...log, topics: enc2.topics, data: enc2.data };
for (const [name, l] of [["CardPurchased", log], ["LessonsConsumed", log2]] as const) {
  let t = process.hrtime.bigint(); const N = 20000;
  for (let i = 0; i < N; i++) decodeLog(l, { escrow, registry: "0x0" });
  console.log(name, Number(process.hrtime.bigint() - t) / 1e3 / N, "us/log", JSON.stringify(decodeLog(l, { escrow, registry: "0x0" })!.args));
}
