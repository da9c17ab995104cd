// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { ICustodyRegistry } from "./ICustodyRegistry.sol";
import { IEscrowOperations } from "./IEscrowOperations.sol";
import { Bank, Card, CardStatus, KeyRecovery, Merchant, PayoutAccount, Plan, Voucher } from "../types/DataTypes.sol";

/// @title IPrepaidEscrow
/// @notice Custody of prepaid-card money (单用途预付卡资金存管). Every card's custodied money sits in escrow as the
/// custodian bank's deposit token and is released to the merchant only as the service is delivered: one lesson's
/// share per lesson the card holder confirmed with their own EIP-712 signature, or pro rata per elapsed period for
/// time-based plans. Refunds, cooling-off, the regulator's freeze of a collapsed merchant, merchant exit, the
/// district and per-industry policy ("1+N") and risk restrictions are enforced here.
///
/// One address for everyone: the escrow runs the hot paths (sales, consumption, periodic release, every read) in its
/// own code and delegates the rest ({IEscrowOperations}) to its operations module, on its own storage, so that each
/// contract stays well under the 24,576-byte code limit. This interface is the whole of it.
///
/// Ids: merchants are numbered from 1; a card id is `merchantId << 32 | n` with n the merchant's card number
/// from 1, so the merchant of a card is `cardId >> 32`. Money is in fen (1/100 CNY), the deposit token's unit.
///
/// Conservation, per merchant and so per bank: paidIn = released + refunded + held, released = paidOut + payable,
/// and the escrow's balance of a bank's token = the sum of held + payable over that bank's merchants.
interface IPrepaidEscrow is IEscrowOperations {
    /*//////////////////////////////////////////////////////////////////////////
                                   READ-ONLY FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice The EIP-712 type of a consumption voucher.
    function CONSUMPTION_TYPEHASH() external view returns (bytes32);

    /// @notice The EIP-712 type of a time-based card's check-in, which starts its periods.
    function CHECK_IN_TYPEHASH() external view returns (bytes32);

    /// @notice The EIP-712 domain separator vouchers are bound to (chain id and this contract).
    function DOMAIN_SEPARATOR() external view returns (bytes32);

    /// @notice The registry of policies and roles this escrow obeys.
    function registry() external view returns (ICustodyRegistry);

    /// @notice The module the escrow delegates {IEscrowOperations} to (deployed by the escrow's constructor).
    function operations() external view returns (address);

    /// @notice Custodian banks added so far; bank ids run from 1 to this.
    function bankCount() external view returns (uint16);

    /// @notice Merchants admitted so far; merchant ids run from 1 to this.
    function merchantCount() external view returns (uint32);

    /// @notice The merchant id of an account (0: none).
    /// @param account The account.
    function merchantIdOf(address account) external view returns (uint32);

    /// @notice Custodian bank `bankId`.
    /// @param bankId The bank.
    function bankOf(uint16 bankId) external view returns (Bank memory);

    /// @notice Merchant `merchantId`, with its ledger.
    /// @param merchantId The merchant.
    function merchantOf(uint32 merchantId) external view returns (Merchant memory);

    /// @notice The plan `planIndex` of `merchantId`.
    /// @param merchantId The merchant.
    /// @param planIndex The plan.
    function planOf(uint32 merchantId, uint32 planIndex) external view returns (Plan memory);

    /// @notice Card `cardId` as stored (see {cardStatus} for its status), with the direct share its open cooling-off
    /// holds back in escrow.
    /// @param cardId The card.
    function cardOf(uint64 cardId) external view returns (Card memory);

    /// @notice A card's status, derived: a stored state plus Consumed (nothing left), Expired (validity over)
    /// and Claimable (its merchant is frozen or its exit notice has ended: the holder can take the balance back).
    /// @param cardId The card.
    function cardStatus(uint64 cardId) external view returns (CardStatus);

    /// @notice Money the merchant holds in escrow for unconsumed service, and released money not yet paid out.
    /// @param merchantId The merchant.
    /// @return held Held for its cards, fen.
    /// @return payable_ Released and not yet paid out, fen.
    function balancesOf(uint32 merchantId) external view returns (uint64 held, uint64 payable_);

    /// @notice The EIP-712 digest a holder signs to confirm `lessons` lessons on `cardId` releasing `amount`:
    /// `Consumption(uint32 merchantId,uint64 cardId,uint16 lessons,uint64 amount,uint16 sequence,uint40 deadline)`
    /// with `merchantId = cardId >> 32`.
    /// @param cardId The card.
    /// @param lessons Lessons confirmed.
    /// @param amount The money the lessons release, fen.
    /// @param sequence The card's lessons used before these.
    /// @param deadline The last block time the voucher may be used at.
    function consumptionDigest(
        uint64 cardId,
        uint16 lessons,
        uint64 amount,
        uint16 sequence,
        uint40 deadline
    ) external view returns (bytes32);

    /*//////////////////////////////////////////////////////////////////////////
                                 STATE-CHANGING FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    // -------------------------------- custodian bank -------------------------------

    /// @notice Opens a card for `holder` on plan `planIndex` once the payment is in the custody account: the whole
    /// price is minted into escrow. The custodied share is released as the service is delivered; the direct share
    /// waits in escrow until the cooling-off ends (24:00 Beijing time of its last day), then becomes the merchant's
    /// ({releaseDirect}). A time-based card's periods start when the cooling-off ends, or at the holder's first
    /// check-in ({checkIn}) if that comes first.
    /// Requirements: the caller is the merchant's custodian bank; the merchant is Active and not high risk; the plan
    /// is active; the policy's caps (card value named/anonymous, lessons, validity, medium-risk window) hold.
    /// Emits {CardPurchased} and the token's {Transfer} events.
    /// @param merchantId The merchant.
    /// @param planIndex The plan bought.
    /// @param holder The consumer's account (signs vouchers, receives refunds).
    /// @param named Sold to a registered (real-name) holder: the named-card value cap applies.
    /// @return cardId The new card's id.
    function purchase(uint32 merchantId, uint32 planIndex, address holder, bool named) external returns (uint64 cardId);

    /// @notice Tops up an active card with plan `planIndex` (same kind; periodic plans of the same period length).
    /// The renewal has its own cooling-off on what it adds; one made while the card's cooling-off is open joins it.
    /// Requirements: as {purchase}; the card is Active and not expired.
    /// Emits {CardRenewed} and the token's {Transfer} events.
    /// @param cardId The card.
    /// @param planIndex The plan added.
    function renew(uint64 cardId, uint32 planIndex) external;

    /// @notice Starts a time-based card's periods now, on the holder's signed check-in (EIP-712 `CheckIn(uint64 cardId,
    /// uint40 deadline)`), instead of at the end of its cooling-off. Using the card ends its cooling-off refund. Anyone
    /// may submit the signature (the merchant, at the door).
    /// Requirements: the card is an Active time-based card whose periods have not started; its merchant serves; the
    /// signature is the holder's and its deadline has not passed.
    /// Emits a {PeriodsStarted} event.
    /// @param cardId The card.
    /// @param deadline The last block time the check-in may be used at.
    /// @param v The signature's recovery id.
    /// @param r The signature's r.
    /// @param s The signature's s.
    function checkIn(uint64 cardId, uint40 deadline, uint8 v, bytes32 r, bytes32 s) external;

    // ----------------------------------- merchant ----------------------------------

    /// @notice Releases one voucher's lessons: exactly their share of the card's escrow (see CustodyMath.share).
    /// Requirements: the caller is the card's merchant, which is not Frozen or Exited; the card is an Active lesson
    /// card, not expired; the voucher is signed by the holder, not past its deadline, with the card's current
    /// sequence, at most the lessons left, and the amount those lessons release (else Custody_VoucherAmountMismatch).
    /// Emits a {LessonsConsumed} event.
    /// @param voucher The holder's signed confirmation.
    function consume(Voucher calldata voucher) external;

    /// @notice Releases many vouchers, for many cards, in one transaction; all or nothing.
    /// Requirements: as {consume}, for every voucher. Vouchers for the same card must come in sequence order.
    /// Emits a {LessonsConsumed} event per voucher.
    /// @param vouchers The holders' signed confirmations.
    function consumeBatch(Voucher[] calldata vouchers) external;

    /// @notice Releases the whole periods elapsed on a time-based card. Anyone may trigger it.
    /// Requirements: the card is an Active periodic card; its merchant is not Frozen or Exited; a period is due.
    /// Emits a {PeriodsReleased} event.
    /// @param cardId The card.
    function releasePeriodic(uint64 cardId) external;

    /// @notice {releasePeriodic} for many cards; cards with nothing due are skipped.
    /// @param cardIds The cards.
    function releasePeriodicBatch(uint64[] calldata cardIds) external;

    /// @notice The lost-key recovery under way on `cardId` (effectiveAt 0: none).
    /// @param cardId The card.
    function keyRecoveryOf(uint64 cardId) external view returns (KeyRecovery memory);

    /// @notice Released money of a Frozen merchant its regulator decided to the holders and not yet claimed, fen.
    /// @param merchantId The merchant.
    function holderPoolOf(uint32 merchantId) external view returns (uint256);

    /// @notice The merchant's payout account in force and the one proposed (zero: none).
    /// @param merchantId The merchant.
    function payoutAccountOf(uint32 merchantId) external view returns (PayoutAccount memory);
}
