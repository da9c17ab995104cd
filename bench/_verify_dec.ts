import { isDeepStrictEqual } from "node:util";
import fs from "node:fs";
import { startAnvil } from "../src/chain/anvil";
import { decodeLog, decodeLogByAbi, RawLog } from "../src/chain/events";
import { deployDistrict, driveActivity } from "../test/support/chain";

async function check(url: string, contracts: { escrow: string; registry: string }, label: string) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getLogs", params: [{ address: [contracts.escrow, contracts.registry], fromBlock: "0x0", toBlock: "latest" }] }) });
  const logs = (await res.json()).result as RawLog[];
  const kinds = new Map<string, number>();
  let bad = 0;
  for (const l of logs) {
    const a = decodeLog(l, contracts);
    const b = decodeLogByAbi(l, contracts);
    kinds.set(a?.event ?? "null", (kinds.get(a?.event ?? "null") ?? 0) + 1);
    if (!isDeepStrictEqual(a?.args ?? null, b) || JSON.stringify(a?.args) !== JSON.stringify(b)) { if (bad++ < 5) console.log("MISMATCH", a?.event, a?.args, b); }
  }
  console.log(label, logs.length, "logs,", bad, "mismatches", Object.fromEntries(kinds));
}

async function main() {
  const node = await startAnvil();
  try {
    const d = await deployDistrict(node.url);
    await driveActivity(d);
    await driveActivity(d, 1);
    const c = { escrow: d.deployment.escrow.toLowerCase(), registry: d.deployment.registry.toLowerCase() };
    await check(node.url, c, "test district");
    // a few more event kinds: exit, renew, plan activity, refund request cancel, periodic
    d.provider.destroy();
  } finally {
    await node.stop();
  }
  const metaFile = fs.readdirSync("/tmp/custody-bench-index").find((f) => f.endsWith(".meta.json"));
  if (metaFile) {
    const info = JSON.parse(fs.readFileSync("/tmp/custody-bench-index/" + metaFile, "utf8"));
    fs.copyFileSync("/tmp/custody-bench-index/" + metaFile.replace(".meta.json", ".anvil-state.json"), "/tmp/verify-state.json");
    const n2 = await startAnvil({ stateFile: "/tmp/verify-state.json", accounts: 26 });
    try {
      await check(n2.url, { escrow: info.deployment.escrow.toLowerCase(), registry: info.deployment.registry.toLowerCase() }, "bench chain");
    } finally { n2.kill(); }
  }
}
main();
