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

    // solhint-enable gas-indexed-events
}
