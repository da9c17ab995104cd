import { ethers, HDNodeWallet, JsonRpcProvider, NonceManager, Subscriber, Subscription } from "ethers";
import { DEV_MNEMONIC } from "../../src/chain/anvil";
import { bootstrapDistrict } from "../../src/chain/bootstrap";
import { consumptionFor, signConsumption, voucherArg } from "../../src/chain/vouchers";

export function devWallet(index: number, provider: JsonRpcProvider): HDNodeWallet {
  return HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).connect(provider);
}

/** The parties of a test district on a dev chain: fixed dev accounts, each with its own nonce manager. */
export function devParties(provider: JsonRpcProvider) {
  const w = (i: number) => devWallet(i, provider);
  return {
    deployer: new NonceManager(w(0)),
    regulator: new NonceManager(w(1)),
    eduRegulator: w(2),
    commerceRegulator: w(3),
    riskOracle: new NonceManager(w(4)),
    bank: new NonceManager(w(5)),
    merchants: [w(6), w(7), w(8)].map((x) => new NonceManager(x)),
    merchantWallets: [w(6), w(7), w(8)],
    holders: [w(10), w(11), w(12), w(13)],
  };
}

/**
 * A provider for a dev node that mines each transaction as it arrives (Anvil's automine). ethers' `tx.wait()` looks
 * for the receipt once and then again on each new block only. Under load the block mining the transaction can come
 * after that look but before ethers' block polling has taken its starting block, and with no later block the wait
 * never ends (seen: a fault test's set-up hung for 5 minutes, the node idle with an empty pool, ethers polling
 * eth_blockNumber). Here a transaction's receipt is also looked for on a timer.
 */
class DevNodeProvider extends JsonRpcProvider {
  _getSubscriber(sub: Subscription): Subscriber {
    if (sub.type !== "transaction") return super._getSubscriber(sub);
    const onBlocks = super._getSubscriber(sub);
    let timer: NodeJS.Timeout | null = null;
    const look = () => {
      this.getTransactionReceipt(sub.hash).then((rc) => rc && this.emit(sub.hash, rc), () => undefined);
    };
    return {
      start: () => {
        onBlocks.start();
        timer ??= setInterval(look, 200);
      },
      stop: () => {
        onBlocks.stop();
        if (timer) clearInterval(timer);
        timer = null;
      },
      pause: (drop) => onBlocks.pause(drop),
      resume: () => onBlocks.resume(),
    };
  }
}

export async function deployDistrict(url: string) {
  const provider = new DevNodeProvider(url, undefined, { staticNetwork: true, pollingInterval: 50 });
  const p = devParties(provider);
  const { deployment, escrow, registry } = await bootstrapDistrict({
    deployer: p.deployer,
    platformRegulator: p.regulator,
    riskOracle: await p.riskOracle.getAddress(),
    bank: { account: await p.bank.getAddress(), name: "Test Bank custody fen", symbol: "TBC" },
    regulators: { "education-commission": p.eduRegulator.address, "sports-bureau": p.eduRegulator.address, "commerce-bureau": p.commerceRegulator.address },
  });
  return { provider, parties: p, deployment, escrow, registry };
}

type District = Awaited<ReturnType<typeof deployDistrict>>;

/**
 * Drives a little of everything through the contracts: admissions, plans, purchases, consumptions (single and
 * batch), a payout, a cooling-off refund, a refund dispute and a freeze with claims. Returns the card ids.
 */
export async function driveActivity(d: District, round = 0): Promise<bigint[]> {
  const { escrow, parties: p, provider } = d;
  const chainId = (await provider.getNetwork()).chainId;
  const escrowAddr = await escrow.getAddress();
  const reg = escrow.connect(p.regulator);
  // The dev merchants are admitted (with a plan) the first time round.
  const merchantIds: number[] = [];
  for (const [i, m] of p.merchants.entries()) {
    const addr = await m.getAddress();
    let id = Number(await escrow.merchantIdOf(addr));
    if (id === 0) {
      const rc = await (await reg.admitMerchant(addr, i === 1 ? 4 : 1, 1, ethers.id(`dev-${i}`))).wait();
      id = Number(rc!.logs.map((l) => escrow.interface.parseLog(l)).find((e) => e?.name === "MerchantAdmitted")!.args.merchantId);
      await (await escrow.connect(m).publishPlan(id, 1, 10, 0, 60, 100_000n)).wait();
    }
    merchantIds.push(id);
  }
  const bank = escrow.connect(p.bank);
  const cards: bigint[] = [];
  for (const [mi, id] of merchantIds.entries()) {
    if (Number((await escrow.merchantOf(id)).status) !== 1) continue; // only Active merchants sell
    for (const [hi, h] of p.holders.entries()) {
      if ((mi + hi) % 2 === 1 && hi > 1) continue;
      const rc = await (await bank.purchase(id, 1, h.address, true)).wait();
      cards.push(rc!.logs.map((l) => escrow.interface.parseLog(l)).find((e) => e?.name === "CardPurchased")!.args.cardId as bigint);
    }
  }
  const deadline = (await provider.getBlock("latest"))!.timestamp + 3600;
  const holderOf = async (cardId: bigint) => {
    const c = await escrow.cardOf(cardId);
    return p.holders.find((h) => h.address === c.holder)!;
  };
  // single consumptions on the first three cards
  for (const cardId of cards.slice(0, 3)) {
    const c = await escrow.cardOf(cardId);
    const at = { cardId, held: c.held, unitsLeft: Number(c.unitsLeft), unitsUsed: Number(c.unitsUsed) };
    const v = await signConsumption(await holderOf(cardId), chainId, escrowAddr, consumptionFor(at, 2, deadline));
    const m = p.merchants[merchantIds.indexOf(Number(cardId >> 32n))];
    await (await escrow.connect(m).consume(voucherArg(v))).wait();
  }
  // a batch on the first merchant's cards
  const first = cards.filter((c) => Number(c >> 32n) === merchantIds[0]);
  const batch = [];
  for (const cardId of first) {
    const c = await escrow.cardOf(cardId);
    const at = { cardId, held: c.held, unitsLeft: Number(c.unitsLeft), unitsUsed: Number(c.unitsUsed) };
    batch.push(voucherArg(await signConsumption(await holderOf(cardId), chainId, escrowAddr, consumptionFor(at, 1, deadline))));
  }
  await (await escrow.connect(p.merchants[0]).consumeBatch(batch)).wait();
  await (await escrow.connect(p.merchants[0]).payOut(merchantIds[0])).wait();
  // cooling-off refund of an unused card, a dispute on another
  const unused: bigint[] = [];
  for (const c of cards) if (Number((await escrow.cardOf(c)).unitsUsed) === 0) unused.push(c);
  if (unused[0] !== undefined) await (await escrow.connect(await holderOf(unused[0])).refundCoolingOff(unused[0])).wait();
  const used = cards.filter((c) => !unused.includes(c));
  const disputed = used[used.length - 1];
  const dHolder = await holderOf(disputed);
  await (await escrow.connect(dHolder).requestRefund(disputed)).wait();
  const dm = p.merchants[merchantIds.indexOf(Number(disputed >> 32n))];
  await (await escrow.connect(dm).rejectRefund(disputed, ethers.id("used more than recorded"))).wait();
  await (await reg.resolveDispute(disputed, 50_000n)).wait();
  // risk and a freeze with claims on the third merchant
  if (round === 0) {
    await (await escrow.connect(p.riskOracle).setRiskLevel(merchantIds[2], 1, ethers.id("complaints"))).wait();
    await (await reg.freeze(merchantIds[2], ethers.id("collapse"))).wait();
    const its = cards.filter((c) => Number(c >> 32n) === merchantIds[2]);
    await (await escrow.claimBatch(its)).wait();
  }
  return cards;
}
