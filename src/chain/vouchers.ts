import { Signature, TypedDataDomain, TypedDataField } from "ethers";

/** The EIP-712 type a card holder signs to confirm lessons; mirrors PrepaidEscrow.CONSUMPTION_TYPEHASH. */
export const CONSUMPTION_TYPES: Record<string, TypedDataField[]> = {
  Consumption: [
    { name: "cardId", type: "uint64" },
    { name: "lessons", type: "uint16" },
    { name: "sequence", type: "uint16" },
    { name: "deadline", type: "uint40" },
  ],
};

export interface ConsumptionMessage {
  cardId: bigint;
  lessons: number;
  /** Lessons the card had used when the holder signed: a voucher is good once. */
  sequence: number;
  /** Unix seconds after which the voucher is refused. */
  deadline: number;
}

/** A signed voucher in the shape PrepaidEscrow.consume takes. */
export interface SignedVoucher extends ConsumptionMessage {
  v: number;
  r: string;
  s: string;
}

export function consumptionDomain(chainId: bigint | number, escrow: string): TypedDataDomain {
  return { name: "PrepaidCustody", version: "1", chainId, verifyingContract: escrow };
}

/** The full typed-data document a consumer's wallet shows and signs (eth_signTypedData_v4 shape). */
export function consumptionTypedData(chainId: bigint | number, escrow: string, message: ConsumptionMessage) {
  return {
    domain: consumptionDomain(chainId, escrow),
    types: CONSUMPTION_TYPES,
    primaryType: "Consumption" as const,
    message: { ...message, cardId: message.cardId.toString() },
  };
}

interface TypedDataSigner {
  signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string>;
}

export async function signConsumption(
  holder: TypedDataSigner,
  chainId: bigint | number,
  escrow: string,
  message: ConsumptionMessage,
): Promise<SignedVoucher> {
  const sig = await holder.signTypedData(consumptionDomain(chainId, escrow), CONSUMPTION_TYPES, { ...message });
  return withSignature(message, sig);
}

export function withSignature(message: ConsumptionMessage, signature: string): SignedVoucher {
  const { v, r, s } = Signature.from(signature);
  return { ...message, v, r, s };
}

/** The tuple PrepaidEscrow.consume/consumeBatch expect. */
export function voucherArg(v: SignedVoucher) {
  return { cardId: v.cardId, lessons: v.lessons, sequence: v.sequence, deadline: v.deadline, v: v.v, r: v.r, s: v.s };
}

/** A card's merchant is encoded in its id's high 32 bits. */
export function merchantOfCard(cardId: bigint): number {
  return Number(cardId >> 32n);
}

/** The EIP-712 type a time-based card's holder signs to start its periods; mirrors PrepaidEscrow.CHECK_IN_TYPEHASH. */
export const CHECK_IN_TYPES: Record<string, TypedDataField[]> = {
  CheckIn: [
    { name: "cardId", type: "uint64" },
    { name: "deadline", type: "uint40" },
  ],
};

/** A holder's signed check-in, in the argument order of PrepaidEscrow.checkIn. */
export async function signCheckIn(
  holder: TypedDataSigner,
  chainId: bigint | number,
  escrow: string,
  message: { cardId: bigint; deadline: number },
): Promise<[bigint, number, number, string, string]> {
  const { v, r, s } = Signature.from(await holder.signTypedData(consumptionDomain(chainId, escrow), CHECK_IN_TYPES, { ...message }));
  return [message.cardId, message.deadline, v, r, s];
}

/** The typed-data document a time-based card's holder signs to check in (eth_signTypedData_v4 shape). */
export function checkInTypedData(chainId: bigint | number, escrow: string, message: { cardId: bigint; deadline: number }) {
  return {
    domain: consumptionDomain(chainId, escrow),
    types: CHECK_IN_TYPES,
    primaryType: "CheckIn" as const,
    message: { ...message, cardId: message.cardId.toString() },
  };
}
