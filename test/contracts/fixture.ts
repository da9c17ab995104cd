import { expect } from "chai";
import { ethers } from "hardhat";
import { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { ContractTransactionResponse } from "ethers";
import { deployPlatform, addCustodianBank } from "../../src/chain/deploy";
import { DEFAULT_POLICY, TRAINING_POLICY, CNY } from "../../src/chain/policies";
import { CardAtSequence, consumptionShare, consumptionsAhead, signCheckIn, signConsumption, voucherArg, SignedVoucher } from "../../src/chain/vouchers";
import { CustodyToken__factory, PrepaidEscrow } from "../../typechain-types";

export const EDUCATION = 1;
export const FITNESS = 3;
export const PET_CARE = 7; // no industry regulator designated
export const LESSON = 1;
export const PERIODIC = 2;
export const DAY = 86_400;

/**
 * The platform every contract test starts from: registry and escrow, two custodian banks, industries
 * (education 100% custody, its floor, with training caps, fitness at the 40% default, pet care with no regulator),
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
  await registry.connect(regulator).setIndustryCustodyFloor(EDUCATION, 10_000); // 教监管函〔2021〕2号
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

/** Buys a time-based card and has its holder check in at once: its periods start now, not at the end of cooling-off. */
export async function buyStarted(
  escrow: PrepaidEscrow, bank: HardhatEthersSigner, merchantId: number, planIndex: number, holder: HardhatEthersSigner, named = true,
): Promise<bigint> {
  const cardId = await buy(escrow, bank, merchantId, planIndex, holder.address, named);
  const { chainId } = await ethers.provider.getNetwork();
  const args = await signCheckIn(holder, chainId, await escrow.getAddress(), { cardId, deadline: (await latestTime()) + 3_600 });
  await escrow.checkIn(...args);
  return cardId;
}

export async function latestTime(): Promise<number> {
  return (await ethers.provider.getBlock("latest"))!.timestamp;
}

/**
 * The amount a voucher for `lessons` lessons at `sequence` releases, from the card as the escrow holds it now: its
 * share (CustodyMath.share). A sequence ahead of the card's is reached one lesson at a time (the way the tests sign
 * vouchers ahead); lessons the card does not have release what is held (the escrow refuses them before the amount).
 */
export async function amountAt(escrow: PrepaidEscrow, cardId: bigint, lessons: number, sequence: number): Promise<bigint> {
  const c = await escrow.cardOf(cardId);
  let held = c.held;
  let left = Number(c.unitsLeft);
  for (let used = Number(c.unitsUsed); used < sequence && left > 0; used++) {
    held -= consumptionShare(held, left, 1);
    left -= 1;
  }
  return lessons >= 1 && lessons <= left ? consumptionShare(held, left, lessons) : held;
}

export async function voucher(
  escrow: PrepaidEscrow, holder: HardhatEthersSigner, cardId: bigint, lessons: number, sequence: number, deadline?: number, amount?: bigint,
): Promise<SignedVoucher> {
  const { chainId } = await ethers.provider.getNetwork();
  return signConsumption(holder, chainId, await escrow.getAddress(), {
    cardId, lessons, sequence, deadline: deadline ?? (await latestTime()) + 3600,
    amount: amount ?? (await amountAt(escrow, cardId, lessons, sequence)),
  });
}

/** A card as the escrow holds it now, as the voucher codec takes it. */
export async function cardNow(escrow: PrepaidEscrow, cardId: bigint): Promise<CardAtSequence> {
  const c = await escrow.cardOf(cardId);
  return { cardId, held: c.held, unitsLeft: Number(c.unitsLeft), unitsUsed: Number(c.unitsUsed) };
}

/** Vouchers signed ahead for `lessons` (one voucher per entry, in sequence from the card as it stands), as tuples. */
export async function signAhead(
  escrow: PrepaidEscrow, holder: HardhatEthersSigner, cardId: bigint, lessons: number[], deadline: number,
): Promise<VoucherArg[]> {
  const { chainId } = await ethers.provider.getNetwork();
  const escrowAddress = await escrow.getAddress();
  const out: VoucherArg[] = [];
  for (const m of consumptionsAhead(await cardNow(escrow, cardId), lessons, deadline)) {
    out.push(voucherArg(await signConsumption(holder, chainId, escrowAddress, m)));
  }
  return out;
}

/** The tuple PrepaidEscrow.consume takes. */
export type VoucherArg = ReturnType<typeof voucherArg>;

export { voucherArg };

// ---------------------------------------------------------------------------------------------------------------
// Helpers for the unit tests: enum values as the contracts number them, conservation, voucher tampering.
// ---------------------------------------------------------------------------------------------------------------

export const MerchantStatus = { None: 0, Active: 1, Restricted: 2, Frozen: 3, WindingDown: 4, Exited: 5 } as const;
export const CardStatus = {
  None: 0, Active: 1, RefundRequested: 2, Disputed: 3, Refunded: 4, Consumed: 5, Expired: 6, Claimable: 7,
} as const;
export const RiskLevel = { Low: 0, Medium: 1, High: 2 } as const;
export const RefundReason = {
  CoolingOff: 0, Accepted: 1, Dispute: 2, SmallBalance: 3, Expired: 4, Frozen: 5, Exit: 6,
} as const;
export const PlanKind = { None: 0, Lesson: 1, Periodic: 2 } as const;

/** secp256k1 group order: (r, n - s, v ^ 1) is the malleable twin of a signature (r, s, v). */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** secp256k1's n / 2: an s above it is the malleable half EIP-2 closes, which the escrow refuses. */
export const HALF_N = SECP256K1_N / 2n;

/**
 * A voucher's tuple with an upper-half s in its compact signature. The exact twin (r, n - s, v ^ 1) of a low-s
 * signature has n - s >= 2^255 (but for one s in 2^127), so EIP-2098's `vs` cannot even carry it; an upper-half s
 * below 2^255 can be sent, and the escrow must recover no one from it.
 */
export function highS(v: SignedVoucher): VoucherArg {
  const s = HALF_N + 1n + (BigInt(v.s) % ((1n << 255n) - HALF_N - 1n));
  return { ...voucherArg(v), vs: ethers.toBeHex((BigInt(v.v - 27) << 255n) | s, 32) };
}

/** A fixture's world as the conservation check needs it. */
type Platform = Awaited<ReturnType<typeof deployFixture>>;

/**
 * Conservation: for each bank, the escrow's balance of its token is the sum of held + payable over that bank's
 * merchants (held includes the direct shares waiting for their cooling-off to end), and the token's total supply is
 * exactly what the escrow holds (no tokens outside custody).
 */
export async function expectConservation(f: Platform): Promise<void> {
  const escrowAddress = await f.escrow.getAddress();
  const bankCount = Number(await f.escrow.bankCount());
  const owed = new Map<number, bigint>();
  const merchantCount = Number(await f.escrow.merchantCount());
  for (let id = 1; id <= merchantCount; id++) {
    const m = await f.escrow.merchantOf(id);
    const [held, payable] = await f.escrow.balancesOf(id);
    expect(m.paidIn, `merchant ${id}: paidIn = released + refunded + held`).to.equal(m.released + m.refunded + held);
    expect(m.released, `merchant ${id}: released = paidOut + payable`).to.equal(m.paidOut + payable);
    owed.set(Number(m.bankId), (owed.get(Number(m.bankId)) ?? 0n) + held + payable);
  }
  for (let bankId = 1; bankId <= bankCount; bankId++) {
    const token = CustodyToken__factory.connect((await f.escrow.bankOf(bankId)).token, ethers.provider);
    const balance = await token.balanceOf(escrowAddress);
    expect(balance, `bank ${bankId}: escrow balance = sum of held + payable`).to.equal(owed.get(bankId) ?? 0n);
    expect(await token.totalSupply(), `bank ${bankId}: total supply = escrow balance`).to.equal(balance);
  }
}

/** Sets the next block's timestamp and returns it, so a test can expect exact times in events. */
export async function atNextBlock(offsetSeconds = 1): Promise<number> {
  const t = (await latestTime()) + offsetSeconds;
  await ethers.provider.send("evm_setNextBlockTimestamp", [t]);
  return t;
}
