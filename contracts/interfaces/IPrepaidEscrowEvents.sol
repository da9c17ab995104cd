// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { MerchantStatus, PlanKind, RiskLevel } from "../types/DataTypes.sol";

/// @title IPrepaidEscrowEvents
/// @notice The escrow's events: the record the gateway indexes and the banks act on. Emitted by the escrow's address
/// whichever of its modules runs the function.
interface IPrepaidEscrowEvents {
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
        Exit, // the merchant's exit notice ended
        Breach // the holder cancelled after the merchant's breach (法释〔2025〕4号 art. 13)
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

    /// @notice A cooling-off ended: the direct (non-custodied) share it held back in escrow became the merchant's
    /// released money, paid out with the rest.
    event DirectShareReleased(uint64 indexed cardId, uint32 indexed merchantId, uint48 amount);
    /// @notice The direct share held back during a cooling-off went back to the holder: the bank pays `amount` to
    /// `holder` and the tokens were burned.
    event DirectShareReturned(uint64 indexed cardId, uint32 indexed merchantId, address indexed holder, uint48 amount);
    /// @notice A renewal was refunded in its cooling-off: `units` lessons or periods and `amount` of custodied money
    /// left the card, which stays active with the rest. The bank pays `amount` to `holder`; the tokens were burned.
    event RenewalRefunded(
        uint64 indexed cardId,
        uint32 indexed merchantId,
        address indexed holder,
        uint16 units,
        uint48 amount
    );
    /// @notice A time-based card's periods started at the holder's first signed check-in (before the end of its
    /// cooling-off, when they would have started anyway).
    event PeriodsStarted(uint64 indexed cardId, uint40 startedAt, uint40 expiresAt);

    /// @notice The holder transferred the card by notice (法释〔2025〕4号): lessons, balance, cooling-off and every other
    /// right now belong to `to`; the merchant is told by this event and has no say.
    event CardTransferred(uint64 indexed cardId, address indexed from, address indexed to);

    /// @notice The responsible regulator recorded the merchant's breach (moved so far that service is clearly
    /// inconvenient, handed the business over without consent, cannot serve): every holder may now cancel and take
    /// the unused balance back. `reason` is the hash or reference of the decision.
    event BreachRecorded(uint32 indexed merchantId, address indexed by, bytes32 reason);
    /// @notice The regulator withdrew a breach record (remedied or recorded in error); cancellations already made stand.
    event BreachCleared(uint32 indexed merchantId, address indexed by, bytes32 reason);

    /// @notice The custodian bank, which knows the payer, started moving the card from a lost key `from` to `to`;
    /// it takes effect at `effectiveAt` unless the holder or the bank cancels it before.
    event KeyRecoveryStarted(
        uint64 indexed cardId,
        address indexed from,
        address indexed to,
        address by,
        uint40 effectiveAt
    );
    /// @notice A key recovery under way was cancelled by the holder's key or the bank (or by the holder's transfer).
    event KeyRecoveryCancelled(uint64 indexed cardId, address indexed to, address indexed by);
    /// @notice A key recovery took effect: the card, its lessons or periods, balance and every right now belong to
    /// `to`; its cooling-off goes on as it was.
    event KeyRecoveryCompleted(uint64 indexed cardId, address indexed from, address indexed to, address by);
    /// @notice The responsible regulator decided where a Frozen merchant's released money goes: to the merchant's
    /// payout (a {PaidOut} follows) or, `toHolders`, to its cards' holders, shared pro rata to what each card holds
    /// when it is claimed. `reason` is the hash or reference of the decision.
    event FrozenPayableDecided(uint32 indexed merchantId, bool toHolders, uint64 amount, address indexed by, bytes32 reason);
    /// @notice A claim took the card's share of the money a regulator decided to the holders; it is part of the
    /// amount of the {CardRefunded} event that follows.
    event FrozenPayableShared(uint64 indexed cardId, uint32 indexed merchantId, uint48 amount);
    /// @notice The merchant proposed a new payout account (the reference of the bank account, e.g. its hash).
    event PayoutAccountProposed(uint32 indexed merchantId, bytes32 account);
    /// @notice The merchant's regulator (or the bureau) confirmed the payout account: payouts go to it from now on.
    event PayoutAccountConfirmed(uint32 indexed merchantId, bytes32 account, address indexed by);
    /// @notice A purchase or renewal took the merchant's prepaid balance (all unused prepaid money of its cards,
    /// custodied or held back) to `balance`, at or above the policy's filing threshold from below it.
    event FilingThresholdReached(uint32 indexed merchantId, uint64 balance, uint64 threshold);

    // solhint-enable gas-indexed-events
}
