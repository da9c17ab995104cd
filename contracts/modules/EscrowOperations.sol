// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { EscrowStorage } from "../abstracts/EscrowStorage.sol";
import { ICustodyRegistry } from "../interfaces/ICustodyRegistry.sol";
import { ICustodyToken } from "../interfaces/ICustodyToken.sol";
import { IEscrowOperations } from "../interfaces/IEscrowOperations.sol";
import { BeijingTime } from "../libraries/BeijingTime.sol";
import { CustodyMath } from "../libraries/CustodyMath.sol";
import {
    Bank,
    CardStatus,
    KeyRecovery,
    Merchant,
    MerchantStatus,
    PayoutAccount,
    Plan,
    PlanKind,
    RiskLevel,
    StoredCard
} from "../types/DataTypes.sol";

// Time and balance bounds are stated as the rules state them ("at or after the deadline").
// solhint-disable gas-strict-inequalities

/// @title EscrowOperations
/// @notice The escrow's less frequent operations (see {IEscrowOperations}), run by {PrepaidEscrow} with DELEGATECALL on
/// the escrow's own storage, at the escrow's address: every event comes from the escrow, every token call is the
/// escrow's. Deployed by the escrow's constructor, one module per escrow.
/// @dev Every function refuses to run on the module's own address, whose storage is empty and unused.
contract EscrowOperations is EscrowStorage, IEscrowOperations {
    /// @dev The module's own address: a call that runs here directly, not through the escrow, is refused.
    address private immutable SELF;

    /*//////////////////////////////////////////////////////////////////////////
                                     CONSTRUCTOR
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice Deploys the module for an escrow that obeys `registry_`.
    /// @param registry_ The escrow's policy and role registry.
    constructor(ICustodyRegistry registry_) EscrowStorage(registry_) {
        SELF = address(this);
    }

    /*//////////////////////////////////////////////////////////////////////////
                             STATE-CHANGING: REGULATORS
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IEscrowOperations
    function addBank(address account, address token) external override returns (uint16 bankId) {
        _onlyDelegated();
        _onlyPlatformRegulator();
        if (account == address(0) || token == address(0)) revert Custody_ZeroAddress();
        address tokenBank = ICustodyToken(token).bank();
        address tokenEscrow = ICustodyToken(token).escrow();
        if (tokenBank != account || tokenEscrow != address(this)) {
            revert Custody_BankTokenMismatch(token, tokenBank, tokenEscrow);
        }
        bankId = ++_bankCount;
        _banks[bankId] = Bank({ account: account, token: token });
        emit BankAdded(bankId, account, token);
    }

    /// @inheritdoc IEscrowOperations
    function admitMerchant(
        address account,
        uint16 industryId,
        uint16 bankId,
        bytes32 registryRef
    ) external override returns (uint32 merchantId) {
        _onlyDelegated();
        if (!REGISTRY.industryOf(industryId).exists) revert Custody_UnknownIndustry(industryId);
        if (!_regulates(industryId, msg.sender)) revert Custody_NotRegulatorOf(industryId, msg.sender);
        if (account == address(0)) revert Custody_ZeroAddress();
        if (_banks[bankId].account == address(0)) revert Custody_UnknownBank(bankId);
        if (_merchantIdOf[account] != 0) revert Custody_AccountInUse(account);
        merchantId = ++_merchantCount;
        Merchant storage m = _merchants[merchantId];
        m.account = account;
        m.industryId = industryId;
        m.bankId = bankId;
        m.status = MerchantStatus.Active;
        _merchantIdOf[account] = merchantId;
        emit MerchantAdmitted(merchantId, account, industryId, bankId, registryRef);
    }

    /// @inheritdoc IEscrowOperations
    function freeze(uint32 merchantId, bytes32 reason) external override {
        _onlyDelegated();
        Merchant storage m = _regulatedMerchant(merchantId);
        if (m.status == MerchantStatus.Exited || m.status == MerchantStatus.Frozen) {
            revert Custody_InvalidStatusChange(merchantId, m.status, MerchantStatus.Frozen);
        }
        m.statusBeforeFreeze = m.status;
        _setStatus(merchantId, m, MerchantStatus.Frozen, reason);
    }

    /// @inheritdoc IEscrowOperations
    function unfreeze(uint32 merchantId, bytes32 reason) external override {
        _onlyDelegated();
        Merchant storage m = _regulatedMerchant(merchantId);
        if (m.status != MerchantStatus.Frozen) {
            revert Custody_InvalidStatusChange(merchantId, m.status, MerchantStatus.Active);
        }
        // Released money decided to the holders stays theirs: they claim it while the merchant is Frozen.
        if (_holderPool[merchantId] != 0) {
            revert Custody_InvalidStatusChange(merchantId, MerchantStatus.Frozen, m.statusBeforeFreeze);
        }
        // Back to where it was: a restriction or an exit under way survives a freeze.
        _setStatus(merchantId, m, m.statusBeforeFreeze, reason);
    }

    /// @inheritdoc IEscrowOperations
    function restrict(uint32 merchantId, bool restricted, bytes32 reason) external override {
        _onlyDelegated();
        Merchant storage m = _regulatedMerchant(merchantId);
        MerchantStatus from = restricted ? MerchantStatus.Active : MerchantStatus.Restricted;
        MerchantStatus to = restricted ? MerchantStatus.Restricted : MerchantStatus.Active;
        if (m.status != from) revert Custody_InvalidStatusChange(merchantId, m.status, to);
        _setStatus(merchantId, m, to, reason);
    }

    /// @inheritdoc IEscrowOperations
    function windDown(uint32 merchantId, bytes32 reason) external override {
        _onlyDelegated();
        Merchant storage m = _regulatedMerchant(merchantId);
        _startExit(merchantId, m, reason);
    }

    /// @inheritdoc IEscrowOperations
    function resolveDispute(uint64 cardId, uint48 refundAmount) external override {
        _onlyDelegated();
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _regulatedMerchant(merchantId);
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.Disputed) revert Custody_NotInDispute(cardId, card.status);
        uint48 held = uint48(card.held);
        if (refundAmount > held) revert Custody_RefundExceedsHeld(cardId, refundAmount, held);
        if (refundAmount == 0) {
            card.status = CardStatus.Active;
            emit DisputeResolved(cardId, 0, 0, msg.sender);
            return;
        }
        uint48 releasedAmount = held - refundAmount;
        // A frozen merchant's money goes back to consumers: nothing is released towards it, not even as payable.
        if (releasedAmount != 0 && m.status == MerchantStatus.Frozen) {
            revert Custody_ReleaseWhileFrozen(cardId, merchantId, releasedAmount);
        }
        card.held = 0;
        card.unitsLeft = 0;
        card.status = CardStatus.Refunded;
        m.released += releasedAmount;
        m.refunded += refundAmount;
        emit DisputeResolved(cardId, refundAmount, releasedAmount, msg.sender);
        _payRefund(cardId, merchantId, m, card.holder, refundAmount, RefundReason.Dispute);
    }

    /// @inheritdoc IEscrowOperations
    function recordBreach(uint32 merchantId, bytes32 reason) external override {
        _onlyDelegated();
        Merchant storage m = _regulatedMerchant(merchantId);
        if (m.breachRecordedAt != 0) revert Custody_BreachRecordUnchanged(merchantId, m.breachRecordedAt);
        m.breachRecordedAt = uint40(block.timestamp);
        emit BreachRecorded(merchantId, msg.sender, reason);
    }

    /// @inheritdoc IEscrowOperations
    function clearBreach(uint32 merchantId, bytes32 reason) external override {
        _onlyDelegated();
        Merchant storage m = _regulatedMerchant(merchantId);
        if (m.breachRecordedAt == 0) revert Custody_BreachRecordUnchanged(merchantId, 0);
        m.breachRecordedAt = 0;
        emit BreachCleared(merchantId, msg.sender, reason);
    }

    /// @inheritdoc IEscrowOperations
    function setRiskLevel(uint32 merchantId, RiskLevel level, bytes32 reason) external override {
        _onlyDelegated();
        if (!REGISTRY.isRiskOracle(msg.sender)) revert Custody_NotRiskOracle(msg.sender);
        Merchant storage m = _existingMerchant(merchantId);
        RiskLevel from = m.risk;
        m.risk = level;
        if (level == RiskLevel.Medium && from != RiskLevel.Medium) {
            // A new medium-risk period counts its own sales from today.
            m.windowDay = uint40(BeijingTime.dayOf(block.timestamp));
            m.windowSales = 0;
            delete _salesRing[merchantId];
        }
        emit RiskLevelSet(merchantId, from, level, reason);
    }

    /*//////////////////////////////////////////////////////////////////////////
                               STATE-CHANGING: MERCHANT
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IEscrowOperations
    function publishPlan(
        uint32 merchantId,
        PlanKind kind,
        uint16 units,
        uint32 periodSeconds,
        uint16 validityDays,
        uint48 price
    ) external override returns (uint32 planIndex) {
        _onlyDelegated();
        Merchant storage m = _merchantCaller(merchantId);
        if (m.status != MerchantStatus.Active && m.status != MerchantStatus.Restricted) {
            revert Custody_MerchantNotSelling(merchantId, m.status);
        }
        bool periodic = kind == PlanKind.Periodic;
        if (
            kind == PlanKind.None ||
            units == 0 ||
            price == 0 ||
            (periodic && periodSeconds == 0) ||
            (!periodic && periodSeconds != 0)
        ) {
            revert Custody_InvalidPlan(kind, units, periodSeconds, price);
        }
        Plan memory plan = Plan({
            kind: kind,
            active: true,
            units: units,
            periodSeconds: periodSeconds,
            validityDays: periodic ? 0 : validityDays,
            price: price
        });
        _checkCaps(REGISTRY.policyOf(m.industryId), plan, 0, 0, true);
        planIndex = ++m.planCount;
        _plans[merchantId][planIndex] = plan;
        emit PlanPublished(merchantId, planIndex, kind, units, periodSeconds, plan.validityDays, price);
    }

    /// @inheritdoc IEscrowOperations
    function setPlanActive(uint32 merchantId, uint32 planIndex, bool active) external override {
        _onlyDelegated();
        _merchantCaller(merchantId);
        Plan storage plan = _plans[merchantId][planIndex];
        if (plan.kind == PlanKind.None) revert Custody_UnknownPlan(merchantId, planIndex);
        plan.active = active;
        emit PlanActiveSet(merchantId, planIndex, active);
    }

    /// @inheritdoc IEscrowOperations
    function payOut(uint32 merchantId) external override returns (uint64 amount) {
        _onlyDelegated();
        Merchant storage m = _existingMerchant(merchantId);
        Bank storage bank = _banks[m.bankId];
        if (msg.sender != m.account && msg.sender != bank.account) revert Custody_NotMerchant(merchantId, msg.sender);
        if (m.status == MerchantStatus.Frozen) revert Custody_MerchantNotServing(merchantId, m.status);
        amount = m.released - m.paidOut;
        if (amount == 0) revert Custody_NothingToPayOut(merchantId);
        m.paidOut += amount;
        emit PaidOut(merchantId, m.bankId, amount, msg.sender);
        ICustodyToken(bank.token).burnFromEscrow(amount);
    }

    /// @inheritdoc IEscrowOperations
    function acceptRefund(uint64 cardId) external override {
        _onlyDelegated();
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchantCaller(merchantId);
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.RefundRequested) revert Custody_NoRefundRequest(cardId, card.status);
        _refundAll(cardId, merchantId, m, card, RefundReason.Accepted);
    }

    /// @inheritdoc IEscrowOperations
    function rejectRefund(uint64 cardId, bytes32 reason) external override {
        _onlyDelegated();
        uint32 merchantId = _merchantIdOfCard(cardId);
        _merchantCaller(merchantId);
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.RefundRequested) revert Custody_NoRefundRequest(cardId, card.status);
        card.status = CardStatus.Disputed;
        emit DisputeOpened(cardId, merchantId, msg.sender, reason);
    }

    /// @inheritdoc IEscrowOperations
    function announceExit(uint32 merchantId) external override {
        _onlyDelegated();
        Merchant storage m = _merchantCaller(merchantId);
        _startExit(merchantId, m, bytes32(0));
    }

    /// @inheritdoc IEscrowOperations
    function close(uint32 merchantId) external override {
        _onlyDelegated();
        Merchant storage m = _existingMerchant(merchantId);
        if (msg.sender != m.account && !_regulates(m.industryId, msg.sender)) {
            revert Custody_NotMerchant(merchantId, msg.sender);
        }
        if (!_claimable(m)) {
            if (m.status == MerchantStatus.WindingDown) revert Custody_ExitNoticeRunning(merchantId, m.exitEffectiveAt);
            revert Custody_InvalidStatusChange(merchantId, m.status, MerchantStatus.Exited);
        }
        (uint64 held, uint64 payable_) = _balancesOf(merchantId);
        // Payable money of a frozen merchant stays frozen with it; a wound-down merchant is paid first.
        if (held != 0 || payable_ != 0) revert Custody_MerchantStillHolds(merchantId, held, payable_);
        _setStatus(merchantId, m, MerchantStatus.Exited, bytes32(0));
    }

    /*//////////////////////////////////////////////////////////////////////////
                                STATE-CHANGING: HOLDER
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IEscrowOperations
    function refundCoolingOff(uint64 cardId) external override {
        _onlyDelegated();
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.Active) revert Custody_CardNotActive(cardId, card.status);
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchants[merchantId];
        // Periods under way were served: released first (nothing is due before the periods start). Only then: a
        // lesson card's refund costs the same gas whatever the time, so a gas estimate made a second early holds.
        if (card.kind == PlanKind.Periodic && block.timestamp > card.startedAt) _settlePeriods(cardId, card, m);
        // Until 24:00 Beijing time of the last cooling-off day, the day of the payment not counted.
        if (!_coolingOffOpen(card)) revert Custody_CoolingOffOver(cardId, _expiresAt(card.coolingOffEndDay));
        uint16 units = card.coolingOffUnits;
        uint16 unitsLeft = card.unitsLeft;
        // What the cooling-off covers are the card's last units: unused while the units not yet begun include them.
        if (_unitsNotBegun(card, unitsLeft) < units) revert Custody_CardAlreadyUsed(cardId, card.unitsUsed);
        card.coolingOffEndDay = 0;
        card.coolingOffUnits = 0;
        address holder = card.holder;
        uint48 held = uint48(card.held);
        uint48 amount;
        if (units == unitsLeft) {
            amount = held;
            card.held = 0;
            card.unitsLeft = 0;
            card.status = CardStatus.Refunded;
            emit CardRefunded(cardId, merchantId, holder, amount, RefundReason.CoolingOff);
        } else {
            // Renewals made in the cooling-off: their units at the card's average price, the rest goes on.
            amount = uint48(CustodyMath.share(held, unitsLeft, units));
            card.held = uint32(held - amount);
            card.unitsLeft = unitsLeft - units;
            emit RenewalRefunded(cardId, merchantId, holder, units, amount);
        }
        uint256 direct = _pendingDirect[cardId];
        if (direct != 0) {
            delete _pendingDirect[cardId];
            emit DirectShareReturned(cardId, merchantId, holder, uint48(direct));
        }
        uint256 total = amount + direct;
        m.refunded += uint64(total);
        // One burn for both shares: the bank pays the holder what the two events say.
        if (total != 0) ICustodyToken(_banks[m.bankId].token).burnFromEscrow(total);
    }

    /// @inheritdoc IEscrowOperations
    function transferCard(uint64 cardId, address to) external override {
        _onlyDelegated();
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.Active) revert Custody_CardNotActive(cardId, card.status);
        if (to == address(0) || to == msg.sender) revert Custody_InvalidTransfer(cardId, to);
        card.holder = to;
        emit CardTransferred(cardId, msg.sender, to);
        // The holder's own key is not lost: a recovery under way ends.
        KeyRecovery storage recovery = _keyRecoveries[cardId];
        if (recovery.effectiveAt != 0) {
            emit KeyRecoveryCancelled(cardId, recovery.newHolder, msg.sender);
            delete _keyRecoveries[cardId];
        }
    }

    /// @inheritdoc IEscrowOperations
    function releaseDirect(uint64[] calldata cardIds) external override {
        _onlyDelegated();
        for (uint256 i; i < cardIds.length; ++i) {
            uint64 cardId = cardIds[i];
            StoredCard storage card = _cards[cardId];
            if (card.status == CardStatus.None || _coolingOffOpen(card)) continue;
            uint32 merchantId = _merchantIdOfCard(cardId);
            _settleDirect(cardId, merchantId, _merchants[merchantId]);
        }
    }

    /// @inheritdoc IEscrowOperations
    function requestRefund(uint64 cardId) external override {
        _onlyDelegated();
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.Active || card.held == 0) revert Custody_CardNotActive(cardId, _statusOf(cardId));
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchants[merchantId];
        _settlePeriods(cardId, card, m);
        if (card.held == 0) revert Custody_CardNotActive(cardId, _statusOf(cardId));
        if (_expired(card)) {
            _refundAll(cardId, merchantId, m, card, RefundReason.Expired);
            return;
        }
        // Less than one lesson's share at the card's average price: nothing left to serve, paid at once.
        uint256 total = uint256(card.unitsUsed) + card.unitsLeft;
        if (uint256(card.held) * total < card.paidIn) {
            _refundAll(cardId, merchantId, m, card, RefundReason.SmallBalance);
            return;
        }
        card.status = CardStatus.RefundRequested;
        emit RefundRequested(cardId, card.holder, uint48(card.held));
    }

    /// @inheritdoc IEscrowOperations
    function cancelRefundRequest(uint64 cardId) external override {
        _onlyDelegated();
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.RefundRequested) revert Custody_NoRefundRequest(cardId, card.status);
        card.status = CardStatus.Active;
        emit RefundRequestCancelled(cardId);
    }

    /// @inheritdoc IEscrowOperations
    function escalateRefund(uint64 cardId) external override {
        _onlyDelegated();
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.RefundRequested) revert Custody_NoRefundRequest(cardId, card.status);
        card.status = CardStatus.Disputed;
        emit DisputeOpened(cardId, _merchantIdOfCard(cardId), msg.sender, bytes32(0));
    }

    /// @inheritdoc IEscrowOperations
    function claim(uint64 cardId) external override {
        _onlyDelegated();
        StoredCard storage card = _existingCard(cardId);
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchants[merchantId];
        if (!_claimable(m) || card.held == 0 || card.status == CardStatus.Refunded) {
            revert Custody_NotClaimable(cardId, m.status);
        }
        _refundAll(
            cardId,
            merchantId,
            m,
            card,
            m.status == MerchantStatus.Frozen ? RefundReason.Frozen : RefundReason.Exit
        );
    }

    /// @inheritdoc IEscrowOperations
    function cancelForBreach(uint64 cardId) external override {
        _onlyDelegated();
        StoredCard storage card = _holderCard(cardId);
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchants[merchantId];
        if (m.breachRecordedAt == 0) revert Custody_NoBreachRecorded(merchantId);
        CardStatus status = card.status;
        if (status == CardStatus.Refunded) revert Custody_CardNotActive(cardId, status);
        if (status == CardStatus.Active) _settlePeriods(cardId, card, m);
        if (card.held == 0) revert Custody_CardNotActive(cardId, _statusOf(cardId));
        _refundAll(cardId, merchantId, m, card, RefundReason.Breach);
    }

    /// @inheritdoc IEscrowOperations
    function claimBatch(uint64[] calldata cardIds) external override {
        _onlyDelegated();
        for (uint256 i; i < cardIds.length; ++i) {
            uint64 cardId = cardIds[i];
            StoredCard storage card = _cards[cardId];
            uint32 merchantId = _merchantIdOfCard(cardId);
            Merchant storage m = _merchants[merchantId];
            if (card.status == CardStatus.None || card.status == CardStatus.Refunded || card.held == 0) continue;
            if (!_claimable(m)) continue;
            _refundAll(
                cardId,
                merchantId,
                m,
                card,
                m.status == MerchantStatus.Frozen ? RefundReason.Frozen : RefundReason.Exit
            );
        }
    }

    /*//////////////////////////////////////////////////////////////////////////
                   STATE-CHANGING: LOST KEY, FROZEN PAYABLE, PAYOUT ACCOUNT
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IEscrowOperations
    function startKeyRecovery(uint64 cardId, address newHolder) external override {
        _onlyDelegated();
        StoredCard storage card = _existingCard(cardId);
        uint32 merchantId = _merchantIdOfCard(cardId);
        if (msg.sender != _banks[_merchants[merchantId].bankId].account) {
            revert Custody_NotCustodianOf(merchantId, msg.sender);
        }
        if (card.status == CardStatus.Refunded) revert Custody_CardNotActive(cardId, CardStatus.Refunded);
        address holder = card.holder;
        if (newHolder == address(0) || newHolder == holder) revert Custody_InvalidTransfer(cardId, newHolder);
        KeyRecovery storage recovery = _keyRecoveries[cardId];
        if (recovery.effectiveAt != 0) revert Custody_KeyRecoveryPending(cardId, recovery.effectiveAt);
        // Seven Beijing calendar days, to 24:00 of the last, the day of the request not counted: as long as the
        // cooling-off, so that a holder who still has the key sees the notice and can cancel it in time.
        uint40 effectiveAt = uint40(BeijingTime.endOfPeriod(block.timestamp, KEY_RECOVERY_DAYS));
        recovery.newHolder = newHolder;
        recovery.effectiveAt = effectiveAt;
        emit KeyRecoveryStarted(cardId, holder, newHolder, msg.sender, effectiveAt);
    }

    /// @inheritdoc IEscrowOperations
    function cancelKeyRecovery(uint64 cardId) external override {
        _onlyDelegated();
        StoredCard storage card = _cards[cardId];
        KeyRecovery storage recovery = _keyRecoveries[cardId];
        if (recovery.effectiveAt == 0) revert Custody_NoKeyRecovery(cardId);
        uint32 merchantId = _merchantIdOfCard(cardId);
        if (msg.sender != card.holder && msg.sender != _banks[_merchants[merchantId].bankId].account) {
            revert Custody_NotHolderOrCustodian(cardId, msg.sender);
        }
        emit KeyRecoveryCancelled(cardId, recovery.newHolder, msg.sender);
        delete _keyRecoveries[cardId];
    }

    /// @inheritdoc IEscrowOperations
    function completeKeyRecovery(uint64 cardId) external override {
        _onlyDelegated();
        KeyRecovery storage recovery = _keyRecoveries[cardId];
        uint40 effectiveAt = recovery.effectiveAt;
        if (effectiveAt == 0) revert Custody_NoKeyRecovery(cardId);
        if (block.timestamp < effectiveAt) revert Custody_KeyRecoveryWaiting(cardId, effectiveAt);
        StoredCard storage card = _cards[cardId];
        address from = card.holder;
        address to = recovery.newHolder;
        delete _keyRecoveries[cardId];
        card.holder = to;
        emit KeyRecoveryCompleted(cardId, from, to, msg.sender);
    }

    /// @inheritdoc IEscrowOperations
    function decideFrozenPayable(uint32 merchantId, bool toHolders, bytes32 reason) external override {
        _onlyDelegated();
        Merchant storage m = _regulatedMerchant(merchantId);
        if (m.status != MerchantStatus.Frozen) revert Custody_NotFrozen(merchantId, m.status);
        (uint64 held, uint64 amount) = _balancesOf(merchantId);
        uint256 pool = _holderPool[merchantId];
        if (toHolders) {
            if (amount == 0) revert Custody_NothingToPayOut(merchantId);
            if (held == pool) revert Custody_NoHoldersToShare(merchantId);
            // Released money becomes held again, for the holders: conservation holds as it is.
            m.released -= amount;
            _holderPool[merchantId] = pool + amount;
            emit FrozenPayableDecided(merchantId, true, amount, msg.sender, reason);
            return;
        }
        // To the merchant after review. What was decided to the holders and that no card is left to claim goes too.
        if (pool != 0 && held == pool) {
            delete _holderPool[merchantId];
            m.released += uint64(pool);
            amount += uint64(pool);
        }
        if (amount == 0) revert Custody_NothingToPayOut(merchantId);
        m.paidOut += amount;
        emit FrozenPayableDecided(merchantId, false, amount, msg.sender, reason);
        emit PaidOut(merchantId, m.bankId, amount, msg.sender);
        ICustodyToken(_banks[m.bankId].token).burnFromEscrow(amount);
    }

    /// @inheritdoc IEscrowOperations
    function proposePayoutAccount(uint32 merchantId, bytes32 account) external override {
        _onlyDelegated();
        _merchantCaller(merchantId);
        if (account == bytes32(0)) revert Custody_PayoutAccountNotProposed(merchantId, account, bytes32(0));
        _payoutAccounts[merchantId].proposed = account;
        emit PayoutAccountProposed(merchantId, account);
    }

    /// @inheritdoc IEscrowOperations
    function confirmPayoutAccount(uint32 merchantId, bytes32 account) external override {
        _onlyDelegated();
        _regulatedMerchant(merchantId);
        PayoutAccount storage accounts = _payoutAccounts[merchantId];
        bytes32 proposed = accounts.proposed;
        if (proposed == bytes32(0) || proposed != account) {
            revert Custody_PayoutAccountNotProposed(merchantId, account, proposed);
        }
        accounts.confirmed = account;
        accounts.proposed = bytes32(0);
        emit PayoutAccountConfirmed(merchantId, account, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////////////////
                                  INTERNAL FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    function _onlyDelegated() private view {
        if (address(this) == SELF) revert Custody_NotThroughEscrow();
    }

    /// @dev The periods already elapsed on a periodic card were served: they are released to a serving merchant
    /// before any of the card's money can go back to its holder.
    function _settlePeriods(uint64 cardId, StoredCard storage card, Merchant storage m) internal {
        if (card.kind != PlanKind.Periodic || _claimable(m) || m.status == MerchantStatus.Exited) return;
        _releasePeriodic(cardId);
    }

    function _startExit(uint32 merchantId, Merchant storage m, bytes32 reason) internal {
        if (m.status != MerchantStatus.Active && m.status != MerchantStatus.Restricted) {
            revert Custody_InvalidStatusChange(merchantId, m.status, MerchantStatus.WindingDown);
        }
        // The notice ends at 24:00 Beijing time of its last day, the day of the announcement not counted.
        uint40 effectiveAt = uint40(BeijingTime.endOfPeriod(block.timestamp, REGISTRY.policyOf(m.industryId).exitNoticeDays));
        m.exitEffectiveAt = effectiveAt;
        _setStatus(merchantId, m, MerchantStatus.WindingDown, reason);
        emit ExitAnnounced(merchantId, effectiveAt, msg.sender);
    }

    /// @dev Lessons or periods of the card not begun: lessons not confirmed, or periods not started yet (a period
    /// under way counts as begun).
    function _unitsNotBegun(StoredCard storage card, uint16 unitsLeft) private view returns (uint256) {
        if (card.kind != PlanKind.Periodic) return unitsLeft;
        uint256 startedAt = card.startedAt;
        uint256 total = uint256(card.unitsUsed) + unitsLeft;
        if (block.timestamp < startedAt) return total;
        uint256 begun = (block.timestamp - startedAt) / card.periodSeconds + 1;
        return begun >= total ? 0 : total - begun;
    }

    function _onlyPlatformRegulator() private view {
        if (!REGISTRY.isPlatformRegulator(msg.sender)) revert Custody_NotPlatformRegulator(msg.sender);
    }
}
