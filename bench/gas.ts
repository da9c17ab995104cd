/**
 * Gas benchmark of the escrow's hot paths: whole-transaction gasUsed (21,000 intrinsic gas included) from the
 * receipt, on the in-process Hardhat network. Every measured call is its own transaction, so storage is cold
 * where a real call would find it cold.
 *
 *   npm run bench:gas        (hardhat run bench/gas.ts)
 *
 * Prints a table and writes bench/results/gas.json ({ operation: gasUsed }) and bench/results/gas-report.json
 * (targets and pass/fail). Exits non-zero when a target is missed.
 */
import { mkdirSync, writeFileSync } from "fs";
import { join } from "path";
import { ethers, network } from "hardhat";
import { ContractTransactionResponse, Wallet } from "ethers";
import { addCustodianBank, deployPlatform } from "../src/chain/deploy";
import { CNY, DEFAULT_POLICY, TRAINING_POLICY } from "../src/chain/policies";
import { consumptionFor, signCheckIn, signConsumption, voucherArg } from "../src/chain/vouchers";
import { PrepaidEscrow, ReferenceToken__factory } from "../typechain-types";

const EDUCATION = 1;
const FITNESS = 3;
const LESSON = 1;
const PERIODIC = 2;
const DAY = 86_400;
const BATCH = 50;

interface Target {
  /** Human-readable rule, printed in the table. */
  text: string;
  check: (gas: Record<string, number>) => boolean;
}

const TARGETS: Record<string, Target> = {
  consume: { text: "<= 60,000", check: (g) => g.consume <= 60_000 },
  consumeBatch50PerLesson: {
    text: "<= 15,000 and < erc20TransferExisting / 2",
    check: (g) => g.consumeBatch50PerLesson <= 15_000 && g.consumeBatch50PerLesson < g.erc20TransferExisting / 2,
  },
  purchase: { text: "<= 150,000", check: (g) => g.purchase <= 150_000 },
  coolingOffRefund: { text: "<= 70,000", check: (g) => g.coolingOffRefund <= 70_000 },
  coolingOffRefundWithDirect: { text: "<= 70,000", check: (g) => g.coolingOffRefundWithDirect <= 70_000 },
  checkIn: { text: "<= 70,000", check: (g) => g.checkIn <= 70_000 },
  releaseDirect: { text: "<= 70,000", check: (g) => g.releaseDirect <= 70_000 },
  transfer: { text: "<= 70,000", check: (g) => g.transfer <= 70_000 },
  breachCancel: { text: "<= 70,000", check: (g) => g.breachCancel <= 70_000 },
  refund: { text: "<= 70,000", check: (g) => g.refund <= 70_000 },
  frozenClaim: { text: "<= 70,000", check: (g) => g.frozenClaim <= 70_000 },
  keyRecoveryStart: { text: "<= 70,000", check: (g) => g.keyRecoveryStart <= 70_000 },
  keyRecoveryCancel: { text: "<= 70,000", check: (g) => g.keyRecoveryCancel <= 70_000 },
  keyRecoveryComplete: { text: "<= 70,000", check: (g) => g.keyRecoveryComplete <= 70_000 },
  frozenPayableToHolders: { text: "<= 70,000", check: (g) => g.frozenPayableToHolders <= 70_000 },
  frozenClaimWithShare: { text: "<= 70,000", check: (g) => g.frozenClaimWithShare <= 70_000 },
  frozenPayableToMerchant: { text: "<= 70,000", check: (g) => g.frozenPayableToMerchant <= 70_000 },
  payoutAccountPropose: { text: "<= 70,000", check: (g) => g.payoutAccountPropose <= 70_000 },
  payoutAccountConfirm: { text: "<= 70,000", check: (g) => g.payoutAccountConfirm <= 70_000 },
};

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<number> {
  const receipt = await (await tx).wait();
  return Number(receipt!.gasUsed);
}

async function cardIdOf(escrow: PrepaidEscrow, tx: Promise<ContractTransactionResponse>): Promise<{ cardId: bigint; gas: number }> {
  const receipt = await (await tx).wait();
  for (const log of receipt!.logs) {
    const parsed = escrow.interface.parseLog(log);
    if (parsed?.name === "CardPurchased") return { cardId: parsed.args.cardId as bigint, gas: Number(receipt!.gasUsed) };
  }
  throw new Error("no CardPurchased event");
}

async function main(): Promise<void> {
  if (network.name !== "hardhat") throw new Error(`run on the in-process hardhat network, not ${network.name}`);
  const [deployer, regulator, eduRegulator, sportsRegulator, bankA, bankB, schoolAcct, gymAcct, alice, bob, carol, dave, erin, sender, recipient] =
    await ethers.getSigners();
  const { registry, escrow } = await deployPlatform(deployer, {
    admin: deployer.address,
    platformRegulator: regulator.address,
    defaultPolicy: DEFAULT_POLICY,
  });
  await registry.connect(regulator).defineIndustry(EDUCATION, eduRegulator.address);
  await registry.connect(regulator).setIndustryPolicy(EDUCATION, TRAINING_POLICY);
  await registry.connect(regulator).defineIndustry(FITNESS, sportsRegulator.address);
  const a = await addCustodianBank(escrow, regulator, deployer, { account: bankA.address, name: "Bank A custody fen", symbol: "CFA" });
  const b = await addCustodianBank(escrow, regulator, deployer, { account: bankB.address, name: "Bank B custody fen", symbol: "CFB" });
  await escrow.connect(regulator).admitMerchant(schoolAcct.address, EDUCATION, a.bankId, ethers.id("school"));
  await escrow.connect(regulator).admitMerchant(gymAcct.address, FITNESS, b.bankId, ethers.id("gym"));
  const school = 1;
  const gym = 2;
  const frozenSchool = await escrow.connect(regulator).admitMerchant.staticCall(dave.address, EDUCATION, a.bankId, ethers.id("frozen"));
  await escrow.connect(regulator).admitMerchant(dave.address, EDUCATION, a.bankId, ethers.id("frozen"));
  // school: 20 lessons for 3,000 CNY over 90 days (100% custody); gym: 3 monthly periods for 900 CNY (40%).
  await escrow.connect(schoolAcct).publishPlan(school, LESSON, 20, 0, 90, 3_000n * CNY);
  await escrow.connect(schoolAcct).publishPlan(school, LESSON, 10, 0, 90, 1_500n * CNY);
  await escrow.connect(gymAcct).publishPlan(gym, PERIODIC, 3, 30 * DAY, 0, 900n * CNY);
  await escrow.connect(dave).publishPlan(frozenSchool, LESSON, 20, 0, 90, 3_000n * CNY);

  const escrowAddress = await escrow.getAddress();
  const { chainId } = await ethers.provider.getNetwork();
  const now = async () => (await ethers.provider.getBlock("latest"))!.timestamp;
  // The voucher of the card as it stands: the amount is the share the lessons release at `sequence`.
  const sign = async (holder: { signTypedData: Wallet["signTypedData"] }, cardId: bigint, lessons: number, sequence: number) => {
    const c = await escrow.cardOf(cardId);
    if (Number(c.unitsUsed) !== sequence) throw new Error(`card ${cardId} is at sequence ${c.unitsUsed}, not ${sequence}`);
    const message = consumptionFor({ cardId, held: c.held, unitsLeft: Number(c.unitsLeft), unitsUsed: sequence }, lessons, (await now()) + 3600);
    return voucherArg(await signConsumption(holder, chainId, escrowAddress, message));
  };
  const gas: Record<string, number> = {};
  const school$ = escrow.connect(schoolAcct);

  // Warm-up sales so the merchant's ledger, the card counter and the escrow's token balance are non-zero, as in
  // any running shop: a purchase's realistic cost is not the very first card the platform ever sold.
  await cardIdOf(escrow, escrow.connect(bankA).purchase(school, 1, carol.address, true));

  // ------------------------------------------------------------- purchase, renew
  const bought = await cardIdOf(escrow, escrow.connect(bankA).purchase(school, 1, alice.address, true));
  gas.purchase = bought.gas;
  const card = bought.cardId;
  // Renewal: 10 more lessons for 1,500 CNY (3,000 + 1,500 stays under the 5,000 CNY named-card cap).
  gas.renew = await gasOf(escrow.connect(bankA).renew(card, 2));

  // ------------------------------------------------------------- consume
  gas.consumeFirst = await gasOf(school$.consume(await sign(alice, card, 1, 0)));
  gas.consume = await gasOf(school$.consume(await sign(alice, card, 1, 1)));

  // ------------------------------------------------------------- consumeBatch: 50 cards of one merchant
  const holders = Array.from({ length: BATCH }, () => Wallet.createRandom());
  const batchCards: bigint[] = [];
  for (const h of holders) batchCards.push((await cardIdOf(escrow, escrow.connect(bankA).purchase(school, 1, h.address, true))).cardId);
  // Each card's first lesson in one batch, then the measured batch is every card's second lesson (the typical case).
  await school$.consumeBatch(await Promise.all(batchCards.map((c, i) => sign(holders[i], c, 1, 0))));
  const batchGas = await gasOf(school$.consumeBatch(await Promise.all(batchCards.map((c, i) => sign(holders[i], c, 1, 1)))));
  gas.consumeBatch50 = batchGas;
  gas.consumeBatch50PerLesson = Math.round(batchGas / BATCH);

  // ------------------------------------------------------------- check-in, periodic release, payout
  // A gym membership's periods start at the holder's first signed check-in (or when the cooling-off ends).
  const gymCard = (await cardIdOf(escrow, escrow.connect(bankB).purchase(gym, 1, bob.address, true))).cardId;
  const checkInAt = (await ethers.provider.getBlock("latest"))!.timestamp;
  const checkIn = await signCheckIn(bob, chainId, await escrow.getAddress(), { cardId: gymCard, deadline: checkInAt + 3_600 });
  gas.checkIn = await gasOf(escrow.connect(gymAcct).checkIn(...checkIn));
  // A second membership left alone: its direct share is handed over after the cooling-off by releaseDirect.
  const gymCard2 = (await cardIdOf(escrow, escrow.connect(bankB).purchase(gym, 1, carol.address, true))).cardId;
  await network.provider.send("evm_increaseTime", [30 * DAY + 1]);
  await network.provider.send("evm_mine");
  gas.periodicRelease = await gasOf(escrow.connect(bob).releasePeriodic(gymCard));
  gas.releaseDirect = await gasOf(escrow.connect(gymAcct).releaseDirect([gymCard2]));
  gas.payout = await gasOf(school$.payOut(school));

  // ------------------------------------------------------------- cooling-off refund (100% custody, and 40%: direct share too)
  const coolCard = (await cardIdOf(escrow, escrow.connect(bankA).purchase(school, 1, erin.address, true))).cardId;
  gas.coolingOffRefund = await gasOf(escrow.connect(erin).refundCoolingOff(coolCard));
  const coolGym = (await cardIdOf(escrow, escrow.connect(bankB).purchase(gym, 1, erin.address, true))).cardId;
  gas.coolingOffRefundWithDirect = await gasOf(escrow.connect(erin).refundCoolingOff(coolGym));

  // ------------------------------------------------------------- transfer by notice (the holder's own transaction)
  const giftCard = (await cardIdOf(escrow, escrow.connect(bankA).purchase(school, 1, dave.address, true))).cardId;
  gas.transfer = await gasOf(escrow.connect(dave).transferCard(giftCard, erin.address));

  // ------------------------------------------------------------- refund request + accept (after a lesson, so no cooling-off)
  const refundCard = (await cardIdOf(escrow, escrow.connect(bankA).purchase(school, 1, carol.address, true))).cardId;
  await school$.consume(await sign(carol, refundCard, 1, 0));
  gas.refundRequest = await gasOf(escrow.connect(carol).requestRefund(refundCard));
  gas.refund = await gasOf(school$.acceptRefund(refundCard));

  // ------------------------------------------------------------- frozen merchant: the holder claims
  const frozenCard = (await cardIdOf(escrow, escrow.connect(bankA).purchase(frozenSchool, 1, bob.address, true))).cardId;
  const frozenCard2 = (await cardIdOf(escrow, escrow.connect(bankA).purchase(frozenSchool, 1, carol.address, true))).cardId;
  await escrow.connect(dave).consume(await sign(bob, frozenCard, 1, 0));
  await escrow.connect(eduRegulator).freeze(frozenSchool, ethers.id("collapse"));
  gas.frozenClaim = await gasOf(escrow.connect(bob).claim(frozenCard));
  // Released money stuck by the freeze: the regulator decides it to the holders, and the claim takes its share.
  gas.frozenPayableToHolders = await gasOf(escrow.connect(eduRegulator).decideFrozenPayable(frozenSchool, true, ethers.id("decision 1")));
  gas.frozenClaimWithShare = await gasOf(escrow.connect(carol).claim(frozenCard2));

  // ------------------------------------------------------------- lost key: the bank starts, the holder cancels, anyone completes
  const lostCard = (await cardIdOf(escrow, escrow.connect(bankA).purchase(school, 1, alice.address, true))).cardId;
  gas.keyRecoveryStart = await gasOf(escrow.connect(bankA).startKeyRecovery(lostCard, erin.address));
  gas.keyRecoveryCancel = await gasOf(escrow.connect(alice).cancelKeyRecovery(lostCard));
  await escrow.connect(bankA).startKeyRecovery(lostCard, erin.address);
  await network.provider.send("evm_increaseTime", [8 * DAY]);
  await network.provider.send("evm_mine");
  gas.keyRecoveryComplete = await gasOf(escrow.connect(sender).completeKeyRecovery(lostCard));

  // ------------------------------------------------------------- payout account: the merchant proposes, its regulator confirms
  gas.payoutAccountPropose = await gasOf(school$.proposePayoutAccount(school, ethers.id("ICBC 6222 0000 0000 0001")));
  gas.payoutAccountConfirm = await gasOf(escrow.connect(eduRegulator).confirmPayoutAccount(school, ethers.id("ICBC 6222 0000 0000 0001")));

  // ------------------------------------------------------------- breach: the regulator records it, a holder cancels
  const breachCard = (await cardIdOf(escrow, escrow.connect(bankA).purchase(school, 1, erin.address, true))).cardId;
  await school$.consume(await sign(erin, breachCard, 1, 0));
  await escrow.connect(eduRegulator).recordBreach(school, ethers.id("moved to Tongzhou"));
  gas.breachCancel = await gasOf(escrow.connect(erin).cancelForBreach(breachCard));

  // ------------------------------------------------------------- released money of a frozen merchant paid to it after review
  await escrow.connect(eduRegulator).freeze(school, ethers.id("collapse"));
  gas.frozenPayableToMerchant = await gasOf(escrow.connect(eduRegulator).decideFrozenPayable(school, false, ethers.id("reviewed")));

  // ------------------------------------------------------------- reference: plain ERC20 transfer between holders
  const ref = await new ReferenceToken__factory(deployer).deploy(sender.address, 1_000_000n);
  await ref.waitForDeployment();
  await ref.connect(sender).transfer(recipient.address, 1n);
  gas.erc20TransferExisting = await gasOf(ref.connect(sender).transfer(recipient.address, 100n));

  // ------------------------------------------------------------- report
  const rows = Object.entries(gas).map(([operation, used]) => {
    const target = TARGETS[operation];
    return { operation, gas: used, target: target?.text ?? "", ok: target ? target.check(gas) : null };
  });
  const width = Math.max(...rows.map((r) => r.operation.length));
  console.log(`${"operation".padEnd(width)}  ${"gas".padStart(9)}  ${"target".padEnd(42)}  ok?`);
  for (const r of rows) {
    const ok = r.ok === null ? "" : r.ok ? "yes" : "NO";
    console.log(`${r.operation.padEnd(width)}  ${r.gas.toLocaleString("en-US").padStart(9)}  ${r.target.padEnd(42)}  ${ok}`);
  }

  const dir = join(__dirname, "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "gas.json"), JSON.stringify(gas, null, 2) + "\n");
  const failed = rows.filter((r) => r.ok === false).map((r) => r.operation);
  const report = {
    network: "hardhat (in-process, cancun)",
    measuredAt: new Date().toISOString(),
    note: "whole-transaction receipt.gasUsed, 21,000 intrinsic gas included; consume is a card's second lesson",
    operations: Object.fromEntries(rows.map((r) => [r.operation, { gas: r.gas, target: r.target || null, ok: r.ok }])),
    pass: failed.length === 0,
    failed,
  };
  writeFileSync(join(dir, "gas-report.json"), JSON.stringify(report, null, 2) + "\n");
  if (failed.length > 0) {
    console.error(`targets missed: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
