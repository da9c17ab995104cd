/* eslint-disable @typescript-eslint/no-explicit-any -- the compiler's storage layout and metadata JSON are read as they come */
/**
 * What the compiler decides and the contracts rely on: every deployed contract's code size against EIP-170's limit
 * with the project's 15% headroom, the packed card slot that PrepaidEscrow._consume writes in one store, the escrow
 * and its operations module agreeing on the storage they share, and the NatSpec a bank or auditor reads (every
 * custom error explained, every parameter of every external function described).
 */
import { expect } from "chai";
import hre, { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { buy, deployFixture, voucher, voucherArg } from "./fixture";

const CODE_LIMIT = 24_576; // EIP-170, enforced by Besu as by Ethereum
const MAX_CODE = Math.floor(CODE_LIMIT * 0.85); // 15% headroom for the next rule

interface StorageEntry { label: string; slot: string; offset: number; type: string }
interface StorageType { label: string; members?: StorageEntry[]; numberOfBytes: string }
interface StorageLayout { storage: StorageEntry[]; types: Record<string, StorageType> }

async function buildOutput(fqn: string): Promise<{ layout: StorageLayout; metadata: Record<string, any>; ast: any }> {
  const info = await hre.artifacts.getBuildInfo(fqn);
  if (!info) throw new Error(`no build info for ${fqn}: compile first`);
  const [source, name] = fqn.split(":");
  const out = info.output.contracts[source][name] as unknown as { storageLayout: StorageLayout; metadata: string };
  return { layout: out.storageLayout, metadata: JSON.parse(out.metadata), ast: info.output.sources };
}

/** The project's own contracts (not OpenZeppelin's, not the test helpers). */
async function projectContracts(): Promise<string[]> {
  return (await hre.artifacts.getAllFullyQualifiedNames()).filter((n) => n.startsWith("contracts/") && !n.startsWith("contracts/test/"));
}

describe("contract layout: code size, storage, NatSpec", () => {
  describe("code size", () => {
    it("every contract's runtime code keeps 15% headroom under the 24,576-byte limit", async () => {
      let checked = 0;
      for (const fqn of await projectContracts()) {
        const artifact = await hre.artifacts.readArtifact(fqn);
        const size = (artifact.deployedBytecode.length - 2) / 2;
        if (size === 0) continue; // interfaces, libraries inlined, abstract contracts
        expect(size, `${fqn}: ${size} bytes, at most ${MAX_CODE}`).to.be.at.most(MAX_CODE);
        checked++;
      }
      expect(checked).to.be.at.least(5); // escrow, operations module, registry, token, anchor
    });

    it("the deployed escrow and the module it delegates to keep it too (immutables filled in)", async () => {
      const f = await loadFixture(deployFixture);
      const module = await f.escrow.operations();
      for (const address of [await f.escrow.getAddress(), module, await f.registry.getAddress(), await f.tokenA.getAddress()]) {
        const size = (await ethers.provider.getCode(address)).length / 2 - 1;
        expect(size, `code at ${address}`).to.be.greaterThan(0).and.at.most(MAX_CODE);
      }
    });
  });

  describe("storage", () => {
    it("the card's slot 0 holds held, unitsLeft and unitsUsed at the CARD_*_SHIFT bits PrepaidEscrow._consume writes", async () => {
      const { layout, ast } = await buildOutput("contracts/PrepaidEscrow.sol:PrepaidEscrow");
      const stored = Object.values(layout.types).find((t) => t.label === "struct StoredCard");
      expect(stored, "StoredCard in the escrow's layout").to.not.equal(undefined);
      const member = (label: string) => stored!.members!.find((m) => m.label === label)!;
      const shifts = constantsOf(ast, "contracts/types/DataTypes.sol");
      const expectations: [string, string, string][] = [
        ["held", "CARD_HELD_SHIFT", "t_uint32"],
        ["unitsLeft", "CARD_UNITS_LEFT_SHIFT", "t_uint16"],
        ["unitsUsed", "CARD_UNITS_USED_SHIFT", "t_uint16"],
      ];
      for (const [label, constant, type] of expectations) {
        const m = member(label);
        expect(m.slot, `${label} is in slot 0`).to.equal("0");
        expect(m.type, `${label}'s type`).to.equal(type);
        expect(shifts.get(constant), `${constant} = ${label}'s offset in bits`).to.equal(BigInt(m.offset * 8));
      }
      // The mask clears 64 bits from CARD_HELD_SHIFT: the three fields must be exactly those bits, adjacent.
      expect(member("unitsLeft").offset).to.equal(member("held").offset + 4);
      expect(member("unitsUsed").offset).to.equal(member("unitsLeft").offset + 2);
    });

    it("a consumption's single store writes held, unitsLeft and unitsUsed where cardOf reads them, and nothing else", async () => {
      const f = await loadFixture(deployFixture);
      const { layout } = await buildOutput("contracts/PrepaidEscrow.sol:PrepaidEscrow");
      const cardsSlot = BigInt(layout.storage.find((e) => e.label === "_cards")!.slot);
      const cardId = await buy(f.escrow, f.bankA, f.school, 1, f.alice.address);
      const slot0 = ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["uint64", "uint256"], [cardId, cardsSlot]));
      const raw = async () => BigInt(await ethers.provider.getStorage(await f.escrow.getAddress(), slot0));
      const bits = (word: bigint, from: number, width: number) => (word >> BigInt(from)) & ((1n << BigInt(width)) - 1n);
      const before = await raw();
      await f.escrow.connect(f.schoolAcct).consume(voucherArg(await voucher(f.escrow, f.alice, cardId, 3, 0)));
      const after = await raw();
      const card = await f.escrow.cardOf(cardId);
      expect(bits(after, 0, 160)).to.equal(BigInt(card.holder)).and.to.equal(bits(before, 0, 160));
      expect(bits(after, 160, 32)).to.equal(card.held).and.to.equal(300_000n - 45_000n);
      expect(bits(after, 192, 16)).to.equal(card.unitsLeft).and.to.equal(17n);
      expect(bits(after, 208, 16)).to.equal(card.unitsUsed).and.to.equal(3n);
      expect(bits(after, 224, 32), "expiryDay, status, kind untouched").to.equal(bits(before, 224, 32));
    });

    it("the operations module's storage is the escrow's: same variables, slots, offsets and types", async () => {
      const core = (await buildOutput("contracts/PrepaidEscrow.sol:PrepaidEscrow")).layout.storage;
      const module = (await buildOutput("contracts/modules/EscrowOperations.sol:EscrowOperations")).layout.storage;
      expect(module.length).to.be.greaterThan(0);
      // Type ids carry the AST id of the struct, which differs between compilation jobs: compare the names only.
      const strip = (e: StorageEntry) => ({ label: e.label, slot: e.slot, offset: e.offset, type: e.type.replace(/\)\d+_/g, ")_") });
      expect(core.slice(0, module.length).map(strip)).to.deep.equal(module.map(strip));
    });
  });

  describe("the operations module", () => {
    it("refuses a call on its own address, whose storage is not the escrow's", async () => {
      const f = await loadFixture(deployFixture);
      const { EscrowOperations__factory } = await import("../../typechain-types");
      const module = EscrowOperations__factory.connect(await f.escrow.operations(), f.regulator);
      await expect(module.freeze(f.school, ethers.ZeroHash)).to.be.revertedWithCustomError(module, "Custody_NotThroughEscrow");
      await expect(module.claim(1n << 32n | 1n)).to.be.revertedWithCustomError(module, "Custody_NotThroughEscrow");
    });

    it("runs at the escrow's address: its events come from the escrow, its reverts carry the module's errors", async () => {
      const f = await loadFixture(deployFixture);
      await expect(f.escrow.connect(f.eduRegulator).freeze(f.school, ethers.id("collapse")))
        .to.emit(f.escrow, "MerchantStatusChanged");
      await expect(f.escrow.connect(f.stranger).freeze(f.gym, ethers.ZeroHash))
        .to.be.revertedWithCustomError(f.escrow, "Custody_NotRegulatorOf").withArgs(3, f.stranger.address);
      expect((await f.escrow.merchantOf(f.school)).status).to.equal(3n);
    });
  });

  describe("NatSpec", () => {
    it("every custom error says when it is thrown and what each of its arguments is", async () => {
      const missing: string[] = [];
      for (const fqn of await projectContracts()) {
        const artifact = await hre.artifacts.readArtifact(fqn);
        const { metadata } = await buildOutput(fqn);
        for (const e of artifact.abi.filter((x: any) => x.type === "error")) {
          const sig = `${e.name}(${e.inputs.map((i: any) => i.type).join(",")})`;
          if (!/^(Custody|Registry|EnforcementAnchor|CustodyToken)_/.test(e.name)) continue; // OpenZeppelin's own
          const notice = metadata.output.userdoc.errors?.[sig]?.[0]?.notice;
          if (!notice) missing.push(`${fqn}: ${sig} has no @notice`);
          const params = metadata.output.devdoc.errors?.[sig]?.[0]?.params ?? {};
          for (const i of e.inputs) if (!params[i.name]) missing.push(`${fqn}: ${sig} has no @param ${i.name}`);
        }
      }
      expect(missing).to.deep.equal([]);
    });

    it("every external function of the interfaces has a @notice and a @param per parameter", async () => {
      const missing: string[] = [];
      for (const fqn of (await projectContracts()).filter((n) => n.startsWith("contracts/interfaces/"))) {
        const artifact = await hre.artifacts.readArtifact(fqn);
        const { metadata } = await buildOutput(fqn);
        for (const fn of artifact.abi.filter((x: any) => x.type === "function")) {
          const sig = `${fn.name}(${fn.inputs.map((i: any) => (i.type === "tuple" ? `(${i.components.map((c: any) => c.type).join(",")})` : i.type === "tuple[]" ? `(${i.components.map((c: any) => c.type).join(",")})[]` : i.type)).join(",")})`;
          if (["allowance", "approve", "balanceOf", "totalSupply", "transfer", "transferFrom"].includes(fn.name) && fqn.endsWith("ICustodyToken")) continue; // IERC20's
          if (!metadata.output.userdoc.methods?.[sig]?.notice) missing.push(`${fqn}: ${sig} has no @notice`);
          const params = metadata.output.devdoc.methods?.[sig]?.params ?? {};
          for (const i of fn.inputs) if (!params[i.name]) missing.push(`${fqn}: ${sig} has no @param ${i.name}`);
        }
      }
      expect(missing).to.deep.equal([]);
    });
  });
});

/** File-level constants of a source with a literal value, from the compiler's AST. */
function constantsOf(sources: any, path: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const node of sources[path].ast.nodes) {
    if (node.nodeType === "VariableDeclaration" && node.constant && node.value?.nodeType === "Literal") {
      out.set(node.name, BigInt(node.value.value));
    }
  }
  return out;
}
