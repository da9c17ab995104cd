// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IEnforcementAnchor
/// @notice Anchors the regulators' enforcement record (warnings, interviews, inspections, orders, penalties,
/// serious-dishonesty listings, hand-overs to the police), kept off chain by the gateway, so that it cannot be
/// rewritten unseen. Each merchant's record is a hash chain: entry `seq` (from 1) commits to its own content and
/// to the hash of entry `seq - 1`. The chain stores every entry's hash and accepts only the next entry of the
/// chain, so a record whose rows were changed, removed or reordered no longer matches what is stored here.
interface IEnforcementAnchor {
    /// @notice Entry `seq` of merchant `merchantId`'s enforcement record was anchored by `officer`.
    event EntryAnchored(uint32 indexed merchantId, uint32 indexed seq, bytes32 entryHash, bytes32 prevHash, address indexed officer);

    /// @notice Thrown when the anchor is deployed with a zero escrow address.
    error EnforcementAnchor_ZeroAddress();
    /// @notice Thrown when an entry's hash is zero (zero means "not anchored").
    /// @param merchantId The merchant.
    /// @param seq The entry.
    error EnforcementAnchor_ZeroHash(uint32 merchantId, uint32 seq);
    /// @notice Thrown when the merchant was never admitted in the escrow.
    /// @param merchantId The merchant.
    error EnforcementAnchor_UnknownMerchant(uint32 merchantId);
    /// @notice Thrown when the caller does not regulate the merchant's industry.
    /// @param merchantId The merchant.
    /// @param industryId Its industry.
    /// @param caller The account that called.
    error EnforcementAnchor_NotRegulatorOf(uint32 merchantId, uint16 industryId, address caller);
    /// @notice Thrown when the entry is not the record's next one.
    /// @param merchantId The merchant.
    /// @param seq The entry given.
    /// @param expected The record's next entry.
    error EnforcementAnchor_SequenceMismatch(uint32 merchantId, uint32 seq, uint32 expected);
    /// @notice Thrown when the entry does not link to the hash anchored for the entry before it.
    /// @param merchantId The merchant.
    /// @param seq The entry.
    /// @param prevHash The previous hash given.
    /// @param expected The hash anchored for entry `seq - 1`.
    error EnforcementAnchor_PrevHashMismatch(uint32 merchantId, uint32 seq, bytes32 prevHash, bytes32 expected);

    /// @notice How many entries merchant `merchantId`'s record has on chain, and the last one's hash (zero: none).
    /// @param merchantId The merchant.
    /// @return count Entries anchored.
    /// @return lastHash The last entry's hash.
    function headOf(uint32 merchantId) external view returns (uint32 count, bytes32 lastHash);

    /// @notice The hash anchored for entry `seq` of merchant `merchantId` (zero: not anchored).
    /// @param merchantId The merchant.
    /// @param seq The entry.
    function entryHashOf(uint32 merchantId, uint32 seq) external view returns (bytes32);

    /// @notice Anchors entry `seq` of merchant `merchantId`'s record.
    /// Requirements:
    /// - the merchant is admitted in the escrow;
    /// - the caller regulates the merchant's industry (a platform regulator anywhere, an industry regulator in its
    ///   own industry), per the registry;
    /// - `seq` is the record's next entry (count + 1) and `prevHash` is the hash anchored for entry `seq - 1`
    ///   (zero for the first entry);
    /// - `entryHash` is not zero.
    /// Emits an {EntryAnchored} event.
    /// @param merchantId The merchant.
    /// @param seq The entry (count + 1).
    /// @param entryHash The entry's hash, committing to its content and to `prevHash`.
    /// @param prevHash The hash anchored for entry `seq - 1` (zero for the first).
    function anchor(uint32 merchantId, uint32 seq, bytes32 entryHash, bytes32 prevHash) external;
}
