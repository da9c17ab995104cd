import { expect } from "chai";
import { Interface, ZeroAddress } from "ethers";
import { decodeLog, decodeLogByAbi, RawLog } from "../../src/chain/events";
import { FatalError, RetryableError } from "../../src/errors";
import { CustodyRegistry__factory, PrepaidEscrow__factory } from "../../typechain-types";

/** The positional decoders must give exactly what ethers' ABI decoding gives, edge values included. */
describe("event decoding", () => {
  const escrowIface = new Interface(PrepaidEscrow__factory.abi);
  const registryIface = new Interface(CustodyRegistry__factory.abi);
  const contracts = { escrow: "0x5fbdb2315678afecb367f032d93f642f64180aa3", registry: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512" };
  const where = { blockNumber: "0x10", blockHash: "0x" + "11".repeat(32), transactionHash: "0x" + "22".repeat(32), transactionIndex: "0x0", logIndex: "0x1" };
  const M64 = (1n << 64n) - 1n;
  const M48 = (1n << 48n) - 1n;
  const M40 = (1n << 40n) - 1n;
  const logOf = (iface: Interface, address: string, name: string, args: unknown[]): RawLog => {
    const { topics, data } = iface.encodeEventLog(iface.getEvent(name)!, args);
    return { ...where, address, topics, data };
  };
  const cases: [string, RawLog][] = [
    ["CardPurchased at the field limits", logOf(escrowIface, contracts.escrow, "CardPurchased", [M64, 0xffffffffn, "0x" + "fe".repeat(20), 0xffffffffn, 2, 0xffff, M48, M48, 0, M40, M40, false])],
    ["CardPurchased, small values", logOf(escrowIface, contracts.escrow, "CardPurchased", [(1n << 32n) | 5n, 1, "0x" + "ab".repeat(20), 1, 1, 120, 360_000, 72_000, 288_000, 1_700_000_000, 0, true])],
    ["PaidOut with a uint64 over 2^53", logOf(escrowIface, contracts.escrow, "PaidOut", [7, 3, M64, ZeroAddress])],
    ["DisputeOpened", logOf(escrowIface, contracts.escrow, "DisputeOpened", [(1n << 63n) | 1n, 5, "0x" + "0a".repeat(20), "0x" + "ff".repeat(32)])],
    ["MerchantAdmitted", logOf(escrowIface, contracts.escrow, "MerchantAdmitted", [1, "0x" + "12".repeat(20), 6, 1, "0x" + "00".repeat(31) + "01"])],
    ["LessonsConsumed", logOf(escrowIface, contracts.escrow, "LessonsConsumed", [M64, 65_535, M48, 65_535])],
    ["IndustryPolicySet (a struct)", logOf(registryIface, contracts.registry, "IndustryPolicySet", [9, [10_000, 255, 65_535, 0, 92, M48, 1n, 0n, 0xffff_ffffn]])],
    ["FrozenPayableDecided (a bool)", logOf(escrowIface, contracts.escrow, "FrozenPayableDecided", [7, true, M64, "0x" + "0b".repeat(20), "0x" + "ee".repeat(32)])],
    ["KeyRecoveryStarted", logOf(escrowIface, contracts.escrow, "KeyRecoveryStarted", [M64, "0x" + "0c".repeat(20), "0x" + "0d".repeat(20), "0x" + "0e".repeat(20), M40])],
    ["FilingThresholdReached", logOf(escrowIface, contracts.escrow, "FilingThresholdReached", [1, M64, 50_000_000])],
    ["RoleGranted", logOf(registryIface, contracts.registry, "RoleGranted", ["0x" + "cd".repeat(32), "0x" + "12".repeat(20), "0x" + "34".repeat(20)])],
  ];
  for (const [what, log] of cases) {
    it(what, () => {
      const fast = decodeLog(log, contracts)!.args;
      expect(fast).to.deep.equal(decodeLogByAbi(log, contracts));
      expect(JSON.stringify(fast)).to.equal(JSON.stringify(decodeLogByAbi(log, contracts)));
    });
  }

  it("falls back to ethers for a log not in the expected shape, and refuses what ethers refuses", () => {
    const log = logOf(escrowIface, contracts.escrow, "BankAdded", [1, "0x" + "12".repeat(20), "0x" + "34".repeat(20)]);
    const longer = { ...log, data: log.data + "00".repeat(32) };
    expect(decodeLog(longer, contracts)!.args).to.deep.equal(decodeLogByAbi(longer, contracts));
    const dirty = { ...log, data: "0x" + "ff".repeat(12) + log.data.slice(26) }; // an address word with high bits set
    expect(() => decodeLog(dirty, contracts)).to.throw(FatalError);
  });

  it("refuses a log whose block or transaction hash is not 32 bytes of hex (API answers carry them unescaped)", () => {
    const log = logOf(escrowIface, contracts.escrow, "LessonsConsumed", [1n, 1, 1, 0]);
    for (const bad of ['0x' + "11".repeat(31) + '"}', "0x" + "11".repeat(31), "11".repeat(33), "0x" + "1g".repeat(32)]) {
      expect(() => decodeLog({ ...log, blockHash: bad }, contracts), bad).to.throw(RetryableError, /malformed block or transaction hash/);
      expect(() => decodeLog({ ...log, transactionHash: bad }, contracts), bad).to.throw(RetryableError);
    }
    const other = logOf(escrowIface, contracts.escrow, "BankAdded", [1, "0x" + "12".repeat(20), "0x" + "34".repeat(20)]);
    expect(() => decodeLog({ ...other, transactionHash: "0x" + "ab".repeat(31) + '\\' }, contracts)).to.throw(RetryableError);
    expect(decodeLog({ ...log, blockHash: "0x" + "AB".repeat(32) }, contracts)).to.not.equal(null);
  });

  it("ignores logs of other contracts and unknown events", () => {
    const log = logOf(escrowIface, contracts.escrow, "LessonsConsumed", [1n, 1, 1, 0]);
    expect(decodeLog({ ...log, address: "0x" + "99".repeat(20) }, contracts)).to.equal(null);
    expect(decodeLog({ ...log, topics: ["0x" + "77".repeat(32), log.topics[1]] }, contracts)).to.equal(null);
  });
});
