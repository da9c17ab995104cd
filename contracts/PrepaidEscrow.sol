// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { EIP712 } from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import { ECDSA } from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import { SafeCast } from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import { ICustodyRegistry } from "./interfaces/ICustodyRegistry.sol";
import { ICustodyToken } from "./interfaces/ICustodyToken.sol";
import { IPrepaidEscrow } from "./interfaces/IPrepaidEscrow.sol";
import { CustodyMath } from "./libraries/CustodyMath.sol";
import {
    Bank,
    Card,
    CardStatus,
    Merchant,
    MerchantStatus,
    Plan,
    PlanKind,
    Policy,
    RiskLevel,
    StoredCard,
    Voucher
} from "./types/DataTypes.sol";

// Time and balance bounds are stated as the rules state them ("at or after the deadline"); rewriting a >= b as
// a > b - 1 to save 3 gas would only make them harder to check against the rules.
// solhint-disable gas-strict-inequalities

/// @title PrepaidEscrow
/// @notice See {IPrepaidEscrow}.
/// @dev The deposit tokens are this project's own {CustodyToken}s, registered by the platform regulator after
/// checking that they name this escrow as their only minter; calls into them cannot re-enter with foreign code.
/// State is still written before every token call (checks, effects, interactions).
contract PrepaidEscrow is IPrepaidEscrow, EIP712 {
    using SafeCast for uint256;

    /*//////////////////////////////////////////////////////////////////////////
                                      CONSTANTS
    //////////////////////////////////////////////////////////////////////////*/

    // The type string is fixed by EIP-712 and hashed at compile time: it is never stored, whatever its length.
    // solhint-disable gas-small-strings
    /// @notice EIP-712 type of a consumption voucher.
    bytes32 public constant CONSUMPTION_TYPEHASH =
        keccak256("Consumption(uint64 cardId,uint16 lessons,uint16 sequence,uint40 deadline)");
    // solhint-enable gas-small-strings

    uint256 private constant WINDOW = 30 days;

    /*//////////////////////////////////////////////////////////////////////////
                                       STORAGE
    //////////////////////////////////////////////////////////////////////////*/

    // The name is the ABI getter IPrepaidEscrow.registry() the gateway and the tests call.
    // solhint-disable immutable-vars-naming
    /// @inheritdoc IPrepaidEscrow
    ICustodyRegistry public immutable override registry;
    // solhint-enable immutable-vars-naming

    mapping(uint16 bankId => Bank) internal _banks;
    mapping(uint32 merchantId => Merchant) internal _merchants;
    mapping(uint32 merchantId => mapping(uint32 planIndex => Plan)) internal _plans;
    mapping(uint64 cardId => StoredCard) internal _cards;
    /// @notice The merchant id of an account (0: none).
    mapping(address account => uint32 merchantId) public merchantIdOf;

    /// @notice Banks added so far; bank ids run from 1 to this.
    uint16 public bankCount;
    /// @notice Merchants admitted so far; merchant ids run from 1 to this.
    uint32 public merchantCount;

    /*//////////////////////////////////////////////////////////////////////////
                                     CONSTRUCTOR
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice Deploys the escrow against its policy and role registry.
    /// @param registry_ The policy and role registry.
    constructor(ICustodyRegistry registry_) EIP712("PrepaidCustody", "1") {
        if (address(registry_) == address(0)) revert Custody_ZeroAddress();
        registry = registry_;
    }

    /*//////////////////////////////////////////////////////////////////////////
                                  READ-ONLY FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice Custodian bank `bankId`.
    function bankOf(uint16 bankId) external view returns (Bank memory) {
        return _banks[bankId];
    }

    /// @notice Merchant `merchantId`.
    function merchantOf(uint32 merchantId) external view returns (Merchant memory) {
        return _merchants[merchantId];
    }

    /// @inheritdoc IPrepaidEscrow
    function planOf(uint32 merchantId, uint32 planIndex) external view override returns (Plan memory) {
        return _plans[merchantId][planIndex];
    }

    /// @notice Card `cardId` as stored (see {cardStatus} for its status).
    function cardOf(uint64 cardId) external view returns (Card memory c) {
        StoredCard storage s = _cards[cardId];
        (c.holder, c.held, c.unitsLeft, c.unitsUsed, c.expiryDay) = (s.holder, s.held, s.unitsLeft, s.unitsUsed, s.expiryDay);
        (c.status, c.kind, c.named, c.coolingOffDays, c.planIndex) = (s.status, s.kind, s.named, s.coolingOffDays, s.planIndex);
        (c.periodSeconds, c.startedAt, c.paidIn, c.direct) = (s.periodSeconds, s.startedAt, s.paidIn, s.direct);
    }

    /// @inheritdoc IPrepaidEscrow
    function cardStatus(uint64 cardId) public view override returns (CardStatus) {
        StoredCard storage card = _cards[cardId];
        CardStatus stored = card.status;
        if (stored == CardStatus.None || stored == CardStatus.Refunded) return stored;
        if (card.unitsLeft == 0 && card.held == 0) return CardStatus.Consumed;
        Merchant storage merchant = _merchants[_merchantIdOfCard(cardId)];
        if (_claimable(merchant)) return CardStatus.Claimable;
        if (stored == CardStatus.Active && _expired(card)) return CardStatus.Expired;
        return stored;
    }

    /// @inheritdoc IPrepaidEscrow
    function balancesOf(uint32 merchantId) public view override returns (uint64 held, uint64 payable_) {
        Merchant storage m = _merchants[merchantId];
        held = m.paidIn - m.released - m.refunded;
        payable_ = m.released - m.paidOut;
    }

    /// @inheritdoc IPrepaidEscrow
    function consumptionDigest(
        uint64 cardId,
        uint16 lessons,
        uint16 sequence,
        uint40 deadline
    ) public view override returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CONSUMPTION_TYPEHASH, cardId, lessons, sequence, deadline)));
    }

    // The name is EIP-2612's conventional getter, which wallets and tools look for.
    // solhint-disable func-name-mixedcase
    /// @notice The EIP-712 domain separator vouchers are bound to (chain id and this contract).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
    // solhint-enable func-name-mixedcase

    /*//////////////////////////////////////////////////////////////////////////
                             STATE-CHANGING: REGULATORS
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IPrepaidEscrow
    function addBank(address account, address token) external override returns (uint16 bankId) {
        _onlyPlatformRegulator();
        if (account == address(0) || token == address(0)) revert Custody_ZeroAddress();
        address tokenBank = ICustodyToken(token).bank();
        address tokenEscrow = ICustodyToken(token).escrow();
        if (tokenBank != account || tokenEscrow != address(this)) {
            revert Custody_BankTokenMismatch(token, tokenBank, tokenEscrow);
        }
        bankId = ++bankCount;
        _banks[bankId] = Bank({ account: account, token: token });
        emit BankAdded(bankId, account, token);
    }

    /// @inheritdoc IPrepaidEscrow
    function admitMerchant(
        address account,
        uint16 industryId,
        uint16 bankId,
        bytes32 registryRef
    ) external override returns (uint32 merchantId) {
        if (!registry.industryOf(industryId).exists) revert Custody_UnknownIndustry(industryId);
        if (!_regulates(industryId, msg.sender)) revert Custody_NotRegulatorOf(industryId, msg.sender);
        if (account == address(0)) revert Custody_ZeroAddress();
        if (_banks[bankId].account == address(0)) revert Custody_UnknownBank(bankId);
        if (merchantIdOf[account] != 0) revert Custody_AccountInUse(account);
        merchantId = ++merchantCount;
        Merchant storage m = _merchants[merchantId];
        m.account = account;
        m.industryId = industryId;
        m.bankId = bankId;
        m.status = MerchantStatus.Active;
        merchantIdOf[account] = merchantId;
        emit MerchantAdmitted(merchantId, account, industryId, bankId, registryRef);
    }

    /// @inheritdoc IPrepaidEscrow
    function freeze(uint32 merchantId, bytes32 reason) external override {
        Merchant storage m = _regulatedMerchant(merchantId);
        if (m.status == MerchantStatus.Exited || m.status == MerchantStatus.Frozen) {
            revert Custody_InvalidStatusChange(merchantId, m.status, MerchantStatus.Frozen);
        }
        m.statusBeforeFreeze = m.status;
        _setStatus(merchantId, m, MerchantStatus.Frozen, reason);
    }

    /// @inheritdoc IPrepaidEscrow
    function unfreeze(uint32 merchantId, bytes32 reason) external override {
        Merchant storage m = _regulatedMerchant(merchantId);
        if (m.status != MerchantStatus.Frozen) {
            revert Custody_InvalidStatusChange(merchantId, m.status, MerchantStatus.Active);
        }
        // Back to where it was: a restriction or an exit under way survives a freeze.
        _setStatus(merchantId, m, m.statusBeforeFreeze, reason);
    }

    /// @inheritdoc IPrepaidEscrow
    function restrict(uint32 merchantId, bool restricted, bytes32 reason) external override {
        Merchant storage m = _regulatedMerchant(merchantId);
        MerchantStatus from = restricted ? MerchantStatus.Active : MerchantStatus.Restricted;
        MerchantStatus to = restricted ? MerchantStatus.Restricted : MerchantStatus.Active;
        if (m.status != from) revert Custody_InvalidStatusChange(merchantId, m.status, to);
        _setStatus(merchantId, m, to, reason);
    }

    /// @inheritdoc IPrepaidEscrow
    function windDown(uint32 merchantId, bytes32 reason) external override {
        Merchant storage m = _regulatedMerchant(merchantId);
        _startExit(merchantId, m, reason);
    }

    /// @inheritdoc IPrepaidEscrow
    function resolveDispute(uint64 cardId, uint48 refundAmount) external override {
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

    /// @inheritdoc IPrepaidEscrow
    function setRiskLevel(uint32 merchantId, RiskLevel level, bytes32 reason) external override {
        if (!registry.isRiskOracle(msg.sender)) revert Custody_NotRiskOracle(msg.sender);
        Merchant storage m = _existingMerchant(merchantId);
        RiskLevel from = m.risk;
        m.risk = level;
        if (level == RiskLevel.Medium && from != RiskLevel.Medium) {
            m.windowStart = uint40(block.timestamp);
            m.windowSales = 0;
        }
        emit RiskLevelSet(merchantId, from, level, reason);
    }

    /*//////////////////////////////////////////////////////////////////////////
                            STATE-CHANGING: CUSTODIAN BANK
    //////////////////////////////////////////////////////////////////////////*/

    // A card's fields are written one per line, in slot order: splitting the function would only hide that.
    // solhint-disable function-max-lines
    /// @inheritdoc IPrepaidEscrow
    function purchase(
        uint32 merchantId,
        uint32 planIndex,
        address holder,
        bool named
    ) external override returns (uint64 cardId) {
        if (holder == address(0)) revert Custody_ZeroAddress();
        Merchant storage m = _existingMerchant(merchantId);
        Bank storage bank = _banks[m.bankId];
        if (msg.sender != bank.account) revert Custody_NotCustodianOf(merchantId, msg.sender);
        Plan memory plan = _activePlan(merchantId, planIndex);
        Policy memory policy = registry.policyOf(m.industryId);
        _checkSelling(merchantId, m, policy, plan.price);
        _checkCaps(policy, plan, 0, 0, named);

        (uint256 custodied, uint256 direct) = CustodyMath.split(plan.price, policy.custodyBps);
        uint40 startedAt = uint40(block.timestamp);
        uint40 expiresAt = _expiryOf(plan, block.timestamp);

        uint32 serial = ++m.cardCount;
        cardId = (uint64(merchantId) << 32) | serial;
        StoredCard storage card = _cards[cardId];
        card.holder = holder;
        card.held = uint32(custodied);
        card.unitsLeft = plan.units;
        card.expiryDay = _dayCeil(expiresAt);
        card.status = CardStatus.Active;
        card.kind = plan.kind;
        card.planIndex = planIndex;
        card.startedAt = startedAt;
        card.paidIn = uint48(custodied);
        card.direct = uint48(direct);
        card.coolingOffDays = policy.coolingOffDays;
        card.periodSeconds = plan.periodSeconds;
        card.named = named;
        m.paidIn += uint64(custodied);

        emit CardPurchased(
            cardId,
            merchantId,
            holder,
            planIndex,
            plan.kind,
            plan.units,
            plan.price,
            uint48(custodied),
            uint48(direct),
            startedAt,
            expiresAt,
            named
        );
        if (custodied > 0) ICustodyToken(bank.token).mint(address(this), custodied);
    }
    // solhint-enable function-max-lines

    /// @inheritdoc IPrepaidEscrow
    function renew(uint64 cardId, uint32 planIndex) external override {
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _existingMerchant(merchantId);
        Bank storage bank = _banks[m.bankId];
        if (msg.sender != bank.account) revert Custody_NotCustodianOf(merchantId, msg.sender);
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.Active) revert Custody_CardNotActive(cardId, card.status);
        if (_expired(card)) revert Custody_CardExpired(cardId, uint256(card.expiryDay) * 1 days);
        Plan memory plan = _activePlan(merchantId, planIndex);
        if (plan.kind != card.kind || (plan.kind == PlanKind.Periodic && plan.periodSeconds != card.periodSeconds)) {
            revert Custody_PlanKindMismatch(cardId, card.kind, plan.kind);
        }
        Policy memory policy = registry.policyOf(m.industryId);
        _checkSelling(merchantId, m, policy, plan.price);
        // The value caps bound a card's face value: scale its custodied balance back up by its custody ratio.
        uint256 paidIn = card.paidIn;
        uint256 faceLeft = paidIn == 0 ? 0 : (uint256(card.held) * (paidIn + card.direct) + paidIn - 1) / paidIn;
        _checkCaps(policy, plan, faceLeft, card.unitsLeft, card.named);

        (uint256 custodied, uint256 direct) = CustodyMath.split(plan.price, policy.custodyBps);
        uint40 expiresAt;
        if (plan.kind == PlanKind.Periodic) {
            uint256 total = uint256(card.unitsUsed) + card.unitsLeft + plan.units;
            expiresAt = uint40(card.startedAt + total * card.periodSeconds);
        } else {
            expiresAt = _expiryOf(plan, block.timestamp);
            uint256 current = uint256(card.expiryDay) * 1 days;
            if (expiresAt != 0 && current > expiresAt) expiresAt = uint40(current);
        }
        card.held = (card.held + custodied).toUint32();
        card.unitsLeft += plan.units;
        card.expiryDay = _dayCeil(expiresAt);
        card.paidIn += uint48(custodied);
        card.direct += uint48(direct);
        m.paidIn += uint64(custodied);

        emit CardRenewed(
            cardId,
            merchantId,
            card.holder,
            planIndex,
            plan.units,
            plan.price,
            uint48(custodied),
            uint48(direct),
            expiresAt
        );
        if (custodied > 0) ICustodyToken(bank.token).mint(address(this), custodied);
    }

    /*//////////////////////////////////////////////////////////////////////////
                               STATE-CHANGING: MERCHANT
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IPrepaidEscrow
    function publishPlan(
        uint32 merchantId,
        PlanKind kind,
        uint16 units,
        uint32 periodSeconds,
        uint16 validityDays,
        uint48 price
    ) external override returns (uint32 planIndex) {
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
        _checkCaps(registry.policyOf(m.industryId), plan, 0, 0, true);
        planIndex = ++m.planCount;
        _plans[merchantId][planIndex] = plan;
        emit PlanPublished(merchantId, planIndex, kind, units, periodSeconds, plan.validityDays, price);
    }

    /// @inheritdoc IPrepaidEscrow
    function setPlanActive(uint32 merchantId, uint32 planIndex, bool active) external override {
        _merchantCaller(merchantId);
        Plan storage plan = _plans[merchantId][planIndex];
        if (plan.kind == PlanKind.None) revert Custody_UnknownPlan(merchantId, planIndex);
        plan.active = active;
        emit PlanActiveSet(merchantId, planIndex, active);
    }

    /// @inheritdoc IPrepaidEscrow
    function consume(Voucher calldata voucher) external override {
        uint32 merchantId = _merchantIdOfCard(voucher.cardId);
        Merchant storage m = _merchants[merchantId];
        _checkServing(merchantId, m);
        if (msg.sender != m.account) revert Custody_NotMerchant(merchantId, msg.sender);
        m.released += _consume(voucher);
    }

    /// @inheritdoc IPrepaidEscrow
    function consumeBatch(Voucher[] calldata vouchers) external override {
        // Consecutive vouchers of one merchant share one status check and one ledger write.
        uint32 current;
        uint256 releasedSum;
        Merchant storage m = _merchants[0];
        uint256 count = vouchers.length;
        for (uint256 i; i < count; ) {
            Voucher calldata voucher = vouchers[i];
            uint32 merchantId = _merchantIdOfCard(voucher.cardId);
            if (merchantId != current) {
                if (releasedSum != 0) m.released += releasedSum.toUint64();
                releasedSum = 0;
                current = merchantId;
                m = _merchants[merchantId];
                _checkServing(merchantId, m);
                if (msg.sender != m.account) revert Custody_NotMerchant(merchantId, msg.sender);
            }
            unchecked {
                // Each voucher releases at most its card's uint32 balance: the sum cannot overflow.
                releasedSum += _consume(voucher);
                ++i;
            }
        }
        if (releasedSum != 0) m.released += releasedSum.toUint64();
    }

    /// @inheritdoc IPrepaidEscrow
    function releasePeriodic(uint64 cardId) external override {
        if (!_releasePeriodic(cardId)) revert Custody_NothingToRelease(cardId);
    }

    /// @inheritdoc IPrepaidEscrow
    function releasePeriodicBatch(uint64[] calldata cardIds) external override {
        for (uint256 i; i < cardIds.length; ++i) {
            _releasePeriodic(cardIds[i]);
        }
    }

    /// @inheritdoc IPrepaidEscrow
    function payOut(uint32 merchantId) external override returns (uint64 amount) {
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

    /// @inheritdoc IPrepaidEscrow
    function acceptRefund(uint64 cardId) external override {
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchantCaller(merchantId);
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.RefundRequested) revert Custody_NoRefundRequest(cardId, card.status);
        _refundAll(cardId, merchantId, m, card, RefundReason.Accepted);
    }

    /// @inheritdoc IPrepaidEscrow
    function rejectRefund(uint64 cardId, bytes32 reason) external override {
        uint32 merchantId = _merchantIdOfCard(cardId);
        _merchantCaller(merchantId);
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.RefundRequested) revert Custody_NoRefundRequest(cardId, card.status);
        card.status = CardStatus.Disputed;
        emit DisputeOpened(cardId, merchantId, msg.sender, reason);
    }

    /// @inheritdoc IPrepaidEscrow
    function announceExit(uint32 merchantId) external override {
        Merchant storage m = _merchantCaller(merchantId);
        _startExit(merchantId, m, bytes32(0));
    }

    /// @inheritdoc IPrepaidEscrow
    function close(uint32 merchantId) external override {
        Merchant storage m = _existingMerchant(merchantId);
        if (msg.sender != m.account && !_regulates(m.industryId, msg.sender)) {
            revert Custody_NotMerchant(merchantId, msg.sender);
        }
        if (!_claimable(m)) {
            if (m.status == MerchantStatus.WindingDown) revert Custody_ExitNoticeRunning(merchantId, m.exitEffectiveAt);
            revert Custody_InvalidStatusChange(merchantId, m.status, MerchantStatus.Exited);
        }
        (uint64 held, uint64 payable_) = balancesOf(merchantId);
        // Payable money of a frozen merchant stays frozen with it; a wound-down merchant is paid first.
        if (held != 0 || payable_ != 0) revert Custody_MerchantStillHolds(merchantId, held, payable_);
        _setStatus(merchantId, m, MerchantStatus.Exited, bytes32(0));
    }

    /*//////////////////////////////////////////////////////////////////////////
                                STATE-CHANGING: HOLDER
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IPrepaidEscrow
    function refundCoolingOff(uint64 cardId) external override {
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.Active) revert Custody_CardNotActive(cardId, card.status);
        uint32 merchantId = _merchantIdOfCard(cardId);
        _settlePeriods(cardId, card, _merchants[merchantId]);
        if (card.unitsUsed != 0) revert Custody_CardAlreadyUsed(cardId, card.unitsUsed);
        uint256 endsAt = uint256(card.startedAt) + uint256(card.coolingOffDays) * 1 days;
        if (block.timestamp >= endsAt) revert Custody_CoolingOffOver(cardId, endsAt);
        _refundAll(cardId, merchantId, _merchants[merchantId], card, RefundReason.CoolingOff);
    }

    /// @inheritdoc IPrepaidEscrow
    function requestRefund(uint64 cardId) external override {
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.Active || card.held == 0) revert Custody_CardNotActive(cardId, cardStatus(cardId));
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchants[merchantId];
        _settlePeriods(cardId, card, m);
        if (card.held == 0) revert Custody_CardNotActive(cardId, cardStatus(cardId));
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

    /// @inheritdoc IPrepaidEscrow
    function cancelRefundRequest(uint64 cardId) external override {
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.RefundRequested) revert Custody_NoRefundRequest(cardId, card.status);
        card.status = CardStatus.Active;
        emit RefundRequestCancelled(cardId);
    }

    /// @inheritdoc IPrepaidEscrow
    function escalateRefund(uint64 cardId) external override {
        StoredCard storage card = _holderCard(cardId);
        if (card.status != CardStatus.RefundRequested) revert Custody_NoRefundRequest(cardId, card.status);
        card.status = CardStatus.Disputed;
        emit DisputeOpened(cardId, _merchantIdOfCard(cardId), msg.sender, bytes32(0));
    }

    /// @inheritdoc IPrepaidEscrow
    function claim(uint64 cardId) external override {
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

    /// @inheritdoc IPrepaidEscrow
    function claimBatch(uint64[] calldata cardIds) external override {
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
                                  INTERNAL FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    // The hot path of consumeBatch, kept in one piece so each voucher costs one card-slot read and one write.
    // solhint-disable function-max-lines
    /// @dev Checks one voucher against its card and applies it; returns the money released.
    /// The merchant's status was checked by the caller.
    function _consume(Voucher calldata voucher) internal returns (uint64) {
        uint64 cardId = voucher.cardId;
        StoredCard storage card = _cards[cardId];
        // Slot 0 holds everything checked and written here: one cold read, one write.
        address holder = card.holder;
        uint32 held = card.held;
        uint16 unitsLeft = card.unitsLeft;
        uint16 unitsUsed = card.unitsUsed;
        uint16 expiryDay = card.expiryDay;
        CardStatus status = card.status;
        if (status != CardStatus.Active || card.kind != PlanKind.Lesson) {
            if (status == CardStatus.None) revert Custody_UnknownCard(cardId);
            revert Custody_CardNotActive(cardId, status);
        }
        if (expiryDay != 0 && block.timestamp >= uint256(expiryDay) * 1 days) {
            revert Custody_CardExpired(cardId, uint256(expiryDay) * 1 days);
        }
        // Each calldata field is read (and validated) once.
        uint16 lessons = voucher.lessons;
        uint16 sequence = voucher.sequence;
        uint40 deadline = voucher.deadline;
        if (lessons == 0) revert Custody_ZeroLessons(cardId);
        if (block.timestamp > deadline) revert Custody_VoucherExpired(cardId, deadline, block.timestamp);
        if (sequence != unitsUsed) revert Custody_VoucherSequenceMismatch(cardId, unitsUsed, sequence);
        if (lessons > unitsLeft) revert Custody_InsufficientLessons(cardId, lessons, unitsLeft);

        // keccak256(abi.encode(CONSUMPTION_TYPEHASH, cardId, lessons, sequence, deadline)), hashed in scratch memory
        // past the free memory pointer so that a batch does not grow memory by a struct per voucher.
        bytes32 typeHash = CONSUMPTION_TYPEHASH;
        bytes32 structHash;
        // Hashing in scratch memory and packing three fields into one SSTORE keep consumeBatch under its gas target.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            // Masked: inline assembly may not assume the unused high bits of a short local are zero.
            mstore(add(ptr, 0x20), and(cardId, 0xffffffffffffffff))
            mstore(add(ptr, 0x40), and(lessons, 0xffff))
            mstore(add(ptr, 0x60), and(sequence, 0xffff))
            mstore(add(ptr, 0x80), and(deadline, 0xffffffffff))
            structHash := keccak256(ptr, 0xa0)
        }
        bytes32 digest = _hashTypedDataV4(structHash);
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, voucher.v, voucher.r, voucher.s);
        if (err != ECDSA.RecoverError.NoError || signer != holder) {
            revert Custody_InvalidSigner(cardId, signer, holder);
        }

        uint32 amount = uint32(CustodyMath.share(held, unitsLeft, lessons));
        uint16 usedAfter = unitsUsed + lessons; // checked: the voucher sequence never wraps around
        unchecked {
            // held, unitsLeft and unitsUsed are bits 160-223 of slot 0 (see {StoredCard}): one store, not three.
            uint256 fields = (uint256(held - amount) << 160) |
                (uint256(unitsLeft - lessons) << 192) |
                (uint256(usedAfter) << 208);
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                let slot := card.slot
                sstore(slot, or(and(sload(slot), not(shl(160, 0xffffffffffffffff))), fields))
            }
        }
        emit LessonsConsumed(cardId, lessons, amount, unitsUsed);
        return amount;
    }
    // solhint-enable function-max-lines

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
        uint32 amount = uint32(CustodyMath.share(card.held, card.unitsLeft, due));
        card.held -= amount;
        card.unitsLeft -= uint16(due);
        card.unitsUsed += uint16(due);
        m.released += amount;
        emit PeriodsReleased(cardId, uint16(due), amount);
        return true;
    }

    /// @dev The periods already elapsed on a periodic card were served: they are released to a serving merchant
    /// before any of the card's money can go back to its holder.
    function _settlePeriods(uint64 cardId, StoredCard storage card, Merchant storage m) internal {
        if (card.kind != PlanKind.Periodic || _claimable(m) || m.status == MerchantStatus.Exited) return;
        _releasePeriodic(cardId);
    }

    /// @dev Gives everything a card holds back to its holder and closes it.
    function _refundAll(
        uint64 cardId,
        uint32 merchantId,
        Merchant storage m,
        StoredCard storage card,
        RefundReason reason
    ) internal {
        uint48 amount = card.held;
        card.held = 0;
        card.unitsLeft = 0;
        card.status = CardStatus.Refunded;
        m.refunded += amount;
        _payRefund(cardId, merchantId, m, card.holder, amount, reason);
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

    function _startExit(uint32 merchantId, Merchant storage m, bytes32 reason) internal {
        if (m.status != MerchantStatus.Active && m.status != MerchantStatus.Restricted) {
            revert Custody_InvalidStatusChange(merchantId, m.status, MerchantStatus.WindingDown);
        }
        uint40 effectiveAt = uint40(block.timestamp + uint256(registry.policyOf(m.industryId).exitNoticeDays) * 1 days);
        m.exitEffectiveAt = effectiveAt;
        _setStatus(merchantId, m, MerchantStatus.WindingDown, reason);
        emit ExitAnnounced(merchantId, effectiveAt, msg.sender);
    }

    function _setStatus(uint32 merchantId, Merchant storage m, MerchantStatus to, bytes32 reason) internal {
        MerchantStatus from = m.status;
        m.status = to;
        emit MerchantStatusChanged(merchantId, from, to, msg.sender, reason);
    }

    /// @dev The merchant may sell `amount` more: Active, not high risk, inside the medium-risk window cap.
    function _checkSelling(uint32 merchantId, Merchant storage m, Policy memory policy, uint48 amount) internal {
        if (m.status != MerchantStatus.Active) revert Custody_MerchantNotSelling(merchantId, m.status);
        RiskLevel risk = m.risk;
        if (risk == RiskLevel.High) revert Custody_HighRiskNoSales(merchantId);
        if (risk == RiskLevel.Medium) {
            uint64 sold = m.windowSales;
            if (block.timestamp >= uint256(m.windowStart) + WINDOW) {
                m.windowStart = uint40(block.timestamp);
                sold = 0;
            }
            uint48 cap = policy.mediumRiskCap30d;
            // A zero cap means no cap, as for every cap of a {Policy}.
            if (cap != 0 && uint256(sold) + amount > cap) {
                revert Custody_MediumRiskCapExceeded(merchantId, sold, amount, cap);
            }
            m.windowSales = sold + amount;
        }
    }

    /// @dev The policy's caps for a card holding `held` and `unitsLeft` that adds `plan`.
    function _checkCaps(Policy memory policy, Plan memory plan, uint256 held, uint256 unitsLeft, bool named) internal pure {
        uint256 valueCap = named ? policy.maxCardValue : policy.maxAnonymousValue;
        uint256 value = held + plan.price;
        if (valueCap != 0 && value > valueCap) revert Custody_CardValueCapExceeded(value, valueCap);
        if (value > type(uint32).max) revert Custody_CardValueCapExceeded(value, type(uint32).max);
        if (plan.kind == PlanKind.Lesson) {
            uint256 lessons = unitsLeft + plan.units;
            if (policy.maxLessons != 0 && lessons > policy.maxLessons) {
                revert Custody_LessonCapExceeded(lessons, policy.maxLessons);
            }
            if (lessons > type(uint16).max) revert Custody_LessonCapExceeded(lessons, type(uint16).max);
            if (policy.maxValidityDays != 0 && (plan.validityDays == 0 || plan.validityDays > policy.maxValidityDays)) {
                revert Custody_ValidityCapExceeded(plan.validityDays, policy.maxValidityDays);
            }
        } else {
            uint256 days_ = ((unitsLeft + plan.units) * plan.periodSeconds + 1 days - 1) / 1 days;
            if (policy.maxValidityDays != 0 && days_ > policy.maxValidityDays) {
                revert Custody_ValidityCapExceeded(days_, policy.maxValidityDays);
            }
            if (uint256(unitsLeft) + plan.units > type(uint16).max) {
                revert Custody_LessonCapExceeded(uint256(unitsLeft) + plan.units, type(uint16).max);
            }
        }
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

    function _claimable(Merchant storage m) internal view returns (bool) {
        MerchantStatus status = m.status;
        return
            status == MerchantStatus.Frozen ||
            (status == MerchantStatus.WindingDown && block.timestamp >= m.exitEffectiveAt);
    }

    function _expired(StoredCard storage card) internal view returns (bool) {
        uint16 expiryDay = card.expiryDay;
        return expiryDay != 0 && block.timestamp >= uint256(expiryDay) * 1 days;
    }

    function _expiryOf(Plan memory plan, uint256 from) internal pure returns (uint40) {
        if (plan.kind == PlanKind.Periodic) return uint40(from + uint256(plan.units) * plan.periodSeconds);
        if (plan.validityDays == 0) return 0;
        return uint40(from + uint256(plan.validityDays) * 1 days);
    }

    /// @dev Cards expire at the end of a UTC day (stored as a day number so a card's hot data fits one slot).
    function _dayCeil(uint40 timestamp) internal pure returns (uint16) {
        if (timestamp == 0) return 0;
        return uint256((uint256(timestamp) + 1 days - 1) / 1 days).toUint16();
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
        return registry.regulates(industryId, account);
    }

    function _onlyPlatformRegulator() internal view {
        if (!registry.isPlatformRegulator(msg.sender)) revert Custody_NotPlatformRegulator(msg.sender);
    }
}
