import { Interface } from "ethers";
import { PrepaidEscrow__factory, CustodyRegistry__factory } from "../typechain-types";
for (const abi of [PrepaidEscrow__factory.abi, CustodyRegistry__factory.abi]) {
  const iface = new Interface(abi);
  iface.forEachEvent((e) => console.log(e.anonymous ? "ANON" : "", e.format("full")));
}
