// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @notice Lifecycle of a merchant on the platform.
/// Active: sells and is served. Restricted: a regulator's order, no new cards or renewals, service goes on.
/// Frozen: collapse handling, no sales and no releases, holders reclaim their balances.
/// WindingDown: exit announced, no sales, served until the notice ends, then balances go back to holders.
/// Exited: closed, holds nothing.
enum MerchantStatus {
    None,
    Active,
    Restricted,
    Frozen,
    WindingDown,
    Exited
}

/// @notice Risk level set by the risk oracle. High: no new cards, no renewals. Medium: new card value capped per 30 days.
enum RiskLevel {
    Low,
    Medium,
    High
}

/// @notice Stored card status. `Consumed`, `Expired` and `Claimable` are derived by `cardStatus`, never stored.
enum CardStatus {
    None,
    Active,
    RefundRequested,
    Disputed,
    Refunded,
    Consumed,
    Expired,
    Claimable
}

enum PlanKind {
    None,
    Lesson,
    Periodic
}

/// @dev A cap of a {Policy} that caps nothing: the largest value of its field's type. A cap is never 0.
uint16 constant NO_CAP_U16 = type(uint16).max;
/// @dev See {NO_CAP_U16}; for the money caps (uint48 fen).
uint48 constant NO_CAP_FEN = type(uint48).max;

/// @notice A field of a {Policy}, as the registry's errors name it.
enum PolicyField {
    CustodyBps,
    CoolingOffDays,
    ExitNoticeDays,
    MaxLessons,
    MaxValidityDays,
    MaxCardValue,
    MaxAnonymousValue,
    MediumRiskCap30d,
    FilingThreshold
}

/// @notice Custody policy of the district ("1") or of one industry ("N").
/// Money in fen, durations in Beijing calendar days. Caps are literal: "no cap" is {NO_CAP_U16} or {NO_CAP_FEN},
/// never 0 (the registry refuses a zero cap). The district's policy is the floor and ceiling of every industry's:
/// a custody ratio, cooling-off and exit notice at least the district's, caps at most the district's.
struct Policy {
    // slot 0
    uint16 custodyBps; // share of each payment held in escrow, in basis points (10000 = 100%)
    uint8 coolingOffDays; // unused cards are refundable in full this long after purchase
    uint16 exitNoticeDays; // notice a leaving merchant gives before its balances go back to holders
    uint16 maxLessons; // lessons left on one card at most
    uint16 maxValidityDays; // validity of one card at most
    uint48 maxCardValue; // named card value at most, fen
    uint48 maxAnonymousValue; // anonymous card value at most, fen
    uint48 mediumRiskCap30d; // card value sold in any 30 consecutive days at most for a medium-risk merchant, fen
    uint32 filingThreshold; // a merchant's prepaid balance that must be filed with its regulator (Beijing: 500,000 CNY), fen
}

struct Industry {
    // slot 0
    address regulator; // the responsible industry regulator ("N"); zero: the market regulation bureau acts
    bool exists;
    bool hasPolicy; // false: the default policy applies
    uint16 custodyFloorBps; // set by the platform regulator: e.g. 10000 for education and youth sports
    // slot 1
    Policy policy;
}

struct Bank {
    // slot 0
    address account;
    // slot 1
    address token;
}

// Fields are grouped by what is read and written together (identity, ledger, the rest), not packed by size.
// solhint-disable-next-line gas-struct-packing
struct Merchant {
    // slot 0
    address account;
    uint16 industryId;
    uint16 bankId;
    MerchantStatus status;
    RiskLevel risk;
    uint32 cardCount;
    uint32 planCount;
    // slot 1: the merchant's ledger. held = paidIn - released - refunded; payable = released - paidOut.
    uint64 paidIn;
    uint64 released;
    uint64 refunded;
    uint64 paidOut;
    // slot 2
    uint40 exitEffectiveAt; // when the exit notice ends (WindingDown)
    uint40 windowDay; // medium risk: the Beijing day of the last sale counted (the window is the 30 days ending then)
    uint64 windowSales; // medium risk: card value sold in the 30 Beijing days ending on windowDay, renewals included, fen
    MerchantStatus statusBeforeFreeze; // what an unfreeze returns to (Active, Restricted or WindingDown)
    uint40 breachRecordedAt; // when its regulator recorded a breach (moved far, handed over, cannot serve); 0: none
}

struct Plan {
    // slot 0
    PlanKind kind;
    bool active;
    uint16 units; // lessons, or periods
    uint32 periodSeconds; // periodic plans only
    uint16 validityDays; // lesson plans; periodic plans last units * periodSeconds
    uint48 price; // fen
}

/// @notice A card as `PrepaidEscrow.cardOf` returns it. It is stored as {StoredCard}.
struct Card {
    address holder;
    uint40 held; // custodied money still in escrow for this card, fen
    uint16 unitsLeft; // lessons or periods not yet released
    uint16 unitsUsed; // lessons or periods released; also the voucher sequence
    uint16 expiryDay; // the card may be used until this Beijing day starts (days since 1970, UTC+8); zero: no expiry
    CardStatus status;
    PlanKind kind;
    bool named; // sold to a registered (real-name) holder: the named-card value cap applies
    uint8 coolingOffDays; // the policy's, at purchase
    uint32 planIndex; // the plan it was bought on
    uint32 periodSeconds; // periodic cards
    uint40 startedAt; // lesson cards: the purchase; time-based cards: when the periods start
    uint48 paidIn; // custodied in total, purchase and renewals, fen
    uint48 direct; // the non-custodied share of purchase and renewals, the merchant's once their cooling-off ends, fen
    uint16 coolingOffEndDay; // the open cooling-off ends as this Beijing day starts (0: none open)
    uint16 coolingOffUnits; // the lessons or periods the open cooling-off covers (the last purchase or renewals)
    uint48 pendingDirect; // the direct share waiting in escrow for its cooling-off to end, fen
}

/// @dev Bit offsets in a {StoredCard}'s slot 0 of the three fields PrepaidEscrow._consume writes in one store
/// (held: 32 bits, unitsLeft and unitsUsed: 16 bits each, adjacent). test/contracts/layout.test.ts checks them against
/// the compiler's storage layout, so a reordered struct fails the tests instead of corrupting cards.
uint256 constant CARD_HELD_SHIFT = 160;
/// @dev See {CARD_HELD_SHIFT}.
uint256 constant CARD_UNITS_LEFT_SHIFT = 192;
/// @dev See {CARD_HELD_SHIFT}.
uint256 constant CARD_UNITS_USED_SHIFT = 208;

/// @notice A card in storage: the fields of {Card}, with `held` in 32 bits so that `kind` fits slot 0 too and a
/// consumption reads one slot and writes it once. A card's value is capped at 2^32 - 1 fen (42,949,672.95 CNY).
/// PrepaidEscrow._consume writes held, unitsLeft and unitsUsed in one store at the CARD_*_SHIFT offsets.
struct StoredCard {
    // slot 0: everything a consumption reads and writes
    address holder;
    uint32 held; // custodied money still in escrow for this card, fen
    uint16 unitsLeft; // lessons or periods not yet released
    uint16 unitsUsed; // lessons or periods released; also the voucher sequence
    uint16 expiryDay; // the card may be used until this Beijing day starts (days since 1970, UTC+8); zero: no expiry
    CardStatus status;
    PlanKind kind;
    // slot 1
    bool named; // sold to a registered (real-name) holder: the named-card value cap applies
    uint8 coolingOffDays; // the policy's, at purchase
    uint32 planIndex; // the plan it was bought on
    uint32 periodSeconds; // periodic cards
    uint40 startedAt; // lesson cards: the purchase; time-based cards: when the periods start
    uint48 paidIn; // custodied in total, purchase and renewals, fen
    uint48 direct; // the non-custodied share of purchase and renewals, fen
    uint16 coolingOffEndDay; // the open cooling-off ends as this Beijing day starts (0: none open)
    uint16 coolingOffUnits; // the lessons or periods it covers: those of the purchase, or of the renewals made in it
}

/// @notice A consumer's confirmation of `lessons` lessons on `cardId`, signed with EIP-712 by the card holder.
/// The holder signs `Consumption(uint32 merchantId,uint64 cardId,uint16 lessons,uint64 amount,uint16 sequence,
/// uint40 deadline)`: the merchant is not sent, it is the card id's high 32 bits, so a voucher signed for another
/// merchant recovers another signer. `amount` is the money in fen the lessons release (CustodyMath.share of the card
/// at `sequence`): the holder sees it, the escrow refuses any other. `sequence` is the number of lessons the card had
/// used when the consumer signed: a voucher is good once. The signature is in EIP-2098's compact form (`r`, and `vs`:
/// `s` with `v - 27` in its top bit), one calldata word fewer per voucher than (v, r, s).
struct Voucher {
    uint64 cardId;
    uint16 lessons;
    uint64 amount;
    uint16 sequence;
    uint40 deadline;
    bytes32 r;
    bytes32 vs;
}

/// @notice A lost key's recovery under way: the custodian bank moves the card to `newHolder`, effective at
/// `effectiveAt` unless the holder (or the bank) cancels it before.
struct KeyRecovery {
    address newHolder;
    uint40 effectiveAt;
}

/// @notice A merchant's payout account, as a reference (the hash of the bank account the bank pays): the one in
/// force and the one it proposed that its regulator has not confirmed yet (zero: none).
struct PayoutAccount {
    bytes32 confirmed;
    bytes32 proposed;
}
