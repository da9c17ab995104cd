// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { CardStatus, MerchantStatus, PlanKind } from "../types/DataTypes.sol";

/// @title IPrepaidEscrowErrors
/// @notice The escrow's custom errors. Each names what was refused and carries the facts a merchant, bank or auditor
/// needs to see why, without reading code.
interface IPrepaidEscrowErrors {
    // ------------------------------------ set-up -----------------------------------

    /// @notice Thrown when an account or token argument is the zero address.
    error Custody_ZeroAddress();
    /// @notice Thrown when a merchant is admitted into an industry the registry does not define.
    /// @param industryId The industry asked for.
    error Custody_UnknownIndustry(uint16 industryId);
    /// @notice Thrown when a merchant is admitted with a custodian bank that was never added.
    /// @param bankId The bank asked for.
    error Custody_UnknownBank(uint16 bankId);
    /// @notice Thrown when a bank's deposit token does not name that bank and this escrow.
    /// @param token The deposit token offered.
    /// @param tokenBank The bank the token names.
    /// @param tokenEscrow The escrow the token names.
    error Custody_BankTokenMismatch(address token, address tokenBank, address tokenEscrow);
    /// @notice Thrown when a merchant id was never admitted.
    /// @param merchantId The merchant asked for.
    error Custody_UnknownMerchant(uint32 merchantId);
    /// @notice Thrown when a merchant has no plan with this index.
    /// @param merchantId The merchant.
    /// @param planIndex The plan asked for.
    error Custody_UnknownPlan(uint32 merchantId, uint32 planIndex);
    /// @notice Thrown when a card id was never sold.
    /// @param cardId The card asked for.
    error Custody_UnknownCard(uint64 cardId);
    /// @notice Thrown when an account that is already a merchant is admitted again.
    /// @param account The account.
    error Custody_AccountInUse(address account);
    /// @notice Thrown when a module function is called on the module's own address instead of through the escrow.
    error Custody_NotThroughEscrow();

    // ------------------------------------ roles ------------------------------------

    /// @notice Thrown when a platform regulator's action comes from another account.
    /// @param caller The account that called.
    error Custody_NotPlatformRegulator(address caller);
    /// @notice Thrown when a regulator's action comes from an account that does not regulate the industry.
    /// @param industryId The merchant's industry.
    /// @param caller The account that called.
    error Custody_NotRegulatorOf(uint16 industryId, address caller);
    /// @notice Thrown when a bank's action comes from an account that is not the merchant's custodian bank.
    /// @param merchantId The merchant.
    /// @param caller The account that called.
    error Custody_NotCustodianOf(uint32 merchantId, address caller);
    /// @notice Thrown when a merchant's action comes from another account.
    /// @param merchantId The merchant.
    /// @param caller The account that called.
    error Custody_NotMerchant(uint32 merchantId, address caller);
    /// @notice Thrown when a holder's action comes from an account that does not hold the card.
    /// @param cardId The card.
    /// @param caller The account that called.
    error Custody_NotHolder(uint64 cardId, address caller);
    /// @notice Thrown when a risk level is set by an account without the risk oracle role.
    /// @param caller The account that called.
    error Custody_NotRiskOracle(address caller);

    // ------------------------------ plans and sales --------------------------------

    /// @notice Thrown when a plan is published with no kind, no units, no price, or a period that does not fit its
    /// kind (a periodic plan needs one, a lesson plan none).
    /// @param kind The plan's kind.
    /// @param units Its lessons or periods.
    /// @param periodSeconds Its period length.
    /// @param price Its price, fen.
    error Custody_InvalidPlan(PlanKind kind, uint16 units, uint32 periodSeconds, uint48 price);
    /// @notice Thrown when a card is sold or renewed on a plan the merchant stopped selling.
    /// @param merchantId The merchant.
    /// @param planIndex The plan.
    error Custody_PlanInactive(uint32 merchantId, uint32 planIndex);
    /// @notice Thrown when a card is renewed on a plan of another kind or period length.
    /// @param cardId The card.
    /// @param cardKind The card's kind.
    /// @param planKind The plan's kind.
    error Custody_PlanKindMismatch(uint64 cardId, PlanKind cardKind, PlanKind planKind);
    /// @notice Thrown when a merchant that may not sell (restricted, frozen, winding down, exited) sells or publishes.
    /// @param merchantId The merchant.
    /// @param status Its status.
    error Custody_MerchantNotSelling(uint32 merchantId, MerchantStatus status);
    /// @notice Thrown when a merchant that no longer serves (frozen, exited, past its exit notice) releases money.
    /// @param merchantId The merchant.
    /// @param status Its status.
    error Custody_MerchantNotServing(uint32 merchantId, MerchantStatus status);
    /// @notice Thrown when a high-risk merchant sells or renews a card.
    /// @param merchantId The merchant.
    error Custody_HighRiskNoSales(uint32 merchantId);
    /// @notice Thrown when a medium-risk merchant's sale would take its sales over the cap in 30 consecutive days.
    /// @param merchantId The merchant.
    /// @param soldInWindow Card value already sold in the 30 days ending today, fen.
    /// @param amount The sale's value, fen.
    /// @param cap The policy's cap, fen.
    error Custody_MediumRiskCapExceeded(uint32 merchantId, uint64 soldInWindow, uint48 amount, uint48 cap);
    /// @notice Thrown when a card's value would exceed the policy's cap (named or anonymous) or 2^32 - 1 fen.
    /// @param value The card's value after the sale, fen.
    /// @param cap The cap, fen.
    error Custody_CardValueCapExceeded(uint256 value, uint256 cap);
    /// @notice Thrown when a card's lessons (or periods) would exceed the policy's cap or 65,535.
    /// @param lessons The card's lessons after the sale.
    /// @param cap The cap.
    error Custody_LessonCapExceeded(uint256 lessons, uint256 cap);
    /// @notice Thrown when a card's validity would exceed the policy's cap, or a capped lesson plan has none.
    /// @param validityDays The card's validity, days.
    /// @param cap The cap, days.
    error Custody_ValidityCapExceeded(uint256 validityDays, uint256 cap);

    // ---------------------------------- consumption --------------------------------

    /// @notice Thrown when a voucher confirms zero lessons.
    /// @param cardId The card.
    error Custody_ZeroLessons(uint64 cardId);
    /// @notice Thrown when a voucher arrives after its deadline.
    /// @param cardId The card.
    /// @param deadline The voucher's deadline.
    /// @param timestamp The block time.
    error Custody_VoucherExpired(uint64 cardId, uint40 deadline, uint256 timestamp);
    /// @notice Thrown when a voucher's sequence is not the card's lessons used so far (replayed or out of order).
    /// @param cardId The card.
    /// @param expected The card's lessons used.
    /// @param given The voucher's sequence.
    error Custody_VoucherSequenceMismatch(uint64 cardId, uint16 expected, uint16 given);
    /// @notice Thrown when the amount a holder signed is not the share the voucher's lessons release at its
    /// sequence (CustodyMath.share of the card's escrow): the holder agreed to another sum than the one released.
    /// @param cardId The card.
    /// @param signed The amount in the signed voucher, fen.
    /// @param share The share the escrow would release, fen.
    error Custody_VoucherAmountMismatch(uint64 cardId, uint64 signed, uint64 share);
    /// @notice Thrown when a voucher is not signed by the card's holder.
    /// @param cardId The card.
    /// @param recovered The signer the signature recovers to (zero: unusable signature).
    /// @param holder The card's holder.
    error Custody_InvalidSigner(uint64 cardId, address recovered, address holder);
    /// @notice Thrown when a voucher confirms more lessons than the card has left.
    /// @param cardId The card.
    /// @param requested The voucher's lessons.
    /// @param left The card's lessons left.
    error Custody_InsufficientLessons(uint64 cardId, uint16 requested, uint16 left);
    /// @notice Thrown when a card is not in the status the action needs (Active, or a lesson or periodic card).
    /// @param cardId The card.
    /// @param status Its status.
    error Custody_CardNotActive(uint64 cardId, CardStatus status);
    /// @notice Thrown when a card is used or renewed after its validity ended.
    /// @param cardId The card.
    /// @param expiresAt When its validity ended.
    error Custody_CardExpired(uint64 cardId, uint256 expiresAt);
    /// @notice Thrown when a periodic release is asked for and no whole period is due.
    /// @param cardId The card.
    error Custody_NothingToRelease(uint64 cardId);
    /// @notice Thrown when a payout is asked for and nothing released is left to pay.
    /// @param merchantId The merchant.
    error Custody_NothingToPayOut(uint32 merchantId);

    // ----------------------------------- refunds -----------------------------------

    /// @notice Thrown when a cooling-off refund is asked for after the cooling-off ended.
    /// @param cardId The card.
    /// @param endedAt When it ended.
    error Custody_CoolingOffOver(uint64 cardId, uint256 endedAt);
    /// @notice Thrown when a holder cancels for breach and no breach of the merchant is on record.
    /// @param merchantId The merchant.
    error Custody_NoBreachRecorded(uint32 merchantId);
    /// @notice Thrown when a breach is recorded twice, or cleared when none is on record.
    /// @param merchantId The merchant.
    /// @param recordedAt When the breach on record was recorded (0: none).
    error Custody_BreachRecordUnchanged(uint32 merchantId, uint40 recordedAt);
    /// @notice Thrown when a card is transferred to the zero address or to its own holder.
    /// @param cardId The card.
    /// @param to The new holder given.
    error Custody_InvalidTransfer(uint64 cardId, address to);
    /// @notice Thrown when a time-based card is checked in after its periods started.
    /// @param cardId The card.
    /// @param startedAt When they started.
    error Custody_PeriodsAlreadyStarted(uint64 cardId, uint40 startedAt);
    /// @notice Thrown when a cooling-off refund is asked for a card already used.
    /// @param cardId The card.
    /// @param unitsUsed Its lessons or periods used.
    error Custody_CardAlreadyUsed(uint64 cardId, uint16 unitsUsed);
    /// @notice Thrown when a refund request is answered, cancelled or escalated and the card has none.
    /// @param cardId The card.
    /// @param status Its status.
    error Custody_NoRefundRequest(uint64 cardId, CardStatus status);
    /// @notice Thrown when a dispute is decided on a card that is not Disputed.
    /// @param cardId The card.
    /// @param status Its status.
    error Custody_NotInDispute(uint64 cardId, CardStatus status);
    /// @notice Thrown when a dispute decision refunds more than the card holds.
    /// @param cardId The card.
    /// @param amount The refund decided, fen.
    /// @param held What the card holds, fen.
    error Custody_RefundExceedsHeld(uint64 cardId, uint256 amount, uint256 held);
    /// @notice Thrown when a dispute decision would release money to a Frozen merchant.
    /// @param cardId The card.
    /// @param merchantId The merchant.
    /// @param released What it would release, fen.
    error Custody_ReleaseWhileFrozen(uint64 cardId, uint32 merchantId, uint256 released);
    /// @notice Thrown when a claim is made on a card whose merchant is neither Frozen nor past its exit notice, or
    /// that holds nothing.
    /// @param cardId The card.
    /// @param merchantStatus Its merchant's status.
    error Custody_NotClaimable(uint64 cardId, MerchantStatus merchantStatus);

    // ------------------------------- merchant status -------------------------------

    /// @notice Thrown when a merchant is closed before its exit notice ends.
    /// @param merchantId The merchant.
    /// @param effectiveAt When the notice ends.
    error Custody_ExitNoticeRunning(uint32 merchantId, uint40 effectiveAt);
    /// @notice Thrown when a merchant that still holds or owes money is closed.
    /// @param merchantId The merchant.
    /// @param held What it holds for cards, fen.
    /// @param payableAmount Released money not yet paid out, fen.
    error Custody_MerchantStillHolds(uint32 merchantId, uint64 held, uint64 payableAmount);
    /// @notice Thrown when a status change is not allowed from the merchant's status.
    /// @param merchantId The merchant.
    /// @param from Its status.
    /// @param to The status asked for.
    error Custody_InvalidStatusChange(uint32 merchantId, MerchantStatus from, MerchantStatus to);

    // ------------------------------- lost key, frozen payable, payout account -------------------------------

    /// @notice Thrown when a key recovery is started on a card that has one under way.
    /// @param cardId The card.
    /// @param effectiveAt When the recovery under way takes effect.
    error Custody_KeyRecoveryPending(uint64 cardId, uint40 effectiveAt);
    /// @notice Thrown when a key recovery is cancelled or completed on a card that has none under way.
    /// @param cardId The card.
    error Custody_NoKeyRecovery(uint64 cardId);
    /// @notice Thrown when a key recovery is completed before its waiting period ends.
    /// @param cardId The card.
    /// @param effectiveAt When it takes effect.
    error Custody_KeyRecoveryWaiting(uint64 cardId, uint40 effectiveAt);
    /// @notice Thrown when a key recovery is cancelled by someone other than the card's holder or custodian bank.
    /// @param cardId The card.
    /// @param caller The account that called.
    error Custody_NotHolderOrCustodian(uint64 cardId, address caller);
    /// @notice Thrown when a decision on released money is asked for a merchant that is not Frozen.
    /// @param merchantId The merchant.
    /// @param status Its status.
    error Custody_NotFrozen(uint32 merchantId, MerchantStatus status);
    /// @notice Thrown when released money is decided to go to holders and no card of the merchant holds anything.
    /// @param merchantId The merchant.
    error Custody_NoHoldersToShare(uint32 merchantId);
    /// @notice Thrown when a payout account confirmed is not the one the merchant proposed, or none is proposed.
    /// @param merchantId The merchant.
    /// @param account The account reference given.
    /// @param proposed The one proposed (zero: none).
    error Custody_PayoutAccountNotProposed(uint32 merchantId, bytes32 account, bytes32 proposed);
}
