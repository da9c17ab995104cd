import { ethers } from "hardhat";
import { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { ContractTransactionResponse } from "ethers";
import { deployPlatform, addCustodianBank } from "../../src/chain/deploy";
import { DEFAULT_POLICY, TRAINING_POLICY, CNY } from "../../src/chain/policies";
import { signConsumption, voucherArg, SignedVoucher } from "../../src/chain/vouchers";
import { PrepaidEscrow } from "../../typechain-types";

export const EDUCATION = 1;
export const FITNESS = 3;
export const PET_CARE = 7; // no industry regulator designated
export const LESSON = 1;
export const PERIODIC = 2;
export const DAY = 86_400;

/**
 * The platform every contract test starts from: registry and escrow, two custodian banks, industries
 * (education 100% custody with training caps, fitness at the 40% default, pet care with no regulator),
 * three merchants and their plans.
 */
export async function deployFixture() {
  const [deployer, regulator, eduRegulator, sportsRegulator, riskOracle, bankA, bankB, schoolAcct, gymAcct, petAcct, alice, bob, carol, stranger] =
    await ethers.getSigners();
  const { registry, escrow } = await deployPlatform(deployer, {
    admin: deployer.address,
    platformRegulator: regulator.address,
    defaultPolicy: DEFAULT_POLICY,
  });
  await registry.grantRole(await registry.RISK_ORACLE_ROLE(), riskOracle.address);
  await registry.connect(regulator).defineIndustry(EDUCATION, eduRegulator.address);
  await registry.connect(regulator).setIndustryPolicy(EDUCATION, TRAINING_POLICY);
  await registry.connect(regulator).defineIndustry(FITNESS, sportsRegulator.address);
  await registry.connect(regulator).defineIndustry(PET_CARE, ethers.ZeroAddress);

  const a = await addCustodianBank(escrow, regulator, deployer, { account: bankA.address, name: "Bank A custody fen", symbol: "CFA" });
  const b = await addCustodianBank(escrow, regulator, deployer, { account: bankB.address, name: "Bank B custody fen", symbol: "CFB" });

  await escrow.connect(regulator).admitMerchant(schoolAcct.address, EDUCATION, a.bankId, ethers.id("school"));
  await escrow.connect(regulator).admitMerchant(gymAcct.address, FITNESS, b.bankId, ethers.id("gym"));
  await escrow.connect(regulator).admitMerchant(petAcct.address, PET_CARE, a.bankId, ethers.id("pet"));
  const school = 1, gym = 2, pet = 3;

  // school plan 1: 20 lessons for 3,000 CNY, 90 days. plan 2: 7 lessons for 1,000 fen (awkward rounding).
  await escrow.connect(schoolAcct).publishPlan(school, LESSON, 20, 0, 90, 3_000n * CNY);
  await escrow.connect(schoolAcct).publishPlan(school, LESSON, 7, 0, 90, 1_000n);
  // gym plan 1: 3 monthly periods for 900 CNY. plan 2: 10 visits for 500 CNY, no expiry.
  await escrow.connect(gymAcct).publishPlan(gym, PERIODIC, 3, 30 * DAY, 0, 900n * CNY);
  await escrow.connect(gymAcct).publishPlan(gym, LESSON, 10, 0, 0, 500n * CNY);
  // pet plan 1: 5 washes for 300 CNY.
  await escrow.connect(petAcct).publishPlan(pet, LESSON, 5, 0, 0, 300n * CNY);

  const { chainId } = await ethers.provider.getNetwork();
  return {
    registry, escrow, tokenA: a.token, tokenB: b.token, chainId,
    deployer, regulator, eduRegulator, sportsRegulator, riskOracle, bankA, bankB,
    schoolAcct, gymAcct, petAcct, alice, bob, carol, stranger,
    school, gym, pet,
  };
}

/** The card id a purchase transaction created. */
export async function cardIdFrom(escrow: PrepaidEscrow, tx: ContractTransactionResponse): Promise<bigint> {
  const receipt = await tx.wait();
  for (const log of receipt!.logs) {
    const parsed = escrow.interface.parseLog(log);
    if (parsed?.name === "CardPurchased") return parsed.args.cardId as bigint;
  }
  throw new Error("no CardPurchased event");
}

export async function buy(
  escrow: PrepaidEscrow, bank: HardhatEthersSigner, merchantId: number, planIndex: number, holder: string, named = true,
): Promise<bigint> {
  return cardIdFrom(escrow, await escrow.connect(bank).purchase(merchantId, planIndex, holder, named));
}

export async function latestTime(): Promise<number> {
  return (await ethers.provider.getBlock("latest"))!.timestamp;
}

export async function voucher(
  escrow: PrepaidEscrow, holder: HardhatEthersSigner, cardId: bigint, lessons: number, sequence: number, deadline?: number,
): Promise<SignedVoucher> {
  const { chainId } = await ethers.provider.getNetwork();
  return signConsumption(holder, chainId, await escrow.getAddress(), {
    cardId, lessons, sequence, deadline: deadline ?? (await latestTime()) + 3600,
  });
}

export { voucherArg };
