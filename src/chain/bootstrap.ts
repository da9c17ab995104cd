import { ethers, Signer } from "ethers";
import { CustodyRegistry, PrepaidEscrow } from "../../typechain-types";
import { addCustodianBank, deployEnforcementAnchor, deployPlatform } from "./deploy";
import { BEIJING_INDUSTRIES, DEFAULT_POLICY, IndustryDefinition } from "./policies";

export interface Deployment {
  chainId: number;
  registry: string;
  escrow: string;
  startBlock: number;
  banks: { bankId: number; account: string; token: string; name: string }[];
  deployedAt: string;
  /** The enforcement record's anchor; absent in deployments recorded before it existed (see ensureEnforcementAnchor). */
  enforcementAnchor?: string;
}

/**
 * A deployment recorded before the enforcement anchor existed gets one now: deployed by `deployer` (any account;
 * the anchor has no owner) and added to the record. Returns the deployment unchanged when it has a live one.
 */
export async function ensureEnforcementAnchor(deployment: Deployment, deployer: Signer): Promise<{ deployment: Deployment; deployed: boolean }> {
  if (deployment.enforcementAnchor && (await deployer.provider!.getCode(deployment.enforcementAnchor)) !== "0x") return { deployment, deployed: false };
  const anchor = await deployEnforcementAnchor(deployer, deployment.escrow);
  return { deployment: { ...deployment, enforcementAnchor: await anchor.getAddress() }, deployed: true };
}

/**
 * Deploys the contracts and sets up the district: the default policy, the industries with their regulators
 * and own policies, and one custodian bank. `regulators` maps an industry's regulator code to its account.
 */
export async function bootstrapDistrict(opts: {
  deployer: Signer;
  platformRegulator: Signer;
  riskOracle: string;
  bank: { account: string; name: string; symbol: string };
  regulators: Record<string, string>;
  industries?: IndustryDefinition[];
}): Promise<{ deployment: Deployment; registry: CustodyRegistry; escrow: PrepaidEscrow }> {
  const deployerAddr = await opts.deployer.getAddress();
  const regulatorAddr = await opts.platformRegulator.getAddress();
  const { registry, escrow, blockNumber } = await deployPlatform(opts.deployer, {
    admin: deployerAddr,
    platformRegulator: regulatorAddr,
    defaultPolicy: DEFAULT_POLICY,
  });
  await (await registry.grantRole(await registry.RISK_ORACLE_ROLE(), opts.riskOracle)).wait();
  const reg = registry.connect(opts.platformRegulator);
  for (const ind of opts.industries ?? BEIJING_INDUSTRIES) {
    const account = ind.regulator ? opts.regulators[ind.regulator] ?? ethers.ZeroAddress : ethers.ZeroAddress;
    await (await reg.defineIndustry(ind.id, account)).wait();
    // The floor first: the industry's own policy is checked against it.
    if (ind.custodyFloorBps) await (await reg.setIndustryCustodyFloor(ind.id, ind.custodyFloorBps)).wait();
    if (ind.policy) await (await reg.setIndustryPolicy(ind.id, ind.policy)).wait();
  }
  const { token, bankId } = await addCustodianBank(escrow, opts.platformRegulator, opts.deployer, opts.bank);
  const anchor = await deployEnforcementAnchor(opts.deployer, await escrow.getAddress());
  const net = await opts.deployer.provider!.getNetwork();
  return {
    registry,
    escrow,
    deployment: {
      chainId: Number(net.chainId),
      registry: await registry.getAddress(),
      escrow: await escrow.getAddress(),
      startBlock: blockNumber,
      banks: [{ bankId: Number(bankId), account: opts.bank.account, token: await token.getAddress(), name: opts.bank.name }],
      deployedAt: new Date().toISOString(),
      enforcementAnchor: await anchor.getAddress(),
    },
  };
}
