// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { SafeCast } from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import { ICustodyRegistry } from "../interfaces/ICustodyRegistry.sol";
import { ICustodyToken } from "../interfaces/ICustodyToken.sol";
import { IPrepaidEscrowErrors } from "../interfaces/IPrepaidEscrowErrors.sol";
import { IPrepaidEscrowEvents } from "../interfaces/IPrepaidEscrowEvents.sol";
import { BeijingTime } from "../libraries/BeijingTime.sol";
import { CustodyMath } from "../libraries/CustodyMath.sol";
import {
    Bank,
    CardStatus,
    KeyRecovery,
    Merchant,
    MerchantStatus,
    Plan,
    PlanKind,
    PayoutAccount,
    Policy,
    RiskLevel,
    StoredCard,
    NO_CAP_U16
} from "../types/DataTypes.sol";

// Time and balance bounds are stated as the rules state them ("at or after the deadline"); rewriting a >= b as
// a > b - 1 to save 3 gas would only make them harder to check against the rules.
// solhint-disable gas-strict-inequalities

/// @title EscrowStorage
/// @notice The escrow's state and the rules both of its contracts apply: {PrepaidEscrow} and the {EscrowOperations}
/// module it delegates to run on this one storage, so both inherit it first and declare no storage of their own
/// before it (test/contracts/layout.test.ts compares their layouts).
/// @dev Internal functions a contract does not call are not compiled into it.
abstract contract EscrowStorage is IPrepaidEscrowErrors, IPrepaidEscrowEvents {
    using SafeCast for uint256;

    /*//////////////////////////////////////////////////////////////////////////
                                      CONSTANTS
    //////////////////////////////////////////////////////////////////////////*/

    /// @dev The medium-risk cap counts sales in any 30 consecutive Beijing days.
    uint256 internal constant WINDOW_DAYS = 30;
    /// @dev Day buckets of the sales window: 32 of 64 bits (a uint16 day, a uint48 amount), 4 to a slot.
    uint256 internal constant RING_SLOTS = 8;
    /// @dev A lost key's recovery waits this many Beijing calendar days (to 24:00 of the last) for the holder to object.
    uint256 internal constant KEY_RECOVERY_DAYS = 7;

    /// @notice The registry of policies and roles the escrow obeys.
    ICustodyRegistry internal immutable REGISTRY;

    /*//////////////////////////////////////////////////////////////////////////
                                       STORAGE
    //////////////////////////////////////////////////////////////////////////*/

    mapping(uint16 bankId => Bank) internal _banks;
    mapping(uint32 merchantId => Merchant) internal _merchants;
    mapping(uint32 merchantId => mapping(uint32 planIndex => Plan)) internal _plans;
    mapping(uint64 cardId => StoredCard) internal _cards;
    mapping(address account => uint32 merchantId) internal _merchantIdOf;
    uint16 internal _bankCount;
    uint32 internal _merchantCount;
    /// @dev A medium-risk merchant's sales per Beijing day, in a ring of 32 day buckets (bucket `day % 32`, stamped
    /// with its day so that a bucket of an older day reads as empty). Cleared when the merchant becomes medium risk.
    mapping(uint32 merchantId => uint256[RING_SLOTS]) internal _salesRing;
    /// @dev The direct (non-custodied) share of a card's open cooling-off, held in escrow until it ends, fen. Part of
    /// the merchant's `paidIn` and held money until then.
    mapping(uint64 cardId => uint256) internal _pendingDirect;
    /// @dev A lost key's recovery under way, per card.
    mapping(uint64 cardId => KeyRecovery) internal _keyRecoveries;
    /// @dev Released money of a Frozen merchant its regulator decided to the holders, not yet claimed, fen. Part of
    /// the merchant's held money (its `released` was lowered by it); each claim takes its card's pro rata share.
    mapping(uint32 merchantId => uint256) internal _holderPool;
    /// @dev A merchant's payout account: the one confirmed by its regulator and the one it proposed.
    mapping(uint32 merchantId => PayoutAccount) internal _payoutAccounts;

    /*//////////////////////////////////////////////////////////////////////////
                                     CONSTRUCTOR
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice Binds the state to the registry the escrow obeys.
    /// @param registry_ The policy and role registry.
    constructor(ICustodyRegistry registry_) {
        if (address(registry_) == address(0)) revert Custody_ZeroAddress();
        REGISTRY = registry_;
    }

    /*//////////////////////////////////////////////////////////////////////////
                                  INTERNAL: READS
    //////////////////////////////////////////////////////////////////////////*/

    /// @dev A card's status, derived from the stored one (see {IPrepaidEscrow-cardStatus}).
    function _statusOf(uint64 cardId) internal view returns (CardStatus) {
        StoredCard storage card = _cards[cardId];
        CardStatus stored = card.status;
        if (stored == CardStatus.None || stored == CardStatus.Refunded) return stored;
        if (card.unitsLeft == 0 && card.held == 0) return CardStatus.Consumed;
        if (_claimable(_merchants[_merchantIdOfCard(cardId)])) return CardStatus.Claimable;
        if (stored == CardStatus.Active && _expired(card)) return CardStatus.Expired;
        return stored;
    }

    function _balancesOf(uint32 merchantId) internal view returns (uint64 held, uint64 payable_) {
        Merchant storage m = _merchants[merchantId];
        held = m.paidIn - m.released - m.refunded;
        payable_ = m.released - m.paidOut;
    }

    function _claimable(Merchant storage m) internal view returns (bool) {
        MerchantStatus status = m.status;
        return
            status == MerchantStatus.Frozen ||
            (status == MerchantStatus.WindingDown && block.timestamp >= m.exitEffectiveAt);
    }

    function _expired(StoredCard storage card) internal view returns (bool) {
        uint16 expiryDay = card.expiryDay;
        return expiryDay != 0 && block.timestamp >= BeijingTime.startOf(expiryDay);
    }

    function _merchantIdOfCard(uint64 cardId) internal pure returns (uint32) {
        return uint32(cardId >> 32);
    }

    function _activePlan(uint32 merchantId, uint32 planIndex) internal view returns (Plan memory plan) {
        plan = _plans[merchantId][planIndex];
        if (plan.kind == PlanKind.None) revert Custody_UnknownPlan(merchantId, planIndex);
        if (!plan.active) revert Custody_PlanInactive(merchantId, planIndex);
    }

    function _existingMerchant(uint32 merchantId) internal view returns (Merchant storage m) {
        m = _merchants[merchantId];
        if (m.status == MerchantStatus.None) revert Custody_UnknownMerchant(merchantId);
    }

    function _existingCard(uint64 cardId) internal view returns (StoredCard storage card) {
        card = _cards[cardId];
        if (card.status == CardStatus.None) revert Custody_UnknownCard(cardId);
    }

    function _merchantCaller(uint32 merchantId) internal view returns (Merchant storage m) {
        m = _existingMerchant(merchantId);
        if (msg.sender != m.account) revert Custody_NotMerchant(merchantId, msg.sender);
    }

    function _holderCard(uint64 cardId) internal view returns (StoredCard storage card) {
        card = _existingCard(cardId);
        if (msg.sender != card.holder) revert Custody_NotHolder(cardId, msg.sender);
    }

    function _regulatedMerchant(uint32 merchantId) internal view returns (Merchant storage m) {
        m = _existingMerchant(merchantId);
        if (!_regulates(m.industryId, msg.sender)) revert Custody_NotRegulatorOf(m.industryId, msg.sender);
    }

    function _regulates(uint16 industryId, address account) internal view returns (bool) {
        return REGISTRY.regulates(industryId, account);
    }

    /// @dev Consumption and periodic release need a merchant that is serving: not Frozen, not Exited, and not
    /// past the end of its exit notice.
    function _checkServing(uint32 merchantId, Merchant storage m) internal view {
        MerchantStatus status = m.status;
        if (status == MerchantStatus.Active || status == MerchantStatus.Restricted) return;
        if (status == MerchantStatus.WindingDown && block.timestamp < m.exitEffectiveAt) return;
        if (status == MerchantStatus.None) revert Custody_UnknownMerchant(merchantId);
        revert Custody_MerchantNotServing(merchantId, status);
    }

    /// @dev The policy's caps for a card holding `held` and `unitsLeft` that adds `plan`. Caps are literal ({NO_CAP_U16},
    /// {NO_CAP_FEN} cap nothing); a card's value and units also have to fit its stored fields.
    function _checkCaps(Policy memory policy, Plan memory plan, uint256 held, uint256 unitsLeft, bool named) internal pure {
        uint256 valueCap = named ? policy.maxCardValue : policy.maxAnonymousValue;
        uint256 value = held + plan.price;
        if (value > valueCap) revert Custody_CardValueCapExceeded(value, valueCap);
        if (value > type(uint32).max) revert Custody_CardValueCapExceeded(value, type(uint32).max);
        uint256 units = unitsLeft + plan.units;
        uint256 validityCap = policy.maxValidityDays;
        if (plan.kind == PlanKind.Lesson) {
            if (units > policy.maxLessons) revert Custody_LessonCapExceeded(units, policy.maxLessons);
            if (units > type(uint16).max) revert Custody_LessonCapExceeded(units, type(uint16).max);
            // Under a validity cap a lesson card must expire: "no expiry" would be longer than any cap.
            if (validityCap != NO_CAP_U16 && (plan.validityDays == 0 || plan.validityDays > validityCap)) {
                revert Custody_ValidityCapExceeded(plan.validityDays, validityCap);
            }
        } else {
            uint256 days_ = (units * plan.periodSeconds + 1 days - 1) / 1 days;
            if (days_ > validityCap) revert Custody_ValidityCapExceeded(days_, validityCap);
            if (units > type(uint16).max) revert Custody_LessonCapExceeded(units, type(uint16).max);
        }
    }

    /*//////////////////////////////////////////////////////////////////////////
                                 INTERNAL: WRITES
    //////////////////////////////////////////////////////////////////////////*/

    /// @dev Releases the periods due on a periodic card; false when nothing is due or it cannot release.
    function _releasePeriodic(uint64 cardId) internal returns (bool) {
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.Active || card.kind != PlanKind.Periodic) {
            revert Custody_CardNotActive(cardId, card.status);
        }
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchants[merchantId];
        _checkServing(merchantId, m);
        uint256 due = CustodyMath.periodsDue(
            card.startedAt,
            card.periodSeconds,
            card.unitsUsed,
            card.unitsLeft,
            block.timestamp
        );
        if (due == 0) return false;
        // Whoever releases the periods also hands over the direct share once its cooling-off is over.
        if (!_coolingOffOpen(card)) _settleDirect(cardId, merchantId, m);
        uint32 amount = uint32(CustodyMath.share(card.held, card.unitsLeft, due));
        card.held -= amount;
        card.unitsLeft -= uint16(due);
        card.unitsUsed += uint16(due);
        m.released += amount;
        emit PeriodsReleased(cardId, uint16(due), amount);
        return true;
    }

    /// @dev Gives everything a card holds back to its holder and closes it. Its direct share still in cooling-off
    /// goes back too when the merchant collapsed or left (a claim); otherwise it stays for the cooling-off's end.
    function _refundAll(
        uint64 cardId,
        uint32 merchantId,
        Merchant storage m,
        StoredCard storage card,
        RefundReason reason
    ) internal {
        uint48 amount = card.held;
        bool claim = reason == RefundReason.Frozen || reason == RefundReason.Exit || reason == RefundReason.Breach;
        // A claim also takes the card's share of released money its regulator decided to the holders.
        if (claim) amount += _holderPoolShare(cardId, merchantId, m, amount);
        card.held = 0;
        card.unitsLeft = 0;
        card.status = CardStatus.Refunded;
        m.refunded += amount;
        _payRefund(cardId, merchantId, m, card.holder, amount, reason);
        if (claim) {
            if (_coolingOffOpen(card)) _returnDirect(cardId, merchantId, m, card.holder);
            else _settleDirect(cardId, merchantId, m);
        }
    }

    /// @dev The card's share of the holders' pool of its merchant: the pool times what the card holds (custodied and
    /// direct share) over what all the merchant's cards hold. Each share leaves both the pool and that base, so the
    /// last card to claim takes exactly what is left: nothing is created or lost to rounding.
    function _holderPoolShare(
        uint64 cardId,
        uint32 merchantId,
        Merchant storage m,
        uint256 held
    ) internal returns (uint48 share) {
        uint256 pool = _holderPool[merchantId];
        if (pool == 0) return 0;
        uint256 weight = held + _pendingDirect[cardId];
        uint256 base = uint256(m.paidIn) - m.released - m.refunded - pool;
        if (weight == 0 || base == 0) return 0;
        share = uint48((pool * weight) / base);
        _holderPool[merchantId] = pool - share;
        emit FrozenPayableShared(cardId, merchantId, share);
    }

    /// @dev Emits {FilingThresholdReached} when a sale of `added` took the merchant's prepaid balance (its held money)
    /// from under the policy's filing threshold to at or above it: the first time, or again after falling under.
    function _checkFiling(uint32 merchantId, Merchant storage m, uint256 added, uint256 threshold) internal {
        uint256 balance = uint256(m.paidIn) - m.released - m.refunded;
        if (balance >= threshold && balance - added < threshold) {
            emit FilingThresholdReached(merchantId, uint64(balance), uint64(threshold));
        }
    }

    /// @dev Whether the card's last cooling-off has not ended yet.
    function _coolingOffOpen(StoredCard storage card) internal view returns (bool) {
        return block.timestamp < _expiresAt(card.coolingOffEndDay);
    }

    /// @dev The card's direct share, its cooling-off over, becomes the merchant's released money. Call only when the
    /// cooling-off has ended (or the card can no longer use it): it does not check.
    function _settleDirect(uint64 cardId, uint32 merchantId, Merchant storage m) internal {
        uint256 amount = _pendingDirect[cardId];
        if (amount == 0) return;
        delete _pendingDirect[cardId];
        m.released += uint64(amount);
        emit DirectShareReleased(cardId, merchantId, uint48(amount));
    }

    /// @dev The card's direct share still in cooling-off goes back to the holder.
    function _returnDirect(uint64 cardId, uint32 merchantId, Merchant storage m, address holder) internal {
        uint256 amount = _pendingDirect[cardId];
        if (amount == 0) return;
        delete _pendingDirect[cardId];
        m.refunded += uint64(amount);
        emit DirectShareReturned(cardId, merchantId, holder, uint48(amount));
        ICustodyToken(_banks[m.bankId].token).burnFromEscrow(amount);
    }

    /// @dev Emits the bank's payment instruction and burns the refunded tokens (money leaves custody).
    function _payRefund(
        uint64 cardId,
        uint32 merchantId,
        Merchant storage m,
        address holder,
        uint48 amount,
        RefundReason reason
    ) internal {
        emit CardRefunded(cardId, merchantId, holder, amount, reason);
        if (amount != 0) ICustodyToken(_banks[m.bankId].token).burnFromEscrow(amount);
    }

    function _setStatus(uint32 merchantId, Merchant storage m, MerchantStatus to, bytes32 reason) internal {
        MerchantStatus from = m.status;
        m.status = to;
        emit MerchantStatusChanged(merchantId, from, to, msg.sender, reason);
    }

    /// @dev The merchant may sell `amount` more: Active, not high risk, and at medium risk no more than the policy's
    /// cap sold in the 30 consecutive Beijing days ending today (renewals included). The window's total is kept as a
    /// running sum: moving it to today takes out the days that left it (at most 29 bucket reads, one per day passed).
    function _checkSelling(uint32 merchantId, Merchant storage m, Policy memory policy, uint48 amount) internal {
        if (m.status != MerchantStatus.Active) revert Custody_MerchantNotSelling(merchantId, m.status);
        RiskLevel risk = m.risk;
        if (risk == RiskLevel.High) revert Custody_HighRiskNoSales(merchantId);
        if (risk != RiskLevel.Medium) return;
        uint256 today = BeijingTime.dayOf(block.timestamp);
        uint256 last = m.windowDay;
        uint256 sold = m.windowSales;
        uint256[RING_SLOTS] storage ring = _salesRing[merchantId];
        if (today != last) {
            if (today - last >= WINDOW_DAYS) {
                sold = 0;
            } else {
                // The window ending `last` covered last - 29 .. last; the one ending today starts at today - 29.
                for (uint256 day = last + 1 - WINDOW_DAYS; day + WINDOW_DAYS <= today; ++day) {
                    sold -= _bucket(ring, day);
                }
            }
        }
        uint48 cap = policy.mediumRiskCap30d;
        if (sold + amount > cap) revert Custody_MediumRiskCapExceeded(merchantId, uint64(sold), amount, cap);
        _addToBucket(ring, today, amount);
        m.windowDay = uint40(today);
        m.windowSales = uint64(sold + amount);
    }

    /// @dev What was sold on `day`, if its bucket still holds that day.
    function _bucket(uint256[RING_SLOTS] storage ring, uint256 day) internal view returns (uint256) {
        uint256 entry = (ring[(day / 4) % RING_SLOTS] >> ((day % 4) * 64)) & type(uint64).max;
        return entry >> 48 == day ? entry & type(uint48).max : 0;
    }

    function _addToBucket(uint256[RING_SLOTS] storage ring, uint256 day, uint256 amount) internal {
        uint256 index = (day / 4) % RING_SLOTS;
        uint256 shift = (day % 4) * 64;
        uint256 word = ring[index];
        uint256 entry = (word >> shift) & type(uint64).max;
        uint256 sold = entry >> 48 == day ? (entry & type(uint48).max) + amount : amount;
        uint256 packed = (day.toUint16() * (uint256(1) << 48)) | uint256(sold.toUint48());
        ring[index] = (word & ~(uint256(type(uint64).max) << shift)) | (packed << shift);
    }

    /// @dev The Beijing day a card on `plan` bought at `from` may be used until (it expires as that day starts, at
    /// 24:00 of the day before; 0: no expiry). A lesson card's validity counts calendar days from the day after the
    /// purchase; a time-based card lasts until the end of the Beijing day its last period ends in.
    function _expiryDayOf(Plan memory plan, uint256 from) internal pure returns (uint16) {
        if (plan.kind == PlanKind.Periodic) {
            return BeijingTime.dayStartingAtOrAfter(from + uint256(plan.units) * plan.periodSeconds).toUint16();
        }
        if (plan.validityDays == 0) return 0;
        return BeijingTime.dayEndingPeriod(from, plan.validityDays).toUint16();
    }

    /// @dev When a card expiring as Beijing day `expiryDay` starts stops being usable (0: never).
    function _expiresAt(uint16 expiryDay) internal pure returns (uint40) {
        return expiryDay == 0 ? 0 : uint40(BeijingTime.startOf(expiryDay));
    }
}
