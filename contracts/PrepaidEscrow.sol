// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { EIP712 } from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import { ECDSA } from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import { SafeCast } from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import { EscrowStorage } from "./abstracts/EscrowStorage.sol";
import { ICustodyRegistry } from "./interfaces/ICustodyRegistry.sol";
import { ICustodyToken } from "./interfaces/ICustodyToken.sol";
import { IEscrowOperations } from "./interfaces/IEscrowOperations.sol";
import { IPrepaidEscrow } from "./interfaces/IPrepaidEscrow.sol";
import { BeijingTime } from "./libraries/BeijingTime.sol";
import { CustodyMath } from "./libraries/CustodyMath.sol";
import { EscrowOperations } from "./modules/EscrowOperations.sol";
import {
    Bank,
    Card,
    CardStatus,
    KeyRecovery,
    Merchant,
    PayoutAccount,
    Plan,
    PlanKind,
    Policy,
    RiskLevel,
    StoredCard,
    Voucher,
    CARD_HELD_SHIFT,
    CARD_UNITS_LEFT_SHIFT,
    CARD_UNITS_USED_SHIFT
} from "./types/DataTypes.sol";

// Time and balance bounds are stated as the rules state them ("at or after the deadline"); rewriting a >= b as
// a > b - 1 to save 3 gas would only make them harder to check against the rules.
// solhint-disable gas-strict-inequalities

/// @title PrepaidEscrow
/// @notice See {IPrepaidEscrow}.
/// @dev The hot paths (sales, consumption, periodic release) and every read run here; the other operations
/// ({IEscrowOperations}) are forwarded with DELEGATECALL to the {EscrowOperations} module this constructor deploys,
/// which runs them on this contract's storage ({EscrowStorage}, inherited first by both). So the escrow has one
/// address and one ABI for users, banks and the gateway, and each contract keeps its code well under the limit.
/// The deposit tokens are this project's own {CustodyToken}s, registered by the platform regulator after checking
/// that they name this escrow as their only minter; calls into them cannot re-enter with foreign code. State is
/// still written before every token call (checks, effects, interactions).
contract PrepaidEscrow is EscrowStorage, IPrepaidEscrow, EIP712 {
    using SafeCast for uint256;

    /*//////////////////////////////////////////////////////////////////////////
                                      CONSTANTS
    //////////////////////////////////////////////////////////////////////////*/

    // The type string is fixed by EIP-712 and hashed at compile time: it is never stored, whatever its length.
    // solhint-disable gas-small-strings
    /// @inheritdoc IPrepaidEscrow
    bytes32 public constant override CONSUMPTION_TYPEHASH =
        keccak256(
            "Consumption(uint32 merchantId,uint64 cardId,uint16 lessons,uint64 amount,uint16 sequence,uint40 deadline)"
        );
    /// @inheritdoc IPrepaidEscrow
    bytes32 public constant override CHECK_IN_TYPEHASH = keccak256("CheckIn(uint64 cardId,uint40 deadline)");
    // solhint-enable gas-small-strings

    /// @notice The {EscrowOperations} module the less frequent operations are delegated to.
    address internal immutable OPERATIONS;

    /*//////////////////////////////////////////////////////////////////////////
                                     CONSTRUCTOR
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice Deploys the escrow, and its operations module, against its policy and role registry.
    /// @param registry_ The policy and role registry.
    constructor(ICustodyRegistry registry_) EscrowStorage(registry_) EIP712("PrepaidCustody", "1") {
        OPERATIONS = address(new EscrowOperations(registry_));
    }

    /*//////////////////////////////////////////////////////////////////////////
                                  READ-ONLY FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IPrepaidEscrow
    function registry() external view override returns (ICustodyRegistry) {
        return REGISTRY;
    }

    /// @inheritdoc IPrepaidEscrow
    function operations() external view override returns (address) {
        return OPERATIONS;
    }

    /// @inheritdoc IPrepaidEscrow
    function bankCount() external view override returns (uint16) {
        return _bankCount;
    }

    /// @inheritdoc IPrepaidEscrow
    function merchantCount() external view override returns (uint32) {
        return _merchantCount;
    }

    /// @inheritdoc IPrepaidEscrow
    function merchantIdOf(address account) external view override returns (uint32) {
        return _merchantIdOf[account];
    }

    /// @inheritdoc IPrepaidEscrow
    function bankOf(uint16 bankId) external view override returns (Bank memory) {
        return _banks[bankId];
    }

    /// @inheritdoc IPrepaidEscrow
    function merchantOf(uint32 merchantId) external view override returns (Merchant memory) {
        return _merchants[merchantId];
    }

    /// @inheritdoc IPrepaidEscrow
    function planOf(uint32 merchantId, uint32 planIndex) external view override returns (Plan memory) {
        return _plans[merchantId][planIndex];
    }

    /// @inheritdoc IPrepaidEscrow
    function cardOf(uint64 cardId) external view override returns (Card memory c) {
        StoredCard storage s = _cards[cardId];
        (c.holder, c.held, c.unitsLeft, c.unitsUsed, c.expiryDay) = (s.holder, s.held, s.unitsLeft, s.unitsUsed, s.expiryDay);
        (c.status, c.kind, c.named, c.coolingOffDays, c.planIndex) = (s.status, s.kind, s.named, s.coolingOffDays, s.planIndex);
        (c.periodSeconds, c.startedAt, c.paidIn, c.direct) = (s.periodSeconds, s.startedAt, s.paidIn, s.direct);
        (c.coolingOffEndDay, c.coolingOffUnits) = (s.coolingOffEndDay, s.coolingOffUnits);
        c.pendingDirect = uint48(_pendingDirect[cardId]);
    }

    /// @inheritdoc IPrepaidEscrow
    function cardStatus(uint64 cardId) external view override returns (CardStatus) {
        return _statusOf(cardId);
    }

    /// @inheritdoc IPrepaidEscrow
    function balancesOf(uint32 merchantId) external view override returns (uint64 held, uint64 payable_) {
        return _balancesOf(merchantId);
    }

    /// @inheritdoc IPrepaidEscrow
    function consumptionDigest(
        uint64 cardId,
        uint16 lessons,
        uint64 amount,
        uint16 sequence,
        uint40 deadline
    ) external view override returns (bytes32) {
        uint32 merchantId = _merchantIdOfCard(cardId);
        return
            _hashTypedDataV4(
                keccak256(abi.encode(CONSUMPTION_TYPEHASH, merchantId, cardId, lessons, amount, sequence, deadline))
            );
    }

    /// @inheritdoc IPrepaidEscrow
    function keyRecoveryOf(uint64 cardId) external view override returns (KeyRecovery memory) {
        return _keyRecoveries[cardId];
    }

    /// @inheritdoc IPrepaidEscrow
    function holderPoolOf(uint32 merchantId) external view override returns (uint256) {
        return _holderPool[merchantId];
    }

    /// @inheritdoc IPrepaidEscrow
    function payoutAccountOf(uint32 merchantId) external view override returns (PayoutAccount memory) {
        return _payoutAccounts[merchantId];
    }

    // The name is EIP-2612's conventional getter, which wallets and tools look for.
    // solhint-disable func-name-mixedcase
    /// @inheritdoc IPrepaidEscrow
    function DOMAIN_SEPARATOR() external view override returns (bytes32) {
        return _domainSeparatorV4();
    }
    // solhint-enable func-name-mixedcase

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
        Policy memory policy = REGISTRY.policyOf(m.industryId);
        _checkSelling(merchantId, m, policy, plan.price);
        _checkCaps(policy, plan, 0, 0, named);

        (uint256 custodied, uint256 direct) = CustodyMath.split(plan.price, policy.custodyBps);
        // The whole prepayment stays in escrow through the cooling-off (法释〔2025〕4号: the principal back within 7
        // days): the direct share becomes the merchant's only when it ends. A time-based card's periods start then,
        // or at the holder's first check-in if that comes first.
        uint16 coolingOffEndDay = BeijingTime.dayEndingPeriod(block.timestamp, policy.coolingOffDays).toUint16();
        uint40 startedAt = plan.kind == PlanKind.Periodic
            ? uint40(BeijingTime.startOf(coolingOffEndDay))
            : uint40(block.timestamp);
        uint16 expiryDay = _expiryDayOf(plan, startedAt);

        uint32 serial = ++m.cardCount;
        cardId = (uint64(merchantId) << 32) | serial;
        StoredCard storage card = _cards[cardId];
        card.holder = holder;
        card.held = uint32(custodied);
        card.unitsLeft = plan.units;
        card.expiryDay = expiryDay;
        card.status = CardStatus.Active;
        card.kind = plan.kind;
        card.planIndex = planIndex;
        card.startedAt = startedAt;
        card.paidIn = uint48(custodied);
        card.direct = uint48(direct);
        card.coolingOffDays = policy.coolingOffDays;
        card.periodSeconds = plan.periodSeconds;
        card.named = named;
        card.coolingOffEndDay = coolingOffEndDay;
        card.coolingOffUnits = plan.units;
        if (direct != 0) _pendingDirect[cardId] = direct;
        m.paidIn += uint64(custodied + direct);
        _checkFiling(merchantId, m, plan.price, policy.filingThreshold);

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
            _expiresAt(expiryDay),
            named
        );
        ICustodyToken(bank.token).mint(address(this), plan.price);
    }
    // solhint-enable function-max-lines

    // As purchase: a card's fields one per line, in slot order.
    // solhint-disable function-max-lines
    /// @inheritdoc IPrepaidEscrow
    function renew(uint64 cardId, uint32 planIndex) external override {
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _existingMerchant(merchantId);
        Bank storage bank = _banks[m.bankId];
        if (msg.sender != bank.account) revert Custody_NotCustodianOf(merchantId, msg.sender);
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.Active) revert Custody_CardNotActive(cardId, card.status);
        if (_expired(card)) revert Custody_CardExpired(cardId, _expiresAt(card.expiryDay));
        Plan memory plan = _activePlan(merchantId, planIndex);
        if (plan.kind != card.kind || (plan.kind == PlanKind.Periodic && plan.periodSeconds != card.periodSeconds)) {
            revert Custody_PlanKindMismatch(cardId, card.kind, plan.kind);
        }
        Policy memory policy = REGISTRY.policyOf(m.industryId);
        _checkSelling(merchantId, m, policy, plan.price);
        // The value caps bound a card's face value: scale its custodied balance back up by its custody ratio.
        uint256 paidIn = card.paidIn;
        uint256 faceLeft = paidIn == 0 ? 0 : (uint256(card.held) * (paidIn + card.direct) + paidIn - 1) / paidIn;
        _checkCaps(policy, plan, faceLeft, card.unitsLeft, card.named);

        (uint256 custodied, uint256 direct) = CustodyMath.split(plan.price, policy.custodyBps);
        uint16 expiryDay;
        if (plan.kind == PlanKind.Periodic) {
            uint256 total = uint256(card.unitsUsed) + card.unitsLeft + plan.units;
            expiryDay = BeijingTime.dayStartingAtOrAfter(card.startedAt + total * card.periodSeconds).toUint16();
        } else {
            // A top-up's validity runs from today, or to the card's own expiry when that is later.
            expiryDay = _expiryDayOf(plan, block.timestamp);
            if (expiryDay != 0 && card.expiryDay > expiryDay) expiryDay = card.expiryDay;
        }
        // A renewal has its own cooling-off on what it adds. One made while the card's cooling-off is still open
        // joins it, and the whole runs to the renewal's end; otherwise the ended one's direct share is settled first.
        uint16 coolingOffEndDay = BeijingTime.dayEndingPeriod(block.timestamp, policy.coolingOffDays).toUint16();
        uint256 units = plan.units;
        if (_coolingOffOpen(card)) {
            units += card.coolingOffUnits;
        } else {
            _settleDirect(cardId, merchantId, m);
        }
        card.coolingOffEndDay = coolingOffEndDay;
        card.coolingOffUnits = units.toUint16();
        if (direct != 0) _pendingDirect[cardId] += direct;
        card.held = (card.held + custodied).toUint32();
        card.unitsLeft += plan.units;
        card.expiryDay = expiryDay;
        card.paidIn += uint48(custodied);
        card.direct += uint48(direct);
        m.paidIn += uint64(custodied + direct);
        _checkFiling(merchantId, m, plan.price, policy.filingThreshold);

        emit CardRenewed(
            cardId,
            merchantId,
            card.holder,
            planIndex,
            plan.units,
            plan.price,
            uint48(custodied),
            uint48(direct),
            _expiresAt(expiryDay)
        );
        ICustodyToken(bank.token).mint(address(this), plan.price);
    }
    // solhint-enable function-max-lines

    /// @inheritdoc IPrepaidEscrow
    function checkIn(uint64 cardId, uint40 deadline, uint8 v, bytes32 r, bytes32 s) external override {
        StoredCard storage card = _existingCard(cardId);
        if (card.status != CardStatus.Active || card.kind != PlanKind.Periodic) {
            revert Custody_CardNotActive(cardId, card.status);
        }
        uint32 merchantId = _merchantIdOfCard(cardId);
        _checkServing(merchantId, _merchants[merchantId]);
        uint40 startedAt = card.startedAt;
        if (block.timestamp >= startedAt) revert Custody_PeriodsAlreadyStarted(cardId, startedAt);
        if (block.timestamp > deadline) revert Custody_VoucherExpired(cardId, deadline, block.timestamp);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(CHECK_IN_TYPEHASH, cardId, deadline)));
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, v, r, s);
        address holder = card.holder;
        if (err != ECDSA.RecoverError.NoError || signer != holder) revert Custody_InvalidSigner(cardId, signer, holder);

        uint256 total = uint256(card.unitsUsed) + card.unitsLeft;
        uint16 expiryDay = BeijingTime.dayStartingAtOrAfter(block.timestamp + total * card.periodSeconds).toUint16();
        card.startedAt = uint40(block.timestamp);
        card.expiryDay = expiryDay;
        emit PeriodsStarted(cardId, uint40(block.timestamp), _expiresAt(expiryDay));
    }

    /*//////////////////////////////////////////////////////////////////////////
                               STATE-CHANGING: MERCHANT
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IPrepaidEscrow
    function consume(Voucher calldata voucher) external override {
        uint64 cardId = voucher.cardId;
        uint32 merchantId = _merchantIdOfCard(cardId);
        Merchant storage m = _merchants[merchantId];
        _checkServing(merchantId, m);
        if (msg.sender != m.account) revert Custody_NotMerchant(merchantId, msg.sender);
        m.released += _consume(voucher, cardId, _domainSeparatorV4());
    }

    /// @inheritdoc IPrepaidEscrow
    function consumeBatch(Voucher[] calldata vouchers) external override {
        // Consecutive vouchers of one merchant share one status check and one ledger write.
        uint32 current;
        uint256 releasedSum;
        Merchant storage m = _merchants[0];
        uint256 count = vouchers.length;
        bytes32 domainSeparator = _domainSeparatorV4();
        for (uint256 i; i < count; ) {
            Voucher calldata voucher = vouchers[i];
            uint64 cardId = voucher.cardId;
            uint32 merchantId = _merchantIdOfCard(cardId);
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
                releasedSum += _consume(voucher, cardId, domainSeparator);
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

    /*//////////////////////////////////////////////////////////////////////////
                     STATE-CHANGING: DELEGATED TO THE OPERATIONS MODULE
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IEscrowOperations
    function addBank(address, address) external override returns (uint16 /* bankId */) {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function admitMerchant(address, uint16, uint16, bytes32) external override returns (uint32 /* merchantId */) {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function freeze(uint32, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function unfreeze(uint32, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function restrict(uint32, bool, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function windDown(uint32, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function resolveDispute(uint64, uint48) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function setRiskLevel(uint32, RiskLevel, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function publishPlan(uint32, PlanKind, uint16, uint32, uint16, uint48) external override returns (uint32 /* planIndex */) {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function setPlanActive(uint32, uint32, bool) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function payOut(uint32) external override returns (uint64 /* amount */) {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function acceptRefund(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function rejectRefund(uint64, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function announceExit(uint32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function close(uint32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function refundCoolingOff(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function requestRefund(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function cancelRefundRequest(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function escalateRefund(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function claim(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function claimBatch(uint64[] calldata) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function releaseDirect(uint64[] calldata) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function transferCard(uint64, address) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function recordBreach(uint32, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function clearBreach(uint32, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function cancelForBreach(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function startKeyRecovery(uint64, address) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function cancelKeyRecovery(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function completeKeyRecovery(uint64) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function decideFrozenPayable(uint32, bool, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function proposePayoutAccount(uint32, bytes32) external override {
        _delegateToOperations();
    }

    /// @inheritdoc IEscrowOperations
    function confirmPayoutAccount(uint32, bytes32) external override {
        _delegateToOperations();
    }

    /*//////////////////////////////////////////////////////////////////////////
                                  INTERNAL FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @dev Runs the call as it came (selector and arguments) in the operations module, on this contract's storage,
    /// and returns or reverts with exactly what the module returned or reverted with. Never returns to its caller.
    function _delegateToOperations() private {
        address target = OPERATIONS;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, 0, calldatasize())
            let ok := delegatecall(gas(), target, ptr, calldatasize(), 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) {
                revert(ptr, returndatasize())
            }
            return(ptr, returndatasize())
        }
    }

    // The hot path of consumeBatch, kept in one piece so each voucher costs one card-slot read and one write.
    // solhint-disable function-max-lines
    /// @dev Checks one voucher against its card and applies it; returns the money released.
    /// The merchant's status was checked by the caller, which passes the voucher's card id (read from calldata once)
    /// and the EIP-712 domain separator (once per batch).
    function _consume(Voucher calldata voucher, uint64 cardId, bytes32 domainSeparator) internal returns (uint64) {
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
        unchecked {
            // BeijingTime.startOf(expiryDay) <= block.timestamp, moved to the other side: a uint16 day times 86,400 and
            // a block time plus 8 hours cannot overflow, and the subtraction is gone (this runs once per voucher).
            if (expiryDay != 0 && block.timestamp + BeijingTime.OFFSET >= uint256(expiryDay) * 1 days) {
                revert Custody_CardExpired(cardId, BeijingTime.startOf(expiryDay));
            }
        }
        // Each calldata field is read (and validated) once.
        uint16 lessons = voucher.lessons;
        uint16 sequence = voucher.sequence;
        uint40 deadline = voucher.deadline;
        if (lessons == 0) revert Custody_ZeroLessons(cardId);
        if (block.timestamp > deadline) revert Custody_VoucherExpired(cardId, deadline, block.timestamp);
        if (sequence != unitsUsed) revert Custody_VoucherSequenceMismatch(cardId, unitsUsed, sequence);
        if (lessons > unitsLeft) revert Custody_InsufficientLessons(cardId, lessons, unitsLeft);

        // The share these lessons release: the holder signed it, and no other sum is released.
        uint32 amount = uint32(CustodyMath.share(held, unitsLeft, lessons));
        uint64 signedAmount = voucher.amount;
        if (signedAmount != amount) revert Custody_VoucherAmountMismatch(cardId, signedAmount, amount);

        // The digest is hashed, and the signer recovered, in scratch memory past the free memory pointer, so that a
        // batch does not grow memory by a struct per voucher; this and the one SSTORE below keep consumeBatch under its
        // gas target. It is OpenZeppelin's _hashTypedDataV4 and ECDSA.tryRecover, inlined:
        //   structHash = keccak256(abi.encode(CONSUMPTION_TYPEHASH, cardId >> 32, cardId, lessons, amount, sequence, deadline))
        //   digest = keccak256("\x19\x01" ‖ domainSeparator ‖ structHash)
        //   signer = ecrecover(digest, v, r, s) with (v, s) from vs (EIP-2098), or zero when the precompile refuses it or s is in the upper half
        // The merchant hashed is the card id's: a voucher signed for another merchant recovers another signer.
        bytes32 typeHash = CONSUMPTION_TYPEHASH;
        address signer;
        bytes32 r = voucher.r;
        bytes32 vs = voucher.vs;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            // Masked: inline assembly may not assume the unused high bits of a short local are zero.
            let id := and(cardId, 0xffffffffffffffff)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), shr(32, id))
            mstore(add(ptr, 0x40), id)
            mstore(add(ptr, 0x60), and(lessons, 0xffff))
            mstore(add(ptr, 0x80), and(amount, 0xffffffff))
            mstore(add(ptr, 0xa0), and(sequence, 0xffff))
            mstore(add(ptr, 0xc0), and(deadline, 0xffffffffff))
            let structHash := keccak256(ptr, 0xe0)
            mstore(ptr, 0x1901000000000000000000000000000000000000000000000000000000000000)
            mstore(add(ptr, 0x02), domainSeparator)
            mstore(add(ptr, 0x22), structHash)
            mstore(ptr, keccak256(ptr, 0x42))
            // EIP-2098: v is 27 plus the top bit of vs, s the rest.
            let s := and(vs, 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff)
            mstore(add(ptr, 0x20), add(shr(255, vs), 27))
            mstore(add(ptr, 0x40), r)
            mstore(add(ptr, 0x60), s)
            // secp256k1n / 2: a larger s is the malleable twin of a valid signature (EIP-2), refused as OpenZeppelin does.
            if iszero(gt(s, 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0)) {
                // The precompile returns nothing for a signature it cannot recover: then the signer stays zero.
                if staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20) {
                    signer := mul(mload(0x00), eq(returndatasize(), 0x20))
                }
            }
        }
        if (signer != holder || signer == address(0)) revert Custody_InvalidSigner(cardId, signer, holder);

        uint16 usedAfter = unitsUsed + lessons; // checked: the voucher sequence never wraps around
        unchecked {
            // held, unitsLeft and unitsUsed are adjacent in slot 0 (see {StoredCard}): one store, not three. The
            // shifts are the compiler's layout, which test/contracts/layout.test.ts checks them against.
            uint256 fields = (uint256(held - amount) << CARD_HELD_SHIFT) |
                (uint256(unitsLeft - lessons) << CARD_UNITS_LEFT_SHIFT) |
                (uint256(usedAfter) << CARD_UNITS_USED_SHIFT);
            uint256 shift = CARD_HELD_SHIFT;
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                let slot := card.slot
                sstore(slot, or(and(sload(slot), not(shl(shift, 0xffffffffffffffff))), fields))
            }
        }
        emit LessonsConsumed(cardId, lessons, amount, unitsUsed);
        return amount;
    }
    // solhint-enable function-max-lines

}
