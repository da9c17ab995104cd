import { Signer } from "ethers";
import {
  CustodyRegistry,
  CustodyRegistry__factory,
  CustodyToken,
  CustodyToken__factory,
  EnforcementAnchor,
  EnforcementAnchor__factory,
  PrepaidEscrow,
  PrepaidEscrow__factory,
} from "../../typechain-types";
import { PolicyInput } from "./policies";

export interface PlatformContracts {
  registry: CustodyRegistry;
  escrow: PrepaidEscrow;
}

/** Deploys the registry and the escrow; `deployer` becomes role admin, `platformRegulator` the bureau. */
export async function deployPlatform(
  deployer: Signer,
  opts: { admin: string; platformRegulator: string; defaultPolicy: PolicyInput },
): Promise<PlatformContracts & { blockNumber: number }> {
  const registry = await new CustodyRegistry__factory(deployer).deploy(opts.admin, opts.platformRegulator, opts.defaultPolicy);
  await registry.waitForDeployment();
  const escrow = await new PrepaidEscrow__factory(deployer).deploy(await registry.getAddress());
  const receipt = await escrow.deploymentTransaction()!.wait();
  const regReceipt = await registry.deploymentTransaction()!.wait();
  return { registry, escrow, blockNumber: Math.min(regReceipt!.blockNumber, receipt!.blockNumber) };
}

/** Deploys a custodian bank's deposit token and registers the bank with the escrow (as platform regulator). */
export async function addCustodianBank(
  escrow: PrepaidEscrow,
  regulator: Signer,
  deployer: Signer,
  opts: { account: string; name: string; symbol: string },
): Promise<{ token: CustodyToken; bankId: bigint }> {
  const token = await new CustodyToken__factory(deployer).deploy(opts.name, opts.symbol, opts.account, await escrow.getAddress());
  await token.waitForDeployment();
  const tx = await escrow.connect(regulator).addBank(opts.account, await token.getAddress());
  const receipt = await tx.wait();
  const ev = receipt!.logs.map((l) => escrow.interface.parseLog(l)).find((e) => e?.name === "BankAdded");
  return { token, bankId: ev!.args.bankId as bigint };
}

/** Deploys the anchor of the regulators' enforcement record; it reads regulators and merchants through `escrow`. */
export async function deployEnforcementAnchor(deployer: Signer, escrow: string): Promise<EnforcementAnchor> {
  const anchor = await new EnforcementAnchor__factory(deployer).deploy(escrow);
  await anchor.waitForDeployment();
  return anchor;
}
