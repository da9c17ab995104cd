// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { IEnforcementAnchor } from "./interfaces/IEnforcementAnchor.sol";
import { ICustodyRegistry } from "./interfaces/ICustodyRegistry.sol";
import { IPrepaidEscrow } from "./interfaces/IPrepaidEscrow.sol";
import { Merchant, MerchantStatus } from "./types/DataTypes.sol";

/// @title EnforcementAnchor
/// @notice See {IEnforcementAnchor}.
/// @dev Reads the merchant's industry from the escrow and the regulators from the escrow's registry, so the
/// anchor obeys the same roles and "1+N" designations as the custody contracts, with no roles of its own.
contract EnforcementAnchor is IEnforcementAnchor {
    // The name is the ABI getter escrow() callers read.
    // solhint-disable immutable-vars-naming
    /// @notice The escrow whose merchants the record is about.
    IPrepaidEscrow public immutable escrow;
    // solhint-enable immutable-vars-naming

    mapping(uint32 merchantId => uint32) internal _count;
    mapping(uint32 merchantId => mapping(uint32 seq => bytes32)) internal _hashes;

    /*//////////////////////////////////////////////////////////////////////////
                                     CONSTRUCTOR
    //////////////////////////////////////////////////////////////////////////*/

    /// @notice Deploys the anchor for the merchants of `escrow_`.
    /// @param escrow_ The escrow whose merchants and registry the anchor reads.
    constructor(IPrepaidEscrow escrow_) {
        if (address(escrow_) == address(0)) revert EnforcementAnchor_ZeroAddress();
        escrow = escrow_;
    }

    /*//////////////////////////////////////////////////////////////////////////
                                  READ-ONLY FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IEnforcementAnchor
    function headOf(uint32 merchantId) external view override returns (uint32 count, bytes32 lastHash) {
        count = _count[merchantId];
        lastHash = _hashes[merchantId][count];
    }

    /// @inheritdoc IEnforcementAnchor
    function entryHashOf(uint32 merchantId, uint32 seq) external view override returns (bytes32) {
        return _hashes[merchantId][seq];
    }

    /*//////////////////////////////////////////////////////////////////////////
                                STATE-CHANGING FUNCTIONS
    //////////////////////////////////////////////////////////////////////////*/

    /// @inheritdoc IEnforcementAnchor
    function anchor(uint32 merchantId, uint32 seq, bytes32 entryHash, bytes32 prevHash) external override {
        Merchant memory m = escrow.merchantOf(merchantId);
        if (m.status == MerchantStatus.None) revert EnforcementAnchor_UnknownMerchant(merchantId);
        ICustodyRegistry registry = escrow.registry();
        if (!registry.regulates(m.industryId, msg.sender)) {
            revert EnforcementAnchor_NotRegulatorOf(merchantId, m.industryId, msg.sender);
        }
        uint32 count = _count[merchantId];
        if (seq != count + 1) revert EnforcementAnchor_SequenceMismatch(merchantId, seq, count + 1);
        bytes32 last = _hashes[merchantId][count];
        if (prevHash != last) revert EnforcementAnchor_PrevHashMismatch(merchantId, seq, prevHash, last);
        if (entryHash == bytes32(0)) revert EnforcementAnchor_ZeroHash(merchantId, seq);

        _count[merchantId] = seq;
        _hashes[merchantId][seq] = entryHash;
        emit EntryAnchored(merchantId, seq, entryHash, prevHash, msg.sender);
    }
}
