import { ethers, Signer } from "ethers";
import { CustodyRegistry, PrepaidEscrow } from "../../typechain-types";
import { addCustodianBank, deployPlatform } from "./deploy";
import { BEIJING_INDUSTRIES, DEFAULT_POLICY, IndustryDefinition } from "./policies";

export interface Deployment {
  chainId: number;
  registry: string;
  escrow: string;
  startBlock: number;
  banks: { bankId: number; account: string; token: string; name: string }[];
  deployedAt: string;
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
    if (ind.policy) await (await reg.setIndustryPolicy(ind.id, ind.policy)).wait();
  }
  const { token, bankId } = await addCustodianBank(escrow, opts.platformRegulator, opts.deployer, opts.bank);
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
    },
  };
}
