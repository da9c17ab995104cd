// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { ICustodyRegistry } from "./ICustodyRegistry.sol";
import { CardStatus, MerchantStatus, Plan, PlanKind, RiskLevel, Voucher } from "../types/DataTypes.sol";

/// @title IPrepaidEscrow
/// @notice Custody of prepaid-card money (单用途预付卡资金存管). Every card's custodied money sits in escrow as the
/// custodian bank's deposit token and is released to the merchant only as the service is delivered: one lesson's
/// share per lesson the card holder confirmed with their own EIP-712 signature, or pro rata per elapsed period for
/// time-based plans. Refunds, cooling-off, the regulator's freeze of a collapsed merchant, merchant exit, the
/// district and per-industry policy ("1+N") and risk restrictions are enforced here.
///
/// Ids: merchants are numbered from 1; a card id is `merchantId << 32 | n` with n the merchant's card number
/// from 1, so the merchant of a card is `cardId >> 32`. Money is in fen (1/100 CNY), the deposit token's unit.
///
/// Conservation, per merchant and so per bank: paidIn = released + refunded + held, released = paidOut + payable,
/// and the escrow's balance of a bank's token = the sum of held + payable over that bank's merchants.
interface IPrepaidEscrow {
    /*//////////////////////////////////////////////////////////////////////////
                                        TYPES
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice Why a card's money went back to its holder.
    enum RefundReason {
        CoolingOff, // unused and within the cooling-off days
        Accepted, // the merchant accepted the holder's request
        Dispute, // the industry regulator decided
        SmallBalance, // less than one lesson's share left
        Expired, // the card's validity ended
        Frozen, // the merchant was frozen (collapse)
        Exit // the merchant's exit notice ended
    }

    /*//////////////////////////////////////////////////////////////////////////
                                        EVENTS
    //////////////////////////////////////////////////////////////////////////*/

    // Events index what the gateway and banks filter on (merchant, card, holder, bank); amounts and counts are
    // never filtered on, and each extra topic would cost gas on every consumption and change the events' ABI.
    // solhint-disable gas-indexed-events

    /// @notice A custodian bank joined with its deposit token.
    event BankAdded(uint16 indexed bankId, address indexed account, address token);
    /// @notice A merchant was admitted. `registryRef` is the hash of its business registration.
    event MerchantAdmitted(
        uint32 indexed merchantId,
        address indexed account,
        uint16 industryId,
        uint16 bankId,
        bytes32 registryRef
    );
    /// @notice A merchant's status changed. `reason` is the hash or reference of the decision.
    event MerchantStatusChanged(
        uint32 indexed merchantId,
        MerchantStatus from,
        MerchantStatus to,
        address indexed by,
        bytes32 reason
    );
    /// @notice The risk oracle set a merchant's risk level.
    event RiskLevelSet(uint32 indexed merchantId, RiskLevel from, RiskLevel to, bytes32 reason);
    /// @notice A merchant announced its exit (or a regulator ordered a wind-down); balances go back after `effectiveAt`.
    event ExitAnnounced(uint32 indexed merchantId, uint40 effectiveAt, address indexed by);
    /// @notice A merchant published a plan.
    event PlanPublished(
        uint32 indexed merchantId,
        uint32 indexed planIndex,
        PlanKind kind,
        uint16 units,
        uint32 periodSeconds,
        uint16 validityDays,
        uint48 price
    );
    /// @notice A merchant started or stopped selling a plan.
    event PlanActiveSet(uint32 indexed merchantId, uint32 indexed planIndex, bool active);
    /// @notice The custodian bank opened a card: `custodied` went into escrow, `direct` straight to the merchant.
    event CardPurchased(
        uint64 indexed cardId,
        uint32 indexed merchantId,
        address indexed holder,
        uint32 planIndex,
        PlanKind kind,
        uint16 units,
        uint48 price,
        uint48 custodied,
        uint48 direct,
        uint40 startedAt,
        uint40 expiresAt,
        bool named
    );
    /// @notice The custodian bank topped a card up.
    event CardRenewed(
        uint64 indexed cardId,
        uint32 indexed merchantId,
        address indexed holder,
        uint32 planIndex,
        uint16 units,
        uint48 price,
        uint48 custodied,
        uint48 direct,
        uint40 expiresAt
    );
    /// @notice `lessons` lessons confirmed by the holder released `amount` to the merchant (`cardId >> 32`).
    /// `sequence` is the lessons used before this voucher.
    event LessonsConsumed(uint64 indexed cardId, uint16 lessons, uint48 amount, uint16 sequence);
    /// @notice `periods` elapsed periods of a time-based card released `amount` to the merchant.
    event PeriodsReleased(uint64 indexed cardId, uint16 periods, uint48 amount);
    /// @notice Released money was paid out: the bank pays `amount` to the merchant and the tokens were burned.
    event PaidOut(uint32 indexed merchantId, uint16 indexed bankId, uint64 amount, address indexed by);
    /// @notice The holder asked for the unconsumed balance back.
    event RefundRequested(uint64 indexed cardId, address indexed holder, uint48 amount);
    /// @notice The holder withdrew a refund request; the card is active again.
    event RefundRequestCancelled(uint64 indexed cardId);
    /// @notice The refund went to the industry regulator: the merchant refused or the holder escalated.
    event DisputeOpened(uint64 indexed cardId, uint32 indexed merchantId, address indexed by, bytes32 reason);
    /// @notice A regulator decided a dispute: `refunded` to the holder, `released` to the merchant
    /// (both zero: refund denied, the card is active again).
    event DisputeResolved(uint64 indexed cardId, uint48 refunded, uint48 released, address indexed by);
    /// @notice Money went back to the holder: the bank pays `amount` to `holder` and the tokens were burned.
    event CardRefunded(
        uint64 indexed cardId,
        uint32 indexed merchantId,
        address indexed holder,
        uint48 amount,
        RefundReason reason
    );

    // solhint-enable gas-indexed-events

    /*//////////////////////////////////////////////////////////////////////////
                                        ERRORS
    //////////////////////////////////////////////////////////////////////////*/

    error Custody_ZeroAddress();
    error Custody_UnknownIndustry(uint16 industryId);
    error Custody_UnknownBank(uint16 bankId);
    error Custody_BankTokenMismatch(address token, address tokenBank, address tokenEscrow);
    error Custody_UnknownMerchant(uint32 merchantId);
    error Custody_UnknownPlan(uint32 merchantId, uint32 planIndex);
    error Custody_UnknownCard(uint64 cardId);
    error Custody_AccountInUse(address account);

    error Custody_NotPlatformRegulator(address caller);
    error Custody_NotRegulatorOf(uint16 industryId, address caller);
    error Custody_NotCustodianOf(uint32 merchantId, address caller);
    error Custody_NotMerchant(uint32 merchantId, address caller);
    error Custody_NotHolder(uint64 cardId, address caller);
    error Custody_NotRiskOracle(address caller);

    error Custody_InvalidPlan(PlanKind kind, uint16 units, uint32 periodSeconds, uint48 price);
    error Custody_PlanInactive(uint32 merchantId, uint32 planIndex);
    error Custody_PlanKindMismatch(uint64 cardId, PlanKind cardKind, PlanKind planKind);
    error Custody_MerchantNotSelling(uint32 merchantId, MerchantStatus status);
    error Custody_MerchantNotServing(uint32 merchantId, MerchantStatus status);
    error Custody_HighRiskNoSales(uint32 merchantId);
    error Custody_MediumRiskCapExceeded(uint32 merchantId, uint64 soldInWindow, uint48 amount, uint48 cap);
    error Custody_CardValueCapExceeded(uint256 value, uint256 cap);
    error Custody_LessonCapExceeded(uint256 lessons, uint256 cap);
    error Custody_ValidityCapExceeded(uint256 validityDays, uint256 cap);

    error Custody_ZeroLessons(uint64 cardId);
    error Custody_VoucherExpired(uint64 cardId, uint40 deadline, uint256 timestamp);
    error Custody_VoucherSequenceMismatch(uint64 cardId, uint16 expected, uint16 given);
    error Custody_InvalidSigner(uint64 cardId, address recovered, address holder);
    error Custody_InsufficientLessons(uint64 cardId, uint16 requested, uint16 left);
    error Custody_CardNotActive(uint64 cardId, CardStatus status);
    error Custody_CardExpired(uint64 cardId, uint256 expiresAt);
    error Custody_NothingToRelease(uint64 cardId);
    error Custody_NothingToPayOut(uint32 merchantId);

    error Custody_CoolingOffOver(uint64 cardId, uint256 endedAt);
    error Custody_CardAlreadyUsed(uint64 cardId, uint16 unitsUsed);
    error Custody_NoRefundRequest(uint64 cardId, CardStatus status);
    error Custody_NotInDispute(uint64 cardId, CardStatus status);
    error Custody_RefundExceedsHeld(uint64 cardId, uint256 amount, uint256 held);
    /// A dispute decision would release `released` of the card's balance to its merchant while the merchant is Frozen.
    error Custody_ReleaseWhileFrozen(uint64 cardId, uint32 merchantId, uint256 released);
    error Custody_NotClaimable(uint64 cardId, MerchantStatus merchantStatus);
    error Custody_ExitNoticeRunning(uint32 merchantId, uint40 effectiveAt);
    error Custody_MerchantStillHolds(uint32 merchantId, uint64 held, uint64 payableAmount);
    error Custody_InvalidStatusChange(uint32 merchantId, MerchantStatus from, MerchantStatus to);

    /*//////////////////////////////////////////////////////////////////////////
                                   READ-ONLY FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice The registry of policies and roles this escrow obeys.
    function registry() external view returns (ICustodyRegistry);

    /// @notice A card's status, derived: a stored state plus Consumed (nothing left), Expired (validity over)
    /// and Claimable (its merchant is frozen or its exit notice has ended: the holder can take the balance back).
    function cardStatus(uint64 cardId) external view returns (CardStatus);

    /// @notice Money the merchant holds in escrow for unconsumed service, and released money not yet paid out.
    function balancesOf(uint32 merchantId) external view returns (uint64 held, uint64 payable_);

    /// @notice The EIP-712 digest a holder signs to confirm `lessons` lessons on `cardId`.
    function consumptionDigest(
        uint64 cardId,
        uint16 lessons,
        uint16 sequence,
        uint40 deadline
    ) external view returns (bytes32);

    /// @notice The plan `planIndex` of `merchantId`.
    function planOf(uint32 merchantId, uint32 planIndex) external view returns (Plan memory);

    /*//////////////////////////////////////////////////////////////////////////
                                 STATE-CHANGING FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    // ----------------------------- regulators ------------------------------





    /// @notice Adds a custodian bank with its deposit token, whose `bank()` must be `account` and `escrow()` this.
    /// Requirements: the caller is a platform regulator.
    /// Emits a {BankAdded} event.
    function addBank(address account, address token) external returns (uint16 bankId);

    /// @notice Admits a merchant in `industryId` whose custodian is `bankId`; it starts Active at low risk.
    /// Requirements: the caller is a platform regulator or the industry's regulator; `account` is not a merchant yet.
    /// Emits a {MerchantAdmitted} event.
    function admitMerchant(
        address account,
        uint16 industryId,
        uint16 bankId,
        bytes32 registryRef
    ) external returns (uint32 merchantId);

    /// @notice Freezes a collapsed merchant: no sales, no releases, no payouts; holders can claim their balances.
    /// Requirements: the caller regulates the merchant's industry (or is a platform regulator); it is not Exited.
    /// Emits a {MerchantStatusChanged} event.
    function freeze(uint32 merchantId, bytes32 reason) external;

    /// @notice Lifts a freeze; the merchant returns to the status it had (Active, Restricted or WindingDown).
    /// Requirements: as {freeze}; the merchant is Frozen.
    /// Emits a {MerchantStatusChanged} event.
    function unfreeze(uint32 merchantId, bytes32 reason) external;

    /// @notice Restricts (no new cards or renewals; service goes on) or lifts the restriction.
    /// Requirements: as {freeze}; restricting needs an Active merchant, lifting a Restricted one.
    /// Emits a {MerchantStatusChanged} event.
    function restrict(uint32 merchantId, bool restricted, bytes32 reason) external;

    /// @notice Orders a merchant to wind down: as if it had announced its exit.
    /// Requirements: as {freeze}; the merchant is Active or Restricted.
    /// Emits {MerchantStatusChanged} and {ExitAnnounced} events.
    function windDown(uint32 merchantId, bytes32 reason) external;

    /// @notice Decides a dispute: `refundAmount` goes back to the holder and the rest of the card's balance is
    /// released to the merchant, closing the card; a zero `refundAmount` denies the refund and reactivates the card.
    /// A Frozen merchant's money goes back to its consumers, never to it: while it is Frozen, a decision must refund
    /// the whole balance (or deny the refund, which leaves the balance on the card for its holder to claim); a
    /// partial refund waits until the freeze is lifted.
    /// Requirements: the caller regulates the merchant's industry (or is a platform regulator); the card is Disputed;
    /// `refundAmount` <= the card's held balance; the merchant is not Frozen, or `refundAmount` is 0 or the whole
    /// held balance.
    /// Emits {DisputeResolved} and, when money goes back, {CardRefunded} events.
    function resolveDispute(uint64 cardId, uint48 refundAmount) external;

    // ---------------------------------- risk oracle --------------------------------

    /// @notice Sets a merchant's risk level. High forbids new cards and renewals; Medium caps new card value per
    /// 30 days at the policy's `mediumRiskCap30d`.
    /// Requirements: the caller has the risk oracle role; the merchant exists.
    /// Emits a {RiskLevelSet} event.
    function setRiskLevel(uint32 merchantId, RiskLevel level, bytes32 reason) external;

    // -------------------------------- custodian bank -------------------------------

    /// @notice Opens a card for `holder` on plan `planIndex` once the payment is in the custody account: the
    /// custodied share is minted into escrow, the rest is the merchant's at once.
    /// Requirements: the caller is the merchant's custodian bank; the merchant is Active and not high risk; the plan
    /// is active; the policy's caps (card value named/anonymous, lessons, validity, medium-risk window) hold.
    /// Emits {CardPurchased} and the token's {Transfer} events.
    function purchase(uint32 merchantId, uint32 planIndex, address holder, bool named) external returns (uint64 cardId);

    /// @notice Tops up an active card with plan `planIndex` (same kind; periodic plans of the same period length).
    /// Requirements: as {purchase}; the card is Active and not expired.
    /// Emits {CardRenewed} and the token's {Transfer} events.
    function renew(uint64 cardId, uint32 planIndex) external;

    // ----------------------------------- merchant ----------------------------------

    /// @notice Publishes a plan: `units` lessons at `price`, valid `validityDays` (0: no expiry), or `units` periods
    /// of `periodSeconds` for `price`.
    /// Requirements: the caller is the merchant; it is Active or Restricted; the policy's caps hold.
    /// Emits a {PlanPublished} event.
    function publishPlan(
        uint32 merchantId,
        PlanKind kind,
        uint16 units,
        uint32 periodSeconds,
        uint16 validityDays,
        uint48 price
    ) external returns (uint32 planIndex);

    /// @notice Starts or stops selling a plan; cards already sold are unaffected.
    /// Requirements: the caller is the merchant.
    /// Emits a {PlanActiveSet} event.
    function setPlanActive(uint32 merchantId, uint32 planIndex, bool active) external;

    /// @notice Releases one voucher's lessons: exactly their share of the card's escrow (see CustodyMath.share).
    /// Requirements: the caller is the card's merchant, which is not Frozen or Exited; the card is an Active lesson
    /// card, not expired; the voucher is signed by the holder, not past its deadline, with the card's current
    /// sequence and at most the lessons left.
    /// Emits a {LessonsConsumed} event.
    function consume(Voucher calldata voucher) external;

    /// @notice Releases many vouchers, for many cards, in one transaction; all or nothing.
    /// Requirements: as {consume}, for every voucher. Vouchers for the same card must come in sequence order.
    /// Emits a {LessonsConsumed} event per voucher.
    function consumeBatch(Voucher[] calldata vouchers) external;

    /// @notice Releases the whole periods elapsed on a time-based card. Anyone may trigger it.
    /// Requirements: the card is an Active periodic card; its merchant is not Frozen or Exited; a period is due.
    /// Emits a {PeriodsReleased} event.
    function releasePeriodic(uint64 cardId) external;

    /// @notice {releasePeriodic} for many cards; cards with nothing due are skipped.
    function releasePeriodicBatch(uint64[] calldata cardIds) external;

    /// @notice Pays the merchant all released money: the tokens are burned and the bank pays the merchant.
    /// Requirements: the caller is the merchant or its custodian bank; the merchant is not Frozen; something is due.
    /// Emits {PaidOut} and the token's {Transfer} events.
    function payOut(uint32 merchantId) external returns (uint64 amount);

    /// @notice Accepts a holder's refund request: the card's balance goes back to the holder.
    /// Requirements: the caller is the merchant; the card is RefundRequested.
    /// Emits a {CardRefunded} event.
    function acceptRefund(uint64 cardId) external;

    /// @notice Refuses a refund request; it goes to the industry regulator as a dispute.
    /// Requirements: the caller is the merchant; the card is RefundRequested.
    /// Emits a {DisputeOpened} event.
    function rejectRefund(uint64 cardId, bytes32 reason) external;

    /// @notice Announces the merchant's exit: no more sales; after the policy's notice, balances go back to holders.
    /// Requirements: the caller is the merchant; it is Active or Restricted.
    /// Emits {MerchantStatusChanged} and {ExitAnnounced} events.
    function announceExit(uint32 merchantId) external;

    /// @notice Closes a merchant that holds and owes nothing any more.
    /// Requirements: the caller is the merchant or regulates its industry; it is WindingDown past the notice, or
    /// Frozen; nothing is held or payable.
    /// Emits a {MerchantStatusChanged} event.
    function close(uint32 merchantId) external;

    // ------------------------------------ holder -----------------------------------

    /// @notice Refunds an unused card in full (all that escrow holds for it) within the cooling-off days.
    /// Requirements: the caller is the holder; the card is Active, never used and inside the cooling-off days.
    /// Emits a {CardRefunded} event.
    function refundCoolingOff(uint64 cardId) external;

    /// @notice Asks for the unconsumed balance back. Paid at once when less than one lesson's share is left or
    /// the card has expired; otherwise the merchant accepts or the regulator decides.
    /// Requirements: the caller is the holder; the card is Active or expired, with money held.
    /// Emits {RefundRequested} or {CardRefunded}.
    function requestRefund(uint64 cardId) external;

    /// @notice Withdraws a refund request; the card is active again.
    /// Requirements: the caller is the holder; the card is RefundRequested.
    /// Emits a {RefundRequestCancelled} event.
    function cancelRefundRequest(uint64 cardId) external;

    /// @notice Takes a refund request the merchant has not answered to the industry regulator.
    /// Requirements: the caller is the holder; the card is RefundRequested.
    /// Emits a {DisputeOpened} event.
    function escalateRefund(uint64 cardId) external;

    /// @notice Gives a card's balance back to its holder when its merchant is Frozen, or WindingDown past the
    /// notice. Needs no one's help: anyone may call it, the money goes only to the holder.
    /// Requirements: the merchant is Frozen or past its exit notice; the card holds money.
    /// Emits a {CardRefunded} event.
    function claim(uint64 cardId) external;

    /// @notice {claim} for many cards; cards with nothing to claim are skipped.
    function claimBatch(uint64[] calldata cardIds) external;
}
