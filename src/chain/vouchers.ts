/**
 * The consumption voucher: the one place that knows its EIP-712 type, its domain, its digest and its encodings (the
 * tuple PrepaidEscrow.consume/consumeBatch take, the raw consumeBatch calldata, and the JSON form of the API).
 *
 * The holder signs `Consumption(uint32 merchantId,uint64 cardId,uint16 lessons,uint64 amount,uint16 sequence,
 * uint40 deadline)` in the domain `PrepaidCustody` version 1 of the chain and the escrow: a wallet shows the merchant,
 * the card, the lessons and the money (fen) they release, the card's lessons used before them and the deadline. The
 * merchant is never sent to the escrow: it is the card id's high 32 bits, so the escrow hashes the card's merchant and
 * a voucher signed for another recovers another signer. The amount is sent, and the escrow refuses any other than the
 * share those lessons release ({@link consumptionShare}, CustodyMath.share).
 */
import { Signature, TypedDataDomain, TypedDataEncoder, TypedDataField, id as keccakText } from "ethers";
import { z } from "zod";

/** The EIP-712 type a card holder signs to confirm lessons; mirrors PrepaidEscrow.CONSUMPTION_TYPEHASH. */
const CONSUMPTION_FIELDS: TypedDataField[] = [
  { name: "merchantId", type: "uint32" },
  { name: "cardId", type: "uint64" },
  { name: "lessons", type: "uint16" },
  { name: "amount", type: "uint64" },
  { name: "sequence", type: "uint16" },
  { name: "deadline", type: "uint40" },
];
export const CONSUMPTION_TYPES: Record<string, TypedDataField[]> = { Consumption: CONSUMPTION_FIELDS };

/** "Consumption(uint32 merchantId,...)": the string PrepaidEscrow hashes into CONSUMPTION_TYPEHASH. */
export const CONSUMPTION_TYPE = TypedDataEncoder.from(CONSUMPTION_TYPES).encodeType("Consumption");
/** keccak256 of {@link CONSUMPTION_TYPE}: PrepaidEscrow.CONSUMPTION_TYPEHASH. */
export const CONSUMPTION_TYPEHASH = keccakText(CONSUMPTION_TYPE);

/** The fields of EIP712Domain the escrow uses (OpenZeppelin's EIP712: name, version, chainId, verifyingContract). */
const EIP712_DOMAIN_FIELDS: TypedDataField[] = [
  { name: "name", type: "string" },
  { name: "version", type: "string" },
  { name: "chainId", type: "uint256" },
  { name: "verifyingContract", type: "address" },
];

/** What a voucher confirms, as the escrow reads it (the merchant follows from the card id). */
export interface ConsumptionMessage {
  cardId: bigint;
  lessons: number;
  /** The money the lessons release, fen: {@link consumptionShare} of the card at `sequence`. */
  amount: bigint;
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

/** A card's merchant is encoded in its id's high 32 bits. */
export function merchantOfCard(cardId: bigint): number {
  return Number(cardId >> 32n);
}

/**
 * The money `lessons` lessons release from a card that holds `held` fen for `unitsLeft` lessons: PrepaidEscrow's
 * CustodyMath.share. Rounds down, and the last lessons take whatever is left, so a card's shares add up to exactly what
 * it escrowed. Throws when the lessons are not between 1 and `unitsLeft` (the escrow refuses such a voucher).
 */
export function consumptionShare(held: bigint, unitsLeft: number | bigint, lessons: number | bigint): bigint {
  const left = BigInt(unitsLeft);
  const n = BigInt(lessons);
  if (n < 1n || n > left) throw new RangeError(`${n} lessons of ${left} left`);
  if (held < 0n) throw new RangeError(`negative balance ${held}`);
  return n >= left ? held : (held * n) / left;
}

/** A card as the index or the escrow knows it: its balance and lessons at the voucher's sequence. */
export interface CardAtSequence {
  cardId: bigint;
  /** Fen held for the card's unused lessons. */
  held: bigint;
  unitsLeft: number;
  /** Lessons used so far: the voucher's sequence. */
  unitsUsed: number;
}

/** The message for `lessons` lessons of `card` as it stands: the amount is their share, the sequence its lessons used. */
export function consumptionFor(card: CardAtSequence, lessons: number, deadline: number): ConsumptionMessage {
  return { cardId: card.cardId, lessons, amount: consumptionShare(card.held, card.unitsLeft, lessons), sequence: card.unitsUsed, deadline };
}

/** The card after a voucher of `lessons` lessons at its sequence: their share released, the sequence moved on. */
export function afterConsumption(card: CardAtSequence, lessons: number): CardAtSequence {
  const amount = consumptionShare(card.held, card.unitsLeft, lessons);
  return { cardId: card.cardId, held: card.held - amount, unitsLeft: card.unitsLeft - lessons, unitsUsed: card.unitsUsed + lessons };
}

/** The messages of vouchers signed ahead, one after another from `card` as it stands: each amount at its sequence. */
export function consumptionsAhead(card: CardAtSequence, lessons: number[], deadline: number): ConsumptionMessage[] {
  const out: ConsumptionMessage[] = [];
  let at = card;
  for (const n of lessons) {
    out.push(consumptionFor(at, n, deadline));
    at = afterConsumption(at, n);
  }
  return out;
}

export function consumptionDomain(chainId: bigint | number, escrow: string): TypedDataDomain {
  return { name: "PrepaidCustody", version: "1", chainId, verifyingContract: escrow };
}

/** The struct's values, as ethers' signTypedData and TypedDataEncoder take them. */
export function consumptionValue(message: ConsumptionMessage): Record<string, unknown> {
  return {
    merchantId: merchantOfCard(message.cardId),
    cardId: message.cardId,
    lessons: message.lessons,
    amount: message.amount,
    sequence: message.sequence,
    deadline: message.deadline,
  };
}

/** The JSON form of a voucher's message: integers that may pass 2^53 (card id, amount) as decimal strings. */
export interface ConsumptionMessageJson {
  merchantId: number;
  cardId: string;
  lessons: number;
  amount: string;
  sequence: number;
  deadline: number;
}

/** The typed-data document a wallet signs with eth_signTypedData_v4 (EIP712Domain included, JSON-safe). */
export interface ConsumptionTypedData {
  types: { EIP712Domain: TypedDataField[]; Consumption: TypedDataField[] };
  primaryType: "Consumption";
  domain: { name: string; version: string; chainId: number; verifyingContract: string };
  message: ConsumptionMessageJson;
}

const typedField = z.object({ name: z.string(), type: z.string() });

/** The typed-data document in the API's answers (GET /v1/cards/:cardId/voucher), as {@link consumptionTypedData} makes it. */
export const consumptionTypedDataSchema = z.object({
  types: z.object({ EIP712Domain: z.array(typedField), Consumption: z.array(typedField) }),
  primaryType: z.literal("Consumption"),
  domain: z.object({ name: z.string(), version: z.string(), chainId: z.number(), verifyingContract: z.string() }),
  message: z.object({
    merchantId: z.number().describe("the merchant paid: the card id's high 32 bits"),
    cardId: z.string().describe("uint64, decimal"),
    lessons: z.number(),
    amount: z.string().describe("fen the lessons release, decimal: the card's share at `sequence`"),
    sequence: z.number().describe("the card's lessons used before these, vouchers already queued included"),
    deadline: z.number().describe("Unix seconds"),
  }),
});

/**
 * The full typed-data document a consumer's wallet shows and signs (eth_signTypedData_v4 shape, as MetaMask's
 * eth-sig-util and viem take it). A page signing with ethers drops `types.EIP712Domain` (ethers derives it).
 */
export function consumptionTypedData(chainId: bigint | number, escrow: string, message: ConsumptionMessage): ConsumptionTypedData {
  return {
    types: { EIP712Domain: EIP712_DOMAIN_FIELDS, Consumption: CONSUMPTION_FIELDS },
    primaryType: "Consumption",
    domain: { name: "PrepaidCustody", version: "1", chainId: Number(chainId), verifyingContract: escrow },
    message: {
      merchantId: merchantOfCard(message.cardId),
      cardId: message.cardId.toString(),
      lessons: message.lessons,
      amount: message.amount.toString(),
      sequence: message.sequence,
      deadline: message.deadline,
    },
  };
}

/** The EIP-712 digest of a voucher: PrepaidEscrow.consumptionDigest (through ethers' generic encoder). */
export function consumptionDigest(chainId: bigint | number, escrow: string, message: ConsumptionMessage): string {
  return TypedDataEncoder.hash(consumptionDomain(chainId, escrow), CONSUMPTION_TYPES, consumptionValue(message));
}

const word = (x: bigint | number) => BigInt(x).toString(16).padStart(64, "0");

/**
 * The struct hash's preimage, hex without 0x: the type hash and the six fields, one word each. For hot paths that
 * hash many vouchers with a native keccak: digest = keccak256(0x1901 ‖ domainSeparator ‖ keccak256(preimage)).
 */
export function consumptionStructPreimage(message: ConsumptionMessage): string {
  return CONSUMPTION_TYPEHASH.slice(2) + word(message.cardId >> 32n) + word(message.cardId) + word(message.lessons) +
    word(message.amount) + word(message.sequence) + word(message.deadline);
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
  const sig = await holder.signTypedData(consumptionDomain(chainId, escrow), CONSUMPTION_TYPES, consumptionValue(message));
  return withSignature(message, sig);
}

/** Signs a typed-data document as the API hands it out (ethers: EIP712Domain dropped); the signature, 0x and 65 bytes. */
export async function signConsumptionDocument(holder: TypedDataSigner, doc: ConsumptionTypedData): Promise<string> {
  const { EIP712Domain: _domainFields, ...types } = doc.types;
  void _domainFields;
  return holder.signTypedData(doc.domain, types, { ...doc.message });
}

export function withSignature(message: ConsumptionMessage, signature: string): SignedVoucher {
  const { v, r, s } = Signature.from(signature);
  return { cardId: message.cardId, lessons: message.lessons, amount: message.amount, sequence: message.sequence, deadline: message.deadline, v, r, s };
}

/** EIP-2098's compact form of (v, s): s with v - 27 in its top bit, 0x and 64 hex digits. */
export function compactVs(v: number, s: string): string {
  if (v !== 27 && v !== 28) throw new RangeError(`v is ${v}: a compact signature carries 27 or 28 only`);
  if (BigInt(s) >> 255n !== 0n) throw new RangeError("s has its top bit set: not a low-s signature, no compact form");
  return "0x" + ((BigInt(v - 27) << 255n) | BigInt(s)).toString(16).padStart(64, "0");
}

/** The tuple PrepaidEscrow.consume/consumeBatch expect (struct Voucher, in its field order; the signature compact). */
export function voucherArg(v: SignedVoucher) {
  return { cardId: v.cardId, lessons: v.lessons, amount: v.amount, sequence: v.sequence, deadline: v.deadline, r: v.r, vs: compactVs(v.v, v.s) };
}

/** The fields of a voucher the raw consumeBatch encoder needs, as the queue stores them. */
export type VoucherRow = {
  card_id: string;
  lessons: number;
  amount: string;
  sequence: number;
  deadline: string | number;
  v: number;
  r: string;
  s: string;
};

/**
 * consumeBatch(Voucher[]) calldata, written directly: a Voucher (uint64 cardId, uint16 lessons, uint64 amount, uint16
 * sequence, uint40 deadline, bytes32 r, bytes32 vs) is a static tuple of seven words, so the array is its offset, its
 * length and the words in order. The generic ABI coder took a large share of the sender's CPU for batches
 * of hundreds; a test checks both agree.
 */
export function encodeConsumeBatch(selector: string, vouchers: VoucherRow[]): string {
  const parts = [selector, word(32), word(vouchers.length)];
  for (const x of vouchers) {
    parts.push(word(BigInt(x.card_id)), word(x.lessons), word(BigInt(x.amount)), word(x.sequence), word(BigInt(x.deadline)),
      x.r.slice(2).toLowerCase(), compactVs(x.v, x.s).slice(2));
  }
  return parts.join("");
}

/** A queue row (or any stored voucher) as the signed voucher it is. */
export function voucherOfRow(x: VoucherRow): SignedVoucher {
  return { cardId: BigInt(x.card_id), lessons: x.lessons, amount: BigInt(x.amount), sequence: x.sequence, deadline: Number(x.deadline), v: x.v, r: x.r, s: x.s };
}

const hex32 = (what: string) => z.string().regex(/^0x[0-9a-fA-F]{64}$/, `${what} is 0x and 64 hex digits`);

/**
 * The JSON form of a signed voucher in the API: the typed data's message (`merchantId` may be left out; when given
 * it must be the card's) and the signature's v, r, s. The card id and the amount (fen) are decimal strings.
 */
export const voucherJsonSchema = z.object({
  merchantId: z.number().int().min(1).max(2 ** 32 - 1).optional(),
  cardId: z.string().regex(/^\d{1,20}$/, "a card id is a decimal string").transform((s) => BigInt(s)),
  lessons: z.number().int().min(1).max(65535),
  amount: z.string().regex(/^\d{1,20}$/, "the amount is fen as a decimal string").transform((s) => BigInt(s)),
  sequence: z.number().int().min(0).max(65535),
  deadline: z.number().int().min(1).max(2 ** 40 - 1),
  v: z.number().int().min(27).max(28),
  r: hex32("r"),
  s: hex32("s"),
}).strict();

/** A voucher as the API receives it: the message (merchant included when the client sent it) and the signature. */
export type VoucherJson = z.output<typeof voucherJsonSchema>;
/** A signed voucher, with the merchant it names when the client sent one. */
export type ReceivedVoucher = SignedVoucher & { merchantId?: number };

/** The JSON form of a signed voucher, as POST /v1/cards/:cardId/consumptions and the merchants' batch take it. */
export function voucherJson(v: SignedVoucher) {
  return {
    merchantId: merchantOfCard(v.cardId), cardId: v.cardId.toString(), lessons: v.lessons, amount: v.amount.toString(),
    sequence: v.sequence, deadline: v.deadline, v: v.v, r: v.r, s: v.s,
  };
}

/** The JSON voucher for a typed-data document the API handed out and the signature over it (what a page posts). */
export function voucherJsonOfDocument(doc: ConsumptionTypedData, signature: string) {
  const { v, r, s } = Signature.from(signature);
  return { ...doc.message, v, r, s };
}

/** The typed-data message of a document as the signed voucher the escrow takes. */
export function messageOfDocument(doc: ConsumptionTypedData): ConsumptionMessage {
  const m = doc.message;
  return { cardId: BigInt(m.cardId), lessons: Number(m.lessons), amount: BigInt(m.amount), sequence: Number(m.sequence), deadline: Number(m.deadline) };
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
