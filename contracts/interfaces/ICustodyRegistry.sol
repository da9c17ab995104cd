// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import { Industry, Policy } from "../types/DataTypes.sol";

/// @title ICustodyRegistry
/// @notice The "1+N" policy registry and the platform's roles: the district's default policy ("1"), the
/// industries with their responsible regulators and their own policies ("N"), the platform regulators and the
/// risk oracle. The escrow reads it for every policy and every regulator's permission.
interface ICustodyRegistry {
    /// @notice The district's default policy ("1") was set.
    event DefaultPolicySet(Policy policy);
    /// @notice An industry was defined or its responsible regulator designated (zero: none yet).
    event IndustryDefined(uint16 indexed industryId, address indexed regulator);
    /// @notice An industry's own policy ("N") was set; it replaces the default for that industry.
    event IndustryPolicySet(uint16 indexed industryId, Policy policy);
    /// @notice An industry's own policy was removed; the default applies again.
    event IndustryPolicyCleared(uint16 indexed industryId);

    /// @notice Thrown when the admin or platform regulator given at deployment is the zero address.
    error Registry_ZeroAddress();
    /// @notice Thrown when a policy's custody ratio is over 100%.
    /// @param custodyBps The ratio given, basis points.
    error Registry_InvalidPolicy(uint16 custodyBps);
    /// @notice Thrown when a policy is set or cleared for an industry that was never defined.
    /// @param industryId The industry.
    error Registry_UnknownIndustry(uint16 industryId);
    /// @notice Thrown when a platform regulator's action comes from another account.
    /// @param caller The account that called.
    error Registry_NotPlatformRegulator(address caller);
    /// @notice Thrown when an industry's policy is changed by an account that does not regulate it.
    /// @param industryId The industry.
    /// @param caller The account that called.
    error Registry_NotRegulatorOf(uint16 industryId, address caller);

    /// @notice Role of the market regulation bureau: admits merchants, defines industries and policies, acts on
    /// every industry.
    function PLATFORM_REGULATOR_ROLE() external view returns (bytes32);

    /// @notice Role of the risk rating service that pushes risk levels on chain.
    function RISK_ORACLE_ROLE() external view returns (bytes32);

    /// @notice The policy in force for `industryId`: its own, or the default.
    /// @param industryId The industry.
    function policyOf(uint16 industryId) external view returns (Policy memory);

    /// @notice The district's default policy.
    function defaultPolicy() external view returns (Policy memory);

    /// @notice Industry `industryId` (its regulator and its own policy, if any).
    /// @param industryId The industry.
    function industryOf(uint16 industryId) external view returns (Industry memory);

    /// @notice Whether `account` may act as regulator on `industryId`: a platform regulator always, an industry
    /// regulator on its own industry only.
    /// @param industryId The industry.
    /// @param account The account.
    function regulates(uint16 industryId, address account) external view returns (bool);

    /// @notice Whether `account` is a platform regulator.
    /// @param account The account.
    function isPlatformRegulator(address account) external view returns (bool);

    /// @notice Whether `account` is the risk oracle.
    /// @param account The account.
    function isRiskOracle(address account) external view returns (bool);

    /// @notice Sets the district's default policy.
    /// Requirements: the caller is a platform regulator; `custodyBps` is at most 10000.
    /// Emits a {DefaultPolicySet} event.
    /// @param policy The district's policy.
    function setDefaultPolicy(Policy calldata policy) external;

    /// @notice Defines industry `industryId`, or designates its responsible regulator (zero: none yet; the market
    /// regulation bureau then acts and asks the district to designate one).
    /// Requirements: the caller is a platform regulator.
    /// Emits an {IndustryDefined} event.
    /// @param industryId The industry's stable id.
    /// @param regulator Its responsible regulator (zero: none designated yet).
    function defineIndustry(uint16 industryId, address regulator) external;

    /// @notice Sets an industry's own policy, replacing the default for it.
    /// Requirements: the industry exists; the caller is a platform regulator or the industry's regulator;
    /// `custodyBps` is at most 10000.
    /// Emits an {IndustryPolicySet} event.
    /// @param industryId The industry.
    /// @param policy Its own policy.
    function setIndustryPolicy(uint16 industryId, Policy calldata policy) external;

    /// @notice Removes an industry's own policy; the default applies to it again.
    /// Requirements: as {setIndustryPolicy}.
    /// Emits an {IndustryPolicyCleared} event.
    /// @param industryId The industry.
    function clearIndustryPolicy(uint16 industryId) external;
}
